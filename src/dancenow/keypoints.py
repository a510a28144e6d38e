"""The pose data model: one keypoint layout for the whole system, and `PoseSequence`.

Layout (J = 137 keypoints, OpenPose order so that OpenPose JSON maps 1:1):
  0..24    body, OpenPose BODY_25 (`Joint`)
  25..94   face, OpenPose's 70 points (68 dlib-style points + 2 pupils)
  95..115  left hand, OpenPose's 21 points (wrist, then 4 per finger, thumb first)
  116..136 right hand, same order
Each keypoint is (x, y, confidence): x, y in pixels of the source frame (origin top-left,
y down), confidence in [0, 1]. A missing keypoint has confidence 0 and x = y = 0; never None.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

import numpy as np

from dancenow.errors import DancenowError

NUM_BODY = 25
NUM_FACE = 70
NUM_HAND = 21
NUM_JOINTS = NUM_BODY + NUM_FACE + 2 * NUM_HAND  # 137

BODY = slice(0, NUM_BODY)
FACE = slice(NUM_BODY, NUM_BODY + NUM_FACE)
LEFT_HAND = slice(NUM_BODY + NUM_FACE, NUM_BODY + NUM_FACE + NUM_HAND)
RIGHT_HAND = slice(NUM_BODY + NUM_FACE + NUM_HAND, NUM_JOINTS)
PARTS = {"body": BODY, "face": FACE, "left_hand": LEFT_HAND, "right_hand": RIGHT_HAND}


class Joint(enum.IntEnum):
    """BODY_25 joints. "Right" is the person's right (image left when they face the camera)."""

    NOSE = 0
    NECK = 1
    R_SHOULDER = 2
    R_ELBOW = 3
    R_WRIST = 4
    L_SHOULDER = 5
    L_ELBOW = 6
    L_WRIST = 7
    MID_HIP = 8
    R_HIP = 9
    R_KNEE = 10
    R_ANKLE = 11
    L_HIP = 12
    L_KNEE = 13
    L_ANKLE = 14
    R_EYE = 15
    L_EYE = 16
    R_EAR = 17
    L_EAR = 18
    L_BIG_TOE = 19
    L_SMALL_TOE = 20
    L_HEEL = 21
    R_BIG_TOE = 22
    R_SMALL_TOE = 23
    R_HEEL = 24


# Body limbs as OpenPose renders BODY_25, as (a, b) joint pairs.
BODY_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
    (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18),
    (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
)


def _chain(idx: range, closed: bool = False) -> list[tuple[int, int]]:
    pairs = [(a, b) for a, b in zip(idx[:-1], idx[1:])]
    if closed:
        pairs.append((idx[-1], idx[0]))
    return pairs


# Face lines, indices within the 70-point face (jaw, brows, nose, eyes, lips).
FACE_LINES: tuple[tuple[int, int], ...] = tuple(
    _chain(range(0, 17)) + _chain(range(17, 22)) + _chain(range(22, 27))
    + _chain(range(27, 31)) + _chain(range(31, 36)) + _chain(range(36, 42), True)
    + _chain(range(42, 48), True) + _chain(range(48, 60), True) + _chain(range(60, 68), True)
)
# Hand bones, indices within a 21-point hand: wrist to each finger base, then along the finger.
HAND_BONES: tuple[tuple[int, int], ...] = tuple(
    pair for f in range(5) for pair in [(0, 1 + 4 * f)] + _chain(range(1 + 4 * f, 5 + 4 * f))
)
# Every connection in the full 137-point layout, for code that wants one list.
SKELETON: tuple[tuple[int, int], ...] = (
    BODY_LIMBS
    + tuple((a + FACE.start, b + FACE.start) for a, b in FACE_LINES)
    + tuple((a + LEFT_HAND.start, b + LEFT_HAND.start) for a, b in HAND_BONES)
    + tuple((a + RIGHT_HAND.start, b + RIGHT_HAND.start) for a, b in HAND_BONES)
)

# Left/right swap of the whole layout (for mirroring): body pairs, face contour, hands.
_BODY_FLIP = [0, 1, 5, 6, 7, 2, 3, 4, 8, 12, 13, 14, 9, 10, 11, 16, 15, 18, 17, 22, 23, 24, 19, 20, 21]
_FACE_FLIP = (
    list(range(16, -1, -1)) + list(range(26, 21, -1)) + list(range(21, 16, -1)) + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65] + [69, 68]
)
FLIP_INDEX: np.ndarray = np.array(
    _BODY_FLIP
    + [FACE.start + i for i in _FACE_FLIP]
    + list(range(RIGHT_HAND.start, RIGHT_HAND.stop))
    + list(range(LEFT_HAND.start, LEFT_HAND.stop)),
    dtype=np.int64,
)


