"""Exercise mode: count and judge the repetitions of one exercise in a pose sequence.

    from dancenow.coach.exercise import analyze_exercise
    from dancenow.coach.exercises import get_exercise
    result = analyze_exercise(poses, get_exercise("squat"))
    print(result.full, result.partial, [r.score for r in result.reps])

Steps:
  1. Measures of every frame (`measures.measure_poses`) and the camera view.
  2. The exercise's progress signal (`exercises.Signal`: 0 at the start position, 1 at the
     end position), gaps up to `max_gap_seconds` bridged.
  3. Counting (`reps.RepCounter`, the same code the live view runs) and each repetition's
     phases in the whole signal (`reps.find_phases`).
  4. Per repetition: the tempo of its three phases, the depth reached (peak progress, and the
     exercise's depth measure), the range of motion of its key measures, its view, each form
     check (ok, fault, or cannot judge from this view) and a score: 100, minus up to 40 for a
     short range (40 x the missing fraction of the full range), minus each fault's penalty.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from dancenow.coach.exercises import Check, Exercise, Signal
from dancenow.coach.measures import LABELS, UNITS, Measures, majority_view, measure_poses
from dancenow.coach.reps import CountConfig, Phases, RepCounter, fill_gaps, find_phases
from dancenow.errors import DancenowError
from dancenow.keypoints import PoseSequence

log = logging.getLogger(__name__)

RANGE_POINTS = 40.0  # points a repetition loses for reaching none of its full range


@dataclass(frozen=True)
class ExerciseConfig:
    """min_confidence: keypoints below it are missing. standing_seconds: window for the standing
    height and torso length (see `measures`). count: the counter's settings (None: the
    exercise's own)."""

    min_confidence: float = 0.2
    standing_seconds: float = 6.0
    count: CountConfig | None = None


@dataclass(frozen=True)
class CheckResult:
    """One check of one repetition: status "ok", "fault", "cannot judge" (this view cannot see
    it; `text` says why) or "no data" (the joints were not seen); `value` in the check's units."""

    name: str
    title: str
    status: Literal["ok", "fault", "cannot judge", "no data"]
    value: float | None
    limit: float
    text: str

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "status": self.status,
                "value": None if self.value is None else round(self.value, 3), "limit": self.limit, "text": self.text}


@dataclass(frozen=True)
class RepResult:
    """One repetition. number: 1-based, in order (partial ones included). status: "full" or
    "partial" (its peak stayed below the counter's full_level). frames: its phases (frame
    indices). Times in seconds from the start of the clip; down/hold/up_s: durations of the
    three phases (named by the exercise). depth: peak progress (1 = the full end position).
    depth_value: the exercise's depth measure at the end position. rom: measure -> (min, max)
    from the rest position before the repetition to the one after. view: "front", "oblique", "side" or "". score: 0-100."""

    number: int
    status: Literal["full", "partial"]
    frames: Phases
    start_s: float
    peak_s: float
    stop_s: float
    down_s: float
    hold_s: float
    up_s: float
    depth: float
    depth_value: float | None
    rom: dict[str, tuple[float, float]]
    view: str
    checks: tuple[CheckResult, ...]
    score: float

    @property
    def faults(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status == "fault")

    def to_dict(self) -> dict:
        r = lambda v: None if v is None or not math.isfinite(v) else round(float(v), 3)  # noqa: E731
        return {
            "number": self.number, "status": self.status, "start_s": r(self.start_s), "peak_s": r(self.peak_s),
            "stop_s": r(self.stop_s), "down_s": r(self.down_s), "hold_s": r(self.hold_s), "up_s": r(self.up_s),
            "depth": r(self.depth), "depth_value": r(self.depth_value), "view": self.view, "score": r(self.score),
            "rom": {k: {"min": r(a), "max": r(b), "range": r(b - a)} for k, (a, b) in self.rom.items()},
            "checks": [c.to_dict() for c in self.checks],
            "frames": {"start": self.frames.start, "end_from": self.frames.end_from, "peak": self.frames.peak,
                       "end_to": self.frames.end_to, "stop": self.frames.stop},
        }


