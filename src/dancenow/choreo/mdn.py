"""Mixture density network parts: the mixture's parameters, its negative log-likelihood, sampling.

A mixture of K diagonal Gaussians over D-dimensional targets (Bishop 1994; Graves 2013,
"Generating Sequences With Recurrent Neural Networks", sec. 4, which uses 2D Gaussians with a
correlation; we use a diagonal covariance in D = dozens of pose dimensions). Like a diffusion
scheduler's `step`, `sample` is parameter-free math apart from the network and takes an explicit
`torch.Generator` so runs are reproducible.

Missing target values are marginalised out exactly: a diagonal Gaussian's marginal over the
observed dimensions is the same Gaussian without the missing ones, so a missing dimension simply
contributes nothing to each component's log-density.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class MixtureParams:
    """Parameters of a Gaussian mixture per time step.

    logits: (..., K) unnormalised log mixture weights.
    mu: (..., K, D) component means.
    log_sigma: (..., K, D) log standard deviations (diagonal covariance).
    """

    logits: torch.Tensor
    mu: torch.Tensor
    log_sigma: torch.Tensor

    @property
    def log_pi(self) -> torch.Tensor:
        """(..., K) normalised log mixture weights."""
        return F.log_softmax(self.logits, dim=-1)

    def __getitem__(self, idx) -> "MixtureParams":
        """Index the leading (batch/time) dimensions, e.g. params[:, -1]."""
        return MixtureParams(self.logits[idx], self.mu[idx], self.log_sigma[idx])


def mixture_log_prob(params: MixtureParams, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(...,) log density of targets y (..., D) under the mixture; `mask` (..., D) bool/0-1 marks
    observed dimensions (missing ones are marginalised out)."""
    z = (y.unsqueeze(-2) - params.mu) * torch.exp(-params.log_sigma)  # (..., K, D)
    per_dim = -0.5 * z * z - params.log_sigma - 0.5 * LOG_2PI  # (..., K, D)
    if mask is not None:
        per_dim = per_dim * mask.unsqueeze(-2).to(per_dim.dtype)
    return torch.logsumexp(params.log_pi + per_dim.sum(-1), dim=-1)


def mixture_nll(params: MixtureParams, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean negative log-likelihood in nats per observed target dimension (a scalar).
    Steps with no observed dimension contribute nothing."""
    logp = mixture_log_prob(params, y, mask)
    n = mask.to(y.dtype).sum() if mask is not None else torch.tensor(float(y.numel()), dtype=y.dtype)
    return -logp.sum() / n.clamp_min(1.0)


def mode(params: MixtureParams) -> torch.Tensor:
    """(..., D) the mean of the most probable component: the "most likely" next value we use
    for deterministic rollouts (the true mode of a mixture can lie elsewhere when components
    overlap; this is the usual cheap stand-in)."""
    k = params.logits.argmax(-1)  # (...,)
    return torch.gather(params.mu, -2, k[..., None, None].expand(*k.shape, 1, params.mu.shape[-1])).squeeze(-2)


def mean(params: MixtureParams) -> torch.Tensor:
    """(..., D) the mixture's expected value, sum_k pi_k mu_k: smooth in the weights and the
    means (unlike `mode`), the best single guess under squared error."""
    return (params.log_pi.exp().unsqueeze(-1) * params.mu).sum(-2)


def sample(params: MixtureParams, temperature: "float | torch.Tensor" = 1.0,
           generator: torch.Generator | None = None, spread: torch.Tensor | None = None) -> torch.Tensor:
    """(..., D) one draw from the mixture per leading index.

    temperature scales the randomness as in Graves 2013 / sketch-rnn: mixture logits are divided
    by it and standard deviations multiplied by sqrt(temperature); 0 gives `mode(params)`.
    A tensor of temperatures (one per leading index, all > 0) samples each row at its own.
    `spread` (broadcastable to (..., D)) scales each dimension's standard deviations on top.
    The draw uses only `generator`, so equal seeds give equal samples.
    """
    if isinstance(temperature, torch.Tensor):  # one per leading index (calibration sweeps)
        if (temperature <= 0).any():
            raise ValueError("per-row temperatures must be > 0")
        t = temperature.to(params.mu.dtype).reshape(temperature.shape + (1,) * (params.logits.dim() - temperature.dim()))
        probs = F.softmax(params.logits / t, dim=-1)
        flat = probs.reshape(-1, probs.shape[-1])
        k = torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])
        idx = k[..., None, None].expand(*k.shape, 1, params.mu.shape[-1])
        mu = torch.gather(params.mu, -2, idx).squeeze(-2)
        sigma = torch.gather(params.log_sigma, -2, idx).squeeze(-2).exp() * t.sqrt()
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return mu + sigma * (eps if spread is None else eps * spread)
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return mode(params)
    probs = F.softmax(params.logits / temperature, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    k = torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])  # (...,)
    idx = k[..., None, None].expand(*k.shape, 1, params.mu.shape[-1])
    mu = torch.gather(params.mu, -2, idx).squeeze(-2)
    sigma = torch.gather(params.log_sigma, -2, idx).squeeze(-2).exp() * math.sqrt(temperature)
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + sigma * (eps if spread is None else eps * spread)
