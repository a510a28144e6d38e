"""Receiving an upload: the request body streamed to disk under a generated name, cut off at the
size limit, then checked by its content (a video must decode, an image load, a pose or motion
file read). The client's file name is kept for display only; no client text becomes a path.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from pathlib import Path

from dancenow.errors import DancenowError
from dancenow.web.config import WebConfig
from dancenow.web.db import JobStore, Upload, new_id

log = logging.getLogger(__name__)


class UploadRefused(DancenowError):
    """An upload the app will not keep; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def display_name(name: str | None) -> str:
    """The client's file name, made harmless for display: its last part, printable, short."""
    name = re.split(r"[\\/]", str(name or ""))[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] not in "CZ" or ch == " ").strip()
    return (name or "upload")[:80]


def too_large(limit_bytes: int) -> UploadRefused:
    return UploadRefused(f"the file is too large: the limit is {limit_bytes / 1024 / 1024:g} MB", 413)


async def receive(request, store: JobStore, config: WebConfig) -> Upload:
    """Store the body of `request` (the raw file) as an upload; UploadRefused when it is too
    large, empty or not a file the app can use."""
    from starlette.concurrency import run_in_threadpool

    limit = config.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    folder = Path(config.work_dir) / "uploads"
    incoming = folder / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    upload_id = new_id()
    part = incoming / upload_id
    size = 0
    try:
        with open(part, "wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                f.write(chunk)
        if size == 0:
            raise UploadRefused("the file is empty")
        return await run_in_threadpool(_keep, part, upload_id, display_name(request.query_params.get("name")), size, store, config)
    finally:
        part.unlink(missing_ok=True)


def _keep(part: Path, upload_id: str, name: str, size: int, store: JobStore, config: WebConfig) -> Upload:
    from dancenow.web import adapter

    sniffed = adapter.sniff(part)
    suffix = {"npz": ".npz", "bvh": ".bvh"}.get(sniffed)
    if suffix is None:
        suffix = _image_suffix(part) if sniffed == "image" else adapter.video_suffix(part)
    folder = Path(config.work_dir) / "uploads"
    stored = folder / f"{upload_id}{suffix}"
    os.replace(part, stored)
    try:
        kind, info = adapter.check_upload(stored, sniffed, config.max_video_seconds)
        try:
            adapter.thumbnail(stored, kind, folder / f"{upload_id}.thumb.png")
        except DancenowError as e:  # a thumbnail is a nicety
            log.warning("no thumbnail for %s: %s", name, e)
    except DancenowError as e:
        stored.unlink(missing_ok=True)
        raise UploadRefused(f"{name}: {e}") from None
    except Exception:
        stored.unlink(missing_ok=True)
        log.exception("checking upload %s", name)
        raise UploadRefused(f"{name}: not a file this app can read") from None
    return store.add_upload(upload_id, kind, name, stored.name, size, info)


def _image_suffix(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if head.startswith(b"RIFF"):
        return ".webp"
    if head.startswith(b"BM"):
        return ".bmp"
    return ".png"


def remove(upload: Upload, config: WebConfig) -> None:
    folder = Path(config.work_dir) / "uploads"
    (folder / upload.file).unlink(missing_ok=True)
    (folder / f"{upload.id}.thumb.png").unlink(missing_ok=True)
