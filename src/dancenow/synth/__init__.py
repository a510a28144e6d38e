"""Pose-to-image synthesis: a pix2pixHD-style conditional GAN with temporal smoothing and a
face GAN ("Everybody Dance Now"), trained per target person.

    from dancenow.synth import prepare, preset, SynthModel
    from dancenow.synth.train import train  # (the name `train` is also the submodule)
    prepare("target.mp4", "data/")                       # frames, poses, labels, crop, BodyStats
    train(preset("cpu-small"), "data/", "runs/me")      # -> the model directory
    model = SynthModel.load("runs/me")

Modules, in the order data flows: config (SynthConfig + presets); geometry (the crop, face
boxes, full-frame placement); plate (camera check, steadying, the background plate); exemplar
(nearest-pose frames, the retrieval baseline); prepare (video -> training data); data
(SynthData, batches); networks; losses; generate (the one generation step); model (SynthModel,
the model directory); train, checkpoint, distributed. Held-out figures use dancenow.evaluate's
SSIM. Importing this package is cheap; torch loads with the submodules that need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dancenow.synth.config import PRESETS, SynthConfig, preset

if TYPE_CHECKING:  # pragma: no cover
    from dancenow.synth.data import SynthData
    from dancenow.synth.geometry import Crop
    from dancenow.synth.model import SynthModel
    from dancenow.synth.prepare import prepare

__all__ = ["PRESETS", "SynthConfig", "preset", "prepare", "SynthModel", "Crop", "SynthData"]


def __getattr__(name: str):
    if name == "prepare":
        from dancenow.synth.prepare import prepare

        return prepare
    if name == "Crop":
        from dancenow.synth.geometry import Crop

        return Crop
    if name == "SynthData":
        from dancenow.synth.data import SynthData

        return SynthData
    if name == "SynthModel":
        from dancenow.synth.model import SynthModel

        return SynthModel
    raise AttributeError(name)
