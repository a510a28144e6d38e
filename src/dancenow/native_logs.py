"""Keep third-party C++ logging (MediaPipe, TFLite, absl, glog) off the console.

MediaPipe's graphs print warnings such as `inference_feedback_manager.cc:114] Feedback manager
requires a model with a single signature inference` from C++ threads straight to file
descriptor 2, dozens per run, whatever Python's logging says; absl writes everything before its
own initialisation there too, so environment variables alone do not silence it. So:

- `quiet_environment()` sets the variables the libraries do read (glog, TensorFlow) before
  MediaPipe loads;
- `python_stderr_off_fd2()` (the CLI calls it at start) gives Python's own stderr a duplicate of
  the terminal, so that fd 2 can be pointed elsewhere without hiding our messages, progress
  bars or tracebacks;
- `silenced()` points fd 2 at /dev/null while a model is built and runs (nested uses count).
  When Python's stderr still writes to fd 2 (a library user who did not call the above), only
  the model's construction is silenced, never our own output.

`dancenow --verbose` turns all of this off: every native line shows again.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
from typing import Iterator

_QUIET_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR"}
_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None


def verbose() -> bool:
    """`dancenow --verbose` (debug logging): native logs are shown."""
    return logging.getLogger("dancenow").isEnabledFor(logging.DEBUG)


def quiet_environment() -> None:
    """Ask glog/TensorFlow for errors only (read when their libraries load); a value the user
    set stays."""
    if not verbose():
        for k, v in _QUIET_ENV.items():
            os.environ.setdefault(k, v)


def _python_stderr_fd() -> int | None:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None  # captured (click's CliRunner, pytest): not the terminal's fd


def python_stderr_off_fd2() -> None:
    """Make Python's sys.stderr write to its own duplicate of fd 2 (the same terminal), and move
    logging handlers that wrote to the old one, so `silenced()` hides only native output."""
    if verbose() or _python_stderr_fd() != 2:
        return
    old = sys.stderr
    old.flush()
    new = io.TextIOWrapper(io.FileIO(os.dup(2), "w"), encoding=old.encoding, errors=old.errors,
                           line_buffering=True)
    sys.stderr = new
    for handler in logging.getLogger().handlers + logging.getLogger("dancenow").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is old:
            handler.setStream(new)


@contextlib.contextmanager
def silenced(during_construction_only: bool = False) -> Iterator[None]:
    """fd 2 -> /dev/null for the block (native writers only, once Python's stderr is off fd 2).
    during_construction_only: the caller knows the block prints nothing of ours."""
    global _depth, _saved_fd
    if verbose() or (_python_stderr_fd() == 2 and not during_construction_only):
        yield
        return
    with _lock:
        if _depth == 0:
            sys.stderr.flush()
            _saved_fd = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved_fd is not None:
                os.dup2(_saved_fd, 2)
                os.close(_saved_fd)
                _saved_fd = None


class Silence:
    """A silence held from `start()` to `stop()` (for an object that lives across calls: a model
    built in __init__, run frame by frame, closed in close())."""

    def __init__(self) -> None:
        self._cm = None

    def start(self) -> None:
        if self._cm is None:
            self._cm = silenced()
            self._cm.__enter__()

    def stop(self) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            cm.__exit__(None, None, None)
