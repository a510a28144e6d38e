"""Clips: gaps, normalisation, model arrays, windows that start exactly where the motion is,
and the way back to a PoseSequence."""

from __future__ import annotations

import numpy as np

from dancenow.choreo import clips as C
from dancenow.choreo import readers as R
from dancenow.choreo.skeleton import MODEL_JOINTS, bone_lengths, bone_vectors, joints_from_bones, project
from dancenow.keypoints import Joint

from .helpers import FPS, synthetic_dance


def test_gaps_are_interpolated_and_masked_not_zeros():
    seq = synthetic_dance(0.5, seconds=4.0)
    kp = seq.keypoints.copy()
    kp[10:13, Joint.R_HIP] = 0  # a 0.1 s root gap: interpolated
    kp[40:45, Joint.L_WRIST] = 0  # a joint gap
    kp[60:75, :25] = 0  # a 0.5 s gap with nobody: splits the clip
    clips = C.clips_from_motion(R.motion_from_poses(seq.replace(keypoints=kp), "s"), FPS, 2)
    assert [len(c) for c in clips] == [60, 45]
    c = clips[0]
    w = list(MODEL_JOINTS).index(Joint.L_WRIST)
    assert not c.observed[40:45, w].any() and c.observed[13:40, w].all()
    assert not c.observed[10:13].any()  # no root: body-centred positions are guesses too
    assert not c.root_observed[10:13].any()
    ref = C.clips_from_motion(R.motion_from_poses(seq, "s"), FPS, 2)[0]
    # the filled wrist is a linear interpolation: within 0.03 body heights of the truth, not 0
    assert np.abs(c.pose[40:45, w] - ref.pose[40:45, w]).max() < 0.03
    assert np.abs(c.pose[40:45, w]).min() > 0.05
    assert np.isfinite(c.pose).all() and np.isfinite(c.root).all()


def test_to_pose_sequence_stands_in_frame():
    seq = synthetic_dance(0.3, seconds=2.0)
    clip = C.clips_from_motion(R.motion_from_poses(seq, "s"), FPS, 2)[0]
    out = C.to_pose_sequence(clip.pose, clip.root, FPS, (512, 512))
    assert out.size == (512, 512) and len(out) == len(clip)
    body = out.keypoints[:, :25]
    assert (body[:, list(MODEL_JOINTS), 2] > 0).all()  # everything inside the frame
    feet = body[0, [Joint.R_ANKLE, Joint.L_ANKLE, Joint.R_BIG_TOE, Joint.L_BIG_TOE], 1]
    assert 0.88 * 512 < feet.max() < 0.97 * 512  # feet near the bottom
    assert abs(body[0, Joint.MID_HIP, 0] - 256) < 20  # centred (pixels)


def test_model_arrays_are_directions_that_rebuild_the_pose():
    clip = C.clips_from_motion(R.motion_from_poses(synthetic_dance(0.4, seconds=2.0), "s"), FPS, 2)[0]
    a = C.clip_arrays(clip)
    assert a.u.shape == (len(clip), 14, 2) and a.observed.shape == (len(clip), 15)
    assert (np.linalg.norm(a.u, axis=-1) <= 1 + 1e-6).all()  # 2D: inside the unit disk
    # the synthetic dance keeps its limbs at full length in the picture: directions x lengths = the pose
    np.testing.assert_allclose(joints_from_bones(a.u * a.lengths[:, None]), clip.pose, atol=2e-3)
    assert a.root_step[0].tolist() == [0.0, 0.0] and a.observed[0, -1] == 0  # no step before the first frame


def test_a_window_starts_exactly_at_its_last_frame_in_3d():
    rng = np.random.default_rng(0)
    pose = rng.normal(0, 0.2, (10, 15, 3))
    pose[:, MODEL_JOINTS.index(Joint.R_HIP)] = -pose[:, MODEL_JOINTS.index(Joint.L_HIP)]  # the root is the hip midpoint
    observed = np.ones((10, 16))
    w = C.window_arrays(pose, np.zeros((10, 3)), observed, {"lengths": np.full(14, 0.2), "direction": np.zeros((14, 3))})
    np.testing.assert_allclose(np.linalg.norm(w.u, axis=-1), 1.0, atol=1e-6)
    # lengths of the last frame: forward kinematics gives the last observed pose back
    np.testing.assert_allclose(joints_from_bones(w.u[-1] * w.lengths[:, None]), pose[-1], atol=1e-5)
    np.testing.assert_allclose(w.lengths, bone_lengths(pose[-1]), atol=1e-6)


def _marker_body(lengths: np.ndarray) -> np.ndarray:
    """(T, P, 3) a slowly turning 3D body with the given (T, 14) bone lengths per frame."""
    T = len(lengths)
    base = np.random.default_rng(1).normal(size=(14, 3))
    ang = 0.02 * np.arange(T)[:, None]
    c, s = np.cos(ang), np.sin(ang)
    u = np.stack([c * base[:, 0] + s * base[:, 2], np.broadcast_to(base[:, 1], (T, 14)), -s * base[:, 0] + c * base[:, 2]], -1)
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    return joints_from_bones(u * lengths[..., None])


