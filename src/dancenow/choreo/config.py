"""Training settings of the choreography model, apart from train.py so that reading them
(e.g. for command-line defaults) does not import torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dancenow.choreo.model import ChoreoConfig


@dataclass
class TrainConfig:
    """Everything a training run needs. Lengths are in body heights, times in frames unless
    named `_s` (seconds)."""

    sources: list[tuple[str, str]] = field(default_factory=list)  # (pose/BVH path, style name)
    out_dir: str = "choreo-model"
    exclude: list[str] = field(default_factory=list)  # clip names to leave out (held-out takes)
    # data
    fps: float = 30.0
    dims: int = 2  # 2: orthographic front view; 3: 3D (motion capture only)
    front: str = "world"  # motion capture camera: "world" (the file's front) or "dancer" (see data.py)
    openpose_fps: float | None = None  # frame rate of OpenPose JSON folders (they store none)
    mirror: bool = True  # mirror half the stretches left/right (doubles the data, same style)
    # model (see ChoreoConfig)
    hidden: int = 384
    layers: int = 2
    mixtures: int = 8
    style_dim: int = 16
    # A left-out style (jpop) forecast at 0.5 s vs zero-velocity (bench/choreo_salsa_eval.py,
    # with input_noise 0.02): dropout 0.5 +1.4%/+1.0% (two seeds, CPU); 0.3 +2.5%/+1.3% (GPU)
    # but -1.4% (CPU); 0.1 with noise 0.005 -1.0%. Salsa stayed 30.1-31.3% below zero-velocity.
    dropout: float = 0.5
    velocity: bool = True  # feed pose velocities as inputs too (see ChoreoConfig)
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
    style_dropout: float = 0.15  # chance a stretch is labelled "any" instead of its style
    transition: float = 0.2  # share of stretches that crossfade from another style into theirs
    transition_lead: int = 30  # frames of the other style first (context only)
    transition_blend: int = 15  # frames of crossfade
    input_noise: float = 0.02  # Gaussian noise on input poses (body heights); targets correct it
    # Free-running loss: from `rollout_context` teacher-forced frames, the model runs on its own
    # mode predictions for `rollout_frames` frames, and the mean joint distance to the truth (body
    # heights) is added to the NLL with this weight (0: pure teacher forcing). It trains the
    # deterministic rollout that forecasting uses, against exposure bias.
    rollout_weight: float = 10.0
    rollout_frames: int = 30
    rollout_context: int = 30
    rollout_batch: int = 16
    seed: int = 0
    # bookkeeping
    checkpoint_every: int = 500
    keep: int = 3
    resume: bool = True
    threads: int | None = None  # torch CPU threads (None: leave torch's default)
    device: str = "auto"  # a GPU when torch sees one, else the CPU; checkpoints are saved on the CPU and load anywhere
    progress: bool = True

    def model_config(self, styles: list[str]) -> "ChoreoConfig":
        from dancenow.choreo.model import ChoreoConfig

        return ChoreoConfig(joints=15, dims=self.dims, styles=styles, style_dim=self.style_dim,
                            hidden=self.hidden, layers=self.layers, mixtures=self.mixtures, dropout=self.dropout,
                            velocity=self.velocity)


TRAIN_DEFAULTS = TrainConfig()
