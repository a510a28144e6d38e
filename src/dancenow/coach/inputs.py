"""What the coach reads: a video (its poses detected with the body-only model, and saved so a
rerun can skip detection), a `.npz` pose file or an OpenPose JSON folder; and the checks on
paths made before any work starts."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from dancenow.errors import DancenowError
from dancenow.keypoints import PoseSequence

log = logging.getLogger(__name__)


def _body_only():
    from dancenow.pose import PoseConfig

    # the coach looks at arms, legs and trunk only: the body-only model is faster
    return PoseConfig(face=False, hands=False)


def load_input(path: str | os.PathLike, video: str | os.PathLike | None, openpose_fps: float | None,
               what: str, out_dir: str | os.PathLike | None) -> tuple[PoseSequence, str | os.PathLike | None]:
    """Poses of one coach input and the video its stills come from (None: stick figures only).
    A video's detected poses are saved as `out_dir/{what}_poses.npz` (not when out_dir is None)."""
    from dancenow.posefile import is_pose_path, load_poses, save_poses

    if is_pose_path(path):
        return load_poses(path, openpose_fps, None, video), video
    if not Path(path).exists():
        raise DancenowError(f"{what} not found: {path}")
    from dancenow.pose import detect_video

    log.info("detecting poses in %s ...", path)
    seq = detect_video(path, _body_only())
    if out_dir is not None:
        saved = save_poses(seq, Path(out_dir) / f"{what}_poses.npz")
        log.info("wrote %s (pass it instead of the video next time)", saved)
    return seq, (video or path)


def check_exists(path: str | os.PathLike | None, what: str) -> None:
    """A clear error when an input path is missing."""
    if path is not None and not Path(path).exists():
        raise DancenowError(f"{what} not found: {path}")


def check_output_dir(path: str | os.PathLike) -> None:
    """Fail early when a report folder cannot be made: it is a file, or no parent is writable."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise DancenowError(f"report output {out} exists and is not a folder")
    _check_writable_parent(out, "report output")


def check_file_output(path: str | os.PathLike, what: str) -> None:
    """Fail early when a file cannot be written there."""
    out = Path(path)
    if out.is_dir():
        raise DancenowError(f"{what} {out} is a folder")
    _check_writable_parent(out, what)


def _check_writable_parent(out: Path, what: str) -> None:
    parent = out.parent if str(out.parent) else Path(".")
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise DancenowError(f"cannot write {what} {out}: {parent} is not a writable folder")
