"""Pose distance: how well a generated video keeps the pose it was asked for.

As in "Everybody Dance Now" (Table 1), the pose detector is run again on the generated frames
and its keypoints are compared with the input pose, per body part:
  - distance: the mean L2 distance in pixels over the keypoints present in both (pooled over all
    frames, so a frame with more matched keypoints weighs more), in pixels of the reference
    poses' frame (`PoseDistance.width x height`); `at_height(512)` rescales to a 512-px-high
    frame, the paper's 1024x512 setting;
  - missed detections: keypoints present in the reference but not found in the generated frame,
    per image, and the fraction of images where the part is in the reference (at least one
    keypoint) but not one of its keypoints is found.
Parts: body (BODY_25), face (70 points), hands (both hands, 42 points).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from dancenow.errors import DancenowError
from dancenow.keypoints import BODY, FACE, LEFT_HAND, RIGHT_HAND, PoseSequence

# Keypoint indices of each part in the 137-point layout.
PART_INDEX: dict[str, np.ndarray] = {
    "body": np.arange(BODY.start, BODY.stop),
    "face": np.arange(FACE.start, FACE.stop),
    "hands": np.r_[np.arange(LEFT_HAND.start, LEFT_HAND.stop), np.arange(RIGHT_HAND.start, RIGHT_HAND.stop)],
}


@dataclass(frozen=True)
class PartDistance:
    """The comparison for one part.

    mean_px: mean L2 distance in pixels over matched keypoints (NaN when none matched).
    matched: keypoint pairs present in both.
    missed_per_image: keypoints present in the reference and absent in the prediction, per frame.
    part_missed_rate: fraction of frames whose reference has the part but the prediction has none
        of its keypoints (NaN when the reference never has the part).
    per_frame_px: (T,) mean distance per frame, NaN where nothing matched.
    """

    mean_px: float
    matched: int
    missed_per_image: float
    part_missed_rate: float
    per_frame_px: np.ndarray = field(repr=False)

    def to_dict(self, scale: float = 1.0) -> dict[str, Any]:
        return {
            "mean_px": _num(self.mean_px * scale),
            "matched": self.matched,
            "missed_per_image": _num(self.missed_per_image),
            "part_missed_rate": _num(self.part_missed_rate),
        }


@dataclass(frozen=True)
class PoseDistance:
    """Per-part pose distances of a prediction against reference poses (see the module doc).
    Distances are in pixels of a `width x height` frame (the reference's)."""

    parts: dict[str, PartDistance]
    frames: int
    width: int
    height: int

    def at_height(self, height: int = 512) -> dict[str, float]:
        """Mean distance per part rescaled to a frame `height` pixels high (the paper: 512)."""
        s = height / self.height
        return {name: p.mean_px * s for name, p in self.parts.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "frame_size": [self.width, self.height],
            "parts": {name: p.to_dict() for name, p in self.parts.items()},
            "mean_px_at_512_high": {k: _num(v) for k, v in self.at_height(512).items()},
        }


def _num(v: float) -> float | None:
    """JSON-safe: NaN (nothing to average) becomes null."""
    return None if v is None or not math.isfinite(v) else float(v)


def pose_distance(pred: PoseSequence, ref: PoseSequence) -> PoseDistance:
    """Compare predicted poses (detected on generated frames) with the reference (input) poses.

    Both must have the same number of frames. When the frame sizes differ (e.g. frames generated
    at the model's resolution, reference poses in source pixels), the prediction is scaled into
    the reference's pixels; the two sizes must then have the same aspect ratio (within 1%).
    """
    if len(pred) != len(ref):
        raise DancenowError(f"pose distance needs as many predicted frames as reference frames, got {len(pred)} and {len(ref)}")
    if len(ref) == 0:
        raise DancenowError("pose distance of empty sequences")
    sx, sy = ref.width / pred.width, ref.height / pred.height
    if abs(sx / sy - 1) > 0.01:
        raise DancenowError(f"predicted poses ({pred.width}x{pred.height}) and reference poses ({ref.width}x{ref.height}) differ in aspect ratio")
    pxy = pred.xy.astype(np.float64) * np.array([sx, sy])
    rxy = ref.xy.astype(np.float64)
    ppres, rpres = pred.present, ref.present
    parts = {}
    for name, idx in PART_INDEX.items():
        both = ppres[:, idx] & rpres[:, idx]  # (T, n)
        d = np.linalg.norm(pxy[:, idx] - rxy[:, idx], axis=-1)  # (T, n) pixels
        d = np.where(both, d, 0.0)
        n_both = both.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_frame = np.where(n_both > 0, d.sum(axis=1) / n_both, np.nan)
        total = int(n_both.sum())
        missed = (rpres[:, idx] & ~ppres[:, idx]).sum(axis=1)  # (T,)
        ref_has = rpres[:, idx].any(axis=1)
        pred_none = ~ppres[:, idx].any(axis=1)
        parts[name] = PartDistance(
            mean_px=float(d.sum() / total) if total else math.nan,
            matched=total,
            missed_per_image=float(missed.mean()),
            part_missed_rate=float((ref_has & pred_none).sum() / ref_has.sum()) if ref_has.any() else math.nan,
            per_frame_px=per_frame,
        )
    return PoseDistance(parts, len(ref), ref.width, ref.height)


def detect_pose_distance(frames: Iterable[np.ndarray], ref: PoseSequence, config: Any = None,
                         progress: bool = True) -> PoseDistance:
    """Run the pose detector on generated RGB uint8 frames (an iterable, consumed once, in
    order: tracking is temporal) and compare with the reference poses `ref` (one per frame).
    config: a `dancenow.pose.PoseConfig` (default: its defaults without smoothing, see `detect`)."""
    pred = detect(frames, ref.fps, config, total=len(ref), progress=progress)
    return pose_distance(pred, ref)


def detect(frames: Iterable[np.ndarray], fps: float, config: Any = None, total: int | None = None,
           progress: bool = True) -> PoseSequence:
    """The pose detector (`dancenow.pose.detect_frames`) over RGB uint8 frames (also an
    indirection, so that the evaluation's plumbing can be tested without running it).

    config None: the detector's defaults without temporal smoothing: gap filling would hide
    missed detections, and the paper scores each frame's own detection."""
    from dancenow.pose import PoseConfig, detect_frames

    config = PoseConfig(smooth=None) if config is None else config
    return detect_frames(frames, fps, config, total=total, progress=progress)
