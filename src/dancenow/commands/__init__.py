"""The `dancenow` subcommands, one module per stage (mirroring `src/dancenow/`), and what they
share: error handling, option types and the flags that mean the same in every command.
A command parses its arguments, calls one library function and prints what it wrote; library
errors (DancenowError) become a one-line message and exit 1, and so do OSErrors (a full disk
names the path) and, as a last resort, bugs (`dancenow --verbose` shows their traceback).

Before a command runs, `command(..., outputs={...})` checks its outputs against its inputs and
what is on disk (dancenow.guard: never an input, never another kind of file, --force to replace
a previous output), and every numeric option is checked against its bound (BOUNDS below; NaN
and infinity are refused everywhere).

Flags mean one thing across all commands:
  -o/--output      what the command writes         --fps            the rate the command works at and writes
  --openpose-fps   rate of an OpenPose folder      --openpose-size  frame size of an OpenPose folder
  --openpose-video take both from this video       --size           size of the frames the command writes
  --seed           seed of the randomness          --poses          poses read instead of detected
  --device         auto (GPU if any) | cpu | cuda  --record         save what a live window shows
  --source         a video standing in for a camera (live modes)
  --reference      what the input is compared with   --history        record the run (coach progress database)
  --force          replace a previous output of the same command (added by `command(outputs=...)`)
"""

from __future__ import annotations

import contextlib
import copy
import errno
import functools
import glob
import logging
import math
import os
import re
import sys
from pathlib import Path

import click

from dancenow import guard
from dancenow.errors import DancenowError

log = logging.getLogger("dancenow")

# Bounds of the numeric flags, by name (a flag means one thing everywhere, so one bound each;
# see dancenow.guard for why these numbers). Every float flag is also refused when NaN or
# infinite, and an integer flag not named here stays within a C int.
BOUNDS: dict[str, dict] = {
    "--fps": dict(lo=0, lo_open=True, hi=guard.MAX_FPS), "--openpose-fps": dict(lo=0, lo_open=True, hi=guard.MAX_FPS),
    "--seconds": dict(lo=0, lo_open=True, hi=guard.MAX_SECONDS),
    "--prime-seconds": dict(lo=0, lo_open=True, hi=guard.MAX_SECONDS),
    "--health-seconds": dict(lo=0, hi=guard.MAX_SECONDS), "--section-seconds": dict(lo=0, lo_open=True, hi=guard.MAX_SECONDS),
    "--band-seconds": dict(lo=0, lo_open=True, hi=guard.MAX_SECONDS),
    "--start": dict(lo=0, hi=guard.MAX_SECONDS), "--end": dict(lo=0, lo_open=True, hi=guard.MAX_SECONDS),  # seconds of a video
    "--horizon": dict(lo=0, lo_open=True, hi=60.0), "--context": dict(lo=0, lo_open=True, hi=60.0),  # seconds
    "--stride": dict(lo=1e-3, hi=guard.MAX_SECONDS),  # seconds between forecast windows
    "--steps": dict(lo=1, hi=guard.MAX_STEPS), "--checkpoint-every": dict(lo=1, hi=guard.MAX_STEPS),
    "--minutes": dict(lo=0, lo_open=True, hi=guard.MAX_MINUTES),
    "--batch-size": dict(lo=1, hi=65536), "--hidden": dict(lo=1, hi=65536), "--layers": dict(lo=1, hi=64),
    "--mixtures": dict(lo=1, hi=1024), "--threads": dict(lo=1, hi=4096), "--keep": dict(lo=1, hi=100000),
    "--lr": dict(lo=0, lo_open=True, hi=10.0), "--rollout-weight": dict(lo=0, hi=1e6),
    "--temperature": dict(lo=0, hi=100.0), "--guidance": dict(lo=0, hi=10.0), "--margin": dict(lo=0, hi=10.0),  # body heights
    "--max-frames": dict(lo=1, hi=guard.MAX_FRAMES), "--max-gap": dict(lo=0, hi=guard.MAX_FRAMES),
    "--every": dict(lo=1, hi=100000), "--examples": dict(lo=0, hi=1000), "--median-window": dict(lo=1, hi=10001),
    "--seed": dict(lo=0, hi=guard.MAX_SEED), "--actor-seed": dict(lo=0, hi=guard.MAX_SEED),
    "--camera": dict(lo=0, hi=1023),
}
INT_LIMIT = 2**31 - 1
DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _verbose() -> bool:
    return logging.getLogger("dancenow").getEffectiveLevel() <= logging.DEBUG


