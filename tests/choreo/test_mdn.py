"""The mixture density network's parts: likelihood, marginalisation, sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dancenow.choreo.mdn import MixtureParams, mixture_log_prob, mixture_nll, mode, sample


def test_mdn_nll_matches_hand_computed_mixture():
    # K = 2 components, D = 2 dims, one step; float64
    logits = torch.tensor([[0.3, -0.5]], dtype=torch.float64)
    mu = torch.tensor([[[0.0, 1.0], [2.0, -1.0]]], dtype=torch.float64)
    log_sigma = torch.tensor([[[0.0, math.log(0.5)], [math.log(2.0), 0.0]]], dtype=torch.float64)
    y = torch.tensor([[0.5, 0.2]], dtype=torch.float64)
    p = MixtureParams(logits, mu, log_sigma)

    def normal(x, m, s):
        return math.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))

    w = np.exp([0.3, -0.5]) / np.exp([0.3, -0.5]).sum()
    c0 = normal(0.5, 0.0, 1.0) * normal(0.2, 1.0, 0.5)
    c1 = normal(0.5, 2.0, 2.0) * normal(0.2, -1.0, 1.0)
    nll = -math.log(w[0] * c0 + w[1] * c1)
    assert float(-mixture_log_prob(p, y)[0]) == pytest.approx(nll, abs=1e-12)
    assert float(mixture_nll(p, y)) == pytest.approx(nll / 2, abs=1e-12)  # per dimension
    # dimension 1 missing: marginal = mixture of the dimension-0 Gaussians
    mask = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    nll0 = -math.log(w[0] * normal(0.5, 0.0, 1.0) + w[1] * normal(0.5, 2.0, 2.0))
    assert float(mixture_nll(p, y, mask)) == pytest.approx(nll0, abs=1e-12)


def test_sample_is_seeded_and_temperature_zero_is_mode():
    torch.manual_seed(0)
    p = MixtureParams(torch.randn(5, 3), torch.randn(5, 3, 4), torch.randn(5, 3, 4) * 0.1)
    a = sample(p, 1.0, torch.Generator().manual_seed(7))
    b = sample(p, 1.0, torch.Generator().manual_seed(7))
    c = sample(p, 1.0, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(sample(p, 0.0), mode(p))
    # one component: draws have its mean and (sqrt(temperature) x) its sigma
    one = MixtureParams(torch.zeros(20000, 1), torch.full((20000, 1, 1), 2.0), torch.full((20000, 1, 1), math.log(0.5)))
    s = sample(one, 0.25, torch.Generator().manual_seed(0))
    assert float(s.mean()) == pytest.approx(2.0, abs=0.01)
    assert float(s.std()) == pytest.approx(0.25, abs=0.01)


def test_sample_with_one_temperature_per_row():
    """A tensor of temperatures samples each row as the scalar would (calibration sweeps)."""
    one = MixtureParams(torch.zeros(2, 20000, 1), torch.full((2, 20000, 1, 1), 2.0),
                        torch.full((2, 20000, 1, 1), math.log(0.5)))
    s = sample(one, torch.tensor([0.25, 1.0]), torch.Generator().manual_seed(0))
    assert s.shape == (2, 20000, 1)
    assert float(s[0].std()) == pytest.approx(0.25, abs=0.01) and float(s[1].std()) == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError):
        sample(one, torch.tensor([0.0, 1.0]))
