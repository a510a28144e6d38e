"""Live: the forecaster on a pose stream, and a whole session on a clip without a display."""

from __future__ import annotations

import numpy as np
import pytest

from dancenow.choreo.live import LiveConfig, LiveForecaster, live_session
from dancenow.choreo.skeleton import MODEL_JOINTS
from dancenow.errors import DancenowError
from dancenow.keypoints import NUM_JOINTS

from .helpers import synthetic_dance


def test_live_forecaster_on_a_stream(two_style_model):
    model, info = two_style_model
    seq = synthetic_dance(0.45, seconds=1.5, seed=3)
    fc = LiveForecaster(model, info, LiveConfig(horizon_s=0.5, style="up"))
    out = [fc.push(kp) for kp in seq.keypoints]
    assert out[0] is None and all(f is not None for f in out[1:])
    f = out[-1]
    assert f.keypoints.shape == (15, NUM_JOINTS, 3)
    body = f.keypoints[:, list(MODEL_JOINTS)]
    assert (body[..., 2] == 1).all()
    # the first predicted frame continues the last observed one: within 0.02 body heights (6 px)
    last = seq.keypoints[-1, list(MODEL_JOINTS), :2]
    assert np.abs(body[0, :, :2] - last).max() < 0.02 * 300


def test_live_session_on_a_clip_without_a_display(two_style_model, tmp_path):
    """A 50 fps stand-in video: shown and recorded at 50 fps, forecast at the model's 30."""
    from dancenow.choreo.checkpoint import save_checkpoint
    from dancenow.posefile import save_poses
    from dancenow.render import render_sequence
    from dancenow.video import probe, write_video

    model, info = two_style_model
    save_checkpoint(tmp_path / "m", model, {k: v for k, v in info.items() if k not in ("format", "version", "config")})
    seq = synthetic_dance(0.5, seconds=1.6)
    idx = np.minimum(np.round(np.arange(80) * 30 / 50).astype(int), len(seq) - 1)
    fast = seq.replace(keypoints=seq.keypoints[idx] * [0.25, 0.25, 1], fps=50.0, width=160, height=120)
    write_video(tmp_path / "v.mp4", render_sequence(fast, (160, 120)), 50.0)
    save_poses(fast, tmp_path / "v.npz")
    stats = live_session(tmp_path / "m", source=tmp_path / "v.mp4", poses=tmp_path / "v.npz", show=False,
                         record=tmp_path / "live.mp4", progress=False, config=LiveConfig(every=1))
    assert stats.frames == 80 and stats.fps == 50.0
    assert 45 <= stats.forecasts <= 48  # about 30 model frames per second of the 1.6 s clip, from the 2nd
    vi = probe(tmp_path / "live.mp4")
    assert vi.fps == pytest.approx(50.0) and vi.frame_count == 80 and vi.size == (320, 120)
    with pytest.raises(DancenowError, match="--record"):
        live_session(tmp_path / "m", source=tmp_path / "v.mp4", poses=tmp_path / "v.npz", show=False)


def test_a_slow_forecast_costs_how_often_it_refreshes_not_the_display(two_style_model, tmp_path, monkeypatch):
    """By default forecasts run beside the display: one that takes 0.25 s (a hedged forecast on
    a slow core) refreshes a few times a second while every frame of the stand-in video is
    shown, each with the newest forecast from where the dancer is by then."""
    import time

    from dancenow.choreo import live
    from dancenow.choreo.checkpoint import save_checkpoint
    from dancenow.posefile import save_poses
    from dancenow.video import probe, read_frames, write_video

    model, info = two_style_model
    save_checkpoint(tmp_path / "m", model, {k: v for k, v in info.items() if k not in ("format", "version", "config")})
    seq = synthetic_dance(0.5, seconds=1.6)
    seq = seq.replace(keypoints=seq.keypoints * [0.25, 0.25, 1], width=160, height=120)
    write_video(tmp_path / "v.mp4", np.zeros((len(seq), 120, 160, 3), np.uint8), seq.fps)
    save_poses(seq, tmp_path / "v.npz")
    made, predict = [], live.LiveForecaster.predict

    def slow(self, context):
        time.sleep(0.25)
        made.append(len(context[0]))
        return predict(self, context)

    monkeypatch.setattr(live.LiveForecaster, "predict", slow)
    t0 = time.perf_counter()
    stats = live_session(tmp_path / "m", source=tmp_path / "v.mp4", poses=tmp_path / "v.npz", show=False,
                         record=tmp_path / "live.mp4", progress=False)
    took = time.perf_counter() - t0
    assert stats.frames == len(seq) and probe(tmp_path / "live.mp4").frame_count == len(seq)
    # played at the video's rate (a stand-in camera), not 48 x 0.25 s as in step with the display
    assert 1.6 * 0.95 < took < 0.25 * len(seq) / 2
    assert 1 <= stats.forecasts <= 1.6 / 0.25 + 1
    assert made[0] == 2 and made[-1] > made[0]  # each from the newest context
    shown = np.stack(list(read_frames(tmp_path / "live.mp4")))[:, :, 160:]
    assert shown[-5:].max() > 100  # late frames carry a forecast in full colour


def test_live_needs_a_2d_model(tmp_path):
    import torch

    from dancenow.choreo.config import ChoreoConfig
    from dancenow.choreo.model import ChoreoModel

    model = ChoreoModel(ChoreoConfig(dims=3, hidden=8, layers=1, mixtures=1, style_dim=2))
    with pytest.raises(DancenowError, match="2D model"):
        LiveForecaster(model, {"dims": 3, "fps": 30.0, "defaults": {}})
    del torch
