"""The choreography model: a multi-layer LSTM with a mixture density head and a style embedding.

Graves 2013 ("Generating Sequences With Recurrent Neural Networks") wrote handwriting one pen
offset at a time: an LSTM reads the previous offset and emits a Gaussian mixture over the next.
chor-rnn (Crnkovic-Friis & Crnkovic-Friis 2016) and Motion-MDRNN (Wallace et al.) did the same
with dance motion capture. Here one step is one frame:

    input  x_t = [body-centred pose_t, root displacement_t, observed mask_t (joints + root),
                  pose velocity_t and whether it is known]                     (standardised)
    output mixture over y_t = [pose_{t+1} - pose_t, root displacement_{t+1}]  (standardised)

A learned style vector is appended to every input and to the mixture head's input. Style
index 0 is "any": training swaps a stretch's style for it now and then (style dropout), so the
model has a style-free mode for dances of unknown style. Blending styles = a weighted mix of
their embedding vectors (train.py's style transitions make the label matter).

Reading order: ChoreoConfig, MDNHead, ChoreoModel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn

from dancenow.choreo.mdn import MixtureParams, mixture_nll
from dancenow.errors import DancenowError

ANY_STYLE = "any"


@dataclass
class ChoreoConfig:
    """The network's shape; saved in every checkpoint so the checkpoint can rebuild its model."""

    joints: int = 15  # len(data.MODEL_JOINTS): nose, arms, legs, big toes
    dims: int = 2  # 2 = orthographic front view, 3 = 3D (motion capture only)
    styles: list[str] = field(default_factory=lambda: [ANY_STYLE])  # index 0 is always "any"
    style_dim: int = 16
    hidden: int = 384
    layers: int = 2
    mixtures: int = 8
    dropout: float = 0.1  # between LSTM layers
    min_log_sigma: float = -6.0  # in standardised units; keeps the likelihood from blowing up
    velocity: bool = False  # also feed each frame's pose velocity (and whether it is known)

    @property
    def pose_features(self) -> int:
        return self.joints * self.dims

    @property
    def in_features(self) -> int:  # pose, root displacement, observed mask (joints, root step), velocity
        return self.pose_features + self.dims + self.joints + 1 + (self.pose_features + 1 if self.velocity else 0)

    @property
    def out_features(self) -> int:  # pose delta, next root displacement
        return self.pose_features + self.dims

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ChoreoConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class MDNHead(nn.Module):
    """hidden (..., H) + style (..., S) -> MixtureParams over `out_features` with `mixtures`
    diagonal components."""

    def __init__(self, config: ChoreoConfig):
        super().__init__()
        self.k, self.d = config.mixtures, config.out_features
        self.min_log_sigma = config.min_log_sigma
        # the head sees the style too, so a style acts on the output directly and not only
        # through the recurrence (where a clear motion history can drown it out)
        self.proj = nn.Linear(config.hidden + config.style_dim, self.k * (1 + 2 * self.d))

    def forward(self, h: torch.Tensor, style_vec: torch.Tensor) -> MixtureParams:
        """h (..., H) and style_vec (..., style_dim) -> mixture parameters."""
        out = self.proj(torch.cat([h, style_vec], -1))  # (..., K + 2KD)
        logits, rest = out[..., : self.k], out[..., self.k:]
        mu, log_sigma = rest.unflatten(-1, (self.k, 2 * self.d)).chunk(2, dim=-1)  # (..., K, D) each
        # soft floor: differentiable everywhere, unlike clamp
        log_sigma = self.min_log_sigma + nn.functional.softplus(log_sigma - self.min_log_sigma)
        return MixtureParams(logits, mu, log_sigma)


