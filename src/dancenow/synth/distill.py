"""Distillation: teach the small student generator (dancenow.synth.student) to draw what a
trained model's generator (the teacher) draws, on the model's own prepared training data.

    1. run the teacher over the training frames in order, as transfer runs it (each frame
       conditioned on the previous output, the exemplar chosen and posed by pose), and keep
       its inputs (label, previous frame, posed exemplar and its alpha) and its body output
       (image and alpha, before the face generator, which the student keeps using);
    2. train the student on those inputs with L1 to the teacher's image and alpha: no
       discriminator, no perceptual network (the teacher already learned what looks right;
       the student only has to copy it, which a plain regression does);
    3. save it beside the teacher with the teacher's sha256 (a retrained teacher makes it stale).

The student starts where the teacher's training started: a residual exemplar model's last layer
at zero draws the posed exemplar, so the first steps are already a fair picture.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dancenow.atomic import file_sha256
from dancenow.errors import DancenowError
from dancenow.synth.data import SynthData
from dancenow.synth.generate import Conditioning, generate, refine_faces
from dancenow.synth.model import GENERATOR_FILE, SynthModel, _cpu_bf16
from dancenow.synth.student import StudentConfig, build_student, save_student

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistillConfig:
    """steps: optimizer steps; batch_size: frames per step; lr: Adam's, decayed linearly to 0
    over the last half; max_frames: training frames the teacher is run on (evenly spaced runs
    of consecutive frames beyond that, to bound memory: about 1 MB a frame at 256 px);
    alpha_weight: L1 on the alpha beside L1 on the image."""

    steps: int = 1500
    batch_size: int = 4
    lr: float = 1e-3
    max_frames: int = 600
    alpha_weight: float = 1.0
    seed: int = 0
    student: StudentConfig = StudentConfig()


@dataclass(frozen=True)
class DistillResult:
    path: Path  # the student's weights
    steps: int
    seconds: float
    train_l1: float  # mean |student - teacher| image L1 ([-1, 1] scale) over the last 10% of steps
    val_l1: float  # the same on held-out frames (teacher's inputs), after training
    val_l1_start: float  # ... and before (the student drawing the posed exemplar)


def _u8(t: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) float in [-1, 1] -> (C, H, W) uint8 (what is kept of each frame)."""
    return ((t[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def _f(t: torch.Tensor) -> torch.Tensor:
    return t.float().div(127.5).sub(1.0)


def teacher_frames(model: SynthModel, data: SynthData, frames: np.ndarray, progress: bool = True) -> dict[str, torch.Tensor]:
    """Run the teacher over `frames` (indices into data, in order: a gap starts a new sequence)
    and keep, per frame, uint8 (N, C, H, W): label, prev (its previous output, zeros at a
    sequence's start), exemplar, exemplar_alpha (may be absent), image and alpha (the body
    generator's output; alpha absent without a plate)."""
    from tqdm import tqdm

    keep: dict[str, list[torch.Tensor]] = {k: [] for k in ("label", "prev", "exemplar", "exemplar_alpha", "image", "alpha")}
    chooser, prev, last = None, None, None
    for t in tqdm(frames, desc="teacher", unit="frame", disable=not progress):
        if last is None or t != last + 1:
            chooser, prev = model.chooser(), None
        last = int(t)
        kp = np.asarray(data.keypoints[t], np.float32)
        inp = model.prepare_step(np.array(data.labels[t]), kp, chooser)
        with torch.no_grad(), torch.autocast(device_type=model.device.type, dtype=torch.bfloat16, enabled=model.amp):
            body, alpha = generate(model.generator, model.config, inp.cond, prev)
            final = body.float()  # with the face (as generate.step): what the next frame sees, as in transfer
            if model.face_generator is not None and inp.face_box is not None:
                final = refine_faces(model.face_generator, inp.cond.label, final, inp.face_box, model.config.face_crop)
        c = inp.cond
        keep["label"].append(_u8(c.label))
        keep["prev"].append(_u8(prev) if prev is not None else torch.full_like(_u8(c.label), 128))  # ~0: zeros
        if c.exemplar is not None:
            keep["exemplar"].append(_u8(c.exemplar))
        if c.exemplar_alpha is not None:
            keep["exemplar_alpha"].append(_u8(c.exemplar_alpha * 2 - 1))
        keep["image"].append(_u8(body))
        if alpha is not None:
            keep["alpha"].append(_u8(alpha * 2 - 1))
        prev = final
    return {k: torch.stack(v) for k, v in keep.items() if v}


def _conditioning(model: SynthModel, batch: dict[str, torch.Tensor], idx: torch.Tensor) -> tuple[Conditioning, torch.Tensor | None]:
    cond = Conditioning(_f(batch["label"][idx]), plate=model._plate, inside=model._inside)
    if "exemplar" in batch:
        cond.exemplar = _f(batch["exemplar"][idx])
        cond.exemplar_alpha = (_f(batch["exemplar_alpha"][idx]) + 1) / 2  # posed exemplars only (checked)
    prev = _f(batch["prev"][idx]) if model.config.temporal else None
    return cond, prev


def _loss(student, model: SynthModel, batch: dict[str, torch.Tensor], idx: torch.Tensor, alpha_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    cond, prev = _conditioning(model, batch, idx)
    image, alpha = generate(student, model.config, cond, prev)
    l1 = (image.float() - _f(batch["image"][idx])).abs().mean()
    loss = l1
    if alpha is not None and "alpha" in batch:
        loss = loss + alpha_weight * (alpha.float() - (_f(batch["alpha"][idx]) + 1) / 2).abs().mean()
    return loss, l1


def distill(model_dir: str | os.PathLike, data_dir: str | os.PathLike, config: DistillConfig = DistillConfig(),
            progress: bool = True) -> DistillResult:
    """`dancenow distill`: a student for the model in `model_dir`, trained on the prepared data
    it was trained on (`data_dir`), saved into `model_dir` (see the module docstring)."""
    from tqdm import tqdm

    model_dir = Path(model_dir)
    teacher = SynthModel.load(model_dir, device="cpu")
    data = SynthData(data_dir)
    if tuple(data.size) != teacher.image_size:
        raise DancenowError(f"{data_dir} holds {data.size[0]}x{data.size[1]} frames, the model draws "
                            f"{teacher.image_size[0]}x{teacher.image_size[1]}: give the data it was trained on")
    if teacher.config.exemplar.enabled and not teacher.config.exemplar.warp:
        raise DancenowError(f"{model_dir}: distilling models with unposed exemplars is not supported (retrain with posing)")
    if config.steps < 1 or config.batch_size < 1:
        raise DancenowError("distill needs at least one step of at least one frame")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    t0 = time.perf_counter()

    # 1. the teacher's inputs and outputs on the training frames (and a few held-out ones)
    train = np.arange(data.train.start, data.train.stop)
    if len(train) > config.max_frames:  # runs of 30 consecutive frames, evenly spread
        runs = np.linspace(0, len(train) - 30, config.max_frames // 30).round().astype(int)
        train = np.unique(np.concatenate([train[r: r + 30] for r in runs]))
    val = np.arange(data.val.start, data.val.stop)[:48]
    log.info("running the teacher on %d training and %d held-out frames", len(train), len(val))
    tr = teacher_frames(teacher, data, train, progress)
    va = teacher_frames(teacher, data, val, progress) if len(val) else None

    # 2. the student, trained to draw what the teacher draws
    student = build_student(teacher.config, config.student).train()
    opt = torch.optim.Adam(student.parameters(), lr=config.lr, betas=(0.9, 0.999))
    decay_from = config.steps // 2
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 1.0 if s < decay_from else max(0.0, 1.0 - (s - decay_from) / max(1, config.steps - decay_from)))
    amp = _cpu_bf16()

    def evaluate() -> float:
        if va is None:
            return float("nan")
        student.eval()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = [float(_loss(student, teacher, va, torch.arange(i, min(i + 8, len(va["label"]))), config.alpha_weight)[1])
                   for i in range(0, len(va["label"]), 8)]
        student.train()
        return float(np.mean(out))

    val_start = evaluate()
    n = len(tr["label"])
    tail: list[float] = []
    bar = tqdm(range(config.steps), desc="distill", unit="step", disable=not progress)
    for s in bar:
        idx = torch.from_numpy(rng.choice(n, size=min(config.batch_size, n), replace=False))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss, l1 = _loss(student, teacher, tr, idx, config.alpha_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if s >= config.steps - max(1, config.steps // 10):
            tail.append(float(l1.detach()))
        if s % 10 == 0:
            bar.set_postfix(l1=f"{float(l1.detach()):.4f}")
    student.eval()
    val_l1 = evaluate()

    # 3. beside the teacher, with the teacher's fingerprint
    seconds = time.perf_counter() - t0
    teacher_sha = json.loads((model_dir / "config.json").read_text()).get("files", {}).get(GENERATOR_FILE) \
        or file_sha256(model_dir / GENERATOR_FILE)
    metrics = {"train_l1": float(np.mean(tail)), "val_l1": val_l1, "val_l1_start": val_start, "seconds": seconds,
               "frames": int(n), "batch_size": config.batch_size, "lr": config.lr}
    path = save_student(model_dir, student, config.student, teacher_sha, config.steps, metrics)
    log.info("student: held-out L1 to the teacher %.4f (%.4f at the start), %d steps in %.0f s", val_l1, val_start,
             config.steps, seconds)
    return DistillResult(path, config.steps, seconds, float(np.mean(tail)), val_l1, val_start)
