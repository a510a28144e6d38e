"""One job in its own process: `python -m dancenow.web.worker WORK_DIR JOB_ID ATTEMPT`.

Started by the server's JobRunner. It runs the job's function from `adapter`, reports progress
to the database, and records the result (state 'done' and the result in one transaction) or
the error (one line). Its log (`jobs/<id>/log.txt`) holds dancenow's own messages; anything
else the process prints, tracebacks included, goes to `output.txt`. A worker whose server has
gone away ends itself, so no job runs on unwatched.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from pathlib import Path

from dancenow.errors import DancenowError
from dancenow.web.db import JobStore

log = logging.getLogger("dancenow.web.worker")

NICE = 5  # below the server, so the pages stay quick while a job trains
REPORT_EVERY_S = 0.5


class Progress:
    """report(stage, fraction, **live): throttled writes of the job's progress. Raises
    SystemExit when the job is no longer this attempt's to run (cancelled meanwhile)."""

    def __init__(self, store: JobStore, job_id: str, attempt: int):
        self.store, self.job_id, self.attempt = store, job_id, attempt
        self.last = 0.0
        self.stage = ""
        self.live: dict = {}

    def __call__(self, stage: str, fraction: float, **live) -> None:
        now = time.time()
        if live:
            self.live = {**self.live, **{k: v for k, v in live.items() if v is not None}}
        if stage == self.stage and now - self.last < REPORT_EVERY_S:
            return
        if stage.split(" (")[0] != self.stage.split(" (")[0]:
            log.info("%s", stage.split(" (")[0])
        self.stage, self.last = stage, now
        if not self.store.report(self.job_id, self.attempt, stage, max(0.0, min(1.0, fraction)), self.live):
            raise SystemExit("the job was cancelled")


def _watch_parent(parent: int) -> None:
    def run():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=run, name="parent-watch", daemon=True).start()


def run(work_dir: Path, job_id: str, attempt: int) -> int:
    store = JobStore(work_dir / "app.db")
    job = store.get_job(job_id)
    if job is None or job.state != "running" or job.attempt != attempt:
        return 0  # cancelled before it began
    job_dir = work_dir / "jobs" / job_id
    handler = logging.FileHandler(job_dir / "log.txt")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("matplotlib", "PIL", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from dancenow.web import adapter

    msg = adapter.configure_worker_threads()
    if msg:
        log.info(msg)
    log.info("attempt %d of job %s (%s): %s", attempt, job_id, job.kind, job.title)
    progress = Progress(store, job_id, attempt)
    functions = {"transfer": adapter.run_transfer, "coach": adapter.run_coach,
                 "choreo_train": adapter.run_choreo_train, "choreo_video": adapter.run_choreo_video}
    t0 = time.time()
    try:
        result = functions[job.kind](job.params, job_dir, progress)
    except DancenowError as e:
        line = str(e).splitlines()[0] if str(e) else type(e).__name__
        log.error("failed: %s", line)
        store.fail(job_id, line, attempt)
        return 1
    except SystemExit as e:
        log.info("stopped: %s", e)
        return 0
    except Exception as e:  # a bug: the message for the page, the traceback for output.txt
        traceback.print_exc()
        line = f"internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        log.error("%s (details in output.txt)", line)
        store.fail(job_id, line, attempt)
        return 1
    result["seconds"] = round(time.time() - t0, 1)
    if store.finish(job_id, attempt, result):
        log.info("done in %.1f s", result["seconds"])
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m dancenow.web.worker WORK_DIR JOB_ID ATTEMPT", file=sys.stderr)
        return 2
    _watch_parent(os.getppid())
    try:
        os.nice(NICE)
    except OSError:
        pass
    return run(Path(argv[0]), argv[1], int(argv[2]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
