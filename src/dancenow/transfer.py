"""Transfer: a source dance performed by the target person (a diffusers-style pipeline).

The pipeline is handed a loaded model (dancenow.synth.model.SynthModel) and source poses; it
returns frames lazily, in order, each conditioned on the previous output, so memory does not
grow with the video's length. With a background plate the result is a whole frame of the target
video (its framing and resolution: the generated person placed back into the plate); without
one (a moving camera), or with `crop`, the model's crop. No training code and no argument
parsing here; `transfer_to_file` is the one loop that writes videos (`dancenow transfer` and
`dancenow demo` both run it).

    pipe = TransferPipeline(SynthModel.load("runs/me"))
    for out in pipe(source_poses, source_frames):
        writer.write(out.side_by_side)
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np

from dancenow.errors import DancenowError
from dancenow.keypoints import BODY, PoseSequence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransferConfig:
    """smooth: smooth the source poses in time before normalizing (jitter becomes flicker).
    align_x: move the source's median hip x onto the target's (the paper does not).
    keep_proportions: keep the source's bone lengths (the paper's global normalization alone);
        by default the spine, limbs, shoulders and hips take the target's (`dancenow.normalize.retarget`).
    snap: move each mapped joint this fraction of the way toward the target's nearest own pose
        (the model's exemplar bank) where that joint is already close (`SynthModel.snap_poses`;
        0: the mapped pose as it is).
    source_frac / target_frac: the normalization's `far` window fractions."""

    smooth: bool = True
    align_x: bool = False
    keep_proportions: bool = False
    # Measured on the demo against its truth: person SSIM 0.743 -> 0.772 (retrieval 0.766), pose
    # error 2.00 -> 1.79 px; a whole-pose pull of 0.5 gave 0.770 at 2.15 px, one of 1.0 0.753.
    snap: float = 0.5
    source_frac: float = 0.5
    crop: bool = False  # output the model's crop even when the model could fill the whole frame
    panel_height: int = 256  # pixels: side-by-side panels are at least this high
    # Run label drawing and exemplar posing (ahead), the generator, and compositing (behind) in
    # threads of their own (dancenow.overlap), so the generator rarely waits; False: one after
    # the other, the reference the overlapped run equals frame for frame.
    overlap: bool = True
    # torch threads for the generator (None: as torch has them). With overlap on a small CPU,
    # one core fewer than there are leaves a core to the stages around the generator.
    threads: int | None = None


@dataclass(frozen=True)
class TransferFrame:
    """One output step. label and image are in the model's image space (H, W, 3 uint8); result
    is what the output shows: the full target-video frame, or the crop (= image);
    side_by_side (drawn when first asked for): source | normalized pose | result, captioned."""

    index: int
    image: np.ndarray
    label: np.ndarray
    keypoints: np.ndarray  # (J, 3) normalized source pose (before `snap`), in target-video pixels
    source: np.ndarray | None  # the source frame (RGB), when frames were given
    result: np.ndarray  # the output frame: full frame (with a plate) or the crop
    alpha: np.ndarray | None = None  # (H, W) in [0, 1]: the person, in model space
    source_keypoints: np.ndarray | None = None  # (J, 3) the source's own pose, for its stick figure
    source_size: tuple[int, int] = (0, 0)  # (w, h) of the source's frame
    panel_height: int = 256

    @functools.cached_property
    def side_by_side(self) -> np.ndarray:
        from dancenow.render import render_label

        h = self.panel_height
        src_label = None
        if self.source is None and self.source_keypoints is not None:
            sw, sh = self.source_size
            src_label = render_label(self.source_keypoints, self.source_size, (max(1, int(sw * h / sh)), h))
        return compose_side_by_side(self.source, self.label, self.result, src_label, h)


