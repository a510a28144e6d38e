"""Per-frame measures for exercise coaching, and which way the camera sees the person.

The dance coach compares signed 2D angles of two recordings filmed alike (`features`). An
exercise is judged on its own, often from an unknown side, so these measures are chosen to
read the same whichever way the person faces:

  {side}_shoulder  arm elevation: upper arm against the trunk's downward line, 0 = hanging,
                   90 = level with the shoulder, 180 = straight overhead (sideways from the
                   front: abduction; forward from the side: flexion).
  {side}_elbow     elbow flexion: 0 = straight arm.
  {side}_hip       hip flexion: thigh against the trunk's downward line, 0 = standing.
  {side}_knee      knee flexion: 0 = straight leg.
  trunk_lean       trunk (mid-hip to neck) against the image vertical, 0 = upright, unsigned.
  trunk_side       the same, signed (+ = toward the image's right); meaningful in a front view.
  hip_drop         how far the hips have dropped toward the ankles: 1 - h / h_standing, with h
                   the vertical hip-to-ankle distance and h_standing its 90th percentile over
                   `standing_seconds` (0 = standing tall, about 0.5 = thighs level in a squat).
                   Works from the front and from the side alike.
  shoulder_drop    the same for the shoulders over the wrists (a push-up from any side: the
                   hands stay on the floor while the shoulders come down): 1 - s / s_top,
                   with s the vertical wrist-to-shoulder distance and s_top its 90th percentile.
  hip_above_knee   mid-hip height above the mean knee height, in standing hip-to-ankle lengths
                   (> 0: hips above the knees; <= 0: at or below parallel).
  ankle_spread     horizontal distance between the ankles, in torso lengths.
  knee_vs_ankle    horizontal knee distance over ankle distance (< 1: knees inside the feet).
  hip_tilt, shoulder_tilt   the hip (shoulder) line against the horizontal, degrees, unsigned.
  body_line        for a plank: how far the hips leave the shoulder-ankle line, degrees
                   (+ = hips sag below it, - = hips pike above it).
  width            shoulder width over torso length (the hips scaled alike stand in when the
                   shoulders are missing): about 0.6 for a person facing (or turned away
                   from) the camera, near 0.05 side-on.

Both sides together (the mean of the sides present; a side-on camera often sees one):
  arm_elevation, elbow_flexion, hip_flexion, knee_flexion; and left-right differences
  arm_asymmetry, knee_asymmetry (degrees, unsigned; meaningful in a front view).

Angles are 2D angles in the picture; a limb pointing at the camera is foreshortened, which is
why every judgement names the view it needs (`VIEWS`, `view_of`). All measures are NaN where a
joint they need is missing. Units: degrees for angles, otherwise ratios (no pixels).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from dancenow.errors import DancenowError
from dancenow.keypoints import NUM_BODY, Joint, PoseSequence

J = Joint

ANGLE_MEASURES: tuple[str, ...] = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_hip", "right_hip",
    "left_knee", "right_knee", "trunk_lean",
)
BOTH_SIDES: tuple[str, ...] = ("arm_elevation", "elbow_flexion", "hip_flexion", "knee_flexion")
OTHER_MEASURES: tuple[str, ...] = BOTH_SIDES + (
    "arm_asymmetry", "knee_asymmetry", "trunk_side", "hip_drop", "shoulder_drop", "hip_above_knee", "ankle_spread",
    "knee_vs_ankle", "hip_tilt", "shoulder_tilt", "body_line", "width",
)
MEASURES: tuple[str, ...] = ANGLE_MEASURES + OTHER_MEASURES
# Human names for reports ("left shoulder elevation", ...).
LABELS: dict[str, str] = {
    "left_shoulder": "left shoulder elevation", "right_shoulder": "right shoulder elevation",
    "left_elbow": "left elbow flexion", "right_elbow": "right elbow flexion",
    "left_hip": "left hip flexion", "right_hip": "right hip flexion",
    "left_knee": "left knee flexion", "right_knee": "right knee flexion",
    "trunk_lean": "trunk lean", "arm_elevation": "arm elevation", "elbow_flexion": "elbow flexion",
    "hip_flexion": "hip flexion", "knee_flexion": "knee flexion", "arm_asymmetry": "left-right arm difference",
    "knee_asymmetry": "left-right knee difference", "trunk_side": "sideways lean", "hip_drop": "hip drop", "shoulder_drop": "shoulder drop",
    "hip_above_knee": "hip height above knee", "ankle_spread": "feet apart", "knee_vs_ankle": "knee / ankle width",
    "hip_tilt": "hip tilt", "shoulder_tilt": "shoulder tilt", "body_line": "hip sag", "width": "body width",
}
UNITS: dict[str, str] = {**{m: "deg" for m in ANGLE_MEASURES + BOTH_SIDES}, "arm_asymmetry": "deg",
                         "knee_asymmetry": "deg", "trunk_side": "deg", "hip_tilt": "deg",
                         "shoulder_tilt": "deg", "body_line": "deg", "hip_drop": "", "shoulder_drop": "", "hip_above_knee": "leg",
                         "ankle_spread": "torso", "knee_vs_ankle": "", "width": ""}

VIEWS: tuple[str, ...] = ("front", "oblique", "side")
# `width` thresholds: above FRONT_WIDTH the shoulders and hips face the camera (or face away:
# the two look alike in 2D), below SIDE_WIDTH the person is side-on. Measured on real footage
# (MediaPipe): 0.52-0.70 front-on, 0.02-0.10 side-on standing and up to 0.20 at the bottom of
# a side-on squat, 0.36-0.49 turned about 45 degrees (t2_airsquat, t3_jumpingjacks).
FRONT_WIDTH = 0.45
SIDE_WIDTH = 0.28


@dataclass(frozen=True, eq=False)
class Measures:
    """The measures of every frame: `values[name]` is a (T,) float array (NaN = missing),
    `view` a (T,) array of "front" / "oblique" / "side" ("" where unknown), `fps`."""

    values: dict[str, np.ndarray]
    view: np.ndarray
    fps: float

    def __len__(self) -> int:
        return len(self.view)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    def slice(self, start: int, stop: int) -> "Measures":
        return Measures({k: v[start:stop] for k, v in self.values.items()}, self.view[start:stop], self.fps)


def rolling_percentile(x: np.ndarray, window: int, q: float, causal: bool = False) -> np.ndarray:
    """Percentile `q` of x over a window of `window` frames, ignoring NaN (centred, or the
    trailing window when `causal`); all-NaN windows give NaN. (T,) -> (T,)"""
    t = len(x)
    if t == 0:
        return x.copy()
    window = max(1, int(window))
    if causal:
        pad = np.concatenate([np.full(window - 1, np.nan), x])
    else:
        half = window // 2
        pad = np.concatenate([np.full(half, np.nan), x, np.full(window - 1 - half, np.nan)])
    view = np.lib.stride_tricks.sliding_window_view(pad, window)[:t]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(view, q, axis=1)


def _angle_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unsigned angle in degrees between vectors (T, 2), NaN where either is missing/zero."""
    with np.errstate(invalid="ignore", divide="ignore"):
        nu, nv = np.linalg.norm(u, axis=-1), np.linalg.norm(v, axis=-1)
        c = (u * v).sum(-1) / (nu * nv)
    c = np.where((nu > 1e-9) & (nv > 1e-9), np.clip(c, -1.0, 1.0), np.nan)
    return np.degrees(np.arccos(c))


