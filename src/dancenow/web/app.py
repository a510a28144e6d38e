"""The HTTP side: `create_app(config)` (a FastAPI app) and `serve(config)`.

Safety: the app listens on localhost unless told otherwise; requests must name a local host (no
DNS rebinding); every request that changes something must carry the `X-Dancenow` header, which
a page on another site cannot send without the browser asking first (no cross-site forms);
uploads are limited in size and checked by content; files are served only by name from a
finished job's result (no paths from clients, no directory listing); errors come back as
{"error": "one line"}, never a traceback.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from dancenow.errors import DancenowError
from dancenow.web.config import LOCAL_HOSTS, WebConfig
from dancenow.web.db import JobStore, new_id
from dancenow.web.jobs import CHECKS, LANES, Context, JobRunner

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
MEDIA_TYPES = {".mp4": "video/mp4", ".png": "image/png", ".json": "application/json", ".html": "text/html",
               ".txt": "text/plain"}
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; frame-src 'self'; "
            "style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'")
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"
CHOREO_SESSIONS = 4  # models playing at once (each holds a model in memory)
CHOREO_CHUNK_MAX = 120  # frames per request


class ChoreoSessions:
    """Choreography models playing in this server, by session id (the oldest is dropped when
    there are too many)."""

    def __init__(self, limit: int = CHOREO_SESSIONS):
        self.limit = limit
        self.sessions: dict[str, tuple[object, float, str]] = {}
        self.lock = threading.Lock()

    def open(self, model: dict) -> tuple[str, object]:
        from dancenow.web.adapter import ChoreoStream

        _one_torch_thread()
        stream = ChoreoStream(Path(model["path"]))
        sid = new_id()
        with self.lock:
            while len(self.sessions) >= self.limit:
                oldest = min(self.sessions, key=lambda k: self.sessions[k][1])
                del self.sessions[oldest]
            self.sessions[sid] = (stream, time.time(), model["id"])
        return sid, stream

    def get(self, sid: str):
        with self.lock:
            item = self.sessions.get(sid)
            if item is None:
                raise DancenowError("this dance has stopped (the server was restarted or too many were playing): press Play again")
            self.sessions[sid] = (item[0], time.time(), item[2])
            return item[0]


def _one_torch_thread() -> None:
    """Live choreography in the server: one torch thread, so that it never fights the workers."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _host_ok(host_header: str, config: WebConfig) -> bool:
    if not config.is_local:
        return True
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]")[0]
    elif host.count(":") == 1:
        host = host.split(":")[0]
    return host in LOCAL_HOSTS


def _tail(path: Path, lines: int = 60) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 64_000))
            return f.read().decode("utf-8", "replace").splitlines()[-lines:]
    except OSError:
        return []