@dataclass(frozen=True, eq=False)
class ExerciseResult:
    """The analysis of one clip. reps: every counted repetition (full and partial), in order.
    unfinished: the clip ended during a repetition (not counted). progress: (T,) the progress
    signal (gaps bridged); smoothed: what the counter saw. score: mean of the repetitions'
    scores (NaN without any). views: share of frames per view."""

    exercise: Exercise
    signal: Signal
    reps: tuple[RepResult, ...]
    unfinished: bool
    progress: np.ndarray
    smoothed: np.ndarray
    measures: Measures
    poses: PoseSequence
    views: dict[str, float]
    score: float
    notes: tuple[str, ...] = field(default=())

    @property
    def fps(self) -> float:
        return self.poses.fps

    @property
    def full(self) -> int:
        return sum(r.status == "full" for r in self.reps)

    @property
    def partial(self) -> int:
        return sum(r.status == "partial" for r in self.reps)

    @property
    def duration_s(self) -> float:
        return len(self.poses) / self.poses.fps

    def summary(self) -> str:
        """One line: the count and the score."""
        s = f"{self.full} {self.exercise.name} rep{'s' if self.full != 1 else ''}"
        if self.partial:
            s += f" + {self.partial} partial"
        if self.reps:
            s += f"; score {self.score:.0f}/100"
        return s

    def to_dict(self) -> dict:
        ex = self.exercise
        return {
            "exercise": ex.name, "description": ex.description, "signal": self.signal.name,
            "full": self.full, "partial": self.partial, "unfinished": self.unfinished,
            "score": None if not math.isfinite(self.score) else round(self.score, 2),
            "fps": self.fps, "duration_s": round(self.duration_s, 3), "views": {k: round(v, 3) for k, v in self.views.items()},
            "phases": list(ex.phases), "rom_measures": list(ex.rom), "depth_measure": ex.depth,
            "units": {k: UNITS[k] for k in (*ex.rom, *([ex.depth] if ex.depth else []))},
            "checks": [{"name": c.name, "title": c.title, "views": list(c.views), "limit": c.limit} for c in ex.checks],
            "reps": [r.to_dict() for r in self.reps], "notes": list(self.notes),
            "progress": [None if not math.isfinite(v) else round(float(v), 4) for v in self.progress],
        }


def _stat(values: np.ndarray, check: Check, ph: Phases) -> float | None:
    if check.stat == "end":
        seg = values[ph.end_from:ph.end_to + 1]
    else:
        seg = values[ph.start:ph.stop + 1]
    seg = seg[np.isfinite(seg)]
    if len(seg) == 0:
        return None
    return float({"max": np.max, "min": np.min, "end": np.median}[check.stat](seg))


def judge(check: Check, m: Measures, ph: Phases, view: str) -> CheckResult:
    """One check over one repetition seen from `view`."""
    if view not in check.views:
        why = f"cannot judge from {'an unknown view' if not view else f'a {view} view'}"
        if check.hidden:
            why += f": {check.hidden}"
        return CheckResult(check.name, check.title, "cannot judge", None, check.limit, why)
    stat = _stat(m[check.measure], check, ph)
    if stat is None:
        return CheckResult(check.name, check.title, "no data", None, check.limit, f"{check.title}: not seen")
    value = abs(stat - check.target) if check.target is not None else stat
    if not check.judge(value):
        return CheckResult(check.name, check.title, "ok", value, check.limit, "")
    f = check.fmt
    signed = stat - check.target if check.target is not None else stat
    text = check.text.format(value=format(value, f), limit=format(check.limit, f), actual=format(stat, f),
                             signed=format(signed, "+" + f))
    return CheckResult(check.name, check.title, "fault", value, check.limit, text)


