"""Choreography stage: BVH reading, data normalisation, the MDN, the model, training with exact
resume, generation, evaluation and the CLI. Tiny models, few steps: budget < 60 s on 2 CPU cores."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from dancenow.choreo import data as D
from dancenow.choreo import checkpoint as C
from dancenow.choreo.bvh import read_bvh
from dancenow.choreo.config import TrainConfig
from dancenow.choreo.mdn import MixtureParams, mixture_log_prob, mixture_nll, mode, sample
from dancenow.errors import DancenowError
from dancenow.posefile import save_poses
from dancenow.keypoints import NUM_JOINTS, Joint, PoseSequence

torch.set_num_threads(1)  # the test machine is shared; one thread is also deterministic

FPS = 30.0

# ----------------------------------------------------------------------------- synthetic dances

# A standing figure in body heights relative to the mid-hip, image axes (x right, y down),
# MODEL_JOINTS order: nose, R shoulder/elbow/wrist, L shoulder/elbow/wrist, R hip/knee/ankle,
# L hip/knee/ankle, L big toe, R big toe. The dancer faces the camera (their right at image left).
BASE = np.array([
    [0.0, -0.42], [-0.10, -0.30], [-0.14, -0.14], [-0.16, 0.00], [0.10, -0.30], [0.14, -0.14], [0.16, 0.00],
    [-0.06, 0.0], [-0.07, 0.26], [-0.07, 0.52], [0.06, 0.0], [0.07, 0.26], [0.07, 0.52], [0.10, 0.56], [-0.10, 0.56],
])


def synthetic_dance(arms_up: float, seconds: float = 8.0, seed: int = 0, px: float = 300.0) -> PoseSequence:
    """A periodic dance (arm swings, knee bends, hip sway) with arms raised by `arms_up` (0 = down,
    1 = overhead); each limb keeps its length. Pixels of a 640x480 frame."""
    rng = np.random.default_rng(seed)
    T = int(seconds * FPS)
    t = np.arange(T) / FPS
    phase = rng.uniform(0, 2 * np.pi)
    pose = np.repeat(BASE[None], T, 0).copy()
    for side, sh, el, wr in ((-1, 1, 2, 3), (1, 4, 5, 6)):
        ang = np.pi / 2 - arms_up * np.pi * 0.8 + 0.35 * np.sin(2 * np.pi * 1.0 * t + phase + (side > 0) * np.pi)
        upper = 0.16 * np.stack([side * np.cos(ang), np.sin(ang)], -1)
        pose[:, el] = pose[:, sh] + upper
        pose[:, wr] = pose[:, el] + 0.15 * np.stack([side * np.cos(ang - 0.3), np.sin(ang - 0.3)], -1)
    bend = 0.03 * (1 + np.sin(2 * np.pi * 2.0 * t + phase))
    for k, a in ((8, 9), (11, 12)):
        pose[:, k, 0] += np.sign(pose[:, k, 0]) * bend
        pose[:, a, 1] -= bend
    pose[:, 13, 1] -= bend
    pose[:, 14, 1] -= bend
    root = np.stack([0.05 * np.sin(2 * np.pi * 0.5 * t + phase), np.zeros(T)], -1)
    body = D.pose_to_body25(pose, root)
    kp = np.zeros((T, NUM_JOINTS, 3), np.float32)
    ok = np.isfinite(body).all(-1)
    kp[:, :25, :2] = np.where(ok[..., None], body * px + [320, 150], 0)
    kp[:, :25, 2] = ok
    return PoseSequence(kp, FPS, 640, 480)


@pytest.fixture(scope="module")
def styles_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("styles")
    for i in range(2):
        save_poses(synthetic_dance(0.9, seed=i), d / f"up{i}.npz")
        save_poses(synthetic_dance(0.0, seed=10 + i), d / f"down{i}.npz")
    return d


def tiny_cfg(sources, out, **kw) -> TrainConfig:
    base = dict(sources=sources, out_dir=str(out), hidden=32, layers=1, mixtures=2, style_dim=4, steps=6,
                batch_size=8, bptt=15, episode=2, warmup=5, lr=5e-3, checkpoint_every=3, keep=2,
                threads=1, progress=False, dropout=0.0, rollout_weight=0.0, input_noise=0.005)
    base.update(kw)
    return TrainConfig(**base)


# ----------------------------------------------------------------------------- MDN

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


# ----------------------------------------------------------------------------- BVH

def test_bvh_forward_kinematics(tmp_path):
    text = """HIERARCHY
