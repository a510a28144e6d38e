"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric"), version 0.1, re-implemented so that it runs without torchvision.

The math is that of the `lpips` package's `LPIPS(net=..., version='0.1')`:
  1. scale an RGB image from [0, 255] to [-1, 1], then (x - shift) / scale per channel
     (lpips' ScalingLayer: roughly ImageNet normalisation expressed in [-1, 1] units);
  2. run a frozen ImageNet backbone (AlexNet or VGG16 convolutions) and take 5 ReLU outputs;
  3. per layer: unit-normalise each pixel's feature vector over channels (eps 1e-10), squared
     difference of the two images, a learned non-negative 1x1 conv to one channel, spatial mean;
  4. sum over the 5 layers.
Lower is more similar; 0 for identical images.

Weights come only from local files, never from the network:
  - backbone: torchvision's ImageNet checkpoint, from its usual cache
    (<torch hub dir>/checkpoints/alexnet-owt-7be5be79.pth or vgg16-397923af.pth) or a given path;
  - linear layers: the `lpips` package's lpips/weights/v0.1/{alex,vgg}.pth (found without
    importing lpips, which imports torchvision) or a given path.
When a default file is absent, `load_lpips` raises `LpipsUnavailable` with the reason and the
evaluation reports LPIPS as unavailable rather than guessing it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from dancenow.errors import DancenowError

log = logging.getLogger(__name__)

LpipsNet = Literal["alex", "vgg"]
BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
# Channels of the 5 tapped layers (the lpips linear layers' input widths).
CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
# lpips' ScalingLayer constants, applied to images in [-1, 1].
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
MIN_SIDE = {"alex": 32, "vgg": 16}  # pixels: smaller inputs leave no pixel at the last tapped layer


class LpipsUnavailable(DancenowError):
    """The LPIPS weights are not on this machine (the message says which file is missing)."""


def _alexnet_features() -> tuple[nn.Sequential, tuple[int, ...]]:
    """torchvision's `alexnet().features` (same indices, so its checkpoint keys load) and the
    indices of the ReLUs lpips taps (relu1..relu5)."""
    layers = [
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(),  # 0, 1
        nn.MaxPool2d(3, 2),  # 2
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(),  # 3, 4
        nn.MaxPool2d(3, 2),  # 5
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),  # 6, 7
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),  # 8, 9
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),  # 10, 11
    ]
    return nn.Sequential(*layers), (1, 4, 7, 9, 11)


def _vgg16_features() -> tuple[nn.Sequential, tuple[int, ...]]:
    """torchvision's `vgg16().features` up to relu5_3, and the taps relu1_2 .. relu5_3."""
    layers: list[nn.Module] = []
    c_in = 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c_in, v, 3, padding=1), nn.ReLU()]
            c_in = v
    return nn.Sequential(*layers), (3, 8, 15, 22, 29)


class LPIPS(nn.Module):
    """The LPIPS v0.1 distance. `forward(x0, x1)` takes (N, 3, H, W) images in [-1, 1] and
    returns (N,) distances. Weights are random until `load_lpips` (or load_state_dict) fills them."""

    def __init__(self, net: LpipsNet = "alex"):
        super().__init__()
        if net not in CHANNELS:
            raise DancenowError(f"unknown LPIPS network {net!r} (choose alex or vgg)")
        self.net_name = net
        self.features, self.taps = _alexnet_features() if net == "alex" else _vgg16_features()
        # lpips' NetLinLayer: a bias-free 1x1 conv to one channel (dropout only when training).
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS[net])
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def layer_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The 5 tapped ReLU outputs of the backbone for scaled input x (N, 3, H, W)."""
        outs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                outs.append(x)
            if i == self.taps[-1]:
                break
        return outs

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        f0 = self.layer_features((x0 - self.shift) / self.scale)
        f1 = self.layer_features((x1 - self.shift) / self.scale)
        total = torch.zeros(x0.shape[0], device=x0.device, dtype=x0.dtype)
        for a, b, lin in zip(f0, f1, self.lins):  # a, b: (N, C, h, w)
            a = a / (torch.sqrt((a * a).sum(dim=1, keepdim=True)) + 1e-10)
            b = b / (torch.sqrt((b * b).sum(dim=1, keepdim=True)) + 1e-10)
            total = total + lin((a - b) ** 2).mean(dim=(1, 2, 3))  # (N,)
        return total

    @torch.no_grad()
    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """LPIPS of two RGB uint8 images (H, W, 3) of the same size (at least MIN_SIDE pixels)."""
        if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
            raise DancenowError(f"LPIPS needs two RGB images of one size, got {a.shape} and {b.shape}")
        if min(a.shape[:2]) < MIN_SIDE[self.net_name]:
            raise DancenowError(f"LPIPS ({self.net_name}) needs images of at least {MIN_SIDE[self.net_name]} pixels a side, got {a.shape[1]}x{a.shape[0]}")
        dev = self.shift.device
        x = torch.from_numpy(np.stack([a, b])).to(dev).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (2, 3, H, W)
        return float(self(x[:1], x[1:])[0])


def default_backbone_path(net: LpipsNet) -> Path:
    """Where torchvision caches the ImageNet checkpoint of `net` (nothing is downloaded)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONE_FILES[net]


