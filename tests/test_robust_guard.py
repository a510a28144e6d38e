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
    with pytest.raises(DancenowError, match="refusing to replace .*notes.txt: it is a file, and the output is a folder"):
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
    with pytest.raises(DancenowError, match="refusing to replace .*other files"):
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


def test_a_full_disk_is_one_line_naming_the_path(tmp_path, monkeypatch):
    import errno

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    f = tmp_path / "frames.npy"
    f.write_bytes(b"\0" * 10)
    with pytest.raises(DancenowError, match=f"cannot write {f}: No space left on device"):
        guard.reserve(f)
    from dancenow.atomic import atomic_file

    out = tmp_path / "new" / "deeper" / "x.bin"
    with pytest.raises(DancenowError, match=f"cannot write {out}: no space left on the device"):
        with atomic_file(out) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert not (tmp_path / "new").exists()  # the folders it made are gone again


def test_command_errors_are_one_line(tmp_path):
    import errno

    import click
    from click.testing import CliRunner

    from dancenow.commands import command

    @command("t")
    @click.option("--what")
    def t(what):
        if what == "disk":
            raise OSError(errno.ENOSPC, "No space left on device", "out.mp4")
        if what == "perm":
            raise PermissionError(errno.EACCES, "Permission denied", "x/y")
        raise ZeroDivisionError("a bug")

    for what, words in [("disk", "no space left on the device writing out.mp4"), ("perm", "x/y: Permission denied"),
                        ("bug", "internal error (ZeroDivisionError: a bug)")]:
        r = CliRunner().invoke(t, ["--what", what])
        assert r.exit_code == 1 and r.output.count("\n") == 1 and words in r.output, r.output


_NATIVE = textwrap.dedent("""
    import logging, os, sys
    logging.basicConfig(level=logging.DEBUG if "-v" in sys.argv else logging.INFO, format="%(message)s")
    from dancenow.native_logs import python_stderr_off_fd2, silenced
    python_stderr_off_fd2()
    with silenced():
        os.write(2, b"native warning\\n")
        logging.getLogger("dancenow").info("our message")
""")


@pytest.mark.parametrize("verbose", [False, True])
def test_native_logs_are_silenced_ours_are_not(verbose):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-c", _NATIVE] + (["-v"] if verbose else []), capture_output=True, text=True,
                       env=env, timeout=60)
    assert "our message" in r.stderr
    assert ("native warning" in r.stderr) == verbose


def test_pose_detection_prints_no_mediapipe_warnings(tmp_path):
    """MediaPipe's C++ warnings (inference_feedback_manager, absl, TFLite) stay off the console;
    --verbose shows them."""
    from dancenow.video import write_video
    from dancenow.world import generate_dance, perform, render_frames

    perf = perform("ana", generate_dance(1, 0.3), (96, 96))
    write_video(tmp_path / "v.mp4", render_frames("ana", perf), perf.poses.fps)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    base = [sys.executable, "-m", "dancenow"]
    args = ["pose", str(tmp_path / "v.mp4"), "-q", "--no-face", "--no-hands"]
    quiet = subprocess.run(base + args + ["-o", str(tmp_path / "a.npz")], capture_output=True, text=True, env=env, timeout=300)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "feedback" not in quiet.stderr and "W0000" not in quiet.stderr and "XNNPACK" not in quiet.stderr, quiet.stderr
    loud = subprocess.run(base + ["--verbose"] + args + ["-o", str(tmp_path / "b.npz")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert loud.returncode == 0 and ("W0000" in loud.stderr or "XNNPACK" in loud.stderr), loud.stderr[-2000:]
