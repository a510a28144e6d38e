"""Train the choreography model: `train(sources, out_dir, cfg) -> Path` (the last checkpoint).

Teacher-forced maximum likelihood with truncated backpropagation through time: each of the
`batch_size` rows streams through a randomly chosen stretch of a training clip in chunks of
`bptt` frames, carrying the LSTM state from chunk to chunk (detached) for `episode` chunks, then
starts a fresh stretch from a zero state. Streaming teaches long-range rhythm; the frequent fresh
starts teach the model to pick up a dance from a second of context, which is how it is used.
Beside the likelihood, a free-running loss (`rollout_loss`) trains the deterministic forecast.

With a forecaster (`forecaster_steps`, the default preset), the finished dancer is calibrated
and saved, then a copy of it (`model.forecaster`) goes on training on a mix that favours
forecasting (`start_forecaster`), in the same run and checkpoints; the dancer is not touched.

Checkpoints (checkpoint.py) every `checkpoint_every` steps, at the end, and when Ctrl-C stops
the run. `resume=True` continues from the newest intact checkpoint exactly: same weights,
optimiser, RNG states, stream positions and carried states, so an interrupted run ends where an
uninterrupted one would (with the same number of CPU threads: float sums depend on it).
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from dancenow.choreo.checkpoint import (CorruptCheckpoint, checkpoint_path, list_checkpoints, load_optimizer,
                                        load_training_state, newest_intact, optimizer_tensors, prune_checkpoints,
                                        save_checkpoint)
from dancenow.choreo.clips import Clip, ClipArrays, clip_arrays, clips_from_motion
from dancenow.choreo.config import ANY_STYLE, DEFAULT_GUIDANCE, DEFAULT_GUIDE_FROM, ChoreoTrainConfig
from dancenow.choreo.mdn import mixture_nll
from dancenow.choreo.model import ChoreoModel
from dancenow.choreo.readers import load_motions
from dancenow.choreo.skeleton import (BONE_FLIP, BONE_NAMES, MODEL_JOINTS, NUM_BONES, TORSO_BONES, heading_frames, joints_from_bones,
                                      mirror_bones, project)
from dancenow.errors import DancenowError

log = logging.getLogger(__name__)

DRIFT_RAMP = 10  # frames over which a chunk's torso drift appears
# settings that may change between a run and its resumption
_BOOKKEEPING = {"steps", "forecaster_steps", "checkpoint_every", "keep", "preset"}
FORECASTER_SEED = 100  # the forecaster's stream and random numbers: seed + this


# ----------------------------------------------------------------------------- data

def load_training_clips(sources: Sequence[tuple[str, str]], cfg: ChoreoTrainConfig, exclude: Sequence[str] = (),
                        openpose_fps: float | None = None, progress: bool = False) -> tuple[list[Clip], int]:
    """(clips of every source at cfg.fps, minus `exclude` (matched by clip name), the dims they
    are in): cfg.model.dims, or when 0, 3 if every source is 3D motion capture, else 2."""
    if not sources:
        raise DancenowError("no training files given")
    motions = []
    for path, style in sources:
        if not style or style == ANY_STYLE:
            raise DancenowError(f"{path}: style name {style!r} is reserved or empty; name the style")
        motions += load_motions(path, style, openpose_fps, None, cfg.front, detect_fps=cfg.fps, progress=progress)
    dims = cfg.model.dims or (3 if all(m.dims == 3 for m in motions) else 2)
    flat = [m for m in motions if m.dims < dims]
    if flat:
        raise DancenowError(f"{flat[0].name} is 2D: a 3D model needs motion capture only (use dims 2 or 0)")
    excluded = set(exclude)
    clips = [c for m in motions if m.name not in excluded for c in clips_from_motion(m, cfg.fps, dims)]
    clips = [c for c in clips if len(c) >= 3]
    if not clips:
        raise DancenowError("no training clips left (every file excluded, or no frame with both hips)")
    return clips, dims


def feature_statistics(arrays: list[ClipArrays], damping: float, input_noise: float = 0.0,
                       drift: float = 0.0, drift_return: float = 0.1) -> dict[str, np.ndarray]:
    """Means and standard deviations of inputs, velocities and targets over observed values, in
    the heading frame of each frame (3D; model.py), and `noise` (Bn,): the training noise on
    each bone's direction, `input_noise` times the bone's typical change per frame. Targets are
    next frames relative to the damped constant-velocity prior, measured in training from noisy
    inputs, so their spread includes the noise. Standard deviations are floored (a constant
    feature must not divide by ~0, nor one much smaller than its kind's median)."""
    Bn, D = arrays[0].u.shape[1:]
    xs, vs, ys = [], [], []

    def turn(frames, v):  # (T, 3, 3) frames, (T, ..., D) vectors
        if frames is None:
            return v
        return np.einsum("tij,t...j->t...i", frames, v)

    for a in arrays:
        f = heading_frames(a.u.astype(np.float64)) if D == 3 else None
        ok = np.repeat(a.observed[:, :Bn], D, 1) > 0
        x = np.concatenate([turn(f, a.u).reshape(len(a), -1), turn(f, a.root_step)], 1)
        xm = np.concatenate([ok, np.repeat(a.observed[:, Bn:], D, 1) > 0], 1)
        xs.append(np.where(xm, x, np.nan))
        vel = turn(None if f is None else f[1:], np.diff(a.u, axis=0)).reshape(len(a) - 1, -1)
        vs.append(np.where(ok[1:] & ok[:-1], vel, np.nan))
        if len(a) >= 3:
            ft = None if f is None else f[1:-1]
            prior = a.u[1:-1] + damping * (a.u[1:-1] - a.u[:-2])
            res = turn(ft, a.u[2:] - prior).reshape(len(a) - 2, -1)
            rstep = turn(ft, a.root_step[2:] - damping * a.root_step[1:-1])
            ym = np.concatenate([ok[2:] & ok[1:-1] & ok[:-2], np.repeat(a.observed[2:, Bn:] * a.observed[1:-1, Bn:], D, 1) > 0], 1)
            ys.append(np.where(ym, np.concatenate([res, rstep], 1), np.nan))
    x, v, y = np.concatenate(xs), np.concatenate(vs), np.concatenate(ys)
    stats = {}
    for name, arr in (("x", x), ("v", v), ("y", y)):
        stats[f"{name}_mean"] = np.nan_to_num(np.nanmean(arr, 0))
        stats[f"{name}_std"] = np.sqrt(np.nan_to_num(np.nanvar(arr, 0), nan=1.0))
    n = Bn * D
    # Noise in proportion to how much each bone moves: an absolute 0.02 drowned the spine's
    # frame-to-frame change (about 0.01) and, through the targets, widened the mixture that
    # sampling draws from, so sampled dances shook the torso and twisted hips from shoulders.
    # Floors: a feature that never changes in the data (a bone a synthetic or very still dancer
    # never moves) must not turn the model's tiny float changes into huge standardised inputs.
    for k in ("x_std", "v_std", "y_std"):
        stats[k] = np.maximum(stats[k], 0.1 * np.median(stats[k]))
    noise = input_noise * np.sqrt(np.mean(stats["v_std"].reshape(Bn, D) ** 2, -1))  # (Bn,)
    per_dim = np.repeat(noise, D)
    torso = np.zeros((Bn, D))
    torso[list(TORSO_BONES)] = drift_return * drift  # what a target takes back of the drift
    stats["y_std"][:n] = np.sqrt(stats["y_std"][:n] ** 2 + ((1 + damping) * per_dim) ** 2 + torso.ravel() ** 2)
    stats["v_std"] = np.sqrt(stats["v_std"] ** 2 + 2 * per_dim ** 2)
    stats["noise"] = noise
    for k, floor in (("x_std", 1e-3), ("v_std", 1e-4), ("y_std", 1e-4)):
        stats[k] = np.maximum(stats[k], floor)
    return stats


def training_defaults(arrays: list[ClipArrays]) -> dict[str, list]:
    """What fills a bone a clip never shows, and a dancer's lengths when none are known: the
    training data's mean direction (projected) and median lengths."""
    u = np.concatenate([a.u for a in arrays]).astype(np.float64)
    return {"direction": project(u.mean(0)).tolist(), "lengths": np.median([a.lengths for a in arrays], 0).tolist()}


class Stream:
    """The truncated-BPTT batch stream: `batch_size` rows, each walking through a stretch of a
    random clip (clips chosen by length, styles by `style_balance`), `episode` chunks long.

    A share `transition` of the stretches are style transitions: they open with
    `transition_lead` frames of a clip of another style, crossfade (directions and root steps,
    linearly over `transition_blend` frames) into the clip of the labelled style and go on in
    it. The lead-in is context only (not a target). Without them the style label would be
    redundant (the motion history always shows the style), and a model would learn to ignore
    it; with them, the label is the only clue to where a dance is heading, which is what style
    choice and blending at generation need. The crossfade is synthetic, a guess at how a dancer
    changes style. Half the stretches are mirrored (`mirror`).

    The stream's state is a small recipe per row plus the numpy RNG: saved in checkpoints, so
    training resumes exactly."""

    def __init__(self, arrays: list[ClipArrays], style_ids: list[int], cfg: ChoreoTrainConfig, rng: np.random.Generator,
                 noise: np.ndarray | None = None):
        self.arrays, self.style_ids, self.cfg, self.rng = arrays, style_ids, cfg, rng
        # per-bone standard deviation of the input noise (feature_statistics' "noise")
        self.noise = np.full(arrays[0].u.shape[1], cfg.input_noise) if noise is None else np.asarray(noise)
        self.p = clip_weights(arrays, style_ids, cfg.style_balance)
        B = cfg.batch_size
        self.recipe: list[dict | None] = [None] * B
        self.buf: list[tuple[np.ndarray, ...] | None] = [None] * B
        self.pos = np.zeros(B, np.int64)  # position within the row's stretch
        self.left = np.zeros(B, np.int64)  # chunks left in the stretch; 0 = start a new one
        self.style = np.zeros(B, np.int64)

    def _augment(self, dropped: bool) -> dict:
        """Mirroring, and the rest-posture offset (ChoreoTrainConfig.posture: wider for a
        stretch labelled "any", which stands for a dancer and skeleton never seen)."""
        out = {"mirror": bool(self.cfg.mirror and self.rng.random() < 0.5)}
        sigma = self.cfg.posture if dropped else self.cfg.posture_labelled
        if sigma > 0:
            out["posture"], out["posture_seed"] = sigma, int(self.rng.integers(2 ** 31))
        return out

    def _speed(self) -> float:
        """A playback speed: 1, or for a share `speed_change` of stretches one drawn
        log-uniformly from [speed_min, speed_max]."""
        cfg = self.cfg
        if cfg.speed_change > 0 and self.rng.random() < cfg.speed_change:
            return float(np.exp(self.rng.uniform(np.log(cfg.speed_min), np.log(cfg.speed_max))))
        return 1.0

    def _new_stretch(self, r: int) -> None:
        cfg = self.cfg
        c = int(self.rng.choice(len(self.arrays), p=self.p))
        n = len(self.arrays[c])
        lead, lead_start = -1, 0
        if cfg.transition > 0 and self.rng.random() < cfg.transition:
            need = cfg.transition_lead + cfg.transition_blend
            others = [i for i, a in enumerate(self.arrays)
                      if self.style_ids[i] != self.style_ids[c] and len(a) >= need]
            if others:
                lead = int(others[int(self.rng.integers(len(others)))])
                lead_start = int(self.rng.integers(0, len(self.arrays[lead]) - need + 1))
        speed = self._speed()
        span = int(math.ceil((cfg.episode * cfg.bptt) * speed)) + 1
        start = int(self.rng.integers(0, max(1, n - span + 1)))
        dropped = lead < 0 and self.rng.random() < cfg.style_dropout
        self.recipe[r] = {"clip": c, "start": start, "lead": lead, "lead_start": lead_start, "speed": speed,
                          **self._augment(dropped)}
        self.buf[r] = self._build(self.recipe[r])
        self.style[r] = 0 if dropped else self.style_ids[c]
        self.pos[r] = 0
        self.left[r] = max(1, math.ceil((len(self.buf[r][0]) - 1) / cfg.bptt))

    def _build(self, rc: dict) -> tuple[np.ndarray, ...]:
        """A row's stretch from its recipe: u, root_step, observed, target_ok (frames that are
        training targets)."""
        cfg = self.cfg
        a = self.arrays[rc["clip"]]
        need = cfg.episode * cfg.bptt + 1
        u, step, obs = played(a, rc["start"], need, rc.get("speed", 1.0))
        ok = np.ones(len(u), bool)
        if rc["lead"] >= 0:
            b, ls, n_lead, n_blend = self.arrays[rc["lead"]], rc["lead_start"], cfg.transition_lead, cfg.transition_blend
            k = min(n_blend, len(u))
            w = (np.arange(1, k + 1, dtype=np.float32) / (n_blend + 1))  # weight of the new style
            fade = slice(ls + n_lead, ls + n_lead + k)
            u[:k] = project((1 - w[:, None, None]) * b.u[fade] + w[:, None, None] * u[:k])
            step[:k] = (1 - w[:, None]) * b.root_step[fade] + w[:, None] * step[:k]
            obs[:k] = np.minimum(obs[:k], b.observed[fade])
            head = slice(ls, ls + n_lead)
            u = np.concatenate([b.u[head], u])
            step = np.concatenate([b.root_step[head], step])
            obs = np.concatenate([b.observed[head], obs])
            ok = np.concatenate([np.zeros(n_lead, bool), ok])
        if rc.get("posture_seed") is not None:
            u = repostured(u, rc["posture_seed"], rc["posture"])
        if rc["mirror"]:
            u, step, obs = mirror_bones(u, step, obs)
        return u, step, obs, ok

    def next(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The next chunk: arrays u (B, L+1, Bn, D), root_step (B, L+1, D), observed
        (B, L+1, Bn+1) (frame L is the last target), valid (B, L+1) (frames that exist and may
        be targets), prev (B, Bn, D) the frame before and prev_ok (B,) whether it counts, style
        (B,), noise and offset (B, L+1, Bn, D) (frame 0 is the previous frame's; offset: the
        torso drift, see ChoreoTrainConfig.drift); and `reset` (B,) bool:
        rows whose LSTM state must be zeroed."""
        cfg, L = self.cfg, self.cfg.bptt
        B = cfg.batch_size
        Bn, D = self.arrays[0].u.shape[1:]
        reset = self.left <= 0
        for r in np.flatnonzero(reset):
            self._new_stretch(int(r))
        u = np.zeros((B, L + 1, Bn, D), np.float32)
        step = np.zeros((B, L + 1, D), np.float32)
        obs = np.zeros((B, L + 1, Bn + 1), np.float32)
        valid = np.zeros((B, L + 1), bool)
        prev = np.zeros((B, Bn, D), np.float32)
        prev_ok = ~reset  # a fresh stretch starts like a forecast window: no frame before it
        for r in range(B):
            bu, bs, bo, bok = self.buf[r]
            s = int(self.pos[r])
            e = min(len(bu), s + L + 1)
            u[r, : e - s], step[r, : e - s], obs[r, : e - s] = bu[s:e], bs[s:e], bo[s:e]
            valid[r, : e - s] = bok[s:e]
            if s > 0:
                prev[r] = bu[s - 1]
            self.pos[r] = s + L
            self.left[r] -= 1
            if self.pos[r] >= len(bu) - 1:
                self.left[r] = 0
        noise = (self.rng.standard_normal((B, L + 1, Bn, D)) * self.noise[:, None]).astype(np.float32)
        # the torso drifts in over `DRIFT_RAMP` frames from a random frame of the chunk on, after
        # frames the model sees undisturbed: it learns to bring the torso back to where this
        # dancer held it, not to where other dancers do
        o = np.zeros((B, Bn, D))
        o[:, list(TORSO_BONES)] = self.rng.standard_normal((B, len(TORSO_BONES), D)) * cfg.drift
        start = self.rng.uniform(0, L, B)
        ramp = np.clip((np.arange(-1, L)[None] - start[:, None]) / DRIFT_RAMP, 0.0, 1.0)  # (B, L+1)
        offset = (ramp[..., None, None] * o[:, None]).astype(np.float32)  # frame 0 is the previous frame's
        return {"u": u, "root_step": step, "observed": obs, "valid": valid, "prev": prev,
                "prev_ok": prev_ok, "style": self.style.copy(), "noise": noise, "offset": offset}, reset

    def windows(self, n: int, length: int) -> dict[str, np.ndarray] | None:
        """`n` random windows of exactly `length` frames (clips long enough, by the stream's
        weights), augmented like the stream, for the free-running loss: u, root_step,
        observed, lengths (n, Bn), style (n,)."""
        ok = [i for i, a in enumerate(self.arrays) if len(a) >= length]
        if not ok:
            return None
        w = self.p[ok] / self.p[ok].sum()
        Bn, D = self.arrays[0].u.shape[1:]
        u = np.zeros((n, length, Bn, D), np.float32)
        step = np.zeros((n, length, D), np.float32)
        obs = np.zeros((n, length, Bn + 1), np.float32)
        lengths = np.zeros((n, Bn), np.float32)
        style = np.zeros(n, np.int64)
        for r in range(n):
            c = ok[int(self.rng.choice(len(ok), p=w))]
            a = self.arrays[c]
            speed = self._speed()
            speed = min(speed, (len(a) - 1) / max(1, length - 1))  # the window must fit in the clip
            span = int(math.ceil((length - 1) * speed)) + 1
            s = int(self.rng.integers(0, len(a) - span + 1))
            u[r], step[r], obs[r] = played(a, s, length, speed)
            lengths[r] = a.lengths
            dropped = self.rng.random() < self.cfg.style_dropout
            aug = self._augment(dropped)
            if aug.get("posture_seed") is not None:
                u[r] = repostured(u[r], aug["posture_seed"], aug["posture"])
            if aug["mirror"]:
                u[r], step[r], obs[r] = mirror_bones(u[r], step[r], obs[r])
                lengths[r] = a.lengths[list(BONE_FLIP)]
            style[r] = 0 if dropped else self.style_ids[c]
        obs[:, 0, -1] = 0  # the first root step reaches before the window
        step[:, 0] = 0
        return {"u": u, "root_step": step, "observed": obs, "lengths": lengths, "style": style}

    def state_dict(self) -> dict:
        return {"recipe": self.recipe, "pos": self.pos.tolist(), "left": self.left.tolist(),
                "style": self.style.tolist(), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, d: dict) -> None:
        self.recipe = list(d["recipe"])
        self.buf = [None if rc is None else self._build(rc) for rc in self.recipe]
        self.pos, self.left, self.style = (np.array(d[k], np.int64) for k in ("pos", "left", "style"))
        self.rng.bit_generator.state = d["rng"]


def repostured(u: np.ndarray, seed: int, sigma: float) -> np.ndarray:
    """Directions (T, Bn, D) with each bone turned by one constant random offset (normal, `sigma`
    per axis, drawn from `seed`), in the body's heading frame in 3D (so the offset moves with a
    turning dancer, as a marker placed elsewhere on the body would), in the image plane in 2D."""
    if sigma <= 0:
        return u.copy()
    Bn, D = u.shape[1:]
    delta = np.random.default_rng(seed).normal(0.0, sigma, (Bn, D))
    if D == 3:
        f = heading_frames(u.astype(np.float64))  # (T, 3, 3): camera -> heading frame
        delta = np.einsum("tji,bj->tbi", f, delta)  # the offset back in camera axes
    return project(u + delta).astype(np.float32)


def played(a: ClipArrays, start: int, frames: int, speed: float = 1.0):
    """(u, root_step, observed) of up to `frames` frames of a clip from `start`, played at
    `speed` (2 = twice as fast): directions interpolated and put back on their sphere or disk,
    the root track interpolated, a frame observed where both its neighbours are. Speed 1 is
    the plain slice."""
    if speed == 1.0:
        e = min(len(a), start + frames)
        return a.u[start:e].copy(), a.root_step[start:e].copy(), a.observed[start:e].copy()
    t = start + np.arange(frames) * speed
    t = t[t <= len(a) - 1]
    i0 = np.floor(t).astype(int)
    i1 = np.minimum(i0 + 1, len(a) - 1)
    w = (t - i0)[:, None]
    u = project((1 - w[..., None]) * a.u[i0] + w[..., None] * a.u[i1]).astype(np.float32)
    root = np.cumsum(a.root_step, 0)
    r = (1 - w) * root[i0] + w * root[i1]
    step = np.zeros_like(r)
    step[1:] = r[1:] - r[:-1]
    obs = np.minimum(a.observed[i0], a.observed[i1]).copy()
    obs[0, -1] = 0  # the first root step reaches before the stretch
    return u, step.astype(np.float32), obs


def clip_weights(arrays: list[ClipArrays], style_ids: list[int], balance: float) -> np.ndarray:
    """Chance of drawing each clip: its share of its style's frames, times its style's chance,
    which goes as (the style's frames) ** balance."""
    lengths = np.array([len(a) - 1 for a in arrays], np.float64)
    ids = np.array(style_ids)
    per_style = {s: lengths[ids == s].sum() for s in set(style_ids)}
    total = sum(v ** balance for v in per_style.values())
    return np.array([lengths[i] / per_style[s] * per_style[s] ** balance / total for i, s in enumerate(style_ids)])


# ----------------------------------------------------------------------------- losses

def _on(model: ChoreoModel, arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """numpy arrays -> tensors on the model's device."""
    dev = model.x_mean.device
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(dev) for k, v in arrays.items()}


def batch_tensors(model: ChoreoModel, chunk: dict[str, np.ndarray], drift_return: float = 0.1):
    """Stream chunk -> (x, targets, target_mask, style) tensors. Input directions get the noise
    and the torso drift; targets are the next frames, keeping (1 - drift_return) of the drift,
    relative to the prior from the noisy inputs, so the model learns to steer back to the
    motion (with targets relative to the clean prior, which the network cannot see, a small
    model forecast synthetic dances 2-3x worse a frame ahead)."""
    Bn, D = NUM_BONES, model.config.dims
    t = _on(model, chunk)
    u, step, obs, valid, noise = t["u"], t["root_step"], t["observed"], t["valid"], t["noise"]
    off = t["offset"] if "offset" in t else torch.zeros_like(noise)
    noisy = project(u[:, :-1] + off[:, 1:] + noise[:, 1:])
    prev = project(t["prev"] + off[:, 0] + noise[:, 0])
    target = project(u[:, 1:] + (1 - drift_return) * off[:, 1:])
    x = model.encode_inputs(noisy, step[:, :-1], obs[:, :-1], prev, t["prev_ok"])
    vel, _ = model.velocities(noisy, prev, t["prev_ok"])
    u_prior, step_prior = model.prior(noisy, vel, step[:, :-1])
    y = model.encode_targets(target, step[:, 1:], u_prior, step_prior, model.frame(noisy))
    bone_ok = obs[:, 1:, :Bn] * obs[:, :-1, :Bn] * (valid[:, 1:] & valid[:, :-1])[..., None]
    root_ok = obs[:, 1:, Bn:] * valid[:, 1:, None]
    mask = torch.cat([bone_ok.repeat_interleave(D, -1), root_ok.repeat_interleave(D, -1)], -1)
    return x, y, mask, t["style"]


def rollout_loss(model: ChoreoModel, win: dict[str, np.ndarray], context: int, root_weight: float = 1.0) -> torch.Tensor:
    """Mean distance (body heights) between the model's free-running point rollout and the truth
    over the frames after `context`: joints (body-centred, the window's bone lengths) plus the
    root track. Gradients reach the mixture (the chosen component's mean, or every mean and
    weight for config.point "mean") through every fed-back step. root_weight: the root track's
    share against the joints' (the forecaster's training weights it 0.1)."""
    t = _on(model, win)
    u, step, obs, lengths, style = t["u"], t["root_step"], t["observed"], t["lengths"], t["style"]
    Bn = NUM_BONES
    params, state = model.run(model.encode_inputs(u[:, :context], step[:, :context], obs[:, :context]), style)
    last = params[:, -1]
    prev, cur, cur_step = u[:, context - 2], u[:, context - 1], step[:, context - 1]
    root = torch.zeros_like(step[:, 0])
    true_root = torch.zeros_like(root)
    ones = torch.ones_like(obs[:, 0])
    style_vec = model.style_vector(style)
    has_prev = torch.ones(u.shape[0], dtype=torch.bool, device=u.device)
    L = lengths[..., None]
    total, count = 0.0, 0.0
    for k in range(context, u.shape[1]):
        nxt, nstep = model.decode(model.point(last), *model.prior(cur, cur - prev, cur_step), model.frame(cur))
        root = root + nstep
        true_root = true_root + step[:, k]
        err = torch.linalg.vector_norm(joints_from_bones(nxt * L) - joints_from_bones(u[:, k] * L), dim=-1)  # (n, P)
        ok = obs[:, k, :Bn].amin(-1, keepdim=True)  # (n, 1): a frame with any bone unobserved is skipped
        err_root = torch.linalg.vector_norm(root - true_root, dim=-1)
        total = total + (err * ok).sum() + root_weight * err_root.sum()
        count = count + ok.sum() * err.shape[1] + root_weight * err_root.numel()
        if k + 1 < u.shape[1]:
            x = model.encode_inputs(nxt[:, None], nstep[:, None], ones[:, None], cur, has_prev)[:, 0]
            last, state = model.step(x, style_vec, state)
        prev, cur, cur_step = cur, nxt, nstep
    return total / max(float(count), 1.0)


# ----------------------------------------------------------------------------- training

def train_step(model: ChoreoModel, opt: torch.optim.Optimizer, stream: "Stream", cfg: ChoreoTrainConfig,
               h: torch.Tensor, c: torch.Tensor, lr: float, root_weight: float = 1.0):
    """One optimisation step at learning rate `lr`: the stream's next chunk, teacher-forced from
    the carried LSTM state (h, c) (rows starting a fresh stretch from zero), plus `cfg.rollout_weight`
    x the free-running loss on the stream's windows (`rollout_loss`, `root_weight`). Returns the
    loss, its likelihood part and the new state, detached."""
    chunk, reset = stream.next()
    keep = torch.from_numpy(~reset).to(h)[None, :, None]
    h, c = h * keep, c * keep  # fresh stretches start from a zero state
    x, y, mask, style = batch_tensors(model, chunk, cfg.drift_return)
    for g in opt.param_groups:
        g["lr"] = lr
    params, (h, c) = model.run(x, style, (h, c))
    loss = nll = mixture_nll(params, y, mask)
    if cfg.rollout_weight > 0:
        win = stream.windows(cfg.rollout_batch, cfg.rollout_context + cfg.rollout_frames)
        if win is not None:
            loss = loss + cfg.rollout_weight * rollout_loss(model, win, cfg.rollout_context, root_weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    return loss, nll, h.detach(), c.detach()


def forecaster_config(cfg: ChoreoTrainConfig) -> ChoreoTrainConfig:
    """The settings the forecaster trains with: the dancer's, on the forecasting mix
    (ChoreoTrainConfig.forecaster_*), its stream seeded apart."""
    import dataclasses

    return dataclasses.replace(cfg, style_balance=cfg.forecaster_style_balance, speed_change=cfg.forecaster_speed_change,
                               rollout_batch=cfg.forecaster_rollout_batch, seed=cfg.seed + FORECASTER_SEED)


def start_forecaster(model: ChoreoModel, arrays: list[ClipArrays], style_ids: list[int], cfg: ChoreoTrainConfig,
                     noise: np.ndarray) -> tuple[ChoreoTrainConfig, "Stream", torch.optim.Optimizer]:
    """Begin training `model.forecaster` from the finished dancer: copies the dancer's weights
    into it, seeds torch, and returns the forecaster's settings, stream and optimiser. It trains
    with `train_step` at `forecaster_lr(cfg, k)`, `cfg.forecaster_root_weight`, from a zero
    state, without dropout (held-out salsa was forecast 0.1 points better without; the LSTM
    trains the same either way)."""
    model.forecaster.load_state_dict(model.dancer_state())
    fcfg = forecaster_config(cfg)
    torch.manual_seed(fcfg.seed)
    stream = Stream(arrays, style_ids, fcfg, np.random.default_rng(fcfg.seed), noise)
    opt = torch.optim.AdamW(model.forecaster.parameters(), lr=cfg.forecaster_lr, weight_decay=cfg.weight_decay)
    model.forecaster.train(False)
    return fcfg, stream, opt


def forecaster_lr(cfg: ChoreoTrainConfig, k: int) -> float:
    """The forecaster's learning rate at its step k: from cfg.forecaster_lr to 0, cosine."""
    return cfg.forecaster_lr * 0.5 * (1 + math.cos(math.pi * k / cfg.forecaster_steps))


def _lr(cfg: ChoreoTrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * t)))


def _fingerprint(arrays: list[ClipArrays]) -> list:
    return [[a.name, a.style, len(a)] for a in arrays]


def _settings(cfg_dict: dict) -> dict:
    """A config dict, flat ("model.hidden": ...), without the settings a resumed run may change."""
    flat = {}
    for k, v in cfg_dict.items():
        if k in _BOOKKEEPING or k in ("format", "version"):
            continue
        if isinstance(v, dict):
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[k] = v
    return flat


def _with_defaults(cfg_dict: dict) -> dict:
    """A checkpoint's config with the settings added since it was written at their defaults
    (which keep the old behaviour), so a run from before them still resumes."""
    try:
        return json_roundtrip(ChoreoTrainConfig.from_dict(cfg_dict).to_dict())
    except DancenowError:
        return cfg_dict


def check_output_dir(out_dir: str | os.PathLike) -> Path:
    """A training folder must be a folder (or not exist yet), not a file or under one."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DancenowError(f"{out} exists and is not a folder: give a folder for the model")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DancenowError(f"cannot write {out}: {parent} is a file")
            if not os.access(parent, os.W_OK):
                raise DancenowError(f"cannot write {out}: {parent} is not writable")
            break
    return out


def train(sources: Sequence[tuple[str, str]], out_dir: str | os.PathLike, cfg: ChoreoTrainConfig,
          exclude: Sequence[str] = (), resume: bool = True, threads: int | None = None, device: str = "auto",
          openpose_fps: float | None = None, progress: bool = True) -> Path:
    """Train (or resume) a model of the `(file, style)` sources into `out_dir` and return the
    last checkpoint's folder. Every setting, the device and the folder are checked before
    anything is written; a second run into the same folder is refused while this one lives."""
    from dancenow.choreo.evaluate import pose_statistics  # the health checks' reference numbers
    from dancenow.compute import resolve_device

    cfg.validate()
    if threads is not None and not (isinstance(threads, int) and 1 <= threads <= 1024):
        raise DancenowError(f"threads must be a whole number in [1, 1024], got {threads!r}")
    dev = resolve_device(device)
    out = check_output_dir(out_dir)
    if threads:
        torch.set_num_threads(threads)
    clips, dims = load_training_clips(sources, cfg, exclude, openpose_fps, progress)
    styles = [ANY_STYLE] + sorted({c.style for c in clips})
    style_of = {s: i for i, s in enumerate(styles)}
    raw = [clip_arrays(c, _fallback_defaults(dims)) for c in clips]
    defaults = training_defaults(raw)
    arrays = [clip_arrays(c, defaults) for c in clips]
    stats = feature_statistics(arrays, cfg.model.damping, cfg.input_noise, cfg.drift, cfg.drift_return)

    from dancenow.guard import run_lock

    with run_lock(out, "choreography model folder"):  # a second writer gets one line (a no-op under the CLI's)
        return _train_locked(cfg, dims, styles, style_of, clips, arrays, defaults, stats, out, resume, threads, dev,
                             progress, pose_statistics)


def _fallback_defaults(dims: int) -> dict:
    """Defaults before the data's are known: straight down (3D, 2D) and unit lengths."""
    d = np.zeros((NUM_BONES, dims))
    d[:, 1] = 1.0
    return {"direction": d, "lengths": np.full(NUM_BONES, 0.1)}


def _train_locked(cfg, dims, styles, style_of, clips, arrays, defaults, stats, out, resume, threads, dev, progress,
                  pose_statistics) -> Path:
    import dataclasses

    torch.manual_seed(cfg.seed)
    model = ChoreoModel(dataclasses.replace(cfg.model, dims=dims, styles=styles))
    for k, v in stats.items():
        if k != "noise":
            getattr(model, k).copy_(torch.from_numpy(v.astype(np.float32)))
    model.to(dev)
    opt = torch.optim.AdamW(model.dancer_parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    style_ids = [style_of[a.style] for a in arrays]
    stream = Stream(arrays, style_ids, cfg, np.random.default_rng(cfg.seed), stats["noise"])
    fcfg = None  # the forecaster's settings once it trains (after the dancer's cfg.steps)
    total = cfg.steps + cfg.forecaster_steps
    info = {
        "fps": cfg.fps, "dims": dims, "front": cfg.front, "joints": list(MODEL_JOINTS), "bones": list(BONE_NAMES),
        "defaults": defaults,
        "reference": {s: pose_statistics([c for c in clips if c.style == s], cfg.fps) for s in styles[1:]}
        | {ANY_STYLE: pose_statistics(clips, cfg.fps)},
        "clips": _fingerprint(arrays), "train_config": cfg.to_dict(),
    }
    B, H = cfg.batch_size, cfg.model.hidden
    h = torch.zeros(cfg.model.layers, B, H, device=dev)
    c = torch.zeros(cfg.model.layers, B, H, device=dev)
    step = 0

    previous = list_checkpoints(out)  # another run's (--no-resume): deleted once a new one exists
    found = previous if resume else []
    if found:
        try:
            meta, model_t, trainer, trainer_t = newest_intact(found, load_training_state)
        except CorruptCheckpoint as e:
            raise DancenowError(f"every checkpoint in {out} is damaged ({e}); use --no-resume to start afresh") from None
        ck = checkpoint_path(out, int(trainer["step"]))
        if trainer["clips"] != _fingerprint(arrays):
            raise DancenowError(f"cannot resume from {ck}: the training data differ from that run's (use a new folder or --no-resume)")
        old, new = _settings(_with_defaults(trainer["config"])), _settings(json_roundtrip(cfg.to_dict()))
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if changed:
            raise DancenowError(f"cannot resume from {ck}: settings differ from that run's ({', '.join(changed)}); "
                                "use a new folder or --no-resume")
        if trainer["config"].get("steps") != cfg.steps:
            log.warning("resuming with %d steps instead of %s: the learning-rate schedule changes", cfg.steps,
                        trainer["config"].get("steps"))
        now_threads = torch.get_num_threads()
        if trainer.get("threads") not in (None, now_threads) and int(trainer["step"]) < total:
            log.warning("resuming with %d CPU threads where the checkpoint's run had %s: results will not be "
                        "bit-identical to an uninterrupted run", now_threads, trainer["threads"])
        if int(trainer["step"]) >= cfg.steps and "temperature" in meta:  # the dancer is finished and calibrated
            info.update({k: meta[k] for k in ("guide_from", "temperature", "torso_spread", "guidance") if k in meta})
        try:
            if int(trainer["step"]) > cfg.steps:  # within the forecaster's training: its stream and optimiser
                fcfg, stream, opt = start_forecaster(model, arrays, style_ids, cfg, stats["noise"])
            model.load_state_dict(model_t)
            load_optimizer(opt, {k: v.to(dev) for k, v in trainer_t.items()}, trainer["optimizer"])
            stream.load_state_dict(trainer["stream"])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            raise DancenowError(f"cannot resume from {ck}: {type(e).__name__}: {str(e).splitlines()[0][:100]}") from None
        h, c = trainer_t["h"].to(dev), trainer_t["c"].to(dev)
        torch.set_rng_state(trainer_t["torch_rng"])
        step = int(trainer["step"])
        previous = []
        log.info("resuming from %s (step %d)", ck, step)
    elif previous:
        log.warning("%s holds checkpoints of an earlier run: they are replaced once this run writes its first", out)

    def save() -> Path:
        nonlocal previous
        if model.forecaster is not None and step <= cfg.steps:  # not trained yet: it forecasts as the dancer does
            model.forecaster.load_state_dict(model.dancer_state())
        opt_t, opt_meta = optimizer_tensors(opt)
        trainer = {"step": step, "stream": stream.state_dict(), "clips": _fingerprint(arrays), "config": cfg.to_dict(),
                   "optimizer": opt_meta, "threads": torch.get_num_threads(), "device": str(dev)}
        path = save_checkpoint(checkpoint_path(out, step), model, {**info, "step": step}, trainer,
                               {**opt_t, "h": h, "c": c, "torch_rng": torch.get_rng_state()})
        for old in previous:  # the earlier run's, now that this one has a checkpoint
            if old != path:
                import shutil

                shutil.rmtree(old, ignore_errors=True)
        previous = []
        prune_checkpoints(out, cfg.keep, path)
        return path

    stop = _CtrlC()
    model.train()
    if fcfg is not None:
        model.forecaster.train(False)
    last = None
    bar = tqdm(total=total, initial=step, desc="choreo train", unit="step", disable=not progress)
    with stop:
        while step < total:
            if step < cfg.steps:
                loss, nll, h, c = train_step(model, opt, stream, cfg, h, c, _lr(cfg, step))
            else:
                if fcfg is None:  # the dancer is done: its forecaster starts from it
                    fcfg, stream, opt = start_forecaster(model, arrays, style_ids, cfg, stats["noise"])
                    h, c = torch.zeros_like(h), torch.zeros_like(c)
                    bar.set_description("choreo forecaster")
                loss, nll, h, c = train_step(model.forecaster, opt, stream, fcfg, h, c,
                                             forecaster_lr(cfg, step - cfg.steps), cfg.forecaster_root_weight)
            step += 1
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(nll=f"{nll.item():.3f}", loss=f"{loss.item():.3f}")
            if not math.isfinite(loss.item()):
                raise DancenowError(f"training diverged at step {step} (loss {loss.item()}); lower the learning rate")
            if step == cfg.steps:
                info["guide_from"] = DEFAULT_GUIDE_FROM
                info["temperature"], info["torso_spread"], info["guidance"] = _calibrate(model, info, dev)
            if step % cfg.checkpoint_every == 0 or step in (cfg.steps, total):
                last = save()
            elif stop.requested:
                save()
                log.warning("interrupted: saved step %d; run the same command again to continue", step)
                raise KeyboardInterrupt
    bar.close()
    if last is None:  # resumed a finished run
        last = list_checkpoints(out)[-1] if list_checkpoints(out) else save()
    return last


def _calibrate(model: ChoreoModel, info: dict, dev) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """The finished model's per-style sampling temperatures, torso spreads and style guidance
    (generate.calibrate_guidance, from DEFAULT_GUIDANCE down), measured on the CPU."""
    import copy

    from dancenow.choreo.generate import calibrate_guidance

    m = model if str(dev) == "cpu" else copy.deepcopy(model).cpu()
    was = m.training
    try:
        temps, torso, guidance = calibrate_guidance(m, info, DEFAULT_GUIDANCE, info["guide_from"])
    finally:
        m.train(was)
    log.info("calibrated sampling (temperature, torso spread, guidance): %s",
             ", ".join(f"{k} {v:.2f}/{torso[k]:.2f}/{guidance[k]:g}" for k, v in temps.items()))
    return temps, torso, guidance


def json_roundtrip(d: dict) -> dict:
    import json

    return json.loads(json.dumps(d))


class _CtrlC:
    """While active, the first Ctrl-C only asks the training loop to stop after its step (it
    then saves a checkpoint); a second one stops at once. Only in the main thread (signals
    cannot be caught elsewhere)."""

    def __init__(self):
        self.requested = False
        self._old = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("Ctrl-C: saving a checkpoint after this step (press again to stop at once)")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False

