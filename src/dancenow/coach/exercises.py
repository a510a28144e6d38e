"""What an exercise is, to the coach: which measures make a repetition (the progress signal),
which ranges of motion to report, and which form faults to check, each with the camera views
that can see it. Built in: squat, jumping-jack, lunge, push-up, arm-raise; or learned from one
good repetition filmed once (`from_reference`).

Thresholds are for 2D measures (`measures`): a side-on camera sees forward lean and depth, a
front-on camera sees knees caving in and left/right differences. A check asked of a view that
cannot see it is reported as "cannot judge from this view", with the reason, never guessed.
The squat's and jumping jack's numbers were set on real footage (see tests/coach); the others
follow the same reasoning and common coaching cues.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from dancenow.coach.measures import ANGLE_MEASURES, LABELS, MEASURES, Measures, majority_view
from dancenow.coach.reps import CountConfig
from dancenow.errors import DancenowError

Stat = Literal["max", "min", "end"]  # over the repetition, or the median over its end position


@dataclass(frozen=True)
class Part:
    """One measure's share of the progress signal: p = (value - rest) / (full - rest)."""

    measure: str
    rest: float
    full: float


@dataclass(frozen=True)
class Signal:
    """The progress signal: the mean of its parts' p (weighted by |full - rest|, over the parts
    present in a frame). `name` says what it follows in reports."""

    name: str
    parts: tuple[Part, ...]

    def progress(self, m: Measures) -> np.ndarray:
        num = np.zeros(len(m))
        den = np.zeros(len(m))
        for part in self.parts:
            v = m[part.measure]
            w = abs(part.full - part.rest)
            ok = np.isfinite(v)
            num += np.where(ok, w * (v - part.rest) / (part.full - part.rest), 0.0)
            den += np.where(ok, w, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)


@dataclass(frozen=True)
class Check:
    """One form fault. `stat` of `measure` over a repetition (its max, its min, or its median
    over the end position) is a fault when above `limit` (`worse="above"`) or below it.

    views: the camera views that can see it; from another view it is "cannot judge", and
    `hidden` says why. text: the fault, told to the person; `{value}` and `{limit}` are filled
    in (formatted by `fmt`). penalty: points the repetition's score loses for it (scaled up
    to 1.5x for a fault well past the limit). target: when set, the value judged is the
    distance |stat - target| (a learned exercise's pose at the end position); the text may then
    use `{signed}` (stat - target) and `{actual}` (the stat)."""

    name: str
    title: str
    measure: str
    stat: Stat
    worse: Literal["above", "below"]
    limit: float
    views: tuple[str, ...]
    text: str
    hidden: str = ""
    penalty: float = 15.0
    fmt: str = ".0f"
    target: float | None = None

    def judge(self, value: float) -> bool:
        return value > self.limit if self.worse == "above" else value < self.limit


@dataclass(frozen=True)
class Exercise:
    """An exercise. signals: progress signals in order of preference (the first that the clip
    shows for most frames is used: e.g. hip drop needs the ankles in the picture). phases:
    names of the three phases of a repetition (toward the end position, at it, back). rom:
    measures whose range of motion each repetition reports. depth: a measure reported at the
    end position (None: none). checks: form faults. count: the counter's settings.
    reference: for an exercise learned from a repetition, its measures at the end position
    (checks compare with them) and its view."""

    name: str
    signals: tuple[Signal, ...]
    phases: tuple[str, str, str]
    rom: tuple[str, ...]
    checks: tuple[Check, ...]
    depth: str | None = None
    count: CountConfig = CountConfig()
    description: str = ""
    reference_view: str = ""
    reference_end: dict[str, float] = field(default_factory=dict)

    def signal_for(self, m: Measures, min_coverage: float = 0.6) -> Signal:
        """The first signal present in at least `min_coverage` of the frames where the person
        is (else the best covered one)."""
        person = np.isfinite(m["width"]) | np.isfinite(m["trunk_lean"])
        if not person.any():
            raise DancenowError("no person found in any frame")
        cover = []
        for s in self.signals:
            c = float(np.isfinite(s.progress(m))[person].mean())
            if c >= min_coverage:
                return s
            cover.append(c)
        best = int(np.argmax(cover))
        if cover[best] == 0:
            need = sorted({p.measure for s in self.signals for p in s.parts})
            raise DancenowError(f"{self.name}: the joints it needs ({', '.join(need)}) are never in the picture")
        return self.signals[best]


