"""Live input and output shared by every live mode (choreography forecast, coach, transfer).

Input: RGB frames from a camera (OpenCV) or from a video file standing in for one. Output: a
window when there is a display, and/or a recording (.mp4). Each live mode only turns input
frames into output frames; where they come from and go to lives here.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from dancenow.errors import DancenowError

log = logging.getLogger(__name__)


def has_display() -> bool:
    """Whether a window can be opened (X11/Wayland on Linux; assumed on macOS and Windows)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def resolve_show(show: bool | None, record: str | os.PathLike | None) -> bool:
    """Whether a live mode shows a window: as asked, or (None) when there is a display. Without
    a window there must be a recording, or nothing would be seen or kept."""
    if show is None:
        show = has_display()
        if not show:
            if record is None:
                raise DancenowError("no display here: give --record out.mp4 to save what would be shown")
            log.warning("no display here: not showing a window, recording to %s only", record)
    elif not show and record is None:
        raise DancenowError("no window and no --record: nothing would be shown or saved")
    return show


def camera_frames(index: int = 0) -> Iterator[np.ndarray]:
    """RGB frames from a camera via OpenCV (dancenow.video reads files only)."""
    import cv2

    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        raise DancenowError(f"cannot open camera {index} (no camera on this machine?)")
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


@dataclass
class LiveInput:
    """Frames of a live session: `frames` (RGB), their `size` (w, h), `fps` (the rate frames
    arrive at) and `total` (known for a file, None for a camera)."""

    frames: Iterator[np.ndarray]
    size: tuple[int, int]
    fps: float
    total: int | None


def open_input(source: str | os.PathLike | None = None, camera: int | None = None,
               fps: float | None = None) -> LiveInput:
    """A camera (`camera` index) or a video file standing in for one (`source`), resampled to
    `fps` when given. Exactly one of the two must be given."""
    if (source is None) == (camera is None):
        raise DancenowError("give a camera or a --source video (one of the two)")
    if source is not None:
        from dancenow.video import probe, read_frames

        info = probe(source)
        rate = fps or info.fps
        total = int(round(info.frame_count * rate / info.fps)) or None
        return LiveInput(read_frames(source, fps=fps), info.size, rate, total)
    frames = camera_frames(camera)
    first = next(frames, None)
    if first is None:
        raise DancenowError(f"camera {camera} gave no frames")

    def chained():
        yield first
        yield from frames

    return LiveInput(chained(), (first.shape[1], first.shape[0]), fps or 30.0, None)


class LiveOutput:
    """Shows frames in a window (when `show`) and/or records them to `record` (.mp4), as a
    context manager. `closed` turns true when the user pressed q in the window."""

    def __init__(self, fps: float, show: bool | None = None, record: str | os.PathLike | None = None,
                 title: str = "dancenow"):
        self.show = has_display() if show is None else show
        if not self.show and record is None:
            raise DancenowError("no display here: give --record out.mp4 to save what would be shown")
        self.fps, self.record, self.title = fps, record, title
        self.closed = False
        self.frames = 0
        self._writer = None
        self._t0 = None

    def __enter__(self) -> "LiveOutput":
        if self.record is not None:
            from dancenow.video import VideoWriter

            self._writer = VideoWriter(self.record, self.fps)
            self._writer.__enter__()
        self._t0 = time.perf_counter()
        return self

    def write(self, frame: np.ndarray) -> None:
        if self._writer is not None:
            self._writer.write(frame)
        if self.show:
            import cv2

            cv2.imshow(self.title, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            if cv2.waitKey(1) & 0xFF == ord("q"):
                self.closed = True
        self.frames += 1

    @property
    def rate(self) -> float:
        """Frames shown per second of wall time so far."""
        return self.frames / max(time.perf_counter() - (self._t0 or time.perf_counter()), 1e-9)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.show:
                import cv2

                cv2.destroyAllWindows()
        finally:
            if self._writer is not None:
                self._writer.__exit__(exc_type, exc, tb)
