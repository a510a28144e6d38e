"""Choreography checkpoints: one folder per step (`step-NNNNNNN/`) holding the model's weights
(`model.safetensors`), its config and info (`model.json`) and, for resuming, the optimizer and
trainer state. Loading never unpickles. `load_model` lives here, not in the trainer, so that
generation and live forecasting never import training code."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from dancenow.atomic import atomic_dir
from dancenow.choreo.model import ChoreoConfig, ChoreoModel
from dancenow.errors import DancenowError

CKPT_RE = re.compile(r"^step-(\d{7})$")
FORMAT = "dancenow.choreo"
VERSION = 1


def checkpoints(out_dir: str | os.PathLike) -> list[Path]:
    """Checkpoint folders in out_dir, oldest first."""
    out = Path(out_dir)
    if not out.is_dir():
        return []
    return sorted(p for p in out.iterdir() if p.is_dir() and CKPT_RE.match(p.name))


def _model_meta(model: ChoreoModel, info: dict) -> dict:
    return {"format": FORMAT, "version": VERSION, "config": model.config.to_dict(), **info}


def save_checkpoint(path: Path, model: ChoreoModel, info: dict, optimizer=None, trainer: dict | None = None,
                    trainer_tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """Write one checkpoint folder atomically (see the module docstring for its files)."""
    with atomic_dir(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
        (tmp / "model.json").write_text(json.dumps(_model_meta(model, info), indent=1))
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        if trainer is not None:
            (tmp / "trainer.json").write_text(json.dumps(trainer))
        if trainer_tensors:
            save_file({k: v.cpu().contiguous() for k, v in trainer_tensors.items()}, str(tmp / "trainer.safetensors"))
        # mkdtemp and safetensors create owner-only modes: give the usual ones (umask applies)
        mask = os.umask(0)
        os.umask(mask)
        for f in tmp.iterdir():
            os.chmod(f, 0o666 & ~mask)
        os.chmod(tmp, 0o777 & ~mask)
    return path


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint folder, or a training out_dir (its newest checkpoint)."""
    path = Path(path)
    if (path / "model.safetensors").is_file():
        return path
    found = checkpoints(path)
    if not found:
        raise DancenowError(f"no choreography model in {path} (expected model.safetensors or step-* folders)")
    return found[-1]


def load_model(path: str | os.PathLike) -> tuple[ChoreoModel, dict]:
    """(model in eval mode, its info dict: fps, dims, statistics, ...) from a checkpoint folder or
    a training out_dir."""
    ckpt = resolve_checkpoint(path)
    try:
        meta = json.loads((ckpt / "model.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DancenowError(f"{ckpt}: unreadable model.json ({type(e).__name__})") from None
    if meta.get("format") != FORMAT:
        raise DancenowError(f"{ckpt} is not a dancenow choreography model")
    if int(meta.get("version", 0)) > VERSION:
        raise DancenowError(f"{ckpt} is choreography model format v{meta['version']}; upgrade dancenow")
    model = ChoreoModel(ChoreoConfig.from_dict(meta["config"]))
    try:
        model.load_state_dict(load_file(str(ckpt / "model.safetensors")))
    except Exception as e:  # safetensors/torch raise several types for a bad file
        raise DancenowError(f"{ckpt}: cannot load weights ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    model.eval()
    return model, meta