def hold_last_pose(seq: PoseSequence) -> tuple[PoseSequence, int]:
    """Frames with no body keypoint take the last good frame's pose (the first good frame's for
    leading ones), so a source that loses its dancer for a moment still yields frames.
    Returns the filled sequence and how many frames were filled."""
    kp = seq.keypoints.copy()
    has = (kp[:, BODY, 2] > 0).any(axis=1)
    if not has.any():
        raise DancenowError("the source has no person in any frame: nothing to transfer")
    idx = np.where(has, np.arange(len(kp)), -1)
    idx = np.maximum.accumulate(idx)
    idx[idx < 0] = int(np.argmax(has))
    return seq.replace(keypoints=kp[idx]), int((~has).sum())


def prepare_source(source: PoseSequence, target_stats, config: TransferConfig = TransferConfig()) -> PoseSequence:
    """Source poses -> poses in the target's frame: hold gaps, smooth, globally normalize, give
    the bones the target's lengths."""
    from dancenow.normalize import fit_stats, normalize

    seq, filled = hold_last_pose(source)
    if filled:
        log.info("%d source frames had no person: reusing the last good pose there", filled)
    if config.smooth and len(seq) > 2:
        from dancenow.pose import smooth_poses

        seq = smooth_poses(seq)
    stats = fit_stats(seq, frac=config.source_frac)
    return normalize(seq, stats, target_stats, align_x=config.align_x, keep_proportions=config.keep_proportions)


def fit_height(img: np.ndarray, h: int) -> np.ndarray:
    if img.shape[0] == h:
        return img
    w = max(1, int(round(img.shape[1] * h / img.shape[0])))
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def compose_side_by_side(source: np.ndarray | None, label: np.ndarray, result: np.ndarray,
                         source_label: np.ndarray | None = None, height: int | None = None) -> np.ndarray:
    """source | normalized pose | result, all `height` px high (default: the result's), with
    small captions. Without a source video, the source's own stick figure stands in for it."""
    from dancenow.render import caption

    h = height or result.shape[0]
    left = source if source is not None else source_label
    panels = []
    if left is not None:
        panels.append(caption(fit_height(left, h), "source"))
    panels.append(caption(fit_height(label, h), "pose"))
    panels.append(caption(fit_height(result, h), "result"))
    return np.concatenate(panels, axis=1)


class TransferPipeline:
    """A loaded model plus source poses in, frames of the target person out."""

    def __init__(self, model, config: TransferConfig = TransferConfig()):
        self.model = model
        self.config = config

    @property
    def full_frame(self) -> bool:
        """Whether results are whole target-video frames (a model with a plate, crop not asked)."""
        return bool(self.model.has_plate and not self.config.crop)

    @property
    def output_size(self) -> tuple[int, int]:
        """(w, h) of the result frames."""
        return self.model.video_size if self.full_frame else self.model.image_size

    def __call__(self, source: PoseSequence, source_frames: Iterable[np.ndarray] | None = None) -> Iterator[TransferFrame]:
        from dancenow.overlap import run_stages
        from dancenow.synth.generate import to_mask, to_uint8
        from dancenow.synth.model import Generated

        # 1. map the source dancer onto the target's body and frame
        stats = self.model.body_stats
        target_size = (stats.width, stats.height)
        norm = prepare_source(source, stats, self.config)
        # what the model draws: the mapped pose, its joints near the target's own poses pulled in
        shown = self.model.snap_poses(norm.keypoints, target_size, self.config.snap)
        model, h = self.model, max(self.config.panel_height, self.model.image_size[1])
        if self.config.threads is not None and not self.config.overlap:
            import torch

            torch.set_num_threads(self.config.threads)
        chooser = model.chooser()
        frames = iter(source_frames) if source_frames is not None else None

        def items():
            for t, kp in enumerate(shown):
                yield t, kp, (next(frames, None) if frames is not None else None)

        # 2. ahead of the generator: the label image and the posed exemplar (pose only)
        def ahead(item):
            t, kp, src = item
            label = model.label_image(kp, target_size)
            return t, label, model.prepare_step(label, model.model_keypoints(kp, target_size), chooser), src

        # 3. the generator, in order: each frame is conditioned on its previous output (float)
        prev = None

        def generate(item):
            nonlocal prev
            t, label, inp, src = item
            prev, alpha = model.run_step(inp, prev)
            return t, label, inp.exemplar, prev, alpha, src

        # 4. behind it: the person back into the target's full frame, over the plate
        def behind(item):
            t, label, k, image, alpha, src = item
            g = Generated(to_uint8(image), None if alpha is None else to_mask(alpha), k)
            result = model.full_frame(g) if self.full_frame else g.image
            return TransferFrame(t, g.image, label, norm.keypoints[t], src, result, g.alpha,
                                 source.keypoints[t], source.size, h)

        # the generator's torch threads as configured; one each for the small conversions around it
        yield from run_stages(items(), [ahead, generate, behind], overlap=self.config.overlap,
                              threads=[1, self.config.threads or _torch_threads(), 1])


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