_FRONT_ONLY_LR = "from the side one leg hides the other"
_SIDE_ONLY_LEAN = "from the front a forward lean points at the camera and does not show"
_SIDEWAYS_ARMS = ("from the side, arms raised sideways move along the view: past shoulder height they look "
                  "straight up however high they are")

SQUAT = Exercise(
    "squat",
    signals=(Signal("hip drop", (Part("hip_drop", 0.0, 0.55),)),
             Signal("knee flexion", (Part("knee_flexion", 5.0, 110.0),))),
    phases=("down", "bottom", "up"),
    rom=("knee_flexion", "hip_flexion", "trunk_lean"),
    depth="hip_above_knee",
    description="Hips back and down until the hip crease is below the knees, knees over the toes, chest up.",
    checks=(
        Check("depth", "depth", "hip_above_knee", "min", "above", 0.05, ("front", "oblique", "side"),
              "not deep enough: the hips stayed above knee height (by {value} leg lengths)",
              penalty=20.0, fmt=".2f"),
        Check("trunk_lean", "trunk lean", "trunk_lean", "end", "above", 45.0, ("side",),
              "the chest drops forward: the trunk leans {value} deg at the bottom (keep it under {limit})",
              _SIDE_ONLY_LEAN),
        Check("knees_in", "knees caving in", "knee_vs_ankle", "end", "below", 0.9, ("front",),
              "knees cave in: at the bottom they are {value} times as far apart as the ankles (push them out over the toes)",
              "from the side the knees overlap", fmt=".2f"),
        Check("hips_level", "hips level", "hip_tilt", "end", "above", 7.0, ("front",),
              "the hips tilt {value} deg to one side at the bottom", _FRONT_ONLY_LR),
        Check("knees_even", "left/right knees", "knee_asymmetry", "end", "above", 25.0, ("front",),
              "one knee bends {value} deg more than the other", _FRONT_ONLY_LR, penalty=10.0),
    ),
)

JUMPING_JACK = Exercise(
    "jumping-jack",
    signals=(Signal("arm elevation", (Part("arm_elevation", 15.0, 150.0),)),
             Signal("feet apart", (Part("ankle_spread", 0.25, 1.2),))),
    phases=("out", "open", "in"),
    rom=("arm_elevation", "ankle_spread"),
    description="Jump the feet apart while the arms swing overhead, then back together.",
    checks=(
        Check("arms_overhead", "arms overhead", "arm_elevation", "max", "below", 135.0, ("front", "oblique"),
              "the arms reach only {value} deg (overhead is about 150)", _SIDEWAYS_ARMS, penalty=20.0),
        Check("feet_apart", "feet apart", "ankle_spread", "max", "below", 0.7, ("front",),
              "the feet open only {value} torso lengths (jump them wider than the shoulders)",
              "from the side the feet move toward and away from each other along the view", fmt=".2f"),
        Check("arms_even", "left/right arms", "arm_asymmetry", "end", "above", 25.0, ("front",),
              "one arm rises {value} deg higher than the other", "from the side one arm hides the other", penalty=10.0),
    ),
)

