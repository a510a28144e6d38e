"""Full-reference image metrics on RGB uint8 frames: SSIM and PSNR.

Both match scikit-image exactly (the reference the paper's numbers are usually computed with):
  ssim(a, b) == skimage.metrics.structural_similarity(a, b, channel_axis=-1, data_range=255)
  psnr(a, b) == skimage.metrics.peak_signal_noise_ratio(a, b, data_range=255)
i.e. Wang et al. 2004 SSIM with a 7x7 uniform window, sample covariance (N/(N-1)), K1 = 0.01,
K2 = 0.03, the mean of the SSIM map without a 3-pixel border, averaged over the three channels.
scikit-image is only used by the tests; here the box filter is OpenCV's (5x faster than
scipy.ndimage.uniform_filter on a 640x480 frame, equal to it within 1e-12).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from dancenow.errors import DancenowError

SSIM_WINDOW = 7  # pixels, skimage's default for gaussian_weights=False
SSIM_K1, SSIM_K2 = 0.01, 0.03
DATA_RANGE = 255.0  # uint8


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise DancenowError(f"images differ in size: {a.shape} vs {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise DancenowError(f"images must be RGB uint8 (H, W, 3), got {a.dtype} {a.shape} and {b.dtype} {b.shape}")
    return a, b


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of two RGB uint8 images (H, W, 3), in [-1, 1] (1 = identical).

    Both sides must be at least 7 x 7 pixels (the window)."""
    a, b = _check_pair(a, b)
    h, w = a.shape[:2]
    if min(h, w) < SSIM_WINDOW:
        raise DancenowError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {w}x{h}")
    x = a.astype(np.float64)
    y = b.astype(np.float64)

    def box(img: np.ndarray) -> np.ndarray:  # mean over the 7x7 window, per channel
        return cv2.boxFilter(img, -1, (SSIM_WINDOW, SSIM_WINDOW), normalize=True, borderType=cv2.BORDER_REFLECT)

    n = SSIM_WINDOW * SSIM_WINDOW
    cov_norm = n / (n - 1)  # sample covariance, as skimage's use_sample_covariance=True
    ux, uy = box(x), box(y)
    vx = cov_norm * (box(x * x) - ux * ux)
    vy = cov_norm * (box(y * y) - uy * uy)
    vxy = cov_norm * (box(x * y) - ux * uy)
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))  # (H, W, 3)
    pad = (SSIM_WINDOW - 1) // 2  # windows that overhang the border are left out (skimage's crop)
    s = s[pad:h - pad, pad:w - pad]
    # skimage averages each channel's map, then the channels; equal sizes make that the plain mean
    return float(s.reshape(-1, 3).mean(axis=0, dtype=np.float64).mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two RGB uint8 images, peak 255; inf when identical."""
    a, b = _check_pair(a, b)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return float(10.0 * np.log10(DATA_RANGE**2 / mse))
