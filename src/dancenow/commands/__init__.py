"""The `dancenow` subcommands, one module per stage (mirroring `src/dancenow/`), and what they
share: error handling, option types and the flags that mean the same in every command.
A command parses its arguments, calls one library function and prints what it wrote; library
errors (DancenowError) become a one-line message and exit 1.

Flags mean one thing across all commands:
  -o/--output      what the command writes         --fps            the rate the command works at and writes
  --openpose-fps   rate of an OpenPose folder      --openpose-size  frame size of an OpenPose folder
  --openpose-video take both from this video       --size           size of the frames the command writes
  --seed           seed of the randomness          --poses          poses read instead of detected
  --device         auto (GPU if any) | cpu | cuda  --record         save what a live window shows
  --source         a video standing in for a camera (live modes)
  --reference      what the input is compared with   --history        record the run (coach progress database)
"""

from __future__ import annotations

import functools
import logging
import sys

import click

from dancenow.errors import DancenowError

log = logging.getLogger("dancenow")


def _errors_to_exit(fn, heavy: bool):
    """Turn library errors into `Error: <one line>` and a non-zero exit, never a traceback.
    heavy: the command runs torch for long enough that the thread count matters; set it to the
    idle cores before torch loads (see dancenow.compute)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if heavy:
            from dancenow.compute import configure_threads

            msg = configure_threads()
            if msg:
                log.info(msg)
        try:
            return fn(*args, **kwargs)
        except DancenowError as e:
            raise click.ClickException(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


def command(name: str | None = None, group: click.Group | None = None, heavy: bool = False, **kwargs):
    """`@command("name")` makes a subcommand with error handling (added to `group` when given;
    `dancenow.cli` adds the others); `heavy=True` for torch work (see dancenow.compute)."""

    def deco(fn):
        make = group.command if group is not None else click.command
        return make(name, **kwargs)(_errors_to_exit(fn, heavy))

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
            return x, y
        except ValueError:
            self.fail(f"expected X,Y in pixels, e.g. 640,360, got {value!r}", param, ctx)


class _Seconds(click.ParamType):
    name = "S,S,..."

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            return tuple(float(v) for v in str(value).split(",") if v.strip())
        except ValueError:
            self.fail(f"expected seconds separated by commas, e.g. 0,12.5,30, got {value!r}", param, ctx)


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
