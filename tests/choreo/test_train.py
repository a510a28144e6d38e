"""Training: checkpoints, exact resume, Ctrl-C, --no-resume, damaged checkpoints, checks before
anything is written, the batch stream."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from dancenow.choreo import checkpoint as K
from dancenow.choreo import train as T
from dancenow.choreo.clips import clip_arrays
from dancenow.errors import DancenowError

from .conftest import style_sources
from .helpers import tiny_cfg


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(ckpt / "model.safetensors"))


def _cfg(**kw):
    base = dict(steps=6, checkpoint_every=4, keep=2, rollout_weight=0.5, rollout_frames=4, rollout_context=4,
                rollout_batch=3)
    return tiny_cfg(**{**base, **kw})


def _interrupt_at(monkeypatch, call: int, how: str):
    """Make the stream's `call`-th chunk arrive with a Ctrl-C (a real SIGINT) or a hard stop."""
    calls = {"n": 0}
    orig = T.Stream.next

    def flaky(self):
        calls["n"] += 1
        if calls["n"] == call:
            if how == "sigint":
                os.kill(os.getpid(), signal.SIGINT)
            else:
                raise KeyboardInterrupt
        return orig(self)

    monkeypatch.setattr(T.Stream, "next", flaky)
    return orig


def test_checkpoints_ctrl_c_and_exact_resume(styles_dir, tmp_path, monkeypatch):
    sources = style_sources(styles_dir)
    last = T.train(sources, tmp_path / "a", _cfg(), threads=1, progress=False)
    assert [p.name for p in K.list_checkpoints(tmp_path / "a")] == ["step-0000004", "step-0000006"]
    assert last.name == "step-0000006"
    assert [p.name for p in (tmp_path / "a").iterdir() if p.name.startswith(".")] == []  # no temp or lock leftovers
    meta = json.loads((last / "model.json").read_text())
    assert meta["config"]["styles"] == ["any", "down", "up"] and meta["dims"] == 2
    assert meta["train_config"]["steps"] == 6

    # Ctrl-C during step 3: the step finishes, a checkpoint of it is written, the run stops
    orig = _interrupt_at(monkeypatch, 3, "sigint")
    with pytest.raises(KeyboardInterrupt):
        T.train(sources, tmp_path / "b", _cfg(), threads=1, progress=False)
    assert [p.name for p in K.list_checkpoints(tmp_path / "b")] == ["step-0000003"]
    monkeypatch.setattr(T.Stream, "next", orig)
    resumed = T.train(sources, tmp_path / "b", _cfg(), threads=1, progress=False)
    wa, wb = _weights(last), _weights(resumed)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # bit-identical to the uninterrupted run
    with pytest.raises(DancenowError, match="settings differ.*hidden"):
        T.train(sources, tmp_path / "b", _cfg(model=dict(hidden=40), steps=8), threads=1, progress=False)


def test_no_resume_keeps_the_old_model_until_a_new_checkpoint_exists(styles_dir, tmp_path, monkeypatch):
    sources = style_sources(styles_dir)
    T.train(sources, tmp_path / "m", _cfg(), threads=1, progress=False)
    before = [p.name for p in K.list_checkpoints(tmp_path / "m")]
    orig = _interrupt_at(monkeypatch, 2, "kill")  # killed before its first checkpoint
    with pytest.raises(KeyboardInterrupt):
        T.train(sources, tmp_path / "m", _cfg(seed=5), resume=False, threads=1, progress=False)
    assert [p.name for p in K.list_checkpoints(tmp_path / "m")] == before
    K.load_model(tmp_path / "m")  # still a working model
    monkeypatch.setattr(T.Stream, "next", orig)
    T.train(sources, tmp_path / "m", _cfg(seed=5, steps=2, checkpoint_every=1), resume=False, threads=1, progress=False)
    assert [p.name for p in K.list_checkpoints(tmp_path / "m")] == ["step-0000001", "step-0000002"]
    assert json.loads((tmp_path / "m" / "step-0000002" / "model.json").read_text())["train_config"]["seed"] == 5


def test_resume_skips_a_damaged_newest_checkpoint(styles_dir, tmp_path, caplog):
    sources = style_sources(styles_dir)
    T.train(sources, tmp_path / "m", _cfg(steps=4, checkpoint_every=2), threads=1, progress=False)
    (tmp_path / "m" / "step-0000004" / "trainer.safetensors").write_bytes(b"garbage")
    last = T.train(sources, tmp_path / "m", _cfg(steps=6, checkpoint_every=2), threads=1, progress=False)
    assert last.name == "step-0000006"
    assert any("damaged" in r.getMessage() and "step-0000004" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kw, message", [
    (dict(device="bogus"), "unknown device"),
    (dict(threads=-1), "threads"),
    (dict(threads=0), "threads"),
])
def test_bad_arguments_fail_before_anything_is_written(styles_dir, tmp_path, kw, message):
    with pytest.raises(DancenowError, match=message):
        T.train(style_sources(styles_dir), tmp_path / "m", _cfg(), progress=False, **kw)
    assert not (tmp_path / "m").exists()


