"""Clips: the model's representation of motion. A `Motion` (readers.py) is resampled to one
frame rate, scale-normalised (lengths in body heights: head to ankle, see `stature`),
body-centred (joints relative to the mid-hip "root") plus root motion; short gaps are
interpolated and marked as not observed (the loss skips them, the model sees a mask bit), long
gaps (> `max_gap_s`) split a recording into separate clips. Nothing missing is fed as 0.

`clip_arrays` then gives what the network reads: bone directions and the dancer's bone lengths
(skeleton.py), root steps and masks. `to_pose_sequence` goes back to our 137-point layout.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from dancenow.choreo.readers import Motion, derive_neck_midhip, load_motions
from dancenow.choreo.skeleton import (MODEL_FLIP, MODEL_JOINTS, bone_lengths, bone_observed, bone_vectors,
                                      dancer_lengths, directions, joints_from_bones, project)
from dancenow.errors import DancenowError
from dancenow.keypoints import NUM_BODY, NUM_JOINTS, Joint, PoseSequence

log = logging.getLogger(__name__)

J = Joint


# ----------------------------------------------------------------------------- Clip

def stature(body: np.ndarray) -> float:
    """A body height for one recording, in its units: the 90th percentile over frames of the
    nose-to-ankle-midpoint distance (1.9 x nose-to-hip-midpoint where the ankles are missing).
    The percentile, not the mean, because dancers crouch and bend but rarely stand taller.
    `body`: (T, 25, D) with NaN for missing."""
    nose = body[:, J.NOSE]
    ankle = 0.5 * (body[:, J.R_ANKLE] + body[:, J.L_ANKLE])
    full = np.linalg.norm(nose - ankle, axis=-1)
    upper = 1.9 * np.linalg.norm(nose - body[:, J.MID_HIP], axis=-1)
    h = np.where(np.isfinite(full), full, upper)
    h = h[np.isfinite(h)]
    if h.size == 0:
        raise DancenowError("cannot measure body height: no frame has the nose and the ankles or hips")
    return float(np.percentile(h, 90))


ANTI_ALIAS = 0.6  # Gaussian low-pass width before downsampling, in output frames


def _low_pass(x: np.ndarray, sigma: float) -> np.ndarray:
    """(T, ...) smoothed along time by a Gaussian of `sigma` frames, NaN-aware (a sample is the
    weighted mean of its finite neighbours; missing samples stay missing)."""
    from scipy.ndimage import gaussian_filter1d

    ok = np.isfinite(x)
    num = gaussian_filter1d(np.where(ok, x, 0.0), sigma, axis=0, mode="nearest")
    den = gaussian_filter1d(ok.astype(np.float64), sigma, axis=0, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, num / den, np.nan)


def _resample(x: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """(T, ...) with NaN gaps, linearly interpolated at dst_fps sample times. A new sample is
    NaN when either source neighbour is (so gaps stay gaps). Downsampling first low-passes
    (`ANTI_ALIAS`): motion capture at 120 fps carries marker jitter that plain decimation folds
    into the 30 fps motion (CMU salsa's hip line changed direction twice as much from frame to
    frame as it does once filtered), which no model can predict."""
    if abs(src_fps - dst_fps) < 1e-6 * dst_fps:
        return x.copy()
    if dst_fps < src_fps:
        x = _low_pass(np.asarray(x, np.float64), ANTI_ALIAS * src_fps / dst_fps)
    T = x.shape[0]
    n = int(np.floor((T - 1) * dst_fps / src_fps)) + 1
    t = np.arange(n) * (src_fps / dst_fps)
    i0 = np.minimum(np.floor(t).astype(int), T - 1)
    i1 = np.minimum(i0 + 1, T - 1)
    w = (t - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return (1 - w) * x[i0] + w * x[i1]  # NaN propagates from either neighbour


def _fill_gaps(x: np.ndarray) -> np.ndarray:
    """(T, ...) -> NaNs linearly interpolated along time (held constant past the ends), per column;
    columns with no value at all stay NaN."""
    flat = x.reshape(x.shape[0], -1).copy()
    t = np.arange(flat.shape[0])
    for c in range(flat.shape[1]):
        ok = np.isfinite(flat[:, c])
        if ok.any() and not ok.all():
            flat[:, c] = np.interp(t, t[ok], flat[ok, c])
    return flat.reshape(x.shape)


@dataclass(frozen=True, eq=False)
class Clip:
    """A stretch of motion in the model's representation (one frame rate, lengths in body heights).

    pose: (T, P, D) float32, MODEL_JOINTS relative to the root (mid-hip), divided by `scale`.
    root: (T, D) float32, root position / scale, relative to the clip's first root position.
    observed: (T, P) bool, pose values that were measured (not gap-filled).
    root_observed: (T,) bool.
    scale: body height in source units (pixels, metres, ...). fps: frames per second.
    Gap-filled values are linear interpolations (never zeros); joints never seen in the clip
    are NaN (the dataset imputes its mean pose and the mask tells the model)."""

    pose: np.ndarray
    root: np.ndarray
    observed: np.ndarray
    root_observed: np.ndarray
    fps: float
    scale: float
    name: str
    style: str
    origin: np.ndarray = field(default_factory=lambda: np.zeros(2))  # first root, source units

    def __len__(self) -> int:
        return self.pose.shape[0]

    @property
    def dims(self) -> int:
        return self.pose.shape[-1]

    def slice(self, start: int, stop: int) -> "Clip":
        return Clip(self.pose[start:stop], self.root[start:stop], self.observed[start:stop],
                    self.root_observed[start:stop], self.fps, self.scale, self.name, self.style, self.origin)

    def mirrored(self) -> "Clip":
        """Left/right swapped and x flipped (a plausible dance of the same style)."""
        flip = np.array(MODEL_FLIP)
        pose = self.pose[:, flip].copy()
        pose[..., 0] *= -1
        root = self.root.copy()
        root[:, 0] *= -1
        return Clip(pose, root, self.observed[:, flip], self.root_observed, self.fps, self.scale,
                    self.name + ":mirror", self.style, self.origin)

    def body25(self) -> np.ndarray:
        """(T, 25, D) absolute positions in body heights (root track included), NaN where the
        layout has no joint; NECK and MID_HIP rebuilt."""
        return pose_to_body25(self.pose, self.root)


def pose_to_body25(pose: np.ndarray, root: np.ndarray | None = None) -> np.ndarray:
    """(T, P, D) body-centred MODEL_JOINTS (+ optional (T, D) root) -> (T, 25, D) BODY_25 with
    NaN for joints outside the model; NECK = shoulder midpoint, MID_HIP = root."""
    T, _, D = pose.shape
    out = np.full((T, NUM_BODY, D), np.nan, dtype=np.float64)
    out[:, list(MODEL_JOINTS)] = pose
    derive_neck_midhip(out)
    if root is not None:
        out += np.asarray(root, np.float64)[:, None, :]
    return out


def clips_from_motion(motion: Motion, fps: float = 30.0, dims: int = 2, max_gap_s: float = 0.25,
                      min_length: int = 2, scale: float | None = None) -> list[Clip]:
    """Normalise one Motion into Clips at `fps` in `dims` (2: front view, 3: needs 3D input).

    Frames without a root (either hip missing) end a clip when the gap is longer than
    `max_gap_s` seconds; shorter gaps and missing joints are linearly interpolated and marked
    unobserved. Clips shorter than `min_length` frames are dropped. `scale`: the body height in
    the motion's units (None: measured with `stature`)."""
    if dims not in (2, 3):
        raise DancenowError(f"dims must be 2 or 3, got {dims}")
    if dims == 3 and motion.dims < 3:
        raise DancenowError(f"{motion.name} is 2D: it cannot be used in 3D (use dims=2)")
    joints = motion.joints[..., :dims]
    scale = stature(joints) if scale is None else float(scale)
    if not scale > 0:
        raise DancenowError(f"{motion.name}: body height is zero")
    joints = _resample(joints, motion.fps, fps)
    root = joints[:, J.MID_HIP]
    root_ok = np.isfinite(root).all(-1)
    # split at long root gaps
    max_gap = max(0, int(round(max_gap_s * fps)))
    segments, start, gap = [], None, 0
    for t, ok in enumerate(root_ok):
        if ok:
            if start is None:
                start = t
            gap = 0
            last_ok = t
        elif start is not None:
            gap += 1
            if gap > max_gap:
                segments.append((start, last_ok + 1))
                start, gap = None, 0
    if start is not None:
        segments.append((start, last_ok + 1))
    clips = []
    for a, b in segments:
        if b - a < min_length:
            continue
        seg = joints[a:b]
        r = _fill_gaps(seg[:, J.MID_HIP])
        rel = seg[:, list(MODEL_JOINTS)] - seg[:, [J.MID_HIP]]
        observed = np.isfinite(rel).all(-1)
        rel = _fill_gaps(rel)
        origin = r[0].copy()
        name = motion.name if len(segments) == 1 else f"{motion.name}@{a}"
        clips.append(Clip(
            (rel / scale).astype(np.float32), ((r - origin) / scale).astype(np.float32), observed,
            root_ok[a:b].copy(), fps, scale, name, motion.style, origin,
        ))
    if not clips:
        log.warning("%s: no usable stretch of motion (hips missing throughout?)", motion.name)
    return clips


