"""Synthetic dances and tiny configs for the choreography tests (seeded, no files)."""

from __future__ import annotations

import dataclasses

import numpy as np

from dancenow.choreo.clips import pose_to_body25
from dancenow.choreo.config import ChoreoConfig, ChoreoTrainConfig
from dancenow.keypoints import NUM_JOINTS, PoseSequence

FPS = 30.0

# A standing figure in body heights relative to the mid-hip, image axes (x right, y down),
# MODEL_JOINTS order: nose, R shoulder/elbow/wrist, L shoulder/elbow/wrist, R hip/knee/ankle,
# L hip/knee/ankle, L big toe, R big toe. The dancer faces the camera (their right at image left).
BASE = np.array([
    [0.0, -0.42], [-0.10, -0.30], [-0.14, -0.14], [-0.16, 0.00], [0.10, -0.30], [0.14, -0.14], [0.16, 0.00],
    [-0.06, 0.0], [-0.07, 0.26], [-0.07, 0.52], [0.06, 0.0], [0.07, 0.26], [0.07, 0.52], [0.10, 0.56], [-0.10, 0.56],
])


def synthetic_body(arms_up: float, seconds: float = 8.0, seed: int = 0, beat_hz: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(pose (T, 15, 2), root (T, 2)) body heights: a periodic dance (arm swings at `beat_hz`,
    knee bends at twice that, hip sway) with arms raised by `arms_up` (0 = down, 1 =
    overhead); each limb keeps its length; smooth at 30 fps."""
    rng = np.random.default_rng(seed)
    T = int(seconds * FPS)
    t = np.arange(T) / FPS
    phase = rng.uniform(0, 2 * np.pi)
    pose = np.repeat(BASE[None], T, 0).copy()
    for side, sh, el, wr in ((-1, 1, 2, 3), (1, 4, 5, 6)):
        ang = np.pi / 2 - arms_up * np.pi * 0.8 + 0.35 * np.sin(2 * np.pi * beat_hz * t + phase + (side > 0) * np.pi)
        upper = 0.16 * np.stack([side * np.cos(ang), np.sin(ang)], -1)
        pose[:, el] = pose[:, sh] + upper
        pose[:, wr] = pose[:, el] + 0.15 * np.stack([side * np.cos(ang - 0.3), np.sin(ang - 0.3)], -1)
    bend = 0.03 * (1 + np.sin(2 * np.pi * 2 * beat_hz * t + phase))
    for k, a in ((8, 9), (11, 12)):
        pose[:, k, 0] += np.sign(pose[:, k, 0]) * bend
        pose[:, a, 1] -= bend
    pose[:, 13, 1] -= bend
    pose[:, 14, 1] -= bend
    root = np.stack([0.05 * np.sin(2 * np.pi * 0.5 * t + phase), np.zeros(T)], -1)
    return pose, root


def synthetic_dance(arms_up: float, seconds: float = 8.0, seed: int = 0, px: float = 300.0,
                    beat_hz: float = 1.0) -> PoseSequence:
    """`synthetic_body` as a PoseSequence in pixels of a 640x480 frame."""
    pose, root = synthetic_body(arms_up, seconds, seed, beat_hz)
    body = pose_to_body25(pose, root)
    kp = np.zeros((len(pose), NUM_JOINTS, 3), np.float32)
    ok = np.isfinite(body).all(-1)
    kp[:, :25, :2] = np.where(ok[..., None], body * px + [320, 150], 0)
    kp[:, :25, 2] = ok
    return PoseSequence(kp, FPS, 640, 480)


def tiny_cfg(**kw) -> ChoreoTrainConfig:
    """A tiny, fast training config; `model=dict(...)` overrides model settings."""
    model = dict(hidden=32, layers=1, mixtures=2, style_dim=4, dropout=0.0)
    model.update(kw.pop("model", {}))
    base = dict(steps=6, batch_size=8, bptt=15, episode=2, warmup=5, lr=5e-3, checkpoint_every=3, keep=2,
                rollout_weight=0.0, input_noise=0.2)
    base.update(kw)
    return dataclasses.replace(ChoreoTrainConfig(model=ChoreoConfig(**model)), **base).validate()