class ChoreoModel(nn.Module):
    """LSTM + MDN over standardised pose features, conditioned on a style."""

    def __init__(self, config: ChoreoConfig):
        super().__init__()
        self.config = config
        c = config
        self.style_embedding = nn.Embedding(len(c.styles), c.style_dim)
        self.lstm = nn.LSTM(c.in_features + c.style_dim, c.hidden, c.layers, batch_first=True,
                            dropout=c.dropout if c.layers > 1 else 0.0)
        self.head = MDNHead(c)
        # feature standardisation, set from the training data (saved with the weights)
        self.register_buffer("x_mean", torch.zeros(c.pose_features + c.dims))
        self.register_buffer("x_std", torch.ones(c.pose_features + c.dims))
        self.register_buffer("y_mean", torch.zeros(c.out_features))
        self.register_buffer("y_std", torch.ones(c.out_features))
        if c.velocity:
            self.register_buffer("v_mean", torch.zeros(c.pose_features))
            self.register_buffer("v_std", torch.ones(c.pose_features))

    # --- styles
    def style_vector(self, style: torch.Tensor) -> torch.Tensor:
        """(B,) style indices or (B, S) blend weights (rows summing to 1) -> (B, style_dim)."""
        if style.dtype in (torch.int32, torch.int64):
            return self.style_embedding(style)
        return style.to(self.style_embedding.weight.dtype) @ self.style_embedding.weight

    # --- features
    def encode_inputs(self, pose: torch.Tensor, root_step: torch.Tensor, observed: torch.Tensor,
                      prev_pose: torch.Tensor | None = None, prev_ok: torch.Tensor | None = None) -> torch.Tensor:
        """pose (B, T, P, D) body heights, root_step (B, T, D), observed (B, T, P + 1) (joints,
        then the root step) -> x (B, T, in). Unobserved values must already be filled in (by
        interpolation or the mean pose): the mask tells the model they are guesses.
        With `config.velocity`, velocities are pose differences within the sequence; the first
        frame's uses `prev_pose` (B, P, D) where `prev_ok` (B,) says it exists (None: nowhere),
        and is flagged unknown otherwise."""
        raw = torch.cat([pose.flatten(-2), root_step], -1)
        x = (raw - self.x_mean) / self.x_std
        parts = [x, observed.to(x.dtype)]
        if self.config.velocity:
            B = pose.shape[0]
            ok = torch.zeros(B, dtype=x.dtype, device=x.device) if prev_ok is None else prev_ok.to(x)
            first = pose[:, 0] if prev_pose is None else torch.where(ok[:, None, None] > 0, prev_pose, pose[:, 0])
            vel = pose - torch.cat([first[:, None], pose[:, :-1]], 1)  # (B, T, P, D)
            known = torch.ones_like(x[..., :1])
            known[:, 0, 0] = ok
            parts += [(vel.flatten(-2) - self.v_mean) / self.v_std, known]
        return torch.cat(parts, -1)

    def encode_targets(self, pose_delta: torch.Tensor, next_root_step: torch.Tensor) -> torch.Tensor:
        """(B, T, P, D) and (B, T, D) -> standardised targets (B, T, out)."""
        return (torch.cat([pose_delta.flatten(-2), next_root_step], -1) - self.y_mean) / self.y_std

    def decode_outputs(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """standardised (..., out) -> pose delta (..., P, D) and root step (..., D), body heights."""
        raw = y * self.y_std + self.y_mean
        c = self.config
        return raw[..., : c.pose_features].unflatten(-1, (c.joints, c.dims)), raw[..., c.pose_features:]

    # --- network
    def run(self, x: torch.Tensor, style: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """x (B, T, in), style (B,) or (B, S) -> (MixtureParams over (B, T), new LSTM state)."""
        s = self.style_vector(style)[:, None, :].expand(-1, x.shape[1], -1)  # (B, T, style_dim)
        h, state = self.lstm(torch.cat([x, s], -1), state)  # (B, T, H)
        return self.head(h, s), state

    def step(self, x: torch.Tensor, style_vec: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """One frame: x (B, in), style_vec (B, style_dim) from `style_vector`, state (h, c) each
        (layers, B, H) -> (MixtureParams over (B,), new state). The same network as `run`, cell by
        cell: for one frame at a time it is several times faster than nn.LSTM, whose oneDNN
        path costs ~10 ms per call on a CPU however small the input."""
        h, c = state
        inp = torch.cat([x, style_vec], -1)
        hs, cs = [], []
        for i in range(self.config.layers):
            hi, ci = torch.lstm_cell(inp, (h[i], c[i]), getattr(self.lstm, f"weight_ih_l{i}"),
                                     getattr(self.lstm, f"weight_hh_l{i}"), getattr(self.lstm, f"bias_ih_l{i}"),
                                     getattr(self.lstm, f"bias_hh_l{i}"))
            hs.append(hi)
            cs.append(ci)
            inp = hi if i == self.config.layers - 1 else nn.functional.dropout(hi, self.lstm.dropout, self.training)
        return self.head(inp, style_vec), (torch.stack(hs), torch.stack(cs))

    def forward(self, x: torch.Tensor, style: torch.Tensor, targets: torch.Tensor | None = None,
                target_mask: torch.Tensor | None = None, state=None) -> tuple[MixtureParams, torch.Tensor | None]:
        """Teacher-forced pass: (mdn_params, loss). loss = mixture NLL in nats per observed
        standardised target dimension (None without targets)."""
        params, _ = self.run(x, style, state)
        loss = None if targets is None else mixture_nll(params, targets, target_mask)
        return params, loss

    def style_index(self, name: str) -> int:
        try:
            return self.config.styles.index(name)
        except ValueError:
            raise DancenowError(f"unknown style {name!r}: this model knows {', '.join(self.config.styles)}") from None
