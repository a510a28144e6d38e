"""Live: forecast a pose stream as it arrives and show observed and predicted figures side by side.

For every incoming frame `LiveForecaster.push` takes the last `context_s` seconds of observed
poses (the same context the model is evaluated with), normalises them (body height from a
rolling window of the stream), rolls the model forward `horizon_s` seconds and returns the
predicted keypoints in the stream's pixel space. `run_live` drives it over frames + keypoints
(from a pose file, or detected on the fly with `dancenow.pose.iter_keypoints`) and shows the
result in a window when there is a display, or writes the frames to a video.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch

from dancenow.choreo.data import Motion, derive_neck_midhip, clip_arrays, clips_from_motion, pose_to_body25, stature
from dancenow.choreo.generate import parse_style, rollout
from dancenow.choreo.model import ChoreoModel
from dancenow.errors import DancenowError
from dancenow.stream import has_display, open_input
from dancenow.keypoints import NUM_BODY, NUM_JOINTS, Joint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveConfig:
    """context_s: seconds of observed motion the forecast starts from; horizon_s: how far ahead;
    style: style spec (see generate.parse_style; None = "any"); temperature: 0 = most likely
    (mode rollout), > 0 = a sampled continuation; scale_window_s: the body height is the 90th
    percentile over this many seconds of the stream; every: forecast every n-th frame (a slow
    machine keeps up with the stream; in between the last forecast stays on screen)."""

    context_s: float = 1.0
    horizon_s: float = 1.0
    style: str | None = None
    temperature: float = 0.0
    random_seed: int = 0
    scale_window_s: float = 10.0
    every: int = 1  # forecast every n-th frame (between, the last forecast is shown)


@dataclass(frozen=True)
class Forecast:
    """Predicted frames after the current one: keypoints (H, 137, 3) in the stream's pixels
    (body only, confidence 1), frame i is (i + 1) frames ahead; latency_s: compute time."""

    keypoints: np.ndarray
    latency_s: float


class LiveForecaster:
    """Push observed keypoints (137, 3) one frame at a time (at the model's fps), get forecasts."""

    def __init__(self, model: ChoreoModel, info: dict, config: LiveConfig = LiveConfig()):
        if int(info["dims"]) != 2:
            raise DancenowError("live forecasting needs a 2D model (trained with dims=2)")
        self.model, self.info, self.config = model.eval(), info, config
        self.fps = float(info["fps"])
        self.mean_pose = np.asarray(info["mean_pose"], np.float32)
        self.context = max(2, int(round(config.context_s * self.fps)))
        self.horizon = max(1, int(round(config.horizon_s * self.fps)))
        self.style = parse_style(model, config.style)[None]
        self.guard = np.asarray(info["bone_limits"]) if info.get("bone_limits") else None
        self.generator = torch.Generator().manual_seed(config.random_seed)
        self.buffer: collections.deque = collections.deque(maxlen=self.context)
        self.heights: collections.deque = collections.deque(maxlen=max(1, int(config.scale_window_s * self.fps)))
        self.count = 0  # frames pushed

    def push(self, keypoints: np.ndarray) -> Forecast | None:
        """Add one observed frame; the forecast from it, or None while there is too little to go
        on (fewer than 2 frames, or no hips in the current frame)."""
        kp = np.asarray(keypoints, np.float64)
        if kp.shape != (NUM_JOINTS, 3):
            raise DancenowError(f"keypoints must be ({NUM_JOINTS}, 3), got {kp.shape}")
        body = np.where(kp[:NUM_BODY, 2:3] > 0, kp[:NUM_BODY, :2], np.nan)
        self.buffer.append(body)
        try:
            self.heights.append(stature(body[None]))
        except DancenowError:
            pass  # no head + legs in this frame: keep the previous estimate
        self.count += 1
        if len(self.buffer) < 2 or not self.heights or not np.isfinite(body[[Joint.R_HIP, Joint.L_HIP]]).all():
            return None
        if (self.count - 1) % max(1, self.config.every):
            return None
        t0 = time.perf_counter()
        scale = float(np.percentile(np.array(self.heights), 90))
        motion = Motion(np.stack(self.buffer), self.fps, "live", "any")
        derive_neck_midhip(motion.joints)
        clips = clips_from_motion(motion, self.fps, 2, scale=scale)
        if not clips:
            return None
        clip = clips[-1]
        a = clip_arrays(clip, self.mean_pose)
        obs = a.observed.copy()
        obs[0, -1] = 0  # the first frame's root step reaches before the buffer
        pose, step, _ = rollout(self.model, torch.from_numpy(a.pose)[None], torch.from_numpy(a.root_step)[None],
                                torch.from_numpy(obs)[None], self.style, self.horizon,
                                self.config.temperature, self.generator, guard=self.guard)
        root = clip.root[-1] + np.cumsum(step[0].numpy(), 0)  # body heights, from the clip origin
        body25 = pose_to_body25(pose[0].numpy(), root) * clip.scale + clip.origin
        out = np.zeros((self.horizon, NUM_JOINTS, 3), np.float32)
        ok = np.isfinite(body25).all(-1)
        out[:, :NUM_BODY, :2] = np.where(ok[..., None], body25, 0)
        out[:, :NUM_BODY, 2] = ok
        return Forecast(out, time.perf_counter() - t0)


@dataclass
class LiveStats:
    """frames shown, forecasts made, mean and worst forecast latency (s), and the real-time
    budget per frame (1 / fps)."""

    frames: int = 0
    forecasts: int = 0
    mean_latency_s: float = 0.0
    max_latency_s: float = 0.0
    frame_budget_s: float = 0.0


def compose(frame: np.ndarray | None, observed: np.ndarray, forecast: Forecast | None,
            size: tuple[int, int], fps: float) -> np.ndarray:
    """One display image: left, the frame (or black) with the observed skeleton; right, the
    observed figure dimmed and the forecast: faint in-between frames, the last in full colour."""
    from dancenow.render import caption, draw_pose, overlay

    w, h = size
    left = overlay(frame, observed, size) if frame is not None else draw_pose(np.zeros((h, w, 3), np.uint8), observed)
    right = np.zeros((h, w, 3), np.uint8)
    draw_pose(right, observed)
    right //= 3
    if forecast is not None:
        H = len(forecast.keypoints)
        for i in sorted({H // 3, (2 * H) // 3} - {0}):
            ghost = draw_pose(np.zeros_like(right), forecast.keypoints[i - 1])
            right = np.maximum(right, ghost // 2)
        right = draw_pose(right, forecast.keypoints[-1])
        text = f"predicted +{H / fps:.1f}s ({forecast.latency_s * 1000:.0f} ms)"
    else:
        text = "predicted: waiting for the hips"
    return np.concatenate([caption(left, "observed"), caption(right, text)], 1)


def run_live(model: ChoreoModel, info: dict, keypoints: Iterable[np.ndarray], size: tuple[int, int],
             frames: Iterable[np.ndarray] | None = None, config: LiveConfig = LiveConfig(),
             show: bool | None = None, output: str | os.PathLike | None = None,
             max_frames: int | None = None, progress: bool = True, total: int | None = None) -> LiveStats:
    """Forecast a stream (keypoints per frame at the model's fps, pixels of a `size` frame, with
    the matching video `frames` or None) and show it in a window (`show`, default: when a display
    exists; 'q' quits) and/or write it to `output` (.mp4). total: expected frame count, for
    the progress bar only."""
    import cv2
    from tqdm import tqdm

    from dancenow.video import VideoWriter

    show = has_display() if show is None else show
    if not show and output is None:
        raise DancenowError("no display here: give an output video (-o live.mp4) to write the frames to")
    fc = LiveForecaster(model, info, config)
    stats = LiveStats(frame_budget_s=1.0 / fc.fps)
    lat = []
    writer = VideoWriter(output, fc.fps) if output is not None else None
    frame_iter = iter(frames) if frames is not None else None
    try:
        if writer is not None:
            writer.__enter__()
        shown = None  # the forecast on screen and the frame it was made at
        for kp in tqdm(keypoints, unit="frame", desc="live", disable=not progress, total=max_frames or total):
            frame = next(frame_iter, None) if frame_iter is not None else None
            forecast = fc.push(kp)
            if forecast is not None:
                lat.append(forecast.latency_s)
                shown = (forecast, stats.frames)
            elif shown is not None and config.every > 1 and stats.frames - shown[1] < config.every:
                # between forecasts: the last one, moved on by the frames since it was made
                age = stats.frames - shown[1]
                forecast = Forecast(shown[0].keypoints[age:], shown[0].latency_s) if age < len(shown[0].keypoints) else None
            img = compose(frame, np.asarray(kp), forecast, size, fc.fps)
            if writer is not None:
                writer.write(img)
            if show:
                cv2.imshow("dancenow choreo live", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
            stats.frames += 1
            if max_frames is not None and stats.frames >= max_frames:
                break
    except BaseException as e:
        if writer is not None:
            writer.__exit__(type(e), e, e.__traceback__)
            writer = None
        raise
    finally:
        if show:
            cv2.destroyAllWindows()
    if writer is not None:
        writer.__exit__(None, None, None)
    stats.forecasts = len(lat)
    if lat:
        stats.mean_latency_s, stats.max_latency_s = float(np.mean(lat)), float(np.max(lat))
    return stats


def resample_keypoints(seq, fps: float) -> np.ndarray:
    """(T', 137, 3) keypoints of a PoseSequence at `fps` by nearest frame, the same rule
    `dancenow.video.read_frames(fps=...)` uses, so resampled poses stay on their video frames."""
    n = int(np.floor((len(seq) - 1) * fps / seq.fps + 0.5)) + 1
    idx = np.minimum(np.floor(np.arange(n) * (seq.fps / fps) + 0.5).astype(int), len(seq) - 1)
    return seq.keypoints[idx]


def live_session(model_dir: str | os.PathLike, source: str | os.PathLike | None = None, camera: int | None = None,
                 poses: str | os.PathLike | None = None, config: LiveConfig = LiveConfig(), show: bool | None = None,
                 record: str | os.PathLike | None = None, max_frames: int | None = None,
                 progress: bool = True) -> LiveStats:
    """`dancenow choreo live`: a camera or a stand-in video (`source`), its poses detected as it
    plays (or read from `poses`, a file matching `source`), forecast by the model in `model_dir`."""
    from dancenow.choreo.checkpoint import load_model

    if poses is not None and source is None:
        raise DancenowError("--poses goes with --source (a camera has no pose file)")
    model, info = load_model(model_dir)
    rate = float(info["fps"])
    show = has_display() if show is None else show
    if not show and record is None:
        raise DancenowError("no display here: give --record live.mp4 to save what would be shown")
    stream = open_input(source, camera, fps=rate)
    if poses is not None:
        from dancenow.posefile import load_poses

        seq = load_poses(poses, video=source)
        keypoints = iter(resample_keypoints(seq, rate))
        frames = stream.frames
    else:
        import itertools

        from dancenow.pose import PoseConfig, iter_keypoints

        frames, for_pose = itertools.tee(stream.frames, 2)  # the detector runs one frame ahead at most
        keypoints = iter_keypoints(for_pose, rate, PoseConfig(face=False, hands=False))
    return run_live(model, info, keypoints, stream.size, frames, config, show=show, output=record,
                    max_frames=max_frames, progress=progress, total=stream.total)
