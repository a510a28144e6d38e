"""Live coaching: the person with their skeleton, and either the repetition counter with the
last repetition's faults (exercise) or the reference dancer as a ghost on their body (dance),
frame by frame from a camera or a video standing in for one (`dancenow.stream`).

Each frame: detect the body (MediaPipe's body-only model, tracked), measure it with trailing
windows (`measures.LiveMeasures`), push the progress into the same `reps.RepCounter` the
offline analysis uses, and when a repetition is counted judge it (`exercise.judge`) on the
frames kept since the previous one. Cues (a beep, or the count and the fault spoken) are off
by default. At the end the whole session can be analysed offline (the same report as
`coach exercise`) and recorded in the history database.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from dancenow.coach.exercise import CheckResult, judge
from dancenow.coach.exercises import Exercise, Signal
from dancenow.coach.measures import MEASURES, LiveMeasures, Measures, majority_view
from dancenow.coach.page import label
from dancenow.coach.reps import Counted, RepCounter, find_phases
from dancenow.errors import DancenowError
from dancenow.keypoints import NUM_BODY, NUM_JOINTS, PoseSequence

log = logging.getLogger(__name__)

Cues = Literal["off", "sound", "speech"]
SKELETON_COLOR = (255, 152, 0)
GHOST_COLOR = (66, 165, 245)
FAULT_COLOR = (244, 67, 54)
OK_COLOR = (102, 187, 106)


@dataclass(frozen=True)
class LiveConfig:
    """every: detect the pose on every n-th frame only (the last pose stays on screen between:
    a slow machine keeps up with the camera). keep_seconds: how much recent history a
    repetition is judged on. show_seconds: how long the last repetition's result stays on
    screen. cues: "off", "sound" (a beep per repetition, two for a fault) or "speech" (the
    count and the fault spoken, where a speech program is installed). max_frames: stop after
    that many frames (None: until the input ends or q is pressed)."""

    every: int = 1
    keep_seconds: float = 20.0
    show_seconds: float = 2.5
    cues: Cues = "off"
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if self.every < 1:
            raise DancenowError(f"every must be >= 1, got {self.every}")
        if self.cues not in ("off", "sound", "speech"):
            raise DancenowError(f"cues must be off, sound or speech, got {self.cues!r}")


@dataclass
class LiveStats:
    """frames: shown; seconds: wall time; rate: frames shown per second (what the machine kept
    up with); detections: frames the pose was detected on; full, partial: repetitions counted
    live; poses: every frame's detected body keypoints (for the offline analysis)."""

    frames: int = 0
    seconds: float = 0.0
    detections: int = 0
    full: int = 0
    partial: int = 0
    poses: PoseSequence | None = field(default=None, repr=False)

    @property
    def rate(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


# ----------------------------------------------------------------------------- cues

class CuePlayer:
    """Sound or speech cues without waiting for them (a cue still playing is not interrupted:
    the next one is dropped). Speech uses espeak-ng, espeak, spd-say or say; sound a short beep
    played by paplay, aplay or afplay, else the terminal bell."""

    def __init__(self, kind: Cues):
        self.kind = kind
        self._proc: subprocess.Popen | None = None
        self._player: list[str] | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        if kind == "speech":
            prog = next((p for p in ("espeak-ng", "espeak", "spd-say", "say") if shutil.which(p)), None)
            if prog is None:
                log.warning("no speech program (espeak-ng, espeak, spd-say, say) found: cues are beeps instead")
                self.kind = "sound"
            else:
                self._player = [prog]
        if self.kind == "sound":
            prog = next((p for p in ("paplay", "aplay", "afplay") if shutil.which(p)), None)
            if prog is not None:
                self._tmp = tempfile.TemporaryDirectory(prefix="dancenow_cue")
                self._beep = os.path.join(self._tmp.name, "beep.wav")
                _write_beep(self._beep)
                self._player = [prog] + (["-q"] if prog == "aplay" else [])

    def __call__(self, text: str, fault: bool = False) -> None:
        if self.kind == "off" or (self._proc is not None and self._proc.poll() is None):
            return
        if self.kind == "speech":
            cmd = self._player + [text]
        elif self._player is not None:
            cmd = self._player + [self._beep]
        else:
            sys.stderr.write("\a\a" if fault else "\a")  # the terminal bell: the only sound left
            sys.stderr.flush()
            return
        try:
            self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError as e:
            log.warning("cue failed (%s): cues off", e)
            self.kind = "off"

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _write_beep(path: str, seconds: float = 0.12, hz: float = 880.0, rate: int = 22050) -> None:
    import wave

    t = np.arange(int(seconds * rate)) / rate
    tone = (0.4 * 32767 * np.sin(2 * np.pi * hz * t) * np.minimum(1, np.minimum(t, seconds - t) * 60)).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(tone.tobytes())


# ----------------------------------------------------------------------------- the exercise coach

@dataclass(frozen=True)
class LiveRep:
    """A repetition counted live: its number, status, score-relevant checks and when."""

    number: int
    status: str
    checks: tuple[CheckResult, ...]
    frame: int
    view: str

    @property
    def faults(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status == "fault")


class ExerciseCoach:
    """Counts and judges repetitions one frame at a time (`push`)."""

    def __init__(self, exercise: Exercise, fps: float, keep_seconds: float = 20.0):
        self.exercise, self.fps = exercise, float(fps)
        self.measures = LiveMeasures(fps)
        self.counter = RepCounter(fps, exercise.count)
        self.keep = max(10, int(round(keep_seconds * fps)))
        self._values: dict[str, collections.deque] = {k: collections.deque(maxlen=self.keep) for k in MEASURES}
        self._view: collections.deque = collections.deque(maxlen=self.keep)
        self._p: collections.deque = collections.deque(maxlen=self.keep)
        self._seen = np.zeros(len(exercise.signals))
        self.signal: Signal = exercise.signals[0]
        self.frames = 0
        self.reps: list[LiveRep] = []
        self.progress = math.nan

    def _choose_signal(self, m: Measures) -> None:
        """After the first second, the first signal seen in most frames so far (a camera that
        does not show the ankles counts squats on the knees)."""
        for k, s in enumerate(self.exercise.signals):
            self._seen[k] += float(np.isfinite(s.progress(m))[0])
        if self.frames < self.fps:
            return
        cover = self._seen / self.frames
        ok = [k for k in range(len(cover)) if cover[k] >= 0.6]
        pick = self.exercise.signals[ok[0] if ok else int(np.argmax(cover))]
        if pick is not self.signal:
            log.info("counting on %s (%s is not visible enough)", pick.name, self.signal.name)
            self.signal = pick
            self.counter = RepCounter(self.fps, self.exercise.count)  # a new scale: start over

    def push(self, keypoints: np.ndarray | None) -> LiveRep | None:
        """One frame's body keypoints (None or all-missing: nobody); the repetition counted now."""
        kp = np.zeros((NUM_BODY, 3)) if keypoints is None else np.asarray(keypoints, np.float64)[:NUM_BODY]
        m = self.measures.push(kp)
        self.frames += 1
        self._choose_signal(m)
        p = float(self.signal.progress(m)[0])
        self.progress = p
        for k in MEASURES:
            self._values[k].append(float(m[k][0]))
        self._view.append(m.view[0])
        self._p.append(p)
        rep = self.counter.push(p)
        if rep is None:
            return None
        return self._judge(rep)

    def _judge(self, rep: Counted) -> LiveRep:
        n = len(self._p)
        offset = self.frames - n  # frame index of the oldest kept frame
        local = Counted(max(0, rep.start - offset), max(0, rep.peak_frame - offset), rep.counted_at - offset, rep.peak)
        p = np.array(self._p)
        ph = find_phases(p, [local])[0]
        m = Measures({k: np.array(v) for k, v in self._values.items()}, np.array(self._view, dtype=object), self.fps)
        view = majority_view(m.view[ph.start:ph.stop + 1])
        checks = tuple(judge(c, m, ph, view) for c in self.exercise.checks)
        status = "full" if rep.full(self.exercise.count) else "partial"
        out = LiveRep(len(self.reps) + 1, status, checks, self.frames - 1, view)
        self.reps.append(out)
        return out

    @property
    def full(self) -> int:
        return sum(r.status == "full" for r in self.reps)

    @property
    def partial(self) -> int:
        return sum(r.status == "partial" for r in self.reps)


# ----------------------------------------------------------------------------- drawing

def _draw_skeleton(img: np.ndarray, kp: np.ndarray, color, thickness: int) -> None:
    from dancenow.coach.report import body_points, draw_tree

    draw_tree(img, body_points(kp, 0.2), color, thickness, True)


def draw_exercise_hud(img: np.ndarray, coach: ExerciseCoach, last: LiveRep | None, fresh: bool, rate: float) -> None:
    """The counter, a progress bar and the last repetition's faults, drawn in place."""
    h, w = img.shape[:2]
    s = max(0.5, h / 720)
    panel = img[: int(110 * s), : int(min(w, 520 * s))]
    panel[:] = (panel * 0.3).astype(np.uint8)  # a dark panel: readable on a white wall too
    label(img, f"{coach.exercise.name}: {coach.full} reps" + (f" +{coach.partial} partial" if coach.partial else ""),
          (int(10 * s), int(36 * s)), (255, 255, 255), 1.0 * s)
    p = coach.progress
    bar_w = int(200 * s)
    x0, y0 = int(10 * s), int(50 * s)
    cv2.rectangle(img, (x0, y0), (x0 + bar_w, y0 + int(12 * s)), (200, 200, 200), 1)
    if math.isfinite(p):
        cv2.rectangle(img, (x0, y0), (x0 + int(bar_w * min(1.0, max(0.0, p))), y0 + int(12 * s)),
                      OK_COLOR if p >= coach.exercise.count.full_level else (255, 255, 255), -1)
    label(img, f"{rate:4.1f} fps", (x0 + bar_w + int(12 * s), y0 + int(11 * s)), (220, 220, 220), 0.45 * s)
    if last is not None and fresh:
        faults = last.faults
        text = f"rep {last.number}: " + ("; ".join(c.title for c in faults) if faults else "good")
        if last.status == "partial":
            text += " (partial)"
        label(img, text, (x0, int(95 * s)), FAULT_COLOR if faults or last.status == "partial" else OK_COLOR, 0.7 * s)


# ----------------------------------------------------------------------------- the loop

def run_live(source=None, camera: int | None = None, exercise: Exercise | None = None,
             reference: PoseSequence | None = None, record=None, show: bool | None = None,
             config: LiveConfig = LiveConfig()) -> LiveStats:
    """Coach live until the input ends, `config.max_frames` or q in the window. Exactly one
    of `exercise` (count and judge repetitions) and `reference` (a dance, shown as a ghost on
    the person's body, its current pose score on screen). show: a window (None: when there is a
    display); record: save what is shown to this .mp4. Without a display, `record` is needed."""
    from dancenow.pose import PoseConfig
    from dancenow.pose.track import PersonTracker
    from dancenow.stream import LiveOutput, open_input, resolve_show

    if (exercise is None) == (reference is None):
        raise DancenowError("live coaching needs an exercise or a dance reference (one of the two)")
    show = resolve_show(show, record)
    inp = open_input(source, camera)
    fps = inp.fps
    tracker = PersonTracker(PoseConfig(face=False, hands=False), fps / config.every)
    coach = ExerciseCoach(exercise, fps, config.keep_seconds) if exercise is not None else None
    dance = _DanceGhost(reference, fps) if reference is not None else None
    cues = CuePlayer(config.cues)
    stats = LiveStats()
    poses: list[np.ndarray] = []
    kp = np.zeros((NUM_JOINTS, 3), np.float32)
    last: LiveRep | None = None
    show_frames = int(round(config.show_seconds * fps))
    t0 = time.perf_counter()
    try:
        with LiveOutput(fps, show=show, record=record, title="dancenow coach (q quits)") as out:
            for i, frame in enumerate(inp.frames):
                if config.max_frames is not None and i >= config.max_frames:
                    break
                if i % config.every == 0:
                    kp = tracker.step(frame)
                    stats.detections += 1
                poses.append(kp[:NUM_BODY].copy())
                img = np.ascontiguousarray(frame).copy()
                thick = max(2, int(round(img.shape[0] / 180)))
                rate = (i + 1) / max(time.perf_counter() - t0, 1e-9)
                if coach is not None:
                    rep = coach.push(kp if kp[:NUM_BODY, 2].any() else None)
                    if rep is not None:
                        last = rep
                        if rep.faults:
                            cues(f"{rep.number}. {rep.faults[0].title}", fault=True)
                        else:
                            cues(str(rep.number))
                    _draw_skeleton(img, kp, SKELETON_COLOR, thick)
                    fresh = last is not None and coach.frames - 1 - last.frame <= show_frames
                    draw_exercise_hud(img, coach, last, fresh, rate)
                else:
                    dance.draw(img, kp, i, thick, rate)
                out.write(img)
                stats.frames += 1
                if out.closed:
                    break
    finally:
        tracker.close()
        cues.close()
    stats.seconds = time.perf_counter() - t0
    if coach is not None:
        stats.full, stats.partial = coach.full, coach.partial
    if poses:
        full = np.zeros((len(poses), NUM_JOINTS, 3), np.float32)
        full[:, :NUM_BODY] = np.stack(poses)
        stats.poses = PoseSequence(full, fps, inp.size[0], inp.size[1])
    log.info("live: %d frames in %.1f s (%.1f frames/s)", stats.frames, stats.seconds, stats.rate)
    return stats


class _DanceGhost:
    """The reference dance played from the start of the stream (looping), drawn as a ghost
    rebuilt on the person's body, with the current pose's score (the dance coach's joint
    scores, 100 within 10 degrees and 0 at 60, combined as 100 minus the root-mean-square of
    the points lost) and the joints more than 30 degrees off circled."""

    def __init__(self, reference: PoseSequence, fps: float):
        from dancenow.coach.features import pose_features

        self.ref, self.fps = reference, fps
        self.ref_angles = pose_features(reference).angles

    def draw(self, img: np.ndarray, kp: np.ndarray, i: int, thick: int, rate: float) -> float:
        """Draw the ghost and the score for stream frame i; returns the score (NaN: nobody)."""
        from dancenow.coach.features import ANGLES, pose_features
        from dancenow.coach.report import body_points, draw_tree, retarget

        j = int(round(i / self.fps * self.ref.fps)) % len(self.ref)
        own = body_points(kp, 0.2)
        score = math.nan
        if own[:, 2].any():
            other = body_points(self.ref.keypoints[j], 0.2)  # only its directions are used
            draw_tree(img, retarget(own, other), GHOST_COLOR, max(2, thick // 2 + 1), True)
            draw_tree(img, own, SKELETON_COLOR, thick, True)
            try:
                mine = pose_features(PoseSequence(kp[None], self.fps, img.shape[1], img.shape[0])).angles[0]
            except DancenowError:
                mine = np.full(len(ANGLES), np.nan)
            err = np.abs((self.ref_angles[j] - mine + 180) % 360 - 180)
            ok = np.isfinite(err)
            if ok.any():  # as the dance coach combines joints: 100 minus the RMS of the points lost
                lost = 100 - 100 * np.clip((60 - err[ok]) / 50, 0, 1)
                score = float(100 - np.sqrt(np.mean(lost ** 2)))
            for k, d in enumerate(ANGLES):
                if ok[k] and err[k] > 30 and own[d.vertex, 2] > 0:
                    c = tuple(int(round(v)) for v in own[d.vertex, :2])
                    cv2.circle(img, c, 4 * thick, FAULT_COLOR, max(2, thick // 2), cv2.LINE_AA)
        h = img.shape[0]
        sc = max(0.5, h / 720)
        label(img, f"pose score {score:3.0f}" if math.isfinite(score) else "pose score -",
              (int(10 * sc), int(36 * sc)), (255, 255, 255), 1.0 * sc)
        label(img, f"reference {j / self.ref.fps:5.1f} s   {rate:4.1f} fps", (int(10 * sc), int(66 * sc)),
              (220, 220, 220), 0.55 * sc)
        return score
