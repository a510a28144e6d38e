"""`dancenow pose`: bad inputs fail in one line and leave nothing behind; stills are one-frame
clips; videos give .npz or OpenPose JSON with the options honoured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dancenow.cli import main
from dancenow.posefile import load_poses
from dancenow.keypoints import FACE, LEFT_HAND, RIGHT_HAND
from dancenow.video import read_frames, write_video


def _run(*args: str):
    return CliRunner().invoke(main, ["pose", *map(str, args)])


def _write_avi(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    """An MPEG-4 Part 2 .avi (the container that decodes happily when cut short)."""
    import av

    with av.open(str(path), "w", format="avi") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, Path, str]]:
    """name: (input, output, expected words)."""
    text = tmp / "notes.mp4"
    text.write_text("not a video\n" * 50)
    empty = tmp / "empty.mp4"
    empty.write_bytes(b"")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (64, 96, 3), dtype=np.uint8) for _ in range(30)]
    avi = _write_avi(tmp / "full.avi", frames)
    cut = tmp / "cut.avi"
    cut.write_bytes(avi.read_bytes()[: avi.stat().st_size // 2])
    blocker = tmp / "blocker"
    blocker.write_text("a file where a folder should be")
    out = tmp / "out" / "poses.npz"
    return {
        "missing": (tmp / "missing.mp4", out, "not found"),
        "text": (text, out, "not a readable video"),
        "empty": (empty, out, "empty"),
        "truncated": (cut, out, "truncated"),
        "unwritable": (avi, blocker / "poses.npz", "cannot write"),
    }


@pytest.mark.parametrize("case", ["missing", "text", "empty", "truncated", "unwritable"])
def test_bad_input_one_line_error_and_no_output(tmp_path, case):
    src, out, words = _bad_inputs(tmp_path)[case]
    before = {p for p in tmp_path.rglob("*")}
    res = _run(src, "-o", out, "-q")
    assert res.exit_code == 1
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and words in errors[0] and "Traceback" not in res.output
    assert not out.exists()
    assert {p for p in tmp_path.rglob("*")} == before  # no temporary files either


def test_refuses_to_replace_a_foreign_folder(tmp_path, shared_data):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.txt").write_text("precious")
    res = _run(shared_data / "real" / "basketball1.png", "-o", folder)
    assert res.exit_code == 1 and "refusing" in res.output
    assert (folder / "thesis.txt").read_text() == "precious"


@pytest.mark.parametrize("name", ["basketball1.png", "messi5.jpg"])
def test_still_image_is_a_one_frame_clip(tmp_path, shared_data, name):
    out = tmp_path / "poses.npz"
    res = _run(shared_data / "real" / name, "-o", out, "-q")
    assert res.exit_code == 0, res.output
    seq = load_poses(out)
    assert len(seq) == 1 and seq.present[0, :25].sum() >= 15
    assert "1 frames" in res.output


@pytest.fixture(scope="module")
def short_clip(shared_data, tmp_path_factory) -> Path:
    """The first 8 frames of the dance clip at half size (640x360), 50 fps."""
    import cv2

    frames = []
    for f in read_frames(shared_data / "real" / "openpose_dance_street.avi"):
        frames.append(cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA))
        if len(frames) == 8:
            break
    return write_video(tmp_path_factory.mktemp("clip") / "dance8.mp4", frames, fps=50)


def test_video_to_openpose_folder_without_face_and_hands(tmp_path, short_clip):
    out = tmp_path / "openpose"
    res = _run(short_clip, "-o", out, "--no-face", "--no-hands", "--person", "320,110")
    assert res.exit_code == 0, res.output
    assert "frame/s" in res.output  # the progress bar shows the rate
    files = sorted(out.glob("*.json"))
    assert len(files) == 8
    doc = json.loads(files[4].read_text())
    assert len(doc["people"]) == 1 and len(doc["people"][0]["pose_keypoints_2d"]) == 75
    seq = load_poses(out, fps=50, size=(640, 360))
    assert seq.present[:, :25].any(1).sum() >= 7
    assert not seq.present[:, FACE].any() and not seq.present[:, LEFT_HAND].any() and not seq.present[:, RIGHT_HAND].any()
    # the couple stands at x = 280..355, y = 15..200 in these frames (half-size pixels)
    hips = seq.keypoints[:, 8]
    ok = hips[:, 2] > 0
    assert ((hips[ok, 0] > 260) & (hips[ok, 0] < 380)).all()


def test_fps_resampling_and_raw_output(tmp_path, short_clip):
    out = tmp_path / "poses.npz"
    res = _run(short_clip, "-o", out, "--fps", "25", "--no-smooth", "-q")
    assert res.exit_code == 0, res.output
    seq = load_poses(out)
    assert (len(seq), seq.fps, seq.size) == (4, 25.0, (640, 360))


def test_bad_options(tmp_path, short_clip):
    for args, words in ((["--person", "12"], "X,Y"), (["--fps", "0"], "--fps")):
        res = _run(short_clip, "-o", tmp_path / "p.npz", *args)
        assert res.exit_code == 2 and words in res.output
    assert not (tmp_path / "p.npz").exists()


def test_help_has_an_example():
    res = CliRunner().invoke(main, ["pose", "--help"])
    assert res.exit_code == 0 and "Example: dancenow pose" in res.output
