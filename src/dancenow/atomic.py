"""Write outputs under a temporary name and rename them into place, so nothing is ever half-written."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from dancenow.errors import DancenowError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _prepare_parent(path: Path) -> tuple[Path, list[Path]]:
    """The folder `path` goes in, created when missing; also the folders made (innermost
    first), so that a failed write can remove them again."""
    parent = path.parent if str(path.parent) else Path(".")
    made = []
    p = parent
    while not p.exists() and p != p.parent:
        made.append(p)
        p = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DancenowError(f"cannot write {path}: {e.strerror or e}") from None
    if not os.access(parent, os.W_OK):
        _remove_empty(made)
        raise DancenowError(f"cannot write {path}: directory {parent} is not writable")
    return parent, made


def _remove_empty(folders: list[Path]) -> None:
    for f in folders:  # innermost first; a folder someone else filled meanwhile stays
        try:
            f.rmdir()
        except OSError:
            break


_WRITE_ERRORS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                 errno.EROFS: "read-only file system", errno.EFBIG: "file too large", errno.EIO: "input/output error"}


def _failed_write(path: Path, e: BaseException) -> BaseException:
    """An OSError that says the disk refused the write (full, read-only...) as one line naming
    `path`; anything else (e.g. an input that vanished) as it is."""
    if isinstance(e, OSError) and e.errno in _WRITE_ERRORS:
        return DancenowError(f"cannot write {path}: {_WRITE_ERRORS[e.errno]} (nothing was written)")
    if isinstance(e, Exception) and "No space left on device" in str(e):  # wrapped by a library (safetensors, PyAV)
        return DancenowError(f"cannot write {path}: {_WRITE_ERRORS[errno.ENOSPC]} (nothing was written)")
    return e


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix); rename it onto `path` only on success."""
    path = Path(path)
    parent, made = _prepare_parent(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=parent)
    except OSError as e:
        _remove_empty(made)
        raise _failed_write(path, e) from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        _remove_empty(made)
        err = _failed_write(path, e)
        if err is e:
            raise
        raise err from None


def write_json(path: str | os.PathLike, data, indent: int = 1, end: str = "", **dumps_kw) -> Path:
    """Write `data` as JSON to `path` atomically (extra keywords go to json.dumps); returns the path."""
    import json

    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=indent, **dumps_kw) + end)
    return path


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; on success it replaces `path` (old contents go)."""
    path = Path(path)
    parent, made = _prepare_parent(path)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    except OSError as e:
        _remove_empty(made)
        raise _failed_write(path, e) from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the usual folder mode
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(made)
        err = _failed_write(path, e)
        if err is e:
            raise
        raise err from None


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes (hex), read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