def test_bad_config_fails_before_anything_is_written(styles_dir, tmp_path):
    cfg = _cfg()
    cfg.lr = float("nan")
    with pytest.raises(DancenowError, match="lr"):
        T.train(style_sources(styles_dir), tmp_path / "m", cfg, progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DancenowError, match="not a folder"):
        T.train(style_sources(styles_dir), tmp_path / "file", _cfg(), progress=False)
    assert not (tmp_path / "m").exists() and (tmp_path / "file").read_text() == "x"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_training_on_a_missing_gpu_is_a_clear_error(styles_dir, tmp_path):
    with pytest.raises(DancenowError, match="no CUDA GPU"):
        T.train(style_sources(styles_dir)[:1], tmp_path / "m", _cfg(), device="cuda", progress=False)
    assert not (tmp_path / "m").exists()


def test_stream_style_transitions_and_state(styles_dir):
    cfg = tiny_cfg(transition=1.0, transition_lead=10, transition_blend=5, episode=2, bptt=15)
    clips, dims = T.load_training_clips(style_sources(styles_dir), cfg)
    assert dims == 2  # pose files are 2D
    arrays = [clip_arrays(c) for c in clips]
    ids = {"down": 1, "up": 2}
    stream = T.Stream(arrays, [ids[a.style] for a in arrays], cfg, np.random.default_rng(0))
    chunk, reset = stream.next()
    assert reset.all() and not chunk["prev_ok"].any()
    for r, rc in enumerate(stream.recipe):
        assert rc["lead"] >= 0 and arrays[rc["lead"]].style != arrays[rc["clip"]].style
        assert chunk["style"][r] == ids[arrays[rc["clip"]].style]  # labelled with where it goes
        assert not chunk["valid"][r, :10].any() and chunk["valid"][r, 10:].all()  # lead-in: context only
    assert (np.linalg.norm(chunk["u"], axis=-1) <= 1 + 1e-5).all()  # crossfades stay in the disk
    assert stream.left.tolist() == [2] * cfg.batch_size  # 10 lead-in frames + 2 chunks: three chunks
    state = json.loads(json.dumps(stream.state_dict()))
    again = T.Stream(arrays, [ids[a.style] for a in arrays], cfg, np.random.default_rng(1))
    again.load_state_dict(state)
    a, _ = stream.next()
    b, _ = again.next()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_style_balance_weights():
    from dancenow.choreo.clips import ClipArrays

    def arr(n):
        return ClipArrays(np.zeros((n, 14, 2), np.float32), np.ones(14, np.float32), np.zeros((n, 2), np.float32),
                          np.ones((n, 15), np.float32), np.zeros((n, 15, 2), np.float32), "s", "c")

    arrays = [arr(901), arr(101)]
    p1 = T.clip_weights(arrays, [1, 2], 1.0)
    p0 = T.clip_weights(arrays, [1, 2], 0.0)
    np.testing.assert_allclose(p1, [0.9, 0.1])  # as the data come
    np.testing.assert_allclose(p0, [0.5, 0.5])  # every style equally


def test_a_3d_model_from_motion_capture(shared_data, tmp_path):
    """Motion capture alone trains a 3D model (dims 0 = automatic)."""
    bvh = shared_data / "dance" / "ucy" / "vaso.bvh"
    ckpt = T.train([(str(bvh), "folk")], tmp_path / "m", tiny_cfg(steps=2, rollout_weight=0.5, rollout_frames=4,
                                                                  rollout_context=4, rollout_batch=2),
                   threads=1, progress=False)
    model, info = K.load_model(ckpt)
    assert info["dims"] == 3 and model.config.dims == 3 and model.config.styles == ["any", "folk"]


def test_playing_a_stretch_at_another_speed(styles_dir):
    cfg = tiny_cfg()
    clips, _ = T.load_training_clips(style_sources(styles_dir)[:1], cfg)
    a = clip_arrays(clips[0])
    u, step, obs = T.played(a, 10, 20, 1.0)
    assert np.array_equal(u, a.u[10:30]) and np.array_equal(step, a.root_step[10:30])
    u2, step2, obs2 = T.played(a, 10, 20, 2.0)  # twice as fast: every other frame
    np.testing.assert_allclose(u2, a.u[10:50:2], atol=1e-6)
    root = np.cumsum(a.root_step, 0)
    np.testing.assert_allclose(step2[1:], root[12:50:2] - root[10:48:2], atol=1e-6)
    u5, _, _ = T.played(a, 10, 20, 0.5)  # half speed: in-between frames interpolated, on the disk
    np.testing.assert_allclose(u5[::2], a.u[10:20], atol=1e-6)
    assert (np.linalg.norm(u5, axis=-1) <= 1 + 1e-6).all() and obs2[0, -1] == 0


