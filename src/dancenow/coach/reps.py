"""Counting repetitions in a progress signal, one frame at a time (so live and offline counts
are the same code), then finding each repetition's phases in the whole signal.

The progress signal p says how far the person is from the start position (p = 0) toward the
exercise's end position (p = 1: the bottom of a squat, arms overhead in a jumping jack); see
`exercises.Signal`. The counter is a hysteresis on the turning points of p, smoothed over
`smooth_seconds` (a causal low-pass: the live view cannot see the future):

  * a repetition starts when p has risen `delta` above its lowest value since the last one;
  * it is counted when p comes back down: below its peak by at least `delta` and by at least
    `return_fraction` of the way from the peak to where it started.

So a pause anywhere (p stays put) never counts twice, jitter smaller than `delta` never
counts, there is no time limit (a slow last repetition counts like the others), and a
repetition whose peak stays below `full_level` is reported as partial. A movement smaller
than `delta` (a third of the full range by default) is not a repetition at all. A stretch
without poses longer than `max_gap_seconds` abandons a repetition in progress.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dancenow.errors import DancenowError


@dataclass(frozen=True)
class CountConfig:
    """How repetitions are counted (fractions of the exercise's full range, see module docstring).

    delta: the smallest turn of the movement that counts; smaller wiggles are jitter.
    return_fraction: how far back toward the start a repetition must come to be complete.
    full_level: repetitions whose deepest point stays below this are partial.
    smooth_seconds: time constant of the low-pass applied to p before counting.
    max_gap_seconds: missing poses for longer than this abandon a repetition in progress.
    """

    delta: float = 0.35
    return_fraction: float = 0.6
    full_level: float = 0.75
    smooth_seconds: float = 0.1
    max_gap_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.delta < 1:
            raise DancenowError(f"delta must be in (0, 1), got {self.delta}")
        if not 0 < self.return_fraction <= 1:
            raise DancenowError(f"return_fraction must be in (0, 1], got {self.return_fraction}")
        if not 0 < self.full_level <= 1.5:
            raise DancenowError(f"full_level must be in (0, 1.5], got {self.full_level}")
        if self.smooth_seconds < 0 or self.max_gap_seconds <= 0:
            raise DancenowError("smooth_seconds must be >= 0 and max_gap_seconds > 0")


@dataclass(frozen=True)
class Counted:
    """One repetition as the counter saw it: frame indices of its start (the lowest point
    before it), its peak, and the frame where it was counted; `peak` is the smoothed p there."""

    start: int
    peak_frame: int
    counted_at: int
    peak: float

    def full(self, config: CountConfig) -> bool:
        return self.peak >= config.full_level


class RepCounter:
    """Push p one frame at a time (NaN: no pose); `push` returns the repetition counted at
    this frame, if any. `reps` lists all so far; `in_rep` is True during one."""

    def __init__(self, fps: float, config: CountConfig = CountConfig()):
        if not fps > 0:
            raise DancenowError(f"invalid frame rate {fps}")
        self.config, self.fps = config, float(fps)
        tau = config.smooth_seconds * fps  # frames
        self._alpha = 1.0 if tau <= 0 else 1.0 - math.exp(-1.0 / tau)
        self._max_gap = max(1, int(round(config.max_gap_seconds * fps)))
        self.reps: list[Counted] = []
        self.frame = -1
        self.smoothed = math.nan
        self._gap = 0
        self._reset()

    def _reset(self) -> None:
        self.in_rep = False
        self._low, self._low_at = math.inf, -1
        self._peak, self._peak_at = -math.inf, -1

    def push(self, p: float) -> Counted | None:
        self.frame += 1
        if not math.isfinite(p):
            self._gap += 1
            if self._gap > self._max_gap:  # the person left: forget a repetition in progress
                self._reset()
                self.smoothed = math.nan
            return None
        self._gap = 0
        s = p if not math.isfinite(self.smoothed) else self.smoothed + self._alpha * (p - self.smoothed)
        self.smoothed = s
        c = self.config
        if not self.in_rep:
            if s < self._low:
                self._low, self._low_at = s, self.frame
            if s - self._low >= c.delta:
                self.in_rep = True
                self._peak, self._peak_at = s, self.frame
            return None
        if s > self._peak:
            self._peak, self._peak_at = s, self.frame
        back = max(c.delta, c.return_fraction * (self._peak - self._low))
        if s <= self._peak - back:
            rep = Counted(self._low_at, self._peak_at, self.frame, self._peak)
            self.reps.append(rep)
            self._reset()
            self._low, self._low_at = s, self.frame
            return rep
        return None

    @property
    def unfinished(self) -> Counted | None:
        """The repetition in progress (not counted), if any."""
        if not self.in_rep:
            return None
        return Counted(self._low_at, self._peak_at, -1, self._peak)


@dataclass(frozen=True)
class Phases:
    """Frame indices of one repetition in the whole signal: it leaves the start position at
    `start`, reaches the end position (within `hold_band` of its peak) at `end_from`, leaves it
    at `end_to`, is back at `stop`; `peak` is its deepest frame. `low_before`/`low_after`: the
    lowest points between it and its neighbours (the rest position it left and came back to)."""

    start: int
    end_from: int
    peak: int
    end_to: int
    stop: int
    low_before: int
    low_after: int


def fill_gaps(p: np.ndarray, max_gap: int) -> np.ndarray:
    """Linear interpolation over NaN stretches up to `max_gap` frames long (ends untouched)."""
    p = np.asarray(p, np.float64).copy()
    ok = np.isfinite(p)
    if ok.sum() < 2:
        return p
    idx = np.arange(len(p))
    filled = np.interp(idx, idx[ok], p[ok])
    gap_id = np.cumsum(ok)  # frames of one gap share the count of present frames before them
    for g in np.unique(gap_id[~ok]):
        where = np.flatnonzero((~ok) & (gap_id == g))
        inside = where[0] > 0 and where[-1] < len(p) - 1
        if inside and len(where) <= max_gap:
            p[where] = filled[where]
    return p


def find_phases(p: np.ndarray, counted: list[Counted], edge: float = 0.15, hold_band: float = 0.15) -> list[Phases]:
    """The phases of each counted repetition in the (gap-filled) signal p.

    Between two peaks the lowest point separates them. A repetition starts at the last frame
    before its peak still within `edge` (of its height) of the low before it, and stops at the
    first frame after it within `edge` of the low after it; its end position is the frames
    within `hold_band` of its peak height.
    """
    out = []
    n = len(p)
    q = np.where(np.isfinite(p), p, np.nan)
    # the raw peak of each repetition: the smoothed one lags, but both lie between the
    # repetition's start and the frame it was counted at
    peaks = []
    for r in counted:
        seg = q[r.start:r.counted_at + 1] if r.counted_at >= r.start else q[r.start:]
        peaks.append(r.start + int(np.nanargmax(seg)) if np.isfinite(seg).any() else r.peak_frame)
    for k, pk in enumerate(peaks):
        lo_a = peaks[k - 1] if k > 0 else 0
        lo_b = peaks[k + 1] if k + 1 < len(peaks) else n - 1
        a_seg, b_seg = q[lo_a:pk + 1], q[pk:lo_b + 1]
        low_a = lo_a + int(np.nanargmin(a_seg)) if np.isfinite(a_seg).any() else lo_a
        low_b = pk + int(np.nanargmin(b_seg)) if np.isfinite(b_seg).any() else lo_b
        top = q[pk]
        base_a, base_b = q[low_a], q[low_b]
        seg = q[low_a:pk + 1]
        near = np.flatnonzero(seg <= base_a + edge * (top - base_a))
        start = low_a + int(near[-1]) if len(near) else low_a
        seg = q[pk:low_b + 1]
        near = np.flatnonzero(seg <= base_b + edge * (top - base_b))
        stop = pk + int(near[0]) if len(near) else low_b
        band = top - hold_band * (top - min(base_a, base_b))
        inside = np.flatnonzero(q[start:stop + 1] >= band) + start
        end_from, end_to = (int(inside[0]), int(inside[-1])) if len(inside) else (pk, pk)
        out.append(Phases(start, end_from, pk, end_to, stop, low_a, low_b))
    return out
