"""Generation: seeded, bodies that keep their bones exactly for a minute and more, the first
forecast frame as good as constant velocity, style blends between their parents."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dancenow.choreo import readers as R
from dancenow.choreo.clips import clips_from_motion
from dancenow.choreo.config import ChoreoConfig
from dancenow.choreo.generate import Choreographer, check_seconds
from dancenow.choreo.model import ChoreoModel
from dancenow.choreo.skeleton import MODEL_JOINTS, NUM_BONES, bone_lengths
from dancenow.errors import DancenowError
from dancenow.keypoints import Joint

from .helpers import FPS, synthetic_dance


def _clip(arms_up, seconds, seed):
    return clips_from_motion(R.motion_from_poses(synthetic_dance(arms_up, seconds=seconds, seed=seed), "s"), FPS, 2)[0]


def test_bone_lengths_exact_over_a_60_s_generation_in_3d():
    """By construction, not by training: an untrained 3D network sampled at full temperature."""
    torch.manual_seed(0)
    model = ChoreoModel(ChoreoConfig(dims=3, hidden=32, layers=2, mixtures=3, style_dim=4, styles=["any", "a"])).eval()
    rng = np.random.default_rng(0)
    direction = rng.normal(size=(NUM_BONES, 3))
    info = {"fps": FPS, "dims": 3, "defaults": {"direction": direction / np.linalg.norm(direction, axis=-1, keepdims=True),
                                                 "lengths": rng.uniform(0.05, 0.3, NUM_BONES)}}
    dance = Choreographer(model, info)(None, seconds=60, temperature=1.0, style="a", random_seed=1)
    assert dance.pose.shape == (1 + 1800, 15, 3)
    lens = bone_lengths(dance.pose)
    np.testing.assert_allclose(lens, np.broadcast_to(info["defaults"]["lengths"], lens.shape), rtol=1e-5)
    assert np.abs(dance.pose).max() < 2.0


def test_generation_is_seeded(two_style_model):
    ch = Choreographer(*two_style_model)
    seed = _clip(0.9, 1.0, 7)
    a = ch(seed, seconds=4, temperature=0.8, style="up", random_seed=3)
    b = ch(seed, seconds=4, temperature=0.8, style="up", random_seed=3)
    c = ch(seed, seconds=4, temperature=0.8, style="up", random_seed=4)
    assert np.array_equal(a.pose, b.pose) and np.array_equal(a.root, b.root)
    assert not np.array_equal(a.pose, c.pose)
    assert a.pose.shape == (30 + 120, 15, 2) and a.seed_frames == 30
    np.testing.assert_allclose(a.pose[:30], seed.pose, atol=1e-6)
    assert a.frames_per_second > 30  # faster than real time even on a loaded CPU
    # 2D: no bone ever looks longer than the dancer's
    assert (bone_lengths(a.pose[30:]) <= a.lengths + 1e-5).all()


def test_first_forecast_frame_is_as_good_as_constant_velocity(two_style_model):
    from dancenow.choreo.evaluate import evaluate_forecast

    model, info = two_style_model
    held_out = [_clip(0.9, 4.0, 21), _clip(0.0, 4.0, 22)]  # unseen phases of the smooth training dances
    rep = evaluate_forecast(model, info, held_out, stride_s=0.25)
    first = rep.body["model"][0]
    assert first <= rep.body["constant velocity"][0], rep.table()
    assert first < 0.5 * rep.body["zero-velocity"][0], rep.table()


def test_blended_style_lies_between_its_parents(two_style_model):
    ch = Choreographer(*two_style_model)
    wrists = [MODEL_JOINTS.index(j) for j in (Joint.R_WRIST, Joint.L_WRIST)]
    seed = _clip(0.45, 1.0, 5)  # 1 s of the same dance with the arms half raised, neither style's

    def wrist_height(style):  # mean wrist y over the last 2 of 4 s (body heights, y down: smaller = higher)
        d = ch(seed, seconds=4, temperature=0.0, style=style, guidance=1.0)  # the embedding's blend itself
        return float(d.pose[-60:, wrists, 1].mean())

    up, down, half = wrist_height("up"), wrist_height("down"), wrist_height("up=0.5,down=0.5")
    assert down - up > 0.08  # the styles part by more than 0.08 body heights
    assert up + 0.05 * (down - up) < half < down - 0.05 * (down - up)


def test_absurd_lengths_are_refused_with_the_bound():
    with pytest.raises(DancenowError, match="at most 14400"):
        check_seconds(1e7)
    with pytest.raises(DancenowError, match="> 0"):
        check_seconds(float("nan"))


def test_a_dancer_turned_about_the_vertical_is_forecast_turned_the_same_way():
    """3D models read every frame in the body's heading frame: facing is not style."""
    from dancenow.choreo.generate import forecast
    from dancenow.choreo.skeleton import project, yaw_rotation

    torch.manual_seed(0)
    model = ChoreoModel(ChoreoConfig(dims=3, hidden=16, layers=1, mixtures=2, style_dim=2, styles=["any", "a"])).eval()
    rng = np.random.default_rng(0)
    u = project(rng.normal(size=(1, 10, NUM_BONES, 3))).astype(np.float32)
    step = rng.normal(0, 0.01, (1, 10, 3)).astype(np.float32)
    obs = np.ones((1, 10, NUM_BONES + 1), np.float32)
    rot = yaw_rotation(1.1)
    style = torch.tensor([1])
    pu, ps = forecast(model, *(torch.from_numpy(v) for v in (u, step, obs)), style, 20)
    tu, ts = forecast(model, torch.from_numpy(u @ rot.T), torch.from_numpy(step @ rot.T), torch.from_numpy(obs), style, 20)
    np.testing.assert_allclose(tu.numpy(), pu.numpy() @ rot.T, atol=1e-4)
    np.testing.assert_allclose(ts.numpy(), ps.numpy() @ rot.T, atol=1e-5)


