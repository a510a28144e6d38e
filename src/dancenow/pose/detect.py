"""The pose stage's public calls: one tracked person's keypoints in every frame of a clip, a
video file, a still image or a live stream (see `track` for how the person is followed).

Frames without the person are all-missing (confidence 0), never an error. Whole clips are then
repaired where MediaPipe swapped left and right (`smooth.fix_left_right`), gap-filled and
smoothed (`PoseConfig.smooth`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from dancenow.errors import DancenowError
from dancenow.keypoints import PoseSequence
from dancenow.pose.config import PoseConfig
from dancenow.pose.smooth import fix_left_right, smooth_poses
from dancenow.pose.track import PersonTracker

log = logging.getLogger(__name__)


def detect_frames(frames: Iterable[np.ndarray], fps: float, config: PoseConfig = PoseConfig(),
                  total: int | None = None, progress: bool = True) -> PoseSequence:
    """Detect one person's pose in every frame of a clip.

    frames: RGB uint8 (H, W, 3) frames in order (any iterable, consumed once; all the same size).
    fps: their frame rate. total: the number of frames, for the progress bar only.
    Returns a PoseSequence (x, y in pixels of the frames) with one entry per frame; frames
    without the person are all-missing. Smoothed by `config.smooth` unless it is None.
    """
    from tqdm import tqdm

    if not fps > 0:
        raise DancenowError(f"invalid frame rate {fps}")
    tracker = PersonTracker(config, fps)
    out: list[np.ndarray] = []
    size = None
    start = time.perf_counter()
    try:
        bar = tqdm(frames, total=total, unit="frame", desc="pose", disable=not progress, leave=False)
        for frame in bar:
            frame = np.asarray(frame)
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise DancenowError(f"frames must be RGB uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
            if size is None:
                size = frame.shape[:2]
            elif frame.shape[:2] != size:
                raise DancenowError(f"frame {len(out)} is {frame.shape[1]}x{frame.shape[0]}, the first was {size[1]}x{size[0]}")
            out.append(tracker.step(frame))
    finally:
        tracker.close()
    if not out:
        raise DancenowError("no frames to detect poses in")
    st = tracker.stats
    st.seconds = time.perf_counter() - start
    log.info("poses: %d frames in %.1f s (%.1f frames/s); no person in %d frame(s)%s",
             st.frames, st.seconds, st.frames / max(st.seconds, 1e-9), st.missing,
             f", {st.rejected} pose(s) dropped as another person" if st.rejected else "")
    seq = PoseSequence(np.stack(out), fps, size[1], size[0])
    if config.fix_flips:
        seq = fix_left_right(seq)
    if config.smooth is not None:
        seq = smooth_poses(seq, config.smooth)
    return seq


def detect_video(path: str | os.PathLike, config: PoseConfig = PoseConfig(), fps: float | None = None,
                 progress: bool = True) -> PoseSequence:
    """Detect poses in a video file (or a still image, a one-frame clip), frames decoded in a
    background thread. fps: resample the video to this rate first (None: its own rate)."""
    from dancenow.video import probe, read_frames

    info = probe(path)
    total = int(round(info.frame_count * (fps / info.fps))) if fps else info.frame_count
    return detect_frames(read_frames(path, fps=fps), fps or info.fps, config, total=total or None, progress=progress)


def detect_image(image: np.ndarray, config: PoseConfig = PoseConfig()) -> PoseSequence:
    """The pose in one RGB uint8 image, as a one-frame PoseSequence (all-missing if nobody)."""
    from dancenow.video import STILL_FPS

    return detect_frames([image], STILL_FPS, config, total=1, progress=False)


def iter_keypoints(frames: Iterable[np.ndarray], fps: float, config: PoseConfig = PoseConfig()) -> Iterator[np.ndarray]:
    """Raw per-frame (137, 3) keypoints as they are found (no smoothing): for live use."""
    tracker = PersonTracker(config, fps)
    try:
        for frame in frames:
            yield tracker.step(np.asarray(frame))
    finally:
        tracker.close()


def check_pose_output(output: str | os.PathLike) -> None:
    """Fail before a (long) detection, not after it, when `output` cannot be written or would
    replace a folder that is not OpenPose JSON."""
    out = Path(output)
    if out.suffix.lower() != ".npz" and out.is_dir() and any(f.suffix.lower() != ".json" for f in out.iterdir()):
        raise DancenowError(f"refusing to replace {out}: it is a folder holding other files than OpenPose JSON")
    if out.suffix.lower() == ".npz" and out.is_dir():
        raise DancenowError(f"cannot write {out}: it is a folder")
    parent = out.parent
    while not parent.exists():  # the folders atomic writing would create
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise DancenowError(f"cannot write {out}: {parent} is not a writable folder")


def detect_to_file(video: str | os.PathLike, output: str | os.PathLike, config: PoseConfig = PoseConfig(),
                   fps: float | None = None, progress: bool = True) -> PoseSequence:
    """`dancenow pose`: detect poses in `video` and save them to `output` (.npz or an OpenPose
    folder); the output is checked before detection starts."""
    from dancenow.posefile import save_poses

    check_pose_output(output)
    seq = detect_video(video, config, fps=fps, progress=progress)
    save_poses(seq, output)
    return seq
