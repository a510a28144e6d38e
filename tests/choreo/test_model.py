"""The model's prediction frame: targets and decoding (model.py), on CPU with tiny configs."""

from __future__ import annotations

import torch

from dancenow.choreo.config import ChoreoConfig
from dancenow.choreo.model import ChoreoModel
from dancenow.choreo.skeleton import heading_angles, project, yaw_frames


def _dance(frames: int = 6, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    down = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    return project(torch.randn(frames, 14, 3, generator=g, dtype=torch.float64) + down)


def test_targets_decode_back_to_the_next_frame_exactly():
    """With and without heading_rate: decode(encode_targets(next)) is the next frame, so the
    network's output space loses nothing."""
    u = _dance()
    step = 0.01 * torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for heading_rate in (True, False):
        m = ChoreoModel(ChoreoConfig(dims=3, heading_rate=heading_rate))
        prior = m.prior(u[1:-1], u[1:-1] - u[:-2], step[1:-1])
        y = m.encode_targets(u[2:], step[2:], prior)
        assert y.shape[-1] == m.out_features == 14 * 3 + 3 + int(heading_rate)
        nxt, nstep = m.decode(y, prior)
        torch.testing.assert_close(nxt, u[2:], atol=1e-9, rtol=0)  # body heights / unit directions
        torch.testing.assert_close(nstep, step[2:], atol=1e-12, rtol=0)


def test_a_spin_is_one_number_for_the_whole_body():
    """A dancer spinning at a steady rate holds their posture: with heading_rate the prior
    (damping 1) continues the spin exactly, and a change of spin speed is the heading target
    alone (every posture target 0); without it, the speed-up lands on every horizontal bone."""
    pose = _dance(1)[0]
    yaws = torch.tensor([0.0, 0.3, 0.6, 1.0], dtype=torch.float64)  # steady, then faster
    u = pose @ yaw_frames(yaws)  # (4, 14, 3): the same posture, turned to heading + yaws
    step = torch.zeros(4, 3, dtype=torch.float64)
    m = ChoreoModel(ChoreoConfig(dims=3, damping=1.0))
    prior = m.prior(u[1], u[1] - u[0], step[1])
    torch.testing.assert_close(project(prior.u), u[2], atol=1e-9, rtol=0)
    y = m.encode_targets(u[3], step[3], m.prior(u[2], u[2] - u[1], step[2]))
    assert y[: 14 * 3].abs().max() < 1e-9 and abs(float(y[-1]) - 0.1) < 1e-9  # radians
    old = ChoreoModel(ChoreoConfig(dims=3, damping=1.0, heading_rate=False))
    y_old = old.encode_targets(u[3], step[3], old.prior(u[2], u[2] - u[1], step[2]))
    assert y_old[: 14 * 3].abs().max() > 0.01
    assert abs(float(heading_angles(u[3]) - heading_angles(u[0])) - 1.0) < 1e-9
