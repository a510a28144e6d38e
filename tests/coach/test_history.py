"""The history database: sessions read back as written, a joint's progress (best, trend),
CSV export and plot; a writer killed mid-write leaves no half session; two writers at once."""

from __future__ import annotations

import csv
import multiprocessing as mp
import os
import signal
import sqlite3
import time

import pytest

from dancenow.coach.exercise import analyze_exercise
from dancenow.coach.exercises import get_exercise
from dancenow.coach.history import History, RepRecord, Session, default_history_path, plot_history, session_from_exercise
from dancenow.errors import DancenowError
from tests.coach.figures import squats


def _session(n_reps: int, exercise: str = "arm-raise", rom: float = 90.0, when: str = "", tag: int = 0) -> Session:
    reps = tuple(RepRecord(k + 1, "full", 90.0, 1.0, 1.0, 0.2, 1.0, "front", (),
                           {f"m{j}": (0.0, rom + j) for j in range(12)} | {"left_shoulder": (10.0, rom + k % 3)})
                 for k in range(n_reps))
    return Session("exercise", exercise, f"clip{tag}.mp4", n_reps, 0, 90.0, 30.0, "front", {"tag": tag}, reps, when)


def test_sessions_round_trip_and_joint_progress(tmp_path):
    db = tmp_path / "sub" / "h.sqlite"
    with History(db) as h:
        for day, rom in ((1, 80.0), (4, 95.0), (8, 110.0), (15, 104.0)):
            h.record(_session(3, rom=rom, when=f"2025-03-{day:02d}T10:00:00+00:00"))
        h.record(_session(2, exercise="squat", when="2025-03-02T10:00:00+00:00"))
    with History(db) as h:  # reopened
        s = h.sessions(exercise="arm-raise", with_reps=True)
        assert [x.full_reps for x in s] == [3, 3, 3, 3] and len(s[0].reps) == 3
        assert s[0].reps[2].rom["left_shoulder"] == (10.0, 82.0) and s[0].details == {"tag": 0}
        assert [x.exercise for x in h.sessions()] == ["arm-raise", "squat", "arm-raise", "arm-raise", "arm-raise"]
        jp = h.joint_progress("left_shoulder", "arm-raise")
        assert [r[2] for r in jp.rows] == [82.0, 97.0, 112.0, 106.0]  # the most reached per session
        assert jp.best == 112.0 and jp.best_at.startswith("2025-03-08")
        assert 10.0 < jp.trend_per_week < 14.0  # degrees per week, least squares over the 14 days
        with pytest.raises(DancenowError, match="no recorded range of motion for 'nope'"):
            h.joint_progress("nope")
        out = h.export_csv(tmp_path / "all.csv")
        rows = list(csv.DictReader(out.open()))
        assert len(rows) == 4 * 3 + 2 and rows[0]["left_shoulder_max"] == "80.0"
        png = plot_history(h.sessions(exercise="arm-raise"), tmp_path / "p.png", jp)
        assert png.read_bytes()[:4] == b"\x89PNG"


def test_default_path_is_in_the_user_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("DANCENOW_DATA_DIR", str(tmp_path / "data"))
    assert default_history_path() == tmp_path / "data" / "coach_history.sqlite"
    monkeypatch.delenv("DANCENOW_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and not os.uname().sysname == "Darwin":
        assert default_history_path() == tmp_path / "xdg" / "dancenow" / "coach_history.sqlite"


def test_a_real_session_keeps_every_joint(tmp_path):
    r = analyze_exercise(squats([1.0, 1.0]), get_exercise("squat"))
    s = session_from_exercise(r, source="x.mp4")
    assert s.full_reps == 2 and {"left_knee", "right_shoulder", "knee_flexion", "trunk_lean"} <= set(s.reps[0].rom)
    with History(tmp_path / "h.sqlite") as h:
        sid = h.record(s)
        back = h.sessions(with_reps=True)[0]
    assert back.id == sid and back.reps[1].rom["left_knee"] == pytest.approx(s.reps[1].rom["left_knee"])


# ----------------------------------------------------------------------------- crash and concurrency

def _writer(path: str, n_sessions: int, n_reps: int, tag: int) -> None:
    with History(path, timeout=60) as h:
        for k in range(n_sessions):
            h.record(_session(n_reps, tag=tag * 1000 + k))


def _check_whole(path) -> list[Session]:
    """Every session has exactly the repetitions it declares, and SQLite finds no damage."""
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    with History(path) as h:
        sessions = h.sessions(with_reps=True)
    for s in sessions:
        assert len(s.reps) == s.full_reps, f"session {s.id} has {len(s.reps)} of its {s.full_reps} repetitions"
        assert all(len(r.rom) == 13 for r in s.reps)
    return sessions


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_writer_killed_mid_write_leaves_no_half_session(tmp_path):
    path = str(tmp_path / "h.sqlite")
    with History(path) as h:
        h.record(_session(5, tag=-1))
    ctx = mp.get_context("spawn")
    for attempt in range(2):
        before = len(_check_whole(path))
        # big sessions (400 repetitions x 13 measures each), so the writer spends most of its
        # time inside a transaction when it is killed
        p = ctx.Process(target=_writer, args=(path, 1000, 400, attempt))
        p.start()
        deadline = time.monotonic() + 60
        while len(History(path).sessions()) < before + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1 + 0.15 * attempt)  # then a little later: somewhere inside a later session
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        assert p.exitcode == -signal.SIGKILL
        after = _check_whole(path)
        assert len(after) > before  # it did write, and what it wrote is whole
    with History(path) as h:  # and the database takes new sessions afterwards
        h.record(_session(2, tag=99))
    assert _check_whole(path)[-1].details == {"tag": 99}


