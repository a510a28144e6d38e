"""Video I/O: H.264 round trips, resampling, streaming, stills, and clear errors for bad files."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from dancenow.errors import DancenowError
from dancenow.images import write_image
from dancenow.video import VideoWriter, probe, read_all, read_frames, write_video


def _frames(n: int, w: int = 96, h: int = 64) -> list[np.ndarray]:
    """Frames whose brightness encodes their index (8 grey levels apart), plus a red square."""
    out = []
    for i in range(n):
        f = np.full((h, w, 3), 10 + 8 * i, np.uint8)
        f[8:24, 8:24] = (220, 30, 30)
        out.append(f)
    return out


def _index(frame: np.ndarray) -> int:
    """The index a `_frames` frame encodes (read from a flat corner, robust to coding noise)."""
    return int(round((float(frame[40:60, 60:90].mean()) - 10) / 8))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, _frames(25), fps=25)
    return path


def test_round_trip_keeps_count_fps_size_and_pixels(clip):
    info = probe(clip)
    assert (info.fps, info.size, info.frame_count) == (25.0, (96, 64), 25)
    back = read_all(clip)
    assert back.shape == (25, 64, 96, 3) and back.dtype == np.uint8
    assert [_index(f) for f in back] == list(range(25))  # order kept
    err = np.abs(back.astype(int) - np.stack(_frames(25)).astype(int)).mean()
    assert err < 3.0  # mean absolute error, grey levels (H.264 at crf 20)
    assert np.abs(back[0, 16, 16].astype(int) - (220, 30, 30)).max() < 25  # the red square stays red


def test_odd_sizes_are_padded_by_one_pixel(tmp_path):
    path = write_video(tmp_path / "odd.mp4", _frames(3, w=95, h=63), fps=10)
    assert probe(path).size == (96, 64)  # yuv420p needs even sizes (documented in VideoWriter)


def test_fractional_fps_round_trip(tmp_path):
    path = write_video(tmp_path / "ntsc.mp4", _frames(10), fps=30000 / 1001)
    assert probe(path).fps == pytest.approx(29.97, abs=0.01)
    assert len(read_all(path)) == 10


@pytest.mark.parametrize("fps, expect", [(50.0, 50), (12.5, 13), (25.0, 25)])
def test_resampling(clip, fps, expect):
    frames = list(read_frames(clip, fps=fps))
    assert abs(len(frames) - expect) <= 1  # one second of video at the new rate
    idx = [_index(f) for f in frames]
    assert idx == sorted(idx) and idx[0] == 0  # nearest frames, in order
    if fps > 25:
        assert len(set(idx)) == 25  # upsampling repeats frames, drops none


def test_streaming_stops_the_decoder_early(shared_data):
    before = threading.active_count()
    gen = read_frames(shared_data / "real" / "openpose_dance_street.avi", prefetch=4)
    first = [next(gen) for _ in range(3)]
    gen.close()  # the consumer stops after 3 of 205 frames
    assert first[0].shape == (720, 1280, 3)
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before  # the decoding thread ended


def test_still_image_is_a_one_frame_clip(tmp_path):
    img = _frames(1, w=40, h=30)[0]
    for suffix in (".png", ".jpg"):
        path = write_image(tmp_path / f"still{suffix}", img)
        info = probe(path)
        assert (info.frame_count, info.size) == (1, (40, 30))
        frames = list(read_frames(path))
        assert len(frames) == 1 and frames[0].shape == (30, 40, 3)


def test_bad_files_name_themselves(tmp_path, shared_data):
    missing = tmp_path / "missing.mp4"
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    data = (shared_data / "real" / "openpose_dance_street.avi").read_bytes()
    cut_avi = tmp_path / "cut.avi"
    cut_avi.write_bytes(data[: len(data) // 3])  # decodes without an FFmpeg error, but short
    good = tmp_path / "good.mp4"
    write_video(good, _frames(25), fps=25)
    cut_mp4 = tmp_path / "cut.mp4"
    cut_mp4.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # index (moov) lost
    cases = [(missing, "not found"), (empty, "empty"), (text, "not a readable video"),
             (cut_avi, "truncated"), (cut_mp4, "not a readable video"), (tmp_path, "directory")]
    for path, what in cases:
        with pytest.raises(DancenowError, match=what) as err:
            for _ in read_frames(path):
                pass
        assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_writer_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, fps=10) as w:
            w.write(_frames(1)[0])
            raise RuntimeError("stop mid-way")
    with pytest.raises(DancenowError, match="no frames"):
        with VideoWriter(out, fps=10):
            pass
    with pytest.raises(DancenowError, match="size changed"):
        with VideoWriter(out, fps=10) as w:
            w.write(_frames(1)[0])
            w.write(_frames(1, w=64)[0])
    with pytest.raises(DancenowError, match=".mp4"):
        VideoWriter(tmp_path / "out.avi", fps=10)
    assert list(tmp_path.iterdir()) == []  # no output and no temporary files