def _signed_line_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle of the line a->b against the horizontal, folded into [0, 90] degrees."""
    d = b - a
    ang = np.degrees(np.arctan2(np.abs(d[:, 1]), np.abs(d[:, 0])))
    return ang


def _nanmean_rows(x: np.ndarray) -> np.ndarray:
    """(K, T) -> (T,) mean over the rows present in each column (NaN where none is)."""
    ok = np.isfinite(x)
    n = ok.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(ok, x, 0.0).sum(0) / np.maximum(n, 1), np.nan)


def view_of(width: np.ndarray) -> np.ndarray:
    """Per-frame view from the `width` measure: "front", "oblique", "side" or "" (unknown)."""
    out = np.full(width.shape, "", dtype=object)
    ok = np.isfinite(width)
    out[ok & (width >= FRONT_WIDTH)] = "front"
    out[ok & (width <= SIDE_WIDTH)] = "side"
    out[ok & (width > SIDE_WIDTH) & (width < FRONT_WIDTH)] = "oblique"
    return out


def majority_view(view: np.ndarray) -> str:
    """The most frequent known view of a stretch of frames ("" when none is known)."""
    known = [v for v in view if v]
    if not known:
        return ""
    names, counts = np.unique(np.array(known, dtype=object), return_counts=True)
    return str(names[int(np.argmax(counts))])


def _points(kp: np.ndarray, min_confidence: float):
    """(T, 25, 3) keypoints -> xy (T, 25, 2) with NaN where missing (pixels, y down), the
    mid-hip and the neck (T, 2) (each from the pair of joints around it when missing), and the
    heights (T, 2) in pixels of the hips over the ankles and of the shoulders over the wrists."""
    ok = kp[..., 2] >= max(min_confidence, 1e-6)
    xy = np.where(ok[..., None], kp[..., :2], np.nan)
    mid_hip = 0.5 * (xy[:, J.R_HIP] + xy[:, J.L_HIP])
    mid_hip = np.where(np.isfinite(mid_hip), mid_hip, xy[:, J.MID_HIP])
    neck = 0.5 * (xy[:, J.R_SHOULDER] + xy[:, J.L_SHOULDER])
    neck = np.where(np.isfinite(xy[:, J.NECK]), xy[:, J.NECK], neck)
    ankles = 0.5 * (xy[:, J.R_ANKLE] + xy[:, J.L_ANKLE])
    wrists = 0.5 * (xy[:, J.R_WRIST] + xy[:, J.L_WRIST])
    shoulders = 0.5 * (xy[:, J.R_SHOULDER] + xy[:, J.L_SHOULDER])
    return xy, mid_hip, neck, np.stack([ankles[:, 1] - mid_hip[:, 1], wrists[:, 1] - shoulders[:, 1]], -1)


def measure_poses(seq: PoseSequence, min_confidence: float = 0.2, standing_seconds: float = 6.0,
                  causal: bool = False) -> Measures:
    """The measures (module docstring) of every frame of `seq`.

    min_confidence: keypoints below it count as missing. standing_seconds: the window over
    which the standing hip height (for `hip_drop`) and the torso length are estimated; centred
    on each frame, or trailing when `causal` (live use: the future is unknown).
    """
    if len(seq) == 0:
        raise DancenowError("pose sequence has no frames")
    kp = seq.keypoints[:, :NUM_BODY].astype(np.float64)
    xy, mid_hip, neck, h = _points(kp, min_confidence)
    win = max(3, int(round(standing_seconds * seq.fps)))
    torso = rolling_percentile(np.linalg.norm(mid_hip - neck, axis=-1), win, 50, causal)
    standing = np.stack([rolling_percentile(h[:, k], win, 90, causal) for k in range(2)], -1)
    return _measures(xy, mid_hip, neck, h, torso, standing, float(seq.fps))


class LiveMeasures:
    """Measures one frame at a time (`push`), with trailing windows for the torso length and
    the standing height: what `measure_poses(..., causal=True)` gives for the last frame."""

    def __init__(self, fps: float, min_confidence: float = 0.2, standing_seconds: float = 6.0):
        import collections

        n = max(3, int(round(standing_seconds * fps)))
        self.fps, self.min_confidence = float(fps), min_confidence
        self._torso: collections.deque = collections.deque(maxlen=n)
        self._h: collections.deque = collections.deque(maxlen=n)

    def push(self, keypoints: np.ndarray) -> Measures:
        """Measures (one frame) of body keypoints (>= 25, 3) in pixels."""
        kp = np.asarray(keypoints, np.float64)[None, :NUM_BODY]
        xy, mid_hip, neck, h = _points(kp, self.min_confidence)
        self._torso.append(float(np.linalg.norm(mid_hip - neck, axis=-1)[0]))
        self._h.append(h[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            torso = np.array([np.nanpercentile(np.array(self._torso), 50)])
            standing = np.nanpercentile(np.array(self._h), 90, axis=0)[None]
        return _measures(xy, mid_hip, neck, h, torso, standing, self.fps)


def _measures(xy, mid_hip, neck, h, torso, standing, fps: float) -> Measures:
    trunk_down = mid_hip - neck
    torso = np.where(torso > 1e-6, torso, np.nan)

    v: dict[str, np.ndarray] = {}
    for side, (S, E, W, H, K, A) in (("left", (J.L_SHOULDER, J.L_ELBOW, J.L_WRIST, J.L_HIP, J.L_KNEE, J.L_ANKLE)),
                                     ("right", (J.R_SHOULDER, J.R_ELBOW, J.R_WRIST, J.R_HIP, J.R_KNEE, J.R_ANKLE))):
        upper, fore = xy[:, E] - xy[:, S], xy[:, W] - xy[:, E]
        thigh, shank = xy[:, K] - xy[:, H], xy[:, A] - xy[:, K]
        v[f"{side}_shoulder"] = _angle_between(trunk_down, upper)
        v[f"{side}_elbow"] = _angle_between(upper, fore)
        v[f"{side}_hip"] = _angle_between(trunk_down, thigh)
        v[f"{side}_knee"] = _angle_between(thigh, shank)
    up = neck - mid_hip
    v["trunk_lean"] = _angle_between(up, np.broadcast_to([0.0, -1.0], up.shape))
    with np.errstate(invalid="ignore"):
        v["trunk_side"] = np.degrees(np.arctan2(up[:, 0], -up[:, 1]))

    ankles = 0.5 * (xy[:, J.R_ANKLE] + xy[:, J.L_ANKLE])
    knees = 0.5 * (xy[:, J.R_KNEE] + xy[:, J.L_KNEE])
    with np.errstate(invalid="ignore", divide="ignore"):
        standing = np.where(standing > 1e-6, standing, np.nan)
        v["hip_drop"] = 1.0 - h[:, 0] / standing[:, 0]
        v["shoulder_drop"] = 1.0 - h[:, 1] / standing[:, 1]
        v["hip_above_knee"] = (knees[:, 1] - mid_hip[:, 1]) / standing[:, 0]
        ankle_dx = np.abs(xy[:, J.L_ANKLE, 0] - xy[:, J.R_ANKLE, 0])
        knee_dx = np.abs(xy[:, J.L_KNEE, 0] - xy[:, J.R_KNEE, 0])
        v["ankle_spread"] = ankle_dx / torso
        v["knee_vs_ankle"] = np.where(ankle_dx > 0.05 * torso, knee_dx / ankle_dx, np.nan)
    v["hip_tilt"] = _signed_line_angle(xy[:, J.R_HIP], xy[:, J.L_HIP])
    v["shoulder_tilt"] = _signed_line_angle(xy[:, J.R_SHOULDER], xy[:, J.L_SHOULDER])

    # Plank line: the hips against the straight line from the shoulders to the ankles.
    shoulders = neck
    line = ankles - shoulders
    to_hip = mid_hip - shoulders
    with np.errstate(invalid="ignore", divide="ignore"):
        dev = _angle_between(line, to_hip)
        cross = line[:, 0] * to_hip[:, 1] - line[:, 1] * to_hip[:, 0]
        # y down: the hip lies below the line (sags) when it is on the side of +y from it,
        # whichever way the person lies (the line's x direction sets the sign of the cross)
        below = np.sign(cross) * np.sign(line[:, 0])
    v["body_line"] = np.where(np.isfinite(below), dev * np.where(below == 0, 1.0, below), np.nan)

    sw = np.linalg.norm(xy[:, J.L_SHOULDER] - xy[:, J.R_SHOULDER], axis=-1)
    hw = np.linalg.norm(xy[:, J.L_HIP] - xy[:, J.R_HIP], axis=-1)
    # The shoulders tell the view best (the hip points open up in a side-on squat); the hips,
    # which sit closer together (0.65 of the shoulder width on real footage), stand in when
    # the shoulders are missing.
    width = np.where(np.isfinite(sw), sw / torso, hw / torso / 0.65)
    v["width"] = width
    for both, (a, b) in zip(BOTH_SIDES, (("left_shoulder", "right_shoulder"), ("left_elbow", "right_elbow"),
                                         ("left_hip", "right_hip"), ("left_knee", "right_knee"))):
        v[both] = _nanmean_rows(np.stack([v[a], v[b]]))
    v["arm_asymmetry"] = np.abs(v["left_shoulder"] - v["right_shoulder"])
    v["knee_asymmetry"] = np.abs(v["left_knee"] - v["right_knee"])
    return Measures({k: np.asarray(v[k], np.float64) for k in MEASURES}, view_of(width), fps)
