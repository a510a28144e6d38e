"""Live: forecast a dancer as they move and show the observed and predicted figures side by side.

Frames arrive at the camera's rate (or a stand-in video's). Their poses are sampled onto the
model's frame rate by time; on each model tick `LiveForecaster.push` takes the last `context_s`
seconds of observed poses (the context the model is evaluated with), normalises them (body
height from a rolling window of the stream), rolls the model `horizon_s` seconds ahead and
returns the predicted keypoints in the stream's pixels. `run_live` shows every camera frame
with the newest forecast, moved on by the time since it was made, and forecasts in a thread of
its own, so the display keeps the camera's frame rate however long a forecast takes;
`live_session` is `dancenow choreo live` (input and output through `dancenow.stream`).
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

from dancenow.choreo.clips import clip_window, clips_from_motion, forecast_pose, pose_to_body25, stature
from dancenow.choreo.generate import forecast, hedged_forecast, is_style_free, parse_style, rollout
from dancenow.choreo.model import ChoreoModel
from dancenow.choreo.readers import Motion, derive_neck_midhip
from dancenow.errors import DancenowError
from dancenow.keypoints import NUM_BODY, NUM_JOINTS, Joint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveConfig:
    """context_s: seconds of observed motion the forecast starts from; horizon_s: how far ahead;
    style: style spec (see generate.parse_style; None = "any"); temperature: 0 = most likely
    (mode rollout; style-free, it is hedged: generate.hedged_forecast), > 0 = a sampled
    continuation; scale_window_s: the body height is the 90th
    percentile over this many seconds of the stream; every: forecast every n-th model frame, in
    step with the display (in between the last forecast stays on screen); None: forecast in a
    thread beside the display, from the newest context each time the last forecast is done, so
    the display keeps the stream's rate however long a forecast takes (`run_live`)."""

    context_s: float = 1.0
    horizon_s: float = 1.0
    style: str | None = None
    temperature: float = 0.0
    random_seed: int = 0
    scale_window_s: float = 10.0
    every: int | None = None

    def validate(self) -> "LiveConfig":
        for name, v, hi in (("context", self.context_s, 30.0), ("horizon", self.horizon_s, 30.0),
                            ("scale window", self.scale_window_s, 600.0)):
            if not (np.isfinite(v) and 0 < v <= hi):
                raise DancenowError(f"{name} must be > 0 and at most {hi:g} seconds, got {v:g}")
        if not (np.isfinite(self.temperature) and 0 <= self.temperature <= 10):
            raise DancenowError(f"temperature must be in [0, 10], got {self.temperature:g}")
        if self.every is not None and not 1 <= self.every <= 1000:
            raise DancenowError(f"every must be in [1, 1000], got {self.every}")
        return self


@dataclass(frozen=True)
class Forecast:
    """Predicted model frames after the current one: keypoints (H, 137, 3) in the stream's
    pixels (body only, confidence 1), frame i is (i + 1) model frames ahead; latency_s:
    compute time."""

    keypoints: np.ndarray
    latency_s: float


