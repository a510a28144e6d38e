"""Choreography checkpoints: one folder per step, safetensors and JSON only (nothing is ever
unpickled), each tensor file carrying a sha256 of its data so a damaged file is caught on load.

    out_dir/step-0001000/model.safetensors    weights + feature standardisation
                         model.json           format, version, ChoreoConfig, data statistics, fps...
                         trainer.safetensors  optimizer moments, carried LSTM states, torch RNG
                         trainer.json         step, optimizer settings, data stream state, config

A folder appears whole or not at all (written under a temporary name, then renamed). Training
keeps the newest `keep` (>= 1) and deletes an older one only after a newer one is in place.
`load_model` lives here, not in the trainer, so that generation and live forecasting never
import training code; given a training folder it takes the newest intact checkpoint, saying in
one line when it skips a damaged one.

Format history: v1 (before the bone-direction model) stored joint-position deltas and a
torch-pickled optimizer (optimizer.pt); it cannot drive this model, and loading one says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path

import torch

from dancenow.atomic import atomic_dir
from dancenow.choreo.config import ChoreoConfig
from dancenow.choreo.model import ChoreoModel
from dancenow.errors import DancenowError

log = logging.getLogger(__name__)

CKPT_RE = re.compile(r"^step-(\d{7,})$")
FORMAT = "dancenow.choreo"
VERSION = 2


class CorruptCheckpoint(DancenowError):
    """A checkpoint folder that is damaged (missing, truncated or altered files)."""


def list_checkpoints(out_dir: str | os.PathLike) -> list[Path]:
    """Checkpoint folders in out_dir, oldest step first."""
    out = Path(out_dir)
    if not out.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in out.iterdir() if p.is_dir() and (m := CKPT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def checkpoint_path(out_dir: str | os.PathLike, step: int) -> Path:
    return Path(out_dir) / f"step-{step:07d}"


# --------------------------------------------------------------------------- tensors on disk

def _digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    cpu = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    save_file(cpu, str(path), metadata={"sha256": _digest(cpu)})


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    if not path.is_file():
        raise CorruptCheckpoint(f"{path.parent}: {path.name} is missing")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # SafetensorError, OSError, ...: the file is damaged either way
        raise CorruptCheckpoint(f"{path} is truncated or corrupt ({type(e).__name__}: {str(e)[:80]})") from None
    if "sha256" in meta and _digest(tensors) != meta["sha256"]:
        raise CorruptCheckpoint(f"{path} is corrupt (its data do not match its checksum)")
    return tensors


def _load_json(path: Path) -> dict:
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise CorruptCheckpoint(f"{path.parent}: {path.name} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorruptCheckpoint(f"{path} is unreadable ({type(e).__name__})") from None
    if not isinstance(d, dict):
        raise CorruptCheckpoint(f"{path} is not a JSON object")
    return d


def _check_format(ckpt: Path, meta: dict) -> None:
    if meta.get("format") != FORMAT:
        raise DancenowError(f"{ckpt} is not a dancenow choreography model")
    version = meta.get("version", 0)
    if not isinstance(version, int):
        raise CorruptCheckpoint(f"{ckpt}: model.json has no valid version")
    if version < VERSION:
        raise DancenowError(f"{ckpt} is a choreography model of format v{version} (joint positions, before bone "
                            f"directions); this dancenow reads v{VERSION}: train a new one with `dancenow choreo train`")
    if version > VERSION:
        raise DancenowError(f"{ckpt} is choreography model format v{version}; this dancenow reads up to v{VERSION}: upgrade dancenow")


# --------------------------------------------------------------------------- optimizer state

def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state flattened: tensors under `opt.<param>.<name>`, the rest (param
    groups, non-tensor state) as JSON-ready meta."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for name, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"opt.{pid}.{name}"] = v
            else:
                scalars[f"{pid}.{name}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            pid, name = k[4:].split(".", 1)
            state.setdefault(int(pid), {})[name] = v
    for k, v in meta.get("scalars", {}).items():
        pid, name = k.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    groups = meta["param_groups"]
    for g in groups:
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
    opt.load_state_dict({"state": state, "param_groups": groups})


# --------------------------------------------------------------------------- save / load

def save_checkpoint(path: str | os.PathLike, model: ChoreoModel, info: dict, trainer: dict | None = None,
                    trainer_tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """Write one checkpoint folder atomically (see the module docstring for its files)."""
    path = Path(path)
    with atomic_dir(path) as tmp:
        _save_tensors(tmp / "model.safetensors", model.state_dict())
        meta = {"format": FORMAT, "version": VERSION, "config": model.config.to_dict(), **info}
        (tmp / "model.json").write_text(json.dumps(meta, indent=1))
        if trainer is not None:
            _save_tensors(tmp / "trainer.safetensors", trainer_tensors or {})
            (tmp / "trainer.json").write_text(json.dumps(trainer))
        # mkdtemp and safetensors create owner-only modes: give the usual ones (umask applies)
        mask = os.umask(0)
        os.umask(mask)
        for f in tmp.iterdir():
            os.chmod(f, 0o666 & ~mask)
        os.chmod(tmp, 0o777 & ~mask)
    return path


def _is_checkpoint(path: Path) -> bool:
    return (path / "model.json").is_file() or (path / "model.safetensors").is_file()


def _load_model_from(ckpt: Path) -> tuple[ChoreoModel, dict]:
    meta = _load_json(ckpt / "model.json")
    _check_format(ckpt, meta)
    try:
        config = ChoreoConfig.from_dict(meta["config"], f"{ckpt}/model.json config")
    except (KeyError, TypeError):
        raise CorruptCheckpoint(f"{ckpt}: model.json has no valid config") from None
    model = ChoreoModel(config)
    state = _load_tensors(ckpt / "model.safetensors")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CorruptCheckpoint(f"{ckpt}: weights do not fit the model ({str(e).splitlines()[0][:100]})") from None
    model.eval()
    return model, meta


def load_model(path: str | os.PathLike) -> tuple[ChoreoModel, dict]:
    """(model in eval mode, its info: fps, dims, statistics, ...) from a checkpoint folder, or
    from a training folder (its newest intact checkpoint; damaged newer ones are skipped with a
    one-line warning)."""
    path = Path(path)
    if not path.exists():
        raise DancenowError(f"model not found: {path}")
    if _is_checkpoint(path):
        return _load_model_from(path)
    found = list_checkpoints(path)
    if not found:
        raise DancenowError(f"no choreography model in {path} (expected model.json or step-* folders)")
    return newest_intact(found, _load_model_from)


def newest_intact(found: list[Path], load):
    """`load(folder)` of the newest folder in `found` that loads; each damaged one is skipped
    with a one-line warning. All damaged: the newest one's error."""
    first = None
    for ckpt in reversed(found):
        try:
            return load(ckpt)
        except CorruptCheckpoint as e:
            first = first or e
            log.warning("skipping a damaged checkpoint: %s", str(e).splitlines()[0])
    raise first


def load_training_state(ckpt: Path) -> tuple[dict, dict[str, torch.Tensor], dict, dict[str, torch.Tensor]]:
    """(model.json, model tensors, trainer.json, trainer tensors) of a checkpoint folder, each
    checked; CorruptCheckpoint when anything is damaged."""
    meta = _load_json(ckpt / "model.json")
    _check_format(ckpt, meta)
    model_t = _load_tensors(ckpt / "model.safetensors")
    trainer = _load_json(ckpt / "trainer.json")
    trainer_t = _load_tensors(ckpt / "trainer.safetensors")
    for k in ("step", "stream", "optimizer", "config", "clips"):
        if k not in trainer:
            raise CorruptCheckpoint(f"{ckpt}: trainer.json lacks {k!r}")
    return meta, model_t, trainer, trainer_t


def prune_checkpoints(out_dir: str | os.PathLike, keep: int, newest: Path) -> None:
    """Delete all but the newest `keep` (>= 1) checkpoints; called only after `newest` was
    written, and never deletes it."""
    import shutil

    for old in list_checkpoints(out_dir)[: -max(1, keep)]:
        if old != newest:
            shutil.rmtree(old, ignore_errors=True)
