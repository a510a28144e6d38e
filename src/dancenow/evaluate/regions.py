"""Image regions the metrics are also computed over: the person's box and the face crop.

The person's box is where the person is: the extent of the body keypoints plus PERSON_MARGIN of
the body height on each side (the head top, hair, hands and feet reach past the keypoints),
clipped to the frame. Whole-frame figures are dominated by the background; this one is not.

"Everybody Dance Now" evaluates the face on a 128 x 128 crop of 1024 x 512 frames around the
face keypoints. Here the crop is a square whose side is a fixed fraction of the frame height
(FACE_FRACTION = 1/4: 128 px at 512 px high), so the number of pixels scored per frame does not
depend on how far the detector thinks the face is, and figures stay comparable across frames
and with the paper. It is centred on the centre of the bounding box of the detected face
keypoints (about the nose tip: the box spans brows to chin), or, when fewer than
MIN_FACE_POINTS face points are present, on the nose/eyes/ears of the body. Near the frame
border the box is shifted inside the frame rather than cut, so it keeps its size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dancenow.errors import DancenowError
from dancenow.keypoints import BODY, FACE, NUM_JOINTS, Joint, body_height

FACE_FRACTION = 0.25  # side of the face crop / frame height (the paper: 128 / 512)
PERSON_MARGIN = 0.10  # of the body height, added on each side of the body keypoints' extent
MIN_FACE_POINTS = 5  # fewer present face points than this: use the body's head points
HEAD_JOINTS = (Joint.NOSE, Joint.R_EYE, Joint.L_EYE, Joint.R_EAR, Joint.L_EAR)


@dataclass(frozen=True)
class Box:
    """A pixel rectangle [x0, x1) x [y0, y1) of a frame (origin top-left, y down)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def center(self) -> tuple[float, float]:
        return 0.5 * (self.x0 + self.x1), 0.5 * (self.y0 + self.y1)

    def crop(self, img: np.ndarray) -> np.ndarray:
        """The box's pixels of an (H, W, ...) image (a view)."""
        return img[self.y0:self.y1, self.x0:self.x1]


def face_center(keypoints: np.ndarray) -> tuple[float, float] | None:
    """(x, y) pixel centre of the face in one frame's keypoints (J, 3), or None if no head point
    is present: the bounding-box centre of the face points, else of the body's nose/eyes/ears."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != (NUM_JOINTS, 3):
        raise DancenowError(f"keypoints must have shape ({NUM_JOINTS}, 3), got {kp.shape}")
    face = kp[FACE]
    pts = face[face[:, 2] > 0, :2]
    if len(pts) < MIN_FACE_POINTS:
        head = kp[list(HEAD_JOINTS)]
        pts = head[head[:, 2] > 0, :2]
    if len(pts) == 0:
        return None
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return float(0.5 * (lo[0] + hi[0])), float(0.5 * (lo[1] + hi[1]))


def face_box(keypoints: np.ndarray, frame_size: tuple[int, int], fraction: float = FACE_FRACTION,
             src_size: tuple[int, int] | None = None) -> Box | None:
    """The square face crop of one frame, in pixels of a `frame_size` (w, h) frame, or None when
    the keypoints have no head point.

    keypoints: (J, 3) in pixels of `src_size` (w, h; default `frame_size`); they are scaled to
    the frame. The side is round(fraction * h) pixels (at least 1, at most the frame's shorter
    side); the box is shifted to lie inside the frame.
    """
    w, h = frame_size
    if not 0 < fraction <= 1:
        raise DancenowError(f"face crop fraction must be in (0, 1], got {fraction}")
    c = face_center(keypoints)
    if c is None:
        return None
    sw, sh = src_size or frame_size
    cx, cy = c[0] * w / sw, c[1] * h / sh
    side = int(min(max(1, round(fraction * h)), w, h))
    x0 = int(np.clip(round(cx - side / 2), 0, w - side))
    y0 = int(np.clip(round(cy - side / 2), 0, h - side))
    return Box(x0, y0, x0 + side, y0 + side)


def person_box(keypoints: np.ndarray, frame_size: tuple[int, int], margin: float = PERSON_MARGIN,
               src_size: tuple[int, int] | None = None) -> Box | None:
    """The person's box in pixels of a `frame_size` (w, h) frame: the extent of the present
    body keypoints (J, 3) (pixels of `src_size`, default `frame_size`; scaled to the frame) plus
    `margin` x the body height on each side, clipped to the frame. The body height is
    `keypoints.body_height`, or the keypoints' vertical extent when that cannot be measured.
    None without body keypoints."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != (NUM_JOINTS, 3):
        raise DancenowError(f"keypoints must have shape ({NUM_JOINTS}, 3), got {kp.shape}")
    w, h = frame_size
    sw, sh = src_size or frame_size
    body = kp[BODY]
    pts = body[body[:, 2] > 0, :2] * np.array([w / sw, h / sh])
    if len(pts) == 0:
        return None
    bh = body_height(kp[None])[0] * h / sh
    if not np.isfinite(bh):
        bh = float(np.ptp(pts[:, 1]))
    pad = margin * bh
    lo, hi = pts.min(axis=0) - pad, pts.max(axis=0) + pad
    x0, y0 = int(max(0, np.floor(lo[0]))), int(max(0, np.floor(lo[1])))
    x1, y1 = int(min(w, np.ceil(hi[0]) + 1)), int(min(h, np.ceil(hi[1]) + 1))
    if x1 <= x0 or y1 <= y0:
        return None
    return Box(x0, y0, x1, y1)