class LiveForecaster:
    """Push observed keypoints (137, 3) one model frame at a time, get forecasts."""

    def __init__(self, model: ChoreoModel, info: dict, config: LiveConfig = LiveConfig()):
        if int(info["dims"]) != 2:
            raise DancenowError("live forecasting needs a 2D model (one trained from video or pose files, "
                                "or with dims 2): a camera sees the dancer in 2D")
        self.model, self.info, self.config = model.eval(), info, config.validate()
        self.fps = float(info["fps"])
        self.defaults = info["defaults"]
        self.context = max(2, int(round(config.context_s * self.fps)))
        self.horizon = max(1, int(round(config.horizon_s * self.fps)))
        self.style = parse_style(model, config.style)[None]
        self.hedge = bool(is_style_free(model, self.style)[0])
        self.generator = torch.Generator().manual_seed(config.random_seed)
        self.buffer: collections.deque = collections.deque(maxlen=self.context)
        self.heights: collections.deque = collections.deque(maxlen=max(1, int(config.scale_window_s * self.fps)))
        self.count = 0  # frames pushed

    def push(self, keypoints: np.ndarray) -> Forecast | None:
        """Add one observed frame; the forecast from it, or None while there is too little to go
        on (fewer than 2 frames, or no hips in the current frame) or between `every` ticks."""
        if not self.observe(keypoints) or (self.count - 1) % (self.config.every or 1):
            return None
        return self.predict(self.snapshot())

    def observe(self, keypoints: np.ndarray) -> bool:
        """Add one observed frame (137, 3); whether a forecast can start from it (at least 2
        frames, and hips in this one)."""
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
        return len(self.buffer) >= 2 and bool(self.heights) and bool(np.isfinite(body[[Joint.R_HIP, Joint.L_HIP]]).all())

    def snapshot(self) -> tuple[np.ndarray, float]:
        """The context a forecast starts from: the observed body keypoints (T, 25, 2) and the
        body height in pixels. A copy, so another thread may forecast from it while frames
        arrive (`predict`)."""
        return np.stack(self.buffer), float(np.percentile(np.array(self.heights), 90))

    def predict(self, context: tuple[np.ndarray, float]) -> Forecast | None:
        """The forecast from a `snapshot` (None when it has no usable stretch)."""
        t0 = time.perf_counter()
        body, scale = context
        motion = Motion(body.copy(), self.fps, "live", "any")
        derive_neck_midhip(motion.joints)
        clips = clips_from_motion(motion, self.fps, 2, scale=scale)
        if not clips:
            return None
        clip = clips[-1]
        a = clip_window(clip, 0, len(clip), self.defaults)
        args = [torch.from_numpy(v)[None] for v in (a.u, a.root_step, a.observed)]
        if self.config.temperature > 0:
            u, step, _ = rollout(self.model, *args, self.style, self.horizon, self.config.temperature, self.generator)
        elif self.hedge:  # a dance of unknown style: trust the model as far as it has earned
            u, step, _ = hedged_forecast(self.model, *args, self.style, torch.from_numpy(a.lengths)[None], self.horizon)
        else:
            u, step = forecast(self.model, *args, self.style, self.horizon)
        pose = forecast_pose(a, u[0].numpy(), self.model.config.damping)
        root = clip.root[-1] + np.cumsum(step[0].numpy(), 0)  # body heights, from the clip origin
        body25 = pose_to_body25(pose, root) * clip.scale + clip.origin
        out = np.zeros((self.horizon, NUM_JOINTS, 3), np.float32)
        ok = np.isfinite(body25).all(-1)
        out[:, :NUM_BODY, :2] = np.where(ok[..., None], body25, 0)
        out[:, :NUM_BODY, 2] = ok
        return Forecast(out, time.perf_counter() - t0)


@dataclass
class LiveStats:
    """frames shown (at the input's rate `fps`), forecasts made, mean and worst forecast
    latency (s), and the rate frames were shown at (frames per second of wall time: at least
    `fps` keeps up with a camera)."""

    frames: int = 0
    forecasts: int = 0
    mean_latency_s: float = 0.0
    max_latency_s: float = 0.0
    fps: float = 0.0
    shown_per_s: float = 0.0

    @property
    def forecasts_per_s(self) -> float:
        """Forecasts made per second of the input."""
        return self.forecasts * self.fps / max(self.frames, 1)


