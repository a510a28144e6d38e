"""Image quality for held-out frames during training: SSIM and PSNR on uint8 RGB images.

SSIM follows Wang et al. 2004 with scikit-image's settings (`structural_similarity(...,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
channel_axis=-1)`): an 11-tap Gaussian window, K1 = 0.01, K2 = 0.03, per-channel maps averaged
over the image minus a 5-pixel border (where the window would leave the image). Computed in
torch (float64) so it runs on whatever device trains.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

_SIGMA = 1.5
_RADIUS = int(3.5 * _SIGMA + 0.5)  # scipy's gaussian_filter truncate=3.5 -> 11 taps


def _as_batch(x) -> torch.Tensor:
    """(H, W, 3) or (N, H, W, 3) uint8 (numpy or torch) -> (N, 3, H, W) float64 in [0, 255]."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[-1] not in (1, 3):
        raise ValueError(f"expected (N, H, W, 3) images, got {tuple(t.shape)}")
    return t.permute(0, 3, 1, 2).to(torch.float64)


def _gauss_window(device) -> torch.Tensor:
    x = torch.arange(-_RADIUS, _RADIUS + 1, dtype=torch.float64, device=device)
    g = torch.exp(-0.5 * (x / _SIGMA) ** 2)
    return g / g.sum()


def ssim_per_image(a, b, data_range: float = 255.0) -> np.ndarray:
    """(N,) SSIM of each image pair; a, b: (N, H, W, 3) or (H, W, 3) uint8 RGB, in [0, 1]."""
    x, y = _as_batch(a), _as_batch(b)
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    if min(x.shape[-2:]) < 2 * _RADIUS + 1:
        raise ValueError(f"images must be at least {2 * _RADIUS + 1} px on each side for SSIM")
    y = y.to(x.device)
    c = x.shape[1]
    g = _gauss_window(x.device)
    kx = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    ky = g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(t):  # separable Gaussian, "valid": only where the window fits inside the image
        return F.conv2d(F.conv2d(t, kx, groups=c), ky, groups=c)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3)).cpu().numpy()


def ssim(a, b) -> float:
    """Mean SSIM over image pairs (uint8 RGB), in [0, 1] for natural images; 1 = identical."""
    return float(np.mean(ssim_per_image(a, b)))


def psnr_per_image(a, b, cap: float = 100.0) -> np.ndarray:
    """(N,) PSNR in dB of each pair of uint8 images (identical images get `cap`)."""
    x, y = _as_batch(a), _as_batch(b).to(_as_batch(a).device)
    mse = ((x - y) ** 2).mean(dim=(1, 2, 3)).cpu().numpy()
    with np.errstate(divide="ignore"):
        out = 10 * np.log10(255.0 ** 2 / mse)
    return np.minimum(out, cap)


def psnr(a, b) -> float:
    """Mean PSNR in dB over image pairs (uint8 RGB)."""
    return float(np.mean(psnr_per_image(a, b)))
