"""Global pose normalization: map a source dancer onto the target person's body and frame.

This is the "global pose normalization" of Chan et al., "Everybody Dance Now" (ICCV 2019),
made exact. The paper fits, per frame, a scale and a vertical translation from the position of
the feet (how far the dancer is from the camera) and the body height at the nearest and
farthest positions. Its official data-preparation script (`data_prep/graph_posenorm.py`) runs
on Python 2 only, checks an ear where it means an ankle, compares lists where it means numbers
and anchors every frame's scaling at the first frame's ankle; this module is the method with
those mistakes fixed (issue 3 states it step by step; the numbers below refer to its steps).

Coordinates are pixels of a video frame (origin top-left, y down), so a larger ankle y means a
foot lower in the image, i.e. a dancer nearer the camera ("close"); a smaller one is "far".

Pipeline:
  fit_stats(video)          -> BodyStats  (steps 1-3, 5-6 on the video's own range; saved as JSON)
  match_stats(src, tgt)     -> Match      (steps 4-7: re-centring, end heights, scale factors)
  frame_transforms(...)     -> Transforms (steps 8-10: per-frame scale s, shift ty, anchor)
  apply_transforms(...)     -> keypoints  (step 9: move every present keypoint)
  median_filter(...)        -> keypoints  (step 11: 7-frame median over present samples)
  retarget(...)             -> keypoints  (beyond the paper: the target's bone lengths)
  normalize(...)            -> PoseSequence, all of the above.

Everything here is pure array code except BodyStats.save/load (JSON) and the plot
(`dancenow.normalize_plot.plot_normalization`, apart so matplotlib loads only when asked).
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from dancenow.atomic import write_json
from dancenow.errors import DancenowError
from dancenow.keypoints import Joint, PoseSequence

log = logging.getLogger(__name__)

STATS_FORMAT = "dancenow.bodystats"
STATS_VERSION = 2  # v2 adds `bones`; v1 records still load (no retargeting)

END_WINDOW = 0.05      # step 5: an end's height window is +-5% of the span close - far
CLOSE_RESET = 0.10     # step 6: a close-end height more than 10% below the tallest is replaced
WINDOW_EPS = 1e-6      # pixels: rounding slack on window borders, so |d| == 0.05 * span counts
MIN_SCALE_FRACTION = 0.01  # extrapolated scales are floored at 1% of the smaller end factor
# A video's ankle range counts as depth only when it is at least this fraction of its tallest
# height: foot lifts, jumps and crouches move the lower ankle by a few percent of body height
# without any change of depth (synthetic dances with no walk: spans of 1.6-4.5%, walking ones
# 12-20%), and the method's linear scale extrapolates that noise into a shrinking, growing body.
MIN_DEPTH_SPAN = 0.06

Mode = Literal["range", "one_depth", "boxes", "empty"]


# ----------------------------------------------------------------------------- per-frame measures

@dataclass(frozen=True)
class FrameMeasures:
    """Per-frame quantities of steps 1-2, in pixels of the sequence's own frame.

    usable:  (T,) bool: both ankles present and a head point (nose, else both ears).
    ankle_y: (T,) the larger of the two ankle y values (the lower foot); NaN where not usable.
    height:  (T,) distance from the head point to the midpoint of the ankles; NaN where not usable.
    hip_x:   (T,) MidHip x, else the midpoint of both hips; NaN where neither is present.
    """

    usable: np.ndarray
    ankle_y: np.ndarray
    height: np.ndarray
    hip_x: np.ndarray


def frame_measures(keypoints: np.ndarray) -> FrameMeasures:
    """Steps 1-2 for every frame of `keypoints` (T, J, 3) (J >= 25, BODY_25 first)."""
    kp = np.asarray(keypoints, dtype=np.float64)             # (T, J, 3)
    pres = kp[..., 2] > 0                                    # (T, J)
    nose_ok = pres[:, Joint.NOSE]
    ears_ok = pres[:, Joint.R_EAR] & pres[:, Joint.L_EAR]
    head = np.where(nose_ok[:, None], kp[:, Joint.NOSE, :2],
                    0.5 * (kp[:, Joint.R_EAR, :2] + kp[:, Joint.L_EAR, :2]))  # (T, 2)
    ankles_ok = pres[:, Joint.R_ANKLE] & pres[:, Joint.L_ANKLE]
    usable = ankles_ok & (nose_ok | ears_ok)                 # (T,)
    ankle_mid = 0.5 * (kp[:, Joint.R_ANKLE, :2] + kp[:, Joint.L_ANKLE, :2])  # (T, 2)
    ankle_y = np.maximum(kp[:, Joint.R_ANKLE, 1], kp[:, Joint.L_ANKLE, 1])
    height = np.linalg.norm(head - ankle_mid, axis=-1)
    hips_ok = pres[:, Joint.R_HIP] & pres[:, Joint.L_HIP]
    hip_x = np.where(pres[:, Joint.MID_HIP], kp[:, Joint.MID_HIP, 0],
                     np.where(hips_ok, 0.5 * (kp[:, Joint.R_HIP, 0] + kp[:, Joint.L_HIP, 0]), np.nan))
    nan = np.full(len(kp), np.nan)
    return FrameMeasures(usable, np.where(usable, ankle_y, nan), np.where(usable, height, nan), hip_x)


def _boxes(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T,) height and bottom y of the bounding box of all present keypoints (NaN for frames
    with fewer than two present keypoints or a flat box)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    pres = kp[..., 2] > 0
    y = kp[..., 1]
    top = np.where(pres, y, np.inf).min(axis=1)
    bottom = np.where(pres, y, -np.inf).max(axis=1)
    ok = (pres.sum(axis=1) >= 2) & (bottom > top)
    return np.where(ok, bottom - top, np.nan), np.where(ok, bottom, np.nan)


# ----------------------------------------------------------------------------- statistics of one video

def end_height(ankle_y: np.ndarray, heights: np.ndarray, end: float, half_width: float,
               what: str = "") -> float:
    """Step 5: the largest height over samples with |ankle_y - end| <= half_width (pixels).

    An empty window is widened to the nearest samples (warning), which only happens at a
    re-centred target end: a video's own ends are always samples."""
    dist = np.abs(np.asarray(ankle_y, np.float64) - end)
    inside = dist <= half_width + WINDOW_EPS
    if not inside.any():
        nearest = float(dist.min())
        log.warning("no %sframe has its ankle within %.1f px of the end at y=%.1f: widening the "
                    "height window to the nearest frame(s), %.1f px away", what, half_width, end, nearest)
        inside = dist <= nearest + WINDOW_EPS
    return float(np.asarray(heights, np.float64)[inside].max())


