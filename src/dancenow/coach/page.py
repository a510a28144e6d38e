"""What the coach's HTML pages share: images embedded inline (a page opens offline, with no
network at all), frames fetched from a video in one pass, crops around a person, labels, and
the base style sheet."""

from __future__ import annotations

import base64
import html
import io
import logging
import os
from typing import Iterable, Union

import cv2
import numpy as np

from dancenow.errors import DancenowError

log = logging.getLogger(__name__)

FrameSource = Union[str, os.PathLike, Iterable[np.ndarray], None]
CANVAS = (32, 32, 36)  # RGB background of stills without a video frame

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}
h1{margin:0 0 4px} h2{margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
.top{display:flex;gap:32px;align-items:center;flex-wrap:wrap}
.big{font-size:72px;font-weight:700;line-height:1} .big small{font-size:24px;color:#777}
table{border-collapse:collapse;font-size:14px} td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
.good{color:#2e7d32;font-weight:600} .ok{color:#ef6c00;font-weight:600} .bad{color:#c62828;font-weight:600} .na{color:#999}
.tips li{margin:4px 0;font-size:16px} .plot{width:100%;max-width:1100px}
.muted{color:#666;font-size:13px}
"""


def png(rgb: np.ndarray) -> bytes:
    """An RGB uint8 image as PNG bytes."""
    ok, enc = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise DancenowError("cannot encode a report image as PNG")
    return enc.tobytes()


def figure_png(fig) -> bytes:
    """A matplotlib Figure (made with FigureCanvasAgg) as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def img_tag(data: bytes, alt: str, cls: str = "") -> str:
    """An <img> holding PNG bytes inline (base64), so the page needs no other file."""
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img class="{cls}" alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def grab_frames(source: FrameSource, indices: list[int], what: str) -> dict[int, np.ndarray]:
    """Frames at the given indices of a video path or a frame iterable (read in one pass)."""
    if source is None or not indices:
        return {}
    if isinstance(source, (str, os.PathLike)):
        from dancenow.video import read_frames

        frames = read_frames(source)
    else:
        frames = iter(source)
    want, last, got = set(indices), max(indices), {}
    for k, f in enumerate(frames):
        if k in want:
            got[k] = np.asarray(f)
        if k >= last:
            break
    if len(got) < len(want):
        log.warning("the %s video has fewer frames than its poses: %d still(s) drawn as stick figures",
                    what, len(want) - len(got))
    return got


def crop_box(points: np.ndarray, img_w: int, img_h: int, size: tuple[int, int],
             margin: float = 1.3) -> tuple[int, int, int, int]:
    """A box (x0, y0, x1, y1) around the points, with a margin, at the aspect ratio of `size` (w, h)."""
    if len(points) == 0:
        return 0, 0, img_w, img_h
    lo, hi = points.min(0), points.max(0)
    c = 0.5 * (lo + hi)
    h = max(hi[1] - lo[1], (hi[0] - lo[0]) * size[1] / size[0], 20.0) * margin
    w = h * size[0] / size[1]
    # slide the box toward the inside of the image (less padding) but never off the points
    x0 = _slide(c[0] - w / 2, w, img_w, lo[0], hi[0])
    y0 = _slide(c[1] - h / 2, h, img_h, lo[1], hi[1])
    return int(x0), int(y0), int(x0 + w), int(y0 + h)


def _slide(start: float, size: float, limit: float, lo: float, hi: float) -> float:
    """Start of a box of `size` moved toward [0, limit] while still holding [lo, hi] (with a
    5% edge)."""
    edge = 0.05 * size
    inside = min(max(start, 0.0), limit - size) if size <= limit else start
    return min(max(inside, hi + edge - size), lo - edge) if hi - lo + 2 * edge <= size else start


def crop(img: np.ndarray, box) -> np.ndarray:
    """Crop with padding (the canvas colour) where the box leaves the image."""
    x0, y0, x1, y1 = box
    out = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    out[:] = CANVAS
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(img.shape[1], x1), min(img.shape[0], y1)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = img[sy0:sy1, sx0:sx1]
    return out


def label(img: np.ndarray, text: str, org: tuple[int, int], color=(255, 255, 255), scale: float = 0.5) -> None:
    """Text with a dark outline (readable on any background), drawn in place."""
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)
