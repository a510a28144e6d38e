"""Train the choreography model: `train(cfg) -> Path` (the last checkpoint's folder).

Teacher-forced maximum likelihood with truncated backpropagation through time: each of the
`batch_size` rows streams through a randomly chosen stretch of a training clip in chunks of
`bptt` frames, carrying the LSTM state from chunk to chunk (detached) for `episode` chunks, then
starts a fresh stretch from a zero state. Streaming teaches long-range rhythm; the frequent fresh
starts teach the model to pick up a dance from a second of context, which is how it is used.

Checkpoints (every `checkpoint_every` steps and at the end) are folders written atomically
(temporary name + rename), the last `keep` kept:

    out_dir/step-0001000/model.safetensors   weights + feature standardisation
                         model.json          ChoreoConfig, training data statistics, fps, ...
                         optimizer.pt        AdamW state (torch.load(weights_only=True))
                         trainer.safetensors carried LSTM states, torch RNG state
                         trainer.json        step, numpy RNG and data stream state, TrainConfig

`resume=True` continues from the newest checkpoint in out_dir exactly: same weights, optimiser,
RNG states, stream positions and carried states, so an interrupted run ends where an
uninterrupted one would.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from tqdm import tqdm

from dancenow.choreo.data import (Clip, ClipArrays, MODEL_JOINTS, bone_limits, bone_medians, clip_arrays, load_clips,
                                  mirror_arrays)
from dancenow.choreo.checkpoint import checkpoints, save_checkpoint
from dancenow.choreo.config import TrainConfig
from dancenow.choreo.mdn import mixture_nll, mode
from dancenow.choreo.model import ANY_STYLE, ChoreoModel
from dancenow.errors import DancenowError

log = logging.getLogger(__name__)



# ----------------------------------------------------------------------------- data

def load_training_clips(cfg: TrainConfig) -> list[Clip]:
    """All clips of cfg.sources at cfg.fps in cfg.dims, minus cfg.exclude (matched by clip name)."""
    if not cfg.sources:
        raise DancenowError("no training files given")
    clips = []
    for path, style in cfg.sources:
        if not style or style == ANY_STYLE:
            raise DancenowError(f"{path}: style name {style!r} is reserved or empty; name the style")
        clips += load_clips(path, style, cfg.fps, cfg.dims, pose_fps=cfg.openpose_fps, front=cfg.front)
    excluded = set(cfg.exclude)
    kept = [c for c in clips if c.name.split("@")[0] not in excluded]
    if not kept:
        raise DancenowError("no training clips left after exclusions")
    return kept


def feature_statistics(arrays: list[ClipArrays], input_noise: float = 0.0) -> dict[str, np.ndarray]:
    """Means and standard deviations of inputs and targets over observed values, plus the mean
    pose (P, D). Pose-delta targets are measured from noisy inputs in training, so their spread
    includes `input_noise` (body heights). Standard deviations are floored (a constant feature
    must not divide by ~0)."""
    P, D = arrays[0].pose.shape[1:]
    xs, ys = [], []
    for a in arrays:
        ok = a.observed[:, :P]
        x = np.concatenate([a.pose.reshape(len(a), -1), a.root_step], 1)
        xm = np.concatenate([np.repeat(ok, D, 1), np.repeat(a.observed[:, P:], D, 1)], 1)
        xs.append(np.where(xm > 0, x, np.nan))
        d = a.pose[1:] - a.pose[:-1]
        dm = np.repeat(ok[1:] * ok[:-1], D, 1)
        y = np.concatenate([d.reshape(len(d), -1), a.root_step[1:]], 1)
        ym = np.concatenate([dm, np.repeat(a.observed[1:, P:], D, 1)], 1)
        ys.append(np.where(ym > 0, y, np.nan))
    x, y = np.concatenate(xs), np.concatenate(ys)
    x_mean, y_mean = np.nan_to_num(np.nanmean(x, 0)), np.nan_to_num(np.nanmean(y, 0))
    x_std = np.maximum(np.nan_to_num(np.nanstd(x, 0), nan=1.0), 1e-3)
    y_std = np.nan_to_num(np.nanstd(y, 0), nan=1.0)
    y_std[: P * D] = np.sqrt(y_std[: P * D] ** 2 + input_noise ** 2)
    y_std = np.maximum(y_std, 1e-4)
    mean_pose = x_mean[: P * D].reshape(P, D)
    # velocity inputs: pose deltas between two noisy inputs (mean 0 by symmetry of the data)
    v_std = np.sqrt(np.nan_to_num(np.nanstd(y[:, : P * D], 0), nan=1.0) ** 2 + 2 * input_noise ** 2)
    return {"x_mean": x_mean, "x_std": x_std, "y_mean": y_mean, "y_std": y_std, "mean_pose": mean_pose,
            "v_mean": np.zeros(P * D), "v_std": np.maximum(v_std, 1e-4)}


class Stream:
    """The truncated-BPTT batch stream: `batch_size` rows, each walking through a stretch of a
    random clip (chosen in proportion to its length), `episode` chunks long.

    A share `transition` of the stretches are style transitions: they open with
    `transition_lead` frames of a clip of another style, crossfade (body-centred poses and root
    steps, linearly over `transition_blend` frames) into the clip of the labelled style and go
    on in it. The lead-in is context only (not a target). Without them the style label would be
    redundant (the motion history always shows the style), and a model would learn to ignore
    it; with them, the label is the only clue to where a dance is heading, which is what style
    choice and blending at generation need. The crossfade is synthetic, and a guess at how a
    dancer changes style.

    The stream's state is a small recipe per row plus the numpy RNG: saved in checkpoints, so
    training resumes exactly."""

    def __init__(self, arrays: list[ClipArrays], style_ids: list[int], cfg: TrainConfig, rng: np.random.Generator):
        self.arrays, self.style_ids, self.cfg, self.rng = arrays, style_ids, cfg, rng
        lengths = np.array([len(a) - 1 for a in arrays], np.float64)  # transitions per clip
        self.p = lengths / lengths.sum()
        B = cfg.batch_size
        self.recipe: list[dict | None] = [None] * B
        self.buf: list[tuple[np.ndarray, ...] | None] = [None] * B
        self.pos = np.zeros(B, np.int64)  # position within the row's stretch
        self.left = np.zeros(B, np.int64)  # chunks left in the stretch; 0 = start a new one
        self.style = np.zeros(B, np.int64)

    def _new_stretch(self, r: int) -> None:
        cfg = self.cfg
        c = int(self.rng.choice(len(self.arrays), p=self.p))
        n = len(self.arrays[c])
        lead, lead_start = -1, 0
        if cfg.transition > 0 and self.rng.random() < cfg.transition:
            need = cfg.transition_lead + cfg.transition_blend
            others = [i for i, a in enumerate(self.arrays) if self.style_ids[i] != self.style_ids[c] and len(a) >= need]
            if others:
                w = np.array([len(self.arrays[i]) - need + 1 for i in others], np.float64)
                lead = others[int(self.rng.choice(len(others), p=w / w.sum()))]
                lead_start = int(self.rng.integers(0, len(self.arrays[lead]) - need + 1))
        start = int(self.rng.integers(0, max(1, n - 1 - cfg.bptt) + 1))
        dropped = lead < 0 and self.rng.random() < cfg.style_dropout
        mirror = bool(cfg.mirror and self.rng.random() < 0.5)
        self.recipe[r] = {"clip": c, "start": start, "lead": lead, "lead_start": lead_start, "mirror": mirror}
        self.buf[r] = self._build(self.recipe[r])
        self.style[r] = 0 if dropped else self.style_ids[c]
        self.pos[r] = 0
        self.left[r] = max(1, math.ceil((len(self.buf[r][0]) - 1) / cfg.bptt))

    def _build(self, rc: dict) -> tuple[np.ndarray, ...]:
        """A row's stretch from its recipe: pose, root_step, observed, target_ok (frames that are
        training targets)."""
        cfg = self.cfg
        a = self.arrays[rc["clip"]]
        need = cfg.episode * cfg.bptt + 1
        s = rc["start"]
        if rc["lead"] < 0:
            e = min(len(a), s + need)
            pose, step, obs = a.pose[s:e], a.root_step[s:e], a.observed[s:e]
            ok = np.ones(e - s, bool)
        else:
            b, ls, n_lead, n_blend = self.arrays[rc["lead"]], rc["lead_start"], cfg.transition_lead, cfg.transition_blend
            e = min(len(a), s + need)  # the lead-in comes on top of the usual stretch
            pose, step, obs = a.pose[s:e].copy(), a.root_step[s:e].copy(), a.observed[s:e].copy()
            k = min(n_blend, e - s)
            w = (np.arange(1, k + 1, dtype=np.float32) / (n_blend + 1))  # weight of the new style
            fade = slice(ls + n_lead, ls + n_lead + k)
            pose[:k] = (1 - w[:, None, None]) * b.pose[fade] + w[:, None, None] * pose[:k]
            step[:k] = (1 - w[:, None]) * b.root_step[fade] + w[:, None] * step[:k]
            obs[:k] = np.minimum(obs[:k], b.observed[fade])
            head = slice(ls, ls + n_lead)
            pose = np.concatenate([b.pose[head], pose])
            step = np.concatenate([b.root_step[head], step])
            obs = np.concatenate([b.observed[head], obs])
            ok = np.concatenate([np.zeros(n_lead, bool), np.ones(e - s, bool)])
        if rc["mirror"]:
            pose, step, obs = mirror_arrays(pose, step, obs)
        return pose, step, obs, ok

    def next(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The next chunk: arrays pose (B, L+1, P, D), root_step (B, L+1, D), observed
        (B, L+1, P+1) (frame L is the last target), valid (B, L+1) (frames that exist and may be
        targets), prev (B, P, D) the frame before and prev_ok (B,) whether it counts, style (B,),
        noise (B, L+1, P, D) (frame 0 is the previous frame's); and `reset` (B,) bool: rows
        whose LSTM state must be zeroed."""
        cfg, L = self.cfg, self.cfg.bptt
        B = cfg.batch_size
        P, D = self.arrays[0].pose.shape[1:]
        reset = self.left <= 0
        for r in np.flatnonzero(reset):
            self._new_stretch(int(r))
        pose = np.zeros((B, L + 1, P, D), np.float32)
        step = np.zeros((B, L + 1, D), np.float32)
        obs = np.zeros((B, L + 1, P + 1), np.float32)
        valid = np.zeros((B, L + 1), bool)
        prev = np.zeros((B, P, D), np.float32)  # the frame before the chunk (for velocities)
        prev_ok = ~reset  # a fresh stretch starts like a forecast window: no frame before it
        for r in range(B):
            bp, bs, bo, bok = self.buf[r]
            s = int(self.pos[r])
            e = min(len(bp), s + L + 1)
            pose[r, : e - s], step[r, : e - s], obs[r, : e - s] = bp[s:e], bs[s:e], bo[s:e]
            valid[r, : e - s] = bok[s:e]
            if s > 0:
                prev[r] = bp[s - 1]
            self.pos[r] = s + L
            self.left[r] -= 1
            if self.pos[r] >= len(bp) - 1:
                self.left[r] = 0
        noise = (self.rng.standard_normal((B, L + 1, P, D)) * cfg.input_noise).astype(np.float32)
        return {"pose": pose, "root_step": step, "observed": obs, "valid": valid, "prev": prev,
                "prev_ok": prev_ok, "style": self.style.copy(), "noise": noise}, reset

    def windows(self, n: int, length: int) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
        """`n` random windows of exactly `length` frames (clips long enough, by length), for the
        free-running loss: arrays as in `next` (without noise) and their style ids."""
        ok = [i for i, a in enumerate(self.arrays) if len(a) >= length]
        if not ok:
            return None
        w = np.array([len(self.arrays[i]) - length + 1 for i in ok], np.float64)
        P, D = self.arrays[0].pose.shape[1:]
        pose = np.zeros((n, length, P, D), np.float32)
        step = np.zeros((n, length, D), np.float32)
        obs = np.zeros((n, length, P + 1), np.float32)
        style = np.zeros(n, np.int64)
        for r in range(n):
            c = ok[int(self.rng.choice(len(ok), p=w / w.sum()))]
            a = self.arrays[c]
            s = int(self.rng.integers(0, len(a) - length + 1))
            pr, st, ob = a.pose[s:s + length], a.root_step[s:s + length], a.observed[s:s + length]
            if self.cfg.mirror and self.rng.random() < 0.5:
                pr, st, ob = mirror_arrays(pr, st, ob)
            pose[r], step[r], obs[r] = pr, st, ob
            style[r] = 0 if self.rng.random() < self.cfg.style_dropout else self.style_ids[c]
        obs[:, 0, -1] = 0  # the first root step reaches before the window
        step[:, 0] = 0
        return {"pose": pose, "root_step": step, "observed": obs, "style": style}, style

    def state_dict(self) -> dict:
        return {"recipe": self.recipe, "pos": self.pos.tolist(), "left": self.left.tolist(),
                "style": self.style.tolist(), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, d: dict) -> None:
        self.recipe = list(d["recipe"])
        self.buf = [None if rc is None else self._build(rc) for rc in self.recipe]
        self.pos, self.left, self.style = (np.array(d[k], np.int64) for k in ("pos", "left", "style"))
        self.rng.bit_generator.state = d["rng"]