def end_heights(ankle_y: np.ndarray, heights: np.ndarray, close: float, far: float,
                what: str = "") -> tuple[float, float, bool]:
    """Steps 5-6 for one video: (h_close, h_far, reset) with windows of +-5% of close - far
    around each end; `reset` says the close-end height was more than 10% below the video's
    tallest height H and was replaced by H."""
    half = END_WINDOW * (close - far)
    h_close = end_height(ankle_y, heights, close, half, what)
    h_far = end_height(ankle_y, heights, far, half, what)
    tallest = float(np.max(heights))
    reset = h_close < (1.0 - CLOSE_RESET) * tallest
    return (tallest if reset else h_close), h_far, bool(reset)


def _opt(v) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


@dataclass(frozen=True)
class BodyStats:
    """Where and how big one person appears in one video (pixels of its `width` x `height`
    frame, y down). Fitted over all usable frames by `fit_stats`; stored as JSON (and with a
    trained model, as the target's stats).

    close, med: the largest and the median ankle y (step 3); None without usable frames.
    far:        med - max(d) over frames with 0 < d < frac * (close - med), d = med - ankle_y;
                None when no frame qualifies (all usable frames at one depth).
    h_close, h_far: end heights on this video's own range (steps 5-6); None when not defined.
    close_reset: h_close was replaced by max_height (step 6).
    max_height: H, the tallest head-to-ankles height; mean_height: their mean.
    hip_x:      median hip x over frames with a hip (for --align-x); None without hips.
    box_height, box_bottom: median height and bottom y of the bounding box of all present
                keypoints (the fallback when a video has no usable frame); None without any.
    ankle_y, heights: the per-usable-frame samples, kept so that a target's end heights can be
                taken again on a re-centred range (step 4 depends on the source).
    bones:      per RETARGET_BONES, the length (`bone_lengths`) in units of the standing height
                at each frame's depth (so depth and squats do not matter); None where a bone is
                not measured or never seen, and () for stats saved before v2 (no retargeting).
    """

    width: int
    height: int
    frames: int
    usable: int
    frac: float
    close: float | None
    far: float | None
    med: float | None
    h_close: float | None
    h_far: float | None
    close_reset: bool
    max_height: float | None
    mean_height: float | None
    hip_x: float | None
    box_height: float | None
    box_bottom: float | None
    ankle_y: tuple[float, ...] = field(repr=False)
    heights: tuple[float, ...] = field(repr=False)
    bones: tuple[float | None, ...] = field(default=(), repr=False)

    @property
    def span(self) -> float | None:
        """close - far in pixels (None without `far`)."""
        return None if self.far is None or self.close is None else self.close - self.far

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ankle_y"], d["heights"], d["bones"] = list(self.ankle_y), list(self.heights), list(self.bones)
        return {"format": STATS_FORMAT, "version": STATS_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict) -> "BodyStats":
        if not isinstance(d, dict) or d.get("format") != STATS_FORMAT:
            raise DancenowError(f"not a dancenow body-stats record (no format tag '{STATS_FORMAT}')")
        if int(d.get("version", -1)) > STATS_VERSION:
            raise DancenowError(f"body stats v{d.get('version')}; this dancenow reads up to v{STATS_VERSION}: upgrade dancenow")
        try:
            return cls(
                width=int(d["width"]), height=int(d["height"]), frames=int(d["frames"]),
                usable=int(d["usable"]), frac=float(d["frac"]),
                **{k: _opt(d[k]) for k in ("close", "far", "med", "h_close", "h_far", "max_height",
                                           "mean_height", "hip_x", "box_height", "box_bottom")},
                close_reset=bool(d["close_reset"]),
                ankle_y=tuple(float(v) for v in d["ankle_y"]),
                heights=tuple(float(v) for v in d["heights"]),
                bones=tuple(_opt(v) for v in d.get("bones", ())),
            )
        except KeyError as e:
            raise DancenowError(f"body stats lack field {e}") from None
        except (TypeError, ValueError) as e:
            raise DancenowError(f"body stats hold a bad value ({e})") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write as JSON (atomically)."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BodyStats":
        path = Path(path)
        if not path.is_file():
            raise DancenowError(f"body stats file not found: {path}")
        try:
            d = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DancenowError(f"{path} is not a JSON body-stats file ({type(e).__name__})") from None
        try:
            return cls.from_dict(d)
        except DancenowError as e:
            raise DancenowError(f"{path}: {e}") from None


