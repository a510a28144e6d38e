"""Readers: BVH forward kinematics, the real skeletons mapped onto BODY_25, the MDRNN markers,
pose files and videos as Motions."""

from __future__ import annotations

import numpy as np
import pytest

from dancenow.choreo import clips as C
from dancenow.choreo import readers as R
from dancenow.choreo.bvh import read_bvh
from dancenow.errors import DancenowError
from dancenow.keypoints import Joint

FPS = 30.0


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
        assert R.detect_skeleton(b.names) == key
        m = R.motion_from_bvh(dance / rel, "x", b)
        # rigid skeleton: forward kinematics keeps 3D bone lengths (upper arm) constant, +-1%
        upper = np.linalg.norm(m.joints[:, Joint.R_SHOULDER] - m.joints[:, Joint.R_ELBOW], axis=-1)
        assert upper.std() / upper.mean() < 0.01, key
        for front in ("world", "dancer"):
            first = R.motion_from_bvh(dance / rel, "x", b, front=front).joints[: int(m.fps)]
            across = first[:, Joint.L_SHOULDER, 0] - first[:, Joint.R_SHOULDER, 0]
            if front == "world" and key == "cmu43":  # the salsa couple face each other: profile
                assert np.abs(across).mean() < 0.3 * np.abs(first[:, Joint.L_SHOULDER, 2] - first[:, Joint.R_SHOULDER, 2]).mean()
            else:  # facing the camera: the dancer's right shoulder is on the image left
                assert np.mean(across > 0) > 0.9, (key, front)
            assert np.all(first[:, Joint.NOSE, 1] < first[:, Joint.MID_HIP, 1]), key  # head up (y down)
        clip = C.clips_from_motion(m.project_2d(), FPS, 2)[0]
        assert clip.observed.all() and abs(clip.fps - FPS) < 1e-9
        # scale-normalised: the 90th-percentile nose-to-ankle distance is 1 body height (measured
        # before resampling to 30 fps, hence a tolerance of 0.01 body heights)
        assert C.stature(clip.body25()) == pytest.approx(1.0, abs=0.01)
    improv = C.load_clips(dance / "mdrnn_improv_examples.npz", "improv")
    assert len(improv) == 14 and all(len(c) == 256 for c in improv)