def _window(pose: np.ndarray):
    T = len(pose)
    return C.window_arrays(pose, np.zeros((T, 3)), np.ones((T, 16)), {"lengths": np.full(14, 0.2), "direction": np.zeros((14, 3))})


def test_a_forecast_carries_drifting_bone_lengths_on_and_holds_rigid_or_jittering_ones():
    T, ahead = 40, 6
    L0 = np.linspace(0.1, 0.3, 14)
    drift = L0 * (1 + 0.004 * np.arange(T + ahead))[:, None]  # skin markers: a smooth drift
    a = _window(_marker_body(drift)[:T])
    got = C.forecast_lengths(a, ahead)
    assert got.shape == (ahead, 14)
    np.testing.assert_allclose(a.lengths, drift[T - 1], rtol=1e-5)
    # the carried lengths are nearer the next frames' than the last frame's are, and they settle
    assert np.abs(got[0] - drift[T]).max() < 0.3 * np.abs(a.lengths - drift[T]).max()
    assert (np.abs(got - drift[T:T + ahead]).mean(1) < np.abs(a.lengths - drift[T:T + ahead]).mean(1)).all()
    far = C.forecast_lengths(a, 200)
    np.testing.assert_allclose(far[-1], far[-50], atol=1e-6)  # held after the carry fades
    assert (far[-1] - a.lengths).max() <= 5.0 * (drift[T - 1] - drift[T - 2]).max() + 1e-6
    # rigid bones stay exactly as they are
    rigid = _window(_marker_body(np.broadcast_to(L0, (T, 14)).copy()))
    np.testing.assert_allclose(C.forecast_lengths(rigid, ahead), np.broadcast_to(rigid.lengths, (ahead, 14)), atol=1e-6)
    # lengths that only jitter are not extrapolated: their last change foretells nothing
    jitter = L0 * (1 + 0.01 * np.random.default_rng(2).standard_normal((T, 14)))
    j = _window(_marker_body(jitter))
    np.testing.assert_allclose(C.forecast_lengths(j, ahead), np.broadcast_to(j.lengths, (ahead, 14)), atol=1e-6)


def test_a_forecast_on_drifting_bones_starts_where_constant_velocity_in_joints_goes():
    """Skin markers move as points: a bone between two of them changes its length and its
    direction together. Constant velocity in directions, laid on lengths carried on, misses
    where such a bone goes next; `forecast_pose` turns the first frame so each bone points where
    constant velocity in joints sends it, fading the turn after it, and leaves rigid bones alone."""
    T = 40
    rng = np.random.default_rng(3)
    start = _marker_body(np.broadcast_to(np.linspace(0.1, 0.3, 14), (1, 14)).copy())[0]
    vel = rng.normal(0, 0.002, start.shape)
    vel[MODEL_JOINTS.index(Joint.R_HIP)] = -vel[MODEL_JOINTS.index(Joint.L_HIP)]  # the root stays the hip midpoint
    pose = start + np.arange(T + 1)[:, None, None] * vel  # every marker moves in a straight line
    a = _window(pose[:T])
    cv_dirs = project(2.0 * a.u[-1] - a.u[-2])[None].repeat(3, 0)  # (3, Bn, 3)
    got = C.forecast_pose(a, cv_dirs, damping=0.8)
    true_dirs = project(bone_vectors(pose[T:])[0])
    assert np.abs(project(bone_vectors(got[:1])[0]) - true_dirs).max() < 1e-5
    plain = joints_from_bones(cv_dirs * C.forecast_lengths(a, 3)[..., None])
    assert np.abs(got[0] - pose[T]).mean() < 0.6 * np.abs(plain[0] - pose[T]).mean()
    # the turn fades by the damping a frame after the first
    first = np.abs(C.forecast_turn(a)).max()
    assert first > 1e-4
    np.testing.assert_allclose(np.abs(project(bone_vectors(got[1:2])[0]) - cv_dirs[1]).max(), 0.8 * first, rtol=0.05)
    # rigid bones: nothing to turn
    rigid = _window(_marker_body(np.broadcast_to(np.linspace(0.1, 0.3, 14), (T, 14)).copy()))
    assert np.abs(C.forecast_turn(rigid)).max() < 1e-6


def test_a_2d_forecast_holds_the_context_lengths():
    clip = C.clips_from_motion(R.motion_from_poses(synthetic_dance(0.4, seconds=2.0), "s"), FPS, 2)[0]
    a = C.clip_window(clip, 0, 30, {"lengths": np.full(14, 0.05), "direction": np.zeros((14, 2))})
    np.testing.assert_allclose(C.forecast_lengths(a, 5), np.broadcast_to(a.lengths, (5, 14)))
