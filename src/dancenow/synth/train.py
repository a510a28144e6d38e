"""Training: `train(cfg, data_dir, out_dir) -> Path` (the model directory).

Stages, as in "Everybody Dance Now": global generator -> (optionally) local enhancer -> face
GAN. Each step of the image stages takes frame pairs (t, t+1):

    I_t   = G(x_t, 0)                   # the first frame of a pair sees no previous frame
    I_t+1 = G(x_t+1, I_t)               # temporal conditioning (gradients flow through I_t)
    D sees (x_t, x_t+1, I_t, I_t+1) against (x_t, x_t+1, y_t, y_t+1), multi-scale LSGAN
    G loss = gan + 10 * feature matching + 10 * L1 + 10 * VGG19 (when its weights are available)
             + alpha * L1(G's alpha, the real frame's person mask)   (plate models)

The weights are the config's (LossWeights): the paper preset uses the pix2pixHD ones above; the
cpu-small preset drops the adversarial terms (then D is neither run nor trained) and
supervises the alpha: in a CPU budget its generator only corrects a posed exemplar, and the
adversarial terms turned that correction into grain.

x_t is the label plus what the config enables (dancenow.synth.generate): the exemplar (the
nearest bank frame at least `exclude_seconds` away in time, the same for both frames of a
pair) and the background plate, over which G's colour + alpha is composited. An exponential
moving average of G's weights (`train.ema`) is what the held-out figures and the model use.

The face stage freezes G and trains a residual generator on face crops against a face PatchGAN
(gan + feature matching + VGG on the crops). Adam (lr 2e-4, betas 0.5, 0.999), constant, then
linear decay to 0 over the last `decay_fraction` of each stage.

Bookkeeping in the output directory: checkpoints/ (atomic, last K kept, `resume=True` continues
exactly: weights, optimizers, step, RNG states and data order), samples/ (label | generated |
real grids), tb/ (TensorBoard events), losses.jsonl and metrics.jsonl, train_summary.json, and
the model files (see dancenow.synth.model) refreshed at every checkpoint. Ctrl-C finishes the
current step, saves a checkpoint and the model, then raises KeyboardInterrupt.

Runs on CPU or GPU from the same code; bf16 autocast and channels_last on CUDA; multi-process
with torchrun + DistributedDataParallel (gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from dancenow.errors import DancenowError
from dancenow.synth import checkpoint as ckpt
from dancenow.synth.config import SynthConfig
from dancenow.synth.data import Batch, EpochSampler, SynthData, to_float
from dancenow.synth.distributed import DistInfo, any_flag, gather_strings, init_distributed, shutdown, weights_digest, wrap
from dancenow.synth.exemplar import ExemplarChooser, body_scale, descriptors, nearest_sets, posed_blend, select_bank
from dancenow.synth.generate import Conditioning, crop_faces, generate, refine_faces, step, to_tensor, to_uint8
from dancenow.synth.losses import FeatureMatchingLoss, GANLoss, SSIMLoss, VGGLoss, find_vgg_weights, load_vgg19
from dancenow.synth.model import ExemplarBank, _cpu_bf16, export_model
from dancenow.synth.networks import (
    build_discriminator, build_face_discriminator, build_face_generator, build_generator, build_global_generator,
    downsample2x,
)

log = logging.getLogger(__name__)

STAGE_IDS = {"global": 0, "local": 1, "face": 2}


class PairGenerator(nn.Module):
    """Both frames of a pair in one forward pass (so DistributedDataParallel sees one forward per
    backward): I_t = G(x_t, 0), I_t+1 = G(x_t+1, I_t); without temporal smoothing, two
    independent frames. Tensors in, tensors out (DDP scatters tensors)."""

    def __init__(self, generator: nn.Module, cfg: SynthConfig):
        super().__init__()
        self.generator, self.cfg = generator, cfg

    def forward(self, x0: torch.Tensor, x1: torch.Tensor, ex0: torch.Tensor | None, ex1: torch.Tensor | None,
                exl0: torch.Tensor | None, exl1: torch.Tensor | None, exa0: torch.Tensor | None,
                exa1: torch.Tensor | None, plate: torch.Tensor | None,
                inside: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Labels x0, x1, each frame's exemplar (and its label, or its alpha), the plate:
        (B, C, H, W) or None. Returns the two frames, then their alphas when there is a plate."""
        c0, c1 = Conditioning(x0, ex0, exl0, plate, exa0, inside), Conditioning(x1, ex1, exl1, plate, exa1, inside)
        f0, a0 = generate(self.generator, self.cfg, c0, None)
        f1, a1 = generate(self.generator, self.cfg, c1, f0 if self.cfg.temporal else None)
        if a0 is None:  # no plate, no alpha: DDP wants tensors out
            return f0, f1
        return f0, f1, a0, a1


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Parameters of `module` need no gradient inside the block (the generator's pass through
    the discriminator must not leave gradients on the discriminator)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, f in zip(module.parameters(), flags):
            p.requires_grad_(f)


def alpha_weights(masks: np.ndarray, band: float) -> np.ndarray:
    """(N, H, W) uint8 weights of the alpha term for person masks (N, H, W) uint8 0-255: 0 in a
    band `band` x H wide just outside each mask (> 127), else 1."""
    import cv2

    w = np.ones(masks.shape, np.uint8)
    r = int(round(band * masks.shape[1]))
    if r < 1:
        return w
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    for i, m in enumerate(masks):
        inside = (m > 127).astype(np.uint8)
        w[i] = 1 - (cv2.dilate(inside, disk) - inside)
    return w


