"""Scoring an attempt against a reference: `coach(reference, attempt, config) -> CoachResult`.

Steps:
  1. Both sequences are resampled to one analysis frame rate (the reference's, at most 30 fps).
     In mirror mode the attempt is mirrored first (a learner facing a screen copies the
     reference's left arm with their right).
  2. Features (`features.pose_features`): limb directions and joint angles per frame.
  3. DTW alignment on limb directions (`align.align`), so being late is not being wrong; the
     path gives the timing offset over time.
  4. Per reference frame, the signed angle error of every joint (reference minus attempt,
     degrees, averaged over the attempt frames DTW matched to it) becomes a joint score:
     100 up to `full_marks_deg`, falling linearly to 0 at `zero_marks_deg`. A frame's score is
     100 minus the weighted root-mean-square of its joints' lost points (one limb far off
     weighs more than small slips everywhere); a body part's is the same over its joints;
     sections and the overall score are means over frames. Timing does not lower the score;
     it is reported as the offset.
  5. The worst moments (lowest smoothed frame score, at least `moment_gap_seconds` apart) and
     tips: stretches of at least `tip_min_seconds` where one joint is off by more than
     `tip_min_deg` in the same direction, phrased in the learner's terms ("raise your left arm
     about 30 degrees higher at 0:12"), plus timing tips for sections that rush or drag.

Times in results are seconds on the reference's timeline unless named `attempt_*`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

import numpy as np
from scipy.ndimage import binary_closing, label, median_filter, uniform_filter1d

from dancenow.coach.align import Alignment, StepPattern, align
from dancenow.coach.features import ANGLE_NAMES, ANGLES, BODY_PARTS, angle_difference, feature_variants, resample
from dancenow.errors import DancenowError
from dancenow.keypoints import PoseSequence

log = logging.getLogger(__name__)

MAX_ANALYSIS_FPS = 30.0  # DTW is O(N * band); 30 fps resolves timing to 33 ms, plenty for dance


@dataclass(frozen=True)
class CoachConfig:
    """How to compare.

    mirror: the learner faced a screen and mirrored the reference (their right arm copies the
        reference's left): the attempt is mirrored (`PoseSequence.mirrored()`) before comparing.
    lr_invariant: accept a move done with the other side: each moment is compared with both
        the attempt and its mirror image, and the closer one is scored.
    fps: analysis frame rate (None: the reference's, at most 30).
    min_confidence: keypoints below this confidence count as missing.
    smooth_seconds: box filter over limb directions before angles (detector jitter).
    min_bone_ratio: a limb shorter in the picture than this fraction of its full length points
        toward or away from the camera: its 2D angles are not compared; when only one of the two
        dancers holds it so, the difference in how far it turns out of the picture is scored
        instead (see `features.PoseFeatures.depth`).
    band_seconds: how far (seconds) the alignment may drift from an even stretch of the two
        recordings (None: anywhere).
    step_pattern, step_penalty: DTW step pattern and the cost added to each non-diagonal step
        (see `align`).
    full_marks_deg, zero_marks_deg: joint angle error (degrees) scoring 100 and 0; linear between.
    joint_weights: weight of each angle name in the frame score (missing names: 1).
    section_seconds: section length when `sections` is not given.
    sections: start times (reference seconds) of the sections, e.g. (0, 12.5, 30) for an intro,
        a verse and a chorus (0 is added when missing).
    tip_min_deg, tip_min_seconds: a joint off by more than this for at least this long gets a tip.
    max_tips: at most this many pose tips (the largest), plus timing tips.
    timing_tip_seconds: timing deviations beyond this get a tip.
    worst_moments, moment_gap_seconds: how many worst moments to report, and their spacing.
    progress: show a progress bar while aligning.
    """

    mirror: bool = False
    lr_invariant: bool = False
    fps: float | None = None
    min_confidence: float = 0.2
    smooth_seconds: float = 0.15
    min_bone_ratio: float = 0.35
    band_seconds: float | None = 3.0
    step_pattern: StepPattern = "symmetric2"
    step_penalty: float = 0.01
    full_marks_deg: float = 10.0
    zero_marks_deg: float = 50.0
    joint_weights: Mapping[str, float] = field(default_factory=dict)
    section_seconds: float = 8.0
    sections: tuple[float, ...] | None = None
    tip_min_deg: float = 15.0
    tip_min_seconds: float = 0.3
    max_tips: int = 6
    timing_tip_seconds: float = 0.25
    worst_moments: int = 3
    moment_gap_seconds: float = 1.5
    progress: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.full_marks_deg < self.zero_marks_deg:
            raise DancenowError(f"need 0 <= full_marks_deg < zero_marks_deg, got {self.full_marks_deg}, {self.zero_marks_deg}")
        unknown = set(self.joint_weights) - set(ANGLE_NAMES)
        if unknown:
            raise DancenowError(f"unknown joint names in joint_weights: {sorted(unknown)}; known: {', '.join(ANGLE_NAMES)}")
        if self.fps is not None and not self.fps > 0:
            raise DancenowError(f"invalid analysis fps {self.fps}")
        if not 0 <= self.min_bone_ratio < 1:
            raise DancenowError(f"min_bone_ratio must be in [0, 1), got {self.min_bone_ratio}")
        if self.section_seconds <= 0:
            raise DancenowError(f"section_seconds must be positive, got {self.section_seconds}")


@dataclass(frozen=True)
class JointError:
    """One joint angle at one moment.

    joint: the angle's name in the reference's terms (e.g. "left_elbow").
    learner_joint: the same joint in the learner's own terms (the other side when the attempt
        was mirrored: mirror mode, or a left/right-swapped match).
    measure: "angle": reference_deg, attempt_deg are the joint angles (degrees, see
        `features`); "depth": one of the two holds the limb toward or away from the camera, so
        they are how far the limb turns out of the picture plane (0 = flat, 90 = end-on).
    error_deg: reference minus attempt (angles wrapped into (-180, 180]);
    differs: |error| > full_marks_deg.
    """

    joint: str
    learner_joint: str
    part: str
    reference_deg: float
    attempt_deg: float
    error_deg: float
    differs: bool
    measure: Literal["angle", "depth"] = "angle"


@dataclass(frozen=True)
class Moment:
    """One bad moment: the reference frame and its matched attempt frame (analysis frames),
    their times in seconds, the frame score, and every joint's error, largest first."""

    reference_frame: int
    attempt_frame: int
    reference_time_s: float
    attempt_time_s: float
    score: float
    swapped: bool
    errors: tuple[JointError, ...]


@dataclass(frozen=True)
class Tip:
    """Plain-language advice. kind "pose": `joint` (reference terms) was off by `delta_deg`
    (reference minus attempt, the median over the stretch; `measure` as in `JointError`) from
    `start_s` to `end_s`; kind "timing": the attempt was `delta_s` seconds late (negative:
    early) over that stretch, relative to its typical delay."""

    kind: Literal["pose", "timing"]
    text: str
    start_s: float
    end_s: float
    joint: str | None = None
    learner_joint: str | None = None
    delta_deg: float = 0.0
    delta_s: float = 0.0
    measure: Literal["angle", "depth"] = "angle"


@dataclass(frozen=True)
class SectionScore:
    """Score of one section of the reference timeline, and the attempt's mean offset there
    (seconds, positive = late)."""

    name: str
    start_s: float
    end_s: float
    score: float
    offset_s: float


@dataclass(frozen=True, eq=False)
class CoachResult:
    """Everything the coach found. Per-frame arrays have one row per reference frame at `fps`.

    score: overall 0-100. part_scores: per body part (`features.BODY_PARTS`); joint_scores:
        per angle (`features.ANGLE_NAMES`); NaN where never visible in both.
    frame_scores: (N,) 0-100, NaN where no joint is visible in both.
    joint_errors: (N, A) degrees, reference minus attempt angle (signed), NaN where an angle
        was not compared (missing, or a limb end-on to the camera). depth_errors: (N, A)
        degrees, reference minus attempt out-of-plane turn, only where exactly one of the two
        holds the limb end-on (else NaN). joint_scores_per_frame: (N, A) 0-100.
        reference_angles, attempt_angles: (N, A) degrees.
    swapped: (N,) bool, frames scored against the attempt's mirror image (lr_invariant only).
    reference, attempt: the analysed sequences (at `fps`; the attempt mirrored in mirror mode).
    """

    score: float
    part_scores: dict[str, float]
    joint_scores: dict[str, float]
    sections: tuple[SectionScore, ...]
    worst_moments: tuple[Moment, ...]
    tips: tuple[Tip, ...]
    alignment: Alignment
    frame_scores: np.ndarray
    joint_errors: np.ndarray
    depth_errors: np.ndarray
    joint_scores_per_frame: np.ndarray
    reference_angles: np.ndarray
    attempt_angles: np.ndarray
    swapped: np.ndarray
    reference: PoseSequence
    attempt: PoseSequence
    reference_source_fps: float
    attempt_source_fps: float
    config: CoachConfig

    @property
    def fps(self) -> float:
        return self.reference.fps

    @property
    def times_s(self) -> np.ndarray:
        """(N,) reference time of each analysis frame, seconds."""
        return np.arange(len(self.frame_scores)) / self.fps

    @property
    def offset_s(self) -> np.ndarray:
        """(N,) attempt minus reference time (seconds, smoothed), positive = the attempt is late."""
        return self.alignment.offset_s

    @property
    def median_offset_s(self) -> float:
        return self.alignment.median_offset_s

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (NaN as None; degrees, seconds, scores 0-100)."""
        def num(x, nd=2):
            x = float(x)
            return None if not math.isfinite(x) else round(x, nd)

        def arr(a, nd=2):
            return [num(v, nd) for v in np.asarray(a, np.float64).ravel()]

        cfg = dataclasses.asdict(self.config)
        cfg["joint_weights"] = dict(self.config.joint_weights)
        return {
            "format": "dancenow.coach", "version": 1,
            "score": num(self.score, 1),
            "part_scores": {k: num(v, 1) for k, v in self.part_scores.items()},
            "joint_scores": {k: num(v, 1) for k, v in self.joint_scores.items()},
            "median_offset_s": num(self.median_offset_s, 3),
            "sections": [dict(dataclasses.asdict(s), score=num(s.score, 1), offset_s=num(s.offset_s, 3)) for s in self.sections],
            "worst_moments": [dataclasses.asdict(m) for m in self.worst_moments],
            "tips": [dataclasses.asdict(t) for t in self.tips],
            "fps": self.fps,
            "reference_source_fps": self.reference_source_fps,
            "attempt_source_fps": self.attempt_source_fps,
            "angle_names": list(ANGLE_NAMES),
            "timeline": {
                "time_s": arr(self.times_s, 3),
                "score": arr(self.frame_scores, 1),
                "offset_s": arr(self.offset_s, 3),
                "joint_errors_deg": [arr(row, 1) for row in self.joint_errors],
                "depth_errors_deg": [arr(row, 1) for row in self.depth_errors],
                "swapped": [bool(v) for v in self.swapped],
            },
            "path": self.alignment.path.tolist(),
            "config": cfg,
        }


# ----------------------------------------------------------------------------- helpers

def _nanmean(a: np.ndarray, axis=None, weights: np.ndarray | None = None) -> np.ndarray | float:
    """Mean over finite values (NaN where none), optionally weighted."""
    a = np.asarray(a, np.float64)
    ok = np.isfinite(a)
    w = np.ones_like(a) if weights is None else np.broadcast_to(weights, a.shape).astype(np.float64)
    w = np.where(ok, w, 0.0)
    num = np.where(ok, a, 0.0) * w
    s, n = num.sum(axis=axis), w.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.where(n > 0, n, 1), np.nan) if axis is not None else (float(s / n) if n > 0 else float("nan"))


def _combine(jscore: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(T, A) joint scores -> (T,) frame scores: 100 minus the weighted root-mean-square of the
    joints' lost points, so one badly wrong limb costs more than the same loss spread thinly
    (one joint of nine at 40 loses 13 points, not 4). NaN joints are left out."""
    lost = 100.0 - jscore
    return 100.0 - np.sqrt(_nanmean(lost * lost, axis=1, weights=weights[None, :]))


def format_clock(t: float) -> str:
    """Seconds as m:ss (what a video player shows), e.g. 72.4 -> "1:12"."""
    t = max(0.0, t)
    return f"{int(t // 60)}:{int(t % 60):02d}"


def _other_side(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name


def _about(deg: float) -> int:
    """Round to the nearest 5 degrees (at least 5): coaching advice, not a measurement."""
    return max(5, int(5 * round(abs(deg) / 5)))


def _section_bounds(duration: float, config: CoachConfig) -> list[tuple[float, float]]:
    if config.sections:
        starts = sorted({0.0, *[float(s) for s in config.sections if 0 <= s < duration]})
    else:
        n = max(1, int(round(duration / config.section_seconds)))
        starts = [duration * k / n for k in range(n)]  # equal sections, about section_seconds each
    return [(s, e) for s, e in zip(starts, starts[1:] + [duration])]


def _pose_tip_text(joint: str, learner_joint: str, delta: float, ref_deg: float, att_deg: float,
                   learner_mirrored: bool, when: str) -> str:
    side, what = learner_joint.split("_", 1) if "_" in learner_joint else ("", learner_joint)
    x = _about(delta)
    if joint == "trunk_lean":
        # positive lean = toward image right = the person's left when facing the camera
        toward = "left" if delta > 0 else "right"
        if learner_mirrored:
            toward = "right" if toward == "left" else "left"
        return f"lean your upper body about {x} degrees more to your {toward} {when}"
    if what == "shoulder":
        return (f"raise your {side} arm about {x} degrees higher {when}" if delta > 0
                else f"lower your {side} arm about {x} degrees {when}")
    if what == "hip":
        return (f"move your {side} leg about {x} degrees further out {when}" if delta > 0
                else f"bring your {side} leg about {x} degrees further in {when}")
    # elbow, knee: bends; 0 = straight
    # opposite bends only when both are clear: near straight the sign is mostly 2D projection
    if np.sign(ref_deg) != np.sign(att_deg) and min(abs(ref_deg), abs(att_deg)) >= 30:
        return f"bend your {side} {what} the other way (about {x} degrees off) {when}"
    if abs(att_deg) < abs(ref_deg):
        return f"bend your {side} {what} about {x} degrees more {when}"
    return f"straighten your {side} {what} about {x} degrees more {when}"


# ----------------------------------------------------------------------------- coach

def coach(reference: PoseSequence, attempt: PoseSequence, config: CoachConfig = CoachConfig()) -> CoachResult:
    """Score `attempt` against `reference` (see the module docstring)."""
    if len(reference) < 2 or len(attempt) < 2:
        raise DancenowError(f"need at least 2 frames in each sequence (reference {len(reference)}, attempt {len(attempt)})")
    fps = float(config.fps or min(reference.fps, MAX_ANALYSIS_FPS))
    ref = resample(reference, fps)
    att = resample(attempt, fps)
    if config.mirror:
        att = att.mirrored()

    # 1. features and alignment
    fkw = dict(min_confidence=config.min_confidence, smooth_seconds=config.smooth_seconds,
               min_bone_ratio=config.min_bone_ratio)
    ref_f = _features(ref, "reference", False, fkw)[0]
    att_v = _features(att, "attempt", config.lr_invariant, fkw)
    if not np.isfinite(ref_f.angles).any():
        raise DancenowError("the reference has no frame with a measurable joint angle (are the arms and legs detected?)")
    if not np.isfinite(att_v[0].angles).any():
        raise DancenowError("the attempt has no frame with a measurable joint angle (are the arms and legs detected?)")
    al = align(ref_f, att_v, config.band_seconds, config.step_pattern, config.step_penalty, progress=config.progress)
    n = len(ref_f)
    warp = al.warp

    # 2. which variant per reference frame (lr_invariant): a 0.5 s majority filter over the
    # closer one, so the side does not flicker frame to frame
    if len(att_v) > 1:
        swapped = median_filter(al.variant.astype(np.uint8), size=max(1, int(round(0.5 * fps)) | 1), mode="nearest").astype(bool)
    else:
        swapped = np.zeros(n, bool)
    pick = swapped.astype(int)
    att_angles = np.stack([v.angles for v in att_v])[pick, warp]  # (N, A), attempt frame warp[i]
    att_depth = np.stack([v.depth for v in att_v])[pick, warp]
    att_reliable = np.stack([v.reliable for v in att_v])[pick, warp]

    # 3. errors at the smoothed warp (see `Alignment.warp`: the raw path would bend to explain
    # away pose errors). Angles where both limbs lie in the picture; where only one dancer
    # holds a limb end-on, how far out of the picture it turns; where both do, nothing.
    both = ref_f.reliable & att_reliable
    one = (ref_f.reliable ^ att_reliable) & np.isfinite(ref_f.depth) & np.isfinite(att_depth)
    signed = np.where(both, angle_difference(ref_f.angles, att_angles), np.nan)  # (N, A)
    depth_err = np.where(one, ref_f.depth - att_depth, np.nan)
    abs_err = np.where(both, np.abs(signed), np.abs(depth_err))

    # 4. scores
    span = config.zero_marks_deg - config.full_marks_deg
    jscore = 100.0 * np.clip((config.zero_marks_deg - abs_err) / span, 0.0, 1.0)
    jscore[~np.isfinite(abs_err)] = np.nan
    weights = np.array([float(config.joint_weights.get(name, 1.0)) for name in ANGLE_NAMES])
    frame_scores = _combine(jscore, weights)
    overall = _nanmean(frame_scores)
    if not math.isfinite(overall):
        raise DancenowError("reference and attempt never show the same joints at the same time: nothing to compare")
    joint_scores = {name: _nanmean(jscore[:, k]) for k, name in enumerate(ANGLE_NAMES)}
    part_scores = {}
    for part in BODY_PARTS:
        ks = [k for k, d in enumerate(ANGLES) if d.part == part]
        part_scores[part] = _nanmean(_combine(jscore[:, ks], weights[ks]))

    times = np.arange(n) / fps
    duration = n / fps
    sections = []
    for k, (s, e) in enumerate(_section_bounds(duration, config)):
        m = (times >= s) & (times < e)
        sections.append(SectionScore(f"{format_clock(s)}-{format_clock(e)}", round(s, 3), round(e, 3),
                                     _nanmean(frame_scores[m]), float(np.mean(al.offset_s[m])) if m.any() else float("nan")))

    # 5. worst moments and tips
    learner_mirrored = swapped ^ bool(config.mirror)
    ev = _Evidence(signed, ref_f.angles, att_angles, depth_err, ref_f.depth, att_depth, learner_mirrored, swapped)
    moments = _worst_moments(frame_scores, ev, al, fps, config)
    tips = _pose_tips(ev, fps, config) + _timing_tips(sections, al, config)

    log.debug("coach: %d reference frames at %g fps, score %.1f, typical offset %+.2f s, %d tips",
              n, fps, overall, al.median_offset_s, len(tips))
    return CoachResult(
        score=overall, part_scores=part_scores, joint_scores=joint_scores, sections=tuple(sections),
        worst_moments=tuple(moments), tips=tuple(tips), alignment=al, frame_scores=frame_scores,
        joint_errors=signed, depth_errors=depth_err, joint_scores_per_frame=jscore, reference_angles=ref_f.angles,
        attempt_angles=att_angles, swapped=swapped, reference=ref, attempt=att,
        reference_source_fps=reference.fps, attempt_source_fps=attempt.fps, config=config,
    )


def _features(seq: PoseSequence, what: str, lr_invariant: bool, kwargs: dict):
    try:
        return feature_variants(seq, lr_invariant, **kwargs)
    except DancenowError as e:  # say which of the two sequences is unusable
        raise DancenowError(f"{what}: {e}") from None


@dataclass(frozen=True, eq=False)
class _Evidence:
    """Per reference frame (N, A) arrays the moments and tips are drawn from."""

    signed: np.ndarray  # angle errors, reference minus attempt
    ref_angles: np.ndarray
    att_angles: np.ndarray
    depth_err: np.ndarray  # out-of-plane errors, reference minus attempt
    ref_depth: np.ndarray
    att_depth: np.ndarray
    learner_mirrored: np.ndarray  # (N,) the learner's sides are swapped in the comparison
    swapped: np.ndarray  # (N,)

    def joint_error(self, i: int, k: int, full_marks_deg: float) -> JointError | None:
        d = ANGLES[k]
        lj = _other_side(d.name) if self.learner_mirrored[i] else d.name
        if np.isfinite(self.signed[i, k]):
            e, r, a, measure = self.signed[i, k], self.ref_angles[i, k], self.att_angles[i, k], "angle"
        elif np.isfinite(self.depth_err[i, k]):
            e, r, a, measure = self.depth_err[i, k], self.ref_depth[i, k], self.att_depth[i, k], "depth"
        else:
            return None
        return JointError(d.name, lj, d.part, round(float(r), 2), round(float(a), 2), round(float(e), 2),
                          bool(abs(e) > full_marks_deg), measure)


def _worst_moments(frame_scores, ev: _Evidence, al: Alignment, fps: float, config: CoachConfig) -> list[Moment]:
    """Lowest points of the (0.25 s smoothed) score curve, `moment_gap_seconds` apart; only
    frames that actually lost points (a perfect attempt has no worst moments)."""
    ok = np.isfinite(frame_scores)
    win = max(1, int(round(0.25 * fps)))
    filled = np.where(ok, frame_scores, 0.0)
    w = uniform_filter1d(ok.astype(np.float64), win, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = np.where(w > 0, uniform_filter1d(filled, win, mode="nearest") / w, np.nan)
    smooth[~ok] = np.nan
    gap = int(round(config.moment_gap_seconds * fps))
    out = []
    cand = smooth.copy()
    for _ in range(config.worst_moments):
        if not np.isfinite(cand).any():
            break
        i = int(np.nanargmin(cand))
        if not cand[i] < 99.5:
            break
        cand[max(0, i - gap):i + gap + 1] = np.nan
        j = int(al.warp[i])
        errs = [e for k in range(len(ANGLES)) if (e := ev.joint_error(i, k, config.full_marks_deg)) is not None]
        errs.sort(key=lambda e: -abs(e.error_deg))
        out.append(Moment(i, j, round(i / fps, 3), round(j / fps, 3), round(float(frame_scores[i]), 2),
                          bool(ev.swapped[i]), tuple(errs)))
    return out


_LIMB_WORD = {"shoulder": "arm", "elbow": "arm", "hip": "leg", "knee": "leg"}


def _depth_tip_text(learner_joint: str, delta: float, when: str) -> str:
    """Advice for a limb that one of the two holds toward or away from the camera (delta:
    reference minus attempt out-of-plane turn, degrees)."""
    if learner_joint == "trunk_lean":
        limb = "upper body"
    else:
        side, what = learner_joint.split("_", 1)
        limb = f"{side} {_LIMB_WORD.get(what, what)}"
    if delta < 0:
        return f"keep your {limb} more in line with the picture {when}: yours points toward or away from the camera"
    return f"point your {limb} toward or away from the camera {when}, as the reference does"


def _pose_tips(ev: _Evidence, fps: float, config: CoachConfig) -> list[Tip]:
    """One tip per stretch where a joint is off by more than tip_min_deg in one direction for at
    least tip_min_seconds (gaps under 0.15 s bridged); the largest `max_tips`, in time order."""
    min_len = max(1, int(round(config.tip_min_seconds * fps)))
    bridge = np.ones(max(1, int(round(0.15 * fps))) * 2 + 1, bool)
    pad = len(bridge)
    found = []
    for k, d in enumerate(ANGLES):
        for measure, e in (("angle", ev.signed[:, k]), ("depth", ev.depth_err[:, k])):
            for sign in (+1, -1):
                big = np.isfinite(e) & (sign * e > config.tip_min_deg)
                if not big.any():
                    continue
                runs, nrun = label(binary_closing(np.pad(big, pad), structure=bridge)[pad:-pad] | big)
                for r in range(1, nrun + 1):
                    idx = np.flatnonzero(runs == r)
                    if len(idx) < min_len:
                        continue
                    vals = e[idx][np.isfinite(e[idx])]
                    delta = float(np.median(vals))
                    start, end = idx[0] / fps, (idx[-1] + 1) / fps
                    mirrored = bool(np.median(ev.learner_mirrored[idx]) > 0.5)
                    lj = _other_side(d.name) if mirrored else d.name
                    when = f"at {format_clock(start)}" + (f" (for {end - start:.1f} s)" if end - start >= 1.0 else "")
                    if measure == "angle":
                        text = _pose_tip_text(d.name, lj, delta, float(np.nanmedian(ev.ref_angles[idx, k])),
                                              float(np.nanmedian(ev.att_angles[idx, k])), mirrored, when)
                    else:
                        text = _depth_tip_text(lj, delta, when)
                    severity = (np.mean(np.abs(vals)) - config.full_marks_deg) * (end - start)
                    found.append((severity, Tip("pose", text[0].upper() + text[1:] + ".", round(start, 3), round(end, 3),
                                                d.name, lj, round(delta, 2), 0.0, measure)))
    found.sort(key=lambda st: -st[0])
    return sorted((t for _, t in found[:config.max_tips]), key=lambda t: t.start_s)


def _timing_tips(sections: list[SectionScore], al: Alignment, config: CoachConfig) -> list[Tip]:
    """A tip for the typical delay, and one per section that rushes or drags beyond it."""
    tips = []
    med = al.median_offset_s
    lim = config.timing_tip_seconds
    if abs(med) > lim:
        word = "behind" if med > 0 else "ahead of"
        tips.append(Tip("timing", f"Overall you were {abs(med):.1f} s {word} the reference (this matters if both "
                        "recordings started with the music).", 0.0, sections[-1].end_s, delta_s=round(med, 3)))
    if len(sections) > 1:
        for s in sections:
            dev = s.offset_s - med
            if math.isfinite(dev) and abs(dev) > lim:
                word = "dragged" if dev > 0 else "rushed"
                rel = "later" if dev > 0 else "earlier"
                tips.append(Tip("timing", f"You {word} in {s.name}: {abs(dev):.1f} s {rel} than your usual timing.",
                                s.start_s, s.end_s, delta_s=round(dev, 3)))
    return tips