def batch_tensors(model: ChoreoModel, chunk: dict[str, np.ndarray]):
    """Stream chunk -> (x, targets, target_mask, style) tensors. Input poses get the noise;
    targets are measured from the noisy input, so the model learns to steer back."""
    P, D = model.config.joints, model.config.dims
    t = _on(model, chunk)
    pose, step, obs, valid, noise = t["pose"], t["root_step"], t["observed"], t["valid"], t["noise"]
    noisy = pose[:, :-1] + noise[:, 1:]
    prev = t["prev"] + noise[:, 0]
    x = model.encode_inputs(noisy, step[:, :-1], obs[:, :-1], prev, t["prev_ok"])
    y = model.encode_targets(pose[:, 1:] - noisy, step[:, 1:])
    joint_ok = obs[:, 1:, :P] * obs[:, :-1, :P] * (valid[:, 1:] & valid[:, :-1])[..., None]
    root_ok = obs[:, 1:, P:] * valid[:, 1:, None]
    mask = torch.cat([joint_ok.repeat_interleave(D, -1), root_ok.repeat_interleave(D, -1)], -1)
    return x, y, mask, t["style"]


def _on(model: ChoreoModel, arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """numpy arrays -> tensors on the model's device."""
    dev = model.x_mean.device
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(dev) for k, v in arrays.items()}