def _weighted_l1(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """Mean |a - b| over the pixels of weight w (all of them alike when w is None)."""
    if w is None:
        return F.l1_loss(a, b)
    return ((a - b).abs() * w).sum() / w.sum().clamp_min(1.0)


def _split(preds: list[list[torch.Tensor]], n: int) -> tuple[list, list]:
    """Per-scale feature lists of a batch [real; fake] -> (real part, fake part)."""
    return [[f[:n] for f in s] for s in preds], [[f[n:] for f in s] for s in preds]


class Trainer:
    """The training state and one step of each stage. `train()` drives it; tests and benchmarks
    may call `train_step` / `loss_terms` directly."""

    def __init__(self, cfg: SynthConfig, data: SynthData, out: str | os.PathLike, dist: DistInfo | None = None,
                 vgg: nn.Module | None = None, progress: bool = True):
        self.cfg = cfg.validate()
        self.data = data
        self.out = Path(out)
        self.dist = dist or DistInfo(0, 1, 0, torch.device("cpu"))
        self.device = self.dist.device
        self.progress = progress
        if tuple(data.size) != tuple(cfg.image_size):
            raise DancenowError(f"data in {data.path} is {data.size[0]}x{data.size[1]}, the config wants {cfg.image_size[0]}x{cfg.image_size[1]}")
        if cfg.plate and data.plate is None:
            raise DancenowError(f"{data.path} has no background plate ({data.camera} camera): train with plate off")
        t = cfg.train
        cuda = self.device.type == "cuda"
        self.amp = t.amp == "bf16" or (t.amp == "auto" and (torch.cuda.is_bf16_supported() if cuda else _cpu_bf16()))
        self.channels_last = t.channels_last == "on" or (t.channels_last == "auto" and cuda)

        torch.manual_seed(t.seed)
        self.global_generator = build_global_generator(cfg)
        self.generator: nn.Module = self.global_generator  # becomes the LocalEnhancer in the local stage
        self.D = build_discriminator(cfg)
        self.face_G = build_face_generator(cfg) if cfg.face.enabled else None
        self.face_D = build_face_discriminator(cfg) if cfg.face.enabled else None
        for m in self._modules():
            self._place(m)
        self.ema = self._ema_copy() if t.ema > 0 else None
        self.gan = GANLoss()
        self.fm = FeatureMatchingLoss(cfg.discriminator.n_layers, cfg.discriminator.num_D)
        self.ssim = SSIMLoss()
        self.face_fm = FeatureMatchingLoss(cfg.face.n_layers, 1)
        self.vgg = VGGLoss(vgg).to(self.device) if vgg is not None else None
        self.plate = to_tensor(data.plate, self.device) if cfg.plate else None  # (1, 3, H, W)
        self.inside = torch.from_numpy(data.crop.inside())[None, None].to(self.device) if cfg.plate else None

        # Every frame's person mask, when the loss supervises the alpha (LossWeights.alpha).
        # A frame whose mask missed the person even after the plate fallback (plate.mask_cover)
        # is left out of the alpha term (frame_ok) and of the exemplar bank.
        self.frame_alphas = self.alpha_weights = self.frame_ok = None
        if cfg.plate and cfg.loss.alpha > 0:
            from dancenow.synth.plate import MASK_COVER, mask_cover, person_alphas

            self.frame_alphas = person_alphas(np.asarray(data.frames), data.plate, data.keypoints)
            ok = mask_cover(self.frame_alphas, data.keypoints) >= MASK_COVER
            if not ok.all():
                log.info("person masks: %d of %d frames show no person where their pose is; left out of the alpha "
                         "term and the exemplar bank", int((~ok).sum()), len(ok))
                self.frame_ok = ok
            if cfg.loss.alpha_band > 0:  # else every pixel counts alike: no weights to carry per step
                self.alpha_weights = alpha_weights(self.frame_alphas, cfg.loss.alpha_band)

        # Exemplars: a bank of training frames covering the poses (with the person cut out of
        # each, for posing), and each frame's exemplars for training (the nearest bank frames at
        # least `exclude` frames away, as many as are blended), as positions in the bank. A
        # frame's posed blend never changes, so it is kept once made (up to _POSED_CACHE bytes).
        self.bank = self.exemplar_of = self.bank_alphas = None
        if cfg.exemplar.enabled:
            train_idx = np.arange(data.train.start, data.train.stop)
            offered = train_idx
            if self.frame_ok is not None and self.frame_ok[train_idx].any():
                offered = train_idx[self.frame_ok[train_idx]]
            bank = offered[select_bank(data.keypoints[offered], cfg.exemplar.bank)]
            if cfg.exemplar.warp and self.frame_alphas is not None:
                self.bank_alphas = self.frame_alphas[bank]  # drawn from frames whose masks passed above
            elif cfg.exemplar.warp:
                from dancenow.synth.plate import MASK_COVER, mask_cover, person_alphas

                alphas = person_alphas(np.asarray(data.frames[bank]), data.plate, data.keypoints[bank])
                usable = mask_cover(alphas, data.keypoints[bank]) >= MASK_COVER
                if usable.any() and not usable.all():
                    log.info("exemplars: %d of %d bank frames show no person where their pose is; left out",
                             int((~usable).sum()), len(usable))
                    bank, alphas = bank[usable], alphas[usable]
                self.bank_alphas = alphas
            self.bank = bank
            exclude = max(1, int(round(cfg.exemplar.exclude_seconds * data.fps)))
            every = np.arange(len(data))
            ex = cfg.exemplar
            self.exemplar_of = nearest_sets(descriptors(data.keypoints), descriptors(data.keypoints[self.bank]),
                                            body_scale(data.keypoints[train_idx]), every, self.bank, exclude,
                                            ex.fused, ex.within)

        self._posed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._posed_bytes = 0
        self.step = 0
        self.stage: str | None = None
        self.face_trained = False
        self.sampler: EpochSampler | None = None
        self.opt_G = self.opt_D = None
        self.last_metrics: dict = {}
        self.on_step: Callable[[int], None] | None = None
        self._stop = False
        self.time_budget: float | None = None  # seconds; fixes the step count after calibration
        self._budget_mark: tuple[int, float] | None = None

    # relative cost of one step per stage, against a global step (for a time budget): the local
    # stage runs the global network plus a front and back at 4x the pixels; the face stage runs
    # the generator without gradients and a small network on crops.
    STAGE_COST = {"global": 1.0, "local": 4.0, "face": 0.5}

    # ------------------------------------------------------------------ set-up
    def _modules(self) -> list[nn.Module]:
        return [m for m in (self.generator, self.D, self.face_G, self.face_D) if m is not None]

    def _ema_copy(self) -> nn.Module:
        return copy.deepcopy(self.generator).requires_grad_(False)

    @property
    def body(self) -> nn.Module:
        """The body generator frames are made with outside the optimizer step: the moving
        average when there is one (evaluation, the face stage, the exported model)."""
        return self.ema if self.ema is not None else self.generator

    @torch.no_grad()
    def _update_ema(self) -> None:
        # warm-up: early on the average follows closely, so a short run is not stuck near the
        # random initial weights (the usual (1 + t) / (10 + t) schedule)
        k = self.step - self.stage_at(self.step)[1]
        d = min(self.cfg.train.ema, (1.0 + k) / (10.0 + k))
        for e, p in zip(self.ema.parameters(), self.generator.parameters()):
            e.lerp_(p.detach(), 1.0 - d)
        for e, b in zip(self.ema.buffers(), self.generator.buffers()):
            e.copy_(b)

    def _place(self, m: nn.Module) -> nn.Module:
        m.to(self.device)
        if self.channels_last:
            m.to(memory_format=torch.channels_last)
        return m

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def _adam(self, groups) -> torch.optim.Adam:
        t = self.cfg.train
        return torch.optim.Adam(groups, lr=t.lr, betas=(t.beta1, t.beta2))

    def stage_at(self, step: int) -> tuple[str, int, int]:
        """(stage name, its first step, its number of steps) for a global step index."""
        start = 0
        for name, n in self.cfg.stages:
            if step < start + n:
                return name, start, n
            start += n
        name, n = self.cfg.stages[-1]
        return name, start - n, n

    def setup_stage(self, name: str) -> None:
        """Fresh optimizers, DDP wrappers and data order for a stage."""
        cfg = self.cfg
        self.stage = name
        face_side = cfg.face_crop if name == "face" else None
        if name == "local" and not hasattr(self.generator, "global_model"):
            self.generator = self._place(build_generator(cfg, global_model=self.global_generator))
            if self.ema is not None:  # the average restarts with the enhancer's fresh layers
                self.ema = self._ema_copy()
        if name in ("global", "local"):
            self.generator.requires_grad_(True)
            if name == "local":
                groups = [{"params": list(self.generator.global_model.parameters()), "name": "global"},
                          {"params": list(self.generator.front.parameters()) + list(self.generator.back.parameters()), "name": "local"}]
            else:
                groups = [{"params": list(self.generator.parameters()), "name": "global"}]
            self.opt_G = self._adam(groups)
            self.opt_D = self._adam([{"params": list(self.D.parameters()), "name": "D"}])
            self.g_train = wrap(PairGenerator(self.generator, cfg), self.dist)
            self.d_train = wrap(self.D, self.dist)
        else:  # face: the body generator is fixed from here on
            self.generator.requires_grad_(False)
            self.opt_G = self._adam([{"params": list(self.face_G.parameters()), "name": "face_G"}])
            self.opt_D = self._adam([{"params": list(self.face_D.parameters()), "name": "face_D"}])
            self.g_train = wrap(self.face_G, self.dist)
            self.d_train = wrap(self.face_D, self.dist)
        items = self.data.pair_starts("train", face_side)
        if len(items) == 0:
            raise DancenowError(f"no training frames for the {name} stage" + (" (no face found in any frame)" if face_side else ""))
        self.sampler = EpochSampler(items, cfg.train.batch_size, cfg.train.seed, STAGE_IDS[name], self.dist.rank, self.dist.world)

    def set_lr(self) -> float:
        """Constant, then linear decay to 0 over the stage's last `decay_fraction`; in the local
        stage the global part is held at 0 for `fix_global_fraction`."""
        t = self.cfg.train
        _, start, n = self.stage_at(self.step)
        k = self.step - start
        d = int(round(n * t.decay_fraction))
        lr = t.lr * (min(1.0, (n - k) / d) if d > 0 else 1.0)
        fix = int(round(n * self.cfg.local.fix_global_fraction)) if self.stage == "local" else 0
        for opt in (self.opt_G, self.opt_D):
            for g in opt.param_groups:
                g["lr"] = 0.0 if (g.get("name") == "global" and k < fix) else lr
        return lr

    # ------------------------------------------------------------------ steps
    def _inputs(self, batch: Batch) -> tuple[Conditioning, Conditioning, torch.Tensor, torch.Tensor]:
        """(conditioning of frame t, of frame t+1, real frame t, real frame t+1) on the device;
        at half size in the global stage of a local-enhancer model."""
        half = self.stage == "global" and self.cfg.local.enabled

        def prep(x):
            if x is None:
                return None
            x = x.to(self.device, non_blocking=True)
            if half:
                x = downsample2x(x)  # the global stage of a local model runs at half size
            return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

        def frame(t, i):
            return None if t is None else prep(t[:, i])

        plate, inside = prep(self.plate), prep(self.inside)
        c0, c1 = (Conditioning(prep(batch.label[:, i]), frame(batch.exemplar, i), frame(batch.exemplar_label, i), plate,
                               frame(batch.exemplar_alpha, i), inside) for i in (0, 1))
        return c0, c1, prep(batch.image[:, 0]), prep(batch.image[:, 1])

    def _pair(self, x0, x1, i0, i1) -> torch.Tensor:
        """The discriminator's input for a pair: (x_t, x_t+1, I_t, I_t+1) stacked on channels
        when temporal; else the two (x, I) frames stacked on the batch."""
        if self.cfg.temporal:
            return torch.cat([x0, x1, i0, i1], dim=1)
        return torch.cat([torch.cat([x0, i0], 1), torch.cat([x1, i1], 1)], dim=0)

    @property
    def adversarial(self) -> bool:
        """Whether the image stages train against the discriminator (LossWeights.gan or .feat)."""
        return self.cfg.loss.gan > 0 or self.cfg.loss.feat > 0

    def _image_losses(self, batch: Batch):
        w = self.cfg.loss
        c0, c1, y0, y1 = self._inputs(batch)
        x0, x1 = c0.label, c1.label
        zero = torch.zeros((), device=self.device)
        with self._autocast():
            out = self.g_train(x0, x1, c0.exemplar, c1.exemplar, c0.exemplar_label, c1.exemplar_label,
                               c0.exemplar_alpha, c1.exemplar_alpha, c0.plate, c0.inside)
            f0, f1 = out[:2]
            if self.adversarial:
                real, fake = self._pair(x0, x1, y0, y1), self._pair(x0, x1, f0, f1)
                n = real.shape[0]
                pred_real, pred_fake_d = _split(self.d_train(torch.cat([real, fake.detach()], 0)), n)
                d_real, d_fake = self.gan(pred_real, True), self.gan(pred_fake_d, False)
                with frozen(self.D):
                    pred_fake = self.D(fake)
                g_gan = self.gan(pred_fake, True)
                g_feat = self.fm(pred_fake, pred_real)
            else:  # no adversarial term: the discriminator is neither run nor trained
                d_real = d_fake = g_gan = g_feat = zero
            g_vgg = 0.5 * (self.vgg(f0, y0) + self.vgg(f1, y1)) if self.vgg is not None else zero
            g_l1 = 0.5 * (F.l1_loss(f0.float(), y0.float()) + F.l1_loss(f1.float(), y1.float())) if w.l1 > 0 else zero
            g_ssim = 0.5 * (self.ssim(f0, y0) + self.ssim(f1, y1)) if w.ssim > 0 else zero
            g_alpha = zero
            if self.frame_alphas is not None:
                (m0, m1), (k0, k1) = self._true_alphas(batch.index)
                g_alpha = 0.5 * (_weighted_l1(out[2].float(), m0, k0) + _weighted_l1(out[3].float(), m1, k1))
            loss_G = w.gan * g_gan + w.feat * g_feat + w.vgg * g_vgg + w.l1 * g_l1 + w.ssim * g_ssim + w.alpha * g_alpha
            loss_D = 0.5 * (d_real + d_fake)
        terms = {"G": loss_G, "G_gan": g_gan, "G_feat": g_feat, "G_l1": g_l1, "G_ssim": g_ssim, "G_vgg": g_vgg, "G_alpha": g_alpha,
                 "D": loss_D, "D_real": d_real, "D_fake": d_fake}
        return loss_G, loss_D, terms

    def _true_alphas(self, index: torch.Tensor):
        """The person masks of frames t and t+1 of a batch ((B,) frame indices t), each
        (B, 1, H, W) in [0, 1] on the device, at the stage's size, and the alpha term's weights
        of their pixels (0 in the band around each mask and on frames whose mask missed the
        person; None when every pixel counts): ((m0, m1), (w0, w1) or (None, None))."""
        t = index.numpy()

        def pair(arr: np.ndarray, scale: float):
            m = torch.from_numpy(np.stack([arr[t], arr[t + 1]], 1)).float().div_(scale)[:, :, None].to(self.device)
            if self.stage == "global" and self.cfg.local.enabled:
                return downsample2x(m[:, 0]), downsample2x(m[:, 1])
            return m[:, 0], m[:, 1]

        masks = pair(self.frame_alphas, 255.0)
        weights = pair(self.alpha_weights, 1.0) if self.alpha_weights is not None else (None, None)
        if self.frame_ok is not None:  # frames whose mask missed the person teach the alpha nothing
            ok = [torch.from_numpy(self.frame_ok[t + i].astype(np.float32)).to(self.device)[:, None, None, None]
                  .expand_as(m) for i, m in enumerate(masks)]
            weights = tuple(k if w is None else w * k for w, k in zip(weights, ok))
        return masks, weights

    def _face_losses(self, batch: Batch):
        cfg, w, side = self.cfg, self.cfg.loss, self.cfg.face_crop
        c0, c1, y0, y1 = self._inputs(batch)
        x0, x1 = c0.label, c1.label
        b0, b1 = batch.face[:, 0], batch.face[:, 1]
        with torch.no_grad(), self._autocast():  # the body generator is fixed in this stage
            g0, _ = generate(self.body, cfg, c0, None)
            p0 = refine_faces(self.face_G, x0, g0.float(), b0, side) if cfg.temporal else None  # as transfer's prev
            g1, _ = generate(self.body, cfg, c1, p0)
        lab = torch.cat([crop_faces(x0, b0, side), crop_faces(x1, b1, side)])
        base = torch.cat([crop_faces(g0, b0, side), crop_faces(g1, b1, side)]).float()
        real = torch.cat([crop_faces(y0, b0, side), crop_faces(y1, b1, side)])
        with self._autocast():
            face = base + self.g_train(lab, base)
            n = lab.shape[0]
            real_in, fake_in = torch.cat([lab, real], 1), torch.cat([lab, face], 1)
            pred_real, pred_fake_d = _split([self.d_train(torch.cat([real_in, fake_in.detach()], 0))], n)
            d_real, d_fake = self.gan(pred_real, True), self.gan(pred_fake_d, False)
            with frozen(self.face_D):
                pred_fake = [self.face_D(fake_in)]
            g_gan = self.gan(pred_fake, True)
            g_feat = self.face_fm(pred_fake, pred_real)
            g_vgg = self.vgg(face, real) if self.vgg is not None else torch.zeros((), device=self.device)
            g_l1 = F.l1_loss(face.float(), real.float()) if w.l1 > 0 else torch.zeros((), device=self.device)
            loss_G = w.face_gan * g_gan + w.face_feat * g_feat + w.face_vgg * g_vgg + w.l1 * g_l1
            loss_D = 0.5 * (d_real + d_fake)
        terms = {"G": loss_G, "G_gan": g_gan, "G_feat": g_feat, "G_l1": g_l1, "G_vgg": g_vgg, "D": loss_D,
                 "D_real": d_real, "D_fake": d_fake}
        return loss_G, loss_D, terms

    def batch(self, starts: np.ndarray) -> Batch:
        """The pairs starting at frames `starts`, with what the current stage needs (face boxes,
        exemplars: each frame's own posed exemplar, or the pair's exemplar frame and label)."""
        starts = np.asarray(starts, np.int64)
        face_side = self.cfg.face_crop if self.stage == "face" else None
        batch = self.data.batch(starts, face_side)
        if self.exemplar_of is None:
            return batch
        if self.cfg.exemplar.warp:
            shown = [[self.posed_for(t + i) for i in (0, 1)] for t in starts]
            images = np.stack([[im for im, _ in pair] for pair in shown])  # (B, 2, H, W, 3)
            alphas = torch.from_numpy(np.stack([[a for _, a in pair] for pair in shown]))[:, :, None]  # (B, 2, 1, H, W)
            return dataclasses.replace(batch, exemplar=to_float(images), exemplar_alpha=alphas)
        pos = np.array([self.exemplar_of[t][0] for t in starts])
        frames = np.asarray(self.data.frames[self.bank[pos]])[:, None].repeat(2, axis=1)
        labels = np.asarray(self.data.labels[self.bank[pos]])[:, None].repeat(2, axis=1)
        return dataclasses.replace(batch, exemplar=to_float(frames), exemplar_label=to_float(labels))

    def exemplar_image(self, ks, t: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Bank exemplars `ks` (positions, nearest first; or one int) as shown to the generator
        for frame t: each posed to t's keypoints over the plate and fused, with the alpha (or,
        without posing, the first as it is, alpha None)."""
        ks = np.atleast_1d(np.asarray(ks, np.int64))
        if not self.cfg.exemplar.warp:
            return np.asarray(self.data.frames[int(self.bank[ks[0]])]), None
        e = self.bank[ks]
        return posed_blend([np.asarray(self.data.frames[i]) for i in e], [self.bank_alphas[k] for k in ks],
                           [self.data.keypoints[i] for i in e], self.data.keypoints[t], self.data.plate)

    _POSED_CACHE = 1 << 30  # bytes of posed blends kept in memory (about 4000 frames at 256 px)

    def posed_for(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame t's own training exemplars, posed and fused (cached: they never change). The
        alpha in 1/255 steps, cached or not (below what the generator can tell, and a resumed
        run, its cache empty, sees the same numbers)."""
        hit = self._posed.get(t)
        if hit is None:
            image, alpha = self.exemplar_image(self.exemplar_of[t], t)
            hit = (image, (alpha * 255.0 + 0.5).astype(np.uint8))
            if self._posed_bytes + image.nbytes + alpha.size <= self._POSED_CACHE:
                self._posed[t] = hit
                self._posed_bytes += image.nbytes + alpha.size
        return hit[0], hit[1].astype(np.float32) / 255.0

    def warm_exemplars(self) -> None:
        """Pose every training frame's exemplars once, before the first step, so that the time
        budget's first look at the step speed sees the steady speed (inside the budget; a run of
        fixed steps poses them as they come)."""
        from tqdm import tqdm

        if self.exemplar_of is None or self.cfg.exemplar.fused <= 1:
            return
        starts = self.data.pair_starts("train")
        frames = np.unique(np.concatenate([starts, starts + 1]))
        for t in tqdm(frames, unit="frame", desc="posing exemplars", leave=False, dynamic_ncols=True,
                      disable=not (self.progress and self.dist.is_main)):
            if self._posed_bytes >= self._POSED_CACHE:
                break
            self.posed_for(int(t))

    def train_step(self, batch: Batch) -> dict[str, float]:
        """One optimizer step of G then D on `batch`; returns the loss terms (before the step)."""
        loss_G, loss_D, terms = (self._face_losses if self.stage == "face" else self._image_losses)(batch)
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        self.opt_G.step()
        if self.ema is not None and self.stage != "face":
            self._update_ema()
        if loss_D.requires_grad:  # else no discriminator ran (LossWeights without adversarial terms)
            self.opt_D.zero_grad(set_to_none=True)
            loss_D.backward()
            self.opt_D.step()
        if self.stage == "face":
            self.face_trained = True
        return {k: float(v.detach()) for k, v in terms.items()}

    @torch.no_grad()
    def loss_terms(self, batch: Batch) -> dict[str, float]:
        """The loss terms on `batch` with the current weights, without updating anything."""
        _, _, terms = (self._face_losses if self.stage == "face" else self._image_losses)(batch)
        return {k: float(v) for k, v in terms.items()}

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self) -> tuple[dict, list[tuple[np.ndarray, ...]]]:
        """Generate the first `eval_frames` held-out frames in sequence exactly as transfer does
        (each conditioned on the previous output, the exemplar chosen with hysteresis, the face
        residual once trained; the moving-average weights) and compare them with the real
        frames: mean SSIM and PSNR (dB) over the frame and over the person's box
        (dancenow.evaluate). Returns (metrics, rows of label | [exemplar |] generated | real)."""
        from dancenow.evaluate.metrics import psnr, ssim
        from dancenow.evaluate.regions import person_box

        cfg, data = self.cfg, self.data
        frames = list(data.val)[: cfg.train.eval_frames] or list(data.train)[-cfg.train.eval_frames:]
        half = self.stage == "global" and cfg.local.enabled
        side = cfg.face_crop
        face_G = self.face_G if self.face_trained and not half else None
        boxes = data.faces(side) if face_G is not None else None
        chooser = None
        if self.bank is not None:
            ex = cfg.exemplar
            chooser = ExemplarChooser(descriptors(data.keypoints[self.bank]), body_scale(data.keypoints[data.train.start:data.train.stop]),
                                      ex.switch, ex.fused, ex.within)
        modules = self._modules() + ([self.ema] if self.ema is not None else [])
        was_training = [m.training for m in modules]
        for m in modules:
            m.eval()
        prev = None
        rows, scores = [], []
        try:
            for t in frames:
                def tensor(img):
                    x = to_tensor(np.asarray(img), self.device)
                    return downsample2x(x) if half else x

                cond = Conditioning(tensor(data.labels[t]), plate=downsample2x(self.plate) if half and self.plate is not None else self.plate,
                                    inside=downsample2x(self.inside) if half and self.inside is not None else self.inside)
                if chooser is not None:
                    ks = chooser(data.keypoints[t])
                    image, alpha = self.exemplar_image(ks, t)
                    cond.exemplar = tensor(image)
                    if alpha is not None:
                        a = torch.from_numpy(alpha)[None, None].to(self.device)
                        cond.exemplar_alpha = downsample2x(a) if half else a
                    else:
                        cond.exemplar_label = tensor(data.labels[int(self.bank[ks[0]])])
                box = torch.from_numpy(boxes[t:t + 1]) if boxes is not None else None
                with self._autocast():
                    out, _ = step(self.body, face_G, cfg, cond, prev, box)
                prev = out
                gen, real = to_uint8(out), to_uint8(tensor(data.frames[t]))
                pbox = person_box(data.keypoints[t], gen.shape[1::-1], src_size=data.size)
                ps = ssim(pbox.crop(gen), pbox.crop(real)) if pbox is not None and min(pbox.width, pbox.height) >= 7 else np.nan
                scores.append((ssim(gen, real), psnr(gen, real), ps))
                row = (to_uint8(cond.label),) + ((to_uint8(cond.exemplar),) if chooser is not None else ()) + (gen, real)
                rows.append(row)
        finally:
            for m, f in zip(modules, was_training):
                m.train(f)
        sc = np.array(scores, np.float64)
        finite_psnr = sc[:, 1][np.isfinite(sc[:, 1])]
        metrics = {"ssim": float(sc[:, 0].mean()), "psnr": float(finite_psnr.mean()) if len(finite_psnr) else float("inf"),
                   "person_ssim": float(np.nanmean(sc[:, 2])) if np.isfinite(sc[:, 2]).any() else None,
                   "frames": len(frames), "held_out": bool(len(data.val))}
        pick = np.linspace(0, len(frames) - 1, min(4, len(frames))).round().astype(int)
        return metrics, [rows[i] for i in pick]

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors: dict[str, torch.Tensor] = {}
        tensors.update(ckpt.module_tensors("generator", self.generator))
        if self.ema is not None:
            tensors.update(ckpt.module_tensors("ema", self.ema))
        tensors.update(ckpt.module_tensors("D", self.D))
        if self.face_G is not None:
            tensors.update(ckpt.module_tensors("face_G", self.face_G))
            tensors.update(ckpt.module_tensors("face_D", self.face_D))
        tg, mg = ckpt.optimizer_tensors("opt_G", self.opt_G)
        td, md = ckpt.optimizer_tensors("opt_D", self.opt_D)
        tr, mr = ckpt.rng_state()
        tensors.update(tg)
        tensors.update(td)
        tensors.update(tr)
        meta = {"step": self.step, "stage": self.stage, "generator": "local" if hasattr(self.generator, "global_model") else "global",
                "face_trained": self.face_trained, "sampler": self.sampler.state(), "opt_G": mg, "opt_D": md, "rng": mr,
                "config": self.cfg.to_dict(), "metrics": self.last_metrics, "world": self.dist.world,
                "compute": {"threads": torch.get_num_threads(), "device": self.device.type, "bf16": self.amp}}
        return tensors, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict, where: str = "checkpoint") -> None:
        if meta.get("generator") == "local" and not hasattr(self.generator, "global_model"):
            self.generator = self._place(build_generator(self.cfg, global_model=self.global_generator))
            if self.ema is not None:
                self.ema = self._ema_copy()
        ckpt.load_module("generator", self.generator, tensors, where)
        if self.ema is not None:
            ckpt.load_module("ema", self.ema, tensors, where)
        ckpt.load_module("D", self.D, tensors, where)
        if self.face_G is not None:
            ckpt.load_module("face_G", self.face_G, tensors, where)
            ckpt.load_module("face_D", self.face_D, tensors, where)
        self.step = int(meta["step"])
        self.face_trained = bool(meta.get("face_trained"))
        self.last_metrics = meta.get("metrics", {})
        self.setup_stage(meta["stage"])
        ckpt.load_optimizer("opt_G", self.opt_G, tensors, meta["opt_G"])
        ckpt.load_optimizer("opt_D", self.opt_D, tensors, meta["opt_D"])
        if int(meta.get("world", 1)) == self.dist.world:
            self.sampler.load_state(meta["sampler"])
        else:
            log.warning("resuming with %d processes, the checkpoint had %d: the data order changes", self.dist.world, meta.get("world"))
        ckpt.set_rng_state(tensors, meta["rng"])

    def save(self) -> Path | None:
        """Checkpoint (atomic; older ones beyond keep_checkpoints pruned after success) and the
        model files. Only the main process writes."""
        if not self.dist.is_main:
            return None
        folder = self.out / "checkpoints"
        tensors, meta = self.state()
        path = ckpt.save_checkpoint(ckpt.checkpoint_path(folder, self.step), tensors, meta)
        ckpt.prune_checkpoints(folder, self.cfg.train.keep_checkpoints)
        self.export()
        return path

    def export(self) -> Path:
        bank = None
        if self.bank is not None:
            bank = ExemplarBank(np.asarray(self.data.frames[self.bank]), self.data.keypoints[self.bank], self.bank,
                                self.bank_alphas)
        return export_model(self.out, self.cfg, self.body, self.face_G if self.face_trained else None,
                            self.data.body_stats_path, self.data.crop, self.step, self.last_metrics,
                            plate=self.data.plate_video if self.cfg.plate else None, bank=bank)

    # ------------------------------------------------------------------ the loop
    def _handle_sigint(self, signum, frame) -> None:
        if self._stop:  # a second Ctrl-C: stop now, without the checkpoint
            raise KeyboardInterrupt
        self._stop = True
        log.warning("interrupted: finishing this step and saving a checkpoint (Ctrl-C again to quit at once)")

    def _fit_budget(self, elapsed: float, per_step: float) -> None:
        """Scale the total step count so that training ends `time_budget` seconds after it
        started, at `per_step` seconds per global-stage step. Called while the learning rate is
        still constant, so the schedule is stretched or shrunk, never cut. The main process's
        figure is used on every process."""
        remaining = max(self.time_budget - elapsed, 0.0)
        stages = self.cfg.stages
        weights = {n: c for n, c in stages}
        unit = sum(weights[n] * self.STAGE_COST[n] for n in weights) / sum(weights.values())
        total = self.step + int(remaining / (per_step * 1.05 * unit))  # ~5%: evaluations, checkpoints
        t = torch.tensor([float(total)], device=self.device)
        if self.dist.enabled:
            import torch.distributed as dist

            if not self.dist.is_main:
                t.zero_()
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
        total = max(int(t.item()), self.step + len(stages))
        cfg = self.cfg.with_steps(total)
        if cfg.stages[0][1] <= self.step or cfg.stages[0][0] != stages[0][0]:  # never end the running stage before now
            cfg = self.cfg.with_steps_from(self.step, total)
        self.cfg = cfg.validate()
        if self.dist.is_main:
            self.cfg.save(self.out / "train_config.json")
        log.info("time budget %.1f min: %.2f s/step measured, training %d steps (%s)", self.time_budget / 60,
                 per_step, self.cfg.total_steps, ", ".join(f"{n} {c}" for n, c in self.cfg.stages))

    BUDGET_LOOKS = (0.2, 0.3, 0.4)  # fractions of the first stage where the speed is measured again

    def _budget_check(self, t_start: float, s0: int) -> None:
        """Looks at the clock: after a few steps, then at 20%, 30% and 40% of the first stage
        (the speed since the previous look, evaluations and checkpoints included), all in the
        constant-lr part of the schedule, so a machine whose load changes is followed."""
        now = time.perf_counter()
        done = self.step - s0
        if done == 1:
            self._t_first = now  # the first step carries one-off costs: time the rest
        first = self.cfg.stages[0][1]
        limit = first * (1 - self.cfg.train.decay_fraction)
        if self._budget_mark is None:
            if done >= max(5, min(30, first // 20)):
                self._fit_budget(now - t_start, (now - self._t_first) / (done - 1))
                self._budget_mark = (self.step, now)
        else:
            mark_step, mark_time = self._budget_mark
            looks = [int(f * first) for f in self.BUDGET_LOOKS if int(f * first) - mark_step >= 20 and f * first < limit]
            if not looks:
                self.time_budget = None  # too short a run to look again
            elif self.step >= looks[0]:
                self._fit_budget(now - t_start, (now - mark_time) / max(self.step - mark_step, 1))
                self._budget_mark = (self.step, now)

    def run(self, until: int | None = None) -> Path:
        """Train up to the config's total steps, or stop after step `until` with a checkpoint
        (as Ctrl-C does, but returning normally). Returns the output directory."""
        from tqdm import tqdm

        t_start = time.perf_counter()
        cfg, t = self.cfg, self.cfg.train
        total = cfg.total_steps
        stop_at = total if until is None else min(until, total)
        main = self.dist.is_main
        writer = _tensorboard(self.out / "tb", self.step) if main else None
        if self.stage is None:
            self.setup_stage(self.stage_at(self.step)[0])
        old_handler = None
        try:
            old_handler = signal.signal(signal.SIGINT, self._handle_sigint)
        except ValueError:  # not the main thread: Ctrl-C stays a plain KeyboardInterrupt
            pass
        if self.time_budget is not None:
            self.warm_exemplars()
        bar = tqdm(total=total, initial=self.step, unit="step", desc=f"train {self.stage}", dynamic_ncols=True,
                   disable=not (self.progress and main))
        t0, s0 = time.perf_counter(), self.step
        interrupted = False
        try:
            while self.step < stop_at:
                name = self.stage_at(self.step)[0]
                if name != self.stage:
                    self.setup_stage(name)
                    bar.set_description(f"train {name}")
                lr = self.set_lr()
                batch = self.batch(self.sampler.next())
                terms = self.train_step(batch)
                self.step += 1
                bar.update(1)
                if self.on_step is not None:
                    self.on_step(self.step)
                if self.time_budget is not None:
                    self._budget_check(t_start, s0)
                    cfg, t = self.cfg, self.cfg.train
                    total = cfg.total_steps
                    stop_at = total if until is None else min(until, total)
                    bar.total = total
                    bar.refresh()
                if self.step % t.log_every == 0 or self.step == stop_at:
                    rate = (self.step - s0) / max(time.perf_counter() - t0, 1e-9)
                    shown = ("G", "G_feat", "G_l1", "G_alpha", "D") if self.adversarial or self.stage == "face" else ("G", "G_l1", "G_alpha")
                    shown += ("G_ssim",) if self.cfg.loss.ssim > 0 else ()
                    bar.set_postfix({k: f"{terms[k]:.3f}" for k in shown if k in terms}, refresh=False)
                    if main:
                        _append_jsonl(self.out / "losses.jsonl", {"step": self.step, "stage": self.stage, "lr": lr,
                                                                  "steps_per_s": rate, **terms})
                        if writer is not None:
                            for k, v in terms.items():
                                writer.add_scalar(f"loss/{self.stage}/{k}", v, self.step)
                            writer.add_scalar("train/lr", lr, self.step)
                            writer.add_scalar("train/steps_per_s", rate, self.step)
                _, start, n = self.stage_at(self.step - 1)
                stage_end = self.step == start + n
                if main and (self.step % t.eval_every == 0 or self.step % t.sample_every == 0 or stage_end):
                    self._eval_and_sample(writer, metrics=self.step % t.eval_every == 0 or stage_end,
                                          samples=self.step % t.sample_every == 0 or stage_end)
                if self.step % t.checkpoint_every == 0 or stage_end:
                    self.save()
                if any_flag(self._stop, self.dist):
                    interrupted = True
                    break
        finally:
            bar.close()
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
            if writer is not None:
                writer.close()
        if interrupted or self.step < total:
            if not ckpt.checkpoint_path(self.out / "checkpoints", self.step).is_file():
                self.save()
            if interrupted:
                log.warning("checkpoint saved at step %d in %s; continue with --resume", self.step, self.out / "checkpoints")
                raise KeyboardInterrupt
            return self.out
        self._finish(time.perf_counter() - t0, self.step - s0)
        return self.out

    def _eval_and_sample(self, writer, metrics: bool, samples: bool) -> None:
        m, rows = self.evaluate()
        m = {"step": self.step, "stage": self.stage, **m}
        if metrics:
            self.last_metrics = m
            _append_jsonl(self.out / "metrics.jsonl", m)
            if writer is not None:
                writer.add_scalar("eval/ssim", m["ssim"], self.step)
                writer.add_scalar("eval/psnr", m["psnr"], self.step)
            person = f", person {m['person_ssim']:.3f}" if m.get("person_ssim") is not None else ""
            log.info("step %d (%s): held-out SSIM %.3f%s, PSNR %.2f dB over %d frames", self.step, self.stage, m["ssim"],
                     person, m["psnr"], m["frames"])
        if samples:
            from dancenow.images import write_image

            grid = sample_grid(rows)
            write_image(self.out / "samples" / f"step-{self.step:08d}.png", grid)
            if writer is not None:
                writer.add_image("samples", grid, self.step, dataformats="HWC")

    def _finish(self, seconds: float, steps: int) -> None:
        digests = gather_strings(weights_digest(self.generator, self.D, self.face_G, self.face_D), self.dist)
        if self.dist.is_main:
            if len(set(digests)) != 1:
                raise DancenowError(f"processes ended with different weights ({len(set(digests))} versions): the distributed run is broken")
            summary = {"steps": self.step, "steps_this_run": steps, "seconds_this_run": round(seconds, 2),
                       "steps_per_s": steps / seconds if seconds > 0 else None,
                       "samples_per_s": steps * self.cfg.train.batch_size * self.dist.world / seconds if seconds > 0 else None,
                       "world": self.dist.world, "device": str(self.device), "bf16": self.amp, "channels_last": self.channels_last,
                       "vgg": self.vgg is not None, "face": self.face_trained, "metrics": self.last_metrics,
                       "rank_weight_digests": digests}
            from dancenow.atomic import write_json

            write_json(self.out / "train_summary.json", summary)


def sample_grid(rows: list[tuple[np.ndarray, ...]]) -> np.ndarray:
    """Rows of images (label | [exemplar |] generated | real), 2 px grey gaps, one uint8 RGB image."""
    gap = 2
    h, w = rows[0][0].shape[:2]
    k = len(rows[0])
    out = np.full((len(rows) * (h + gap) - gap, k * (w + gap) - gap, 3), 128, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            out[i * (h + gap): i * (h + gap) + h, j * (w + gap): j * (w + gap) + w] = img
    return out


def _append_jsonl(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _tensorboard(folder: Path, step: int):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:  # tensorboard is a dependency; do not fail training over logs
        log.warning("TensorBoard logging off (%s)", e)
        return None
    return SummaryWriter(log_dir=str(folder), purge_step=step or None)


# --------------------------------------------------------------------------- the entry point

def _resume_point(folder: Path) -> tuple[Path, dict[str, torch.Tensor], dict]:
    """The newest intact checkpoint in `folder`: a damaged newer one is reported in one line
    and skipped (it is replaced when training passes its step again)."""
    existing = ckpt.list_checkpoints(folder)
    if not existing:
        raise DancenowError(f"nothing to resume: no checkpoint in {folder}")
    for path in reversed(existing):
        try:
            tensors, meta = ckpt.load_checkpoint(path)
            return path, tensors, meta
        except DancenowError as e:
            log.warning("%s; trying the previous checkpoint", e)
    raise DancenowError(f"no intact checkpoint in {folder} ({len(existing)} damaged): cannot resume")


def _restore_compute(meta: dict, device: torch.device, threads: int | None) -> None:
    """Resume on the thread count the run used (float sums depend on how work is split over
    threads), or say in one line why the continuation cannot be bit-exact."""
    rec = meta.get("compute") or {}
    if rec.get("device") and rec["device"] != device.type:
        log.warning("the run was trained on %s, it continues on %s: training continues, but not bit-exactly", rec["device"], device.type)
    want = rec.get("threads")
    if not want or device.type != "cpu":
        return
    if threads is not None and threads != want:
        log.warning("the run used %d CPU threads, --threads asks for %d: training continues, but not bit-exactly", want, threads)
    elif torch.get_num_threads() != want:
        log.info("resuming on %d CPU threads, as the run was trained", want)
        torch.set_num_threads(int(want))


def train(cfg: SynthConfig, data_dir: str | os.PathLike, out_dir: str | os.PathLike, *, resume: bool = False,
          steps: int | None = None, vgg_weights: str | os.PathLike | None = None, device: str | None = None,
          minutes: float | None = None, progress: bool = True, until: int | None = None,
          on_step: Callable[[int], None] | None = None, threads: int | None = None) -> Path:
    """Train a target-person model on a prepared data directory; returns the model directory
    (`out_dir`, which also holds checkpoints/, samples/, tb/ and the loss logs).

    cfg: the configuration (a preset or a loaded JSON); its image size must be the data's. A
        plate config on data whose camera moved trains whole frames (with a warning).
    resume: continue from the newest intact checkpoint in out_dir/checkpoints, exactly (on the
        thread count the run used), with the checkpoint's config (`steps` may still extend or
        shorten the run).
    steps: total steps over all stages (scaled from the config's split).
    vgg_weights: a VGG19 checkpoint; default torchvision's cache file, else no VGG loss.
    device: 'cpu', 'cuda', 'auto' (default). Under torchrun each process takes its LOCAL_RANK GPU.
    minutes: a wall-time budget: the step count (instead of `steps`) is set from the speed of
        the first steps so that training ends in about this time (checkpoints, evaluations and
        a changing machine load make it approximate, within ~10%).
    until: stop after this many steps with a checkpoint, as an interruption would (for tests).
    on_step: called with the step number after every step (for tests and benchmarks).
    threads: CPU threads the command asked for (None: its default, or the resumed run's).
    A second training into a run directory that is in use is refused (a lock file).
    """
    out = Path(out_dir)
    dist = init_distributed(device)
    if not dist.is_main:
        logging.getLogger("dancenow").setLevel(logging.ERROR)  # one process speaks
    finished = False
    try:
        data = SynthData(data_dir)
        from dancenow.guard import run_lock

        with run_lock(out, "training run folder") if dist.is_main else contextlib.nullcontext():
            if resume:
                where, tensors, meta = _resume_point(out / "checkpoints")
                cfg = SynthConfig.from_dict(meta["config"], str(where))
                _restore_compute(meta, dist.device, threads)
            else:
                if ckpt.list_checkpoints(out / "checkpoints"):
                    raise DancenowError(f"{out} already holds a training run: pass --resume to continue it, or choose another output directory")
                if tuple(cfg.image_size) != tuple(data.size):
                    log.info("training at the data's size %dx%d (the preset says %dx%d)", *data.size, *cfg.image_size)
                    cfg = cfg.with_image_size(data.size)
                if cfg.plate and data.plate is None:
                    log.warning("%s has no background plate (the camera %s): training whole frames",
                                data.path, "moved" if data.camera == "moving" else "was not checked: data prepared by an older dancenow")
                    cfg = dataclasses.replace(cfg, plate=False)
            if steps is not None:
                cfg = cfg.with_steps_from(int(meta["step"]), steps) if resume else cfg.with_steps(steps)
            cfg.validate()
            vgg_path = find_vgg_weights(vgg_weights)
            vgg = load_vgg19(vgg_path) if vgg_path is not None else None
            if dist.is_main:
                out.mkdir(parents=True, exist_ok=True)
                cfg.save(out / "train_config.json")
            trainer = Trainer(cfg, data, out, dist, vgg, progress)
            trainer.on_step = on_step
            if minutes is not None:
                if minutes <= 0:
                    raise DancenowError(f"the time budget must be positive, got {minutes} minutes")
                if resume:
                    log.warning("--minutes ignored when resuming: the run keeps its step count (use --steps to change it)")
                else:
                    trainer.time_budget = 60.0 * minutes
            if resume:
                if int(meta["step"]) > cfg.total_steps:
                    raise DancenowError(f"the checkpoint is at step {meta['step']}, beyond the {cfg.total_steps} steps asked for")
                trainer.load_state(tensors, meta, str(where))
                log.info("resuming at step %d (%s stage) from %s", trainer.step, trainer.stage, where)
            trainer.run(until=until)
            finished = True
            return out
    finally:
        shutdown(dist, finished)


def train_run(cfg: SynthConfig, data_dir: str | os.PathLike, out_dir: str | os.PathLike, *, resume: bool = False,
              steps: int | None = None, minutes: float | None = None, batch_size: int | None = None,
              vgg_weights: str | os.PathLike | None = None, device: str | None = None, threads: int | None = None,
              progress: bool = True) -> str | None:
    """`dancenow train`: `train` with the command's extras (batch size, torch threads); returns
    a line naming the model and its held-out figures, or None in a process other than rank 0."""
    import json

    if threads is not None:
        torch.set_num_threads(threads)
    if batch_size is not None:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=batch_size))
    out = train(cfg, data_dir, out_dir, resume=resume, steps=steps, minutes=minutes, vgg_weights=vgg_weights,
                device=device, progress=progress, threads=threads)
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    summary = out / "train_summary.json"
    m = json.loads(summary.read_text()).get("metrics", {}) if summary.is_file() else {}
    person = f", person {m['person_ssim']:.3f}" if m.get("person_ssim") is not None else ""
    figures = f" (held-out SSIM {m['ssim']:.3f}{person}, PSNR {m['psnr']:.2f} dB)" if "ssim" in m else ""
    return f"{out}{figures}"