def _os_error_line(e: OSError) -> str:
    """One line for an OSError, naming the path when it has one (ENOSPC above all)."""
    where = e.filename if e.filename is not None else None
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device{f' writing {where}' if where else ''}: free some disk and run again"
    what = e.strerror or type(e).__name__
    return f"{where}: {what}" if where else f"{what} ({type(e).__name__})"


def _errors_to_exit(fn, heavy: bool, outputs: dict | None = None, path_params: set | None = None):
    """Turn library errors into `Error: <one line>` and a non-zero exit, never a traceback.
    heavy: the command runs torch for long enough that the thread count matters; set it to the
    idle cores before torch loads (see dancenow.compute). outputs: see `command`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from dancenow.native_logs import python_stderr_off_fd2

        python_stderr_off_fd2()  # so that native (C++) logs can be silenced without ours
        try:
            locks = []
            if outputs is not None:
                locks = _check_outputs(outputs, kwargs, kwargs.pop("force", False), path_params or set())
            if heavy:
                from dancenow.compute import configure_threads

                msg = configure_threads()
                if msg:
                    log.info(msg)
            with contextlib.ExitStack() as stack:
                for folder, kind in locks:  # one writer per run folder
                    stack.enter_context(guard.run_lock(folder, kind.name))
                return fn(*args, **kwargs)
        except DancenowError as e:
            raise click.ClickException(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except OSError as e:  # a full disk, a read-only file system, a vanished file...
            if _verbose():
                raise
            raise click.ClickException(_os_error_line(e)) from None
        except MemoryError:
            raise click.ClickException("out of memory: try a smaller size or a shorter input") from None
        except Exception as e:  # a bug: still one line for the user, the traceback with --verbose
            if _verbose():
                raise
            if "No space left on device" in str(e):  # an OSError a library wrapped in its own type
                raise click.ClickException(_os_error_line(OSError(errno.ENOSPC, "No space left on device"))) from None
            first = str(e).splitlines()[0] if str(e) else ""
            raise click.ClickException(f"internal error ({type(e).__name__}: {first[:200]}); "
                                       "`dancenow --verbose ...` shows the traceback: please report it") from None

    return wrapper


# ----------------------------------------------------------------------------- outputs

def _paths(value) -> list[str]:
    """The paths a parameter value names: a path, a tuple of them, a glob pattern's matches."""
    if value is None or isinstance(value, (bool, int, float)):
        return []
    if isinstance(value, (tuple, list)):
        return [p for v in value for p in _paths(v)]
    value = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(value, str) or not value:
        return []
    if any(c in value for c in "*?["):
        return glob.glob(value)
    return [value]


def _check_outputs(outputs: dict, kwargs: dict, force: bool, path_params: set) -> list[tuple[Path, guard.Kind]]:
    """Check the outputs; returns the run folders to lock (the resumable ones)."""
    pairs = []
    for name, spec in outputs.items():
        for path in _paths(kwargs.get(name)):
            got = spec(Path(path)) if callable(spec) and not isinstance(spec, guard.Kind) else spec
            pairs += got if isinstance(got, list) else [(Path(path), got)]
    named = [p for name, v in kwargs.items() if name not in outputs for p in _paths(v)]
    inputs = [p for p in named if os.path.lexists(p)]  # a string naming an existing file or folder is an input
    try:
        guard.check_outputs(pairs, inputs, force)
    except guard.NeedsForce:
        # a re-run with a mistake in it: let the command name the missing input (it fails
        # before writing) rather than ask for --force first
        if not any(name in path_params and not os.path.lexists(p)
                   for name, v in kwargs.items() if name not in outputs for p in _paths(v)):
            raise
    return [(p, k) for p, k in pairs if k.resumable and k.is_dir]


# ----------------------------------------------------------------------------- numbers

def _bounded(param: click.Parameter) -> None:
    """Give a numeric option its bound (BOUNDS) and refuse NaN and infinity, keeping its type
    (and so its help text)."""
    inner = param.type
    flag = max(param.opts, key=len) if param.opts else param.name
    if isinstance(inner, click.types.FloatParamType):
        bound, integer = BOUNDS.get(flag, {}), False
    elif isinstance(inner, click.types.IntParamType):
        bound, integer = BOUNDS.get(flag, dict(lo=-INT_LIMIT, hi=INT_LIMIT)), True
    elif flag == "--device":
        bound, integer = None, False
    else:
        return

    class Checked(type(inner)):
        def convert(self, value, p, ctx):
            v = super().convert(value, p, ctx)
            if bound is None:
                if not DEVICE.match(str(v)):
                    self.fail(f"expected auto, cpu, cuda, cuda:N or mps, got {v!r}", p, ctx)
                return v
            try:
                return guard.check_number(v, "", integer=integer, **bound)
            except DancenowError as e:
                self.fail(str(e), p, ctx)

    checked = copy.copy(inner)
    checked.__class__ = Checked
    param.type = checked


