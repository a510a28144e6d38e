"""Jobs and uploads in one SQLite file (`work_dir/app.db`), shared by the server and its worker
processes: WAL journal (readers never wait on the writer), one short transaction per change.

A job's state only moves forward: queued -> running -> done | failed | cancelled; `retry` puts a
failed or cancelled job back in the queue. Each run of a job is an *attempt* (a counter bumped
when the server starts a worker); a worker's writes name their attempt, so a stray worker of an
earlier attempt, or one whose job was cancelled, can no longer change the job.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    lane TEXT NOT NULL,
    title TEXT NOT NULL,
    state TEXT NOT NULL,              -- queued | running | done | failed | cancelled
    params TEXT NOT NULL,             -- JSON, checked by the server before the job was queued
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    attempt INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    stage TEXT NOT NULL DEFAULT '',   -- what the job is doing now, in words
    progress REAL NOT NULL DEFAULT 0, -- 0..1
    live TEXT NOT NULL DEFAULT '{}',  -- JSON: figures while it runs (step, held-out SSIM, sample)
    result TEXT,                      -- JSON, set with state 'done' only: files, metrics, model
    error TEXT                        -- one line, with state 'failed'
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, lane, created);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,               -- video | image | poses | motion
    name TEXT NOT NULL,               -- the client's file name, for display only
    file TEXT NOT NULL,               -- generated storage name under uploads/
    bytes INTEGER NOT NULL,
    info TEXT NOT NULL,               -- JSON: size, fps, seconds, ...
    created REAL NOT NULL
);
"""
STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    lane: str
    title: str
    state: str
    params: dict
    created: float
    started: float | None
    finished: float | None
    attempt: int
    pid: int | None
    stage: str
    progress: float
    live: dict
    result: dict | None
    error: str | None

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("pid")
        return d


@dataclass(frozen=True)
class Upload:
    id: str
    kind: str
    name: str
    file: str
    bytes: int
    info: dict
    created: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("file")  # the storage name stays on the server
        return d


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def _job(row: sqlite3.Row) -> Job:
    d = dict(row)
    for k in ("params", "live"):
        d[k] = json.loads(d[k] or "{}")
    d["result"] = json.loads(d["result"]) if d["result"] else None
    return Job(**d)


def _upload(row: sqlite3.Row) -> Upload:
    d = dict(row)
    d["info"] = json.loads(d["info"])
    return Upload(**d)