def fit_stats(seq: PoseSequence, frac: float = 0.5) -> BodyStats:
    """Steps 1-3 and 5-6 over all usable frames of `seq` (pixels of its own frame).

    `frac` bounds the frames that may define `far`: 0 < med - ankle_y < frac * (close - med).
    """
    if not 0.0 < frac <= 1.0:
        raise DancenowError(f"frac must be in (0, 1], got {frac}")
    m = frame_measures(seq.keypoints)
    ay = m.ankle_y[m.usable]                                 # (U,) usable frames only
    hs = m.height[m.usable]
    box_h, box_b = _boxes(seq.keypoints)
    hip_ok = np.isfinite(m.hip_x)
    close = far = med = h_close = h_far = tallest = mean_h = None
    reset = False
    if len(ay):
        close, med = float(ay.max()), float(np.median(ay))
        d = med - ay
        ok = (d > 0) & (d < frac * (close - med))            # both strict (step 3)
        if ok.any():
            far = med - float(d[ok].max())
            h_close, h_far, reset = end_heights(ay, hs, close, far)
        tallest, mean_h = float(hs.max()), float(hs.mean())
    return BodyStats(
        width=seq.width, height=seq.height, frames=len(seq), usable=int(len(ay)), frac=float(frac),
        close=close, far=far, med=med, h_close=h_close, h_far=h_far, close_reset=reset,
        max_height=tallest, mean_height=mean_h,
        hip_x=float(np.median(m.hip_x[hip_ok])) if hip_ok.any() else None,
        box_height=float(np.nanmedian(box_h)) if np.isfinite(box_h).any() else None,
        box_bottom=float(np.nanmedian(box_b)) if np.isfinite(box_b).any() else None,
        ankle_y=tuple(float(v) for v in ay), heights=tuple(float(v) for v in hs),
        bones=bone_lengths(seq.keypoints, m),
    )


# ----------------------------------------------------------------------------- matching two videos

@dataclass(frozen=True)
class Match:
    """Steps 4-7: the ranges and scale factors that map a source onto a target.

    mode: 'range' (the method), 'one_depth' (a video has no `far`, or its range is not depth,
        see `depth_range_problem`: one scale from mean heights, the median ankle mapped),
        'boxes' (a video has no usable frame: one scale and offset from keypoint bounding
        boxes) or 'empty' (the source has no keypoint at all).
    s_close, s_far: the source's ends (source-frame pixels); t_close, t_far: the target's,
        after re-centring (target-frame pixels). In 'one_depth' both ends are the medians, in
        'boxes' the median box bottoms.
    s_h_close, s_h_far, t_h_close, t_h_far: end heights (pixels); c_close, c_far: their ratios.
    recentred: the target range was shrunk to the source's span (step 4).
    """

    mode: Mode
    s_close: float
    s_far: float
    t_close: float
    t_far: float
    s_h_close: float
    s_h_far: float
    t_h_close: float
    t_h_far: float
    c_close: float
    c_far: float
    recentred: bool = False


