"""The live mirror: you move in front of a camera, the target person moves with you.

    camera frame -> pose (MediaPipe, on a downscaled frame; face and hands only when the model
    draws them) -> normalization onto the target (fitted on your first seconds, then held) ->
    label image + posed exemplar -> generator -> window: you | target

Each arrow after the camera is a stage of dancenow.overlap in a thread of its own, so
detection of frame t+2, preparation of t+1 and generation of t run at once (MediaPipe, OpenCV
and torch release the GIL). A video (`source`) stands in for the camera in tests and demos.
Inference only: the model is loaded by SynthModel.load (fast=True for the distilled student).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

import numpy as np

from dancenow.errors import DancenowError
from dancenow.keypoints import BODY, FACE, LEFT_HAND, RIGHT_HAND, NUM_JOINTS, PoseSequence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveTransferConfig:
    """fit_seconds: your body is measured (normalization stats) over this much of the start,
    then held, so the mapping does not drift while you dance. detect_height: detection runs on
    the frame downscaled to this height in pixels (MediaPipe resizes to 256 px inside anyway).
    body_only: detect the body alone (MediaPipe's faster pose-only model) even when the model
    draws face and hands. panel_height: pixels of each half of the window. max_frames: stop
    after this many (None: until the input ends or q). overlap: stages in threads (False: one
    after the other, for comparison). threads: torch threads for the generator (None: as they
    are; one fewer than the cores leaves a core to detection and the other stages).
    keep_proportions: keep your bone lengths (by default the target's, as `transfer` does).
    snap: pull your mapped joints toward the target's nearest own pose, as `transfer` does."""

    fit_seconds: float = 3.0
    detect_height: int = 360
    body_only: bool = False
    panel_height: int = 256
    max_frames: int | None = None
    overlap: bool = True
    threads: int | None = None
    keep_proportions: bool = False
    snap: float = 0.5

    def __post_init__(self) -> None:
        if not (self.fit_seconds > 0 and np.isfinite(self.fit_seconds)):
            raise DancenowError(f"fit_seconds must be > 0, got {self.fit_seconds}")
        if self.detect_height < 32 or self.panel_height < 32:
            raise DancenowError("detect_height and panel_height must be at least 32 pixels")


@dataclass
class LiveTransferStats:
    """frames shown, seconds of wall time, frames without a person, whether face and hands
    were detected, the poses seen (input frame pixels)."""

    frames: int = 0
    seconds: float = 0.0
    missing: int = 0
    face_hands: bool = False
    record: "os.PathLike | None" = None

    @property
    def rate(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def model_uses(model) -> tuple[bool, bool]:
    """(face, hands): whether the model's training poses had them (its exemplar bank's
    keypoints; a model without a bank: assume both), i.e. whether its labels draw them."""
    if model.bank is None:
        return True, True
    kp = model.bank.keypoints
    return bool((kp[:, FACE, 2] > 0).any()), bool((kp[:, LEFT_HAND, 2] > 0).any() or (kp[:, RIGHT_HAND, 2] > 0).any())


class LiveNormalizer:
    """Normalization of a live pose stream onto the target: the source's BodyStats are fitted
    on the frames seen so far during the first `fit_frames` frames, then held. A frame whose
    feet are not both in view (unusable for its own fit) takes the last usable frame's
    transform, as `dancenow.normalize` does for a whole sequence."""

    def __init__(self, target_stats, size: tuple[int, int], fps: float, fit_frames: int,
                 keep_proportions: bool = False):
        self.target, self.size, self.fps, self.fit_frames = target_stats, size, fps, max(1, fit_frames)
        self.keep_proportions = keep_proportions
        self.seen: list[np.ndarray] = []
        self.stats = None
        self._last = None  # the last usable frame's Transforms
        self._ratios = None  # bone length ratios from the current fit (None: keep the source's)

    def __call__(self, kp: np.ndarray) -> np.ndarray:
        """(J, 3) keypoints in input-frame pixels -> (J, 3) in target-video pixels (zeros while
        nothing usable was seen)."""
        from dancenow.normalize import apply_transforms, bone_ratios, fit_stats, frame_measures, frame_transforms, retarget

        w, h = self.size
        if len(self.seen) < self.fit_frames:
            if (kp[BODY, 2] > 0).any():
                self.seen.append(kp)
                self.stats = fit_stats(PoseSequence(np.stack(self.seen), self.fps, w, h))
                # the bone ratios change only with the fit: taken here, not every frame
                self._ratios = None if self.keep_proportions else bone_ratios(self.stats, self.target)
        if self.stats is None or not self.stats.usable:
            return np.zeros_like(kp)
        one = PoseSequence(kp[None], self.fps, w, h)
        if frame_measures(one.keypoints).usable[0] or self._last is None:
            tr = frame_transforms(one, self.stats, self.target)
            if tr.own[0]:
                self._last = tr
        else:
            tr = self._last
        if tr.match.mode == "empty":
            return np.zeros_like(kp)
        out = apply_transforms(kp[None], tr)
        return (out if self._ratios is None else retarget(out, self._ratios))[0]


class _Once(logging.Filter):
    """Lets each distinct message through once: live normalization refits and maps one frame at
    a time, and would repeat the same warning every frame."""

    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if msg in self.seen:
            return False
        self.seen.add(msg)
        return True


def _fit(img: np.ndarray, h: int) -> np.ndarray:
    import cv2

    if img.shape[0] == h:
        return img
    w = max(2, int(round(img.shape[1] * h / img.shape[0])))
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if img.shape[0] > h else cv2.INTER_LINEAR)


def run_live_transfer(model, source: str | os.PathLike | None = None, camera: int | None = None,
                      record: str | os.PathLike | None = None, show: bool | None = None,
                      config: LiveTransferConfig = LiveTransferConfig()) -> LiveTransferStats:
    """`dancenow live`: the target person (a loaded SynthModel) mirroring the person in front of
    `camera` (or in the `source` video), shown as you | target in a window and/or recorded to
    `record`. show None: a window when there is a display (without one, said in one log line,
    and `record` is required)."""
    import cv2

    from dancenow.overlap import run_stages
    from dancenow.pose import PoseConfig
    from dancenow.pose.track import PersonTracker
    from dancenow.render import caption
    from dancenow.stream import LiveOutput, open_input, resolve_show
    from dancenow.synth.generate import to_mask, to_uint8
    from dancenow.synth.model import Generated

    show = resolve_show(show, record)
    inp = open_input(source, camera)
    fps = inp.fps
    import torch

    gen_threads = config.threads or torch.get_num_threads()
    if not config.overlap:
        torch.set_num_threads(gen_threads)
    face, hands = (False, False) if config.body_only else model_uses(model)
    # MediaPipe's own tracking smooths; our smoothing needs future frames, which live has not
    tracker = PersonTracker(PoseConfig(face=face, hands=hands, smooth=None), fps)
    w, h = inp.size
    scale = min(1.0, config.detect_height / h)
    dsize = (max(2, int(round(w * scale))), max(2, int(round(h * scale))))
    target_stats = model.body_stats
    target_size = (target_stats.width, target_stats.height)
    norm = LiveNormalizer(target_stats, (w, h), fps, int(round(config.fit_seconds * fps)),
                          config.keep_proportions)
    chooser = model.chooser()
    full = model.has_plate
    ph = config.panel_height
    out_stats = LiveTransferStats(face_hands=face or hands, record=record)
    last_kp = np.zeros((NUM_JOINTS, 3), np.float32)

    def frames():
        for i, frame in enumerate(inp.frames):
            if config.max_frames is not None and i >= config.max_frames:
                return
            yield frame

    # 1. the pose, on a downscaled frame, back in input pixels; a lost person keeps the last pose
    def detect(frame):
        nonlocal last_kp
        small = cv2.resize(frame, dsize, interpolation=cv2.INTER_AREA) if scale < 1.0 else frame
        kp = tracker.step(np.ascontiguousarray(small))
        if (kp[BODY, 2] > 0).any():
            kp = kp.copy()
            kp[..., :2] /= scale
            last_kp = kp
        else:
            out_stats.missing += 1
            kp = last_kp
        return frame, kp

    # 2. onto the target's body and frame; the label and posed exemplar
    def prepare(item):
        frame, kp = item
        nk = model.snap_poses(norm(kp)[None], target_size, config.snap)[0]
        label = model.label_image(nk, target_size)
        return frame, model.prepare_step(label, model.model_keypoints(nk, target_size), chooser)

    # 3. the generator, in order (each frame conditioned on the previous output)
    prev = None

    def generate(item):
        nonlocal prev
        frame, step_in = item
        prev, alpha = model.run_step(step_in, prev)
        return frame, prev, alpha, step_in.exemplar

    # 4. you | target
    def compose(item):
        frame, image, alpha, k = item
        g = Generated(to_uint8(image), None if alpha is None else to_mask(alpha), k)
        result = model.full_frame(g) if full else g.image
        return np.concatenate([caption(_fit(frame, ph), "you"), caption(_fit(result, ph), "target")], axis=1)

    once = _Once()
    logging.getLogger("dancenow.normalize").addFilter(once)
    t0 = time.perf_counter()
    try:
        with LiveOutput(fps, show=show, record=record, title="dancenow live (q quits)") as out:
            stages = [detect, prepare, generate, compose]
            for panel in run_stages(frames(), stages, overlap=config.overlap, threads=[1, 1, gen_threads, 1]):
                out.write(panel)
                out_stats.frames += 1
                if out.closed:
                    break
    finally:
        tracker.close()
        logging.getLogger("dancenow.normalize").removeFilter(once)
    out_stats.seconds = time.perf_counter() - t0
    if out_stats.frames == 0:
        raise DancenowError(f"no frames came from {'the camera' if source is None else source}")
    log.info("live: %d frames in %.1f s (%.1f frames/s)", out_stats.frames, out_stats.seconds, out_stats.rate)
    return out_stats
