"""The app over HTTP, without a browser: its guards, uploads checked by content, jobs from the
demo dancers with no files at all, a finished model reused, and jobs whose worker dies, that are
cancelled, retried, or cut off by a server restart."""

from __future__ import annotations

import os
import re
import signal
import socket
from pathlib import Path

import pytest

from .conftest import Server, request, wait_for, wait_job


def test_guards_and_errors_are_messages(server):
    status, res = request(server, "POST", "/api/jobs", body={"kind": "coach"}, guard=False)
    assert status == 403 and "app's own page" in res["error"]
    status, res = request(server, "GET", "/api/jobs", headers={"Host": "evil.example:80"})
    assert status == 403 and "localhost" in res["error"]
    for path in ("/nope", "/static/", "/static/../web/app.py", "/uploads/", "/api/uploads/", "/api/jobs/abc/files/..%2F..%2Fapp.db",
                 "/static/index.html", "/app.db"):
        status, res = request(server, "GET", path)
        assert status == 404 and "error" in res, path
    status, res = request(server, "POST", "/api/jobs", data=b"{not json", headers={"Content-Type": "application/json"})
    assert status == 400 and res == {"error": "the request body must be JSON"}
    status, res = request(server, "POST", "/api/jobs", body={"kind": "rm -rf"})
    assert status == 400 and "unknown kind" in res["error"]
    status, res = request(server, "POST", "/api/jobs", body={"kind": "transfer", "params": {"target": {"upload": "0" * 12}, "source": {"actor": "ben"}}})
    assert status == 400 and "upload it again" in res["error"]
    status, res = request(server, "POST", "/api/jobs", body={"kind": "transfer", "params": {
        "target": {"actor": "ana"}, "source": {"actor": "zed"}}})
    assert status == 400 and "unknown demo dancer" in res["error"]
    status, res = request(server, "POST", "/api/jobs", body={"kind": "transfer", "params": {
        "target": {"actor": "ana"}, "source": {"actor": "ben"}, "steps": 5, "minutes": 2}})
    assert status == 400 and "not both" in res["error"]
    status, page = request(server, "GET", "/")
    assert status == 200 and b"dancenow" in page


def test_uploads_are_checked_by_content_and_stored_under_generated_names(server, clips, tmp_path):
    uploads = server.work_dir / "uploads"
    status, res = request(server, "POST", "/api/uploads?name=notes.mp4", data=clips["text"].read_bytes())
    assert status == 400 and res["error"] == "notes.mp4: not a video this app can read (it did not decode)"
    status, res = _declare_only(server, "/api/uploads?name=big.mp4", clips["big"].stat().st_size)
    assert status == 413 and "too large: the limit is 1 MB" in res["error"]  # refused before a byte is read
    status, res = request(server, "POST", "/api/uploads?name=empty.mp4", data=b"")
    assert status == 400 and "empty" in res["error"]
    assert sorted(p.name for p in uploads.iterdir() if p.is_file()) == []  # nothing kept of the refused ones

    status, up = request(server, "POST", "/api/uploads?name=" + "..%2F..%2Fetc%2Fmy%20clip.mp4", data=clips["target"].read_bytes())
    assert status == 200, up
    assert up["kind"] == "video" and up["name"] == "my clip.mp4" and "file" not in up
    assert up["info"]["width"] == 192 and up["info"]["seconds"] == pytest.approx(2.0, abs=0.05)
    stored = sorted(p.name for p in uploads.iterdir() if p.is_file())
    assert all(re.fullmatch(r"[0-9a-f]{12}(\.mp4|\.thumb\.png)", n) for n in stored), stored
    status, png = request(server, "GET", f"/api/uploads/{up['id']}/thumb")
    assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"

    from dancenow.images import write_image
    from dancenow.posefile import save_poses
    from dancenow.world import render_clip

    frames, poses = render_clip("ben", 0.5, (128, 128), seed=3)
    save_poses(poses, tmp_path / "p.npz")
    status, res = request(server, "POST", "/api/uploads?name=dance.npz", data=(tmp_path / "p.npz").read_bytes())
    assert status == 200 and res["kind"] == "poses" and res["info"]["frames"] == len(poses)
    write_image(tmp_path / "me.png", next(frames))
    status, res = request(server, "POST", "/api/uploads?name=me.png", data=(tmp_path / "me.png").read_bytes())
    assert status == 200 and res["kind"] == "image"
    # a photo where the dance coach wants a video: refused when the job is asked for
    status, err = request(server, "POST", "/api/jobs", body={"kind": "coach", "params": {"reference": res["id"], "attempt": up["id"]}})
    assert status == 400 and "the reference must be a video or poses, not a image (me.png)" == err["error"]