def load_clips(path: str | os.PathLike, style: str, fps: float = 30.0, dims: int = 2,
               pose_fps: float | None = None, pose_size: tuple[int, int] | None = None,
               front: str = "world", progress: bool = False) -> list[Clip]:
    """`load_motions` + `clips_from_motion` for one file (2D projects 3D sources; a video's
    poses are detected at `fps`)."""
    motions = load_motions(path, style, pose_fps, pose_size, front, detect_fps=fps, progress=progress)
    return [c for m in motions for c in clips_from_motion(m, fps, dims)]


# ----------------------------------------------------------------------------- back to PoseSequence

def to_pose_sequence(pose: np.ndarray, root: np.ndarray | None, fps: float,
                     size: tuple[int, int] = (512, 512), height_frac: float = 0.6,
                     ground_frac: float = 0.93, recentre_s: float | None = 4.0) -> PoseSequence:
    """Place body-centred poses (T, P, 2) in body heights (+ root track (T, 2)) in a
    `size` frame: the body is `height_frac` of the frame high, the first frame's lowest foot
    point on the line `ground_frac` down, centred. The root's slow drift (a moving average over
    `recentre_s` seconds, None: off) is removed so a travelling dancer stays in the frame;
    steps, turns and jumps stay. Joints outside the frame are marked missing."""
    pose = np.asarray(pose, np.float64)[..., :2]
    T = pose.shape[0]
    w, h = size
    px = height_frac * h
    r = np.zeros((T, 2)) if root is None else np.asarray(root, np.float64)[:, :2].copy()
    if recentre_s and T > 1:
        k = max(1, int(round(recentre_s * fps)))
        pad = np.pad(r, ((k // 2, k - 1 - k // 2), (0, 0)), mode="edge")
        kern = np.ones(k) / k
        drift = np.stack([np.convolve(pad[:, d], kern, mode="valid") for d in range(2)], -1)
        r = r - drift + drift[:1]
    body = pose_to_body25(pose, r - r[:1])
    feet = body[0, [J.R_ANKLE, J.L_ANKLE, J.R_BIG_TOE, J.L_BIG_TOE], 1]
    lowest = np.nanmax(feet) if np.isfinite(feet).any() else 0.5
    xy = body * px
    xy[..., 0] += 0.5 * w
    xy[..., 1] += ground_frac * h - lowest * px
    kp = np.zeros((T, NUM_JOINTS, 3), np.float32)
    ok = np.isfinite(xy).all(-1) & (xy[..., 0] >= 0) & (xy[..., 0] <= w - 1) & (xy[..., 1] >= 0) & (xy[..., 1] <= h - 1)
    kp[:, :NUM_BODY, :2] = np.where(ok[..., None], xy, 0.0)
    kp[:, :NUM_BODY, 2] = ok
    return PoseSequence(kp, fps, w, h)


# ----------------------------------------------------------------------------- model inputs

@dataclass(frozen=True, eq=False)
class ClipArrays:
    """A clip as the model reads it (float32, lengths in body heights).

    u: (T, B, D) bone directions (skeleton.py: unit vectors in 3D, the unit disk in 2D);
        bones the clip never shows get `defaults["direction"]`.
    lengths: (B,) the dancer's bone lengths (`skeleton.dancer_lengths`).
    root_step: (T, D) root displacement from the previous frame (0 at t = 0).
    observed: (T, B + 1) 1 where measured: the B bones (both ends seen), then the root step.
    pose: (T, P, D) the clip's body-centred joints (the truth forecasts are scored against).
    """

    u: np.ndarray
    lengths: np.ndarray
    root_step: np.ndarray
    observed: np.ndarray
    pose: np.ndarray
    style: str
    name: str

    def __len__(self) -> int:
        return self.u.shape[0]

    def slice(self, start: int, stop: int) -> "ClipArrays":
        return ClipArrays(self.u[start:stop], self.lengths, self.root_step[start:stop], self.observed[start:stop],
                          self.pose[start:stop], self.style, self.name)


def clip_arrays(clip: Clip, defaults: dict | None = None) -> ClipArrays:
    """`Clip` -> `ClipArrays`. `defaults` ({"direction": (B, D), "lengths": (B,)}, the training
    data's, saved in every model) fill bones the clip never shows."""
    pose = clip.pose.astype(np.float64)
    vec = bone_vectors(pose)  # (T, B, D)
    bone_ok = bone_observed(clip.observed)
    lengths = dancer_lengths(pose, clip.observed)
    never = ~np.isfinite(lengths) | (lengths < 1e-4)
    if never.any():
        if defaults is None:
            raise DancenowError(f"{clip.name}: some bones are never observed and no defaults were given")
        lengths = np.where(never, np.asarray(defaults["lengths"], np.float64), lengths)
    u = directions(vec, lengths)
    missing = ~np.isfinite(u).all(-1)  # (T, B): joints never seen (gap-filled ones are finite)
    if missing.any():
        if defaults is None:
            raise DancenowError(f"{clip.name}: some bones are never observed and no defaults were given")
        u[missing] = np.broadcast_to(np.asarray(defaults["direction"], np.float64), u.shape)[missing]
    step = np.zeros_like(clip.root)
    step[1:] = clip.root[1:] - clip.root[:-1]
    step_ok = np.zeros(len(clip), bool)
    step_ok[1:] = clip.root_observed[1:] & clip.root_observed[:-1]
    observed = np.concatenate([bone_ok, step_ok[:, None]], 1).astype(np.float32)
    return ClipArrays(u.astype(np.float32), lengths.astype(np.float32), step.astype(np.float32), observed,
                      clip.pose.astype(np.float32), clip.style, clip.name)


def window_arrays(pose: np.ndarray, root_step: np.ndarray, observed: np.ndarray, defaults: dict,
                  style: str = "any", name: str = "window") -> ClipArrays:
    """Body-centred poses (T, P, D) seen so far (a forecast's context, a live stream, a seed),
    their root steps (T, D) and masks (T, P + 1: joints, root step) as model input, with the
    dancer's lengths taken from what has been seen: in 3D each bone's length in the last frame
    that shows it (so the forecast starts exactly at the last observed pose), in 2D the longest
    it has looked, and never shorter than the training data's typical length (`defaults`)."""
    pose = np.asarray(pose, np.float64)
    D = pose.shape[-1]
    vec = bone_vectors(pose)
    lens = np.linalg.norm(vec, axis=-1)  # (T, B)
    ok = bone_observed(observed[:, :-1] > 0) & np.isfinite(lens)
    typical = np.asarray(defaults["lengths"], np.float64)
    if D == 3:
        last = np.where(ok.any(0), lens[np.maximum(0, len(lens) - 1 - np.argmax(ok[::-1], 0)), np.arange(lens.shape[1])],
                        typical)
        lengths = np.where(last > 1e-4, last, typical)
    else:
        seen = np.where(ok, lens, 0.0).max(0)
        lengths = np.maximum(seen, typical)
    u = directions(vec, lengths)
    bad = ~np.isfinite(u).all(-1)
    if bad.any():
        u[bad] = np.broadcast_to(np.asarray(defaults["direction"], np.float64), u.shape)[bad]
    obs = np.concatenate([ok, observed[:, -1:] > 0], 1).astype(np.float32)
    return ClipArrays(u.astype(np.float32), lengths.astype(np.float32), np.asarray(root_step, np.float32), obs,
                      pose.astype(np.float32), style, name)


# How far a forecast carries the dancer's last change of bone lengths on (`forecast_lengths`):
# the candidate fading factors, and how many frames ahead each is backtested on the context.
LENGTH_CARRY = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8)
LENGTH_BACKTEST = 10


def forecast_lengths(a: ClipArrays, frames: int) -> np.ndarray:
    """(frames, B) the dancer's bone lengths for each frame of a forecast after context `a`.
    In 3D: the last lengths (`window_arrays`) moved on by their last change, in full on the
    next frame (as constant velocity moves a joint) and then fading by a factor w a frame (1 + w
    + ... + w^(k-1) of it k frames ahead, at most 1 / (1 - w) = 5x in all, then held). w is the
    LENGTH_CARRY candidate whose predictions of the context's own lengths, 1 to LENGTH_BACKTEST
    frames ahead of each of its frames, were nearest, unless holding the last lengths did better
    (lengths that only jitter). Motion-capture bones are rigid (no change: nothing moves). Skin
    markers drift smoothly (the Motion-MDRNN improvisers change 0.0006 body heights a frame):
    the true next directions laid on the last lengths are 0.0011 from the truth, on lengths
    carried on 0.0003. Carried on, fading from the first frame (w + ... + w^k), the left-out
    improvisers' first forecast frame went from 0.0013 to 0.00055 (constant velocity 0.00045),
    0.5 s ahead from 29.2 to 32.0% below standing still; the full change on the next frame then
    took them to 0.00049 and 32.5% (left-out folk 0.0089 -> 0.0087, level 0.5 s and 1 s ahead).
    The network never sets a length: a forecast's body is as exact as its
    context. In 2D (lengths are the longest seen; foreshortening is in the directions) they are
    held."""
    L = np.broadcast_to(a.lengths.astype(np.float64), (frames, a.lengths.shape[0]))
    pose = np.asarray(a.pose, np.float64)
    if pose.shape[-1] != 3 or len(pose) < 3:
        return L.astype(np.float32)
    lens = bone_lengths(pose)  # (T, B)
    ok = (a.observed[:, :-1] > 0) & np.isfinite(lens)  # the bone masks
    step = np.diff(lens, axis=0)
    step = np.where(ok[1:] & ok[:-1], step, 0.0)  # (T-1, B): each frame's change, 0 where unseen
    if not step[-1].any():
        return L.astype(np.float32)
    grid = np.asarray(LENGTH_CARRY)
    T = len(lens)
    K = min(LENGTH_BACKTEST, T - 2)

    def carries(n: int) -> np.ndarray:  # (G + 1, n): 0 (held), then 1 + w + ... + w^(k-1) per w
        return np.concatenate([np.zeros((1, n)), np.cumsum(grid[:, None] ** np.arange(n)[None], 1)])

    carried = carries(K)
    errs = np.zeros(len(carried))
    for k in range(1, K + 1):
        t = np.arange(1, T - k)  # origins with a change before them and a frame k ahead
        miss = lens[t] + carried[:, k - 1, None, None] * step[t - 1] - lens[t + k]  # (G, n, B)
        errs += np.abs(np.where(ok[t] & ok[t + k], miss, 0.0)).sum((1, 2))
    carry = carries(frames)[np.argmin(errs)]
    return np.maximum(L + carry[:, None] * step[-1][None], 1e-4).astype(np.float32)


def forecast_turn(a: ClipArrays) -> np.ndarray:
    """(B, D) how far constant velocity in bone vectors (each bone's length and direction carried
    on together, as constant velocity in joints carries them) turns each bone's next direction
    from where constant velocity in directions alone puts it: where a bone's length changes as
    it turns, 2 b_t - b_(t-1) points elsewhere than 2 u_t - u_(t-1). 0 for rigid bones, for
    bones not seen in the last two frames, and in 2D (`forecast_lengths` holds lengths there)."""
    D = a.u.shape[-1]
    pose = np.asarray(a.pose, np.float64)
    if D != 3 or len(pose) < 2:
        return np.zeros(a.u.shape[1:], np.float32)
    b = bone_vectors(pose[-2:])  # (2, B, D)
    u = a.u[-2:].astype(np.float64)
    turn = project(2 * b[1] - b[0]) - project(2 * u[1] - u[0])
    ok = (a.observed[-2:, :-1] > 0).all(0) & np.isfinite(turn).all(-1)
    return np.where(ok[:, None], turn, 0.0).astype(np.float32)


def forecast_pose(a: ClipArrays, u: np.ndarray, damping: float, lengths: np.ndarray | None = None) -> np.ndarray:
    """(T, P, D) body-centred joints of forecast directions u (T, B, D) after context `a`: laid
    on `forecast_lengths` (or `lengths` (T, B), where the caller has them already), the first
    frame turned by `forecast_turn` and the turn fading by `damping` a frame after it (as the
    model's own continuation fades), so a forecast's next frame moves each bone as constant
    velocity in joints would where the model follows the dancer's velocity. The network's directions ignore how a bone's length change couples to its
    turn; on skin-marker skeletons, whose markers move as points, that was the last gap of the
    first frame to constant velocity (left-out Motion-MDRNN improvisers, seed 0: 0.000488 ->
    0.000455 body heights, constant velocity 0.000452; seed 1 0.000457; rigid motion-capture
    bones have no turn)."""
    turn = forecast_turn(a)
    if turn.any():
        fade = damping ** np.arange(len(u))
        u = project(u.astype(np.float64) + fade[:, None, None] * turn[None])
    L = forecast_lengths(a, len(u)) if lengths is None else lengths
    return joints_from_bones(u * L[..., None]).astype(np.float32)


def clip_window(clip: Clip, start: int, stop: int, defaults: dict) -> ClipArrays:
    """`window_arrays` of frames [start, stop) of a clip (the first root step is unknown)."""
    c = clip.slice(start, stop)
    step = np.zeros_like(c.root)
    step[1:] = c.root[1:] - c.root[:-1]
    step_ok = np.zeros(len(c), bool)
    step_ok[1:] = c.root_observed[1:] & c.root_observed[:-1]
    observed = np.concatenate([c.observed, step_ok[:, None]], 1)
    return window_arrays(c.pose, step, observed, defaults, c.style, c.name)
