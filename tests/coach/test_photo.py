"""Photo mode: the joint that differs is named, with the way to move it; shoulders turned,
head tilted and chin; mirror; the report; a real photo against its mirror image."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from dancenow.coach.photo import PhotoConfig, compare_pose, write_photo_report
from dancenow.errors import DancenowError
from dancenow.keypoints import Joint as J
from dancenow.posefile import save_poses
from tests.coach.figures import body, film


def _pose(yaw=0.0, arm=90.0, elbow=5.0, arm_left=None, **kw):
    return film(body(1, arm=arm, elbow=elbow, arm_left=arm_left, **kw), yaw=yaw, noise_px=0.0)


def test_the_joint_that_differs_is_named_with_how_to_move_it():
    ref = _pose(arm=90, elbow=5)
    me = _pose(arm=90, elbow=[45.0])  # both elbows bent 40 degrees
    r = compare_pose(me, ref)
    assert {d.joint for d in r.differences} == {"left_elbow", "right_elbow"}
    d = r.differences[0]
    assert d.vertex in (J.L_ELBOW, J.R_ELBOW) and abs(abs(d.delta) - 40) < 2  # degrees
    assert d.instruction.startswith(f"straighten your {d.joint.split('_')[0]} elbow about 40 degrees")
    # only the left arm lower: "raise your left arm"
    r = compare_pose(_pose(arm=90, arm_left=50.0), ref)
    assert [d.joint for d in r.differences] == ["left_shoulder"]
    assert r.differences[0].instruction == "raise your left arm about 40 degrees higher"
    assert compare_pose(ref, ref).differences == () and compare_pose(ref, ref).score == 100.0


def test_shoulders_turned_head_tilt_and_chin():
    ref = _pose()
    turned = compare_pose(_pose(yaw=65.0), ref)
    assert "turn your shoulders toward the camera" in [d.instruction for d in turned.differences]
    kp = ref.keypoints.copy()
    kp[0, J.NOSE, 1] -= 25  # the nose 25 px higher: chin up
    r = compare_pose(ref.replace(keypoints=kp), ref)
    assert [d.instruction for d in r.differences] == ["lower your chin"]
    kp = ref.keypoints.copy()
    kp[0, J.L_EYE, 1] += 6  # the left eye lower: head tilted toward the left shoulder
    r = compare_pose(ref, ref.replace(keypoints=kp))
    assert [d.joint for d in r.differences] == ["head_tilt"] and "toward your left shoulder" in r.differences[0].instruction


def test_mirror_mode_for_a_selfie():
    ref = _pose(arm=90, arm_left=40.0)
    me = ref.mirrored()  # the learner copies it like a mirror: their right arm is the low one
    assert [d.joint for d in compare_pose(me, ref).differences]  # compared as is: arms swapped
    assert compare_pose(me, ref, PhotoConfig(mirror=True)).differences == ()


def test_report_and_command(tmp_path):
    from dancenow.cli import main

    ref, me = _pose(), _pose(elbow=[50.0])
    r = compare_pose(me, ref)
    photo = np.full((480, 640, 3), 90, np.uint8)
    path = write_photo_report(r, tmp_path / "out", photo, photo)
    page = path.read_text()
    assert "http" not in page and page.count("data:image/png;base64,") == 2
    assert "Straighten your" in page and (tmp_path / "out" / "pose.png").is_file()
    assert json.loads((tmp_path / "out" / "report.json").read_text())["differences"][0]["joint"].endswith("elbow")
    save_poses(ref, tmp_path / "ref.npz")
    save_poses(me, tmp_path / "me.npz")
    res = CliRunner().invoke(main, ["coach", "photo", str(tmp_path / "me.npz"), "--reference", str(tmp_path / "ref.npz"),
                                    "-o", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    assert "straighten your" in res.output and "elbow" in res.output
    res = CliRunner().invoke(main, ["coach", "photo", str(tmp_path / "me.npz"), "--reference", str(tmp_path / "ref.npz"),
                                    "--reference-frame", "3", "-o", str(tmp_path / "bad")])
    assert res.exit_code == 1 and "frame 3 is outside" in res.output


def test_no_body_is_a_clear_error():
    empty = _pose().replace(keypoints=np.zeros_like(_pose().keypoints))
    with pytest.raises(DancenowError, match="no body found in the photo"):
        compare_pose(empty, _pose())


def test_real_photo_against_its_mirror_image(shared_data, tmp_path):
    """A real photo (a footballer mid-kick) against its own mirror image: compared as a mirror
    the poses nearly agree (the detector is not exactly mirror-symmetric), compared as is the
    arms and legs are swapped and many joints differ."""
    from dancenow.coach.run import photo_to_report
    from dancenow.images import read_image, write_image

    src = shared_data / "real" / "messi5.jpg"
    flipped = write_image(tmp_path / "flipped.png", read_image(src)[:, ::-1])
    plain, _, _ = photo_to_report(src, tmp_path / "a", flipped)
    mirrored, _, _ = photo_to_report(src, tmp_path / "b", flipped, mirror=True)
    assert len(plain.differences) >= 5 and len(mirrored.differences) <= 2, (
        [d.joint for d in plain.differences], [d.joint for d in mirrored.differences])
    assert mirrored.score > plain.score + 40