def test_calibrated_temperature_matches_the_data_speed(two_style_model):
    """calibrate_sampling finds, per style, where a dance from the standing pose moves as fast
    as the style's data; a blend's is the geometric mean; no temperature given means that one.
    A 2D model keeps the mixture's own torso spread (posture is measured in 3D)."""
    from dancenow.choreo.generate import CALIBRATION_GRID, calibrate_sampling, model_temperature, parse_style

    model, info = two_style_model
    cal, torso = calibrate_sampling(model, info, seconds=10.0, seeds=2)
    assert set(cal) == {"any", "down", "up"} and torso == {"any": 1.0, "down": 1.0, "up": 1.0}
    assert all(CALIBRATION_GRID[0] <= t <= CALIBRATION_GRID[-1] for t in cal.values())
    info = {**info, "temperature": cal}
    blend = model_temperature(model, info, parse_style(model, "up=0.5,down=0.5"))
    assert blend == pytest.approx(float(np.sqrt(cal["up"] * cal["down"])))
    d = Choreographer(model, info)(None, seconds=2, style="up")
    assert d.temperature == pytest.approx(cal["up"])
    if CALIBRATION_GRID[0] < cal["up"] < CALIBRATION_GRID[-1]:  # found inside the grid: speed as the data's
        from dancenow.choreo.evaluate import dance_health

        d = Choreographer(model, info)(None, seconds=20, style="up", random_seed=5)
        h = dance_health(d.pose[d.seed_frames + 120:], FPS, info["reference"]["up"])
        assert 0.6 < h.speed_ratio < 1.6, h.summary()


def test_torso_spread_calibration_follows_the_data_posture():
    """In 3D the calibration also picks how widely the torso is sampled: the spread whose dances
    twist (hips against shoulders) and lean as much as the style's data. A network that says
    "as the prior, give or take 0.03 per frame" random-walks an upright body; data that hold the
    torso still get the tightest spread on the grid, data that twist and lean further than the
    untouched walk keep the mixture's own, data in between get the spread in between."""
    from dancenow.choreo.generate import TORSO_GRID, calibrate_sampling, torso_spread_vector

    model, defaults = _random_walk_model()
    found = {}
    # measured on this network at the lowest temperature (a speed of ~0 pins it there): twist /
    # tilt 90th percentiles 45/60 degrees at spread 1, 11/18 at 0.25, 3/4 at 0.06 (other draws:
    # other figures, in the same order)
    for name, (twist, tilt) in (("still", (1.0, 1.0)), ("middle", (11.0, 18.0)), ("loose", (120.0, 120.0))):
        ref = {"speed": [1e-6] * 15, "twist90": twist, "tilt90": tilt}
        info = {"fps": FPS, "dims": 3, "defaults": defaults, "reference": {"a": ref}}
        found[name] = calibrate_sampling(model, info, seconds=6.0, seeds=2)[1]["a"]
    assert found["still"] == min(TORSO_GRID) and found["loose"] == 1.0
    assert min(TORSO_GRID) < found["middle"] < 1.0, found
    v = torso_spread_vector(model, 0.25)
    assert v.shape == (model.out_features,) and v[:12].eq(0.25).all() and v[12:].eq(1.0).all()


def _random_walk_model():
    """A 3D network that says "as the prior, give or take 0.03 per frame" (it random-walks an
    upright body), and the defaults of an upright body: (model, defaults)."""
    from dancenow.choreo.skeleton import BONE_NAMES

    torch.manual_seed(0)
    model = ChoreoModel(ChoreoConfig(dims=3, hidden=16, layers=1, mixtures=2, style_dim=2, styles=["any", "a"])).eval()
    with torch.no_grad():
        model.head.proj.weight.zero_()
        model.head.proj.bias.copy_(_head_bias(model, 0.03))
    # y points down: hip and shoulder lines along +x, spine and head up, limbs down, feet forward
    up = {"pelvis": (1, 0, 0), "shoulders": (1, 0, 0), "spine": (0, -1, 0), "head": (0, -1, 0)}
    direction = np.array([up.get(n, (0, 0, 1) if "foot" in n else (0, 1, 0)) for n in BONE_NAMES], np.float32)
    return model, {"direction": direction, "lengths": np.full(NUM_BONES, 0.12, np.float32)}


def _head_bias(model, sigma):
    """The MDN head's bias for logits 0, means 0 and every spread `sigma` (its output layout:
    K logits, then per component D means and D log-spreads)."""
    K, D = model.config.mixtures, model.out_features
    per_comp = torch.cat([torch.zeros(K, D), torch.full((K, D), float(np.log(sigma)))], -1)
    return torch.cat([torch.zeros(K), per_comp.reshape(-1)])