def test_two_writers_at_once(tmp_path):
    path = str(tmp_path / "h.sqlite")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, 15, 40, t)) for t in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    sessions = _check_whole(path)
    assert len(sessions) == 30
    assert sorted(s.details["tag"] for s in sessions) == sorted([1000 + k for k in range(15)] + [2000 + k for k in range(15)])


def test_rehab_sessions_from_the_command_line(tmp_path, monkeypatch):
    """Arm raises recorded with plain --history (the default database under the user's data
    folder), then `coach history --joint` shows each session's shoulder range, the best and a
    trend, plots it and exports CSV."""
    from click.testing import CliRunner

    from dancenow.cli import main
    from dancenow.posefile import save_poses
    from tests.coach.test_exercise import _arm_raises

    monkeypatch.setenv("DANCENOW_DATA_DIR", str(tmp_path / "data"))
    run = CliRunner().invoke
    for k, top in enumerate((0.9, 1.1, 1.3)):  # the patient raises the arm higher each session
        save_poses(_arm_raises([top] * 3, seed=k), tmp_path / f"s{k}.npz")
        res = run(main, ["coach", "exercise", str(tmp_path / f"s{k}.npz"), "--exercise", "arm-raise",
                         "-o", str(tmp_path / f"r{k}"), "--history"])
        assert res.exit_code == 0, res.output
        assert f"(history session {k + 1})" in res.output
    assert (tmp_path / "data" / "coach_history.sqlite").is_file()
    res = run(main, ["coach", "history", "--exercise", "arm-raise", "--joint", "left_shoulder",
                     "--plot", str(tmp_path / "p.png"), "--csv", str(tmp_path / "h.csv")])
    assert res.exit_code == 0, res.output
    maxima = [float(line.split("max")[1].split()[0]) for line in res.output.splitlines() if line.strip().startswith("session")]
    assert len(maxima) == 3 and maxima[0] < maxima[1] < maxima[2]  # degrees, rising
    assert f"best {maxima[2]:.1f} deg" in res.output and "deg per session" in res.output
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    res = run(main, ["coach", "history", "--joint", "left_toe"])
    assert res.exit_code == 1 and "no recorded range of motion for 'left_toe'" in res.output
    monkeypatch.setenv("DANCENOW_DATA_DIR", str(tmp_path / "empty"))
    res = run(main, ["coach", "history"])
    assert res.exit_code == 1 and "no history yet" in res.output


def test_a_database_that_cannot_be_opened_leaves_nothing_behind(tmp_path, monkeypatch):
    """A full disk fails after SQLite made its side files (-wal, -shm): they go again, and a
    database that was there before stays, byte for byte."""
    path = tmp_path / "h.sqlite"
    with History(path) as h:
        h.record(Session(exercise="squat", kind="exercise", source="a.mp4", reps=()))
    before = path.read_bytes()

    def full_disk(self, timeout):
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("BEGIN IMMEDIATE")  # WAL mode and a write lock: -wal and -shm exist
        assert self.path.with_name(self.path.name + "-shm").exists()
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(History, "_open", full_disk)
    for db in (path, tmp_path / "new.sqlite"):
        with pytest.raises(DancenowError, match="disk I/O error"):
            History(db)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.sqlite"]
    assert path.read_bytes() == before
