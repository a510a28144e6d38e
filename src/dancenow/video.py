"""The only place that reads or writes video: RGB uint8 frames (H, W, 3) plus fps.

Reading streams frames from a background decoding thread (memory stays flat, the consumer
never waits on the decoder when it is slower than decoding). Still images (.png, .jpg, ...)
read as one-frame clips. Writing produces H.264 yuv420p .mp4 that browsers play, under a
temporary name renamed into place on success.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from dancenow.atomic import atomic_file
from dancenow.errors import DancenowError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
STILL_FPS = 30.0  # a still image is a one-frame clip at this nominal rate


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds. frame_count is exact for stills and an estimate from the
    container for videos (containers may not store it)."""

    path: Path
    fps: float
    width: int
    height: int
    frame_count: int

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DancenowError(f"file not found: {path}")
    if path.is_dir():
        raise DancenowError(f"{path} is a directory, not a video")
    if path.stat().st_size == 0:
        raise DancenowError(f"{path} is empty (0 bytes)")


def _check_fps(fps: float, path) -> None:
    from dancenow.guard import MAX_FPS

    if not (isinstance(fps, (int, float, np.number)) and np.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise DancenowError(f"{path}: frame rate must be in (0, {MAX_FPS:g}] fps, got {fps}")


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _read_image(path: Path) -> np.ndarray:  # see also images.read_image
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DancenowError(f"{path} is not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _open(path: Path):
    import av

    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise DancenowError(f"{path} is not a readable video ({e.strerror or type(e).__name__})") from None
    if not container.streams.video:
        container.close()
        raise DancenowError(f"{path} has no video stream")
    return container


def probe(path: str | os.PathLike) -> VideoInfo:
    """fps, size and (estimated) frame count of a video or image file."""
    path = Path(path)
    _check_file(path)
    if _is_image(path):
        img = _read_image(path)
        return VideoInfo(path, STILL_FPS, img.shape[1], img.shape[0], 1)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if not fps > 0:
            raise DancenowError(f"{path}: the video stream has no frame rate")
        count = int(stream.frames or 0)
        if count <= 0:
            dur = None
            if stream.duration and stream.time_base:
                dur = float(stream.duration * stream.time_base)
            elif container.duration:
                dur = container.duration / 1_000_000
            count = int(round(dur * fps)) if dur else 0
        w, h = stream.codec_context.width, stream.codec_context.height
        if not (w and h):
            raise DancenowError(f"{path}: the video stream has no frame size")
        return VideoInfo(path, fps, w, h, count)
    finally:
        container.close()


def _decode(path: Path, frames: "queue.Queue", stop: threading.Event) -> None:
    """Producer thread: decode into the queue; put an exception or None (end) last."""
    import av

    n = 0
    try:
        container = _open(path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                arr = frame.to_ndarray(format="rgb24")
                while not stop.is_set():
                    try:
                        frames.put(arr, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
                n += 1
            declared = int(stream.frames or 0)  # from the container header; 0 when unknown
        finally:
            container.close()
        if n == 0:
            raise DancenowError(f"{path} contains no decodable frames (empty or truncated video)")
        # a cut-off file (e.g. AVI) often decodes without an error, just fewer frames than its
        # header declares; allow a little slack for containers whose count is approximate
        if declared and n < declared - max(2, declared // 100):
            raise DancenowError(f"{path} is truncated: {n} frames decoded, its header declares {declared}")
        frames.put(None)
    except av.error.FFmpegError as e:
        frames.put(DancenowError(f"{path} is truncated or corrupt: decoding failed after {n} frames ({e.strerror or type(e).__name__})"))
    except BaseException as e:  # forwarded to the consumer, which re-raises it
        frames.put(e)


def _resample_indices(src_fps: float, dst_fps: float):
    """Yield, for each source frame index i, how many times it appears at dst_fps (nearest frame)."""
    k = 0
    i = 0
    ratio = src_fps / dst_fps
    while True:
        count = 0
        while int(np.floor(k * ratio + 0.5)) == i:
            count += 1
            k += 1
        yield count
        i += 1


def read_frames(path: str | os.PathLike, fps: float | None = None, prefetch: int = 16) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames (H, W, 3) one by one, decoded in a background thread.

    fps: resample to this frame rate by dropping or repeating the nearest frames (None: as is).
    Raises DancenowError naming the file if it is missing, empty, not a video or truncated.
    """
    path = Path(path)
    _check_file(path)
    if fps is not None:
        _check_fps(fps, path)
    if _is_image(path):
        yield _read_image(path)
        return
    info = probe(path)
    src_fps = info.fps
    if fps:
        from dancenow.guard import check_frames

        # resampling repeats frames: a typo in the rate must not run for days
        check_frames(info.frame_count * fps / src_fps, f"{path} resampled from {src_fps:g} to {fps:g} fps")
    repeats = _resample_indices(src_fps, fps) if fps else None
    frames: queue.Queue = queue.Queue(maxsize=prefetch)
    stop = threading.Event()
    worker = threading.Thread(target=_decode, args=(path, frames, stop), daemon=True, name="dancenow-decode")
    worker.start()
    try:
        while True:
            item = frames.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            if repeats is None:
                yield item
            else:
                for _ in range(next(repeats)):
                    yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def read_all(path: str | os.PathLike, fps: float | None = None) -> np.ndarray:
    """All frames as one (T, H, W, 3) array. For short clips and tests only."""
    return np.stack(list(read_frames(path, fps=fps)))


class VideoWriter:
    """Write RGB uint8 frames to an H.264 (yuv420p) .mp4, atomically.

        with VideoWriter("out.mp4", fps=30) as w:
            for frame in frames:
                w.write(frame)

    The file appears under its name only when the block ends without an error. Odd frame sizes
    are padded by one pixel (yuv420p needs even sizes).
    """

    def __init__(self, path: str | os.PathLike, fps: float, crf: int = 20, preset: str = "veryfast"):
        self.path = Path(path)
        if self.path.suffix.lower() not in (".mp4", ".m4v", ".mov"):
            raise DancenowError(f"video output must end in .mp4: {self.path}")
        _check_fps(fps, self.path)
        self.fps = fps
        self.crf, self.preset = crf, preset
        self.frames_written = 0
        self._atomic = None
        self._container = None
        self._stream = None

    def __enter__(self) -> "VideoWriter":
        self._atomic = atomic_file(self.path)
        self._tmp = self._atomic.__enter__()
        return self

    def _start(self, w: int, h: int) -> None:
        import av

        from dancenow.guard import MAX_SIDE

        if max(w, h) > MAX_SIDE:
            raise DancenowError(f"cannot write {self.path}: frames of {w}x{h} exceed {MAX_SIDE} pixels a side")

        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream("libx264", rate=rate)
        stream.width, stream.height = w + (w % 2), h + (h % 2)
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(self.crf), "preset": self.preset}
        self._stream = stream
        self.width, self.height = w, h

    def write(self, frame: np.ndarray) -> None:
        import av

        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise DancenowError(f"frames must be RGB uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
        h, w = frame.shape[:2]
        if self._stream is None:
            self._start(w, h)
        elif (w, h) != (self.width, self.height):
            raise DancenowError(f"frame size changed from {self.width}x{self.height} to {w}x{h}")
        if w % 2 or h % 2:
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
            self._container.mux(packet)
        self.frames_written += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._container is not None:
                if exc_type is None:
                    for packet in self._stream.encode():
                        self._container.mux(packet)
                self._container.close()
            if exc_type is None and self.frames_written == 0:
                raise DancenowError(f"no frames to write to {self.path}")
        except BaseException as e:
            if exc_type is None:  # our own failure: discard the temporary file, then raise it
                self._atomic.__exit__(type(e), e, e.__traceback__)
                raise
        self._atomic.__exit__(exc_type, exc, tb)


def write_video(path: str | os.PathLike, frames, fps: float, total: int | None = None,
                desc: str | None = None, progress: bool = False) -> Path:
    """Write an iterable of RGB uint8 frames as H.264 .mp4, or only the first frame when `path`
    is an image (.png, .jpg); returns the path. progress: a tqdm bar (`total`, `desc`)."""
    path = Path(path)
    if _is_image(path):
        from dancenow.images import write_image

        first = next(iter(frames), None)
        if first is None:
            raise DancenowError(f"no frames to write to {path}")
        return write_image(path, first)
    from tqdm import tqdm

    with VideoWriter(path, fps) as w:
        for f in tqdm(frames, total=total, unit="frame", desc=desc, disable=not progress):
            w.write(f)
    return path