@dataclass(frozen=True)
class TransferResult:
    output: "os.PathLike"
    frames: int
    fps: float
    seconds: float  # wall time of the generation and writing
    size: tuple[int, int] = (0, 0)  # (w, h) of the result frames
    full_frame: bool = False  # whole target-video frames (else the model's crop)
    side_by_side: "os.PathLike | None" = None  # the side-by-side video, when one was written


def transfer_to_file(model, source: str | os.PathLike, output: str | os.PathLike,
                     poses: str | os.PathLike | PoseSequence | None = None, config: TransferConfig = TransferConfig(),
                     side_by_side: bool = False, side_by_side_output: str | os.PathLike | None = None,
                     openpose_fps: float | None = None, openpose_size: tuple[int, int] | None = None,
                     progress: bool = True, on_frame: Callable[[TransferFrame], None] | None = None) -> TransferResult:
    """`dancenow transfer` (and the demo's transfer): the target person (a loaded `model`)
    performing the dance of `source`, written to `output` (.mp4), streaming. `source` is a video
    (its poses detected, or read from `poses`) or poses alone (.npz or an OpenPose folder).
    output holds the result (the whole target frame when the model has a plate, else the crop),
    or source | pose | result with `side_by_side`; `side_by_side_output` writes that composite
    to a second file as well. on_frame: called with every TransferFrame (scoring, a sample)."""
    import contextlib
    import time
    from pathlib import Path

    from dancenow.posefile import is_pose_path, load_poses
    from dancenow.video import VideoWriter, probe, read_frames

    frames = None
    if is_pose_path(source):
        seq = load_poses(source, openpose_fps, openpose_size)
    else:
        info = probe(source)
        if isinstance(poses, PoseSequence):
            seq = poses
        elif poses is not None:
            seq = load_poses(poses, openpose_fps or info.fps, openpose_size or info.size)
        else:
            from dancenow.pose import detect_video

            seq = detect_video(source, progress=progress)
        frames = read_frames(source)
    pipe = TransferPipeline(model, config)
    t0 = time.perf_counter()
    from tqdm import tqdm

    with contextlib.ExitStack() as stack:
        out = stack.enter_context(VideoWriter(output, seq.fps))
        sbs = stack.enter_context(VideoWriter(side_by_side_output, seq.fps)) if side_by_side_output else None
        for step in tqdm(pipe(seq, frames), total=len(seq), unit="frame", desc="transfer", disable=not progress):
            out.write(step.side_by_side if side_by_side else step.result)
            if sbs is not None:
                sbs.write(step.side_by_side)
            if on_frame is not None:
                on_frame(step)
    return TransferResult(Path(output), len(seq), seq.fps, time.perf_counter() - t0, pipe.output_size,
                          pipe.full_frame, Path(side_by_side_output) if side_by_side_output else None)
