"""Clips: gaps, normalisation, model arrays, windows that start exactly where the motion is,
and the way back to a PoseSequence."""

from __future__ import annotations

import numpy as np

from dancenow.choreo import clips as C
from dancenow.choreo import readers as R
from dancenow.choreo.skeleton import MODEL_JOINTS, bone_lengths, joints_from_bones
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