def default_linear_path(net: LpipsNet) -> Path | None:
    """lpips/weights/v0.1/<net>.pth of an installed `lpips` package, or None if not installed.
    The package is located, not imported (importing it needs torchvision)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "weights" / "v0.1" / f"{net}.pth"


def _load_state(path: Path, what: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors come as many types
        raise DancenowError(f"{path} is not a readable {what} weights file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise DancenowError(f"{path} does not hold a state dict of {what} weights")
    return state


def load_lpips(net: LpipsNet = "alex", backbone: str | os.PathLike | None = None,
               weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> LPIPS:
    """An LPIPS model with its pretrained weights, from local files only.

    backbone: torchvision ImageNet checkpoint of AlexNet/VGG16 (default: torchvision's cache).
    weights: the lpips v0.1 linear layers (default: the installed `lpips` package's file).
    Raises LpipsUnavailable when a default file is absent, DancenowError when a given path is
    missing or either file does not fit the network.
    """
    model = LPIPS(net)
    if backbone is None:
        bpath = default_backbone_path(net)
        if not bpath.is_file():
            raise LpipsUnavailable(f"no {net} backbone weights at {bpath} (torchvision's cache; pass --lpips-backbone)")
    else:
        bpath = Path(backbone)
        if not bpath.is_file():
            raise DancenowError(f"LPIPS backbone weights not found: {bpath}")
    if weights is None:
        lpath = default_linear_path(net)
        if lpath is None:
            raise LpipsUnavailable("the lpips package is not installed (pip install lpips --no-deps; or pass --lpips-weights)")
        if not lpath.is_file():
            raise LpipsUnavailable(f"no lpips linear weights at {lpath}")
    else:
        lpath = Path(weights)
        if not lpath.is_file():
            raise DancenowError(f"LPIPS linear weights not found: {lpath}")

    # torchvision's checkpoint holds features.* and classifier.*: keep the convolutions we use.
    bstate = _load_state(bpath, f"{net} backbone")
    feats = {k[len("features."):]: v for k, v in bstate.items() if k.startswith("features.")}
    wanted = model.features.state_dict()
    feats = {k: v for k, v in feats.items() if k in wanted}
    _load_checked(model.features, feats, bpath, f"{net} backbone")
    # lpips names the layers lin{i}.model.1.weight (model.0 is a dropout used in training).
    lstate = _load_state(lpath, "lpips linear")
    lins = {}
    for k, v in lstate.items():
        if k.startswith("lin") and k.endswith(".weight"):
            lins[f"{k[3:].split('.')[0]}.weight"] = v
    _load_checked(model.lins, lins, lpath, f"lpips {net} linear")
    log.debug("LPIPS %s: backbone %s, linear layers %s", net, bpath, lpath)
    return model.to(device)


def _load_checked(module: nn.Module, state: dict[str, torch.Tensor], path: Path, what: str) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise DancenowError(f"{path} is not {what} weights: missing {missing[0]} (and {len(missing) - 1} more)")
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise DancenowError(f"{path} is not {what} weights: {k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
    module.load_state_dict({k: state[k].float() for k in expected})
