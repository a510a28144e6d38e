"""What the coach reads: a video (its poses detected, and saved so a rerun can skip detection),
a `.npz` pose file or an OpenPose JSON folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from dancenow.errors import DancenowError
from dancenow.keypoints import PoseSequence

log = logging.getLogger(__name__)


def load_input(path: str | os.PathLike, video: str | os.PathLike | None, openpose_fps: float | None,
               what: str, out_dir: str | os.PathLike) -> tuple[PoseSequence, str | os.PathLike | None]:
    """Poses of one coach input and the video its stills come from (None: stick figures only).
    A video's detected poses are saved as `out_dir/{what}_poses.npz`."""
    from dancenow.posefile import is_pose_path, load_poses, save_poses

    if is_pose_path(path):
        return load_poses(path, openpose_fps, None, video), video
    if not Path(path).exists():
        raise DancenowError(f"{what} not found: {path}")
    from dancenow.pose import detect_video

    log.info("detecting poses in %s ...", path)
    seq = detect_video(path)
    saved = save_poses(seq, Path(out_dir) / f"{what}_poses.npz")
    log.info("wrote %s (pass it instead of the video next time)", saved)
    return seq, (video or path)
