"""Training checkpoints as single safetensors files: every tensor (networks, optimizer moments,
RNG states) flat under a prefix, everything else (step, stage, config, data order) as JSON in
the safetensors metadata, plus a sha256 of all tensor bytes so a corrupt file is caught on load
rather than trained on. Written atomically (temp file + rename); the last K are kept.
Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
from pathlib import Path

import numpy as np
import torch

from dancenow.atomic import atomic_file
from dancenow.errors import DancenowError

log = logging.getLogger(__name__)

CKPT_FORMAT = "dancenow.synth.checkpoint"
CKPT_VERSION = 1
_NAME = re.compile(r"^step-(\d{8,})\.safetensors$")


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].detach().to("cpu").contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write one checkpoint file atomically: either the complete new file appears under `path`
    or nothing changes (a previous file of that name survives)."""
    from safetensors.torch import save_file

    path = Path(path)
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    metadata = {"format": CKPT_FORMAT, "version": str(CKPT_VERSION), "meta": json.dumps(meta), "sha256": _digest(cpu)}
    with atomic_file(path) as tmp:
        save_file(cpu, str(tmp), metadata=metadata)
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, meta) of a checkpoint; DancenowError naming the file when it is missing,
    truncated, corrupt (checksum) or from a newer dancenow."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise DancenowError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # SafetensorError, OSError, ...: the file is damaged either way
        raise DancenowError(f"checkpoint {path} is truncated or corrupt ({type(e).__name__}: {str(e)[:80]})") from None
    if metadata.get("format") != CKPT_FORMAT:
        raise DancenowError(f"{path} is not a dancenow training checkpoint")
    if int(metadata.get("version", "0")) > CKPT_VERSION:
        raise DancenowError(f"{path} is checkpoint v{metadata.get('version')}; this dancenow reads up to v{CKPT_VERSION}")
    if _digest(tensors) != metadata.get("sha256"):
        raise DancenowError(f"checkpoint {path} is corrupt (its data does not match its checksum)")
    try:
        meta = json.loads(metadata["meta"])
    except (KeyError, json.JSONDecodeError):
        raise DancenowError(f"checkpoint {path} is corrupt (unreadable metadata)") from None
    return tensors, meta


def checkpoint_path(folder: str | os.PathLike, step: int) -> Path:
    return Path(folder) / f"step-{step:08d}.safetensors"


def list_checkpoints(folder: str | os.PathLike) -> list[Path]:
    """Checkpoint files in `folder`, oldest step first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def prune_checkpoints(folder: str | os.PathLike, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints (called only after a save succeeded)."""
    for p in list_checkpoints(folder)[:-keep] if keep > 0 else []:
        p.unlink(missing_ok=True)


# --------------------------------------------------------------------------- state helpers

def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module(prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor], where: str) -> None:
    state = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise DancenowError(f"{where}: {prefix} does not fit the configured network ({str(e).splitlines()[0][:100]})") from None


def optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Flatten an optimizer's state: tensors under `prefix.state.<param>.<name>`, the rest
    (param groups, non-tensor state) as JSON-able meta."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for name, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{prefix}.state.{pid}.{name}"] = v
            else:
                scalars[f"{pid}.{name}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    pre = prefix + ".state."
    for k, v in tensors.items():
        if k.startswith(pre):
            pid, name = k[len(pre):].split(".", 1)
            state.setdefault(int(pid), {})[name] = v
    for k, v in meta.get("scalars", {}).items():
        pid, name = k.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    groups = meta["param_groups"]
    for g in groups:
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
    opt.load_state_dict({"state": state, "param_groups": groups})


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    """Every random generator training might touch: torch (CPU and CUDA), numpy, Python."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    np_state = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
    meta = {"numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python": json.loads(json.dumps(random.getstate()))}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k.rsplit(".", 1)[1]))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda][: torch.cuda.device_count()])
    name, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, state, gauss = meta["python"]
    random.setstate((version, tuple(state), gauss))
