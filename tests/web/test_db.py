"""The job store's promises: states only move forward, a job is done only with its result, and a
worker of an old attempt (or of a cancelled job) can no longer change the job."""

from __future__ import annotations

import pytest

from dancenow.web.db import JobStore


@pytest.fixture
def store(tmp_path):
    return JobStore(tmp_path / "app.db")


def test_a_job_runs_once_per_attempt_and_finishes_with_its_result(store):
    job = store.add_job("coach", "light", "t", {"a": 1})
    assert job.state == "queued" and job.attempt == 0 and job.result is None
    assert store.next_queued("light").id == job.id and store.next_queued("train") is None
    attempt = store.claim(job.id)
    assert attempt == 1 and store.claim(job.id) is None  # claimed once
    assert store.report(job.id, attempt, "working (1/2)", 0.5, {"step": 1})
    assert store.get_job(job.id).live == {"step": 1}
    assert store.finish(job.id, attempt, {"files": {"x": "x.mp4"}})
    done = store.get_job(job.id)
    assert done.state == "done" and done.result == {"files": {"x": "x.mp4"}} and done.progress == 1
    assert not store.fail(job.id, "late error", attempt)  # a finished job stays finished
    assert store.get_job(job.id).state == "done"


def test_a_cancelled_or_retried_job_ignores_its_old_worker(store):
    job = store.add_job("transfer", "train", "t", {})
    first = store.claim(job.id)
    assert store.cancel(job.id)
    assert not store.report(job.id, first, "still here", 0.9)  # the worker learns it was cancelled
    assert not store.finish(job.id, first, {"files": {}})
    assert store.get_job(job.id).state == "cancelled" and store.get_job(job.id).result is None
    assert not store.cancel(job.id)
    assert store.retry(job.id)
    second = store.claim(job.id)
    assert second == first + 1
    assert not store.finish(job.id, first, {"files": {}})  # the old attempt cannot finish the new one
    assert store.fail(job.id, "boom\nTraceback (most recent call last): ...", second)
    failed = store.get_job(job.id)
    assert failed.state == "failed" and "\n" not in failed.error
    assert store.retry(job.id) and store.get_job(job.id).state == "queued" and store.get_job(job.id).error is None


def test_only_finished_jobs_can_be_deleted_and_uploads_round_trip(store):
    job = store.add_job("coach", "light", "t", {})
    assert not store.delete_job(job.id)
    store.cancel(job.id)
    assert store.delete_job(job.id) and store.get_job(job.id) is None
    up = store.add_upload("abc123abc123", "video", "my clip.mp4", "abc123abc123.mp4", 10, {"fps": 30})
    assert store.get_upload(up.id).info == {"fps": 30}
    assert "file" not in up.to_dict()  # the storage name stays on the server
    assert [u.id for u in store.list_uploads()] == [up.id]