def rollout_loss(model: ChoreoModel, win: dict[str, np.ndarray], context: int) -> torch.Tensor:
    """Mean distance (body heights) between the model's free-running mode rollout and the truth
    over the frames after `context`: joints (body-centred) plus the root track. Gradients reach
    the chosen components' means through every fed-back step."""
    P = model.config.joints
    t = _on(model, win)
    pose, step, obs, style = t["pose"], t["root_step"], t["observed"], t["style"]
    params, state = model.run(model.encode_inputs(pose[:, :context], step[:, :context], obs[:, :context]), style)
    last = params[:, -1]
    cur = pose[:, context - 1]  # (B, P, D)
    root = torch.zeros_like(step[:, 0])
    true_root = torch.zeros_like(root)
    ones = torch.ones_like(obs[:, 0])
    style_vec = model.style_vector(style)
    has_prev = torch.ones(pose.shape[0], dtype=torch.bool, device=pose.device)
    total, count = 0.0, 0.0
    for t in range(context, pose.shape[1]):
        prev = cur
        delta, rstep = model.decode_outputs(mode(last))
        cur = cur + delta
        root = root + rstep
        true_root = true_root + step[:, t]
        ok = obs[:, t, :P]
        err = torch.linalg.vector_norm(cur - pose[:, t], dim=-1)  # (B, P)
        err_root = torch.linalg.vector_norm(root - true_root, dim=-1)  # (B,)
        total = total + (err * ok).sum() + err_root.sum()
        count = count + ok.sum() + err_root.numel()
        if t + 1 < pose.shape[1]:
            x = model.encode_inputs(cur[:, None], rstep[:, None], ones[:, None], prev, has_prev)[:, 0]
            last, state = model.step(x, style_vec, state)
    return total / max(float(count), 1.0)