def test_a_transfer_from_the_demo_dancers_then_its_model_reused(server, tmp_path):
    """No files at all: the synthetic world's dancers; results appear only once the job is done.
    A choreography training queued meanwhile waits: one training at a time."""
    from dancenow.posefile import save_poses
    from dancenow.world import render_clip

    status, job = request(server, "POST", "/api/jobs", body={"kind": "transfer", "params": {
        "target": {"actor": "ana", "seconds": 4}, "source": {"actor": "ben", "seconds": 1}, "preset": "quick", "steps": 6}})
    assert status == 200 and job["state"] in ("queued", "running") and job["title"] == "ana dances like ben"
    assert "path" not in str(job["params"])
    _, poses = render_clip("chloe", 6.0, (256, 256), seed=8)  # "my own motion", as a pose file
    status, motion = request(server, "POST", "/api/uploads?name=mine.npz", data=save_poses(poses, tmp_path / "mine.npz").read_bytes())
    status, choreo = request(server, "POST", "/api/jobs", body={"kind": "choreo_train", "params": {
        "source": "uploads", "steps": 5, "uploads": [{"upload": motion["id"], "style": "Mine"}]}})
    assert status == 200 and choreo["title"] == "choreography: mine (5 steps)", choreo
    status, res = request(server, "GET", f"/api/jobs/{job['id']}/files/result")
    assert status == 404 and "finished job" in res["error"]  # never a partial result

    def both():
        states = [request(server, "GET", f"/api/jobs/{j}")[1]["state"] for j in (job["id"], choreo["id"])]
        assert states != ["running", "running"], "two trainings ran at once"
        return states == ["done", "done"] or "failed" in states

    wait_for(both, 240, "the transfer, then the choreography training", every=0.3)
    job = request(server, "GET", f"/api/jobs/{job['id']}")[1]
    assert job["state"] == "done", job
    assert set(job["result"]["files"]) >= {"result", "side_by_side", "plot", "metrics", "still"}
    m = job["result"]["metrics"]
    assert m["frames"] == 30 and m["trained_here"] and m["model_step"] == 6 and m["image_size"] == [64, 64]
    status, mp4 = request(server, "GET", f"/api/jobs/{job['id']}/files/result")
    assert status == 200 and mp4[4:8] == b"ftyp"
    status, part = request(server, "GET", f"/api/jobs/{job['id']}/files/result", headers={"Range": "bytes=0-99"})
    assert status == 206 and len(part) == 100  # seekable in a <video>
    status, sample = request(server, "GET", f"/api/jobs/{job['id']}/sample")
    assert status == 200 and sample[:4] == b"\x89PNG"
    status, models = request(server, "GET", "/api/models?kind=synth")
    assert {"id": f"job:{job['id']}", "job": job["id"]}.items() <= models[0].items()

    # the finished model, another source (given as poses: nothing to detect), no training
    _, poses = render_clip("dev", 1.0, (256, 256), seed=5)
    status, up = request(server, "POST", "/api/uploads?name=dev.npz", data=save_poses(poses, tmp_path / "dev.npz").read_bytes())
    assert status == 200 and up["kind"] == "poses"
    status, again = request(server, "POST", "/api/jobs", body={"kind": "transfer", "params": {
        "model": f"job:{job['id']}", "source": {"upload": up["id"]}}})
    assert status == 200, again

    # meanwhile the choreography model learned from the upload plays, in its style
    choreo = request(server, "GET", f"/api/jobs/{choreo['id']}")[1]
    assert choreo["state"] == "done", choreo
    status, session = request(server, "POST", "/api/choreo/sessions", body={"model": f"job:{choreo['id']}"})
    assert status == 200 and session["styles"] == ["mine"] and session["fps"] == 30
    seen = []
    for _ in range(2):
        status, chunk = request(server, "POST", f"/api/choreo/sessions/{session['session']}/frames",
                                body={"n": 15, "liveliness": 0.5, "style": {"mine": 1}})
        assert status == 200 and len(chunk["frames"]) == 15 and len(chunk["frames"][0]) == 25
        seen.append(chunk["first"])
    assert seen == [0, 15]  # one dance, continued
    status, err = request(server, "POST", f"/api/choreo/sessions/{session['session']}/frames", body={"style": {"salsa": 1}})
    assert status == 400 and "no style 'salsa'" in err["error"]

    again = wait_job(server, again["id"])
    assert again["state"] == "done", again
    assert again["result"]["metrics"]["trained_here"] is False and again["result"]["model"] is None
    assert not (server.work_dir / "jobs" / again["id"] / "work" / "model").exists()  # no training

    # a trained model folder given to another server is offered there too
    other = Server(tmp_path / "other", "--model", str(server.work_dir / "jobs" / choreo["id"] / "work" / "model")).start()
    try:
        status, models = request(other, "GET", "/api/models?kind=choreo")
        assert status == 200 and [m["id"] for m in models] == ["dir:0"]
        assert request(other, "POST", "/api/choreo/sessions", body={"model": "dir:0"})[0] == 200
    finally:
        other.stop()


