"""Fixtures of the choreography tests: synthetic style folders and small trained models
(helpers in helpers.py). Budget: the whole folder well under two minutes on 2 CPU cores."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dancenow.posefile import save_poses

from .helpers import synthetic_dance, tiny_cfg


@pytest.fixture(scope="session")
def styles_dir(tmp_path_factory) -> Path:
    """Two synthetic styles as pose files: up0/up1 (arms raised) and down0/down1 (arms low)."""
    d = tmp_path_factory.mktemp("styles")
    for i in range(2):
        save_poses(synthetic_dance(0.9, seed=i), d / f"up{i}.npz")
        save_poses(synthetic_dance(0.0, seed=10 + i), d / f"down{i}.npz")
    return d


def style_sources(folder: Path) -> list[tuple[str, str]]:
    return [(str(p), "up" if "up" in p.name else "down") for p in sorted(folder.glob("*.npz"))]


@pytest.fixture(scope="session")
def two_style_model(styles_dir, tmp_path_factory):
    """A small 2D model of the two synthetic styles, (model, info); about 7 CPU-seconds. Drift
    recovery is off: these dancers never move their torso, and a model this small and brief
    cannot learn to tell a drifted torso from a still one precisely (the bench measures the
    default settings on real dance)."""
    from dancenow.choreo.checkpoint import load_model
    from dancenow.choreo.train import train

    torch.set_num_threads(1)
    cfg = tiny_cfg(model=dict(hidden=48), steps=300, lr=3e-3, warmup=10, checkpoint_every=1000,
                   style_dropout=0.1, rollout_weight=1.0, rollout_frames=10, rollout_context=10, rollout_batch=4,
                   input_noise=0.2, drift=0.0)
    ckpt = train(style_sources(styles_dir), tmp_path_factory.mktemp("two") / "m", cfg, threads=1, progress=False)
    return load_model(ckpt)