def test_rest_posture_offset_moves_with_the_dancer():
    """An offset is one constant turn per bone in the body's heading frame: it keeps directions
    on the sphere, and turning the dancer about the vertical turns the offset with them."""
    from dancenow.choreo.skeleton import project, yaw_rotation

    rng = np.random.default_rng(0)
    u = project(rng.normal(size=(20, 14, 3)) + np.array([0.0, 1.0, 0.0])).astype(np.float32)
    a = T.repostured(u, seed=7, sigma=0.2)
    assert np.allclose(np.linalg.norm(a, axis=-1), 1, atol=1e-5) and np.abs(a - u).max() > 0.05
    rot = yaw_rotation(0.9)
    turned_first = T.repostured(u @ rot.T, seed=7, sigma=0.2)
    np.testing.assert_allclose(turned_first, a @ rot.T, atol=1e-5)
    assert np.array_equal(T.repostured(u, seed=7, sigma=0.0), u)


def test_only_stretches_labelled_any_get_a_rest_posture_offset(styles_dir):
    cfg = tiny_cfg(transition=0.0, style_dropout=0.5, posture=0.3, posture_labelled=0.0, episode=2, bptt=15)
    clips, _ = T.load_training_clips(style_sources(styles_dir), cfg)
    arrays = [clip_arrays(c) for c in clips]
    ids = {"down": 1, "up": 2}
    stream = T.Stream(arrays, [ids[a.style] for a in arrays], cfg, np.random.default_rng(0))
    chunk, _ = stream.next()
    any_rows = chunk["style"] == 0
    assert any_rows.any() and (~any_rows).any()
    for r, rc in enumerate(stream.recipe):
        assert ("posture_seed" in rc) == bool(any_rows[r])
    state = json.loads(json.dumps(stream.state_dict()))  # the offsets resume exactly
    again = T.Stream(arrays, [ids[a.style] for a in arrays], cfg, np.random.default_rng(1))
    again.load_state_dict(state)
    a, _ = stream.next()
    b, _ = again.next()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_the_forecaster_trains_after_the_dancer_and_resumes_exactly(styles_dir, tmp_path, monkeypatch):
    """forecaster_steps: after the dancer's steps (calibrated and saved as they would be without
    a forecaster) a copy trains on; the dancer is untouched, and a run stopped within the
    forecaster's steps, or right after the dancer's, ends bit-identical to an unstopped one."""
    sources = style_sources(styles_dir)
    with_f = dict(steps=4, forecaster_steps=4, model=dict(forecaster=0.7), checkpoint_every=3, keep=10,
                  forecaster_rollout_batch=2)
    last = T.train(sources, tmp_path / "a", _cfg(**with_f), threads=1, progress=False)
    assert last.name == "step-0000008"
    alone = T.train(sources, tmp_path / "d", _cfg(steps=4, checkpoint_every=3), threads=1, progress=False)
    w, wd = _weights(last), _weights(alone)
    assert all(torch.equal(w[k], v) for k, v in wd.items())  # the dancer is what it is without a forecaster
    assert any(not torch.equal(w["forecaster." + k], v) for k, v in wd.items() if k.startswith("lstm."))
    meta, dmeta = (json.loads((p / "model.json").read_text()) for p in (last, alone))
    assert meta["temperature"] == dmeta["temperature"] and meta["guidance"] == dmeta["guidance"]
    model, _ = K.load_model(last)
    assert model.forecaster is not None and model.config.forecaster == 0.7
    for early in ("step-0000003", "step-0000004"):  # before it trains, the forecaster is the dancer's copy
        we = _weights(tmp_path / "a" / early)
        assert all(torch.equal(we["forecaster." + k], v) for k, v in we.items() if not k.startswith("forecaster."))

    for call, how, resumes_from in ((5, "sigint", "step-0000005"), (6, "kill", "step-0000004")):
        out = tmp_path / f"b-{how}"
        orig = _interrupt_at(monkeypatch, call, how)
        with pytest.raises(KeyboardInterrupt):
            T.train(sources, out, _cfg(**with_f), threads=1, progress=False)
        assert K.list_checkpoints(out)[-1].name == resumes_from
        monkeypatch.setattr(T.Stream, "next", orig)
        resumed = T.train(sources, out, _cfg(**with_f), threads=1, progress=False)
        wb = _weights(resumed)
        assert all(torch.equal(w[k], wb[k]) for k in w), how
        assert json.loads((resumed / "model.json").read_text())["temperature"] == meta["temperature"]


def test_a_run_from_before_the_forecaster_settings_resumes(styles_dir, tmp_path):
    """A checkpoint whose config predates the forecaster_* settings resumes: missing settings
    read as their defaults (no forecaster)."""
    sources = style_sources(styles_dir)
    T.train(sources, tmp_path / "m", _cfg(steps=4, checkpoint_every=2), threads=1, progress=False)
    ck = tmp_path / "m" / "step-0000004"
    trainer = json.loads((ck / "trainer.json").read_text())
    trainer["config"] = {k: v for k, v in trainer["config"].items() if not k.startswith("forecaster")}
    trainer["config"]["model"].pop("forecaster")
    (ck / "trainer.json").write_text(json.dumps(trainer))
    assert T.train(sources, tmp_path / "m", _cfg(steps=6, checkpoint_every=2), threads=1, progress=False).name == "step-0000006"