def depth_range_problem(stats: BodyStats) -> str | None:
    """Why a video's close..far ankle range does not measure depth, or None when it does.

    The method reads a lower ankle as a nearer dancer, who must then look taller. A range
    narrower than MIN_DEPTH_SPAN of the tallest height is what foot lifts and jumps alone
    produce, and a near end that does not look taller than the far end is no depth either
    (crouches put the feet low). Scaling by such a range shrinks the dancer at every jump:
    on 12 synthetic source dances with no walk, 3.0-16.9 px per joint from the truth, against
    3.0-3.9 px at one depth."""
    if stats.span is not None and stats.max_height and stats.span < MIN_DEPTH_SPAN * stats.max_height:
        return (f"its ankles span only {stats.span:.1f} px, under {MIN_DEPTH_SPAN:.0%} of its height "
                f"({stats.max_height:.0f} px): foot lifts, not depth")
    if stats.h_close is not None and stats.h_far is not None and stats.h_close <= stats.h_far:
        return f"its near end does not look taller than its far end ({stats.h_close:.0f} vs {stats.h_far:.0f} px)"
    return None


def _one_depth(source: BodyStats, target: BodyStats, why: str) -> Match:
    """The 'one_depth' match, announced by one warning line saying `why`."""
    log.warning("%s: using one scale from mean heights and an offset that maps the median ankle", why)
    c = target.mean_height / source.mean_height
    return Match("one_depth", source.med, source.med, target.med, target.med,
                 source.mean_height, source.mean_height, target.mean_height, target.mean_height, c, c)


def match_stats(source: BodyStats, target: BodyStats) -> Match:
    """Steps 4-7 (with the degenerate fallbacks, each announced by one warning line)."""
    if target.box_height is None:
        raise DancenowError("the target has no frame with two or more keypoints: nothing to fit the source onto")
    if source.box_height is None:
        log.warning("the source has no frame with two or more keypoints: the output has only missing keypoints")
        return Match("empty", 0, 0, 0, 0, 1, 1, 1, 1, 1.0, 1.0)
    if source.usable == 0 or target.usable == 0:
        who = "source" if source.usable == 0 else "target"
        log.warning("no usable frame (both ankles and a head point) in the %s: falling back to one "
                    "scale and offset from the bounding boxes of all present keypoints", who)
        c = target.box_height / source.box_height
        return Match("boxes", source.box_bottom, source.box_bottom, target.box_bottom, target.box_bottom,
                     source.box_height, source.box_height, target.box_height, target.box_height, c, c)
    if source.far is None or target.far is None:
        who = "source" if source.far is None else "target"
        return _one_depth(source, target, f"no frame of the {who} qualifies for 'far' (all usable frames at one depth)")
    for who, st in (("source", source), ("target", target)):
        why = depth_range_problem(st)
        if why:
            return _one_depth(source, target, f"the {who} stays at one depth ({why})")
    t_close, t_far = target.close, target.far
    t_h_close, t_h_far = target.h_close, target.h_far
    recentred = source.span < target.span                    # strictly (step 4)
    if recentred:
        mid = 0.5 * (t_close + t_far)
        t_far, t_close = mid - 0.5 * source.span, mid + 0.5 * source.span
        # Step 5 on the re-centred ends, with the re-centred span for the window width.
        t_h_close, t_h_far, _ = end_heights(np.array(target.ankle_y), np.array(target.heights),
                                            t_close, t_far, what="target ")
        if t_h_close <= t_h_far:
            return _one_depth(source, target, "the target's range re-centred to the source's span has its near "
                              f"end no taller than its far end ({t_h_close:.0f} vs {t_h_far:.0f} px)")
    return Match("range", source.close, source.far, t_close, t_far,
                 source.h_close, source.h_far, t_h_close, t_h_far,
                 t_h_close / source.h_close, t_h_far / source.h_far, recentred)


# ----------------------------------------------------------------------------- per-frame transforms