LUNGE = Exercise(
    "lunge",
    signals=(Signal("hip drop", (Part("hip_drop", 0.0, 0.4),)),
             Signal("knee flexion", (Part("knee_flexion", 5.0, 90.0),))),
    phases=("down", "bottom", "up"),
    rom=("knee_flexion", "hip_flexion", "trunk_lean"),
    depth="knee_flexion",
    description="Step forward and lower the back knee toward the floor, front knee about 90 deg, trunk upright.",
    checks=(
        Check("depth", "depth", "knee_flexion", "max", "below", 70.0, ("side",),
              "not deep enough: the knees bend only {value} deg on average (front knee about 90)",
              "from the front the thighs point at the camera and their bend does not show", penalty=20.0),
        Check("trunk_lean", "trunk lean", "trunk_lean", "end", "above", 25.0, ("side",),
              "the upper body leans {value} deg forward (keep it upright)", _SIDE_ONLY_LEAN),
        Check("hips_level", "hips level", "hip_tilt", "end", "above", 8.0, ("front",),
              "the hips drop {value} deg to one side", _FRONT_ONLY_LR),
    ),
)

PUSH_UP = Exercise(
    "push-up",
    signals=(Signal("shoulder drop", (Part("shoulder_drop", 0.0, 0.4),)),
             Signal("elbow flexion", (Part("elbow_flexion", 15.0, 90.0),))),
    phases=("down", "bottom", "up"),
    rom=("elbow_flexion", "shoulder_drop"),
    depth="elbow_flexion",
    description="Body in one straight line from shoulders to ankles, chest down until the elbows reach about 90 deg.",
    checks=(
        Check("depth", "depth", "elbow_flexion", "max", "below", 75.0, ("side",),
              "not deep enough: the elbows bend only {value} deg (about 90 at the bottom)",
              "from the front elbows bending along the view do not show", penalty=20.0),
        # 10 degrees at the shoulders is about 10 cm of sag at the hips of an adult
        Check("hips_sag", "hips sag", "body_line", "end", "above", 10.0, ("side",),
              "the hips sag {value} deg below the shoulder-ankle line (brace the belly)",
              "from the front the body line points at the camera"),
        Check("hips_pike", "hips pike", "body_line", "end", "below", -10.0, ("side",),
              "the hips pike {value} deg above the shoulder-ankle line",
              "from the front the body line points at the camera"),
        Check("shoulders_level", "shoulders level", "shoulder_tilt", "end", "above", 8.0, ("front",),
              "the shoulders tilt {value} deg to one side", "from the side one shoulder hides the other"),
    ),
)

ARM_RAISE = Exercise(
    "arm-raise",
    signals=(Signal("arm elevation", (Part("arm_elevation", 15.0, 90.0),)),),
    phases=("raise", "top", "lower"),
    rom=("left_shoulder", "right_shoulder", "elbow_flexion"),
    depth="arm_elevation",
    description=("Raise the arms sideways (shoulder abduction; film from the front) to at least shoulder height, "
                 "elbows straight, trunk still. For a forward raise, learn it from a reference filmed from the side."),
    checks=(
        Check("height", "height", "arm_elevation", "max", "below", 80.0, ("front", "oblique"),
              "the arms reach only {value} deg (shoulder height is 90)", _SIDEWAYS_ARMS, penalty=20.0),
        Check("elbows", "straight elbows", "elbow_flexion", "end", "above", 30.0, ("front",),
              "the elbows bend {value} deg at the top (keep them nearly straight)",
              "from the side a sideways raise moves the forearms along the view"),
        Check("lean_side", "trunk still (sideways)", "trunk_lean", "end", "above", 10.0, ("front",),
              "the trunk leans {value} deg sideways to help the arm up", "from the side a sideways lean points at the camera"),
        Check("arms_even", "left/right arms", "arm_asymmetry", "end", "above", 20.0, ("front",),
              "one arm rises {value} deg higher than the other", "from the side one arm hides the other", penalty=10.0),
    ),
)

EXERCISES: dict[str, Exercise] = {e.name: e for e in (SQUAT, JUMPING_JACK, LUNGE, PUSH_UP, ARM_RAISE)}