def test_sampling_spread_scales_each_dimension():
    """mdn.sample's `spread`: 0 on a dimension draws the chosen component's mean there."""
    from dancenow.choreo.mdn import MixtureParams, sample

    g = torch.Generator().manual_seed(0)
    params = MixtureParams(torch.zeros(500, 1), torch.full((500, 1, 3), 2.0), torch.zeros(500, 1, 3))
    y = sample(params, 1.0, g, spread=torch.tensor([0.0, 1.0, 3.0]))
    assert torch.all(y[:, 0] == 2.0)
    assert 0.8 < float(y[:, 1].std()) < 1.2 and 2.4 < float(y[:, 2].std()) < 3.6


def test_style_guidance_steps_from_the_style_free_dance(two_style_model):
    """Guidance 1 is the plain rollout, 0 the style-free one, and guiding "any" changes nothing;
    above 1 the dance moves further from the style-free one toward the style."""
    from dancenow.choreo.clips import clip_window
    from dancenow.choreo.generate import parse_style, rollout

    model, info = two_style_model
    a = clip_window(_clip(0.45, 1.0, 5), 0, 30, info["defaults"])
    ctx = [torch.from_numpy(v)[None] for v in (a.u, a.root_step, a.observed)]
    up, free = parse_style(model, "up")[None], parse_style(model, "any")[None]

    def run(style, w):
        return rollout(model, *ctx, style, 60, 0.0, guidance=w)[0]

    plain = rollout(model, *ctx, up, 60, 0.0)[0]
    torch.testing.assert_close(run(up, 1.0), plain)
    torch.testing.assert_close(run(up, 0.0), run(free, 1.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(run(free, 3.0), run(free, 1.0), atol=1e-5, rtol=0)
    wrists = [MODEL_JOINTS.index(j) for j in (Joint.R_WRIST, Joint.L_WRIST)]
    lengths = torch.from_numpy(a.lengths)[None, None, :, None]

    def wrist_y(u):
        from dancenow.choreo.skeleton import joints_from_bones
        return float(joints_from_bones((u * lengths).numpy())[0, -30:, wrists, 1].mean())

    y_free, y_up, y_up2 = wrist_y(run(free, 1.0)), wrist_y(plain), wrist_y(run(up, 2.0))
    assert abs(y_up - y_free) > 0.05  # the style matters here
    assert (y_up2 - y_free) / (y_up - y_free) > 1.3  # guided, the wrists go further the same way


def test_style_guidance_from_the_other_styles_steps_away_from_them(two_style_model):
    """guide_from "others": the second run reads the known styles the asked blend leaves out
    (here "down" for "up"; "any" for a blend of both), so guidance 0 is the other style's
    plain dance and above 1 the dance moves further from it toward the asked style."""
    from dancenow.choreo.clips import clip_window
    from dancenow.choreo.generate import guidance_base, parse_style, rollout
    from dancenow.choreo.skeleton import joints_from_bones

    model, info = two_style_model
    up, down = parse_style(model, "up")[None], parse_style(model, "down")[None]
    both = parse_style(model, "up=0.5,down=0.5")[None]
    torch.testing.assert_close(guidance_base(model, up, "others"), down)
    torch.testing.assert_close(guidance_base(model, both, "others"), parse_style(model, "any")[None])
    torch.testing.assert_close(guidance_base(model, up), parse_style(model, "any")[None])
    with pytest.raises(DancenowError, match="guide_from"):
        guidance_base(model, up, "nobody")
    a = clip_window(_clip(0.45, 1.0, 5), 0, 30, info["defaults"])
    ctx = [torch.from_numpy(v)[None] for v in (a.u, a.root_step, a.observed)]

    def run(style, w):
        return rollout(model, *ctx, style, 60, 0.0, guidance=w, guide_from="others")[0]

    torch.testing.assert_close(run(up, 0.0), rollout(model, *ctx, down, 60, 0.0)[0], atol=1e-5, rtol=0)
    wrists = [MODEL_JOINTS.index(j) for j in (Joint.R_WRIST, Joint.L_WRIST)]
    lengths = torch.from_numpy(a.lengths)[None, None, :, None]
    wrist_y = lambda u: float(joints_from_bones((u * lengths).numpy())[0, -30:, wrists, 1].mean())  # noqa: E731
    y_down, y_up, y_up2 = wrist_y(run(down, 1.0)), wrist_y(run(up, 1.0)), wrist_y(run(up, 2.0))
    assert abs(y_up - y_down) > 0.05
    assert (y_up2 - y_down) / (y_up - y_down) > 1.3


@pytest.mark.parametrize("dims", [3, 2])
def test_the_forecast_of_a_mirrored_dancer_is_the_mirrored_forecast(dims):
    """The forecast averages the motion's rollout with its mirror image's, mirrored back: an
    untrained network is not mirror-symmetric, the averaged forecast is exactly."""
    from dancenow.choreo.generate import forecast, rollout
    from dancenow.choreo.skeleton import mirror_bones, project

    torch.manual_seed(0)
    model = ChoreoModel(ChoreoConfig(dims=dims, hidden=16, layers=1, mixtures=2, style_dim=2, styles=["any", "a"])).eval()
    rng = np.random.default_rng(1)
    u = torch.from_numpy(project(rng.normal(size=(2, 10, NUM_BONES, dims))).astype(np.float32))
    step = torch.from_numpy(rng.normal(0, 0.01, (2, 10, dims)).astype(np.float32))
    obs = torch.ones(2, 10, NUM_BONES + 1)
    style = torch.tensor([1, 0])
    pu, ps = forecast(model, u, step, obs, style, 15)
    mu, ms, mo = mirror_bones(u, step, obs)
    qu, qs = forecast(model, mu, ms, mo, style, 15)
    back_u, back_s, _ = mirror_bones(qu, qs, obs[:, :15])
    np.testing.assert_allclose(back_u.numpy(), pu.numpy(), atol=1e-5)
    np.testing.assert_allclose(back_s.numpy(), ps.numpy(), atol=1e-6)
    # one rollout alone is not symmetric, and the average lies between it and its mirror's
    ru, _, _ = rollout(model, u, step, obs, style, 15)
    su, _ = forecast(model, u, step, obs, style, 15, mirror=False, continuity=False)
    np.testing.assert_allclose(su.numpy(), ru.numpy(), atol=1e-6)
    qu1, qs1, _ = rollout(model, mu, ms, mo, style, 15)
    back1, _, _ = mirror_bones(qu1, qs1, obs[:, :15])
    assert (back1 - ru).abs().max() > 1e-3
    plain, _ = forecast(model, u, step, obs, style, 15, continuity=False)
    np.testing.assert_allclose(plain.numpy(), project(0.5 * (ru + back1)).numpy(), atol=1e-5)


def test_a_forecast_whose_network_mispredicts_the_context_starts_from_the_dancers_own_velocity():
    """An untrained network's one-step predictions of the context are far off, constant
    velocity's of a steadily turning body nearly exact: the forecast's first frame moves to
    constant velocity's, the move fading frame by frame into the network's own forecast."""
    from dancenow.choreo.generate import first_frame_weight, forecast

    torch.manual_seed(0)
    model = ChoreoModel(ChoreoConfig(dims=2, hidden=16, layers=1, mixtures=2, style_dim=2, styles=["any", "a"])).eval()
    T, H = 30, 30
    ang = np.linspace(0, 2 * np.pi, NUM_BONES, endpoint=False)[None] + 0.03 * np.arange(T + H)[:, None]
    motion = torch.from_numpy(0.9 * np.stack([np.cos(ang), np.sin(ang)], -1)[None].astype(np.float32))
    u, truth = motion[:, :T], motion[:, T:]
    step, obs, style = torch.zeros(1, T, 2), torch.ones(1, T, NUM_BONES + 1), torch.tensor([0])
    assert float(first_frame_weight(model, u, step, obs, style)[0]) < 0.1
    pu, _ = forecast(model, u, step, obs, style, H)
    plain, _ = forecast(model, u, step, obs, style, H, continuity=False)
    err = lambda f: float((f[0, 0] - truth[0, 0]).norm(dim=-1).mean())  # noqa: E731
    cv = u[:, -1:] + (u[:, -1:] - u[:, -2:-1])
    assert err(pu) <= 1.1 * err(cv) + 1e-4 and err(pu) < 0.2 * err(plain)
    torch.testing.assert_close(pu[:, -1], plain[:, -1], atol=2e-3, rtol=0)  # the move has faded


def test_a_hedged_forecast_trusts_the_model_or_the_dancers_velocity_as_far_as_each_earned_on_the_context():
    """The network here outputs nothing, so its forecast is the damped constant-velocity prior,
    which stops within a few frames. Bones turning steadily: the backtest shows the dancer's
    own velocity beats both that and standing still, so the hedge follows the velocity for as
    long as it was tested, and ends nearer the truth than the plain forecast. Bones flicking
    back and forth every 4 frames: carrying the last change on is wrong every time, staying put
    was better, and the hedged forecast all but stays (or settles toward the centre the bones
    flick about), though its first frame is the forecast's own. Too short a context to test:
    the forecast as it is."""
    from dancenow.choreo.generate import TRUST_GRID, forecast, hedge_weights, hedged_forecast, model_trust

    torch.manual_seed(0)
    model = ChoreoModel(ChoreoConfig(dims=2, hidden=16, layers=1, mixtures=2, style_dim=2, styles=["any", "a"])).eval()
    with torch.no_grad():
        model.head.proj.weight.zero_()
        model.head.proj.bias.zero_()
    T, H = 30, 30
    phase = np.linspace(0, 2 * np.pi, NUM_BONES, endpoint=False)[None]
    t = np.arange(T + H)[:, None]

    def bones(ang):
        return torch.from_numpy(0.9 * np.stack([np.cos(ang), np.sin(ang)], -1)[None].astype(np.float32))

    step, obs = torch.zeros(1, T, 2), torch.ones(1, T, NUM_BONES + 1)
    lengths, style = torch.full((1, NUM_BONES), 0.2), torch.tensor([0])
    with torch.no_grad():
        turning = bones(phase + 0.02 * t)
        u, truth = turning[:, :T], turning[:, T:]
        w = hedge_weights(model, u, step, obs, style, lengths, H)
        assert torch.allclose(w.sum(1), torch.ones(1)) and float(w[0, -1]) > 0.5  # the velocity won
        hu, _, _ = hedged_forecast(model, u, step, obs, style, lengths, H)
        pu, _ = forecast(model, u, step, obs, style, H)
        err = lambda f: float((f[0, H // 2 - 1] - truth[0, H // 2 - 1]).norm(dim=-1).mean())  # noqa: E731
        assert err(hu) < 0.5 * err(pu) and err(hu) < 0.5 * err(u[:, -1:].expand(-1, H, -1, -1))
        flicking = bones(phase + 0.15 * np.sin(2 * np.pi * t / 4 + 0.3))
        u, truth = flicking[:, :T], flicking[:, T:]
        hu, hs, w = hedged_forecast(model, u, step, obs, style, lengths, H)
        pu, _ = forecast(model, u, step, obs, style, H)
        assert float(model_trust(w)[0]) < 0.1 and float(w[0, -1]) < 1e-3
        moved, plain = (hu[0, -1] - u[0, -1]).norm(dim=-1).mean(), (pu[0, -1] - u[0, -1]).norm(dim=-1).mean()
        assert float(plain) > 0.2 and float(moved) < 0.25 * float(plain)
        mean_err = lambda f: float((f[0] - truth[0]).norm(dim=-1).mean())  # noqa: E731
        assert mean_err(hu) < 1.05 * mean_err(u[:, -1:].expand(-1, H, -1, -1)) < 0.5 * mean_err(pu)
        torch.testing.assert_close(hu[:, 0], pu[:, 0], atol=1e-3, rtol=0)
        w = hedge_weights(model, u[:, :6], step[:, :6], obs[:, :6], style, lengths, H)
        assert float(w[0, TRUST_GRID.index(1.0)]) == 1.0 and float(model_trust(w)[0]) == 1.0
        hu, _, _ = hedged_forecast(model, u[:, :6], step[:, :6], obs[:, :6], style, lengths, H)
        torch.testing.assert_close(hu, forecast(model, u[:, :6], step[:, :6], obs[:, :6], style, H)[0])


def test_hedge_candidates_weigh_each_trust_level_from_standing_still_and_from_a_drift_toward_the_context_centre():
    """Each trust level's weight on the forecast starts at 1 (the first frame is the forecast's
    own) and decays to the level by the model's damping a frame; trust 0 then settles from the
    first anchor on the last pose, from the second on a pose drifting from it toward the
    context's mean pose with time constant ANCHOR_FRAMES. Then the spin (in 2D, or without a
    turn, the forecast's first frame held); the velocity candidate comes last. Without a
    centre, only the first anchor."""
    from dancenow.choreo import generate as gen
    from dancenow.choreo.skeleton import project

    model = ChoreoModel(ChoreoConfig(dims=2, hidden=8, layers=1, mixtures=1, style_dim=2, styles=["any"]))
    B, T = 2, 12
    rng = np.random.default_rng(0)
    u_last, centre = (project(torch.from_numpy(rng.normal(size=(B, NUM_BONES, 2)).astype(np.float32))) for _ in range(2))
    pu = project(torch.from_numpy(rng.normal(size=(B, T, NUM_BONES, 2)).astype(np.float32)))
    ps, step = torch.zeros(B, T, 2), torch.zeros(B, 2)
    vel = 0.01 * torch.ones(B, NUM_BONES, 2)
    n = len(gen.TRUST_GRID)
    su = project(torch.from_numpy(rng.normal(size=(B, T, NUM_BONES, 2)).astype(np.float32)))
    ss = torch.full((B, T, 2), 0.01)
    cu, cs = gen.hedge_candidates(model, u_last, vel, step, pu, ps, centre=centre, slow=(su, ss))
    assert cu.shape[1] == cs.shape[1] == gen.hedge_size() == 4 * n + 2
    k = torch.arange(T, dtype=torch.float32)[None, :, None, None]
    fade = model.config.damping ** k  # trust 0's weight on the forecast
    still = u_last[:, None].expand(-1, T, -1, -1)
    torch.testing.assert_close(cu[:, 0], still + fade * (pu - still))
    drift = u_last[:, None] + (1 - torch.exp(-(k + 1) / gen.ANCHOR_FRAMES)) * (centre - u_last)[:, None]
    torch.testing.assert_close(cu[:, n], drift + fade * (pu - drift))
    one = gen.TRUST_GRID.index(1.0)
    torch.testing.assert_close(cu[:, one, 0], pu[:, 0])  # the first frame is the forecast's own
    torch.testing.assert_close(cu[:, n + one, 0], pu[:, 0])
    torch.testing.assert_close(cu[:, 2 * n], still + fade * (su - still))  # the slowed forecast's trust 0
    torch.testing.assert_close(cu[:, 3 * n + one], su)
    torch.testing.assert_close(cs[:, 2 * n + one], ss)
    torch.testing.assert_close(cu[:, -1, 2], u_last + 3 * vel)  # the velocity carried on
    torch.testing.assert_close(cu[:, -2], pu[:, :1].expand(-1, T, -1, -1))  # no turn in 2D
    assert gen.hedge_candidates(model, u_last, vel, step, pu, ps)[0].shape[1] == n + 2
    w = torch.zeros(B, 4 * n + 2)
    w[0, n + gen.TRUST_GRID.index(0.5)], w[1, gen.TRUST_GRID.index(0.2)], w[1, -1] = 1.0, 0.5, 0.5
    torch.testing.assert_close(gen.model_trust(w), torch.tensor([0.5, 0.1]))
    w[0], w[0, 3 * n + gen.TRUST_GRID.index(0.8)] = 0.0, 1.0  # all on the slowed forecast at 0.8
    torch.testing.assert_close(gen.model_trust(w), torch.tensor([0.8, 0.1]))


def test_a_slowed_forecast_is_the_forecast_of_the_context_played_slower_played_back_at_speed(monkeypatch):
    """`slowed_forecast` resamples the context at `speed` x (its last frame kept), asks
    `forecast` for enough slowed frames and reads them back at 1 / speed x. With a forecast that
    carries the last change on exactly (a stand-in), a steady turn is forecast exactly (the
    slowed turn, played back at speed, is the turn), and a steady root step too. Its first frame
    is moved onto the given one, the move fading by the prior's damping."""
    from dancenow.choreo import generate as gen
    from dancenow.choreo.skeleton import project

    model = ChoreoModel(ChoreoConfig(dims=2, hidden=8, layers=1, mixtures=1, style_dim=2, styles=["any"]))
    seen = {}

    def carry_on(model, u, step, observed, style, frames):  # constant velocity, in angle
        seen["Tc"], seen["frames"] = u.shape[1], frames
        a = torch.atan2(u[..., 1], u[..., 0])
        da = a[:, -1] - a[:, -2]
        k = torch.arange(1, frames + 1, dtype=u.dtype)[None, :, None]
        ang = a[:, -1:] + k * da[:, None]
        return torch.stack([torch.cos(ang), torch.sin(ang)], -1), step[:, -1:].expand(-1, frames, -1)

    monkeypatch.setattr(gen, "forecast", carry_on)
    Tc, T, rate = 30, 15, 0.05
    t = torch.arange(Tc + T, dtype=torch.float32)
    ang = 0.3 * torch.arange(NUM_BONES)[None] + rate * t[:, None]
    bones = torch.stack([torch.cos(ang), torch.sin(ang)], -1)[None]
    u, truth = bones[:, :Tc], bones[:, Tc:]
    step, obs = torch.full((1, Tc, 2), 0.02), torch.ones(1, Tc, NUM_BONES + 1)
    su, ss = gen.slowed_forecast(model, u, step, obs, torch.tensor([0]), T, 0.4, truth[:, 0])
    assert seen == {"Tc": 73, "frames": 39}  # 29 frames / 0.4 + 1; 15 frames / 0.4 + 1
    torch.testing.assert_close(su, truth, atol=1e-4, rtol=0)
    torch.testing.assert_close(ss, torch.full((1, T, 2), 0.02), atol=1e-6, rtol=0)
    moved = project(truth[:, 0] + 0.1)
    su, _ = gen.slowed_forecast(model, u, step, obs, torch.tensor([0]), T, 0.4, moved)
    torch.testing.assert_close(su[:, 0], moved, atol=1e-5, rtol=0)
    assert float((su[:, 1] - truth[:, 1]).norm(dim=-1).max()) > 0.01  # the move fades, it does not vanish at once
    torch.testing.assert_close(su[:, -1], truth[:, -1], atol=0.03, rtol=0)


def test_the_spin_candidate_turns_the_forecast_on_about_the_vertical_at_the_context_s_last_rate():
    """A body turning about the vertical (y) at a steady rate: `turn_rate` reads the rate from
    its pelvis and shoulder bones, and the spin candidate starts at the forecast's first frame
    and turns it on by that rate, fading by SPIN_DAMPING a frame."""
    from dancenow.choreo import generate as gen
    from dancenow.choreo.skeleton import project, yaw_rotation

    rng = np.random.default_rng(4)
    base = project(rng.normal(size=(NUM_BONES, 3))).astype(np.float32)
    rate = 0.07
    u = np.stack([base @ yaw_rotation(-rate * t).T for t in range(6)])  # heading grows by `rate` a frame
    ut = torch.from_numpy(u)[None]
    torch.testing.assert_close(gen.turn_rate(ut), torch.tensor([rate]), atol=1e-5, rtol=0)
    torch.testing.assert_close(gen.turn_rate(ut.flip(1)), torch.tensor([-rate]), atol=1e-5, rtol=0)
    assert float(gen.turn_rate(ut[..., :2])[0]) == 0.0  # no vertical axis in 2D
    model = ChoreoModel(ChoreoConfig(dims=3, hidden=8, layers=1, mixtures=1, style_dim=2, styles=["any"]))
    T = 8
    pu = ut[:, -1:].expand(-1, T, -1, -1).clone()
    cu, cs = gen.hedge_candidates(model, ut[:, -1], ut[:, -1] - ut[:, -2], torch.zeros(1, 3), pu, torch.zeros(1, T, 3),
                                  turn=gen.turn_rate(ut))
    spin = cu[0, -2]
    torch.testing.assert_close(spin[0], pu[0, 0])
    d = gen.SPIN_DAMPING
    for k in (1, 4):
        angle = rate * sum(d ** j for j in range(1, k + 1))
        want = torch.from_numpy(u[-1] @ yaw_rotation(-angle).T)
        torch.testing.assert_close(spin[k], want, atol=1e-5, rtol=0)
    assert float(cs[0, -2].abs().max()) == 0.0  # spinning on the spot


def test_guidance_is_calibrated_per_style_down_to_a_level_whose_long_dances_stay_upright(two_style_model, monkeypatch):
    """`calibrate_guidance` keeps the asked guidance for a style whose long dances hold their
    posture and steps a style whose dances lean past POSTURE_LIMIT down the levels, with its
    temperature recalibrated there; a blend's guidance is the geometric mean of its styles', and
    a dance with none given is generated at its style's."""
    from dancenow.choreo import generate as gen

    model, info = two_style_model
    leaning = {("up", 3.0): 4.0, ("up", 1.0): 1.1, ("down", 3.0): 1.2}
    asked = []

    def posture(model, info, style, temperature, torso, guidance, guide_from, **kw):
        asked.append((style, guidance))
        return leaning[(style, guidance)]

    monkeypatch.setattr(gen, "long_dance_posture", posture)
    temps, torso, guid = gen.calibrate_guidance(model, info, 3.0, "others", seconds=6.0, seeds=2)
    assert guid == {"any": 3.0, "down": 3.0, "up": 1.0}
    assert ("up", 1.0) in asked and ("down", 1.0) not in asked and all(s != "any" for s, _ in asked)
    assert temps["up"] == gen.calibrate_sampling(model, info, seconds=6.0, seeds=2, guidance=1.0, guide_from="others",
                                                 styles=["up"])[0]["up"]
    info = {**info, "temperature": temps, "torso_spread": torso, "guidance": guid, "guide_from": "others"}
    blend = gen.model_guidance(info, model, gen.parse_style(model, "up=0.5,down=0.5"))
    assert blend == pytest.approx(np.sqrt(3.0))
    assert gen.model_guidance(info) == 3.0  # without a style: the strongest
    assert Choreographer(model, info)(None, seconds=1, style="up").guidance == 1.0
    assert Choreographer(model, info)(None, seconds=1, style="down").guidance == pytest.approx(3.0)


def test_a_long_dance_s_posture_is_measured_against_the_style_s_data():
    """`long_dance_posture`: the random-walking torso of a fixed network ("as the prior, give or
    take 0.03 a frame") twists and leans far past data that hold it still, and within the limit
    of data that swing it widely."""
    from dancenow.choreo.generate import POSTURE_LIMIT, long_dance_posture

    model, defaults = _random_walk_model()
    found = {}
    for name, angles in (("still", 1.0), ("loose", 120.0)):
        info = {"fps": FPS, "dims": 3, "defaults": defaults,
                "reference": {"a": {"speed": [0.1] * 15, "twist90": angles, "tilt90": angles}}}
        found[name] = long_dance_posture(model, info, "a", 1.0, 1.0, 1.0, "any", seconds=8.0, seeds=2)
    assert found["still"] > 10 * POSTURE_LIMIT and found["loose"] < POSTURE_LIMIT, found


def test_forecasts_rolled_out_together_are_each_contexts_own_forecast():
    """`forecasts` runs several contexts through the network in one call and steps their
    rollouts as one batch (a hedge's eight forecasts in one): each comes out as `forecast` makes
    it alone, whatever the other contexts' lengths, batch sizes and horizons; and the hedged
    forecast, which asks for all of its forecasts at once, is the hedge of the forecasts made
    one by one."""
    from dancenow.choreo import generate as gen
    from dancenow.choreo.skeleton import project

    torch.manual_seed(0)
    model = ChoreoModel(ChoreoConfig(dims=2, hidden=16, layers=2, mixtures=3, style_dim=2, styles=["any", "a"])).eval()

    def context(batch, length):
        walk = torch.cumsum(0.05 * torch.randn(batch, length, NUM_BONES, 2), 1) + torch.randn(batch, 1, NUM_BONES, 2)
        return project(walk), 0.01 * torch.randn(batch, length, 2), torch.ones(batch, length, NUM_BONES + 1)

    requests = [(*context(1, 30), torch.tensor([0]), 7), (*context(2, 12), torch.tensor([1, 0]), 15),
                (*context(1, 3), torch.tensor([1]), 4)]
    with torch.no_grad():  # the contexts' passes: one packed LSTM call, each as if alone
        xs = [model.encode_inputs(u, s, o) for u, s, o, _, _ in requests]
        for x, (u, s, o, st, _), (params, (h, c)) in zip(xs, requests, model.run_many(xs, [r[3] for r in requests])):
            alone, (h1, c1) = model.run(x, st)
            for a, b in ((params.mu, alone.mu), (params.logits, alone.logits), (h, h1), (c, c1)):
                torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    together = gen.forecasts(model, requests)
    assert gen.forecasts(model, []) == []
    for req, (pu, ps) in zip(requests, together):
        alone_u, alone_s = gen.forecast(model, *req)
        assert pu.shape == alone_u.shape and ps.shape == alone_s.shape
        torch.testing.assert_close(pu, alone_u, atol=1e-5, rtol=0)
        torch.testing.assert_close(ps, alone_s, atol=1e-6, rtol=0)
    u, step, obs = context(2, 30)
    style, lengths, H = torch.tensor([0, 0]), torch.full((2, NUM_BONES), 0.2), 30
    with torch.no_grad():
        hu, hs, w = gen.hedged_forecast(model, u, step, obs, style, lengths, H)
        pu, ps = gen.forecast(model, u, step, obs, style, H)
        w1 = gen.hedge_weights(model, u, step, obs, style, lengths, H)
        hu1, hs1 = gen.apply_hedge(model, u, step, obs, style, pu, ps, w1)
    torch.testing.assert_close(w, w1, atol=1e-4, rtol=0)
    torch.testing.assert_close(hu, hu1, atol=1e-5, rtol=0)
    torch.testing.assert_close(hs, hs1, atol=1e-6, rtol=0)


def test_a_known_style_is_forecast_with_the_forecaster_and_a_style_free_one_by_the_dancer_alone():
    """ChoreoConfig.forecaster: a known style's forecast is the mix of the forecaster's and the
    dancer's forecasts (directions back on the sphere); "any" is the dancer's alone; a model
    without a forecaster forecasts as the dancer does."""
    import dataclasses

    from dancenow.choreo.generate import forecast
    from dancenow.choreo.skeleton import project

    cfg = ChoreoConfig(dims=3, hidden=16, layers=1, mixtures=2, style_dim=2, styles=["any", "a"], forecaster=0.7)
    torch.manual_seed(0)
    model = ChoreoModel(cfg).eval()
    torch.manual_seed(0)
    dancer = ChoreoModel(dataclasses.replace(cfg, forecaster=0.0)).eval()
    # the forecaster is made from its own random numbers: the dancer is as a model without one
    assert all(torch.equal(v, dancer.state_dict()[k]) for k, v in model.dancer_state().items())
    assert len(model.dancer_parameters()) == len(list(dancer.parameters()))
    assert not torch.equal(model.forecaster.lstm.weight_hh_l0, model.lstm.weight_hh_l0)
    rng = np.random.default_rng(1)
    u = torch.from_numpy(project(rng.normal(size=(3, 10, NUM_BONES, 3))).astype(np.float32))
    step = torch.from_numpy(rng.normal(0, 0.01, (3, 10, 3)).astype(np.float32))
    obs = torch.ones(3, 10, NUM_BONES + 1)
    style = torch.tensor([1, 0, 1])
    pu, ps = forecast(model, u, step, obs, style, 12)
    du, ds = forecast(dancer, u, step, obs, style, 12)
    fu, fs = forecast(model.forecaster, u, step, obs, style, 12)
    np.testing.assert_allclose(pu[1].numpy(), du[1].numpy(), atol=1e-6)  # "any": the dancer's
    np.testing.assert_allclose(ps[1].numpy(), ds[1].numpy(), atol=1e-7)
    k = [0, 2]
    np.testing.assert_allclose(pu[k].numpy(), project(0.7 * fu[k] + 0.3 * du[k]).numpy(), atol=1e-5)
    np.testing.assert_allclose(ps[k].numpy(), (0.7 * fs[k] + 0.3 * ds[k]).numpy(), atol=1e-6)
    assert (pu[k] - du[k]).abs().max() > 1e-3


def _walk_speed(dance, skip_s=10.0):
    p = dance.pose[dance.seed_frames + int(skip_s * FPS):]
    return float(np.linalg.norm(np.diff(p, axis=0), axis=-1).mean() * FPS)


def test_a_held_tempo_brings_a_dance_that_settles_too_slow_or_too_fast_back_to_its_style_s_speed():
    """`TempoHold`: the random-walking network ("as the prior, give or take 0.03 a frame") moves
    at a speed set by its temperature. Asked to dance like data 0.7x as fast, or 1.4x as fast,
    its held dance comes toward the edge of TEMPO_BAND nearest where it started (the hold
    corrects only what lies outside the band), inside the 0.8-1.2x issue 18 asks, where the
    open-loop one stays at 1.43x / 0.71x; at the data's own speed the held dance stays at it."""
    model, defaults = _random_walk_model()
    info = {"fps": FPS, "dims": 3, "defaults": defaults, "reference": {"a": {"speed": [1.0] * 15}}}
    kw = dict(seconds=40, style="a", temperature=1.0, random_seed=3)
    free = Choreographer(model, info)(None, hold_tempo=False, **kw)
    base = _walk_speed(free)
    assert free.tempo is None
    for factor in (0.7, 1.4):
        info["reference"]["a"]["speed"] = [base * factor] * 15
        ch = Choreographer(model, info)
        held, open_loop = ch(None, hold_tempo=True, **kw), ch(None, hold_tempo=False, **kw)
        ratio, open_ratio = _walk_speed(held) / (base * factor), _walk_speed(open_loop) / (base * factor)
        assert held.tempo == pytest.approx(base * factor)
        assert 0.8 < ratio < 1.2, (factor, ratio)
        assert abs(np.log(open_ratio)) > 0.3, (factor, open_ratio)
    info["reference"]["a"]["speed"] = [base] * 15
    same = Choreographer(model, info)(None, hold_tempo=True, **kw)
    assert 0.9 < _walk_speed(same) / base < 1.1


def test_a_dance_at_its_calibrated_temperature_holds_its_tempo_and_a_given_temperature_does_not(two_style_model):
    """Generation holds the tempo by default only where the temperature is the calibrated one: a
    temperature asked for is used as given (`GeneratedDance.tempo` says which)."""
    model, info = two_style_model
    ch = Choreographer(model, info)
    assert ch(None, seconds=1, style="up").tempo == pytest.approx(float(np.mean(info["reference"]["up"]["speed"])))
    assert ch(None, seconds=1, style="up", temperature=0.5).tempo is None
    assert ch(None, seconds=1, style="up", temperature=0.0, hold_tempo=True).tempo is None  # the mode: nothing to hold