@dataclass(frozen=True)
class Transforms:
    """The per-frame mapping of step 9, all in TARGET-frame pixels:

        x' = cx + scale[t] * (x + shift_x - cx) + align_dx
        y' = y_anchor[t] + scale[t] * (y + shift_y - y_anchor[t]) + ty[t]

    scale, ty, y_anchor: (T,) float64; y_anchor is the frame's own ankle y moved into the
        target frame (so the ankle lands exactly on t_far + p * (t_close - t_far)).
    own: (T,) bool: the frame had its own fit; others carry the previous usable frame's
        values (the first usable frame's before it), step 10.
    shift_x, shift_y: the centre-to-centre move from the source frame into the target frame.
    cx: the target image centre x ((width - 1) / 2: pixel centres sit on integers).
    align_dx: the --align-x shift (0 unless asked).
    """

    scale: np.ndarray
    ty: np.ndarray
    y_anchor: np.ndarray
    own: np.ndarray
    shift_x: float
    shift_y: float
    cx: float
    align_dx: float
    match: Match


def frame_transforms(source: PoseSequence, source_stats: BodyStats, target_stats: BodyStats,
                     align_x: bool = False) -> Transforms:
    """Steps 4-10: the per-frame scale s, vertical shift ty and anchor for every source frame."""
    if (source.width, source.height) != (source_stats.width, source_stats.height):
        raise DancenowError(f"source stats are for a {source_stats.width}x{source_stats.height} frame, "
                            f"the source poses are {source.width}x{source.height}")
    match = match_stats(source_stats, target_stats)
    T = len(source)
    shift_x = 0.5 * (target_stats.width - source.width)     # centre to centre
    shift_y = 0.5 * (target_stats.height - source.height)
    cx = 0.5 * (target_stats.width - 1)
    m = frame_measures(source.keypoints)
    own = m.usable.copy()                                    # (T,)
    scale = np.ones(T)
    ty = np.zeros(T)
    anchor = np.zeros(T)
    if match.mode == "boxes":
        # One scale about the source's median box bottom, which lands on the target's.
        own[:] = True
        scale[:] = match.c_close
        anchor[:] = match.s_close + shift_y
        ty[:] = match.t_close - anchor
    elif match.mode in ("range", "one_depth"):
        y = m.ankle_y[own]                                   # (U,) source-frame ankle y
        if match.mode == "range":
            p = (y - match.s_far) / (match.s_close - match.s_far)   # not clipped: extrapolates
            s = match.c_far + p * (match.c_close - match.c_far)
            t_ankle = match.t_far + p * (match.t_close - match.t_far)
            floor = MIN_SCALE_FRACTION * min(match.c_close, match.c_far)
            if (s < floor).any():
                # Far outside the fitted range a linear scale can reach zero and mirror the body.
                log.warning("%d source frame(s) extrapolate to a scale below %.3g (ankle far outside "
                            "the fitted range): flooring it", int((s < floor).sum()), floor)
                s = np.maximum(s, floor)
        else:
            s = np.full(len(y), match.c_close)
            # The median ankle lands on the target's; moves off it (a jump) scale with the body.
            t_ankle = match.t_close + match.c_close * (y - match.s_close)
        scale[own], anchor[own] = s, y + shift_y
        ty[own] = t_ankle - (y + shift_y)
        # Step 10: carry the previous usable frame's values (the first one's before it).
        idx = np.where(own, np.arange(T), -1)
        idx = np.maximum.accumulate(idx)
        first = int(np.argmax(own)) if own.any() else 0
        idx[idx < 0] = first
        if own.any():
            scale, ty, anchor = scale[idx], ty[idx], anchor[idx]
        else:
            # The source has usable stats (from elsewhere) but these poses have no usable frame.
            log.warning("no usable source frame to take a transform from: mapping the median ankle only")
            ty[:] = match.t_close - (match.s_close + shift_y)
            anchor[:] = match.s_close + shift_y
            scale[:] = 0.5 * (match.c_close + match.c_far)
    align_dx = 0.0
    if align_x and match.mode != "empty":
        hip_ok = np.isfinite(m.hip_x)
        if target_stats.hip_x is None or not hip_ok.any():
            log.warning("--align-x: no hip in the %s: no horizontal shift",
                        "target" if target_stats.hip_x is None else "source")
        else:
            # The shift that puts the normalized source's median hip x on the target's.
            hx = cx + scale[hip_ok] * (m.hip_x[hip_ok] + shift_x - cx)
            align_dx = float(target_stats.hip_x - np.median(hx))
    return Transforms(scale, ty, anchor, own, float(shift_x), float(shift_y), float(cx), align_dx, match)


def apply_transforms(keypoints: np.ndarray, tr: Transforms) -> np.ndarray:
    """Step 9 on (T, J, 3) source keypoints -> (T, J, 3) float32 in the target frame; missing
    keypoints stay missing (0, 0, 0), confidences are kept."""
    kp = np.asarray(keypoints, dtype=np.float64)
    pres = kp[..., 2] > 0                                    # (T, J)
    s = tr.scale[:, None]                                    # (T, 1)
    a = tr.y_anchor[:, None]
    x = tr.cx + s * (kp[..., 0] + tr.shift_x - tr.cx) + tr.align_dx
    y = a + s * (kp[..., 1] + tr.shift_y - a) + tr.ty[:, None]
    out = np.stack([x, y, kp[..., 2]], axis=-1)              # (T, J, 3)
    out[~pres] = 0.0
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- temporal median