def get_exercise(name: str) -> Exercise:
    if name not in EXERCISES:
        raise DancenowError(f"unknown exercise {name!r}: choose one of {', '.join(EXERCISES)} or give --reference")
    return EXERCISES[name]


# ----------------------------------------------------------------------------- learned from one repetition

# Measures that can define a learned repetition (angles read alike from any side, and the hips'
# drop); the signal follows those that move at least `KEY_SHARE` as much as the one that moves
# most, and at least `MIN_MOVE` degrees (hip drop counts 0.5 as 90 degrees).
_CANDIDATES = ANGLE_MEASURES + ("hip_drop",)
_SCALE = {"hip_drop": 180.0}  # hip drop 0.5 (a deep squat) weighs like 90 degrees
KEY_SHARE = 0.5
MIN_MOVE = 25.0  # degrees
POSE_LIMIT = 25.0  # degrees: a joint at the end position this far from the reference's is a fault


def from_reference(m: Measures, name: str = "reference") -> Exercise:
    """An exercise learned from the measures of one good repetition: the rest position is the
    start of the clip (its first and last 10% are where a repetition starts and ends), the end
    position the frame farthest from it. The signal follows the joints that move most; each
    joint angle at the end position must match the reference's within POSE_LIMIT degrees,
    judged only from the view the reference was filmed from."""
    n = len(m)
    if n < 5:
        raise DancenowError(f"the reference repetition has only {n} frames")
    edge = max(1, n // 10)
    rest_idx = np.r_[0:edge, n - edge:n]
    move = {}
    rest, dev = {}, {}
    for k in _CANDIDATES:
        v = m[k]
        if np.isfinite(v[rest_idx]).sum() < 1 or np.isfinite(v).sum() < n // 2:
            continue
        r = float(np.nanmedian(v[rest_idx]))
        d = (v - r) * _SCALE.get(k, 1.0)
        rest[k], dev[k] = r, d
        move[k] = float(np.nanmax(np.abs(d)))
    if not move:
        raise DancenowError("the reference repetition shows no measurable joint (is the whole body in the picture?)")
    top = max(move.values())
    keys = [k for k, v in move.items() if v >= max(MIN_MOVE, KEY_SHARE * top)]
    if not keys:
        raise DancenowError(f"nothing moves in the reference repetition (largest change {top:.0f} deg, need {MIN_MOVE:.0f})")
    # the end position: the frame where the key joints are, together, farthest from rest
    total = np.nansum(np.stack([np.abs(dev[k]) for k in keys]), axis=0)
    peak = int(np.nanargmax(total))
    parts = []
    for k in keys:
        full = float(m[k][peak])
        if not math.isfinite(full) or abs(full - rest[k]) * _SCALE.get(k, 1.0) < MIN_MOVE / 2:
            continue
        parts.append(Part(k, rest[k], full))
    if not parts:
        raise DancenowError("the reference repetition's end position could not be measured")
    view = majority_view(m.view)
    end = {k: float(m[k][peak]) for k in MEASURES if math.isfinite(float(m[k][peak]))}
    rom = tuple(p.measure for p in parts)
    checks = []
    for k in ANGLE_MEASURES:
        if k not in end:
            continue
        label = LABELS[k]
        checks.append(Check(f"pose_{k}", label, k, "end", "above", POSE_LIMIT, (view,) if view else (),
                            f"{label} {{actual}} deg at the end position, the reference {end[k]:.0f} ({{signed}})",
                            f"the reference was filmed from the {view or 'unknown view'}", penalty=10.0,
                            target=end[k]))
    signal = Signal(" + ".join(LABELS[p.measure] for p in parts), tuple(parts))
    return Exercise(name, (signal,), ("toward", "hold", "back"), rom, tuple(checks), None, CountConfig(),
                    f"learned from one repetition ({signal.name})", view, end)


def with_count(ex: Exercise, count: CountConfig) -> Exercise:
    return replace(ex, count=count)
