"""Still images at the edges (PNG/JPEG), RGB uint8, written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from dancenow.atomic import atomic_file
from dancenow.errors import DancenowError


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    path = Path(path)
    # encoded in memory, written by Python: a full disk is then an OSError naming the path,
    # where cv2.imwrite only returns False
    try:
        ok, data = cv2.imencode(path.suffix.lower() or ".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    except cv2.error:
        ok = False
    if not ok:
        raise DancenowError(f"cannot encode image {path} (use .png or .jpg)")
    with atomic_file(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return path


def read_image(path: str | os.PathLike) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DancenowError(f"{path} is not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
