"""The skeleton the model moves: bones from joints and back, mirroring, turning."""

from __future__ import annotations

import numpy as np

from dancenow.choreo import skeleton as S
from dancenow.keypoints import Joint


def _random_body(rng, T=5, D=3):
    """Random body-centred poses whose root is the hip midpoint (as every clip's is)."""
    pose = rng.normal(0, 0.3, (T, S.NUM_POINTS, D))
    rh, lh = S.MODEL_JOINTS.index(Joint.R_HIP), S.MODEL_JOINTS.index(Joint.L_HIP)
    pose[:, rh] = -pose[:, lh]
    return pose


def test_bones_and_joints_are_exact_inverses():
    rng = np.random.default_rng(0)
    for D in (2, 3):
        pose = _random_body(rng, D=D)
        np.testing.assert_allclose(S.joints_from_bones(S.bone_vectors(pose)), pose, atol=1e-12)
    import torch

    v = torch.from_numpy(S.bone_vectors(pose))
    np.testing.assert_allclose(S.joints_from_bones(v).numpy(), pose, atol=1e-12)


def test_directions_keep_lengths_by_construction():
    rng = np.random.default_rng(1)
    u = S.project(rng.normal(size=(100, S.NUM_BONES, 3)))
    lengths = rng.uniform(0.05, 0.3, S.NUM_BONES)
    np.testing.assert_allclose(S.bone_lengths(S.joints_from_bones(u * lengths[:, None])), np.broadcast_to(lengths, (100, S.NUM_BONES)), atol=1e-12)
    flat = S.project(rng.normal(size=(100, S.NUM_BONES, 2)) * 3)
    assert (np.linalg.norm(flat, axis=-1) <= 1 + 1e-12).all()  # 2D: the unit disk


def test_mirroring_in_bone_space_matches_mirroring_the_joints():
    rng = np.random.default_rng(2)
    pose = _random_body(rng, T=4, D=3)
    mirrored = pose[:, list(S.MODEL_FLIP)].copy()
    mirrored[..., 0] *= -1
    u = S.bone_vectors(pose)
    mu, _, _ = S.mirror_bones(u, np.zeros((4, 3)), np.zeros((4, S.NUM_BONES + 1)))
    np.testing.assert_allclose(mu, S.bone_vectors(mirrored), atol=1e-12)


def test_facing_yaw_turns_a_dancer_to_the_camera():
    rng = np.random.default_rng(3)
    pose = _random_body(rng, T=3)
    pose[:, S.MODEL_JOINTS.index(Joint.L_HIP)] = [0.1, 0, 0]
    pose[:, S.MODEL_JOINTS.index(Joint.R_HIP)] = [-0.1, 0, 0]
    pose[:, S.MODEL_JOINTS.index(Joint.L_SHOULDER)] = [0.1, -0.3, 0]
    pose[:, S.MODEL_JOINTS.index(Joint.R_SHOULDER)] = [-0.1, -0.3, 0]
    turned = pose @ S.yaw_rotation(0.7).T
    back = turned @ S.yaw_rotation(S.facing_yaw(turned)).T
    np.testing.assert_allclose(back, pose, atol=1e-6)