def compose(frame: np.ndarray | None, observed: np.ndarray, forecast_kp: np.ndarray | None, size: tuple[int, int],
            ahead_s: float, latency_s: float = 0.0) -> np.ndarray:
    """One display image: left, the frame (or black) with the observed skeleton; right, the
    observed figure dimmed and the forecast (H, 137, 3): faint in-between frames, the last in
    full colour."""
    from dancenow.render import caption, draw_pose, overlay

    w, h = size
    left = overlay(frame, observed, size) if frame is not None else draw_pose(np.zeros((h, w, 3), np.uint8), observed)
    right = np.zeros((h, w, 3), np.uint8)
    draw_pose(right, observed)
    right //= 3
    if forecast_kp is not None and len(forecast_kp):
        H = len(forecast_kp)
        for i in sorted({H // 3, (2 * H) // 3} - {0}):
            ghost = draw_pose(np.zeros_like(right), forecast_kp[i - 1])
            right = np.maximum(right, ghost // 2)
        right = draw_pose(right, forecast_kp[-1])
        text = f"predicted +{ahead_s:.1f}s ({latency_s * 1000:.0f} ms)"
    else:
        text = "predicted: waiting for the hips"
    return np.concatenate([caption(left, "observed"), caption(right, text)], 1)


def run_live(model: ChoreoModel, info: dict, keypoints: Iterable[np.ndarray], size: tuple[int, int], fps: float,
             output, frames: Iterable[np.ndarray] | None = None, config: LiveConfig = LiveConfig(),
             max_frames: int | None = None, progress: bool = True, total: int | None = None,
             pace: bool = False) -> LiveStats:
    """Forecast a stream (keypoints per input frame at `fps`, pixels of a `size` frame, with the
    matching video `frames` or None) and write every frame, observed beside predicted, to
    `output` (a `dancenow.stream.LiveOutput`, entered). The model sees the stream sampled at
    its own rate by time; the display keeps the input's.

    config.every None: forecasts run in a thread of their own (`overlap.Worker`), each from the
    newest context once the last is done, and every frame shows the newest finished forecast
    from where the dancer is now on, so a forecast slower than a frame (a hedged one, 0.3 s on
    one core) costs how often it refreshes, not the display's rate. An integer: a forecast every
    that many model frames, in this thread (the display waits for it; deterministic).
    pace: play the input no faster than `fps` (a video standing in for a camera)."""
    from tqdm import tqdm

    from dancenow.overlap import Worker

    fc = LiveForecaster(model, info, config)
    stats = LiveStats(fps=fps)
    lat = []
    frame_iter = iter(frames) if frames is not None else None
    shown = None  # (forecast, input time it was made at)
    next_tick = 0.0
    worker = Worker(lambda job: (fc.predict(job[0]), job[1])) if config.every is None else None
    t0 = time.perf_counter()
    try:
        for i, kp in enumerate(tqdm(keypoints, unit="frame", desc="live", disable=not progress, total=max_frames or total)):
            if pace and (wait := t0 + i / fps - time.perf_counter()) > 0:
                time.sleep(wait)
            frame = next(frame_iter, None) if frame_iter is not None else None
            now = i / fps
            if now + 1e-9 >= next_tick:  # a model frame: the forecaster sees the stream at its rate
                next_tick += 1.0 / fc.fps
                if worker is None:
                    f = fc.push(kp)
                    if f is not None:
                        lat.append(f.latency_s)
                        shown = (f, now)
                elif fc.observe(kp) and worker.idle:
                    worker.submit((fc.snapshot(), now))
            if worker is not None and (done := worker.take()) is not Worker.NOTHING and done[0] is not None:
                lat.append(done[0].latency_s)
                shown = done
            kp_ahead, latency = None, 0.0
            if shown is not None:
                # the newest forecast, moved on by the time since it was made
                f, made = shown
                age = int(round((now - made) * fc.fps))
                if age < len(f.keypoints):
                    kp_ahead, latency = f.keypoints[age:], f.latency_s
            img = compose(frame, np.asarray(kp), kp_ahead, size, fc.horizon / fc.fps, latency)
            output.write(img)
            stats.frames += 1
            if output.closed or (max_frames is not None and stats.frames >= max_frames):
                break
    finally:
        if worker is not None:
            worker.close()
    stats.forecasts = len(lat)
    stats.shown_per_s = stats.frames / max(time.perf_counter() - t0, 1e-9)
    if lat:
        stats.mean_latency_s, stats.max_latency_s = float(np.mean(lat)), float(np.max(lat))
    return stats


def live_session(model_dir: str | os.PathLike, source: str | os.PathLike | None = None, camera: int | None = None,
                 poses: str | os.PathLike | None = None, config: LiveConfig = LiveConfig(), show: bool | None = None,
                 record: str | os.PathLike | None = None, max_frames: int | None = None,
                 progress: bool = True) -> LiveStats:
    """`dancenow choreo live`: a camera or a stand-in video (`source`), its poses detected as it
    plays (or read from `poses`, a file matching `source`), forecast by the model in `model_dir`,
    shown in a window and/or recorded, at the input's frame rate."""
    from dancenow.choreo.checkpoint import load_model
    from dancenow.stream import LiveOutput, open_input

    config.validate()
    if poses is not None and source is None:
        raise DancenowError("--poses goes with --source (a camera has no pose file)")
    if max_frames is not None and max_frames < 1:
        raise DancenowError(f"max frames must be >= 1, got {max_frames}")
    model, info = load_model(model_dir)
    LiveForecaster(model, info, config)  # a 3D model or a bad style fails here, before any output
    stream = open_input(source, camera)
    if poses is not None:
        from dancenow.posefile import load_poses

        seq = load_poses(poses, video=source)
        keypoints = iter(resample_keypoints(seq, stream.fps))
        frames = stream.frames
    else:
        import itertools

        from dancenow.pose import PoseConfig, iter_keypoints

        frames, for_pose = itertools.tee(stream.frames, 2)  # the detector runs one frame ahead at most
        keypoints = iter_keypoints(for_pose, stream.fps, PoseConfig(face=False, hands=False))
    with LiveOutput(stream.fps, show=show, record=record, title="dancenow choreo live") as out:
        return run_live(model, info, keypoints, stream.size, stream.fps, out, frames, config,
                        max_frames=max_frames, progress=progress, total=stream.total, pace=source is not None)


def resample_keypoints(seq, fps: float) -> np.ndarray:
    """(T', 137, 3) keypoints of a PoseSequence at `fps` by nearest frame, the same rule
    `dancenow.video.read_frames(fps=...)` uses, so resampled poses stay on their video frames."""
    n = int(np.floor((len(seq) - 1) * fps / seq.fps + 0.5)) + 1
    idx = np.minimum(np.floor(np.arange(n) * (seq.fps / fps) + 0.5).astype(int), len(seq) - 1)
    return seq.keypoints[idx]
