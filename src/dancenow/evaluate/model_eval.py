"""Evaluate a trained synthesis model on held-out frames of its target (self-transfer), the
"Everybody Dance Now" protocol: the real frame is known, so the generated one can be scored.

1. load the model directory (`SynthModel.load`) and the prepared data (`SynthData`);
2. generate the split's frames in order from their label images, each conditioned on the
   previous generated frame (temporal smoothing, exactly as `transfer` runs the model; the
   first frame of the split starts without a previous frame);
3. score each generated frame against the real one in model space (the data's crop and size),
   with the face crop and the pose distance taken from the input keypoints (model pixels).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from dancenow.errors import DancenowError
from dancenow.evaluate.pipeline import EvalConfig, evaluate_pairs
from dancenow.evaluate.report import EvalReport
from dancenow.keypoints import PoseSequence

log = logging.getLogger(__name__)

SPLITS = ("val", "train", "all")


def evaluate_model(model_dir: str | os.PathLike, data_dir: str | os.PathLike, split: str = "val",
                   config: EvalConfig = EvalConfig(), progress: bool = True) -> EvalReport:
    """Generate the `split` frames ('val': the held-out tail, the default; 'train'; 'all') of a
    prepared data directory with the model in `model_dir`, and score them against the real
    frames. Images and pose distances are in model pixels (`EvalReport.width x height`).
    Raises DancenowError when the model and the data do not fit (frame size)."""
    from dancenow.synth.data import SynthData
    from dancenow.synth.model import SynthModel

    if split not in SPLITS:
        raise DancenowError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    model = SynthModel.load(model_dir, device=config.device)
    data = SynthData(data_dir)
    if tuple(model.image_size) != tuple(data.size):
        raise DancenowError(f"model {model_dir} generates {model.image_size[0]}x{model.image_size[1]} frames "
                            f"but {data_dir} is prepared at {data.size[0]}x{data.size[1]}")
    if model.crop != data.crop:
        # Scores stay meaningful (labels and real frames come from the same data), but the
        # model sees the person framed differently from training.
        log.warning("the model's crop differs from the data's (%s vs %s): is this the model's own target?",
                    model.crop, data.crop)
    indices = {"val": data.val, "train": data.train, "all": range(len(data))}[split]
    if config.max_frames is not None:
        indices = indices[: config.max_frames]
    if len(indices) == 0:
        raise DancenowError(f"{data_dir} has no {split} frames")
    w, h = data.size
    ref_poses = PoseSequence(data.keypoints[indices.start:indices.stop], data.fps, w, h)

    gen_seconds = 0.0

    def generated() -> Iterator[np.ndarray]:
        nonlocal gen_seconds
        labels = (np.array(data.labels[t]) for t in indices)  # a copy: the memmap is read-only
        frames = model.generate_sequence(labels, (data.keypoints[t] for t in indices))
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            gen_seconds += time.perf_counter() - t0
            if frame is None:
                return
            yield frame.image

    reals = (np.array(data.frames[t]) for t in indices)
    source = {"model": str(model_dir), "data": str(data_dir), "split": split,
              "frames": [indices.start, indices.stop], "model_step": model.info.get("step")}
    report = evaluate_pairs(zip(generated(), reals), data.fps, ref_poses, config, total=len(indices),
                            progress=progress, source=source)
    gen_fps = report.frames / gen_seconds if gen_seconds > 0 else None
    return dataclasses.replace(report, generation_fps=gen_fps)


def evaluate_to_file(output: str | os.PathLike, config: EvalConfig = EvalConfig(), *,
                     generated: str | os.PathLike | None = None, reference: str | os.PathLike | None = None,
                     poses: str | os.PathLike | None = None, model_dir: str | os.PathLike | None = None,
                     data_dir: str | os.PathLike | None = None, split: str = "val",
                     progress: bool = True) -> tuple[EvalReport, dict[str, Path]]:
    """`dancenow evaluate`: a pair of videos (`generated` against `reference`, whose poses are
    read from `poses` or detected) or a model on its data's held-out frames; the report is
    written to `output` (JSON, with markdown and a frame grid beside it)."""
    from dancenow.evaluate.pipeline import evaluate_videos
    from dancenow.evaluate.report import write_report

    if model_dir is not None:
        report = evaluate_model(model_dir, data_dir, split, config, progress=progress)
    else:
        seq = None
        if poses is not None:
            from dancenow.posefile import load_poses

            seq = load_poses(poses, video=reference)
        report = evaluate_videos(generated, reference, seq, config, progress=progress)
    return report, write_report(report, output)
