"""Pose-to-image synthesis: a pix2pixHD-style conditional GAN with temporal smoothing and a
face GAN ("Everybody Dance Now"), trained per target person.

    from dancenow.synth import prepare, preset, SynthModel
    from dancenow.synth.train import train  # (the name `train` is also the submodule)
    prepare("target.mp4", "data/")                       # frames, poses, labels, crop, BodyStats
    train(preset("cpu-small"), "data/", "runs/me")      # -> the model directory
    model = SynthModel.load("runs/me")

Modules: config (SynthConfig + presets), networks, losses, data (prepare, Crop, SynthData),
train, model (SynthModel, the model directory), checkpoint, distributed, metrics (SSIM/PSNR).
Importing this package is cheap; torch loads with the submodules that need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dancenow.synth.config import PRESETS, SynthConfig, preset

if TYPE_CHECKING:  # pragma: no cover
    from dancenow.synth.data import Crop, SynthData, prepare
    from dancenow.synth.model import SynthModel

__all__ = ["PRESETS", "SynthConfig", "preset", "prepare", "SynthModel", "Crop", "SynthData"]


def __getattr__(name: str):
    if name in ("prepare", "Crop", "SynthData"):
        from dancenow.synth import data

        return getattr(data, name)
    if name == "SynthModel":
        from dancenow.synth.model import SynthModel

        return SynthModel
    raise AttributeError(name)
