"""dancenow.guard: the checks every command makes before it writes anything."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dancenow import guard
from dancenow.errors import DancenowError
from dancenow.keypoints import NUM_JOINTS, PoseSequence
from dancenow.posefile import save_poses


def _poses(n=3):
    kp = np.zeros((n, NUM_JOINTS, 3), np.float32)
    kp[:, :25] = [10, 20, 1]
    return PoseSequence(kp, 30.0, 64, 64)


@pytest.mark.parametrize("value,kw,msg", [
    (float("nan"), {}, "finite"), (float("inf"), {"lo": 0}, "finite"), (-1, {"lo": 0}, "at least 0"),
    (0, {"lo": 0, "lo_open": True}, "above 0"), (1e9, {"hi": 1000}, "at most 1000"), (2.5, {"integer": True}, "whole"),
    ("x", {}, "a number"), (5, {"lo": 0, "hi": 1, "hi_open": True}, "[0, 1)"),
])
def test_check_number_refuses_with_the_bound(value, kw, msg):
    with pytest.raises(DancenowError, match="--opt") as e:
        guard.check_number(value, "--opt", **kw)
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_check_number_and_size_accept_sane_values():
    assert guard.check_number(30, "--fps", lo=0, lo_open=True, hi=guard.MAX_FPS) == 30
    assert guard.check_size((640, 360)) == (640, 360)
    with pytest.raises(DancenowError, match="at most 8192"):
        guard.check_size((30000, 30000))
    with pytest.raises(DancenowError, match="limit"):
        guard.check_frames(1e7 * 30, "the dance")


def test_output_equal_to_inside_or_holding_an_input_is_refused(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0\0\0\x18ftypmp42")
    folder = tmp_path / "op"
    save_poses(_poses(), folder)
    for out, kind, words in [(video, guard.VIDEO, "is the input"), (folder / "x_keypoints.json", guard.JSON, "inside the input"),
                             (tmp_path, guard.OPENPOSE, "inside the output")]:
        with pytest.raises(DancenowError, match=words):
            guard.check_output(out, kind, inputs=[video, folder], force=True)
    link = tmp_path / "link.mp4"
    os.symlink(video, link)
    with pytest.raises(DancenowError, match="is the input"):
        guard.check_output(link, guard.VIDEO, inputs=[video], force=True)


def test_existing_outputs(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    with pytest.raises(DancenowError, match="is a file, but the output is a folder"):
        guard.check_output(notes, guard.OPENPOSE, force=True)
    with pytest.raises(DancenowError, match="under|not a folder"):
        guard.check_output(notes / "p.npz", guard.NPZ)
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(DancenowError, match="is a folder"):
        guard.check_output(tmp_path / "dir.mp4", guard.VIDEO, force=True)
    fake = tmp_path / "fake.npz"
    fake.write_text("not a zip")
    with pytest.raises(DancenowError, match="not a dancenow pose file"):
        guard.check_output(fake, guard.NPZ, force=True)
    ours = save_poses(_poses(), tmp_path / "p.npz")
    with pytest.raises(DancenowError, match="--force"):
        guard.check_output(ours, guard.NPZ)
    assert guard.check_output(ours, guard.NPZ, force=True) == ours
    empty = tmp_path / "empty.mp4"
    empty.touch()
    guard.check_output(empty, guard.VIDEO)  # nothing to lose
    with pytest.raises(DancenowError, match="must end in"):
        guard.check_output(tmp_path / "out.avi", guard.MP4)
    with pytest.raises(DancenowError, match="collide"):
        guard.check_outputs([(tmp_path / "a.mp4", guard.VIDEO), (tmp_path / "a.mp4", guard.NPZ)])
    op = save_poses(_poses(), tmp_path / "op")
    guard.check_output(op, guard.OPENPOSE, force=True)
    (op / "notes.txt").write_text("x")
    with pytest.raises(DancenowError, match="other files"):
        guard.check_output(op, guard.OPENPOSE, force=True)


def test_free_space_check(tmp_path):
    guard.check_free_space(tmp_path / "new" / "x.npy", 1000, "frames")
    with pytest.raises(DancenowError, match="not enough free disk for frames"):
        guard.check_free_space(tmp_path / "x.npy", 30000 * 30000 * 3 * 1200, "frames")


_HOLD = textwrap.dedent("""
    import sys, time
    from dancenow.guard import run_lock
    with run_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(30)
""")


def test_run_lock_refuses_a_second_writer_and_takes_over_a_dead_ones(tmp_path):
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(run)], stdout=subprocess.PIPE, env=env)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        with pytest.raises(DancenowError, match=f"in use by process {holder.pid}"):
            with guard.run_lock(run):
                pass
    finally:
        holder.kill()  # dies holding the lock: its lock file stays behind
        holder.wait()
    assert (run / guard.LOCK_NAME).exists()
    with guard.run_lock(run):
        assert (run / guard.LOCK_NAME).exists()
    assert not (run / guard.LOCK_NAME).exists()
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        with guard.run_lock(fresh):
            raise RuntimeError("failed before writing")
    assert not fresh.exists()  # a failed first run leaves nothing behind