class JobStore:
    """The database. Each call opens its own short-lived connection, so the store may be used
    from any thread and from several processes at once."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30.0)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA busy_timeout=30000")
        return con

    def _write(self, sql: str, args: tuple) -> int:
        """One statement in its own transaction; returns the rows it changed."""
        con = self._connect()
        try:
            with con:
                return con.execute(sql, args).rowcount
        finally:
            con.close()

    def _read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        con = self._connect()
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    # ------------------------------------------------------------------ jobs
    def add_job(self, kind: str, lane: str, title: str, params: dict, job_id: str | None = None) -> Job:
        jid = job_id or new_id()
        self._write("INSERT INTO jobs (id, kind, lane, title, state, params, created) VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                    (jid, kind, lane, title, json.dumps(params), time.time()))
        return self.get_job(jid)

    def get_job(self, job_id: str) -> Job | None:
        rows = self._read("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def list_jobs(self, kind: str | None = None, limit: int = 200) -> list[Job]:
        if kind:
            rows = self._read("SELECT * FROM jobs WHERE kind = ? ORDER BY created DESC LIMIT ?", (kind, limit))
        else:
            rows = self._read("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (limit,))
        return [_job(r) for r in rows]

    def jobs_in(self, state: str) -> list[Job]:
        return [_job(r) for r in self._read("SELECT * FROM jobs WHERE state = ? ORDER BY created", (state,))]

    def next_queued(self, lane: str) -> Job | None:
        rows = self._read("SELECT * FROM jobs WHERE state = 'queued' AND lane = ? ORDER BY created LIMIT 1", (lane,))
        return _job(rows[0]) if rows else None

    def claim(self, job_id: str) -> int | None:
        """queued -> running as a new attempt; returns the attempt number (None: not queued)."""
        con = self._connect()
        try:
            with con:
                n = con.execute("UPDATE jobs SET state = 'running', attempt = attempt + 1, started = ?, finished = NULL, "
                                "stage = 'starting', progress = 0, live = '{}', error = NULL, pid = NULL "
                                "WHERE id = ? AND state = 'queued'", (time.time(), job_id)).rowcount
                if not n:
                    return None
                return int(con.execute("SELECT attempt FROM jobs WHERE id = ?", (job_id,)).fetchone()[0])
        finally:
            con.close()

    def set_pid(self, job_id: str, attempt: int, pid: int) -> None:
        self._write("UPDATE jobs SET pid = ? WHERE id = ? AND attempt = ? AND state = 'running'", (pid, job_id, attempt))

    def report(self, job_id: str, attempt: int, stage: str, progress: float, live: dict | None = None) -> bool:
        """A running attempt's progress; False when the attempt no longer runs (cancelled)."""
        if live is None:
            return bool(self._write("UPDATE jobs SET stage = ?, progress = ? WHERE id = ? AND attempt = ? AND state = 'running'",
                                    (stage, float(progress), job_id, attempt)))
        return bool(self._write("UPDATE jobs SET stage = ?, progress = ?, live = ? WHERE id = ? AND attempt = ? AND state = 'running'",
                                (stage, float(progress), json.dumps(live), job_id, attempt)))

    def finish(self, job_id: str, attempt: int, result: dict) -> bool:
        """running -> done with its result, in one transaction: a job is never seen done
        without its result, nor with the result of a half-finished run."""
        return bool(self._write("UPDATE jobs SET state = 'done', result = ?, progress = 1, stage = 'done', finished = ? "
                                "WHERE id = ? AND attempt = ? AND state = 'running'",
                                (json.dumps(result), time.time(), job_id, attempt)))

    def fail(self, job_id: str, error: str, attempt: int | None = None) -> bool:
        """queued/running -> failed (a given attempt only, when `attempt` is given)."""
        error = " ".join(str(error).split())[:500] or "failed"
        if attempt is None:
            return bool(self._write("UPDATE jobs SET state = 'failed', error = ?, finished = ?, stage = 'failed' "
                                    "WHERE id = ? AND state IN ('queued', 'running')", (error, time.time(), job_id)))
        return bool(self._write("UPDATE jobs SET state = 'failed', error = ?, finished = ?, stage = 'failed' "
                                "WHERE id = ? AND attempt = ? AND state = 'running'", (error, time.time(), job_id, attempt)))

    def cancel(self, job_id: str) -> bool:
        return bool(self._write("UPDATE jobs SET state = 'cancelled', finished = ?, stage = 'cancelled' "
                                "WHERE id = ? AND state IN ('queued', 'running')", (time.time(), job_id)))

    def retry(self, job_id: str) -> bool:
        return bool(self._write("UPDATE jobs SET state = 'queued', error = NULL, result = NULL, stage = '', progress = 0, "
                                "live = '{}', started = NULL, finished = NULL, pid = NULL "
                                "WHERE id = ? AND state IN ('failed', 'cancelled')", (job_id,)))

    def delete_job(self, job_id: str) -> bool:
        return bool(self._write("DELETE FROM jobs WHERE id = ? AND state IN ('done', 'failed', 'cancelled')", (job_id,)))

    # ------------------------------------------------------------------ uploads
    def add_upload(self, upload_id: str, kind: str, name: str, file: str, size: int, info: dict) -> Upload:
        self._write("INSERT INTO uploads (id, kind, name, file, bytes, info, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (upload_id, kind, name, file, int(size), json.dumps(info), time.time()))
        return self.get_upload(upload_id)

    def get_upload(self, upload_id: str) -> Upload | None:
        rows = self._read("SELECT * FROM uploads WHERE id = ?", (upload_id,))
        return _upload(rows[0]) if rows else None

    def list_uploads(self, limit: int = 200) -> list[Upload]:
        return [_upload(r) for r in self._read("SELECT * FROM uploads ORDER BY created DESC LIMIT ?", (limit,))]

    def delete_upload(self, upload_id: str) -> bool:
        return bool(self._write("DELETE FROM uploads WHERE id = ?", (upload_id,)))