def test_coach_photo_and_exercise_modes(server, clips, tmp_path):
    """A photo against a reference photo (which joints differ), and an exercise counted in a
    video; both through the coach's own entry points, their reports served in the page."""
    from dancenow.images import write_image
    from dancenow.world import render_clip

    frames, _ = render_clip("ana", 1.0, (256, 256), seed=6)
    frames = list(frames)
    ids = []
    for i in (0, 25):
        status, up = request(server, "POST", f"/api/uploads?name=pose{i}.png", data=write_image(tmp_path / f"p{i}.png", frames[i]).read_bytes())
        assert status == 200 and up["kind"] == "image"
        ids.append(up["id"])
    status, video = request(server, "POST", "/api/uploads?name=moves.mp4", data=clips["source"].read_bytes())
    status, photo = request(server, "POST", "/api/jobs", body={"kind": "coach", "params": {"mode": "photo", "attempt": ids[1], "reference": ids[0]}})
    assert status == 200 and photo["title"] == "photo: pose25.png vs pose0.png", photo
    status, squats = request(server, "POST", "/api/jobs", body={"kind": "coach", "params": {"mode": "exercise", "attempt": video["id"], "exercise": "squat"}})
    assert status == 200 and squats["title"] == "squat: moves.mp4", squats
    status, err = request(server, "POST", "/api/jobs", body={"kind": "coach", "params": {"mode": "exercise", "attempt": video["id"], "exercise": "yoga"}})
    assert status == 400 and "unknown exercise" in err["error"]
    photo, squats = wait_job(server, photo["id"], timeout=180), wait_job(server, squats["id"], timeout=180)
    assert photo["state"] == "done", photo
    assert 0 <= photo["result"]["metrics"]["score"] <= 100 and photo["result"]["metrics"]["summary"].endswith("differences")
    assert squats["state"] == "done", squats
    assert squats["result"]["metrics"]["reps"] >= 0 and "squat" in squats["result"]["metrics"]["summary"]
    for job in (photo, squats):
        status, page = request(server, "GET", f"/api/jobs/{job['id']}/files/report")
        assert status == 200 and b"<html" in page.lower()


