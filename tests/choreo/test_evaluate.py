"""Evaluation: the baselines are what they say, health measures what it says."""

from __future__ import annotations

import numpy as np
import pytest

from dancenow.choreo.clips import Clip
from dancenow.choreo.evaluate import dance_health, evaluate_forecast, pose_statistics
from dancenow.choreo.skeleton import bone_lengths

from .helpers import BASE, FPS, synthetic_body


def test_forecast_baselines_on_constant_velocity_motion(two_style_model):
    model, info = two_style_model
    T_ = 90
    v, v_root = np.array([0.004, -0.002]), np.array([0.003, 0.0])  # body heights per frame
    k = np.arange(T_)[:, None]
    pose = np.repeat(BASE[None], T_, 0)
    pose[:, 3] += k * v  # the right wrist moves at a constant velocity, the rest of the body is still
    root = k * v_root  # and the dancer travels at a constant velocity
    clip = Clip(pose.astype(np.float32), root.astype(np.float32), np.ones((T_, 15), bool), np.ones(T_, bool), FPS, 1.0,
                "cv", "up")
    rep = evaluate_forecast(model, info, [clip], stride_s=0.5)
    speed = float(np.linalg.norm(v)) / 15  # one joint of 15 moves
    assert rep.horizons == (1, 15, 30) and rep.windows == 3  # starts at 0, 0.5 and 1 s
    np.testing.assert_allclose(rep.body["constant velocity"], 0.0, atol=1e-6)
    np.testing.assert_allclose(rep.with_root["constant velocity"], 0.0, atol=1e-6)
    np.testing.assert_allclose(rep.body["zero-velocity"], [speed, 15 * speed, 30 * speed], rtol=1e-5)
    # the damped prior: the root's step decays by `damping` per frame, the wrist's bone turns on
    a = model.config.damping
    travelled = sum(a ** (i + 1) for i in range(30)) * np.linalg.norm(v_root)
    assert rep.with_root["damped velocity"][2] < rep.with_root["zero-velocity"][2]
    assert rep.with_root["damped velocity"][2] > 30 * np.linalg.norm(v_root) - travelled - 0.01
    assert rep.gain("constant velocity", 1) == pytest.approx(1.0, abs=1e-5)
    assert "zero-velocity" in rep.table() and np.isfinite(rep.nll)


def test_health_of_real_motion_is_healthy_and_a_frozen_one_is_not():
    pose, _ = synthetic_body(0.5, seconds=20)
    ref = pose_statistics([pose], FPS)
    h = dance_health(pose, FPS, ref)
    assert h.ok and h.lively and h.speed_ratio == pytest.approx(1.0) and h.spread_ratio == pytest.approx(1.0)
    frozen = dance_health(np.repeat(pose[:1], 300, 0), FPS, ref)
    assert not frozen.ok and frozen.frozen_fraction == 1.0 and not frozen.lively
    shrunk = pose.copy()
    shrunk[:, 3] = shrunk[:, 2] + 0.5 * (shrunk[:, 3] - shrunk[:, 2])  # the right forearm at half length
    assert not dance_health(shrunk, FPS, ref).bones_ok
    # a seeded dance is judged against its own dancer's bones, not the style's median dancer
    other = pose_statistics([1.3 * pose], FPS)  # a style whose dancers are 1.3x as tall
    assert not dance_health(pose, FPS, other).bones_ok
    assert dance_health(pose, FPS, other, dancer=np.nanmedian(bone_lengths(pose), 0)).bones_ok
    assert not dance_health(shrunk, FPS, other, dancer=np.nanmedian(bone_lengths(pose), 0)).bones_ok