@dataclass(frozen=True, eq=False)
class PoseSequence:
    """Keypoints of one person over time.

    keypoints: (T, J, 3) float32, J = NUM_JOINTS; x, y in pixels of a `width` x `height`
        frame, confidence in [0, 1]; missing = confidence 0 (its x, y are set to 0).
    fps: frames per second of the sequence.
    width, height: the frame size the pixel coordinates refer to.
    """

    keypoints: np.ndarray
    fps: float
    width: int
    height: int

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.ndim != 3 or kp.shape[1:] != (NUM_JOINTS, 3):
            raise DancenowError(f"keypoints must have shape (T, {NUM_JOINTS}, 3), got {kp.shape}")
        if not np.isfinite(kp).all():
            raise DancenowError("keypoints contain NaN or infinite values")
        if not (self.fps > 0 and self.width > 0 and self.height > 0):
            raise DancenowError(f"invalid fps/size: fps={self.fps} size={self.width}x{self.height}")
        kp = kp.copy()
        kp[..., 2] = np.clip(kp[..., 2], 0.0, 1.0)
        kp[kp[..., 2] <= 0] = 0.0  # one representation of "missing"
        kp.setflags(write=False)
        object.__setattr__(self, "keypoints", kp)
        object.__setattr__(self, "fps", float(self.fps))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    def __len__(self) -> int:
        return self.keypoints.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frame the coordinates refer to."""
        return self.width, self.height

    @property
    def xy(self) -> np.ndarray:
        """(T, J, 2) pixel coordinates (0 where missing)."""
        return self.keypoints[..., :2]

    @property
    def confidence(self) -> np.ndarray:
        """(T, J) confidences."""
        return self.keypoints[..., 2]

    @property
    def present(self) -> np.ndarray:
        """(T, J) bool: keypoint detected."""
        return self.keypoints[..., 2] > 0

    def part(self, name: str) -> np.ndarray:
        """(T, n, 3) keypoints of one part: 'body', 'face', 'left_hand' or 'right_hand'."""
        return self.keypoints[:, PARTS[name]]

    def replace(self, **changes) -> "PoseSequence":
        """A copy with some fields changed (keypoints are revalidated)."""
        return dataclasses.replace(self, **changes)

    def slice(self, start: int, stop: int | None = None) -> "PoseSequence":
        """Frames [start:stop]."""
        return self.replace(keypoints=self.keypoints[start:stop])

    @classmethod
    def empty(cls, frames: int, fps: float, width: int, height: int) -> "PoseSequence":
        """A sequence of `frames` frames with every keypoint missing."""
        return cls(np.zeros((frames, NUM_JOINTS, 3), np.float32), fps, width, height)

    def mirrored(self) -> "PoseSequence":
        """Flip horizontally and swap left/right labels (what a learner facing a screen sees)."""
        kp = self.keypoints[:, FLIP_INDEX].copy()
        present = kp[..., 2] > 0
        kp[..., 0] = np.where(present, (self.width - 1) - kp[..., 0], 0.0)
        return self.replace(keypoints=kp)


def body_height(keypoints: np.ndarray) -> np.ndarray:
    """(T,) a robust body height in pixels per frame: head (nose or ear midpoint) to the ankle
    midpoint, or to the hip midpoint x 1.9 when the ankles are missing (NaN when neither works).
    `keypoints`: (T, J, 3) or (T, 25, 3)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    pres = kp[..., 2] > 0
    head = np.where(pres[:, [Joint.NOSE]], kp[:, Joint.NOSE, :2],
                    0.5 * (kp[:, Joint.R_EAR, :2] + kp[:, Joint.L_EAR, :2]))
    head_ok = pres[:, Joint.NOSE] | (pres[:, Joint.R_EAR] & pres[:, Joint.L_EAR])
    ankles_ok = pres[:, Joint.R_ANKLE] & pres[:, Joint.L_ANKLE]
    ankle = 0.5 * (kp[:, Joint.R_ANKLE, :2] + kp[:, Joint.L_ANKLE, :2])
    hips_ok = pres[:, Joint.R_HIP] & pres[:, Joint.L_HIP]
    hip = 0.5 * (kp[:, Joint.R_HIP, :2] + kp[:, Joint.L_HIP, :2])
    full = np.linalg.norm(head - ankle, axis=-1)
    upper = 1.9 * np.linalg.norm(head - hip, axis=-1)  # head-to-hip is about half of stature
    out = np.where(head_ok & ankles_ok, full, np.where(head_ok & hips_ok, upper, np.nan))
    return out