def median_filter(keypoints: np.ndarray, window: int = 7) -> np.ndarray:
    """Step 11: a sliding median over time per keypoint and coordinate (x, y, confidence),
    over the present samples of the window only.

    The window (odd, frames) is centred and shrinks at the ends of the sequence. A keypoint is
    present in the output when more than half of its window's frames hold it (4 of 7 inside
    the sequence, 3 of 4 or 5 at the ends); otherwise it is missing. So an isolated detection
    goes and a one-frame gap is filled. (T, J, 3) -> (T, J, 3) float32, same T.
    """
    if window < 1 or window % 2 == 0:
        raise DancenowError(f"median window must be a positive odd number of frames, got {window}")
    kp = np.asarray(keypoints, dtype=np.float64)
    T = len(kp)
    if window == 1 or T == 0:
        return kp.astype(np.float32)
    half = window // 2
    pres = kp[..., 2] > 0                                    # (T, J)
    vals = np.where(pres[..., None], kp, np.nan)             # (T, J, 3)
    pad = np.full((half,) + kp.shape[1:], np.nan)
    padded = np.concatenate([pad, vals, pad])                # (T + 2h, J, 3)
    win = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)  # (T, J, 3, W)
    count = np.isfinite(win[:, :, 2, :]).sum(axis=-1)        # (T, J) present samples
    t = np.arange(T)
    length = np.minimum(t + half, T - 1) - np.maximum(t - half, 0) + 1   # (T,) frames in window
    keep = 2 * count > length[:, None]                       # majority of the window's frames
    out = np.zeros_like(kp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # all-NaN windows: dropped below
        med = np.nanmedian(win, axis=-1)                     # (T, J, 3)
    out[keep] = med[keep]
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- retargeting

# Beyond the paper: its normalization scales the whole source body, so the target inherits the
# source's proportions (longer arms, a shorter torso) and the generator is asked for a body it
# never saw. `retarget` gives the spine, limbs and widths the target's lengths, keeping directions.
# Bones (parent, child), BODY_25, parents first, from the mid-hip out.
RETARGET_BONES: tuple[tuple[int, int], ...] = (
    (8, 1), (1, 0),                                      # spine, neck -> nose
    (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7),      # shoulders, arms
    (8, 9), (9, 10), (10, 11), (8, 12), (12, 13), (13, 14),  # hips, legs
    (11, 22), (11, 24), (14, 19), (14, 21),              # feet: ankle -> big toe, heel
)
# Points that move rigidly with a joint: eyes, ears and the face with the nose, small toes with
# the big toes, each hand with its wrist (their shapes are the person's, not a length to fix).
_CARRIED = ((Joint.NOSE, (15, 16, 17, 18, *range(25, 95))), (Joint.L_BIG_TOE, (20,)),
            (Joint.R_BIG_TOE, (23,)), (Joint.L_WRIST, tuple(range(95, 116))),
            (Joint.R_WRIST, tuple(range(116, 137))))
# Bones whose length is measured and changed: the spine and the limbs, and the half-widths of
# the shoulders and the hips (neck -> shoulder, mid-hip -> hip). The neck and the feet keep the
# source's (ratio 1): their projected length says more about how the body is turned than
# about the body.
_MEASURED = ((8, 1), (2, 3), (3, 4), (5, 6), (6, 7), (9, 10), (10, 11), (12, 13), (13, 14),
             (1, 2), (1, 5), (8, 9), (8, 12))
_WIDTHS = ((1, 2), (1, 5), (8, 9), (8, 12))
# A bone's length is this percentile of its projected length: a bone is seen side-on often
# enough in most footage, and the median reads foreshortening as shortness. Chosen on three
# real clips (squats, jumping jacks, tai-chi) and on the synthetic world's differently built
# dancers (pose error 3.05 -> 2.34 px).
BONE_PERCENTILE = 75
# A width is the widest the video shows (this percentile): a body turned away from the camera
# projects narrower, and the camera of the output is the target's, so the source's widest is
# mapped onto the widest the target's camera saw (the generator has seen no wider). A median
# reads side-on frames as narrowness (jumping jacks, front then side-on: shoulders 0.137 of the
# height at the median, 0.223 here). The demo's actors differ by 14% across the shoulders: pose
# error 1.76 -> 1.45 px on exact keypoints, 2.26 -> 2.00 px detected.
WIDTH_PERCENTILE = 95
# Ratios are clipped to this range: a larger one is more likely the footage than the body.
BONE_RATIO_RANGE = (0.75, 1.33)
ANCHOR_SOFTNESS = 0.01  # body heights: how close two ankle heights share the floor contact
_MIRROR = {2: 5, 3: 6, 4: 7, 9: 12, 10: 13, 11: 14}
_MIRROR.update({b: a for a, b in list(_MIRROR.items())})


def standing_height(m: FrameMeasures) -> np.ndarray:
    """(T,) the person's standing height at each frame's depth, in pixels (NaN where the frame
    has no ankle): a frame's own head-to-ankles height shrinks in a squat or a bow, this does
    not. A line through the upper envelope (90th percentile) of height against ankle y, in five
    bins of ankle y; one value for a video whose ankles span no depth (MIN_DEPTH_SPAN)."""
    ay, hs = m.ankle_y[m.usable], m.height[m.usable]
    out = np.full(len(m.usable), np.nan)
    if len(ay) == 0:
        return out
    tall = float(np.percentile(hs, 90))
    k, c = 0.0, tall
    if len(ay) >= 5 and np.percentile(ay, 95) - np.percentile(ay, 5) > MIN_DEPTH_SPAN * tall:
        edges = np.percentile(ay, np.linspace(0, 100, 6))
        xs, ys = [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = (ay >= lo) & (ay <= hi)
            if sel.any():
                xs.append(np.median(ay[sel]))
                ys.append(np.percentile(hs[sel], 90))
        if len(xs) >= 2 and np.ptp(xs) > 0:
            k, c = np.polyfit(xs, ys, 1)
    ok = np.isfinite(m.ankle_y)
    out[ok] = k * m.ankle_y[ok] + c
    return out


def bone_lengths(keypoints: np.ndarray, measures: FrameMeasures | None = None) -> tuple[float | None, ...]:
    """Per RETARGET_BONES, the BONE_PERCENTILE length (WIDTH_PERCENTILE for _WIDTHS) over usable
    frames in units of the standing height at each frame's depth (None for bones not measured,
    see _MEASURED, or never seen). A bone's left and right pool their samples: a body is
    symmetric, a dance often is not."""
    kp = np.asarray(keypoints, dtype=np.float64)
    m = measures if measures is not None else frame_measures(kp)
    ref = standing_height(m)
    u = m.usable & (np.nan_to_num(ref) > 0)
    out: list[float | None] = []
    for a, b in RETARGET_BONES:
        if (a, b) not in _MEASURED:
            out.append(None)
            continue
        samples = []
        for a2, b2 in {(a, b), (_MIRROR.get(a, a), _MIRROR.get(b, b))}:
            ok = u & (kp[:, a2, 2] > 0) & (kp[:, b2, 2] > 0)
            samples.append(np.linalg.norm(kp[ok, b2, :2] - kp[ok, a2, :2], axis=-1) / ref[ok])
        length = np.concatenate(samples)
        q = WIDTH_PERCENTILE if (a, b) in _WIDTHS else BONE_PERCENTILE
        out.append(float(np.percentile(length, q)) if len(length) else None)
    return tuple(out)


def bone_ratios(source: BodyStats, target: BodyStats) -> np.ndarray | None:
    """(B,) target/source length per RETARGET_BONES, clipped to BONE_RATIO_RANGE (1 for bones
    not measured or never seen); None when either stats predate bone lengths."""
    if len(source.bones) != len(RETARGET_BONES) or len(target.bones) != len(RETARGET_BONES):
        return None
    r = np.array([t / s if t and s else 1.0 for s, t in zip(source.bones, target.bones)])
    return np.clip(r, *BONE_RATIO_RANGE)


_BONE_NAMES = {(8, 1): "spine", (1, 2): "shoulders", (2, 3): "upper arms", (3, 4): "forearms", (8, 9): "hips",
               (9, 10): "thighs", (10, 11): "shins"}


def describe_ratios(ratios: np.ndarray, tolerance: float = 0.02) -> str:
    """The ratios that change a bone by more than `tolerance`, as "spine 0.95x, shins 1.08x"
    (left and right share theirs); "" when none does."""
    by_bone = dict(zip(RETARGET_BONES, np.asarray(ratios, float)))
    return ", ".join(f"{name} {by_bone[b]:.2f}x" for b, name in _BONE_NAMES.items()
                     if abs(by_bone[b] - 1.0) > tolerance)


def retarget(keypoints: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """(T, J, 3) -> (T, J, 3) float32: every bone of RETARGET_BONES scaled by its ratio about its
    parent joint (directions kept), carried points moved with their joint, and then the whole
    body shifted so that the lower ankle stays where it was: normalization put the feet on the
    target's floor, and longer legs must not sink the dancer into it. A bone with a missing end
    moves rigidly with its parent; missing keypoints stay missing."""
    kp = np.asarray(keypoints, dtype=np.float64)
    pres = kp[..., 2] > 0                                    # (T, J)
    xy = kp[..., :2]
    delta = np.zeros_like(xy)                                # (T, J, 2) each joint's move
    for (a, b), r in zip(RETARGET_BONES, ratios):
        both = (pres[:, a] & pres[:, b])[:, None]
        scaled = delta[:, a] + (r - 1.0) * (xy[:, b] - xy[:, a])
        delta[:, b] = np.where(both, scaled, delta[:, a])
    for joint, points in _CARRIED:
        delta[:, list(points)] = delta[:, [int(joint)]]
    # the floor contact: a soft choice of the lower ankle, so the shift does not jump when the
    # two ankles swap places at nearly the same height
    ra, la = int(Joint.R_ANKLE), int(Joint.L_ANKLE)
    height = frame_measures(kp).height
    soft = np.where(np.isfinite(height), ANCHOR_SOFTNESS * height, 2.0)
    z = np.clip((xy[:, ra, 1] - xy[:, la, 1]) / np.maximum(soft, 1e-6), -50, 50)
    w = 1.0 / (1.0 + np.exp(-z))                             # (T,) weight of the right ankle
    w = np.where(pres[:, ra] & ~pres[:, la], 1.0, np.where(pres[:, la] & ~pres[:, ra], 0.0, w))
    anchor = w[:, None] * delta[:, ra] + (1.0 - w)[:, None] * delta[:, la]
    anchor[~(pres[:, ra] | pres[:, la])] = 0.0
    out = kp.copy()
    out[..., :2] = xy + delta - anchor[:, None]
    out[~pres] = 0.0
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- the whole mapping

def normalize(source: PoseSequence, source_stats: BodyStats, target_stats: BodyStats,
              align_x: bool = False, median_window: int = 7, keep_proportions: bool = False) -> PoseSequence:
    """Map `source` onto the target person (steps 4-11, then `retarget`).

    Returns a PoseSequence in the TARGET frame (its width x height, pixels), with the source's
    frame count and fps. `median_window=1` turns the temporal median off; `keep_proportions`
    skips `retarget` (the paper's method alone: the target takes the source's proportions).
    """
    tr = frame_transforms(source, source_stats, target_stats, align_x)
    if tr.match.mode == "empty":
        out = np.zeros_like(source.keypoints)
    else:
        out = median_filter(apply_transforms(source.keypoints, tr), median_window)
        ratios = None if keep_proportions else bone_ratios(source_stats, target_stats)
        if not keep_proportions and ratios is None:
            log.info("the body stats predate bone lengths: keeping the source's proportions")
        if ratios is not None:
            out = retarget(out, ratios)
            changed = describe_ratios(ratios)
            if changed:
                log.info("bones given the target's lengths: %s (--keep-proportions keeps the source's)", changed)
    return PoseSequence(out, source.fps, target_stats.width, target_stats.height)


def describe_stats(name: str, st: BodyStats) -> str:
    """One line of what was fitted, for the console."""
    def f(v):
        return "none" if v is None else f"{v:.1f}"

    return (f"{name}: {st.usable}/{st.frames} usable frames, ankle y close {f(st.close)} far {f(st.far)} "
            f"med {f(st.med)} px, end heights close {f(st.h_close)} far {f(st.h_far)} px, tallest {f(st.max_height)} px"
            + (" (close height reset to tallest)" if st.close_reset else ""))


def load_target(target: str | os.PathLike, frac: float | None = None, fps: float | None = None,
                size: tuple[int, int] | None = None, video: str | os.PathLike | None = None
                ) -> tuple[BodyStats, PoseSequence | None]:
    """The target side of `normalize`: saved body stats (.json), or target poses (.npz or an
    OpenPose folder, whose frame size comes from `size` or `video`) fitted with `frac`.
    Returns (stats, the target poses or None)."""
    from dancenow.posefile import load_poses

    if Path(target).suffix.lower() == ".json":
        stats = BodyStats.load(target)
        if frac is not None and frac != stats.frac:
            raise DancenowError(f"{target} was fitted with frac {stats.frac:g}; --target-frac applies to target poses only")
        return stats, None
    poses = load_poses(target, fps, size, video)
    return fit_stats(poses, 0.5 if frac is None else frac), poses
