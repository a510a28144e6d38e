"""Training losses as modules, apart from the networks (as pix2pixHD's networks.py):
`GANLoss` (LSGAN), `FeatureMatchingLoss` (discriminator features, L1), `VGGLoss` (VGG19
perceptual loss, layer weights 1/32 .. 1), weighted by `LossWeights`.

VGG19 is defined here (layer indices as torchvision's `vgg19().features`, so its ImageNet
checkpoint loads by key name); its weights are never downloaded: they come from
`--vgg-weights PATH` or torchvision's usual cache file. Without them the perceptual term is
off, as pix2pixHD's --no_vgg_loss, and `find_vgg_weights` says so once in the log.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from dancenow.errors import DancenowError
from dancenow.synth.config import LossWeights

__all__ = ["LossWeights", "GANLoss", "FeatureMatchingLoss", "SSIMLoss", "VGG19", "VGGLoss", "find_vgg_weights", "load_vgg19"]

log = logging.getLogger(__name__)

VGG19_FILENAME = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet VGG19 checkpoint
DEFAULT_VGG_PATH = Path("~/.cache/torch/hub/checkpoints") / VGG19_FILENAME


class GANLoss(nn.Module):
    """LSGAN: mean squared distance of the score maps to 1 (real) or 0 (fake), summed over the
    scales of a multi-scale discriminator. Accepts one discriminator's feature list or a list
    of them; the score map is the last feature."""

    def forward(self, preds: list, target_is_real: bool) -> torch.Tensor:
        scales = preds if isinstance(preds[0], (list, tuple)) else [preds]
        loss = 0.0
        for feats in scales:
            score = feats[-1].float()  # scores in float32 even under bf16 autocast
            loss = loss + F.mse_loss(score, torch.full_like(score, 1.0 if target_is_real else 0.0))
        return loss


class SSIMLoss(nn.Module):
    """1 - SSIM of two image batches (B, C, H, W) in [-1, 1]: the evaluation's SSIM
    (dancenow.evaluate.metrics.ssim, scikit-image's: a 7 x 7 uniform window, sample covariance,
    windows that overhang the border left out), differentiable. L1 is minimised by the median
    of what the exemplars suggest, blur included; SSIM also scores the local contrast and
    structure a person's folds and stripes have."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        from dancenow.evaluate.metrics import SSIM_K1, SSIM_K2, SSIM_WINDOW

        x, y = 0.5 * (x.float() + 1.0), 0.5 * (y.float() + 1.0)  # data range 1
        n = SSIM_WINDOW * SSIM_WINDOW
        cov = n / (n - 1)

        def box(t: torch.Tensor) -> torch.Tensor:
            return F.avg_pool2d(t, SSIM_WINDOW, stride=1)

        ux, uy = box(x), box(y)
        vx = cov * (box(x * x) - ux * ux)
        vy = cov * (box(y * y) - uy * uy)
        vxy = cov * (box(x * y) - ux * uy)
        c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        return 1.0 - s.mean()


class FeatureMatchingLoss(nn.Module):
    """pix2pixHD's discriminator feature matching: L1 between the intermediate features the
    discriminator computes on the fake and on the real input (real ones detached), each layer
    weighted 4 / (n_layers + 1) and each scale 1 / num_D."""

    def __init__(self, n_layers: int, num_D: int):
        super().__init__()
        self.feat_weight = 4.0 / (n_layers + 1)
        self.scale_weight = 1.0 / num_D

    def forward(self, fake: list, real: list) -> torch.Tensor:
        fake_scales = fake if isinstance(fake[0], (list, tuple)) else [fake]
        real_scales = real if isinstance(real[0], (list, tuple)) else [real]
        loss = 0.0
        for f_feats, r_feats in zip(fake_scales, real_scales):
            for f, r in zip(f_feats[:-1], r_feats[:-1]):  # the score map is not a feature
                loss = loss + self.scale_weight * self.feat_weight * F.l1_loss(f.float(), r.detach().float())
        return loss


# --------------------------------------------------------------------------- VGG19

# torchvision's vgg19().features, up to relu5_1 (index 29): numbers are conv output channels,
# "M" a 2x2 max pool. Each conv is followed by a ReLU.
_VGG19_LAYERS = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512]
# pix2pixHD's slices: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 are features[1], [6], [11], [20], [29].
_VGG19_TAPS = (1, 6, 11, 20, 29)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19(nn.Module):
    """VGG19 convolutional layers up to relu5_1, frozen. forward takes images in [-1, 1]
    (B, 3, H, W), normalizes them as ImageNet training did (pix2pixHD skips this step), and
    returns the five relu{1..5}_1 feature maps."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in _VGG19_LAYERS:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=False)]
                c = v
        self.features = nn.Sequential(*layers)  # indices match torchvision: features.0.weight, ...
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x + 1) / 2 - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _VGG19_TAPS:
                out.append(x)
        return out

    def train(self, mode: bool = True) -> "VGG19":
        return super().train(False)  # always frozen and in eval mode


def find_vgg_weights(path: str | os.PathLike | None = None) -> Path | None:
    """The VGG19 weight file to use: `path` when given (it must exist), else torchvision's cache
    file when present, else None, logged once as a clear warning (training runs without the
    perceptual loss then)."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise DancenowError(f"VGG19 weights not found: {p}")
        return p
    default = DEFAULT_VGG_PATH.expanduser()
    if default.is_file():
        return default
    log.warning("VGG19 weights not found (pass --vgg-weights PATH or place torchvision's %s in %s): "
                "training WITHOUT the VGG perceptual loss, as pix2pixHD's --no_vgg_loss",
                VGG19_FILENAME, default.parent)
    return None


def load_vgg19(path: str | os.PathLike) -> VGG19:
    """VGG19 with ImageNet weights from a torchvision checkpoint (.pth, loaded with
    weights_only=True: nothing is unpickled) or a .safetensors file with the same key names."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, pickle refused, not a checkpoint
        raise DancenowError(f"{path} is not a readable VGG19 checkpoint ({type(e).__name__}: {str(e)[:80]})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    model = VGG19()
    wanted = model.features.state_dict().keys()
    feats = {k[len("features."):]: v for k, v in state.items() if isinstance(k, str) and k.startswith("features.")}
    missing = [k for k in wanted if k not in feats]
    if missing:
        raise DancenowError(f"{path} is not a VGG19 checkpoint with torchvision key names (missing features.{missing[0]})")
    try:
        model.features.load_state_dict({k: feats[k] for k in wanted})
    except RuntimeError as e:
        raise DancenowError(f"{path}: VGG19 weights have the wrong shapes ({str(e).splitlines()[0][:100]})") from None
    return model


class VGGLoss(nn.Module):
    """Perceptual loss: sum over relu{1..5}_1 of weight_i * L1(VGG(x)_i, VGG(y)_i), with
    pix2pixHD's weights 1/32, 1/16, 1/8, 1/4, 1. The target's features are detached."""

    WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

    def __init__(self, vgg: VGG19):
        super().__init__()
        self.vgg = vgg

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # the target needs no graph (half the backward work)
            fy = self.vgg(y)
        fx = self.vgg(x)
        loss = 0.0
        for w, a, b in zip(self.WEIGHTS, fx, fy):
            loss = loss + w * F.l1_loss(a.float(), b.float())
        return loss