def test_dead_cancelled_and_cut_off_workers(clips, tmp_path):
    """A long choreography training: its worker killed (failed, with its log, no results),
    retried (resumes), cancelled (worker gone), retried, then the server stopped under it
    (failed, 'Retry starts it again') and started again (the same jobs)."""
    server = Server(tmp_path / "work").start()
    try:
        status, job = request(server, "POST", "/api/jobs", body={"kind": "choreo_train", "params": {"source": "world", "steps": 20000}})
        assert status == 200
        jid = job["id"]
        wait_for(lambda: request(server, "GET", f"/api/jobs/{jid}")[1]["stage"].startswith("training"), 120,
                 "the training to start")
        pid = _pid(server, jid)
        os.kill(pid, signal.SIGKILL)
        failed = wait_job(server, jid, ("failed",), 30)
        assert "the worker stopped unexpectedly (killed by SIGKILL" in failed["error"]
        assert failed["result"] is None and any("training" in line for line in failed["log"])
        assert request(server, "GET", f"/api/jobs/{jid}/files/preview")[0] == 404

        assert request(server, "POST", f"/api/jobs/{jid}/retry")[0] == 200
        wait_for(lambda: request(server, "GET", f"/api/jobs/{jid}")[1]["attempt"] == 2 and _pid(server, jid), 60, "the retry to start")
        pid = _pid(server, jid)
        status, res = request(server, "POST", f"/api/jobs/{jid}/cancel")
        assert status == 200 and res["state"] == "cancelled"
        assert not _alive(pid)
        status, res = request(server, "POST", f"/api/jobs/{jid}/cancel")
        assert status == 400 and "already finished" in res["error"]

        assert request(server, "POST", f"/api/jobs/{jid}/retry")[0] == 200
        wait_for(lambda: _pid(server, jid) and request(server, "GET", f"/api/jobs/{jid}")[1]["state"] == "running", 60, "the second retry")
        pid = _pid(server, jid)
        server.stop()
        assert not _alive(pid), "a worker outlived its server"
        server.start()
        job = request(server, "GET", f"/api/jobs/{jid}")[1]
        assert job["state"] == "failed" and "Retry starts it again" in job["error"] and job["attempt"] == 3
        assert request(server, "DELETE", f"/api/jobs/{jid}")[0] == 200
        assert not (server.work_dir / "jobs" / jid).exists()
    finally:
        server.stop()


def _declare_only(server: Server, path: str, length: int):
    """POST headers that announce `length` bytes, and no body: what a refusal on the declared
    size alone answers (a client sending the body would meet a closed connection)."""
    import http.client
    import json

    con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        con.putrequest("POST", path)
        con.putheader("X-Dancenow", "1")
        con.putheader("Content-Length", str(length))
        con.endheaders()
        res = con.getresponse()
        return res.status, json.loads(res.read())
    finally:
        con.close()


def _pid(server: Server, job_id: str) -> int | None:
    import sqlite3

    con = sqlite3.connect(server.work_dir / "app.db")
    try:
        row = con.execute("SELECT pid FROM jobs WHERE id = ? AND state = 'running'", (job_id,)).fetchone()
    finally:
        con.close()
    return row[0] if row and row[0] else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_serve_refuses_a_busy_port_in_one_line(tmp_path):
    from click.testing import CliRunner

    from dancenow.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        res = CliRunner().invoke(main, ["serve", "--port", str(port), "--work-dir", str(tmp_path / "w")])
    assert res.exit_code == 1 and res.output.startswith("Error: cannot listen on 127.0.0.1:") and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["serve", "--work-dir", str(tmp_path / "w"), "--model", str(tmp_path / "missing")])
    assert res.exit_code == 1 and "model folder not found" in res.output


def test_one_server_per_work_folder(server):
    from click.testing import CliRunner

    from dancenow.cli import main

    res = CliRunner().invoke(main, ["serve", "--port", "0", "--work-dir", str(server.work_dir)])
    assert res.exit_code == 1 and "is in use by process" in res.output and "work folder" in res.output