ROOT root
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT arm
  {
    OFFSET 0 1 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 2 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
1 0 0 0 0 0 0 0 0
1 0 0 90 0 0 0 90 0
"""
    f = tmp_path / "t.bvh"
    f.write_text(text)
    b = read_bvh(f)
    assert b.fps == 2.0 and b.names == ["root", "arm", "arm_end"]
    p = b.positions()
    np.testing.assert_allclose(p[0], [[1, 0, 0], [1, 1, 0], [1, 3, 0]], atol=1e-9)
    # frame 1: root turned 90 deg about z (y -> -x), then arm 90 deg about x (y -> z), in its frame
    np.testing.assert_allclose(p[1], [[1, 0, 0], [0, 0, 0], [0, 0, 2]], atol=1e-9)
    (tmp_path / "bad.bvh").write_text("HIERARCHY\nROOT x\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Yposition Zposition\n}\nMOTION\nFrames: 3\nFrame Time: 0.1\n1 2 3\n")
    with pytest.raises(DancenowError, match="truncated"):
        read_bvh(tmp_path / "bad.bvh")


def test_real_skeletons_map_to_body25_facing_the_camera(shared_data):
    dance = shared_data / "dance"
    files = {"cmu43": "cmu_salsa/60_04_scaled.bvh", "cmu31": "cmu_131/131_01.bvh", "ucy54": "ucy/vaso.bvh",
             "bandai22": "bandai_dance-short_normal_001.bvh"}
    for key, rel in files.items():
        b = read_bvh(dance / rel)
        assert D.detect_skeleton(b.names) == key
        m = D.motion_from_bvh(dance / rel, "x", b)
        # rigid skeleton: forward kinematics keeps 3D bone lengths (upper arm) constant, +-1%
        upper = np.linalg.norm(m.joints[:, Joint.R_SHOULDER] - m.joints[:, Joint.R_ELBOW], axis=-1)
        assert upper.std() / upper.mean() < 0.01, key
        for front in ("world", "dancer"):
            first = D.motion_from_bvh(dance / rel, "x", b, front=front).joints[: int(m.fps)]
            across = first[:, Joint.L_SHOULDER, 0] - first[:, Joint.R_SHOULDER, 0]
            if front == "world" and key == "cmu43":  # the salsa couple face each other: profile
                assert np.abs(across).mean() < 0.3 * np.abs(first[:, Joint.L_SHOULDER, 2] - first[:, Joint.R_SHOULDER, 2]).mean()
            else:  # facing the camera: the dancer's right shoulder is on the image left
                assert np.mean(across > 0) > 0.9, (key, front)
            assert np.all(first[:, Joint.NOSE, 1] < first[:, Joint.MID_HIP, 1]), key  # head up (y down)
        clip = D.clips_from_motion(m.project_2d(), FPS, 2)[0]
        assert clip.observed.all() and abs(clip.fps - FPS) < 1e-9
        # scale-normalised: the 90th-percentile nose-to-ankle distance is 1 body height (measured
        # before resampling to 30 fps, hence a tolerance of 0.01 body heights)
        assert D.stature(clip.body25()) == pytest.approx(1.0, abs=0.01)
    improv = D.load_clips(dance / "mdrnn_improv_examples.npz", "improv")
    assert len(improv) == 14 and all(len(c) == 256 for c in improv)


def test_gaps_are_interpolated_and_masked_not_zeros():
    seq = synthetic_dance(0.5, seconds=4.0)
    kp = seq.keypoints.copy()
    kp[10:13, Joint.R_HIP] = 0  # a 0.1 s root gap: interpolated
    kp[40:45, Joint.L_WRIST] = 0  # a joint gap
    kp[60:75, :25] = 0  # a 0.5 s gap with nobody: splits the clip
    clips = D.clips_from_motion(D.motion_from_poses(seq.replace(keypoints=kp), "s"), FPS, 2)
    assert [len(c) for c in clips] == [60, 45]
    c = clips[0]
    w = list(D.MODEL_JOINTS).index(Joint.L_WRIST)
    assert not c.observed[40:45, w].any() and c.observed[13:40, w].all()
    assert not c.observed[10:13].any()  # no root: body-centred positions are guesses too
    assert not c.root_observed[10:13].any()
    ref = D.clips_from_motion(D.motion_from_poses(seq, "s"), FPS, 2)[0]
    # the filled wrist is a linear interpolation: within 0.03 body heights of the truth, not 0
    assert np.abs(c.pose[40:45, w] - ref.pose[40:45, w]).max() < 0.03
    assert np.abs(c.pose[40:45, w]).min() > 0.05
    assert np.isfinite(c.pose).all() and np.isfinite(c.root).all()


def test_to_pose_sequence_stands_in_frame():
    seq = synthetic_dance(0.3, seconds=2.0)
    clip = D.clips_from_motion(D.motion_from_poses(seq, "s"), FPS, 2)[0]
    out = D.to_pose_sequence(clip.pose, clip.root, FPS, (512, 512))
    assert out.size == (512, 512) and len(out) == len(clip)
    body = out.keypoints[:, :25]
    assert (body[:, list(D.MODEL_JOINTS), 2] > 0).all()  # everything inside the frame
    feet = body[0, [Joint.R_ANKLE, Joint.L_ANKLE, Joint.R_BIG_TOE, Joint.L_BIG_TOE], 1]
    assert 0.88 * 512 < feet.max() < 0.97 * 512  # feet near the bottom
    assert abs(body[0, Joint.MID_HIP, 0] - 256) < 20  # centred (pixels)


# ----------------------------------------------------------------------------- training

def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(ckpt / "model.safetensors"))


def test_training_checkpoints_and_exact_resume(styles_dir, tmp_path, monkeypatch):
    from dancenow.choreo import train as T

    sources = [(str(p), "up" if "up" in p.name else "down") for p in sorted(styles_dir.glob("*.npz"))]
    cfg = tiny_cfg(sources, tmp_path / "a", steps=6, checkpoint_every=2, keep=2, rollout_weight=0.5,
                   rollout_frames=4, rollout_context=4, rollout_batch=3)
    last = T.train(cfg)
    assert [p.name for p in C.checkpoints(tmp_path / "a")] == ["step-0000004", "step-0000006"]
    assert last.name == "step-0000006"
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]  # no temp leftovers
    files = sorted(p.name for p in last.iterdir())
    assert files == ["model.json", "model.safetensors", "optimizer.pt", "trainer.json", "trainer.safetensors"]
    torch.load(last / "optimizer.pt", weights_only=True)
    meta = json.loads((last / "model.json").read_text())
    assert meta["config"]["styles"] == ["any", "down", "up"] and meta["train_config"]["steps"] == 6

    # interrupt a second run after its step-4 checkpoint (as Ctrl-C would), then resume it
    calls = {"n": 0}
    orig = T.Stream.next

    def flaky(self):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return orig(self)

    monkeypatch.setattr(T.Stream, "next", flaky)
    b = tiny_cfg(sources, tmp_path / "b", steps=6, checkpoint_every=2, keep=2, rollout_weight=0.5,
                 rollout_frames=4, rollout_context=4, rollout_batch=3)
    with pytest.raises(KeyboardInterrupt):
        T.train(b)
    assert C.checkpoints(tmp_path / "b")[-1].name == "step-0000004"
    monkeypatch.setattr(T.Stream, "next", orig)
    resumed = T.train(b)
    wa, wb = _weights(last), _weights(resumed)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # bit-identical to the uninterrupted run
    with pytest.raises(DancenowError, match="settings differ.*hidden"):
        T.train(tiny_cfg(sources, tmp_path / "b", steps=8, hidden=40))


@pytest.fixture(scope="module")
def salsa_model(shared_data, tmp_path_factory):
    """A tiny model overfitted on 6 s of one real salsa take (2D, 30 fps)."""
    from dancenow.choreo import train as T

    d = tmp_path_factory.mktemp("salsa")
    clip = D.load_clips(shared_data / "dance/cmu_salsa/60_04_scaled.bvh", "salsa")[0].slice(150, 330)
    save_poses(D.to_pose_sequence(clip.pose, clip.root, FPS, (512, 512), recentre_s=None), d / "salsa.npz")
    cfg = tiny_cfg([(str(d / "salsa.npz"), "salsa")], d / "model", hidden=64, mixtures=2, steps=160,
                   batch_size=8, bptt=30, episode=2, lr=1e-2, warmup=10, checkpoint_every=1000,
                   style_dropout=0.0, mirror=False, input_noise=0.002)
    ckpt = T.train(cfg)
    model, info = C.load_model(ckpt)
    train_clip = D.load_clips(d / "salsa.npz", "salsa")[0]
    return model, info, train_clip


def test_model_overfits_a_short_real_sequence(salsa_model):
    from dancenow.choreo.evaluate import heldout_nll

    model, info, clip = salsa_model
    arrays = D.clip_arrays(clip, np.asarray(info["mean_pose"], np.float32))
    trained = heldout_nll(model, [arrays], "salsa")
    fresh = model.__class__(model.config)
    fresh.load_state_dict({k: v for k, v in model.state_dict().items() if k.endswith(("_mean", "_std"))}, strict=False)
    untrained = heldout_nll(fresh.eval(), [arrays], "salsa")
    assert trained < untrained - 1.0  # nats per dimension
    # teacher-forced next-frame mode prediction beats repeating the last frame by 2x on its training data
    x = model.encode_inputs(*(torch.from_numpy(v)[None, :-1] for v in (arrays.pose, arrays.root_step, arrays.observed)))
    with torch.no_grad():
        params, _ = model.run(x, torch.tensor([model.style_index("salsa")]))
        delta, _ = model.decode_outputs(mode(params))
    pred = arrays.pose[:-1] + delta[0].numpy()
    err = np.linalg.norm(pred - arrays.pose[1:], axis=-1).mean()
    zv = np.linalg.norm(arrays.pose[:-1] - arrays.pose[1:], axis=-1).mean()
    assert err < 0.5 * zv


def test_generation_is_seeded(salsa_model):
    from dancenow.choreo.generate import Choreographer

    model, info, clip = salsa_model
    ch = Choreographer(model, info)
    seed = clip.slice(0, 30)
    a = ch(seed, seconds=4, temperature=0.8, style="salsa", random_seed=3)
    b = ch(seed, seconds=4, temperature=0.8, style="salsa", random_seed=3)
    c = ch(seed, seconds=4, temperature=0.8, style="salsa", random_seed=4)
    assert np.array_equal(a.pose, b.pose) and np.array_equal(a.root, b.root)
    assert not np.array_equal(a.pose, c.pose)
    assert a.pose.shape == (30 + 120, 15, 2) and a.seed_frames == 30
    np.testing.assert_array_equal(a.pose[:30], seed.pose)
    assert a.frames_per_second > 30  # faster than real time even on a loaded CPU


@pytest.fixture(scope="module")
def two_style_model(styles_dir, tmp_path_factory):
    """A tiny model of the two synthetic styles ("up": arms raised, "down": arms low)."""
    from dancenow.choreo import train as T
    from dancenow.choreo.generate import Choreographer

    sources = [(str(p), "up" if "up" in p.name else "down") for p in sorted(styles_dir.glob("*.npz"))]
    ckpt = T.train(tiny_cfg(sources, tmp_path_factory.mktemp("two") / "m", hidden=48, mixtures=2, steps=400,
                            lr=3e-3, warmup=10, checkpoint_every=1000, style_dropout=0.1))
    return Choreographer(*C.load_model(ckpt))


def test_blended_style_lies_between_its_parents(two_style_model):
    ch = two_style_model
    wrists = [list(D.MODEL_JOINTS).index(j) for j in (Joint.R_WRIST, Joint.L_WRIST)]
    # seed: 1 s of the same dance with the arms half raised, neither style's
    seq = synthetic_dance(0.45, seconds=1.0, seed=5)
    seed = D.clips_from_motion(D.motion_from_poses(seq, "seed"), FPS, 2)[0]

    def wrist_height(style):  # mean wrist y over the last 2 of 4 s (body heights, y down: smaller = higher)
        d = ch(seed, seconds=4, temperature=0.0, style=style)
        return float(d.pose[-60:, wrists, 1].mean())

    up, down, half = wrist_height("up"), wrist_height("down"), wrist_height("up=0.5,down=0.5")
    assert down - up > 0.08  # the styles part by more than 0.08 body heights
    assert up + 0.05 * (down - up) < half < down - 0.05 * (down - up)


def test_generated_bone_lengths_stay_within_10_percent(two_style_model):
    from dancenow.choreo.evaluate import dance_health

    ch = two_style_model
    for style, temperature in (("up", 0.0), ("down", 0.5), ("up=0.5,down=0.5", 0.5)):
        d = ch(None, seconds=8, temperature=temperature, style=style, random_seed=1)
        h = dance_health(d.pose[d.seed_frames:], FPS, ch.info["reference"]["any"])
        # limbs and torso: median 2D length within 10% of the training data's (the synthetic
        # dances keep every limb's length exactly)
        assert h.bones_ok, (style, temperature, h.summary())
        assert not h.exploded


# ----------------------------------------------------------------------------- evaluation

def test_forecast_baselines_on_constant_velocity_motion(salsa_model):
    from dancenow.choreo.evaluate import evaluate_forecast

    model, info, _ = salsa_model
    T_ = 90
    v = np.array([0.004, -0.002])  # body heights per frame, every joint
    pose = (np.asarray(info["mean_pose"])[None] + np.arange(T_)[:, None, None] * v).astype(np.float32)
    clip = D.Clip(pose, np.zeros((T_, 2), np.float32), np.ones((T_, 15), bool), np.ones(T_, bool), FPS, 1.0, "cv", "salsa")
    rep = evaluate_forecast(model, info, [clip], stride_s=0.5)
    speed = float(np.linalg.norm(v))
    assert rep.horizons == (1, 15, 30) and rep.windows == 3  # starts at 0, 0.5 and 1 s
    np.testing.assert_allclose(rep.body["constant velocity"], 0.0, atol=1e-6)
    np.testing.assert_allclose(rep.body["zero-velocity"], [speed, 15 * speed, 30 * speed], rtol=1e-5)
    assert rep.gain("constant velocity", 1) == pytest.approx(1.0, abs=1e-5)
    assert "zero-velocity" in rep.table() and np.isfinite(rep.nll)


# ----------------------------------------------------------------------------- CLI

def test_cli_train_generate_evaluate_live(styles_dir, tmp_path):
    from dancenow.cli import main
    from dancenow.render import render_sequence
    from dancenow.video import write_video

    r = CliRunner()
    model = tmp_path / "model"
    res = r.invoke(main, ["choreo", "train", str(styles_dir / "up0.npz"), "--style", "up", "--add", "down",
                          str(styles_dir / "down*.npz"), "-o", str(model), "--steps", "3", "--hidden", "16",
                          "--layers", "1", "--mixtures", "2", "--batch-size", "4", "--threads", "1"])
    assert res.exit_code == 0, res.output
    res = r.invoke(main, ["choreo", "generate", "--model", str(model), "--prime", str(styles_dir / "up1.npz"),
                          "--seconds", "1", "--style", "up=0.7,down=0.3", "-o", str(tmp_path / "d.npz"),
                          "-o", str(tmp_path / "d.mp4"), "--size", "128x128"])
    assert res.exit_code == 0, res.output
    assert "frames/s" in res.output and (tmp_path / "d.mp4").stat().st_size > 0
    from dancenow.posefile import load_poses

    seq = load_poses(tmp_path / "d.npz")
    assert seq.size == (128, 128) and len(seq) == 60  # 1 s seed + 1 s generated at 30 fps
    res = r.invoke(main, ["choreo", "generate", "--model", str(model), "--style", "salsa", "-o", str(tmp_path / "x.npz")])
    assert res.exit_code == 1 and "unknown style 'salsa'" in res.output
    res = r.invoke(main, ["choreo", "evaluate", str(styles_dir / "up1.npz"), "--model", str(model), "--style", "up",
                          "--health-seconds", "2", "-o", str(tmp_path / "rep.json")])
    assert res.exit_code == 0, res.output
    assert "zero-velocity" in res.output and json.loads((tmp_path / "rep.json").read_text())["forecast"]["windows"] > 0
    # live, from a video and its poses, written to a file (no display here)
    poses = synthetic_dance(0.5, seconds=1.5)
    write_video(tmp_path / "v.mp4", render_sequence(poses, (160, 120)), FPS)
    save_poses(poses.replace(keypoints=poses.keypoints * [0.25, 0.25, 1], width=160, height=120), tmp_path / "v.npz")
    res = r.invoke(main, ["choreo", "live", "--model", str(model), "--source", str(tmp_path / "v.mp4"), "--poses",
                          str(tmp_path / "v.npz"), "--no-window", "--record", str(tmp_path / "live.mp4")])
    assert res.exit_code == 0, res.output
    assert "forecasts" in res.output and (tmp_path / "live.mp4").stat().st_size > 0


# ----------------------------------------------------------------------------- parts

def test_step_matches_run_and_velocity_inputs():
    from dancenow.choreo.model import ChoreoModel

    torch.manual_seed(0)
    m = ChoreoModel(TrainConfig(hidden=24, style_dim=4).model_config(["any", "a", "b"])).eval()
    pose, step = torch.randn(3, 6, 15, 2) * 0.1, torch.randn(3, 6, 2) * 0.01
    obs = torch.ones(3, 6, 16)
    style = torch.tensor([[0.0, 0.5, 0.5], [0, 1, 0], [1, 0, 0]])
    with torch.no_grad():
        full, _ = m.run(m.encode_inputs(pose, step, obs), style)
        state = (torch.zeros(2, 3, 24), torch.zeros(2, 3, 24))
        sv = m.style_vector(style)
        for t in range(6):
            prev = pose[:, t - 1] if t else None
            ok = torch.full((3,), t > 0)
            x = m.encode_inputs(pose[:, t:t + 1], step[:, t:t + 1], obs[:, t:t + 1], prev, ok)[:, 0]
            last, state = m.step(x, sv, state)
    torch.testing.assert_close(last.mu, full.mu[:, -1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last.logits, full.logits[:, -1], atol=1e-5, rtol=1e-5)


def test_bone_guard_keeps_bones_in_range():
    clip = D.clips_from_motion(D.motion_from_poses(synthetic_dance(0.5, seconds=2.0), "s"), FPS, 2)[0]
    limits = D.bone_limits([clip])
    np.testing.assert_allclose(D.apply_guard(clip.pose, limits), clip.pose, atol=1e-6)  # in range: untouched
    bad = clip.pose.copy()
    knee, hip = list(D.MODEL_JOINTS).index(Joint.L_KNEE), list(D.MODEL_JOINTS).index(Joint.L_HIP)
    leg = [list(D.MODEL_JOINTS).index(j) for j in (Joint.L_KNEE, Joint.L_ANKLE, Joint.L_BIG_TOE)]
    bad[:, leg] += 1.5 * (bad[:, [knee]] - bad[:, [hip]])  # thigh far too long, shin and foot intact
    fixed = D.apply_guard(bad, limits)
    lengths = D.guard_lengths(fixed)
    assert (lengths <= limits[:, 1] + 1e-6).all() and (lengths >= limits[:, 0] - 1e-6).all()
    shin = [i for i, (p, c) in enumerate(D.GUARD_BONES) if p == knee][0]
    np.testing.assert_allclose(lengths[:, shin], D.guard_lengths(bad)[:, shin], atol=1e-6)  # shin kept


def test_limb_pull_moves_limbs_toward_their_median_length_only():
    clip = D.clips_from_motion(D.motion_from_poses(synthetic_dance(0.5, seconds=2.0), "s"), FPS, 2)[0]
    limits, median = D.bone_limits([clip]), D.bone_medians([clip])
    limits[:, 0] = 0.0  # range guard out of the way: only the pull acts
    mj = list(D.MODEL_JOINTS).index
    elbow, wrist = mj(Joint.R_ELBOW), mj(Joint.R_WRIST)
    fore = [i for i, (p, c) in enumerate(D.GUARD_BONES) if (p, c) == (elbow, wrist)][0]
    hip = [i for i, (p, c) in enumerate(D.GUARD_BONES) if c == mj(Joint.R_HIP)][0]
    short = clip.pose.copy()
    short[:, wrist] = short[:, elbow] + 0.4 * (short[:, wrist] - short[:, elbow])  # forearm at 40%
    short[:, mj(Joint.R_HIP)] *= 0.5  # a half-turned pelvis: orientation, not a bone to restore
    before = D.guard_lengths(short)
    after = D.guard_lengths(D.apply_guard(short, limits, median, pull=0.5))
    np.testing.assert_allclose(after[:, fore], before[:, fore] + 0.5 * (median[fore] - before[:, fore]), atol=1e-5)
    np.testing.assert_allclose(after[:, hip], before[:, hip], atol=1e-6)
    np.testing.assert_allclose(D.apply_guard(short, limits, median, pull=0.0), D.apply_guard(short, limits), atol=1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_training_on_a_missing_gpu_is_a_clear_error(styles_dir, tmp_path):
    from dancenow.choreo.train import train

    cfg = TrainConfig(sources=[(str(p), p.stem) for p in sorted(Path(styles_dir).glob("*.npz"))][:1],
                      out_dir=str(tmp_path / "m"), steps=1, device="cuda", progress=False)
    with pytest.raises(DancenowError, match="no CUDA GPU"):
        train(cfg)
    assert not (tmp_path / "m").exists()


def test_stream_style_transitions(styles_dir):
    from dancenow.choreo import train as T

    sources = [(str(p), "up" if "up" in p.name else "down") for p in sorted(styles_dir.glob("*.npz"))]
    cfg = tiny_cfg(sources, "unused", transition=1.0, transition_lead=10, transition_blend=5, episode=2, bptt=15)
    clips = T.load_training_clips(cfg)
    arrays = [D.clip_arrays(c, np.zeros((15, 2), np.float32)) for c in clips]
    ids = {"down": 1, "up": 2}
    stream = T.Stream(arrays, [ids[a.style] for a in arrays], cfg, np.random.default_rng(0))
    chunk, reset = stream.next()
    assert reset.all() and not chunk["prev_ok"].any()
    for r, rc in enumerate(stream.recipe):
        assert rc["lead"] >= 0 and arrays[rc["lead"]].style != arrays[rc["clip"]].style
        assert chunk["style"][r] == ids[arrays[rc["clip"]].style]  # labelled with where it goes
        assert not chunk["valid"][r, :10].any() and chunk["valid"][r, 10:].all()  # lead-in: context only
    # the stretch runs 10 lead-in frames + 2 chunks: three chunks in all
    assert stream.left.tolist() == [2] * cfg.batch_size
    state = json.loads(json.dumps(stream.state_dict()))
    again = T.Stream(arrays, [ids[a.style] for a in arrays], cfg, np.random.default_rng(1))
    again.load_state_dict(state)
    a, _ = stream.next()
    b, _ = again.next()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_live_forecaster_on_a_stream(two_style_model):
    from dancenow.choreo.live import LiveConfig, LiveForecaster

    ch = two_style_model
    seq = synthetic_dance(0.45, seconds=1.5, seed=3)
    fc = LiveForecaster(ch.model, ch.info, LiveConfig(horizon_s=0.5, style="up"))
    out = [fc.push(kp) for kp in seq.keypoints]
    assert out[0] is None and all(f is not None for f in out[1:])
    f = out[-1]
    assert f.keypoints.shape == (15, NUM_JOINTS, 3)
    body = f.keypoints[:, list(D.MODEL_JOINTS)]
    assert (body[..., 2] == 1).all()
    # the first predicted frame continues the last observed one: within 0.05 body heights (~300 px)
    last = seq.keypoints[-1, list(D.MODEL_JOINTS), :2]
    assert np.abs(body[0, :, :2] - last).max() < 0.05 * 300
