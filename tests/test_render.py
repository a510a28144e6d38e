"""Rendering: OpenPose colours where the limbs are, nothing where a limb has a missing end,
scaling to any output size, overlays, captions, and `dancenow render`."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from dancenow import render as R
from dancenow.cli import main
from dancenow.posefile import save_poses
from dancenow.keypoints import FACE, LEFT_HAND, NUM_JOINTS, Joint, PoseSequence
from dancenow.video import probe, read_all, write_video

SRC = (200, 260)  # (w, h) of the frame the keypoints refer to


def _pose() -> np.ndarray:
    """One frame: a standing figure, a jaw line, a left hand; the right wrist is missing."""
    kp = np.zeros((NUM_JOINTS, 3), np.float32)
    body = {Joint.NOSE: (100, 40), Joint.NECK: (100, 80), Joint.R_SHOULDER: (60, 80),
            Joint.R_ELBOW: (40, 130), Joint.L_SHOULDER: (140, 80), Joint.L_ELBOW: (160, 130),
            Joint.L_WRIST: (170, 180), Joint.MID_HIP: (100, 160), Joint.R_HIP: (80, 160),
            Joint.R_KNEE: (80, 210), Joint.L_HIP: (120, 160), Joint.L_KNEE: (120, 210)}
    for j, (x, y) in body.items():
        kp[j] = (x, y, 0.9)
    kp[FACE.start:FACE.start + 17] = [(10 + 5 * i, 240, 1.0) for i in range(17)]  # a jaw line at y=240
    kp[LEFT_HAND.start + 0] = (150, 20, 1)  # wrist
    kp[LEFT_HAND.start + 1] = (190, 20, 1)  # thumb base: bone 0 runs along y=20, x 150..190
    kp[LEFT_HAND.start + 5] = (150, 60, 1)  # index base: its bone runs along x=150, y 20..60
    return kp


def _mid(kp, a, b, scale=(1.0, 1.0)):
    return int(round((kp[a, 1] + kp[b, 1]) / 2 * scale[1])), int(round((kp[a, 0] + kp[b, 0]) / 2 * scale[0]))


def _limb_color(a: int, b: int) -> tuple[int, ...]:
    return tuple(int(v) for v in R.LIMB_COLORS[R.BODY_LIMBS.index((a, b))])


def test_limbs_in_openpose_colours():
    kp = _pose()
    img = R.render_label(kp, SRC)
    assert img.shape == (SRC[1], SRC[0], 3) and img.dtype == np.uint8
    for a, b in [(1, 2), (2, 3), (5, 6), (6, 7), (1, 8), (9, 10), (12, 13), (1, 0)]:
        y, x = _mid(kp, a, b)
        assert tuple(img[y, x]) == _limb_color(a, b), (a, b)
    # left and right differ: a stick figure tells its sides apart
    assert _limb_color(2, 3) != _limb_color(5, 6)
    assert tuple(img[0, 0]) == (0, 0, 0)  # black background


def test_missing_end_is_not_drawn():
    kp = _pose()
    assert kp[Joint.R_WRIST, 2] == 0
    assert R.render_label(kp, SRC)[140:200, 0:35].sum() == 0  # no forearm below the elbow (40, 130)
    kp[Joint.R_WRIST] = (20, 180, 0.9)
    assert R.render_label(kp, SRC)[140:200, 0:35].sum() > 0  # drawn once the wrist is there


def _shade_of(pixel, colour) -> bool:
    """Thin anti-aliased lines are drawn at 80-100% of their colour: is `pixel` such a shade?"""
    pixel, colour = np.asarray(pixel, float), np.asarray(colour, float)
    gain = pixel.max() / colour.max()
    return 0.8 <= gain <= 1.0 and np.abs(pixel - gain * colour).max() <= 12


def test_face_and_hand_colours():
    img = R.render_label(_pose(), SRC)  # face and hand lines are 1 px at this size
    assert _shade_of(img[240, 52], R.FACE_COLOR)  # on the jaw line (white)
    assert _shade_of(img[20, 170], R.FINGER_COLORS[0])  # thumb: red
    assert _shade_of(img[40, 150], R.FINGER_COLORS[1])  # index finger: yellow
    assert img[100:120, 175:200].sum() == 0  # no bone to the absent fingertips


@pytest.mark.parametrize("out_size", [(400, 520), (100, 130), (300, 260)])
def test_any_output_size(out_size):
    kp = _pose()
    img = R.render_label(kp, SRC, out_size)
    assert img.shape == (out_size[1], out_size[0], 3)
    scale = (out_size[0] / SRC[0], out_size[1] / SRC[1])
    y, x = _mid(kp, Joint.NECK, Joint.MID_HIP, scale)  # a vertical limb: robust to rounding
    assert tuple(img[y, x]) == _limb_color(1, 8)


def test_overlay_and_caption():
    frame = np.full((SRC[1], SRC[0], 3), 77, np.uint8)
    out = R.overlay(frame, _pose())
    assert (frame == 77).all()  # the input is not modified
    y, x = _mid(_pose(), 1, 8)
    assert tuple(out[y, x]) == _limb_color(1, 8)
    assert (out[250:, 150:] == 77).all()  # away from the skeleton the frame shows through
    cap = R.caption(frame, "hello")
    changed = np.argwhere((cap != 77).any(-1))
    assert len(changed) and changed[:, 0].max() < 60 and changed[:, 1].min() < 20


@pytest.fixture
def poses_npz(tmp_path):
    kp = np.stack([_pose()] * 6)
    kp[:, :, 0] += np.arange(6)[:, None] * 2 * (kp[:, :, 2] > 0)  # drift right, 2 px per frame
    path = tmp_path / "poses.npz"
    save_poses(PoseSequence(kp, 12.0, *SRC), path)
    return path


def test_render_command(tmp_path, poses_npz):
    out = tmp_path / "skeleton.mp4"
    res = CliRunner().invoke(main, ["render", str(poses_npz), "-o", str(out)])
    assert res.exit_code == 0, res.output
    info = probe(out)
    assert (info.frame_count, info.size, info.fps) == (6, SRC, 12.0)
    first = read_all(out)[0].astype(int)
    y, x = _mid(_pose(), 1, 8)
    assert np.abs(first[y, x] - _limb_color(1, 8)).max() < 40  # colours survive H.264 (grey levels)
    # over a video, at another size
    video = write_video(tmp_path / "bg.mp4", [np.full((130, 100, 3), 90, np.uint8)] * 6, fps=12)
    res = CliRunner().invoke(main, ["render", str(poses_npz), "-o", str(tmp_path / "over.mp4"), "--overlay", str(video)])
    assert res.exit_code == 0, res.output
    over = read_all(tmp_path / "over.mp4")
    assert over.shape == (6, 130, 100, 3) and abs(int(over[0, 125, 5].mean()) - 90) < 6
    res = CliRunner().invoke(main, ["render", str(poses_npz), "-o", str(tmp_path / "first.png")])
    assert res.exit_code == 0 and (tmp_path / "first.png").is_file()
    res = CliRunner().invoke(main, ["render", str(tmp_path / "nope.npz"), "-o", str(tmp_path / "x.mp4")])
    assert res.exit_code != 0 and "not found" in res.output and not (tmp_path / "x.mp4").exists()
