"""Progress over sessions: every coach run can be recorded in a local SQLite database, and
read back per exercise (repetitions, scores, range of motion over time) or per joint (the
rehabilitation view: a joint's range of motion per session, the best, and the trend).

    from dancenow.coach.history import History, default_history_path
    with History(default_history_path()) as h:
        h.record(session_from_exercise(result, source="squats.mp4"))
        for s in h.sessions(exercise="squat"): ...
        progress = h.joint_progress("left_shoulder", exercise="arm-raise")

Safety: one session is one transaction (BEGIN IMMEDIATE ... COMMIT): a crash or a kill in the
middle of writing leaves the database as it was before, never a session without its
repetitions. The journal is SQLite's write-ahead log (WAL) with synchronous=FULL, so a
committed session survives a crash, and two runs writing at once take turns (the second waits
up to `timeout` seconds for the first's transaction) instead of failing.

Layout: `sessions` (one row per run: when, kind, exercise, counts, score, duration, view,
details as JSON), `reps` (one row per repetition), `rom` (per repetition and measure, its
minimum and maximum: every joint angle is kept, so any joint can be followed later).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import logging
import math
import os
import time
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from dancenow.errors import DancenowError

log = logging.getLogger(__name__)

FILE_NAME = "coach_history.sqlite"
SCHEMA_VERSION = 1
KINDS = ("exercise", "live", "dance", "photo")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,          -- ISO 8601, UTC
    kind TEXT NOT NULL,                -- exercise | live | dance | photo
    exercise TEXT NOT NULL DEFAULT '', -- e.g. squat, or the reference's name
    source TEXT NOT NULL DEFAULT '',   -- the video or camera
    full_reps INTEGER NOT NULL DEFAULT 0,
    partial_reps INTEGER NOT NULL DEFAULT 0,
    score REAL,                        -- 0-100, NULL when there is none
    duration_s REAL,
    view TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}' -- JSON: anything else worth keeping
);
CREATE TABLE IF NOT EXISTS reps (
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    status TEXT NOT NULL,
    score REAL, depth REAL, down_s REAL, hold_s REAL, up_s REAL,
    view TEXT NOT NULL DEFAULT '',
    faults TEXT NOT NULL DEFAULT '[]', -- JSON list of fault names
    PRIMARY KEY (session_id, number)
);
CREATE TABLE IF NOT EXISTS rom (
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    rep INTEGER NOT NULL,
    measure TEXT NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL,
    PRIMARY KEY (session_id, rep, measure)
);
CREATE INDEX IF NOT EXISTS sessions_by_exercise ON sessions (exercise, started_at);
"""


def default_history_path() -> Path:
    """The history database under the user's data directory: $DANCENOW_DATA_DIR if set, else
    the platform's place for application data (XDG_DATA_HOME or ~/.local/share on Linux,
    ~/Library/Application Support on macOS, %LOCALAPPDATA% on Windows), in `dancenow/`."""
    env = os.environ.get("DANCENOW_DATA_DIR")
    if env:
        return Path(env).expanduser() / FILE_NAME
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "dancenow" / FILE_NAME


@dataclass(frozen=True)
class RepRecord:
    number: int
    status: str
    score: float | None = None
    depth: float | None = None
    down_s: float | None = None
    hold_s: float | None = None
    up_s: float | None = None
    view: str = ""
    faults: tuple[str, ...] = ()
    rom: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Session:
    """One coach run to record (or as read back: `id` and `started_at` then set)."""

    kind: str
    exercise: str = ""
    source: str = ""
    full_reps: int = 0
    partial_reps: int = 0
    score: float | None = None
    duration_s: float | None = None
    view: str = ""
    details: dict = field(default_factory=dict)
    reps: tuple[RepRecord, ...] = ()
    started_at: str = ""
    id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DancenowError(f"unknown session kind {self.kind!r}: one of {', '.join(KINDS)}")


@dataclass(frozen=True)
class JointProgress:
    """A joint's range of motion per session (the rehab view). rows: (session id, started_at,
    best max over the session's repetitions, mean max, repetitions seen); best: the highest
    session value and when; trend_per_session: least-squares slope of the session values
    against the session number (degrees per session; NaN with one session); trend_per_week:
    the slope against time (degrees per week; NaN unless the sessions span at least a day,
    since a slope over minutes says nothing about weeks)."""

    measure: str
    rows: tuple[tuple[int, str, float, float, int], ...]
    best: float
    best_at: str
    trend_per_session: float
    trend_per_week: float


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _num(v) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


