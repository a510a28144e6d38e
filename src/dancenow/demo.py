"""`dancenow demo`: the whole pipeline on the synthetic world, with no files needed.

1. render the target actor's training video and a differently built, differently placed
   source dancer (the synthetic world, exact ground truth);
2. run the real pose detector on the source video;
3. prepare the target data and train a small model of the target person;
4. transfer the source dance onto the target (side-by-side video, sample frame);
5. score the result against the ground truth: the target actor rendered doing the source dance.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dancenow.atomic import atomic_file, write_json
from dancenow.errors import DancenowError

log = logging.getLogger(__name__)


# A fixed step count (about 10 min at 128x128 on 2 quiet cores, 2+ steps/s) rather than a time
# budget: a budget sizes the run from its first steps' speed, which a busy machine misjudges.
FULL_DEMO_STEPS = 1300


@dataclass(frozen=True)
class DemoConfig:
    """out_dir: where everything goes. quick: the ~2-minute version (tests use it).
    reuse: keep a previous run's model in out_dir instead of training again (offered, not forced).
    The rest have defaults for the full run; `quick` swaps in smaller ones."""

    out_dir: Path = Path("demo")
    quick: bool = False
    reuse: bool = False
    seed: int = 7
    target_actor: str = "ana"
    source_actor: str = "ben"
    video_size: int = 256  # rendered videos are video_size x video_size
    target_seconds: float = 90.0
    source_seconds: float = 20.0
    preset: str = "cpu-small"
    # None: FULL_DEMO_STEPS for the full demo, the quick preset's own schedule with `quick`
    train_steps: int | None = None
    fps: float = 30.0

    def resolved(self) -> "DemoConfig":
        if not self.quick:
            return dataclasses.replace(self, train_steps=self.train_steps or FULL_DEMO_STEPS)
        return dataclasses.replace(self, target_seconds=12.0, source_seconds=4.0, preset="quick",
                                   video_size=192)


@dataclass
class DemoResult:
    out_dir: Path
    outputs: dict[str, Path] = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0


def _write_clip(path: Path, frames, fps: float, total: int, desc: str) -> None:
    from tqdm import tqdm

    from dancenow.video import VideoWriter

    with VideoWriter(path, fps) as w:
        for f in tqdm(frames, total=total, unit="frame", desc=desc, leave=False):
            w.write(f)


def run_demo(config: DemoConfig = DemoConfig()) -> DemoResult:
    """Run the demo; returns the paths of its outputs and its metrics (also in metrics.json)."""
    from dancenow.evaluate.metrics import psnr, ssim
    from dancenow.images import write_image
    from dancenow.pose import detect_video
    from dancenow.posefile import save_poses
    from dancenow.synth.config import preset
    from dancenow.synth.data import prepare
    from dancenow.synth.model import SynthModel
    from dancenow.synth.train import train
    from dancenow.world import generate_dance, get_actor, perform, render_frames
    from dancenow.transfer import TransferPipeline
    from dancenow.video import VideoWriter, read_frames

    cfg = config.resolved()
    t0 = time.time()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res = DemoResult(out)
    size = (cfg.video_size, cfg.video_size)
    target, source = get_actor(cfg.target_actor), get_actor(cfg.source_actor)

    # 1. the synthetic world: a target training video and a source dance by another body
    log.info("1/5 rendering the target (%s, %g s) and the source dancer (%s, %g s)",
             target.name, cfg.target_seconds, source.name, cfg.source_seconds)
    target_dance = generate_dance(cfg.seed, cfg.target_seconds, cfg.fps)
    source_dance = generate_dance(cfg.seed + 1, cfg.source_seconds, cfg.fps)
    target_perf = perform(target, target_dance, size)
    source_perf = perform(source, source_dance, size)
    paths = {
        "target_video": out / "target.mp4", "source_video": out / "source.mp4",
        "source_poses": out / "source_poses.npz", "data": out / "data", "model": out / "model",
        "side_by_side": out / "transfer_side_by_side.mp4", "result": out / "transfer.mp4",
        "sample": out / "sample.png", "metrics": out / "metrics.json", "summary": out / "summary.md",
    }
    _write_clip(paths["target_video"], render_frames(target, target_perf), cfg.fps, len(target_perf), "render target")
    _write_clip(paths["source_video"], render_frames(source, source_perf), cfg.fps, len(source_perf), "render source")

    # 2. the real detector on the source video (the transfer path a user's footage takes)
    log.info("2/5 detecting the source dancer's pose with MediaPipe Holistic")
    source_poses = detect_video(paths["source_video"])
    save_poses(source_poses, paths["source_poses"])
    detected = float((source_poses.confidence[:, :25] > 0).any(axis=1).mean())

    # 3. a model of the target person (its exact poses stand in for detection on the target)
    model_dir = paths["model"]
    if cfg.reuse and (model_dir / "config.json").is_file():
        log.info("3/5 reusing the model in %s (drop --reuse to train again)", model_dir)
    else:
        if (model_dir / "config.json").is_file():
            log.info("a previous demo model exists in %s: pass --reuse to skip training", model_dir)
        log.info("3/5 preparing the target data and training the %r model", cfg.preset)
        mcfg = preset(cfg.preset)
        prepare(paths["target_video"], paths["data"], size=mcfg.image_size, poses=target_perf.poses)
        train(mcfg, paths["data"], model_dir, steps=cfg.train_steps)
    model = SynthModel.load(model_dir)

    # 4. transfer, streaming: side-by-side, result only, and the ground truth for scoring
    log.info("4/5 transferring the source dance onto %s", target.name)
    gt_camera = dataclasses.replace(target.camera, distance=_mid_distance(target.camera), distance_end=None)
    truth = render_frames(target, perform(target, source_dance, size, gt_camera))
    pipe = TransferPipeline(model)
    ssims, psnrs = [], []
    sample_at = len(source_poses) // 2
    t_transfer = time.time()
    with VideoWriter(paths["side_by_side"], source_poses.fps) as sbs, VideoWriter(paths["result"], source_poses.fps) as res_w:
        for step in pipe(source_poses, read_frames(paths["source_video"])):
            gt = model.crop.apply(next(truth))
            ssims.append(ssim(step.image, gt))
            psnrs.append(psnr(step.image, gt))
            sbs.write(step.side_by_side)
            res_w.write(step.image)
            if step.index == sample_at:
                from dancenow.render import caption
                from dancenow.transfer import fit_height

                row = np.concatenate([step.side_by_side, fit_height(gt, step.image.shape[0])], axis=1)
                row = fit_height(row, max(256, row.shape[0]))  # small models: enlarge to be seen
                cut = row.shape[1] - fit_height(gt, row.shape[0]).shape[1]
                row[:, cut:] = caption(row[:, cut:], "truth")
                write_image(paths["sample"], row)
    transfer_fps = len(ssims) / max(time.time() - t_transfer, 1e-9)

    # 5. metrics
    res.metrics = {
        "ssim": float(np.mean(ssims)), "psnr": float(np.mean(psnrs)), "frames": len(ssims),
        "source_detected_fraction": detected, "transfer_fps": transfer_fps,
        "model": str(model_dir), "preset": cfg.preset, "image_size": list(model.image_size),
        "wall_seconds": time.time() - t0, "quick": cfg.quick,
        "reference": "the target actor rendered doing the source dance (static camera at the target's mid distance), cropped like the training data",
    }
    write_json(paths["metrics"], res.metrics, indent=2)
    _write_text(paths["summary"], _summary(res.metrics, paths))
    res.outputs = paths
    res.seconds = time.time() - t0
    return res


def _mid_distance(camera) -> float:
    return camera.distance if camera.distance_end is None else 0.5 * (camera.distance + camera.distance_end)


def _write_text(path: Path, text: str) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(text)


def _summary(m: dict, paths: dict[str, Path]) -> str:
    return (
        "# dancenow demo\n\n"
        f"- SSIM {m['ssim']:.3f}, PSNR {m['psnr']:.2f} dB over {m['frames']} frames, against {m['reference']}\n"
        f"- source dancer detected in {100 * m['source_detected_fraction']:.1f}% of frames\n"
        f"- transfer: {m['transfer_fps']:.1f} frames/s; whole demo {m['wall_seconds'] / 60:.1f} min\n\n"
        f"![sample]({paths['sample'].name})\n\n"
        f"Side-by-side video: `{paths['side_by_side'].name}`; result only: `{paths['result'].name}`.\n"
    )
