"""Jobs: what each kind asks for (checked before it is queued) and the runner that starts them.

Kinds and their lanes: `transfer` and `choreo_train` train models ("train" lane: one at a time,
on a CPU machine two trainings would only slow each other down); `coach` and `choreo_video`
are lighter ("light" lane). `JobRunner` is a thread in the server: it starts the oldest queued
job of a free lane as a worker process (`python -m dancenow.web.worker`), watches it, and marks
its job failed when the process ends without the job being done (a crash, a kill, out of
memory): the job's log stays, and its partial outputs are never listed as results.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dancenow.errors import DancenowError
from dancenow.web.config import WebConfig
from dancenow.web.db import Job, JobStore

log = logging.getLogger(__name__)

LANES = {"transfer": "train", "choreo_train": "train", "coach": "light", "choreo_video": "light"}
STYLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,23}$")


# ----------------------------------------------------------------------------- parameters

class Context:
    """What checking a job's parameters needs: the uploads, the jobs and the registered models."""

    def __init__(self, store: JobStore, config: WebConfig):
        self.store, self.config = store, config
        self.work_dir = Path(config.work_dir)

    def job_dir(self, job_id: str) -> Path:
        return self.work_dir / "jobs" / job_id

    def upload(self, upload_id, kinds: tuple[str, ...], what: str) -> dict:
        if not isinstance(upload_id, str):
            raise DancenowError(f"choose the {what}")
        up = self.store.get_upload(upload_id)
        if up is None:
            raise DancenowError(f"the {what} upload is gone; upload it again")
        if up.kind not in kinds:
            raise DancenowError(f"the {what} must be a {' or '.join(kinds)}, not a {up.kind} ({up.name})")
        return {"upload": up.id, "kind": up.kind, "name": up.name, "path": str(self.work_dir / "uploads" / up.file)}

    def models(self, kind: str) -> list[dict]:
        """Models to offer: finished jobs' models, then the folders given to `serve --model`."""
        from dancenow.web import adapter

        job_kind = {"synth": "transfer", "choreo": "choreo_train"}[kind]
        out = []
        for job in self.store.list_jobs(job_kind):
            if job.state == "done" and job.result and job.result.get("model"):
                out.append({"id": f"job:{job.id}", "name": f"{job.title} ({time.strftime('%d %b %H:%M', time.localtime(job.created))})",
                            "path": str(self.job_dir(job.id) / "work" / job.result["model"]), "job": job.id})
        for i, folder in enumerate(self.config.models):
            if adapter.model_kind(Path(folder)) == kind:
                out.append({"id": f"dir:{i}", "name": f"{Path(folder).name} (folder)", "path": str(folder), "job": None})
        return out

    def model(self, ref, kind: str) -> dict:
        for m in self.models(kind):
            if m["id"] == ref:
                return m
        raise DancenowError("that model is not available (was its job deleted?)")


def _number(p: dict, key: str, lo: float, hi: float, default, cast=float, what: str | None = None):
    v = p.get(key, default)
    if v is None or v == "":
        return default
    try:
        v = cast(v)
    except (TypeError, ValueError):
        raise DancenowError(f"{what or key} must be a number") from None
    if not lo <= v <= hi:
        raise DancenowError(f"{what or key} must be between {lo:g} and {hi:g}, got {v:g}")
    return v


def _actor_or_upload(p: dict, side: str, ctx: Context, kinds: tuple[str, ...], seconds: tuple[float, float, float]) -> dict:
    from dancenow.web.adapter import ACTORS

    spec = p.get(side)
    if not isinstance(spec, dict):
        raise DancenowError(f"choose the {side}")
    if spec.get("actor") is not None:
        if spec["actor"] not in ACTORS:
            raise DancenowError(f"unknown demo dancer {spec['actor']!r}; choose one of {', '.join(ACTORS)}")
        lo, hi, default = seconds
        return {"actor": spec["actor"], "seconds": _number(spec, "seconds", lo, hi, default, what=f"the {side}'s length (s)")}
    return ctx.upload(spec.get("upload"), kinds, f"{side} video")


