"""Checks made before anything is written, shared by every command.

A command calls these after parsing and before its library function creates a file:

- `check_outputs([(path, KIND), ...], inputs=[...], force=...)`: refuse an output that is, or
  is inside, an input (or holds one); that sits under a file or in a folder that cannot be
  written; that would replace something of another kind (a text file where an OpenPose folder
  goes, a folder where a video goes); or that would replace a previous output of the same kind
  without `--force`. Two outputs of one command may not collide either.
- `check_number` / `check_size` / `check_frames`: sizes, rates, durations and counts within
  the bounds below; the message names the option and the bound.
- `check_free_space(path, nbytes, what)`: before a large write (a memory map that meets a full
  disk kills the process with SIGBUS, with no message); `preallocate` reserves the space.
- `run_lock(folder)`: one writer per run folder; a second gets a one-line error. The lock is a
  kernel file lock (flock): it dies with its process, so a crashed run never blocks the next.

Every check raises DancenowError with one line naming the path or the option.

How a command recognises its own previous output (so `--force` may replace it): by content,
cheaply: our .npz pose files carry the format tag `dancenow.poses`; an OpenPose folder we wrote
holds only `*_keypoints.json` files; a video is an ISO-BMFF (.mp4/.mov) file; an image has its
format's magic bytes; a JSON output parses as JSON; a report or run folder holds only the names
its command writes (or the marker files it names). An empty file or an empty folder holds
nothing to lose and is always replaced.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import json
import math
import os
import shutil
import socket
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from dancenow.errors import DancenowError

# ----------------------------------------------------------------------------- bounds
# Generous for real use, small enough that a typo cannot run for days or fill a disk.
MAX_SIDE = 8192  # pixels per side of a frame a command writes (8K); 30000x30000 is 2.7 GB a frame
MAX_FPS = 1000.0  # frames per second (high-speed cameras); 1e9 repeats each frame a billion times
MAX_SECONDS = 4 * 3600.0  # length of a generated clip or a live session
MAX_FRAMES = 1_000_000  # frames one command produces (9 hours at 30 fps)
MAX_STEPS = 100_000_000  # training steps (the paper's schedule is ~ 1e6)
MAX_MINUTES = 30 * 24 * 60.0  # a training budget
MAX_COUNT = 1 << 20  # widths, batch sizes, thread counts, mixture counts, layer counts...
MAX_SEED = 2**32 - 1  # numpy and torch accept seeds in [0, 2**32) everywhere
DISK_MARGIN = 256 << 20  # bytes left free beside a large write


def _say(name: str, text: str) -> str:
    return f"{name} {text}" if name else text


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def check_number(value, name: str = "", *, lo=None, hi=None, lo_open: bool = False, hi_open: bool = False,
                 integer: bool = False):
    """`value` unless it is NaN, infinite or out of [lo, hi] (open ends when asked); the message
    names `name` (e.g. '--fps') and the bound. Returns the value (an int when `integer`)."""
    try:
        v = float(value)
    except OverflowError:  # an int beyond any float
        raise DancenowError(_say(name, f"is far too large, got {value}")) from None
    except (TypeError, ValueError):
        raise DancenowError(_say(name, f"must be a number, got {value!r}")) from None
    if not math.isfinite(v):
        raise DancenowError(_say(name, f"must be a finite number, got {value}"))
    if integer and v != int(v):
        raise DancenowError(_say(name, f"must be a whole number, got {value}"))
    low = lo is not None and (v <= lo if lo_open else v < lo)
    high = hi is not None and (v >= hi if hi_open else v > hi)
    if low or high:
        if lo is not None and hi is not None:
            rng = f"{'(' if lo_open else '['}{_fmt(lo)}, {_fmt(hi)}{')' if hi_open else ']'}"
            raise DancenowError(_say(name, f"must be in {rng}, got {_fmt(value)}"))
        if low:
            raise DancenowError(_say(name, f"must be {'above' if lo_open else 'at least'} {_fmt(lo)}, got {_fmt(value)}"))
        raise DancenowError(_say(name, f"must be {'below' if hi_open else 'at most'} {_fmt(hi)}, got {_fmt(value)}"))
    return int(value) if integer else value


def check_size(size: Sequence[int], name: str = "--size", max_side: int = MAX_SIDE) -> tuple[int, int]:
    """A frame size (width, height): positive whole pixels, each side at most `max_side`."""
    try:
        w, h = size
    except (TypeError, ValueError):
        raise DancenowError(_say(name, f"must be WIDTHxHEIGHT, got {size!r}")) from None
    for v in (w, h):
        check_number(v, name, lo=1, integer=True)
    if w > max_side or h > max_side:
        raise DancenowError(f"{name} {w}x{h} is too large: at most {max_side} pixels a side")
    return int(w), int(h)


def check_frames(n: float, what: str, limit: int = MAX_FRAMES) -> int:
    """The number of frames a command will produce (e.g. seconds x fps), at most `limit`."""
    if not (math.isfinite(n) and n <= limit):
        raise DancenowError(f"{what} would be {_fmt(float(n))} frames, more than the limit of {limit}: "
                            "shorten it or lower the frame rate")
    return int(n)


# ----------------------------------------------------------------------------- output kinds

def _head(path: Path, n: int = 16) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _is_pose_npz(path: Path) -> bool:
    import numpy as np

    try:
        with zipfile.ZipFile(path) as z:
            if "format.npy" not in z.namelist():
                return False
        with np.load(path, allow_pickle=False) as npz:  # reads only the member asked for
            return str(npz["format"]) == "dancenow.poses"
    except Exception:  # anything unreadable is not our pose file
        return False


def _is_json(path: Path) -> bool:
    try:
        if path.stat().st_size > 256 << 20:
            return False
        json.loads(path.read_text())
        return True
    except (OSError, ValueError):
        return False


def _is_text(path: Path) -> bool:
    try:
        if path.stat().st_size > 256 << 20:
            return False
        path.read_text(encoding="utf-8")
        return True
    except (OSError, ValueError):
        return False


_IMAGE_MAGIC = {".png": (b"\x89PNG",), ".jpg": (b"\xff\xd8",), ".jpeg": (b"\xff\xd8",), ".bmp": (b"BM",),
                ".webp": (b"RIFF",), ".tif": (b"II*\x00", b"MM\x00*"), ".tiff": (b"II*\x00", b"MM\x00*")}
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")


def _is_video_or_image(path: Path) -> bool:
    head = _head(path)
    suffix = path.suffix.lower()
    if suffix in _IMAGE_MAGIC:
        return head.startswith(_IMAGE_MAGIC[suffix])
    return head[4:8] == b"ftyp"


@dataclass(frozen=True)
class Kind:
    """What a command writes at one output path.

    name: said in messages ("pose file", "video").
    is_dir: the output is a folder.
    recognise: whether an existing path holds a previous output of this kind (may be replaced
        with --force).
    suffixes: the output's name must end in one of these (empty: any).
    resumable: a previous output of this kind is continued, not replaced: no --force needed
        (run folders of train / prepare / choreo train, a history database); a resumable folder
        is locked while its command runs.
    """

    name: str
    is_dir: bool
    recognise: Callable[[Path], bool] = field(compare=False)
    suffixes: tuple[str, ...] = ()
    resumable: bool = False


def folder(name: str, patterns: Iterable[str] = ("*",), markers: Iterable[str] = (), resumable: bool = False) -> Kind:
    """A folder output: a previous one holds only names matching `patterns` (hidden files and the
    lock aside) and, when `markers` (patterns too) are given, at least one name matching one."""
    patterns, markers = tuple(patterns), tuple(markers)

    def recognise(path: Path) -> bool:
        try:
            names = [n for n in os.listdir(path) if not n.startswith(".")]
        except OSError:
            return False
        if not all(any(fnmatch.fnmatch(n, p) for p in patterns) for n in names):
            return False
        return not markers or any(fnmatch.fnmatch(n, m) for n in names for m in markers)

    return Kind(name, True, recognise, resumable=resumable)


NPZ = Kind("dancenow pose file (.npz)", False, _is_pose_npz, (".npz",))
OPENPOSE = folder("OpenPose folder", patterns=("*_keypoints.json",))
VIDEO = Kind("video", False, _is_video_or_image, VIDEO_SUFFIXES + tuple(_IMAGE_MAGIC))
MP4 = Kind("video", False, _is_video_or_image, VIDEO_SUFFIXES)
IMAGE = Kind("image", False, _is_video_or_image, tuple(_IMAGE_MAGIC))
JSON = Kind("JSON file", False, _is_json)
TEXT = Kind("text file", False, _is_text)
FILE = Kind("file", False, lambda p: True)  # anything a command writes that it cannot recognise


# folders a command continues rather than replaces (each command decides how to resume)
DATA_DIR = folder("prepared data folder", markers=("meta.json",), resumable=True)
RUN_DIR = folder("training run folder", markers=("train_config.json", "checkpoints", "config.json"), resumable=True)
CHOREO_DIR = folder("choreography model folder", markers=("step-*", "*.json"), resumable=True)
DEMO_DIR = folder("demo folder", markers=("summary.md", "metrics.json", "target.mp4", "source.mp4", "data", "model"),
                  resumable=True)
REPORT_DIR = folder("report folder", patterns=("report.html", "report.json", "pose.png"))
CSV = Kind("CSV file", False, _is_text, (".csv",))
# a database a command appends to (in transactions): continued, never replaced
SQLITE = Kind("SQLite database", False, lambda p: _head(p).startswith(b"SQLite format 3\0"), resumable=True)


def poses_kind(path: str | os.PathLike) -> Kind:
    """A pose output: `.npz` for our file, an OpenPose folder for any other path."""
    return NPZ if str(path).lower().endswith(".npz") else OPENPOSE


def poses_or_video(path: str | os.PathLike) -> Kind:
    """A pose output, or a video of it when the path ends in .mp4 (or an image suffix)."""
    suffix = Path(path).suffix.lower()
    return VIDEO if suffix in VIDEO.suffixes else poses_kind(path)


def report_with_extras(path: Path) -> list[tuple[Path, Kind]]:
    """A JSON report and what is written beside it: NAME.md and NAME_frames.png."""
    return [(path, JSON), (path.with_name(f"{path.stem}.md"), TEXT), (path.with_name(f"{path.stem}_frames.png"), IMAGE)]


# ----------------------------------------------------------------------------- paths

class NeedsForce(DancenowError):
    """The output holds a previous output of the same kind: replaced only with --force."""


def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def _inside(child: Path, parent: Path) -> bool:
    return child != parent and parent in child.parents


def _describe(path: Path) -> str:
    if path.is_dir():
        return "a folder"
    if path.is_symlink() and not path.exists():
        return "a broken link"
    if not path.is_file():
        return "not a regular file"
    return "a file"


def check_output(path: str | os.PathLike, kind: Kind, inputs: Iterable = (), force: bool = False) -> Path:
    """Refuse `path` as an output of `kind` (see the module docstring); returns it as a Path.
    Nothing is created."""
    return check_outputs([(path, kind)], inputs, force)[0]


def check_outputs(outputs: Iterable[tuple], inputs: Iterable = (), force: bool = False) -> list[Path]:
    """`check_output` for several outputs of one command, which may not collide either.
    `outputs`: (path, Kind) pairs, None paths skipped; `inputs`: paths, None skipped."""
    pairs = [(Path(p), k) for p, k in outputs if p is not None and str(p) != ""]
    ins = [(Path(p), _real(p)) for p in inputs if p is not None and str(p) != ""]
    seen: dict[Path, Path] = {}
    for path, kind in pairs:
        real = _real(path)
        for other_real, other in seen.items():
            if real == other_real or _inside(real, other_real) or _inside(other_real, real):
                raise DancenowError(f"two outputs of one command collide: {other} and {path}")
        seen[real] = path
        _check_one(path, real, kind, ins, force)
    return [p for p, _ in pairs]


def _check_one(path: Path, real: Path, kind: Kind, inputs: list[tuple[Path, Path]], force: bool) -> None:
    for given, inp in inputs:
        if real == inp or (path.exists() and given.exists() and _samefile(path, given)):
            raise DancenowError(f"output {path} is the input {given}: choose another output path")
        if _inside(real, inp):
            raise DancenowError(f"output {path} is inside the input folder {given}: choose another output path")
        if _inside(inp, real):
            raise DancenowError(f"the input {given} is inside the output {path}: choose another output path")
    if kind.suffixes and path.suffix.lower() not in kind.suffixes:
        raise DancenowError(f"output {path}: a {kind.name} must end in {' or '.join(kind.suffixes)}")
    # the nearest existing folder above the output must be a writable folder (named as given)
    parent = path.parent
    while not (parent.exists() or parent.is_symlink()) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise DancenowError(f"cannot write {path}: {parent} is {_describe(parent)}, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DancenowError(f"cannot write {path}: folder {parent} is not writable")
    if not (path.exists() or path.is_symlink()):
        return
    if path.is_symlink() and not path.exists():
        raise DancenowError(f"refusing to replace {path}: it is a broken link; choose another output path")
    if kind.is_dir and not path.is_dir():
        raise DancenowError(f"refusing to replace {path}: it is {_describe(path)}, and the output is a folder "
                            f"({kind.name}); choose another output path")
    if not kind.is_dir and path.is_dir():
        raise DancenowError(f"refusing to replace {path}: it is a folder, and the output is a {kind.name}; "
                            "choose another output path")
    if not kind.is_dir and not path.is_file():
        raise DancenowError(f"refusing to replace {path}: it is {_describe(path)}; choose another output path")
    if _empty(path):
        return
    if kind.is_dir and not os.access(path, os.W_OK | os.X_OK):
        raise DancenowError(f"cannot write {path}: the folder is not writable")
    if not kind.recognise(path):
        what = f"a folder holding other files than a {kind.name}" if kind.is_dir else f"{_describe(path)} that is not a {kind.name}"
        raise DancenowError(f"refusing to replace {path}: it is {what}; choose another output path")
    if not (force or kind.resumable):
        raise NeedsForce(f"{path} exists (a previous {kind.name}): pass --force to replace it")


def _samefile(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _empty(path: Path) -> bool:
    try:
        if path.is_dir():
            return not any(n for n in os.listdir(path) if n != LOCK_NAME)
        return path.stat().st_size == 0
    except OSError:
        return False


# ----------------------------------------------------------------------------- disk

def _existing_ancestor(path: Path) -> Path:
    path = _real(path)
    while not path.exists():
        path = path.parent
    return path


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def check_free_space(path: str | os.PathLike, nbytes: int, what: str) -> None:
    """Refuse a write of about `nbytes` under `path` when the disk has less free (plus a margin)."""
    where = _existing_ancestor(Path(path))
    free = shutil.disk_usage(where).free
    if nbytes + DISK_MARGIN > free:
        raise DancenowError(f"not enough free disk for {what}: it needs {human_bytes(nbytes)} under {where}, "
                            f"{human_bytes(free)} is free")


def preallocate(f, nbytes: int, path: str | os.PathLike) -> None:
    """Reserve `nbytes` for the open file `f` (a file object or descriptor) so that a memory map
    over it meets a full disk here, as one line, rather than as SIGBUS later."""
    fd = f if isinstance(f, int) else f.fileno()
    try:
        os.posix_fallocate(fd, 0, int(nbytes))
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.EINVAL, getattr(errno, "ENOTSUP", -1)):
            return  # the file system cannot reserve: the free-space check stands alone
        raise DancenowError(f"cannot write {path}: {e.strerror} ({human_bytes(nbytes)} needed)") from None


def reserve(path: str | os.PathLike) -> None:
    """Reserve the whole length of the file at `path` (e.g. a fresh memory map, which numpy makes
    sparse): a full disk then fails here as one line instead of SIGBUS while the map is written."""
    with open(path, "r+b") as f:
        preallocate(f, os.fstat(f.fileno()).st_size, path)


# ----------------------------------------------------------------------------- one writer per folder

LOCK_NAME = ".dancenow.lock"
_HELD: dict[str, int] = {}  # folders this process holds locked (a nested run_lock is a no-op)


def _lock_owner(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
        return f"process {info.get('pid', '?')} on {info.get('host', '?')}, started {started}"
    except (OSError, ValueError):
        return "another process"


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike, what: str = "run folder") -> Iterator[Path]:
    """Hold `folder`/.dancenow.lock for the block: a second writer of the same folder gets one
    line naming the first. The folder is created if needed (and removed again if the block fails
    and leaves it empty). A lock left by a dead process is taken over: the kernel drops a flock
    with its process."""
    import fcntl

    folder = Path(folder)
    key = str(_real(folder))
    if int(os.environ.get("RANK", "0") or 0) != 0:  # torchrun: rank 0 holds the lock for the run
        yield folder
        return
    if key in _HELD:  # this process holds it already (a command locks, then its library function)
        _HELD[key] += 1
        try:
            yield folder
        finally:
            _HELD[key] -= 1
        return
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DancenowError(f"cannot create {folder}: {e.strerror or e}") from None
    path = folder / LOCK_NAME
    ok = False
    fd = -1
    try:
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise DancenowError(f"cannot lock {folder}: {e.strerror or e}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _lock_owner(fd)
                os.close(fd)
                fd = -1
                raise DancenowError(f"{folder} is in use by {owner} ({what}): wait for it to finish or stop it") from None
            # the holder before us may have removed the file after we opened it: lock the file
            # that is at the path now, or two writers would hold two different files
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
            fd = -1
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}).encode())
        except OSError as e:  # a full disk: give the folder back as it was
            with contextlib.suppress(OSError):
                os.unlink(path)
            os.close(fd)
            fd = -1
            raise DancenowError(f"cannot write {path}: {e.strerror or e}") from None
        _HELD[key] = 1
        try:
            yield folder
            ok = True
        finally:
            del _HELD[key]
            with contextlib.suppress(OSError):
                os.unlink(path)  # while still locked, so a waiting writer re-checks the path
            os.close(fd)
    finally:
        if created and not ok:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: a failed first run leaves nothing behind
