"""The data model, pose files, video I/O and rendering (the pieces every stage shares)."""

from __future__ import annotations

import numpy as np
import pytest

from dancenow.errors import DancenowError
from dancenow.posefile import load_poses, read_openpose, save_poses
from dancenow.keypoints import FLIP_INDEX, NUM_JOINTS, Joint, PoseSequence


def _random_seq(rng, t=5):
    kp = np.zeros((t, NUM_JOINTS, 3), np.float32)
    kp[..., 0] = rng.uniform(0, 639, (t, NUM_JOINTS))
    kp[..., 1] = rng.uniform(0, 479, (t, NUM_JOINTS))
    kp[..., 2] = rng.uniform(0.05, 1, (t, NUM_JOINTS))
    kp[rng.random((t, NUM_JOINTS)) < 0.2] = 0  # some missing
    return PoseSequence(kp, 25.0, 640, 480)


def test_missing_is_zero_and_validated(rng):
    kp = np.ones((2, NUM_JOINTS, 3), np.float32)
    kp[0, 3, 2] = 0
    seq = PoseSequence(kp, 30, 10, 10)
    assert (seq.keypoints[0, 3] == 0).all() and not seq.present[0, 3]
    with pytest.raises(DancenowError):
        PoseSequence(np.ones((2, 25, 3)), 30, 10, 10)
    with pytest.raises(DancenowError):
        PoseSequence(np.full((2, NUM_JOINTS, 3), np.nan), 30, 10, 10)


def test_flip_is_an_involution_and_mirrors(rng):
    seq = _random_seq(rng)
    assert (FLIP_INDEX[FLIP_INDEX] == np.arange(NUM_JOINTS)).all()
    m = seq.mirrored()
    assert np.allclose(m.mirrored().keypoints, seq.keypoints, atol=1e-4)
    # the person's left wrist becomes the right wrist, mirrored in x (pixels)
    t = 0
    if seq.present[t, Joint.L_WRIST]:
        assert m.keypoints[t, Joint.R_WRIST, 0] == pytest.approx(639 - seq.keypoints[t, Joint.L_WRIST, 0], abs=1e-3)


@pytest.mark.parametrize("suffix", [".npz", "_openpose"])
def test_pose_files_round_trip_exactly(tmp_path, rng, suffix):
    seq = _random_seq(rng)
    path = tmp_path / f"poses{suffix}"
    save_poses(seq, path)
    back = load_poses(path, fps=25.0, size=(640, 480))
    assert np.array_equal(back.keypoints, seq.keypoints)
    assert (back.fps, back.size) == (25.0, (640, 480))


def test_npz_rejects_foreign_files(tmp_path):
    bad = tmp_path / "x.npz"
    np.savez(bad, keypoints=np.zeros((1, NUM_JOINTS, 3)))
    with pytest.raises(DancenowError, match="not a dancenow pose file"):
        load_poses(bad)
    (tmp_path / "t.npz").write_text("hello")
    with pytest.raises(DancenowError, match="not a readable"):
        load_poses(tmp_path / "t.npz")
    with pytest.raises(DancenowError, match="not found"):
        load_poses(tmp_path / "missing.npz")


def test_real_openpose_body25_with_hands(shared_data):
    seq = read_openpose(shared_data / "openpose" / "gesture_body25_hands", fps=30, size=(480, 480))
    assert len(seq) == 2000
    body = seq.part("body")
    ok = body[..., 2] > 0
    # on a standing person the neck is above the mid-hip, the nose above the neck (pixels, y down)
    both = ok[:, Joint.NECK] & ok[:, Joint.MID_HIP] & ok[:, Joint.NOSE]
    assert both.mean() > 0.9
    assert (body[both, Joint.NECK, 1] < body[both, Joint.MID_HIP, 1]).mean() > 0.99
    assert (body[both, Joint.NOSE, 1] < body[both, Joint.NECK, 1]).mean() > 0.99
    assert seq.present[:, 95:].any()  # hands read


def test_real_openpose_body25b_is_mapped(shared_data):
    folder = shared_data / "openpose" / "pose2sim_balancing_body25b" / "cam03_json"
    seq = read_openpose(folder, fps=60, size=(1080, 1920))
    body = seq.part("body")
    ok = (body[:, [Joint.NOSE, Joint.NECK, Joint.MID_HIP, Joint.L_ANKLE, Joint.R_ANKLE], 2] > 0).all(1)
    assert ok.mean() > 0.8
    b = body[ok]
    # the participant leans forward while balancing: the head dips to neck height at times
    assert (b[:, Joint.NOSE, 1] < b[:, Joint.MID_HIP, 1]).all()
    assert (b[:, Joint.NECK, 1] < b[:, Joint.MID_HIP, 1]).all()
    assert (b[:, Joint.MID_HIP, 1] < np.minimum(b[:, Joint.L_ANKLE, 1], b[:, Joint.R_ANKLE, 1])).all()