def command(name: str | None = None, group: click.Group | None = None, heavy: bool = False,
            outputs: dict | None = None, **kwargs):
    """`@command("name")` makes a subcommand with error handling (added to `group` when given;
    `dancenow.cli` adds the others); `heavy=True` for torch work (see dancenow.compute).

    outputs: {parameter name: what it writes}, checked by `dancenow.guard` before the command
    runs: a `guard.Kind`, or a function of the path giving a Kind or [(path, Kind), ...] (for
    files written beside it). Every other parameter naming an existing path is an input, so an
    output can never be, hold or sit inside an input. A `--force` flag (to replace a previous
    output of the same kind) is added unless every output is resumable. Numeric options get
    their bound from BOUNDS; --device is checked."""

    def deco(fn):
        make = group.command if group is not None else click.command
        path_params: set = set()  # filled below, read when the command runs
        cmd = make(name, **kwargs)(_errors_to_exit(fn, heavy, outputs, path_params))
        for p in cmd.params:
            _bounded(p)
            if isinstance(p.type, click.Path):
                path_params.add(p.name)
        if outputs is not None and not all(isinstance(k, guard.Kind) and k.resumable for k in outputs.values()):
            cmd.params.append(click.Option(["--force"], is_flag=True,
                                           help="Replace a previous output of this command (never an input or another kind of file)."))
        return cmd

    return deco


class _Size(click.ParamType):
    """WIDTHxHEIGHT, or N for a square N x N where `square` is allowed."""

    name = "WxH"

    def __init__(self, square: bool = False):
        self.square = square

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            parts = [int(v) for v in str(value).lower().split("x")]
            if len(parts) == 1 and self.square:
                parts *= 2
            w, h = parts
            if w > 0 and h > 0:
                if max(w, h) > guard.MAX_SIDE:
                    self.fail(f"{w}x{h} is too large: at most {guard.MAX_SIDE} pixels a side", param, ctx)
                return w, h
        except ValueError:
            pass
        self.fail(f"expected WIDTHxHEIGHT{' or N' if self.square else ''}, e.g. 640x360, got {value!r}", param, ctx)


class _Point(click.ParamType):
    name = "X,Y"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            x, y = (float(v) for v in str(value).split(","))
        except ValueError:
            self.fail(f"expected X,Y in pixels, e.g. 640,360, got {value!r}", param, ctx)
        if not (math.isfinite(x) and math.isfinite(y)):
            self.fail(f"expected finite X,Y in pixels, got {value!r}", param, ctx)
        return x, y


class _Seconds(click.ParamType):
    name = "S,S,..."

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            seconds = tuple(float(v) for v in str(value).split(",") if v.strip())
        except ValueError:
            self.fail(f"expected seconds separated by commas, e.g. 0,12.5,30, got {value!r}", param, ctx)
        if not all(0 <= s <= guard.MAX_SECONDS for s in seconds):  # NaN fails this too
            self.fail(f"expected seconds in [0, {guard.MAX_SECONDS:g}], got {value!r}", param, ctx)
        return seconds


SIZE, SQUARE_OR_SIZE, POINT, SECONDS = _Size(), _Size(square=True), _Point(), _Seconds()
POSITIVE = click.FloatRange(min=0, min_open=True)


def openpose_options(fn):
    """--openpose-fps/--openpose-size/--openpose-video: what an OpenPose JSON folder lacks."""
    for opt in reversed([
        click.option("--openpose-fps", type=POSITIVE, default=None, help="Frame rate of an OpenPose JSON folder (it stores none)."),
        click.option("--openpose-size", type=SIZE, default=None, help="Frame size WIDTHxHEIGHT of an OpenPose JSON folder."),
        click.option("--openpose-video", type=click.Path(), default=None, help="Take an OpenPose folder's rate and size from this video."),
    ]):
        fn = opt(fn)
    return fn


def wrote(path, extra: str = "") -> None:
    click.echo(f"wrote {path}{extra}")
