"""Procedural choreography: a library of dance moves as joint-angle curves over beats, chained
at a tempo with varied timing and smooth cross-fades into a `Dance`.

A move is a function of the beat position `b` (beats since the move started, float array; it is
also evaluated a little before and after its own span for the cross-fades) and an amplitude `a`
(1 = nominal). It returns values for the DOFs it moves (radians; x, z, lift in body heights,
see skeleton.py); the others keep the `NEUTRAL` stance, and hip_abd/hip_twist add to it (so the
feet keep their natural turn-out). Left/right variants come from `mirror_dofs`, so every move is written once.
A `Dance` is independent of any body: the same Dance performed by two actors gives the same
choreography on different bodies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dancenow.errors import DancenowError
from dancenow.world.skeleton import DOF, DOFS, MIRROR_INDEX, MIRROR_SIGN

PI = np.pi
NEUTRAL: dict[str, float] = {
    "l_shoulder_abd": 0.12, "r_shoulder_abd": 0.12, "l_elbow": 0.25, "r_elbow": 0.25,
    "l_fingers": 0.35, "r_fingers": 0.35, "l_knee": 0.06, "r_knee": 0.06,
    "l_hip_abd": 0.05, "r_hip_abd": 0.05, "l_hip_twist": 0.12, "r_hip_twist": 0.12,
}
_NEUTRAL_VEC = np.array([NEUTRAL.get(n, 0.0) for n in DOFS])
_ADDED_TO_STANCE = ("l_hip_abd", "r_hip_abd", "l_hip_twist", "r_hip_twist")


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _square(x: np.ndarray, sharp: float = 2.5) -> np.ndarray:
    """A smooth square wave in [-1, 1] (poses held, then a quick change)."""
    return np.tanh(sharp * np.sin(x)) / np.tanh(sharp)


def _bounce(b: np.ndarray, depth: float) -> dict[str, np.ndarray]:
    """Knees dip on every beat: the groove under most moves."""
    k = depth * 0.5 * (1.0 + np.cos(2 * PI * b))
    return {"l_knee": k, "r_knee": k, "l_hip_flex": 0.4 * k, "r_hip_flex": 0.4 * k}


def _add(d: dict, extra: dict) -> dict:
    for k, v in extra.items():
        d[k] = d.get(k, 0.0) + v
    return d


# ----------------------------------------------------------------------------- the moves

def arm_wave(b, a):
    """A wave rolls through the arms held out sideways: wrist, elbow, shoulder, across."""
    ph = PI * b  # one wave per two beats
    d = _bounce(b, 0.12)
    delays = {"l_wrist": 0.0, "l_elbow": 0.8, "l_shoulder": 1.6, "r_shoulder": 2.4, "r_elbow": 3.2, "r_wrist": 4.0}
    for s in "lr":
        d[f"{s}_shoulder_abd"] = 1.35 + 0.28 * a * np.sin(ph - delays[f"{s}_shoulder"])
        d[f"{s}_shoulder_twist"] = 1.4  # so that the elbows bend upwards
        d[f"{s}_elbow"] = 0.3 + 0.45 * a * (1 + np.sin(ph - delays[f"{s}_elbow"]))
        d[f"{s}_wrist"] = 0.55 * a * np.sin(ph - delays[f"{s}_wrist"])
        d[f"{s}_fingers"] = -0.25
    d["spine_side"] = 0.1 * a * np.sin(ph - 2.0)
    d["head_tilt"] = 0.12 * a * np.sin(ph - 2.0)
    return d


def step_touch(b, a):
    """Step to the side, bring the other foot in to touch; four beats there and back."""
    s = np.sin(PI * b / 2)
    lift_l, lift_r = np.maximum(0, s) ** 2, np.maximum(0, -s) ** 2
    d = _bounce(b, 0.25)
    d["x"] = -0.09 * a * s
    _add(d, {"l_hip_flex": 0.25 * lift_l, "l_knee": 0.5 * lift_l, "r_hip_flex": 0.25 * lift_r, "r_knee": 0.5 * lift_r})
    d["l_hip_abd"] = d["r_hip_abd"] = 0.05
    pump = np.sin(PI * b)
    for s_, sg in (("l", 1), ("r", -1)):
        d[f"{s_}_elbow"] = 1.3
        d[f"{s_}_shoulder_flex"] = 0.35 + 0.3 * a * sg * pump
        d[f"{s_}_shoulder_abd"] = 0.25
        d[f"{s_}_fingers"] = 0.9
    d["head_turn"] = -0.25 * a * s
    d["pelvis_roll"] = 0.06 * a * np.sin(PI * b)
    return d


def turn(b, a):
    """A full turn to the left in the first two beats (arms wrapped in), then open up."""
    u = _smoothstep(b / 2.0)
    spin = u * (1 - u) * 4  # 1 mid-turn
    opened = _smoothstep(b - 2.0)
    d = _bounce(np.clip(b, 2, None), 0.12 * opened)
    d["yaw"] = 2 * PI * u
    d["l_ankle"] = d["r_ankle"] = 0.35 * spin  # on the toes while spinning
    d["l_knee"] = d.get("l_knee", 0) + 0.15 * spin
    for s in "lr":
        d[f"{s}_shoulder_flex"] = 0.7 * (1 - opened) + 0.2 * opened
        d[f"{s}_shoulder_abd"] = 0.2 * (1 - opened) + 1.6 * a * opened
        d[f"{s}_elbow"] = 1.8 * (1 - opened) + 0.2 * opened
        d[f"{s}_fingers"] = 0.1
    d["head_nod"] = -0.15 * opened
    return d


def squat(b, a):
    """Down into a squat and up again every two beats, arms reaching forward."""
    s = a * 0.5 * (1 - np.cos(PI * b))
    d = {"pelvis_tilt": 0.3 * s, "spine_bend": 0.3 * s, "head_nod": -0.35 * s}
    for side in "lr":
        d[f"{side}_hip_flex"] = 1.55 * s
        d[f"{side}_knee"] = 2.0 * s
        d[f"{side}_hip_abd"] = 0.25 * s
        d[f"{side}_shoulder_flex"] = 1.45 * s
        d[f"{side}_shoulder_abd"] = -0.1 * s
        d[f"{side}_elbow"] = 0.1 * (1 - s)
        d[f"{side}_fingers"] = 0.0
    return d


def jump(b, a):
    """A jump every two beats: crouch, take off with arms swinging up, land soft."""
    c = np.mod(b, 2.0)
    air = np.where((c > 0.7) & (c < 1.5), np.sin(PI * np.clip((c - 0.7) / 0.8, 0, 1)), 0.0)
    # the arms swing up over a wider window than the flight (and down again before landing)
    arms = np.where((c > 0.3) & (c < 1.9), np.sin(PI * np.clip((c - 0.3) / 1.6, 0, 1)) ** 2, 0.0)
    crouch = np.exp(-((c - 0.4) / 0.25) ** 2) + np.exp(-((c - 1.75) / 0.2) ** 2) + np.exp(-((c + 0.25) / 0.2) ** 2)
    d = {"lift": 0.09 * a * air, "pelvis_tilt": 0.25 * crouch, "spine_bend": 0.2 * crouch, "head_nod": 0.1 * crouch}
    for s in "lr":
        d[f"{s}_hip_flex"] = 0.85 * crouch + 0.35 * air
        d[f"{s}_knee"] = 1.2 * crouch + 0.5 * air
        d[f"{s}_ankle"] = 0.7 * air
        d[f"{s}_shoulder_flex"] = -0.3 * crouch + 2.5 * arms
        d[f"{s}_shoulder_abd"] = 0.35 * arms
        d[f"{s}_elbow"] = 0.15
        d[f"{s}_fingers"] = 0.0
    return d


def jumping_jacks(b, a):
    """Hop on every beat, legs out and arms overhead, then back together."""
    o = 0.5 * (1 - np.cos(PI * b))
    hop = np.abs(np.sin(PI * b))
    d = {"lift": 0.025 * a * hop}
    for s in "lr":
        d[f"{s}_hip_abd"] = 0.28 * a * o
        d[f"{s}_knee"] = 0.25 * (1 - hop)
        d[f"{s}_hip_flex"] = 0.1 * (1 - hop)
        d[f"{s}_ankle"] = 0.35 * hop
        d[f"{s}_shoulder_abd"] = 0.15 + 2.65 * a * o
        d[f"{s}_elbow"] = 0.15
        d[f"{s}_fingers"] = 0.0
    return d


def kicks(b, a):
    """Footwork: alternating low kicks forward, arms pumping opposite."""
    s = np.sin(PI * b)
    kl, kr = np.maximum(0, s) ** 2, np.maximum(0, -s) ** 2
    d = _bounce(b, 0.18)
    _add(d, {"l_hip_flex": 0.85 * a * kl, "r_hip_flex": 0.85 * a * kr,
             "l_knee": 0.35 * kl * (1 - kl) * 4, "r_knee": 0.35 * kr * (1 - kr) * 4,
             "l_ankle": 0.5 * kl, "r_ankle": 0.5 * kr})
    for side, own, other in (("l", kl, kr), ("r", kr, kl)):
        d[f"{side}_shoulder_flex"] = 0.2 + 0.6 * other - 0.3 * own
        d[f"{side}_elbow"] = 1.5
        d[f"{side}_shoulder_abd"] = 0.3
        d[f"{side}_fingers"] = 1.1
    d["spine_twist"] = 0.15 * a * s
    return d


def arm_circles(b, a):
    """Arms out to the sides drawing big circles, one every two beats."""
    ph = PI * b
    d = _bounce(b, 0.1)
    for s in "lr":
        d[f"{s}_shoulder_abd"] = 1.2 + 0.45 * a * np.cos(ph)
        d[f"{s}_shoulder_flex"] = 0.55 * a * np.sin(ph)
        d[f"{s}_elbow"] = 0.12
        d[f"{s}_fingers"] = 0.05
    d["head_nod"] = -0.05 * np.sin(ph)
    return d


def clap(b, a):
    """Clap in front of the chest on the beat (high claps above the head every other bar)."""
    c = 0.5 * (1 + np.cos(2 * PI * b)) ** 1.0  # 1 on the beat: hands together
    high = 0.5 * (1 - np.cos(PI * b / 2)) * a  # rises over two beats, comes down over two
    d = _bounce(b, 0.15)
    for s in "lr":
        d[f"{s}_shoulder_flex"] = 1.15 + 1.75 * high
        d[f"{s}_shoulder_abd"] = 0.45 - 0.66 * c  # -0.21 at the clap: the hands just meet
        d[f"{s}_elbow"] = 0.55 * (1 - high)
        d[f"{s}_fingers"] = -0.1
    d["head_nod"] = -0.15 * high
    return d


def disco_point(b, a):
    """Point up to the right, then down across the body; the other hand on the hip."""
    s = _square(PI * b, sharp=1.2)
    d = _bounce(b, 0.15)
    d["r_shoulder_abd"] = 0.85 + 1.45 * a * s
    d["r_shoulder_flex"] = 0.35 * (1 - s)
    d["r_elbow"] = 0.05
    d["r_fingers"] = 0.8
    d["l_shoulder_abd"] = 0.55
    d["l_elbow"] = 1.7
    d["l_shoulder_twist"] = -1.3  # forearm turned in so the hand rests on the hip
    d["pelvis_roll"] = -0.1 * a * s
    d["spine_side"] = 0.1 * a * s
    d["head_turn"] = -0.3 * s
    d["head_nod"] = -0.25 * s
    d["x"] = 0.015 * s
    return d


def hip_sway(b, a):
    """Hips sway side to side, torso and arms flowing with them."""
    s = np.sin(PI * b)
    d = {"pelvis_roll": 0.13 * a * s, "spine_side": -0.17 * a * s, "x": 0.02 * a * s,
         "head_tilt": 0.06 * s, "spine_twist": 0.1 * np.cos(PI * b)}
    d["l_knee"] = 0.25 * (1 - s) / 2 + 0.05
    d["r_knee"] = 0.25 * (1 + s) / 2 + 0.05
    for side, sg in (("l", 1), ("r", -1)):
        d[f"{side}_shoulder_abd"] = 0.55 + 0.3 * sg * np.sin(PI * b + PI / 2)
        d[f"{side}_shoulder_flex"] = 0.3
        d[f"{side}_elbow"] = 0.9
        d[f"{side}_wrist"] = 0.4 * np.sin(PI * b + sg)
    return d


def walk(b, a):
    """Four steps towards the camera and four back (the dancer grows and shrinks in frame)."""
    z = 0.32 * a * 0.5 * (1 - np.cos(PI * b / 4))
    s = np.sin(PI * b)
    d = {"z": z}
    d["l_hip_flex"], d["r_hip_flex"] = 0.38 * s, -0.38 * s
    d["l_knee"] = 0.55 * np.maximum(0, np.sin(PI * b + 0.6)) + 0.05
    d["r_knee"] = 0.55 * np.maximum(0, -np.sin(PI * b + 0.6)) + 0.05
    d["l_shoulder_flex"], d["r_shoulder_flex"] = -0.35 * s, 0.35 * s
    d["l_elbow"] = d["r_elbow"] = 0.35
    d["spine_twist"] = -0.08 * s
    return d


def march(b, a):
    """High knees, alternating every beat, fists pumping."""
    s = np.sin(PI * b)
    ll, lr = np.maximum(0, s) ** 1.5, np.maximum(0, -s) ** 1.5
    d = {"l_hip_flex": 1.35 * a * ll, "l_knee": 1.7 * a * ll + 0.05, "l_ankle": 0.35 * ll,
         "r_hip_flex": 1.35 * a * lr, "r_knee": 1.7 * a * lr + 0.05, "r_ankle": 0.35 * lr}
    d["l_shoulder_flex"], d["r_shoulder_flex"] = 0.9 * lr - 0.3 * ll, 0.9 * ll - 0.3 * lr
    d["l_elbow"] = d["r_elbow"] = 1.6
    d["l_fingers"] = d["r_fingers"] = 1.3
    d["spine_twist"] = 0.1 * s
    return d


def groove(b, a):
    """Bounce and shoulder shimmy with bent arms, head nodding on the beat."""
    d = _bounce(b, 0.35 * a)
    sh = np.sin(2 * PI * b)
    d["spine_twist"] = 0.18 * a * sh
    d["spine_bend"] = 0.08 * (1 + np.cos(2 * PI * b))
    d["head_nod"] = 0.12 * (1 + np.cos(2 * PI * b))
    for side, sg in (("l", 1), ("r", -1)):
        d[f"{side}_shoulder_flex"] = 0.45 + 0.25 * sg * sh
        d[f"{side}_shoulder_abd"] = 0.3
        d[f"{side}_elbow"] = 1.55
        d[f"{side}_fingers"] = 1.0
    return d


@dataclass(frozen=True)
class Move:
    """A move: its function, its period in beats (spans are multiples of it), the lengths it may
    have (beats), whether it can be danced at half time, how far (radians) the dancer turns to a
    diagonal for it (moves in the sagittal plane read badly straight at the camera), and whether
    it repeats (a turn or a jump holds its last pose instead of going on)."""

    name: str
    fn: Callable
    period: float
    lengths: tuple[int, ...]
    halftime: bool = True
    diagonal: float = 0.0
    periodic: bool = True


MOVES: dict[str, Move] = {m.name: m for m in (
    Move("arm_wave", arm_wave, 2, (4, 8)),
    Move("step_touch", step_touch, 4, (8, 16)),
    Move("turn", turn, 4, (4,), halftime=False, periodic=False),
    Move("squat", squat, 2, (4, 8), diagonal=0.6),
    Move("jump", jump, 2, (4,), halftime=False, diagonal=0.3, periodic=False),
    Move("jumping_jacks", jumping_jacks, 2, (4, 8)),
    Move("kicks", kicks, 2, (4, 8), diagonal=0.75),
    Move("arm_circles", arm_circles, 2, (4, 8)),
    Move("clap", clap, 4, (4, 8)),
    Move("disco_point", disco_point, 2, (4, 8)),
    Move("hip_sway", hip_sway, 2, (4, 8)),
    Move("walk", walk, 8, (8,), halftime=False),
    Move("march", march, 2, (4, 8), diagonal=0.75),
    Move("groove", groove, 1, (4, 8)),
)}


def mirror_dofs(d: np.ndarray) -> np.ndarray:
    """Swap left and right in DOFs (..., D): the same move danced to the other side."""
    return d[..., MIRROR_INDEX] * MIRROR_SIGN


def evaluate_move(name: str, b: np.ndarray, amplitude: float = 1.0, mirrored: bool = False) -> np.ndarray:
    """DOFs (n, D) of one move at beat positions `b` (n,), neutral pose included."""
    if name not in MOVES:
        raise DancenowError(f"unknown move {name!r}; known: {', '.join(MOVES)}")
    b = np.asarray(b, dtype=np.float64)
    out = np.broadcast_to(_NEUTRAL_VEC, (b.shape[0], len(DOFS))).copy()
    for k, v in MOVES[name].fn(b, amplitude).items():
        out[:, DOF[k]] = v + (out[:, DOF[k]] if k in _ADDED_TO_STANCE else 0.0)
    return mirror_dofs(out) if mirrored else out


# ----------------------------------------------------------------------------- a dance

@dataclass(frozen=True)
class Segment:
    """One move in a dance: start and end (seconds on the dance clock), the beats it lasts, and
    how it was varied: mirrored (danced to the other side), amplitude (1 = nominal), halftime
    (danced at half speed), swing (timing warp, beats), facing (radians off its base direction)."""

    move: str
    start: float
    end: float
    beats: int
    mirrored: bool
    amplitude: float
    halftime: bool
    swing: float
    facing: float


@dataclass(frozen=True, eq=False)
class Dance:
    """A choreography independent of any body: DOFs (T, D) float32 over frames (see
    skeleton.DOFS for names and units), at `fps`, with its tempo and the moves it chains."""

    dofs: np.ndarray = field(repr=False)
    fps: float
    bpm: float
    segments: tuple[Segment, ...] = field(repr=False)
    seed: int

    def __len__(self) -> int:
        return self.dofs.shape[0]

    @property
    def seconds(self) -> float:
        return len(self) / self.fps

    def dof(self, name: str) -> np.ndarray:
        """(T,) one DOF over time."""
        return self.dofs[:, DOF[name]]

    def move_at(self, frame: int) -> str:
        """The name of the move danced at a frame."""
        t = frame / self.fps
        for s in self.segments:
            if s.start <= t < s.end:
                return s.move
        return self.segments[-1].move


def _wiggle(rng: np.random.Generator, t: np.ndarray, amp: float) -> np.ndarray:
    """Slow smooth noise: a few sinusoids with random periods (2-7 s) and phases."""
    out = np.zeros_like(t)
    for _ in range(3):
        out += np.sin(2 * PI * t / rng.uniform(2, 7) + rng.uniform(0, 2 * PI))
    return amp * out / 3


def generate_dance(seed: int, seconds: float, fps: float = 30.0, moves: tuple[str, ...] | None = None,
                   bpm: float | None = None) -> Dance:
    """A reproducible dance of `seconds` at `fps`: moves from the library (or `moves`, cycled in a
    random order) chained at a tempo of 88-124 bpm (or `bpm`), each varied in amplitude, side,
    length, half-time feel and facing, and cross-faded over one beat."""
    if not (seconds > 0 and fps > 0):
        raise DancenowError(f"invalid dance length {seconds} s at {fps} fps")
    pool = tuple(moves) if moves else tuple(MOVES)
    for m in pool:
        if m not in MOVES:
            raise DancenowError(f"unknown move {m!r}; known: {', '.join(MOVES)}")
    rng = np.random.default_rng(seed)
    bpm = float(bpm) if bpm else float(rng.uniform(88, 124))
    beat_s = 60.0 / bpm
    T = max(1, int(round(seconds * fps)))
    t = np.arange(T) / fps
    fade = beat_s  # cross-fade length (s)

    # 1. choose the sequence of moves: no immediate repeats, everything eventually
    segments: list[Segment] = []
    start, last = 0.0, None
    bag: list[str] = []
    while start < seconds + fade:
        if not bag:
            bag = list(rng.permutation(pool))
        name = bag.pop()
        if name == last and len(pool) > 1:
            bag.insert(0, name)
            name = bag.pop()
        mv = MOVES[name]
        beats = int(rng.choice(mv.lengths))
        half = bool(mv.halftime and rng.random() < 0.25 and (beats * 0.5) % mv.period == 0)
        seg = Segment(name, start, start + beats * beat_s, beats, mirrored=bool(rng.random() < 0.5),
                      amplitude=float(rng.uniform(0.8, 1.12)), halftime=half, swing=float(rng.uniform(-0.05, 0.05)),
                      facing=float(rng.uniform(-0.3, 0.3) + rng.choice([-1.0, 1.0]) * mv.diagonal))
        segments.append(seg)
        start, last = seg.end, name

    # 2. evaluate each move over its span (plus the fades) and blend with a partition of unity
    dofs = np.zeros((T, len(DOFS)))
    yaw_base = 0.0
    for i, seg in enumerate(segments):
        w_in = np.ones(T) if i == 0 else _smoothstep((t - seg.start + fade / 2) / fade)
        w_out = np.ones(T) if i == len(segments) - 1 else 1 - _smoothstep((t - seg.end + fade / 2) / fade)
        w = w_in * w_out
        on = w > 0
        if not on.any():
            continue
        speed = 0.5 if seg.halftime else 1.0
        b = speed * (t[on] - seg.start) / beat_s
        # varied timing: a slight swing that keeps the downbeats in place
        b = b + seg.swing * np.sin(2 * PI * b)
        if not MOVES[seg.move].periodic:  # a turn or a jump holds its end pose beyond its span
            b = np.clip(b, -0.5, speed * seg.beats)
        d = evaluate_move(seg.move, b, seg.amplitude, seg.mirrored)
        d[:, DOF["yaw"]] += yaw_base + seg.facing
        # a full turn leaves the dancer facing the same way, but the angle stays unwrapped so
        # that the next move's blend does not spin back
        yaw_base += evaluate_move(seg.move, np.array([speed * seg.beats]), seg.amplitude, seg.mirrored)[0, DOF["yaw"]]
        dofs[on] += w[on, None] * d
    # 3. a little life: slow head and torso drift
    for name, amp in (("head_turn", 0.12), ("head_nod", 0.06), ("spine_twist", 0.06), ("head_tilt", 0.05)):
        dofs[:, DOF[name]] += _wiggle(rng, t, amp)
    return Dance(dofs.astype(np.float32), float(fps), bpm, tuple(segments), int(seed))
