"""`dancenow demo`: the whole pipeline on the synthetic world, with no files needed.

1. render the target actor's training video (a static camera, as a user would film: the target
   walks toward and away from it) and a differently built, differently placed source dancer
   (the synthetic world, exact ground truth);
2. run the real pose detector on the source video;
3. detect the target's pose, prepare the target data and train a model of the target person;
4. transfer the source dance onto the target (`dancenow.transfer.transfer_to_file`, as
   `dancenow transfer` does): the whole frame, side by side, a sample frame;
5. score the result against the ground truth, the target actor rendered doing the source dance
   in the same frame (`truth.mp4`, its keypoints `truth_poses.npz`), beside retrieval (the
   target's training frame nearest in pose, `retrieval.mp4`): SSIM/PSNR over the whole frame,
   the person's box and the face, on the decoded videos; and the frame-to-frame change (flicker)
   of the result against the truth's.
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


# A fixed step count rather than a time budget (a budget sizes the run from its first steps'
# speed, which a busy machine misjudges). The held-out SSIM during training is flat from step
# 250 on (0.958 / 0.836 frame / person at 250, 0.959 / 0.840 at 700), and against the truth
# 350 steps scored 0.938 / 0.769 / 0.764 (frame / person / face) where 700 scored 0.938 /
# 0.771 / 0.766. The 350-step demo took 8.2 min in all on 2 idle cores running fp32 matmul at
# 181 GFLOP/s (training 4.7 min); the 700-step one 11.8 min at 167 GFLOP/s (training 8.0), too
# near the demo's 12-minute limit on a slow machine. Without cpu-small's face stage (350 body
# steps): 0.938 / 0.768 / 0.764, 6.4 min at 331 GFLOP/s.
FULL_DEMO_STEPS = 350


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
    video_size: int = 320  # rendered videos are video_size x video_size
    target_seconds: float = 60.0
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


def target_camera(actor):
    """The target's camera for the demo: the actor's own, held still at its middle distance (a
    tripod, as the paper asks), widened until every move stays in frame. The target still walks
    toward and away from it (the `walk` move), so normalization has work to do."""
    from dancenow.world.actor import fit_camera

    cam = dataclasses.replace(actor.camera, distance=_mid_distance(actor.camera), distance_end=None)
    return fit_camera(cam, actor.body.height, actor.stage_x, actor.stage_z)


def target_performance(cfg: DemoConfig, seconds: float | None = None, dance=None):
    """(actor, Performance): the demo's target dancing `dance` (default: its training dance)
    in front of `target_camera`."""
    from dancenow.world import generate_dance, get_actor, perform

    actor = get_actor(cfg.target_actor)
    dance = dance if dance is not None else generate_dance(cfg.seed, seconds or cfg.target_seconds, cfg.fps)
    return actor, perform(actor, dance, (cfg.video_size, cfg.video_size), target_camera(actor))


def _mid_distance(camera) -> float:
    return camera.distance if camera.distance_end is None else 0.5 * (camera.distance + camera.distance_end)


def _write_clip(path: Path, frames, fps: float, total: int, desc: str) -> None:
    from tqdm import tqdm

    from dancenow.video import VideoWriter

    with VideoWriter(path, fps) as w:
        for f in tqdm(frames, total=total, unit="frame", desc=desc, leave=False):
            w.write(f)


def _train_model(cfg: DemoConfig, paths: dict[str, Path]) -> dict:
    """3. Prepare the target data and train (into a fresh folder that replaces the old model only
    when training finished); returns the training figures."""
    from dancenow.atomic import atomic_dir
    from dancenow.pose import detect_video
    from dancenow.synth.config import preset
    from dancenow.synth.prepare import prepare
    from dancenow.synth.train import train

    mcfg = preset(cfg.preset)
    # The target's poses as a user's would be: detected by the same MediaPipe as the source's.
    # The world's exact joints sit elsewhere (hips 8.4 px higher, neck 5.4 px), and a model
    # trained on them was shown detected poses at transfer: person SSIM 0.699 against 0.745
    # with both detected (one run each, retrieval 0.741 and 0.757).
    log.info("detecting the target's pose with MediaPipe Holistic")
    poses = detect_video(paths["target_video"])
    prepare(paths["target_video"], paths["data"], size=mcfg.image_size, poses=poses)
    t0 = time.perf_counter()
    with atomic_dir(paths["model"]) as tmp:
        train(mcfg, paths["data"], tmp, steps=cfg.train_steps)
    return {"train_seconds": time.perf_counter() - t0}


def _flicker(path: Path) -> float:
    """Mean absolute change between consecutive frames of a video (grey levels)."""
    from dancenow.video import read_frames

    prev, total, n = None, 0.0, 0
    for f in read_frames(path):
        f = f.astype(np.int16)
        if prev is not None:
            total += float(np.abs(f - prev).mean())
            n += 1
        prev = f
    return total / max(n, 1)


def _figures(report) -> dict:
    return {"ssim": report.ssim, "psnr": report.psnr, "person_ssim": report.person_ssim,
            "person_psnr": report.person_psnr, "face_ssim": report.face_ssim, "face_psnr": report.face_psnr,
            "lpips": report.lpips, "frames": report.frames}


def run_demo(config: DemoConfig = DemoConfig()) -> DemoResult:
    """Run the demo; returns the paths of its outputs and its metrics (also in metrics.json)."""
    from dancenow.evaluate import EvalConfig, evaluate_videos
    from dancenow.images import write_image
    from dancenow.pose import detect_video
    from dancenow.posefile import load_poses, save_poses
    from dancenow.render import caption
    from dancenow.synth.exemplar import retrieve
    from dancenow.synth.model import SynthModel
    from dancenow.transfer import TransferConfig, fit_height, transfer_to_file
    from dancenow.video import read_frames
    from dancenow.world import generate_dance, get_actor, perform, render_frames

    cfg = config.resolved()
    t0 = time.time()
    out = Path(cfg.out_dir)
    if out.exists() and not out.is_dir():
        raise DancenowError(f"{out} is a file: the demo writes a folder")
    out.mkdir(parents=True, exist_ok=True)
    res = DemoResult(out)
    size = (cfg.video_size, cfg.video_size)
    paths = {
        "target_video": out / "target.mp4", "source_video": out / "source.mp4",
        "source_poses": out / "source_poses.npz", "data": out / "data", "model": out / "model",
        "side_by_side": out / "transfer_side_by_side.mp4", "result": out / "transfer.mp4",
        "truth": out / "truth.mp4", "truth_poses": out / "truth_poses.npz", "retrieval": out / "retrieval.mp4",
        "sample": out / "sample.png", "metrics": out / "metrics.json", "summary": out / "summary.md",
    }

    # 1. the synthetic world: a target training video (static camera) and a source dance by another body
    target, perf = target_performance(cfg)
    source = get_actor(cfg.source_actor)
    log.info("1/5 rendering the target (%s, %g s) and the source dancer (%s, %g s)",
             target.name, cfg.target_seconds, source.name, cfg.source_seconds)
    source_dance = generate_dance(cfg.seed + 1, cfg.source_seconds, cfg.fps)
    source_perf = perform(source, source_dance, size)
    _write_clip(paths["target_video"], render_frames(target, perf), cfg.fps, len(perf), "render target")
    _write_clip(paths["source_video"], render_frames(source, source_perf), cfg.fps, len(source_perf), "render source")
    # the truth: the target actor doing the source dance, filmed exactly like the target video
    _, truth_perf = target_performance(cfg, dance=source_dance)
    _write_clip(paths["truth"], render_frames(target, truth_perf), cfg.fps, len(truth_perf), "render truth")
    save_poses(truth_perf.poses, paths["truth_poses"])

    # 2. the real detector on the source video (the transfer path a user's footage takes)
    log.info("2/5 detecting the source dancer's pose with MediaPipe Holistic")
    source_poses = detect_video(paths["source_video"])
    save_poses(source_poses, paths["source_poses"])
    detected = float((source_poses.confidence[:, :25] > 0).any(axis=1).mean())

    # 3. a model of the target person, from its detected poses
    model_dir = paths["model"]
    figures = {}
    if cfg.reuse and (model_dir / "config.json").is_file():
        log.info("3/5 reusing the model in %s (drop --reuse to train again)", model_dir)
    else:
        if (model_dir / "config.json").is_file():
            log.info("a previous demo model in %s is replaced when this one is trained (--reuse keeps it)", model_dir)
        log.info("3/5 preparing the target data and training the %r model", cfg.preset)
        figures = _train_model(cfg, paths)
    model = SynthModel.load(model_dir)

    # 4. transfer, streaming (the same loop as `dancenow transfer`), and retrieval beside it:
    # for each frame, the target's own frame nearest to the normalized pose
    log.info("4/5 transferring the source dance onto %s", target.name)
    sample_at = len(source_poses) // 2
    norm_kp: list[np.ndarray] = []
    sample: dict = {}

    def keep(step) -> None:
        norm_kp.append(step.keypoints)
        if step.index == sample_at:
            sample.update(sbs=step.side_by_side)

    t_transfer = time.time()
    # align_x: the truth is the target dancing at her own place on the stage, so the source's
    # median hip position is moved onto hers (the paper keeps the source's place in the frame)
    transfer_to_file(model, paths["source_video"], paths["result"], poses=source_poses,
                     config=TransferConfig(align_x=True), side_by_side_output=paths["side_by_side"], on_frame=keep)
    transfer_fps = len(norm_kp) / max(time.time() - t_transfer, 1e-9)
    # the training frames' poses as the model has them (detected, in target-video pixels)
    nearest = retrieve(np.stack(norm_kp), load_poses(paths["data"] / "poses.npz").keypoints)
    # retrieval replays the training frames the model learned from: target.mp4 as decoded, not
    # the renderer's uncompressed pixels (those matched the truth's encoding outside the person,
    # 0.941 whole-frame SSIM against 0.920 from the decoded frames, a lead no model could earn)
    wanted = set(int(i) for i in nearest)
    train_frames = {i: f for i, f in enumerate(read_frames(paths["target_video"])) if i in wanted}
    _write_clip(paths["retrieval"], (train_frames[int(i)] for i in nearest), cfg.fps, len(nearest), "retrieval")

    # 5. metrics on the decoded videos, against the truth
    log.info("5/5 scoring the result and retrieval against the truth")
    ecfg = EvalConfig(pose=False, lpips=False, examples=0)
    ours = evaluate_videos(paths["result"], paths["truth"], truth_perf.poses, ecfg, progress=False)
    retr = evaluate_videos(paths["retrieval"], paths["truth"], truth_perf.poses, ecfg, progress=False)
    flicker_ours, flicker_truth = _flicker(paths["result"]), _flicker(paths["truth"])

    truth_frame = next(f for i, f in enumerate(read_frames(paths["truth"])) if i == sample_at)
    h = sample["sbs"].shape[0]
    row = np.concatenate([sample["sbs"], caption(fit_height(truth_frame, h), "truth")], axis=1)
    write_image(paths["sample"], row)

    info = model.info
    res.metrics = {
        "ours": _figures(ours), "retrieval": _figures(retr),
        "flicker": {"ours": flicker_ours, "truth": flicker_truth, "ratio": flicker_ours / max(flicker_truth, 1e-9)},
        "frames": ours.frames, "frame_size": [ours.width, ours.height], "image_size": list(model.image_size),
        "source_detected_fraction": detected, "transfer_fps": transfer_fps, "steps": info.get("step"),
        "model": str(model_dir), "preset": cfg.preset, "wall_seconds": time.time() - t0, "quick": cfg.quick,
        **figures,
        "reference": "truth.mp4: the target actor rendered doing the source dance, filmed by the target's camera",
    }
    write_json(paths["metrics"], res.metrics, indent=2)
    _write_text(paths["summary"], _summary(res.metrics, paths))
    res.outputs = paths
    res.seconds = time.time() - t0
    return res


def _write_text(path: Path, text: str) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(text)


def _summary(m: dict, paths: dict[str, Path]) -> str:
    o, r, f = m["ours"], m["retrieval"], m["flicker"]

    def fmt(v, d=3):
        return "n/a" if v is None else f"{v:.{d}f}"

    return (
        "# dancenow demo\n\n"
        f"Against {m['reference']} ({m['frames']} frames, {m['frame_size'][0]}x{m['frame_size'][1]}):\n\n"
        "| | SSIM frame | SSIM person | SSIM face | PSNR frame dB |\n| --- | --- | --- | --- | --- |\n"
        f"| dancenow | {fmt(o['ssim'])} | {fmt(o['person_ssim'])} | {fmt(o['face_ssim'])} | {fmt(o['psnr'], 2)} |\n"
        f"| retrieval (nearest training frame by pose) | {fmt(r['ssim'])} | {fmt(r['person_ssim'])} | {fmt(r['face_ssim'])} | {fmt(r['psnr'], 2)} |\n\n"
        f"- frame-to-frame change: {f['ours']:.2f} grey levels, the truth's {f['truth']:.2f} ({f['ratio']:.2f}x)\n"
        f"- source dancer detected in {100 * m['source_detected_fraction']:.1f}% of frames\n"
        f"- model: {m['steps']} steps at {m['image_size'][0]}x{m['image_size'][1]}; transfer {m['transfer_fps']:.1f} frames/s; "
        f"whole demo {m['wall_seconds'] / 60:.1f} min\n\n"
        f"![sample]({paths['sample'].name})\n\n"
        f"Videos: `{paths['side_by_side'].name}` (source | pose | result), `{paths['result'].name}`, "
        f"`{paths['truth'].name}`, `{paths['retrieval'].name}`.\n"
    )
