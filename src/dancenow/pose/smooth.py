"""Temporal clean-up of detected keypoints: gap filling, then per-joint smoothing.

`fill_gaps` linearly interpolates each joint over short runs of missing frames (both ends
present), leaving longer gaps and the ends of the sequence missing.

`smooth_poses` then filters every joint's track with either
- the One Euro filter (Casiez, Roussel, Vogel, CHI 2012): a low-pass filter whose cutoff rises
  with speed, so slow jitter is removed and fast moves are followed. Being causal it still
  lags a little on fast moves; with `zero_phase` (default) it is run forwards and backwards
  and the two averaged, which cancels the lag of a steady move (we filter whole clips offline,
  so we can look ahead). Or
- Savitzky-Golay: a local polynomial fit over a window (in seconds), zero-lag by construction.
("Everybody Dance Now" smoothed OpenPose keypoints with a Gaussian over time at 120 fps.)

Coordinates are divided by the sequence's median body height before filtering, so the One
Euro speed coefficient `beta` does not depend on how large the person is in pixels.
A track is filtered within its runs of present frames only: nothing is smoothed across a gap.
Confidences are left as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dancenow.errors import DancenowError
from dancenow.keypoints import LEFT_HAND, NUM_JOINTS, RIGHT_HAND, PoseSequence, body_height


@dataclass(frozen=True)
class SmoothConfig:
    """How `smooth_poses` filters keypoint tracks.

    method: 'one_euro' or 'savgol'.
    min_cutoff: One Euro cutoff at rest, Hz (lower: smoother when still, more lag).
    beta: One Euro speed coefficient, Hz per (body heights per second): how fast the cutoff
        rises with speed (higher: less lag on fast moves, more jitter left).
    d_cutoff: One Euro cutoff of its speed estimate, Hz.
    zero_phase: One Euro forwards and backwards, averaged (cancels the lag of steady moves).
    window_s: Savitzky-Golay window, seconds (rounded to an odd number of frames).
    polyorder: Savitzky-Golay polynomial order.
    max_gap: interpolate runs of up to this many missing frames (0: no gap filling).
    """

    method: Literal["one_euro", "savgol"] = "savgol"
    min_cutoff: float = 2.0
    beta: float = 10.0
    d_cutoff: float = 1.0
    zero_phase: bool = True
    window_s: float = 0.2
    polyorder: int = 2
    max_gap: int = 5

    def __post_init__(self) -> None:
        if self.method not in ("one_euro", "savgol"):
            raise DancenowError(f"unknown smoothing method {self.method!r}: use 'one_euro' or 'savgol'")
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.beta >= 0):
            raise DancenowError("One Euro min_cutoff and d_cutoff must be > 0 Hz and beta >= 0")
        if self.max_gap < 0:
            raise DancenowError(f"max_gap must be >= 0 frames, got {self.max_gap}")
        if not (self.window_s > 0 and 0 <= self.polyorder < 6):
            raise DancenowError("Savitzky-Golay window_s must be > 0 s and polyorder 0..5")


# ----------------------------------------------------------------------------- gap filling

def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index ranges where the 1-D bool `mask` is True."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def fill_gaps(seq: PoseSequence, max_gap: int) -> PoseSequence:
    """Interpolate each keypoint linearly over gaps of at most `max_gap` missing frames that have
    a present frame on both sides. A filled point gets the smaller confidence of the two ends.
    Longer gaps, and missing frames at the start or end, stay missing."""
    if max_gap <= 0 or len(seq) < 3:
        return seq
    kp = seq.keypoints.copy()  # (T, J, 3)
    present = kp[..., 2] > 0
    for j in np.flatnonzero(present.any(0) & ~present.all(0)):
        for a, b in _runs(~present[:, j]):
            if a == 0 or b == len(kp) or b - a > max_gap:
                continue
            w = (np.arange(a, b) - (a - 1)) / (b - (a - 1))  # (gap,) in (0, 1)
            p0, p1 = kp[a - 1, j], kp[b, j]
            kp[a:b, j, :2] = p0[:2] + w[:, None] * (p1[:2] - p0[:2])
            kp[a:b, j, 2] = min(p0[2], p1[2])
    return seq.replace(keypoints=kp)


# ----------------------------------------------------------------------------- left/right swaps

# Groups whose left/right labels MediaPipe can swap, as BODY_25 (left, right) pairs. The arms
# carry the hands with them (Holistic assigns each hand to the nearer pose wrist).
_SWAP_GROUPS: dict[str, list[tuple[int, int]]] = {
    "arms": [(5, 2), (6, 3), (7, 4)],
    "legs": [(12, 9), (13, 10), (14, 11), (19, 22), (20, 23), (21, 24)],
    "head": [(16, 15), (18, 17)],
}


def _swap_index(group: str) -> np.ndarray:
    idx = np.arange(NUM_JOINTS)
    for a, b in _SWAP_GROUPS[group]:
        idx[a], idx[b] = b, a
    if group == "arms":
        idx[LEFT_HAND] = np.arange(RIGHT_HAND.start, RIGHT_HAND.stop)
        idx[RIGHT_HAND] = np.arange(LEFT_HAND.start, LEFT_HAND.stop)
    return idx


def fix_left_right(seq: PoseSequence, penalty_per_s: float = 0.5) -> PoseSequence:
    """Undo stretches of frames whose left and right labels are swapped (per group: arms with
    hands, legs, eyes and ears), as a detector does when it misjudges which way a person faces.

    For each group a two-state Viterbi pass chooses, frame by frame, the labels as detected or
    swapped, minimizing the total frame-to-frame movement of the group's joints (in body
    heights) plus `penalty_per_s` body heights per second of swapped labels. A true turn is
    gradual and stays as detected; a flip makes every limb jump to the other side and back,
    which swapping the stretch removes. Long stretches (several seconds) are left as detected:
    the detector is more likely right there than our guess.
    """
    t_len = len(seq)
    if t_len < 3:
        return seq
    kp = seq.keypoints.copy()
    heights = body_height(kp)
    h = float(np.nanmedian(heights)) if np.isfinite(heights).any() else 0.5 * seq.height
    penalty = penalty_per_s / seq.fps
    for group, pairs in _SWAP_GROUPS.items():
        idx = np.array(pairs).ravel()  # the group's joints
        swap = _swap_index(group)[idx]
        states = np.stack([kp[:, idx], kp[:, swap]], axis=1)  # (T, 2, n, 3)
        frames = np.flatnonzero((kp[:, idx, 2] > 0).any(1))
        if len(frames) < 3:
            continue
        cost = np.array([0.0, penalty])  # best total cost ending in each state
        back = np.zeros((len(frames), 2), np.int64)
        for k in range(1, len(frames)):
            prev, cur = states[frames[k - 1]], states[frames[k]]  # (2, n, 3) each
            step = np.zeros((2, 2))  # [previous state, current state]
            for i in range(2):
                for j in range(2):
                    ok = (prev[i, :, 2] > 0) & (cur[j, :, 2] > 0)
                    if ok.any():
                        step[i, j] = np.linalg.norm(prev[i, ok, :2] - cur[j, ok, :2], axis=1).mean() / h
            total = cost[:, None] + step  # (prev, cur)
            back[k] = total.argmin(0)
            cost = total.min(0) + np.array([0.0, penalty])
        state = int(cost.argmin())
        for k in range(len(frames) - 1, -1, -1):
            if state == 1:
                t = frames[k]
                kp[t, _swap_index(group)] = kp[t].copy()  # rows a <-> b exchanged
            state = int(back[k, state]) if k > 0 else state
    return seq.replace(keypoints=kp)


# ----------------------------------------------------------------------------- filters

def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro(xy: np.ndarray, valid: np.ndarray, fps: float, min_cutoff: float, beta: float,
             d_cutoff: float) -> np.ndarray:
    """Causal One Euro filter of 2-D point tracks.

    xy: (T, N, 2) positions (any unit; `beta` is per that unit per second); valid: (T, N) bool.
    Each track restarts after a missing frame. The speed used for the cutoff is the 2-D speed
    of the point, so x and y are smoothed alike. Returns (T, N, 2); invalid entries unchanged.
    """
    dt = 1.0 / fps
    out = xy.astype(np.float64).copy()
    a_d = _alpha(d_cutoff, dt)
    prev = out[0].copy()
    prev_v = np.zeros_like(prev)
    had = valid[0].copy()
    for t in range(1, len(out)):
        ok = valid[t] & had  # (N,) continuing tracks
        v = (out[t] - prev) / dt  # (N, 2) raw velocity
        v_hat = a_d * v + (1.0 - a_d) * prev_v
        cutoff = min_cutoff + beta * np.linalg.norm(v_hat, axis=-1)  # (N,)
        a = _alpha(cutoff, dt)[:, None]
        x_hat = a * out[t] + (1.0 - a) * prev
        out[t] = np.where(ok[:, None], x_hat, out[t])
        prev_v = np.where(ok[:, None], v_hat, 0.0)
        prev = np.where(valid[t][:, None], out[t], prev)
        had = valid[t]
    return out


def _savgol_fit(y: np.ndarray, window: int, polyorder: int) -> np.ndarray:
    """Savitzky-Golay smoothing of y (L, ...) along axis 0, L >= window (odd): each point is the
    value at its centre of a least-squares polynomial over the window around it; the first and
    last window // 2 points take the polynomial fitted to the first / last window (like scipy's
    mode="interp"). Written out here because importing scipy.signal takes seconds."""
    m = window // 2
    offsets = np.arange(window, dtype=np.float64) - m
    vander = offsets[:, None] ** np.arange(polyorder + 1)  # (window, p + 1)
    fit = np.linalg.pinv(vander)  # (p + 1, window): window values -> polynomial coefficients
    out = np.empty_like(y)
    windows = np.lib.stride_tricks.sliding_window_view(y, window, axis=0)  # (L - w + 1, ..., w)
    out[m:len(y) - m] = windows @ fit[0]  # the polynomial at the window centre
    head, tail = vander[:m] @ fit, vander[m + 1:] @ fit  # (m, window) each
    out[:m] = np.tensordot(head, y[:window], axes=(1, 0))
    out[len(y) - m:] = np.tensordot(tail, y[len(y) - window:], axes=(1, 0))
    return out


def _savgol(xy: np.ndarray, valid: np.ndarray, window: int, polyorder: int) -> np.ndarray:
    """Savitzky-Golay filter of each track within its runs of valid frames. Tracks sharing the
    same run (the usual case: a whole body present for a stretch) are filtered together."""
    out = xy.astype(np.float64).copy()
    by_run: dict[tuple[int, int], list[int]] = {}
    for n in range(xy.shape[1]):
        for a, b in _runs(valid[:, n]):
            by_run.setdefault((int(a), int(b)), []).append(n)
    for (a, b), cols in by_run.items():
        w = min(window, (b - a) if (b - a) % 2 else (b - a) - 1)
        if w <= polyorder:
            continue  # too short to fit: leave as is
        out[a:b, cols] = _savgol_fit(out[a:b, cols], w, polyorder)
    return out


def smooth_poses(seq: PoseSequence, config: SmoothConfig = SmoothConfig()) -> PoseSequence:
    """Fill short gaps (`config.max_gap` frames), then filter every keypoint's track over time.

    Input and output are in the same pixel coordinates; missing keypoints stay missing, and
    confidences are not changed. See the module docstring for the filters."""
    seq = fill_gaps(seq, config.max_gap)
    if len(seq) < 3:
        return seq
    kp = seq.keypoints.astype(np.float64)
    valid = kp[..., 2] > 0  # (T, J)
    heights = body_height(seq.keypoints)
    scale = float(np.nanmedian(heights)) if np.isfinite(heights).any() else 0.0
    if not scale > 1.0:
        scale = 0.5 * seq.height  # nobody measurable: take half the frame height as the unit
    xy = kp[..., :2] / scale
    if config.method == "one_euro":
        args = (seq.fps, config.min_cutoff, config.beta, config.d_cutoff)
        out = one_euro(xy, valid, *args)
        if config.zero_phase:
            back = one_euro(xy[::-1], valid[::-1], *args)[::-1]
            out = 0.5 * (out + back)
    else:
        window = max(3, int(round(config.window_s * seq.fps)) | 1)
        out = _savgol(xy, valid, window, config.polyorder)
    kp[..., :2] = np.where(valid[..., None], out * scale, kp[..., :2])
    return seq.replace(keypoints=kp.astype(np.float32))
