"""Configuration of the choreography model and its training, torch-free (the CLI reads it before
the heavy imports): `ChoreoConfig` is the network's shape and what generation needs to run it
(saved in every checkpoint); `ChoreoTrainConfig` is how it is trained, holding a `ChoreoConfig`
and no field of its own that repeats one of it. Named presets, and JSON files that override
one (`load_config`), as synth/config.py does for the synthesis model.

Lengths are in body heights, times in frames unless named `_s` (seconds).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dancenow.errors import DancenowError

ANY_STYLE = "any"
CONFIG_FORMAT = "dancenow.choreo.config"
CONFIG_VERSION = 1
PRESETS = ("default", "small", "quick")
# Sampling temperature of models trained before per-style calibration (generate.calibrate_sampling),
# and the bench's fixed-temperature baseline.
DEFAULT_TEMPERATURE = 0.8
# The speeds, x the style's data's, within which a dance at its calibrated temperature is left
# alone (generate.TempoHold corrects what lies outside).
TEMPO_BAND = (0.9, 1.1)
# Style guidance of generated dances (generate.rollout): how far past the dance of the other
# styles (DEFAULT_GUIDE_FROM "others": the known styles the asked one leaves out, a negative
# prompt) toward the asked style the network's outputs are pushed; 1 = plain conditioning
# (models calibrated before guidance existed). Measured with the default preset on two seeds
# (10 dances a style): generated salsa was recognised as salsa in 69% / 31% of windows plainly
# conditioned, 85% / 63% guided 4x from the style-free "any", 97% / 96% guided 3x from the
# others (every other style up too but seed 0's folk, 93% -> 90%).
DEFAULT_GUIDANCE = 3.0
DEFAULT_GUIDE_FROM = "others"


@dataclass
class ChoreoConfig:
    """The network (an LSTM + mixture density head with a style embedding, model.py) and the
    pose representation it predicts in (skeleton.py)."""

    dims: int = 0  # 3: 3D (motion capture only); 2: front view; 0: 3 when every source is 3D, else 2
    styles: list[str] = field(default_factory=lambda: [ANY_STYLE])  # set from the data; index 0 is "any"
    style_dim: int = 16
    hidden: int = 384
    layers: int = 2
    mixtures: int = 8
    dropout: float = 0.3  # between LSTM layers
    min_log_sigma: float = -6.0  # standardised units: keeps the likelihood from blowing up
    # Each frame is predicted as a change from a damped constant-velocity continuation of the
    # last one (bone directions and root step move on by `damping` x their last change), so an
    # untrained or unsure network continues the motion smoothly instead of jumping.
    damping: float = 0.8
    # The deterministic next frame (forecasts, temperature 0, the free-running loss): "mode" =
    # the mean of the most likely mixture component, "mean" = the mixture's expected value.
    # "mode" by default: the free-running loss then trains only the likeliest component, and the
    # others stay free to hold the other ways a dance goes on. With "mean" it pulled every
    # component toward the one safe average, so sampled dances moved by noise alone: on two
    # small-preset seeds, generated salsa was recognised as salsa in 15-19% of windows (mode:
    # 43-48%) with 1.95-2.17x the data's pose spread (mode: 1.54-1.80x), for forecasts 1-2
    # points closer to zero-velocity's at 0.5 s.
    point: str = "mode"
    # Share of a known style's forecast taken from the forecaster: a copy of the network that
    # training goes on to fine-tune for forecasting once the dancer is finished
    # (ChoreoTrainConfig.forecaster_steps); 0 = no forecaster. Generation, and forecasts of a
    # style the model does not know, use the dancer alone. 0.7 was picked on an earlier
    # forecaster (held-out salsa 0.5 s ahead: alone +33.8%, 0.7 / 0.3 with the dancer +34.1%,
    # 0.5 / 0.5 +33.5%; docs/choreo_measurements.md).
    forecaster: float = 0.0

    def validate(self, where: str = "model") -> "ChoreoConfig":
        _check_int(where, "dims", self.dims, 0, 3)
        if self.dims == 1:
            raise DancenowError(f"{where}.dims must be 2, 3 or 0 (automatic), got 1")
        if not self.styles or self.styles[0] != ANY_STYLE or len(set(self.styles)) != len(self.styles):
            raise DancenowError(f"{where}.styles must start with {ANY_STYLE!r} and name each style once")
        _check_int(where, "style_dim", self.style_dim, 1, 1024)
        _check_int(where, "hidden", self.hidden, 1, 8192)
        _check_int(where, "layers", self.layers, 1, 16)
        _check_int(where, "mixtures", self.mixtures, 1, 256)
        _check_float(where, "dropout", self.dropout, 0.0, 0.95)
        _check_float(where, "min_log_sigma", self.min_log_sigma, -20.0, 0.0)
        _check_float(where, "damping", self.damping, 0.0, 1.0)
        _check_float(where, "forecaster", self.forecaster, 0.0, 1.0)
        if self.point not in ("mode", "mean"):
            raise DancenowError(f"{where}.point must be 'mode' or 'mean', got {self.point!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "model") -> "ChoreoConfig":
        return _from_dict(cls, d, where).validate(where)


@dataclass
class ChoreoTrainConfig:
    """How a model is trained: the data's representation, the optimisation and the bookkeeping.
    The training files, the output folder and the run's machine (threads, device) are arguments
    of `train.train`, not settings."""

    model: ChoreoConfig = field(default_factory=ChoreoConfig)
    # data
    fps: float = 30.0  # the model's frame rate (inputs are resampled)
    front: str = "world"  # motion capture's front view: "world" (the file's +z) or "dancer" (see readers.py)
    mirror: bool = True  # mirror half the stretches left/right (a plausible dance of the same style)
    # Playback speed: a share `speed_change` of the stretches is played at a speed drawn
    # log-uniformly from [speed_min, speed_max], so the model continues the tempo it sees instead
    # of its styles'. The range reaches the slowest dancer of the shared data: half of the
    # Motion-MDRNN takes move at 0.06-0.07 body heights/s, a tenth of salsa; held-out salsa
    # played at 0.1x was forecast 7-9% worse than standing still by a small model trained down
    # to 0.25x, and 15% / 7% better (0.5 s / 1 s) by one trained down to 0.1x.
    speed_change: float = 0.5
    speed_min: float = 0.1
    speed_max: float = 1.5
    # Rest-posture offsets: a stretch labelled "any" (style dropout) has each bone turned by a
    # constant random offset (normal, `posture` radians per axis, in the body's heading frame),
    # inputs and targets alike; `posture_labelled` does the same for stretches with their style.
    # Every capture setup puts its joints elsewhere (the Motion-MDRNN skin markers hold head,
    # feet and torso 8-20 degrees from the BVH skeletons' mean, those 2-13 from each other), so
    # an unseen style is also an unseen skeleton, and "any" must not assume a known one. A small
    # model without it pulled the Motion-MDRNN dancer toward the training skeletons' rest pose
    # (its distance to their mean pose fell from 0.17 to 0.13 body heights in 1 s of forecast,
    # the truth's stayed 0.17): -16% against zero-velocity at 0.5 s; with it +12%. Offsets on
    # every stretch helped as much but cost held-out salsa 4-9 points, offsets on "any" none.
    posture: float = 0.3
    posture_labelled: float = 0.0
    # Chance of a stretch's style ~ (its frames) ** style_balance: 1 = as the data come (salsa
    # is 62% of the shared data), 0 = every style equally often.
    style_balance: float = 0.5
    # optimisation
    steps: int = 2000
    batch_size: int = 32
    bptt: int = 30  # frames per truncated-backprop chunk
    episode: int = 4  # chunks per stretch before the state is reset
    lr: float = 2e-3
    min_lr_frac: float = 0.05  # cosine decay to lr * this
    warmup: int = 100
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    style_dropout: float = 0.3  # chance a stretch is labelled "any" (and gets a posture offset)
    transition: float = 0.2  # share of stretches that crossfade from another style into theirs
    transition_lead: int = 30  # frames of the other style first (context only)
    transition_blend: int = 15  # frames of crossfade
    # Gaussian noise on the input bone directions, as a share of each bone's typical change per
    # frame; targets are measured from the noisy input, so the model learns to steer back.
    input_noise: float = 0.2
    # Drift recovery: in every chunk the input torso bones (pelvis, spine, shoulder line, head)
    # drift, from a random frame on, by a random offset (about `drift` radians), and each target
    # keeps only (1 - drift_return) of it: the model learns to bring a leaning or twisted torso
    # back, a share per frame, to where the dancer held it before. Without it, 60 s sampled
    # dances twisted hips from shoulders by 25-70 degrees (median; real dancers 11) and leaned
    # 20-40 degrees (real 5): sampling noise piled up where teacher-forced training never went.
    # (Held over whole chunks instead, it pulled an unseen skeleton's torso toward the others':
    # the first forecast frame of the Motion-MDRNN markers was 15x constant velocity's error.)
    drift: float = 0.3
    drift_return: float = 0.25
    # Free-running loss: from `rollout_context` teacher-forced frames the model runs on its own
    # mode predictions for `rollout_frames` frames; the mean joint distance to the truth (body
    # heights) is added to the likelihood loss with this weight (0: pure teacher forcing). It
    # trains the deterministic rollout that forecasting uses, against exposure bias.
    rollout_weight: float = 10.0
    rollout_frames: int = 30
    rollout_context: int = 30
    # 32 windows, not 16: held-out salsa 0.5 s +29.0/+29.5% below zero-velocity against +26.2/+25.5
    # (default preset, seeds 0/1), for 20 CPU-min of training instead of 14. 64 windows and 3000
    # steps (58 CPU-min): +32.6% (seed 0, mirror-averaged; 32: +30.7), but generated salsa was
    # recognised as salsa in 47% of windows (32: 84%), so it was not kept (docs/choreo_measurements.md)
    rollout_batch: int = 32
    # The forecaster (model.forecaster > 0): once the dancer is finished, a copy of it trains
    # `forecaster_steps` more steps on a mix that favours forecasting: styles as often as their
    # frames, fewer stretches at another speed, twice the free-running windows with the root
    # track's part weighted down, a fresh optimiser at `forecaster_lr` falling to 0 (cosine),
    # no dropout. The dancer keeps dancing (that mix made sampled dances faster and unhealthy,
    # and styles less distinct) and forecasting an unknown style (a known-style mix generalises
    # worse to a new one). Default preset, held-out salsa 0.5 s ahead below zero-velocity, seeds
    # 0 / 1: the dancer alone +30.2 / +30.5%, with its forecaster +35.6 / +35.2%, for 3000 steps
    # more than the dancer's 2000 (docs/choreo_measurements.md).
    forecaster_steps: int = 0
    forecaster_lr: float = 1e-3
    forecaster_style_balance: float = 1.0
    forecaster_speed_change: float = 0.25
    forecaster_rollout_batch: int = 64
    forecaster_root_weight: float = 0.1
    seed: int = 0
    # bookkeeping
    checkpoint_every: int = 500
    keep: int = 2  # checkpoints kept (>= 1; an older one goes only once a newer one is written)
    preset: str = "default"

    def validate(self) -> "ChoreoTrainConfig":
        self.model.validate("model")
        _check_float("train", "fps", self.fps, 1.0, 240.0)
        if self.front not in ("world", "dancer"):
            raise DancenowError(f"train.front must be 'world' or 'dancer', got {self.front!r}")
        _check_float("train", "style_balance", self.style_balance, 0.0, 1.0)
        _check_float("train", "speed_change", self.speed_change, 0.0, 1.0)
        _check_float("train", "posture", self.posture, 0.0, 1.0)
        _check_float("train", "posture_labelled", self.posture_labelled, 0.0, 1.0)
        _check_float("train", "speed_min", self.speed_min, 0.05, 1.0)
        _check_float("train", "speed_max", self.speed_max, 1.0, 4.0)
        _check_int("train", "steps", self.steps, 1, 10_000_000)
        _check_int("train", "batch_size", self.batch_size, 1, 4096)
        _check_int("train", "bptt", self.bptt, 2, 10_000)
        _check_int("train", "episode", self.episode, 1, 10_000)
        _check_float("train", "lr", self.lr, 1e-8, 1.0, low_open=False)
        _check_float("train", "min_lr_frac", self.min_lr_frac, 0.0, 1.0)
        _check_int("train", "warmup", self.warmup, 0, 10_000_000)
        _check_float("train", "weight_decay", self.weight_decay, 0.0, 10.0)
        _check_float("train", "grad_clip", self.grad_clip, 1e-6, 1e6)
        _check_float("train", "style_dropout", self.style_dropout, 0.0, 1.0)
        _check_float("train", "transition", self.transition, 0.0, 1.0)
        _check_int("train", "transition_lead", self.transition_lead, 1, 10_000)
        _check_int("train", "transition_blend", self.transition_blend, 1, 10_000)
        _check_float("train", "input_noise", self.input_noise, 0.0, 10.0)
        _check_float("train", "drift", self.drift, 0.0, 1.0)
        _check_float("train", "drift_return", self.drift_return, 0.0, 1.0)
        _check_float("train", "rollout_weight", self.rollout_weight, 0.0, 1e4)
        _check_int("train", "rollout_frames", self.rollout_frames, 1, 10_000)
        _check_int("train", "rollout_context", self.rollout_context, 2, 10_000)
        _check_int("train", "rollout_batch", self.rollout_batch, 1, 4096)
        _check_int("train", "forecaster_steps", self.forecaster_steps, 0, 10_000_000)
        if (self.forecaster_steps > 0) != (self.model.forecaster > 0):
            raise DancenowError("train.forecaster_steps and model.forecaster go together: both above 0 "
                                "(a forecaster) or both 0 (none)")
        _check_float("train", "forecaster_lr", self.forecaster_lr, 1e-8, 1.0)
        _check_float("train", "forecaster_style_balance", self.forecaster_style_balance, 0.0, 1.0)
        _check_float("train", "forecaster_speed_change", self.forecaster_speed_change, 0.0, 1.0)
        _check_int("train", "forecaster_rollout_batch", self.forecaster_rollout_batch, 1, 4096)
        _check_float("train", "forecaster_root_weight", self.forecaster_root_weight, 0.0, 1e4)
        _check_int("train", "seed", self.seed, 0, 2 ** 63 - 1)
        _check_int("train", "checkpoint_every", self.checkpoint_every, 1, 10_000_000)
        _check_int("train", "keep", self.keep, 1, 10_000)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"format": CONFIG_FORMAT, "version": CONFIG_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "config") -> "ChoreoTrainConfig":
        d = {k: v for k, v in d.items() if k not in ("format", "version")}
        return _from_dict(cls, d, where).validate()

    def save(self, path: str | os.PathLike) -> Path:
        from dancenow.atomic import write_json

        return write_json(path, self.to_dict(), indent=2)


def preset(name: str) -> ChoreoTrainConfig:
    """A named configuration.

    default: what the bench (bench/choreo_eval.py) measures and the README reports: a dancer
    (2000 steps) and its forecaster (3000 more).
    small: a quarter of the default's network and steps: a model in minutes, for a first try.
    quick: a tiny network for smoke tests and demos; it shows the pipeline, not a good dance.
    """
    if name == "default":
        return ChoreoTrainConfig(model=ChoreoConfig(forecaster=0.7), forecaster_steps=3000, preset="default").validate()
    if name == "small":
        return ChoreoTrainConfig(model=ChoreoConfig(hidden=192, mixtures=4), steps=600, rollout_batch=8,
                                 checkpoint_every=200, preset="small").validate()
    if name == "quick":
        return ChoreoTrainConfig(model=ChoreoConfig(hidden=32, layers=1, mixtures=2, style_dim=4, dropout=0.0),
                                 steps=40, batch_size=8, bptt=15, episode=2, warmup=5, lr=5e-3, rollout_weight=1.0,
                                 rollout_frames=8, rollout_context=8, rollout_batch=4, checkpoint_every=20,
                                 preset="quick").validate()
    raise DancenowError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")


def load_config(path: str | os.PathLike) -> ChoreoTrainConfig:
    """A config JSON; a partial file overrides the preset it names (`"preset"`, default
    "default"), e.g. {"preset": "small", "steps": 900, "model": {"hidden": 256}}."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise DancenowError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise DancenowError(f"config {path} is a folder, not a JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DancenowError(f"{path} is not valid JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(d, dict):
        raise DancenowError(f"{path} must hold a JSON object")
    if d.get("format", CONFIG_FORMAT) != CONFIG_FORMAT:
        raise DancenowError(f"{path} is not a dancenow choreography config (format {d.get('format')!r})")
    if isinstance(d.get("version"), int) and d["version"] > CONFIG_VERSION:
        raise DancenowError(f"{path} is config v{d['version']}; this dancenow reads up to v{CONFIG_VERSION}")
    name = d.get("preset", "default")
    if name not in PRESETS:
        raise DancenowError(f"{path}: unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    base = preset(name).to_dict()
    merged = _merge(base, d)
    return ChoreoTrainConfig.from_dict(merged, str(path))


# --------------------------------------------------------------------------- checks

def _check_int(where: str, name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DancenowError(f"{where}.{name} must be a whole number in [{low}, {high}], got {value!r}")


def _check_float(where: str, name: str, value, low: float, high: float, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (low < value if low_open else low <= value) or value > high:
        raise DancenowError(f"{where}.{name} must be a number in [{low:g}, {high:g}], got {value!r}")


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _from_dict(cls, d: dict, where: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(fields)
    if unknown:
        raise DancenowError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    defaults = cls()
    kwargs = {}
    for name, value in d.items():
        default = getattr(defaults, name)
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise DancenowError(f"{where}: {name} must be an object")
            kwargs[name] = _from_dict(type(default), value, f"{where}.{name}")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise DancenowError(f"{where}: {name} must be true or false")
            kwargs[name] = value
        elif isinstance(default, (int, float)):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise DancenowError(f"{where}: {name} must be a number")
            if isinstance(default, int):
                if not (math.isfinite(value) and float(value).is_integer()):
                    raise DancenowError(f"{where}: {name} must be a whole number, got {value}")
                value = int(value)
            kwargs[name] = float(value) if isinstance(default, float) else value
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise DancenowError(f"{where}: {name} must be a string")
            kwargs[name] = value
        elif isinstance(default, list):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise DancenowError(f"{where}: {name} must be a list of names")
            kwargs[name] = list(value)
        else:  # pragma: no cover - every field type is handled above
            kwargs[name] = value
    return cls(**kwargs)