def _rep(number: int, ph: Phases, p: np.ndarray, m: Measures, ex: Exercise, count: CountConfig, fps: float) -> RepResult:
    depth = float(p[ph.peak])
    view = majority_view(m.view[ph.start:ph.stop + 1])
    rom = {}
    for k in ex.rom:  # from the rest position before to the one after
        seg = m[k][ph.low_before:ph.low_after + 1]
        seg = seg[np.isfinite(seg)]
        if len(seg):
            rom[k] = (float(seg.min()), float(seg.max()))
    depth_value = None
    if ex.depth:
        seg = m[ex.depth][ph.end_from:ph.end_to + 1]
        seg = seg[np.isfinite(seg)]
        depth_value = float(np.median(seg)) if len(seg) else None
    checks = tuple(judge(c, m, ph, view) for c in ex.checks)
    score = 100.0 - RANGE_POINTS * float(np.clip(1.0 - depth, 0.0, 1.0)) - sum(
        c.penalty for c, r in zip(ex.checks, checks) if r.status == "fault")
    return RepResult(
        number, "full" if depth >= count.full_level else "partial", ph,
        ph.start / fps, ph.peak / fps, ph.stop / fps,
        (ph.end_from - ph.start) / fps, (ph.end_to - ph.end_from) / fps, (ph.stop - ph.end_to) / fps,
        depth, depth_value, rom, view, checks, float(max(0.0, score)))


def count_signal(p: np.ndarray, fps: float, count: CountConfig) -> tuple[RepCounter, np.ndarray]:
    """Run the counter over a whole signal: (the counter, the smoothed signal it saw)."""
    counter = RepCounter(fps, count)
    smoothed = np.full(len(p), np.nan)
    for i, v in enumerate(p):
        counter.push(float(v))
        if math.isfinite(v):  # (the counter holds its last value through a gap)
            smoothed[i] = counter.smoothed
    return counter, smoothed


def analyze_exercise(poses: PoseSequence, exercise: Exercise, config: ExerciseConfig = ExerciseConfig()) -> ExerciseResult:
    """Count and judge the repetitions of `exercise` in `poses` (see the module docstring)."""
    if len(poses) < 2:
        raise DancenowError(f"need at least 2 frames of poses, got {len(poses)}")
    m = measure_poses(poses, config.min_confidence, config.standing_seconds)
    signal = exercise.signal_for(m)
    count = config.count or exercise.count
    fps = poses.fps
    p = fill_gaps(signal.progress(m), int(round(count.max_gap_seconds * fps)))
    counter, smoothed = count_signal(p, fps, count)
    phases = find_phases(p, counter.reps)
    reps = tuple(_rep(k + 1, ph, p, m, exercise, count, fps) for k, ph in enumerate(phases))

    known = [v for v in m.view if v]
    views = {v: known.count(v) / len(known) for v in ("front", "oblique", "side")} if known else {}
    notes = []
    seen = [r.view for r in reps]
    if len(set(seen)) > 1:
        runs = []
        for k, v in enumerate(seen):
            if runs and runs[-1][0] == v:
                runs[-1][2] = k + 1
            else:
                runs.append([v, k + 1, k + 1])
        notes.append("The camera view changes: " + ", ".join(
            f"{v or 'unknown'} for rep{'s' if a != b else ''} {a}{f'-{b}' if a != b else ''}" for v, a, b in runs)
            + ". Each check is judged only from a view that can see it.")
    if exercise.reference_view and any(r.view and r.view != exercise.reference_view for r in reps):
        notes.append(f"The reference was filmed from the {exercise.reference_view}; its pose checks cannot be judged "
                     "for repetitions seen from another view.")
    if signal is not exercise.signals[0]:
        notes.append(f"Counted on {signal.name}: {exercise.signals[0].name} is not visible in most frames.")
    if counter.unfinished is not None:
        notes.append("The clip ends during a repetition; it is not counted.")
    score = float(np.mean([r.score for r in reps])) if reps else math.nan
    log.info("%s: %d full, %d partial repetition(s) on %s", exercise.name, sum(r.status == "full" for r in reps),
             sum(r.status == "partial" for r in reps), signal.name)
    return ExerciseResult(exercise, signal, reps, counter.unfinished is not None, p, smoothed, m, poses, views, score,
                          tuple(notes))


def measure_label(name: str, what: str = "") -> str:
    """A measure's name and unit for tables, e.g. "knee flexion (deg)", "knee flexion range (deg)"."""
    unit = UNITS.get(name, "")
    text = f"{LABELS.get(name, name)} {what}".strip()
    return f"{text} ({unit})" if unit else text