def check_transfer(p: dict, ctx: Context) -> tuple[str, dict]:
    from dancenow.web.adapter import PRESETS

    out: dict = {}
    if p.get("model"):
        out["model"] = ctx.model(p["model"], "synth")
    else:
        out["model"] = None
        preset = p.get("preset", "quick")
        if preset not in PRESETS:
            raise DancenowError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        out["preset"] = preset
        out["steps"] = _number(p, "steps", 1, 1_000_000, None, int, "training steps")
        out["minutes"] = _number(p, "minutes", 0.1, 24 * 60, None, float, "the training time (minutes)")
        if out["steps"] is not None and out["minutes"] is not None:
            raise DancenowError("give training steps or minutes, not both")
        out["target"] = _actor_or_upload(p, "target", ctx, ("video",), (4.0, 600.0, 20.0))
    out["source"] = _actor_or_upload(p, "source", ctx, ("video", "poses"), (1.0, 600.0, 8.0))
    out["video_size"] = 192 if out.get("preset", "quick") == "quick" else 256  # the demo dancers' frames
    name = lambda s: s.get("actor") or s.get("name")  # noqa: E731
    if out["model"] is None:
        title = f"{name(out['target'])} dances like {name(out['source'])}"
    else:
        title = f"{out['model']['name'].split(' (')[0]} + {name(out['source'])}"
    return title, out


def check_coach(p: dict, ctx: Context) -> tuple[str, dict]:
    from dancenow.web.adapter import COACH_MODES, exercise_names

    mode = p.get("mode", "dance")
    if mode not in COACH_MODES:
        raise DancenowError(f"unknown coach mode {mode!r}; choose one of {', '.join(COACH_MODES)}")
    att_kinds, ref_kinds = COACH_MODES[mode]
    out = {"mode": mode, "mirror": bool(p.get("mirror", False)), "exercise": None, "reference": None}
    out["attempt"] = ctx.upload(p.get("attempt"), att_kinds, "attempt")
    if mode == "exercise":
        exercise = p.get("exercise") or None
        if exercise is not None and exercise not in exercise_names():
            raise DancenowError(f"unknown exercise {exercise!r}; choose one of {', '.join(exercise_names())}")
        out["exercise"] = exercise
        if exercise is None:  # learned from one good repetition
            out["reference"] = ctx.upload(p.get("reference"), ref_kinds, "reference repetition")
        return f"{exercise or 'exercise'}: {out['attempt']['name']}", out
    out["reference"] = ctx.upload(p.get("reference"), ref_kinds, "reference")
    what = "photo" if mode == "photo" else "coach"
    return f"{what}: {out['attempt']['name']} vs {out['reference']['name']}", out


def check_choreo_train(p: dict, ctx: Context) -> tuple[str, dict]:
    out = {"steps": _number(p, "steps", 1, 200_000, 600, int, "training steps")}
    if p.get("source", "world") == "world":
        out["source"] = "world"
        out["world_seconds"] = _number(p, "world_seconds", 4.0, 600.0, 40.0, what="seconds of dance per style and dancer")
        return f"choreography from the synthetic world ({out['steps']} steps)", out
    items = p.get("uploads")
    if not isinstance(items, list) or not items:
        raise DancenowError("choose at least one motion upload (or the synthetic world)")
    out["source"] = "uploads"
    out["uploads"] = []
    for it in items[:20]:
        style = str((it or {}).get("style", "")).strip().lower()
        if not STYLE_NAME.match(style) or style == "any":
            raise DancenowError(f"style names are 1-24 letters, digits, - or _, starting with a letter (and not 'any'): {style!r}")
        out["uploads"].append({**ctx.upload((it or {}).get("upload"), ("video", "poses", "motion"), "motion"), "style": style})
    styles = sorted({u["style"] for u in out["uploads"]})
    return f"choreography: {', '.join(styles)} ({out['steps']} steps)", out


CHECKS = {"transfer": check_transfer, "coach": check_coach, "choreo_train": check_choreo_train}


# ----------------------------------------------------------------------------- the runner

