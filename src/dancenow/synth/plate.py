"""The camera and the background plate: the target's room without the target, estimated from
the training video, so that the generator draws only the person (colour + alpha) over a
background that stays sharp and still. "Everybody Dance Now" asks for a static camera; this uses
it, and steadies a camera that drifts a little (a hand-held phone, a tripod settling).

1. motion: a sample of frames is aligned to the first training frame (OpenCV's ECC, affine,
   on small grey images with the person masked out by the skeleton). Under STILL_MOTION of the
   frame height everywhere, the camera is `static`; up to MAX_MOTION it is `steadied`: every
   frame is aligned and warped into the first frame's view; beyond, or when alignment fails on a
   textured background, it is `moving`: no plate, the model generates whole frames (a warning).
2. person masks on the sample: MediaPipe's person segmentation (in the wheel) joined with the
   skeleton drawn thick (segmentation misses motion blur and loose clothes);
3. the plate: per pixel, the median of the samples where no mask covers it; pixels the person
   never leaves are filled in from around them (cv2.inpaint) and counted;
4. a last check: the fraction of the visible textured background that still differs from the
   plate (a moving camera that alignment explained badly).

Frames are RGB uint8 (H, W, 3) in video pixels; keypoints (J, 3) in the same pixels. Warps are
2x3 affine matrices mapping reference (first-frame) pixels to a frame's pixels, as
cv2.findTransformECC returns them (use with WARP_INVERSE_MAP to register a frame).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np

from dancenow.keypoints import BODY_LIMBS, Joint, body_height

log = logging.getLogger(__name__)

PLATE_SAMPLES = 48  # frames the plate is estimated from, evenly spread over the training frames
MIN_SEEN = 3  # a pixel seen free of the person fewer times than this is filled in from around it
ALIGN_WIDTH = 192  # frames are aligned as grey images this wide (pixels)
STILL_MOTION = 0.004  # of the frame height: when the median frame moves less, no alignment is needed
MAX_MOTION = 0.05  # of the frame height: a camera moving the image more than this is a moving camera
MIN_CORRELATION = 0.75  # ECC's correlation under which an alignment is not trusted
CHANGE_LEVEL = 30  # grey levels (any channel, after a 5x5 blur): a background pixel this far from the plate changed
EDGE_LEVEL = 40  # Sobel magnitude of the blurred plate's grey image that counts as an edge
STATIC_LIMIT = 0.25  # beyond this fraction of changed edges in the median sample, the plate does not fit
CameraKind = Literal["static", "steadied", "moving"]


@dataclass(frozen=True)
class Plate:
    """A background estimate. image: (H, W, 3) uint8 (reference video pixels); change: the
    median fraction of visible background edges that differ from it; filled: the fraction of
    pixels the person never left, filled in; samples: frames used."""

    image: np.ndarray
    change: float
    filled: float
    samples: int


@dataclass(frozen=True)
class CameraCheck:
    """What the camera did. kind: static | steadied | moving; motion: the 90th percentile over
    the samples of the largest displacement of a frame corner against the reference, as a
    fraction of the frame height (inf when most samples could not be aligned); warps: (N, 2, 3)
    per sampled frame (video pixels)."""

    kind: CameraKind
    motion: float
    warps: np.ndarray


# --------------------------------------------------------------------------- masks

def skeleton_mask(keypoints: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the body of one frame's keypoints drawn thick (limbs ~1/8 of the body height
    wide, the head a disc, the torso filled), so it covers the person where segmentation fails.
    All False when no body point is present."""
    import cv2

    w, h = size
    mask = np.zeros((h, w), np.uint8)
    kp = np.asarray(keypoints, np.float64)
    ok = kp[:, 2] > 0
    if not ok[:25].any():
        return mask.astype(bool)
    bh = body_height(kp[None])[0]
    if not np.isfinite(bh) or bh <= 0:
        pts = kp[:25][ok[:25], :2]
        bh = max(float(np.ptp(pts[:, 1])), 0.2 * h)
    thick = max(3, int(round(0.13 * bh)))

    def pt(j):
        return int(round(kp[j, 0])), int(round(kp[j, 1]))

    for a, b in BODY_LIMBS:
        if ok[a] and ok[b]:
            cv2.line(mask, pt(a), pt(b), 1, thick)
    for j in range(25):
        if ok[j]:
            cv2.circle(mask, pt(j), thick // 2 + 1, 1, -1)
    if ok[Joint.NOSE]:
        cv2.circle(mask, pt(Joint.NOSE), int(round(0.11 * bh)), 1, -1)
    quad = [kp[j, :2] for j in (Joint.R_SHOULDER, Joint.L_SHOULDER, Joint.L_HIP, Joint.R_HIP) if ok[j]]
    if len(quad) >= 3:
        cv2.fillPoly(mask, [np.round(np.array(quad)).astype(np.int32)], 1)
    feet = [j for j in (Joint.L_ANKLE, Joint.R_ANKLE, Joint.L_HEEL, Joint.R_HEEL, Joint.L_BIG_TOE, Joint.R_BIG_TOE) if ok[j]]
    if feet:  # the shadow on the floor: a flat ellipse under the feet
        x, y = kp[feet, 0].mean(), kp[feet, 1].max()
        cv2.ellipse(mask, (int(round(x)), int(round(y))), (int(round(0.3 * bh)), max(2, int(round(0.06 * bh)))), 0, 0, 360, 1, -1)
    return mask.astype(bool)


def person_masks(frames: Sequence[np.ndarray], keypoints: np.ndarray,
                 segment: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """(N, H, W) bool masks of the person in `frames` (N, H, W, 3): segmentation (`segment`:
    image -> (H, W) float mask; None = MediaPipe's, or the skeleton alone when MediaPipe cannot
    load) joined with the thick skeleton, then grown by 2% of the frame height (soft edges,
    shadows at the feet)."""
    import cv2

    n, h, w = len(frames), *np.asarray(frames[0]).shape[:2]
    close = None
    if segment is None:
        try:
            from dancenow.pose import PersonSegmenter

            segmenter = PersonSegmenter()
            segment, close = segmenter, segmenter.close
        except Exception as e:  # no MediaPipe here: the skeleton alone still masks most of the person
            log.warning("person segmentation unavailable (%s): masking the person by the skeleton only", str(e)[:80])
    grow = max(1, int(round(0.02 * h)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    out = np.zeros((n, h, w), bool)
    try:
        for i in range(n):
            m = skeleton_mask(keypoints[i], (w, h))
            if segment is not None:
                m |= np.asarray(segment(np.asarray(frames[i]))) > 0.2
            out[i] = cv2.dilate(m.astype(np.uint8), kernel) > 0
    finally:
        if close is not None:
            close()
    return out


def person_alphas(frames: Sequence[np.ndarray], plate: np.ndarray | None = None,
                  keypoints: np.ndarray | None = None,
                  segment: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """(N, H, W) uint8 tight person masks (0-255) of `frames`: MediaPipe's person segmentation
    (no growing: these cut the person out of a picture), hardened by the difference to the
    `plate` where one is given (`harden_alpha`); without MediaPipe, where a frame differs from
    the `plate` (all 255 without either). With the frames' `keypoints` (N, J, 3) and a plate, a
    frame whose segmentation missed the person (`mask_cover` under MASK_COVER) gets the plate
    difference near its skeleton instead: on the 240p ballet, segmentation came back empty for
    a fifth of the frames (spins, a dark costume), and an empty mask taught the alpha term to
    draw no dancer and made exemplars that show nothing. `segment`: image -> (H, W) float
    mask in place of MediaPipe's."""
    import cv2

    frames = np.asarray(frames)
    try:
        from dancenow.pose import PersonSegmenter

        seg = _Given(segment) if segment is not None else PersonSegmenter()
    except Exception as e:
        log.warning("person segmentation unavailable (%s): cutting people out by their difference to the plate", str(e)[:80])
        if plate is None:
            return np.full(frames.shape[:3], 255, np.uint8)
        diff = np.abs(frames.astype(np.int16) - plate.astype(np.int16)).max(axis=3)
        return np.stack([cv2.GaussianBlur(((d > CHANGE_LEVEL) * 255).astype(np.uint8), (5, 5), 0) for d in diff])
    try:
        masks = [np.clip(seg(f), 0, 1) for f in frames]
    finally:
        seg.close()
    if plate is not None:
        masks = [harden_alpha(f, m, plate) for f, m in zip(frames, masks)]
    out = np.stack([(m * 255 + 0.5).astype(np.uint8) for m in masks])
    if plate is not None and keypoints is not None:
        h, w = out.shape[1:]
        for i in np.flatnonzero(mask_cover(out, keypoints) < MASK_COVER):
            a = _plate_cover(frames[i], plate) * _near(skeleton_mask(keypoints[i], (w, h)))
            out[i] = (a * 255 + 0.5).astype(np.uint8)
    return out


class _Given:
    """A segmentation function with PersonSegmenter's call and close."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray]):
        self.fn = fn

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(frame), np.float32)

    def close(self) -> None:
        pass


MASK_COVER = 0.3  # a person mask covering less of the thick skeleton has missed the person


def mask_cover(alphas: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """(N,) the share of each frame's thick skeleton (`skeleton_mask`) that its person mask
    (N, H, W) uint8 0-255 covers at half opacity or more (1 for a frame with no body). Healthy
    masks cover 0.57-0.77 on the shared clips; failed ones 0."""
    alphas = np.asarray(alphas)
    h, w = alphas.shape[1:]
    out = np.ones(len(alphas))
    for i, (a, k) in enumerate(zip(alphas, keypoints)):
        s = skeleton_mask(k, (w, h))
        if s.any():
            out[i] = float(((a > 127) & s).sum()) / float(s.sum())
    return out


COVER_LOW, COVER_HIGH = 12, 40  # grey levels from the plate: below, background; above, surely the person
COVER_REACH = 0.03  # of the frame height: how far from the segmented person a difference still counts


def harden_alpha(frame: np.ndarray, mask: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """(H, W) float32 alpha in [0, 1]: a segmentation `mask` (how likely each pixel is the person)
    raised to 1 where the frame clearly differs from the `plate` next to the segmented person.
    Segmentation is a probability, not coverage: hair and loose clothes come out near 0.5, and
    laying such a pixel over the plate at 0.5 turns dark hair wall-grey. Where the frame matches
    the plate, the mask is kept (the pixel looks the same either way)."""
    return np.maximum(mask.astype(np.float32), _plate_cover(frame, plate) * _near(mask > 0.25))


def _plate_cover(frame: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1]: how surely each pixel is not the plate (COVER_LOW..COVER_HIGH
    grey levels of difference, both lightly blurred)."""
    import cv2

    diff = np.abs(cv2.blur(frame, (3, 3)).astype(np.int16) - cv2.blur(plate, (3, 3)).astype(np.int16)).max(axis=2)
    return np.clip((diff.astype(np.float32) - COVER_LOW) / (COVER_HIGH - COVER_LOW), 0, 1)


def _near(region: np.ndarray) -> np.ndarray:
    """(H, W) uint8: 1 within COVER_REACH of the frame height from a bool `region`."""
    import cv2

    r = max(1, int(round(COVER_REACH * region.shape[0])))
    return cv2.dilate(region.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))


# --------------------------------------------------------------------------- camera motion

def _small(frame: np.ndarray) -> tuple[np.ndarray, float]:
    """A grey copy ALIGN_WIDTH wide and its scale (small pixels per video pixel)."""
    import cv2

    h, w = frame.shape[:2]
    s = ALIGN_WIDTH / w
    g = cv2.resize(frame, (ALIGN_WIDTH, max(8, int(round(h * s)))), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(g, cv2.COLOR_RGB2GRAY), s


def _small_mask(person: np.ndarray, small: tuple[int, int]) -> np.ndarray:
    """(h, w) uint8 background mask (1 = no person) of a video-size person mask, shrunk."""
    import cv2

    return cv2.resize((~person).astype(np.uint8), small, interpolation=cv2.INTER_NEAREST)


def textured(grey: np.ndarray, background: np.ndarray) -> bool:
    """Whether a (small, grey) frame's background (where `background` is set) has enough edges
    to align on: a plain studio wall has none, and a camera in front of it can move without
    anything showing."""
    import cv2

    g = cv2.blur(grey, (3, 3)).astype(np.float32)
    mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    return float(((mag > EDGE_LEVEL) & (background > 0)).mean()) > 0.02


class Aligner:
    """Aligns frames to a reference frame, the person masked out of both: `__call__(frame,
    person)` (person: an (H, W) bool mask, e.g. `skeleton_mask`) returns the 2x3 warp (video
    pixels) reference -> frame, or None when the alignment is not trusted: ECC did not converge,
    matched poorly (correlation under MIN_CORRELATION: the person hides the room, motion blur), or
    went beyond twice MAX_MOTION. Each frame starts from the last trusted warp (a camera drifts
    smoothly). On a background without texture
    every warp is the identity: nothing there can show a motion."""

    def __init__(self, reference: np.ndarray, person: np.ndarray):
        self.ref, self.scale = _small(reference)
        self.ref_bg = _small_mask(person, self.ref.shape[::-1])
        self.textured = textured(self.ref, self.ref_bg)
        self._last = np.eye(2, 3, dtype=np.float32)

    def __call__(self, frame: np.ndarray, person: np.ndarray) -> np.ndarray | None:
        import cv2

        if not self.textured:
            return np.eye(2, 3, dtype=np.float32)
        g, _ = _small(frame)
        mask = self.ref_bg & _small_mask(person, g.shape[::-1])
        try:
            cc, warp = cv2.findTransformECC(self.ref, g, self._last.copy(), cv2.MOTION_AFFINE,
                                            (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4), mask, 5)
        except cv2.error:
            return None
        h, w = g.shape
        if cc < MIN_CORRELATION or motion_extent(warp[None], (w, h)) > 2 * MAX_MOTION:
            return None
        self._last = warp
        out = warp.copy()
        out[:, 2] /= self.scale  # small pixels -> video pixels (the linear part is scale-free)
        return out


def align_all(aligner: Aligner, frames, persons) -> tuple[np.ndarray, float]:
    """Warps (N, 2, 3) of `frames` with their person masks, an untrusted frame holding the
    previous frame's warp; and the fraction of frames that were untrusted."""
    warps, held = [], 0
    last = np.eye(2, 3, dtype=np.float32)
    for f, m in zip(frames, persons):
        wp = aligner(np.asarray(f), m)
        if wp is None:
            held += 1
            wp = last
        warps.append(wp)
        last = wp
    return np.stack(warps).astype(np.float32), held / max(len(warps), 1)


def motion_extent(warps: np.ndarray, size: tuple[int, int]) -> float:
    """The largest displacement of a frame corner under `warps` (N, 2, 3), over the frame
    height."""
    w, h = size
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64).T  # (3, 4)
    moved = np.asarray(warps, np.float64) @ corners  # (N, 2, 4)
    return float(np.abs(moved - corners[None, :2]).max() / h) if len(warps) else 0.0


def check_camera(frames: Sequence[np.ndarray], persons: np.ndarray) -> CameraCheck:
    """Align `frames` (a sample, the first one the reference; `persons` their (N, H, W) person
    masks) and say what the camera did: static when the typical (median) sample moved less than
    STILL_MOTION, moving when one in ten moved more than MAX_MOTION or most could not be aligned,
    else steadied. A few badly aligned samples (the person filling the frame) do not decide."""
    warps, held = align_all(Aligner(frames[0], persons[0]), frames, persons)
    h, w = np.asarray(frames[0]).shape[:2]
    moved = np.array([motion_extent(wp[None], (w, h)) for wp in warps])
    motion = float(np.percentile(moved, 90))
    if held > 0.5:
        return CameraCheck("moving", float("inf"), warps)
    kind: CameraKind = "static" if np.median(moved) < STILL_MOTION else "moving" if motion > MAX_MOTION else "steadied"
    return CameraCheck(kind, motion, warps)


def register(frame: np.ndarray, warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A frame seen from the reference view: (registered frame, (H, W) bool where it has data)."""
    import cv2

    h, w = frame.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    img = cv2.warpAffine(frame, warp, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    valid = cv2.warpAffine(np.ones((h, w), np.uint8), warp, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0
    return img, valid


def register_keypoints(keypoints: np.ndarray, warps: np.ndarray) -> np.ndarray:
    """(T, J, 3) keypoints of the frames -> the reference view, with (T, 2, 3) warps (missing
    points stay 0, 0, 0)."""
    kp = np.array(keypoints, np.float32, copy=True)
    a = np.asarray(warps, np.float64)[:, :, :2]  # (T, 2, 2)
    t = np.asarray(warps, np.float64)[:, :, 2]  # (T, 2)
    inv = np.linalg.inv(a)
    xy = np.einsum("tij,tnj->tni", inv, kp[..., :2].astype(np.float64) - t[:, None, :])
    ok = kp[..., 2] > 0
    kp[..., :2] = np.where(ok[..., None], xy, 0.0)
    return kp


# --------------------------------------------------------------------------- the plate

def masked_median(frames: np.ndarray, masks: np.ndarray, band: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the (lower) median of the frames where the mask is off: ((H, W, 3) uint8,
    (H, W) count of those frames). Rows are processed in bands to bound memory."""
    n, h, w = frames.shape[:3]
    med = np.zeros((h, w, 3), np.uint8)
    seen = (~masks).sum(axis=0)
    for y0 in range(0, h, band):
        y1 = min(h, y0 + band)
        v = frames[:, y0:y1].astype(np.uint16)  # (N, b, W, 3)
        v[masks[:, y0:y1]] = 1000  # masked samples sort last
        v.sort(axis=0)
        k = np.maximum((seen[y0:y1] - 1) // 2, 0)  # (b, W)
        idx = np.broadcast_to(k[None, :, :, None], (1, y1 - y0, w, 3))
        med[y0:y1] = np.minimum(np.take_along_axis(v, idx, axis=0)[0], 255).astype(np.uint8)
    return med, seen


def background_change(frames: np.ndarray, masks: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """(N,) for each frame, the fraction of its visible textured background (mask off, where the
    plate has an edge: a plain wall says nothing) that differs from the plate by more than
    CHANGE_LEVEL in some channel, both blurred 5x5 (noise and compression do not count)."""
    import cv2

    p = cv2.blur(plate, (5, 5))
    grey = cv2.cvtColor(p, cv2.COLOR_RGB2GRAY).astype(np.float32)
    edges = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)) > EDGE_LEVEL
    p = p.astype(np.int16)
    out = np.zeros(len(frames))
    for i, (f, m) in enumerate(zip(frames, masks)):
        d = np.abs(cv2.blur(f, (5, 5)).astype(np.int16) - p).max(axis=2) > CHANGE_LEVEL
        where = edges & ~m
        out[i] = float(d[where].mean()) if where.sum() >= 50 else 0.0
    return out


def estimate_plate(frames: np.ndarray, persons: np.ndarray, valid: np.ndarray | None = None) -> Plate:
    """The background plate from a sample of frames (N, H, W, 3) in the reference view, their
    person masks (N, H, W) bool and, for registered frames, where each has data (N, H, W) bool."""
    import cv2

    frames = np.asarray(frames)
    if frames.ndim != 4 or len(frames) < 3:
        raise ValueError(f"a plate needs at least 3 frames (N, H, W, 3), got {frames.shape}")
    hidden = persons if valid is None else persons | ~valid
    med, seen = masked_median(frames, hidden)
    holes = seen < MIN_SEEN
    if holes.any():
        med = cv2.inpaint(med, holes.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    change = float(np.median(background_change(frames, hidden, med)))
    return Plate(med, change, float(holes.mean()), len(frames))


def register_mask(mask: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """An (H, W) bool mask of a frame, seen from the reference view."""
    import cv2

    h, w = mask.shape
    return cv2.warpAffine(mask.astype(np.uint8), warp, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0


def sample_indices(n: int, k: int = PLATE_SAMPLES) -> np.ndarray:
    """Up to k frame indices evenly spread over range(n)."""
    return np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(np.int64))
