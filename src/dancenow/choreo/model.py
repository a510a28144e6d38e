"""The choreography model: a multi-layer LSTM with a mixture density head and a style embedding.

Graves 2013 ("Generating Sequences With Recurrent Neural Networks") wrote handwriting one pen
offset at a time: an LSTM reads the previous offset and emits a Gaussian mixture over the next.
chor-rnn (Crnkovic-Friis & Crnkovic-Friis 2016) and Motion-MDRNN (Wallace et al.) did the same
with dance motion capture. Here one step is one frame, and a frame is the body's bone
directions (skeleton.py) plus the root's step:

    input   x_t = [directions u_t, root step r_t, change of directions u_t - u_{t-1} and whether
                   it is known, observed masks (bones, root step)]               (standardised)
            (3D: every vector turned into the heading frame of frame t, skeleton.heading_frames)
    prior   u'_{t+1} = u_t + damping (u_t - u_{t-1}),  r'_{t+1} = damping r_t  (damped constant
            velocity: the motion goes on, slowing down)
    output  a mixture over y_t = [u_{t+1} - u'_{t+1}, r_{t+1} - r'_{t+1}]       (standardised,
            3D: in the heading frame of frame t)
    next    u_{t+1} = project(u'_{t+1} + y_u): back onto the unit sphere (3D) or disk (2D)

Predicting the change from the prior means an unsure or untrained network continues the motion
it sees smoothly, instead of jumping on the first frame. Predicting directions means positions
(directions x the dancer's bone lengths, summed from the root) keep every bone's length. Reading
and predicting in the body's own heading frame means facing is not style, and hips and
shoulders cannot drift apart unnoticed (with camera-frame directions, sampled 60 s dances
twisted the torso by 40-130 degrees; real dancers stay within about 25).

A learned style vector is appended to every input and to the mixture head's input. Style
index 0 is "any": training swaps a stretch's style for it now and then (style dropout), so the
model has a style-free mode for dances of unknown style. Blending styles = a weighted mix of
their embedding vectors (train.py's style transitions make the label matter). The style-free
mode also gives generation its guidance (generate.rollout): run both, and step past the
style-free output toward the style's.

Reading order: MDNHead, ChoreoModel.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn

from dancenow.choreo.config import ChoreoConfig
from dancenow.choreo.mdn import MixtureParams, mean, mixture_nll, mode
from dancenow.choreo.skeleton import NUM_BONES, heading_frames, project
from dancenow.errors import DancenowError


class MDNHead(nn.Module):
    """hidden (..., H) + style (..., S) -> MixtureParams over `out_features` with `mixtures`
    diagonal components."""

    def __init__(self, config: ChoreoConfig, out_features: int):
        super().__init__()
        self.k, self.d = config.mixtures, out_features
        self.min_log_sigma = config.min_log_sigma
        # the head sees the style too, so a style acts on the output directly and not only
        # through the recurrence (where a clear motion history can drown it out)
        self.proj = nn.Linear(config.hidden + config.style_dim, self.k * (1 + 2 * self.d))
        with torch.no_grad():  # start near "the prior is right": small means, unit spreads
            self.proj.weight.mul_(0.1)
            self.proj.bias.zero_()

    def forward(self, h: torch.Tensor, style_vec: torch.Tensor) -> MixtureParams:
        """h (..., H) and style_vec (..., style_dim) -> mixture parameters."""
        out = self.proj(torch.cat([h, style_vec], -1))  # (..., K + 2KD)
        logits, rest = out[..., : self.k], out[..., self.k:]
        mu, log_sigma = rest.unflatten(-1, (self.k, 2 * self.d)).chunk(2, dim=-1)  # (..., K, D) each
        # soft floor: differentiable everywhere, unlike clamp
        log_sigma = self.min_log_sigma + nn.functional.softplus(log_sigma - self.min_log_sigma)
        return MixtureParams(logits, mu, log_sigma)


class ChoreoModel(nn.Module):
    """LSTM + MDN over standardised bone directions and root steps, conditioned on a style.
    `config.dims` must be 2 or 3 (the trainer resolves 0 from the data)."""

    def __init__(self, config: ChoreoConfig):
        super().__init__()
        if config.dims not in (2, 3):
            raise DancenowError(f"a model needs dims 2 or 3, got {config.dims}")
        self.config = c = config
        D = c.dims
        self.n_dir = NUM_BONES * D
        self.in_features = 2 * self.n_dir + D + 1 + NUM_BONES + 1
        self.out_features = self.n_dir + D
        self.style_embedding = nn.Embedding(len(c.styles), c.style_dim)
        self.lstm = nn.LSTM(self.in_features + c.style_dim, c.hidden, c.layers, batch_first=True,
                            dropout=c.dropout if c.layers > 1 else 0.0)
        self.head = MDNHead(c, self.out_features)
        # feature standardisation, set from the training data (saved with the weights)
        for name, n in (("x", self.n_dir + D), ("v", self.n_dir), ("y", self.out_features)):
            self.register_buffer(f"{name}_mean", torch.zeros(n))
            self.register_buffer(f"{name}_std", torch.ones(n))
        # the forecaster (config.forecaster > 0): a copy of this network that training fine-tunes
        # for forecasting after the rest (train.py); made from its own random numbers, so a
        # model with one trains its dancer exactly as a model without
        self.forecaster: ChoreoModel | None = None
        if c.forecaster > 0:
            with torch.random.fork_rng(devices=[]):
                self.forecaster = ChoreoModel(dataclasses.replace(c, forecaster=0.0))

    def dancer_parameters(self) -> list[nn.Parameter]:
        """The parameters that dance (everything but the forecaster's)."""
        return [p for n, p in self.named_parameters() if not n.startswith("forecaster.")]

    def dancer_state(self) -> dict[str, torch.Tensor]:
        """The dancer's weights and statistics (a state dict without the forecaster's)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("forecaster.")}

    # --- styles
    def style_vector(self, style: torch.Tensor) -> torch.Tensor:
        """(B,) style indices or (B, S) blend weights (rows summing to 1) -> (B, style_dim)."""
        if style.dtype in (torch.int32, torch.int64):
            return self.style_embedding(style)
        return style.to(self.style_embedding.weight.dtype) @ self.style_embedding.weight

    def style_index(self, name: str) -> int:
        try:
            return self.config.styles.index(name)
        except ValueError:
            raise DancenowError(f"unknown style {name!r}: this model knows {', '.join(self.config.styles)}") from None

    # --- features
    @staticmethod
    def velocities(u: torch.Tensor, prev_u: torch.Tensor | None = None,
                   prev_ok: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame change of directions (B, T, Bn, D) within `u` (B, T, Bn, D); the first
        frame's uses `prev_u` (B, Bn, D) where `prev_ok` (B,) says it exists, else it is 0 and
        flagged unknown. Returns (velocities, known (B, T, 1))."""
        B = u.shape[0]
        ok = torch.zeros(B, dtype=u.dtype, device=u.device) if prev_ok is None else prev_ok.to(u)
        first = u[:, 0] if prev_u is None else torch.where(ok[:, None, None] > 0, prev_u, u[:, 0])
        vel = u - torch.cat([first[:, None], u[:, :-1]], 1)
        known = torch.ones(u.shape[:2] + (1,), dtype=u.dtype, device=u.device)
        known[:, 0, 0] = ok
        return vel, known

    def frame(self, u: torch.Tensor) -> torch.Tensor | None:
        """The heading frames (..., 3, 3) of directions (..., Bn, 3); None in 2D (the front view
        is the frame)."""
        return heading_frames(u) if self.config.dims == 3 else None

    @staticmethod
    def turn(frame: torch.Tensor | None, v: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        """Vectors v (..., D) or (..., n, D) into a frame (..., D, D) (or back with `inverse`)."""
        if frame is None:
            return v
        f = frame.transpose(-1, -2) if inverse else frame
        if v.dim() == f.dim() - 1:
            return (f @ v.unsqueeze(-1)).squeeze(-1)
        return v @ f.transpose(-1, -2)

    def encode_inputs(self, u: torch.Tensor, root_step: torch.Tensor, observed: torch.Tensor,
                      prev_u: torch.Tensor | None = None, prev_ok: torch.Tensor | None = None) -> torch.Tensor:
        """u (B, T, Bn, D) directions, root_step (B, T, D), observed (B, T, Bn + 1) -> x (B, T, in).
        Unobserved values must already be filled in (interpolated, or the training default):
        the mask tells the model they are guesses. `prev_u`/`prev_ok` as in `velocities`."""
        f = self.frame(u)
        vel, known = self.velocities(u, prev_u, prev_ok)
        raw = torch.cat([self.turn(f, u).flatten(-2), self.turn(f, root_step)], -1)
        x = (raw - self.x_mean) / self.x_std
        v = (self.turn(f, vel).flatten(-2) - self.v_mean) / self.v_std
        return torch.cat([x, v, known, observed.to(x.dtype)], -1)

    def prior(self, u: torch.Tensor, vel: torch.Tensor, root_step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The damped constant-velocity guess of the next frame: directions (..., Bn, D) (not yet
        projected) and root step (..., D)."""
        a = self.config.damping
        return u + a * vel, a * root_step

    def encode_targets(self, u_next: torch.Tensor, step_next: torch.Tensor, u_prior: torch.Tensor,
                       step_prior: torch.Tensor, frame: torch.Tensor | None = None) -> torch.Tensor:
        """The next frame relative to its prior, in `frame` (that of the frame predicted from)
        -> standardised targets (..., out)."""
        y = torch.cat([self.turn(frame, u_next - u_prior).flatten(-2), self.turn(frame, step_next - step_prior)], -1)
        return (y - self.y_mean) / self.y_std

    def decode(self, y: torch.Tensor, u_prior: torch.Tensor, step_prior: torch.Tensor,
               frame: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised outputs (..., out) in `frame` + the prior -> the next frame's directions
        (..., Bn, D), projected, and root step (..., D)."""
        raw = y * self.y_std + self.y_mean
        du = self.turn(frame, raw[..., : self.n_dir].unflatten(-1, (NUM_BONES, self.config.dims)), inverse=True)
        return project(u_prior + du), step_prior + self.turn(frame, raw[..., self.n_dir:], inverse=True)

    def point(self, params: MixtureParams) -> torch.Tensor:
        """The deterministic output of a mixture (config.point: its mode or its mean)."""
        return mean(params) if self.config.point == "mean" else mode(params)

    # --- network
    def run(self, x: torch.Tensor, style: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """x (B, T, in), style (B,) or (B, S) -> (MixtureParams over (B, T), new LSTM state)."""
        h, s, state = self.hidden(x, style, state)
        return self.head(h, s), state

    def run_many(self, xs: list[torch.Tensor], styles: list[torch.Tensor]) -> list[tuple]:
        """`run` of several inputs (B_i, T_i, in) with their styles, each from a zero state, in one
        LSTM call (packed sequences of their own lengths): nn.LSTM costs about as much a call as
        a short sequence takes, so a hedge's eight context passes (`generate.forecasts`) took 31
        ms instead of 83 (batch 1 mirrored, one thread, default preset). Returns (mixtures, state)
        per input, as `run` would (within 1e-5)."""
        if len(xs) == 1:
            return [self.run(xs[0], styles[0])]
        vecs = [self.style_vector(st) for st in styles]
        lengths = [x.shape[1] for x in xs for _ in range(x.shape[0])]
        T = max(lengths)
        pad = xs[0].new_zeros(len(lengths), T, xs[0].shape[-1] + vecs[0].shape[-1])
        at = 0
        for x, v in zip(xs, vecs):
            pad[at:at + x.shape[0], :x.shape[1]] = torch.cat([x, v[:, None].expand(-1, x.shape[1], -1)], -1)
            at += x.shape[0]
        packed = nn.utils.rnn.pack_padded_sequence(pad, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        out, (h_n, c_n) = self.lstm(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
        runs, at = [], 0
        for x, v in zip(xs, vecs):
            n, L = x.shape[:2]
            params = self.head(h[at:at + n, :L], v[:, None].expand(-1, L, -1))
            runs.append((params, (h_n[:, at:at + n], c_n[:, at:at + n])))
            at += n
        return runs

    def hidden(self, x: torch.Tensor, style: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """`run` without the head: (top LSTM layer's output (B, T, H), style vectors (B, T,
        style_dim), new state)."""
        s = self.style_vector(style)[:, None, :].expand(-1, x.shape[1], -1)  # (B, T, style_dim)
        h, state = self.lstm(torch.cat([x, s], -1), state)  # (B, T, H)
        return h, s, state

    def step(self, x: torch.Tensor, style_vec: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """One frame: x (B, in), style_vec (B, style_dim) from `style_vector`, state (h, c) each
        (layers, B, H) -> (MixtureParams over (B,), new state). The same network as `run`, cell by
        cell: for one frame at a time it is several times faster than nn.LSTM, whose oneDNN
        path costs ~10 ms per call on a CPU however small the input."""
        h, state = self.step_hidden(x, style_vec, state)
        return self.head(h, style_vec), state

    def step_hidden(self, x: torch.Tensor, style_vec: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """`step` without the head: (top layer's output (B, H), new state)."""
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
        return inp, (torch.stack(hs), torch.stack(cs))

    def forward(self, x: torch.Tensor, style: torch.Tensor, targets: torch.Tensor | None = None,
                target_mask: torch.Tensor | None = None, state=None) -> tuple[MixtureParams, torch.Tensor | None]:
        """Teacher-forced pass: (mdn_params, loss). loss = mixture NLL in nats per observed
        standardised target dimension (None without targets)."""
        params, _ = self.run(x, style, state)
        loss = None if targets is None else mixture_nll(params, targets, target_mask)
        return params, loss