@dataclass
class _Running:
    job_id: str
    attempt: int
    process: subprocess.Popen
    lane: str


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_process(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM to the worker's process group, then SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(5)
    else:
        _signal_group(proc, signal.SIGKILL)  # anything the worker left in its group


def _is_worker(pid: int, job_id: str) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"dancenow.web.worker" in cmd and job_id.encode() in cmd


def _exit_reason(rc: int) -> str:
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        hint = " (out of memory?)" if -rc == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit code {rc}"


class JobRunner:
    """Starts queued jobs as worker processes, at most `config.lanes[lane]` at a time per lane."""

    POLL_S = 0.3

    def __init__(self, store: JobStore, config: WebConfig):
        self.store, self.config = store, config
        self.work_dir = Path(config.work_dir)
        self.running: dict[str, _Running] = {}
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="dancenow-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop starting jobs, end the running workers and say so in their jobs."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self.lock:
            for r in list(self.running.values()):
                _stop_process(r.process, grace=3.0)
                self.store.fail(r.job_id, "stopped: the server shut down while this job ran; Retry starts it again", r.attempt)
            self.running.clear()

    def recover(self) -> None:
        """Jobs still marked running from before this server started lost their worker with the
        old server: end any such worker that lingers, and mark the job failed."""
        for job in self.store.jobs_in("running"):
            if job.pid and _is_worker(job.pid, job.id):
                try:
                    os.killpg(job.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self.store.fail(job.id, "stopped: the server stopped while this job ran; Retry starts it again")

    def _loop(self) -> None:
        while not self._stop.wait(self.POLL_S):
            try:
                self.tick()
            except Exception:  # the loop must outlive one bad tick (a full disk, a locked db)
                log.exception("job runner")

    # ------------------------------------------------------------------ work
    def tick(self) -> None:
        with self.lock:
            self._reap()
            for lane, limit in self.config.lanes.items():
                while sum(r.lane == lane for r in self.running.values()) < limit:
                    job = self.store.next_queued(lane)
                    if job is None or not self._spawn(job):
                        break

    def _spawn(self, job: Job) -> bool:
        attempt = self.store.claim(job.id)
        if attempt is None:
            return False
        job_dir = self.work_dir / "jobs" / job.id
        job_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(job_dir / "output.txt", "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dancenow.web.worker", str(self.work_dir.resolve()), job.id, str(attempt)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.store.set_pid(job.id, attempt, proc.pid)
        self.running[job.id] = _Running(job.id, attempt, proc, job.lane)
        log.info("job %s (%s) started, attempt %d, pid %d", job.id, job.kind, attempt, proc.pid)
        return True

    def _reap(self) -> None:
        for job_id, r in list(self.running.items()):
            rc = r.process.poll()
            if rc is None:
                continue
            del self.running[job_id]
            _signal_group(r.process, signal.SIGKILL)  # nothing of the job outlives it
            job = self.store.get_job(job_id)
            if job is not None and job.state == "running" and job.attempt == r.attempt:
                last = _last_line(self.work_dir / "jobs" / job_id / "output.txt")
                self.store.fail(job_id, f"the worker stopped unexpectedly ({_exit_reason(rc)})" + (f": {last}" if last else ""),
                                r.attempt)
                log.warning("job %s: worker ended with %s", job_id, _exit_reason(rc))

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job (its worker is ended); False when it had finished."""
        with self.lock:
            ok = self.store.cancel(job_id)
            r = self.running.pop(job_id, None)
            if r is not None:
                _stop_process(r.process)
            return ok

    def delete(self, job_id: str) -> bool:
        with self.lock:
            if job_id in self.running or not self.store.delete_job(job_id):
                return False
        shutil.rmtree(self.work_dir / "jobs" / job_id, ignore_errors=True)
        return True


def _last_line(path: Path) -> str:
    """The last meaningful line a dead worker printed (an exception's message), if any."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4000))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        line = line.strip()
        if line and not line.startswith(("File ", "Traceback", "^", "W0000", "I0000")):
            return line[:200]
    return ""