def _locked(e: BaseException) -> bool:
    return isinstance(e, sqlite3.OperationalError) and ("locked" in str(e) or "busy" in str(e))


class History:
    """The history database at `path` (created, with its folder, if absent). A context manager."""

    def __init__(self, path: str | os.PathLike, timeout: float = 30.0):
        self.path = Path(path).expanduser()
        if self.path.exists() and not self.path.is_file():
            raise DancenowError(f"history database {self.path} is not a file")
        # the files SQLite may create beside the database: removed again if opening fails (a
        # full disk), so a failed run leaves nothing behind
        side = [self.path, *(self.path.with_name(self.path.name + s) for s in ("-wal", "-shm", "-journal"))]
        existed = {f for f in side if f.exists()}
        self.db = None
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._open(timeout)
                version = int(self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])
                break
            except (sqlite3.DatabaseError, OSError) as e:
                if self.db is not None:
                    with contextlib.suppress(sqlite3.Error):
                        self.db.close()
                    self.db = None
                # Another process opening the same new database at this moment (switching it to
                # WAL takes a lock SQLite's busy timeout does not wait for): wait and open again,
                # and leave its files alone.
                if _locked(e) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                if not _locked(e):
                    for f in side:
                        if f not in existed:
                            f.unlink(missing_ok=True)
                if isinstance(e, OSError):
                    raise DancenowError(f"cannot create history database {self.path}: {e.strerror or e}") from None
                raise DancenowError(f"cannot open history database {self.path}: {e}") from None
        if version > SCHEMA_VERSION:
            raise DancenowError(f"history database {self.path} is from a newer dancenow (schema {version})")

    def _open(self, timeout: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we open transactions ourselves (BEGIN IMMEDIATE takes the
        # write lock at once, so two writers queue up instead of deadlocking)
        self.db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        self.db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        with self._transaction():  # (executescript would commit early: one statement at a time)
            for statement in _SCHEMA.split(";\n"):
                if statement.strip():
                    self.db.execute(statement)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    # -- transactions

    class _Tx:
        def __init__(self, db):
            self.db = db

        def __enter__(self):
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type, exc, tb):
            if exc_type is None:
                self.db.execute("COMMIT")
            else:
                self.db.execute("ROLLBACK")

    def _transaction(self) -> "_Tx":
        return History._Tx(self.db)

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # -- writing

    def record(self, session: Session) -> int:
        """Add one session with its repetitions, all or nothing. Returns its id."""
        s = session
        try:
            with self._transaction() as db:
                cur = db.execute(
                    "INSERT INTO sessions (started_at, kind, exercise, source, full_reps, partial_reps, score, duration_s,"
                    " view, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (s.started_at or _now(), s.kind, s.exercise, s.source, int(s.full_reps), int(s.partial_reps),
                     _num(s.score), _num(s.duration_s), s.view, json.dumps(s.details, allow_nan=False, default=str)))
                sid = int(cur.lastrowid)
                db.executemany(
                    "INSERT INTO reps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(sid, r.number, r.status, _num(r.score), _num(r.depth), _num(r.down_s), _num(r.hold_s), _num(r.up_s),
                      r.view, json.dumps(list(r.faults))) for r in s.reps])
                db.executemany(
                    "INSERT INTO rom VALUES (?, ?, ?, ?, ?)",
                    [(sid, r.number, k, float(a), float(b)) for r in s.reps for k, (a, b) in r.rom.items()
                     if math.isfinite(a) and math.isfinite(b)])
        except sqlite3.OperationalError as e:  # e.g. still locked after the timeout, disk full
            raise DancenowError(f"could not record the session in {self.path}: {e}") from None
        log.info("recorded session %d in %s", sid, self.path)
        return sid

    # -- reading

    def sessions(self, exercise: str | None = None, kind: str | None = None, last: int | None = None,
                 with_reps: bool = False) -> list[Session]:
        """Sessions in time order (optionally one exercise / kind, the last N)."""
        where, args = [], []
        if exercise:
            where.append("exercise = ?")
            args.append(exercise)
        if kind:
            where.append("kind = ?")
            args.append(kind)
        sql = "SELECT id, started_at, kind, exercise, source, full_reps, partial_reps, score, duration_s, view, details FROM sessions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at, id"
        rows = self.db.execute(sql, args).fetchall()
        if last:
            rows = rows[-last:]
        out = []
        for r in rows:
            reps = self._reps(r[0]) if with_reps else ()
            out.append(Session(r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], json.loads(r[10]), reps, r[1], r[0]))
        return out

    def _reps(self, sid: int) -> tuple[RepRecord, ...]:
        rom: dict[int, dict[str, tuple[float, float]]] = {}
        for rep, k, a, b in self.db.execute("SELECT rep, measure, min, max FROM rom WHERE session_id=?", (sid,)):
            rom.setdefault(rep, {})[k] = (a, b)
        return tuple(RepRecord(n, st, sc, d, a, h, u, v, tuple(json.loads(f)), rom.get(n, {}))
                     for n, st, sc, d, a, h, u, v, f in self.db.execute(
                         "SELECT number, status, score, depth, down_s, hold_s, up_s, view, faults FROM reps "
                         "WHERE session_id=? ORDER BY number", (sid,)))

    def measures(self) -> list[str]:
        """Measures with a recorded range of motion."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT measure FROM rom ORDER BY measure")]

    def joint_progress(self, measure: str, exercise: str | None = None) -> JointProgress:
        """A measure's range of motion per session: the maximum it reached (see JointProgress)."""
        sql = ("SELECT s.id, s.started_at, MAX(r.max), AVG(r.max), COUNT(*) FROM rom r JOIN sessions s ON s.id = r.session_id "
               "WHERE r.measure = ?" + (" AND s.exercise = ?" if exercise else "") + " GROUP BY s.id ORDER BY s.started_at, s.id")
        rows = tuple(self.db.execute(sql, (measure, exercise) if exercise else (measure,)).fetchall())
        if not rows:
            known = ", ".join(self.measures()) or "none yet"
            raise DancenowError(f"no recorded range of motion for {measure!r}"
                                + (f" in {exercise!r} sessions" if exercise else "") + f" (recorded: {known})")
        best = max(rows, key=lambda r: r[2])
        days = np.array([dt.datetime.fromisoformat(r[1]).timestamp() / 86400.0 for r in rows])
        vals = np.array([r[2] for r in rows], np.float64)
        per_session = per_week = math.nan
        if len(rows) >= 2:
            per_session = float(np.polyfit(np.arange(len(rows)), vals, 1)[0])
            if np.ptp(days) >= 1.0:
                per_week = float(np.polyfit(days - days[0], vals, 1)[0] * 7.0)
        return JointProgress(measure, rows, float(best[2]), best[1], per_session, per_week)

    def export_csv(self, path: str | os.PathLike, exercise: str | None = None) -> Path:
        """One CSV row per repetition (sessions without repetitions get one row), with the
        session's fields and every recorded range of motion as <measure>_min/_max columns."""
        from dancenow.atomic import atomic_file

        sessions = self.sessions(exercise=exercise, with_reps=True)
        measures = sorted({k for s in sessions for r in s.reps for k in r.rom})
        head = ["session", "started_at", "kind", "exercise", "source", "full_reps", "partial_reps", "session_score",
                "duration_s", "view", "rep", "status", "rep_score", "depth", "down_s", "hold_s", "up_s", "rep_view",
                "faults"] + [f"{k}_{w}" for k in measures for w in ("min", "max")]
        path = Path(path)
        with atomic_file(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(head)
            for s in sessions:
                base = [s.id, s.started_at, s.kind, s.exercise, s.source, s.full_reps, s.partial_reps, s.score,
                        s.duration_s, s.view]
                for r in s.reps or (None,):
                    if r is None:
                        w.writerow(base + [""] * (len(head) - len(base)))
                        continue
                    rom = [v for k in measures for v in (r.rom.get(k, ("", ""))[0], r.rom.get(k, ("", ""))[1])]
                    w.writerow(base + [r.number, r.status, r.score, r.depth, r.down_s, r.hold_s, r.up_s, r.view,
                                       ";".join(r.faults)] + rom)
        return path


# ----------------------------------------------------------------------------- sessions from results

def session_from_exercise(result, source: str = "", kind: str = "exercise") -> Session:
    """A Session from an `exercise.ExerciseResult`: every repetition with every joint angle's
    range of motion (so any joint can be followed later, not only the exercise's key ones)."""
    from dancenow.coach.measures import ANGLE_MEASURES, BOTH_SIDES

    m = result.measures
    reps = []
    for r in result.reps:
        ph = r.frames
        rom = {}
        for k in ANGLE_MEASURES + BOTH_SIDES + tuple(result.exercise.rom):
            seg = m[k][ph.low_before:ph.low_after + 1]
            seg = seg[np.isfinite(seg)]
            if len(seg):
                rom[k] = (float(seg.min()), float(seg.max()))
        reps.append(RepRecord(r.number, r.status, r.score, r.depth, r.down_s, r.hold_s, r.up_s, r.view,
                              tuple(c.name for c in r.faults), rom))
    views = result.views
    view = max(views, key=views.get) if views else ""
    return Session(kind, result.exercise.name, str(source), result.full, result.partial,
                   None if not math.isfinite(result.score) else result.score, result.duration_s, view,
                   {"signal": result.signal.name, "unfinished": result.unfinished}, tuple(reps))


def format_sessions(sessions: Iterable[Session]) -> list[str]:
    """Lines of a plain-text table of sessions."""
    lines = [f"{'id':>4}  {'when (UTC)':<19}  {'kind':<8}  {'exercise':<14}  {'reps':>4}  {'part':>4}  {'score':>5}  {'secs':>6}  view"]
    for s in sessions:
        score = "-" if s.score is None else f"{s.score:.0f}"
        secs = "-" if s.duration_s is None else f"{s.duration_s:.0f}"
        lines.append(f"{s.id:>4}  {s.started_at[:19].replace('T', ' '):<19}  {s.kind:<8}  {s.exercise[:14]:<14}  "
                     f"{s.full_reps:>4}  {s.partial_reps:>4}  {score:>5}  {secs:>6}  {s.view}")
    return lines


def plot_history(sessions: list[Session], path: str | os.PathLike, joint: JointProgress | None = None) -> Path:
    """A PNG of progress over sessions: repetitions (full and partial) and the score per
    session, and, given a joint, its range of motion per session with the best and the trend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from dancenow.atomic import atomic_file

    if not sessions:
        raise DancenowError("no sessions to plot")
    rows = 3 if joint is not None else 2
    fig = Figure(figsize=(10, 2.6 * rows), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1)
    when = [dt.datetime.fromisoformat(s.started_at) for s in sessions]
    x = np.arange(len(sessions))
    labels = [w.strftime("%m-%d\n%H:%M") for w in when]
    ax = axes[0]
    ax.bar(x, [s.full_reps for s in sessions], color="#43a047", label="full reps")
    ax.bar(x, [s.partial_reps for s in sessions], bottom=[s.full_reps for s in sessions], color="#ffb74d", label="partial")
    ax.set_ylabel("repetitions")
    ax.legend(fontsize=8)
    ax.set_title("Progress over sessions" + (f" ({sessions[0].exercise})" if len({s.exercise for s in sessions}) == 1 else ""),
                 fontsize=10)
    ax = axes[1]
    ax.plot(x, [np.nan if s.score is None else s.score for s in sessions], "o-", color="#c62828")
    ax.set_ylim(0, 105)
    ax.set_ylabel("score")
    for a in axes[:2]:
        a.set_xticks(x)
        a.set_xticklabels(labels, fontsize=7)
        a.grid(alpha=0.3)
    if joint is not None:
        from dancenow.coach.measures import LABELS

        ax = axes[2]
        jw = [dt.datetime.fromisoformat(r[1]) for r in joint.rows]
        days = np.array([(w - jw[0]).total_seconds() / 86400.0 for w in jw])
        vals = np.array([r[2] for r in joint.rows])
        ax.plot(days, vals, "o-", color="#1565c0", label="best in session")
        ax.plot(days, [r[3] for r in joint.rows], ".", color="#90caf9", label="mean of repetitions")
        ax.axhline(joint.best, color="#2e7d32", ls="--", lw=1, label=f"best {joint.best:.0f} deg")
        if math.isfinite(joint.trend_per_week):
            fit = np.polyfit(days, vals, 1)
            ax.plot(days, np.polyval(fit, days), color="0.4", ls=":", label=f"trend {joint.trend_per_week:+.1f} deg/week")
        elif math.isfinite(joint.trend_per_session):
            fit = np.polyfit(np.arange(len(vals)), vals, 1)
            ax.plot(days, np.polyval(fit, np.arange(len(vals))), color="0.4", ls=":",
                    label=f"trend {joint.trend_per_session:+.1f} deg/session")
        ax.set_xlabel("days since the first session")
        ax.set_ylabel(f"{LABELS.get(joint.measure, joint.measure)}\n(max, deg)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