# ----------------------------------------------------------------------------- training

def _lr(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * t)))


# TrainConfig fields that may change between a run and its resumption
_BOOKKEEPING = {"steps", "out_dir", "checkpoint_every", "keep", "resume", "threads", "progress", "device"}


def _fingerprint(arrays: list[ClipArrays]) -> list:
    return [[a.name, a.style, len(a)] for a in arrays]


def train(cfg: TrainConfig) -> Path:
    """Train (or resume) and return the last checkpoint's folder."""
    from dancenow.choreo.evaluate import pose_statistics  # the health checks' reference numbers

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    from dancenow.compute import resolve_device

    dev = resolve_device(cfg.device)
    out = Path(cfg.out_dir)
    clips = load_training_clips(cfg)
    styles = [ANY_STYLE] + sorted({c.style for c in clips})
    style_of = {s: i for i, s in enumerate(styles)}
    raw = [clip_arrays(c, np.zeros((len(MODEL_JOINTS), cfg.dims))) for c in clips]
    stats = feature_statistics(raw, cfg.input_noise)
    arrays = [clip_arrays(c, stats["mean_pose"]) for c in clips]  # fill never-seen joints with the mean

    torch.manual_seed(cfg.seed)
    model = ChoreoModel(cfg.model_config(styles))
    for k in ("x_mean", "x_std", "y_mean", "y_std") + (("v_mean", "v_std") if cfg.velocity else ()):
        getattr(model, k).copy_(torch.from_numpy(stats[k].astype(np.float32)))
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    stream = Stream(arrays, [style_of[a.style] for a in arrays], cfg, np.random.default_rng(cfg.seed))
    info = {
        "fps": cfg.fps, "dims": cfg.dims, "front": cfg.front, "joints": list(MODEL_JOINTS),
        "mean_pose": stats["mean_pose"].tolist(), "bone_limits": bone_limits(clips).tolist(),
        "bone_median": bone_medians(clips).tolist(),
        "reference": {s: pose_statistics([c for c in clips if c.style == s], cfg.fps) for s in styles[1:]}
        | {ANY_STYLE: pose_statistics(clips, cfg.fps)},
        "clips": _fingerprint(arrays), "train_config": asdict(cfg),
    }
    B, H = cfg.batch_size, cfg.hidden
    h = torch.zeros(cfg.layers, B, H, device=dev)
    c = torch.zeros(cfg.layers, B, H, device=dev)
    step = 0

    found = checkpoints(out) if cfg.resume else []
    if found:
        ck = found[-1]
        meta = json.loads((ck / "trainer.json").read_text())
        if meta["clips"] != _fingerprint(arrays):
            raise DancenowError(f"cannot resume from {ck}: the training data differ from that run's (use a new folder or --no-resume)")
        old_cfg, new_cfg = meta["config"], json.loads(json.dumps(asdict(cfg)))
        changed = sorted(k for k in new_cfg if k not in _BOOKKEEPING and old_cfg.get(k) != new_cfg[k])
        if changed:
            raise DancenowError(f"cannot resume from {ck}: settings differ from that run's ({', '.join(changed)}); "
                                "use a new folder or --no-resume")
        if old_cfg.get("steps") != cfg.steps:
            log.warning("resuming with %d steps instead of %s: the learning-rate schedule changes", cfg.steps, old_cfg.get("steps"))
        model.load_state_dict(load_file(str(ck / "model.safetensors")))
        opt.load_state_dict(torch.load(ck / "optimizer.pt", weights_only=True))
        stream.load_state_dict(meta["stream"])
        tt = load_file(str(ck / "trainer.safetensors"))
        h, c = tt["h"].to(dev), tt["c"].to(dev)
        torch.set_rng_state(tt["torch_rng"])
        step = int(meta["step"])
        log.info("resuming from %s (step %d)", ck, step)
    elif out.exists() and any(out.iterdir()) and not cfg.resume:
        log.warning("%s is not empty: its old checkpoints will be replaced as new ones are written", out)
        for old in checkpoints(out):
            shutil.rmtree(old, ignore_errors=True)

    def save() -> Path:
        trainer = {"step": step, "stream": stream.state_dict(), "clips": _fingerprint(arrays), "config": asdict(cfg)}
        path = save_checkpoint(out / f"step-{step:07d}", model, {**info, "step": step}, opt, trainer,
                               {"h": h, "c": c, "torch_rng": torch.get_rng_state()})
        for old in checkpoints(out)[: -cfg.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return path

    model.train()
    last = None
    bar = tqdm(total=cfg.steps, initial=step, desc="choreo train", unit="step", disable=not cfg.progress)
    while step < cfg.steps:
        chunk, reset = stream.next()
        keep = torch.from_numpy(~reset).to(h)[None, :, None]
        h, c = h * keep, c * keep  # fresh stretches start from a zero state
        x, y, mask, style = batch_tensors(model, chunk)
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, step)
        params, (h, c) = model.run(x, style, (h, c))
        loss = nll = mixture_nll(params, y, mask)
        if cfg.rollout_weight > 0:
            win = stream.windows(cfg.rollout_batch, cfg.rollout_context + cfg.rollout_frames)
            if win is not None:
                loss = loss + cfg.rollout_weight * rollout_loss(model, win[0], cfg.rollout_context)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        h, c = h.detach(), c.detach()
        step += 1
        bar.update(1)
        if step % 10 == 0:
            bar.set_postfix(nll=f"{nll.item():.3f}", loss=f"{loss.item():.3f}")
        if not math.isfinite(loss.item()):
            raise DancenowError(f"training diverged at step {step} (loss {loss.item()}); lower the learning rate")
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            last = save()
    bar.close()
    if last is None:  # resumed a finished run
        last = found[-1] if found else save()
    return last