def create_app(config: WebConfig):
    from dancenow.web import uploads

    config = config.validate()
    work = Path(config.work_dir)
    (work / "uploads").mkdir(parents=True, exist_ok=True)
    (work / "jobs").mkdir(parents=True, exist_ok=True)
    store = JobStore(work / "app.db")
    runner = JobRunner(store, config)
    ctx = Context(store, config)
    choreo = ChoreoSessions()

    @asynccontextmanager
    async def lifespan(app):
        runner.start()
        try:
            yield
        finally:
            runner.stop()

    app = FastAPI(title="dancenow", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store, app.state.runner, app.state.config = store, runner, config

    def error(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    # ------------------------------------------------------------------ guards and errors
    @app.middleware("http")
    async def guard(request: Request, call_next):
        if not _host_ok(request.headers.get("host", ""), config):
            return error("this app answers only to localhost", 403)
        if request.method not in ("GET", "HEAD", "OPTIONS") and request.headers.get("x-dancenow") != "1":
            return error("requests that change something must come from the app's own page", 403)
        try:
            response = await call_next(request)
        except Exception:  # the last line of defence: a message, never a traceback
            log.exception("%s %s", request.method, request.url.path)
            return error("internal error (the server's log has the details)", 500)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(DancenowError)
    async def on_dancenow_error(request, exc: DancenowError):
        status = getattr(exc, "status", 400)
        return error(str(exc).splitlines()[0] if str(exc) else "bad request", status)

    @app.exception_handler(HTTPException)
    async def on_http_error(request, exc: HTTPException):
        return error(str(exc.detail) if exc.status_code != 404 else "not found", exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def on_bad_request(request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        return error(f"bad request: {first.get('msg', 'invalid')} ({'.'.join(map(str, first.get('loc', ())))})")

    @app.exception_handler(Exception)
    async def on_error(request, exc: Exception):
        log.exception("%s %s", request.method, request.url.path)
        return error("internal error (the server's log has the details)", 500)

    async def body(request: Request) -> dict:
        try:
            data = await request.json()
        except ValueError:
            raise DancenowError("the request body must be JSON") from None
        if not isinstance(data, dict):
            raise DancenowError("the request body must be a JSON object")
        return data

    def job_or_404(job_id: str):
        job = store.get_job(job_id)
        if job is None:
            raise _NotFound("no such job")
        return job

    # ------------------------------------------------------------------ the page
    @app.get("/")
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Content-Security-Policy": PAGE_CSP})

    @app.get("/static/{name}")
    def static(name: str):
        if name not in STATIC_FILES:
            raise _NotFound("not found")
        return FileResponse(STATIC / name, media_type=STATIC_FILES[name])

    @app.get("/api/config")
    def api_config():
        from dancenow.web.adapter import ACTORS, PRESETS, exercise_names

        return {"max_upload_bytes": config.max_upload_bytes, "max_video_seconds": config.max_video_seconds,
                "actors": list(ACTORS), "presets": list(PRESETS), "exercises": list(exercise_names()),
                "lanes": config.lanes, "local": config.is_local}

    # ------------------------------------------------------------------ uploads
    @app.post("/api/uploads")
    async def upload(request: Request):
        up = await uploads.receive(request, store, config)
        return up.to_dict()

    @app.get("/api/uploads")
    def list_uploads():
        return [u.to_dict() for u in store.list_uploads()]

    @app.get("/api/uploads/{upload_id}/thumb")
    def thumb(upload_id: str):
        up = store.get_upload(upload_id)
        path = work / "uploads" / f"{up.id}.thumb.png" if up else None
        if path is None or not path.is_file():
            raise _NotFound("no picture")
        return FileResponse(path, media_type="image/png")

    @app.delete("/api/uploads/{upload_id}")
    def delete_upload(upload_id: str):
        up = store.get_upload(upload_id)
        if up is None:
            raise _NotFound("no such upload")
        store.delete_upload(upload_id)
        uploads.remove(up, config)
        return {"deleted": upload_id}

    # ------------------------------------------------------------------ jobs
    @app.post("/api/jobs")
    async def create_job(request: Request):
        data = await body(request)
        kind = data.get("kind")
        if kind not in CHECKS:
            raise DancenowError(f"unknown kind of job {kind!r}")
        params = data.get("params") or {}
        if not isinstance(params, dict):
            raise DancenowError("params must be a JSON object")
        title, checked = CHECKS[kind](params, ctx)
        job = store.add_job(kind, LANES[kind], title, checked)
        runner.tick()
        return _job_view(store.get_job(job.id), work)

    @app.get("/api/jobs")
    def list_jobs(kind: str | None = None):
        return [_job_view(j, work, log_lines=0) for j in store.list_jobs(kind)]

    @app.get("/api/jobs/{job_id}")
    def get_job(job_id: str):
        return _job_view(job_or_404(job_id), work, log_lines=40)

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel_job(job_id: str):
        job_or_404(job_id)
        if not runner.cancel(job_id):
            raise DancenowError("the job has already finished")
        return _job_view(store.get_job(job_id), work)

    @app.post("/api/jobs/{job_id}/retry")
    def retry_job(job_id: str):
        job_or_404(job_id)
        if not store.retry(job_id):
            raise DancenowError("only a failed or cancelled job can be retried")
        runner.tick()
        return _job_view(store.get_job(job_id), work)

    @app.delete("/api/jobs/{job_id}")
    def delete_job(job_id: str):
        job_or_404(job_id)
        if not runner.delete(job_id):
            raise DancenowError("cancel the job before deleting it")
        return {"deleted": job_id}

    @app.get("/api/jobs/{job_id}/files/{key}")
    def job_file(job_id: str, key: str, download: int = 0):
        job = job_or_404(job_id)
        if job.state != "done" or not job.result or key not in job.result.get("files", {}):
            raise _NotFound("no such result (only a finished job has results)")
        path = _inside(work / "jobs" / job_id / "work", job.result["files"][key])
        media = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
        headers = {"Content-Security-Policy": REPORT_CSP} if media == "text/html" else {}
        if download:
            return FileResponse(path, media_type=media, filename=f"dancenow-{job_id}-{key}{path.suffix}", headers=headers)
        return FileResponse(path, media_type=media, headers=headers)

    @app.get("/api/jobs/{job_id}/sample")
    def job_sample(job_id: str):
        """The newest training sample (label | generated | real): progress, not a result."""
        job = job_or_404(job_id)
        rel = job.live.get("sample")
        if not rel:
            raise _NotFound("no sample yet")
        path = _inside(work / "jobs" / job_id / "work", rel)
        return FileResponse(path, media_type="image/png")

    @app.get("/api/jobs/{job_id}/log")
    def job_log(job_id: str):
        job_or_404(job_id)
        return Response("\n".join(_tail(work / "jobs" / job_id / "log.txt", 400)) + "\n", media_type="text/plain")

    # ------------------------------------------------------------------ models and the choreography stage
    @app.get("/api/models")
    def models(kind: str = "synth"):
        if kind not in ("synth", "choreo"):
            raise DancenowError("kind must be synth or choreo")
        return [{k: m[k] for k in ("id", "name", "job")} for m in ctx.models(kind)]

    @app.post("/api/choreo/sessions")
    async def open_session(request: Request):
        data = await body(request)
        model = ctx.model(data.get("model"), "choreo")
        sid, stream = await run_in_threadpool(choreo.open, model)
        return {"session": sid, "fps": stream.fps, "styles": stream.styles, "limbs": _limbs()}

    @app.post("/api/choreo/sessions/{sid}/frames")
    async def frames(sid: str, request: Request):
        import math

        data = await body(request)
        stream = choreo.get(sid)
        n = int(_clamp(data.get("n", 30), 1, CHOREO_CHUNK_MAX, "n"))
        liveliness = _clamp(data.get("liveliness", 1.0), 0.0, 2.0, "liveliness")
        style = _style(data.get("style"), stream.styles)
        first, body25 = await run_in_threadpool(stream.next, n, liveliness, style)
        rows = [[[None if not math.isfinite(v) else round(float(v), 4) for v in xy] for xy in frame] for frame in body25.tolist()]
        return {"first": first, "frames": rows}

    @app.post("/api/choreo/sessions/{sid}/save")
    async def save_dance(sid: str, request: Request):
        from dancenow.web.adapter import save_dance_input

        data = await body(request)
        stream = choreo.get(sid)
        upto = data.get("upto")
        upto = None if upto is None else int(_clamp(upto, 0, 1e9, "upto"))
        seconds = _clamp(data.get("seconds", 30), 1, 30, "seconds")
        pose, root = stream.last_seconds(seconds, upto)
        job_id = new_id()
        await run_in_threadpool(save_dance_input, work / "jobs" / job_id / "input" / "dance.npz", pose, root, stream.fps)
        style = _style(data.get("style"), stream.styles)
        params = {"style": style, "liveliness": data.get("liveliness")}
        title = f"dance video ({len(pose) / stream.fps:.0f} s, {', '.join(k for k, v in style.items() if v > 0) or 'any style'})"
        job = store.add_job("choreo_video", LANES["choreo_video"], title, params, job_id=job_id)
        runner.tick()
        return _job_view(job, work)

    @app.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def not_found(rest: str):
        raise _NotFound("not found")

    return app


class _NotFound(DancenowError):
    status = 404


def _inside(folder: Path, rel: str) -> Path:
    """folder/rel, only when it stays inside folder and is a file."""
    base = folder.resolve()
    path = (base / rel).resolve()
    if base not in path.parents or not path.is_file():
        raise _NotFound("not found")
    return path


def _clamp(v, lo: float, hi: float, what: str) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise DancenowError(f"{what} must be a number") from None
    if not lo <= v <= hi:
        raise DancenowError(f"{what} must be between {lo:g} and {hi:g}")
    return v


def _style(spec, styles: list[str]) -> dict[str, float]:
    if spec in (None, {}):
        return {}
    if not isinstance(spec, dict):
        raise DancenowError("style must be {name: weight}")
    out = {}
    for k, v in spec.items():
        if k not in styles:
            raise DancenowError(f"the model has no style {k!r}")
        out[k] = _clamp(v, 0, 1, f"the weight of {k}")
    return out


_LIMBS: list | None = None


def _limbs() -> list:
    global _LIMBS
    if _LIMBS is None:
        from dancenow.web.adapter import body_limbs

        _LIMBS = body_limbs()
    return _LIMBS


def _job_view(job, work: Path, log_lines: int = 8) -> dict:
    d = job.to_dict()
    if log_lines:
        d["log"] = _tail(work / "jobs" / job.id / "log.txt", log_lines)
    # what a page needs to know about params, without server paths
    d["params"] = _public(job.params)
    return d


def _public(v):
    if isinstance(v, dict):
        return {k: _public(x) for k, x in v.items() if k != "path"}
    if isinstance(v, list):
        return [_public(x) for x in v]
    return v


def serve(config: WebConfig, ready: Callable[[str], None] | None = None) -> None:
    """Run the app until interrupted (Ctrl-C or SIGTERM stop it cleanly: running jobs are ended
    and marked so). `ready(url)` is called once the port is bound."""
    import uvicorn

    from dancenow.guard import run_lock

    config = config.validate()
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as e:
        sock.close()
        raise DancenowError(f"cannot listen on {config.host}:{config.port}: {e.strerror or e}") from None
    config = replace(config, port=sock.getsockname()[1])
    # one server per work folder: a second would take the first one's running jobs for orphans
    with sock, run_lock(config.work_dir, "the web app's work folder"):
        app = create_app(config)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                               timeout_graceful_shutdown=5))
        if ready is not None:
            ready(config.url)
        server.run(sockets=[sock])
