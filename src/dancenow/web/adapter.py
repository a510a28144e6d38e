"""Every call the web app makes into the rest of dancenow, in one place, so that when synthesis,
the coach or choreography change their functions only this module follows.

Job functions run in a worker process: `run_<kind>(params, job_dir, report) -> result`, where
`params` were checked by the server (uploads resolved to stored files), outputs go under
`job_dir/work/`, `report(stage, fraction, **live)` records progress, and the result names the
files to serve (paths relative to `work/`), the figures to show and the model folder, if any.
`ChoreoStream` runs in the server: a choreography model continued a chunk at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np

from dancenow.errors import DancenowError

log = logging.getLogger(__name__)

Report = Callable[..., None]  # report(stage: str, fraction: float, **live)

# The synthetic world's dancers, for a page that needs footage before the user has any.
ACTORS = ("ana", "ben", "chloe", "dev")
PRESETS = ("quick", "cpu-small")
# The coach's three modes and what each reads (attempt, reference); the built-in exercises.
COACH_MODES = {
    "dance": (("video", "poses"), ("video", "poses")),
    "exercise": (("video", "poses"), ("video", "poses")),  # the reference: one good repetition (optional)
    "photo": (("image", "poses"), ("image", "poses")),
}


def exercise_names() -> tuple[str, ...]:
    from dancenow.coach.exercises import EXERCISES

    return tuple(EXERCISES)

# A choreography model from the synthetic world: three styles made of different moves of the
# world's library, so the style mix visibly changes what the figure does.
WORLD_STYLES: dict[str, tuple[str, ...]] = {
    "arms": ("arm_wave", "arm_circles", "clap", "disco_point"),
    "legs": ("step_touch", "kicks", "march", "jumping_jacks", "squat"),
    "groove": ("groove", "hip_sway", "walk", "turn", "jump"),
}
# Small and quick on 2 CPU cores: 60 steps took 4.8 s at hidden 128 (busy machine).
QUICK_CHOREO = {"model": {"hidden": 128, "layers": 2, "mixtures": 4}, "batch_size": 16}  # over the "small" preset


def _work(job_dir: Path) -> Path:
    out = Path(job_dir) / "work"
    out.mkdir(parents=True, exist_ok=True)
    return out


# ----------------------------------------------------------------------------- uploads

IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM")  # PNG, JPEG, BMP (WebP: RIFF....WEBP)
VIDEO_SUFFIXES = {"mov": ".mp4", "mp4": ".mp4", "matroska": ".mkv", "webm": ".webm", "avi": ".avi"}


def sniff(path: Path) -> str:
    """What a file holds, from its first bytes: 'npz', 'bvh', 'image' or 'video' (to be checked)."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"PK\x03\x04"):
        return "npz"
    if head.lstrip().upper().startswith(b"HIERARCHY"):
        return "bvh"
    if head.startswith(IMAGE_MAGIC) or (head.startswith(b"RIFF") and head[8:12] == b"WEBP"):
        return "image"
    return "video"


def video_suffix(path: Path) -> str:
    """A file suffix for a video container (from its content, not its name)."""
    import av

    try:
        with av.open(str(path)) as c:
            names = c.format.name.split(",")
    except Exception:  # any decoder error: the content check that follows reports it
        return ".video"
    for n in names:
        if n in VIDEO_SUFFIXES:
            return VIDEO_SUFFIXES[n]
    return ".video"


def check_upload(path: Path, sniffed: str, max_video_seconds: float) -> tuple[str, dict]:
    """(kind, info) of a stored upload, by decoding it: a video must decode (its first frames),
    an image must load, a pose file must read. DancenowError with a message otherwise."""
    if sniffed == "video":
        from dancenow.video import probe, read_frames

        try:
            info = probe(path)
            frames = read_frames(path)
            first = next(frames, None)
            frames.close()
        except DancenowError:
            raise DancenowError("not a video this app can read (it did not decode)") from None
        if first is None:
            raise DancenowError("the video has no frames")
        if min(info.size) < 32:
            raise DancenowError(f"the video is too small ({info.width}x{info.height}); at least 32 px a side")
        if info.duration > max_video_seconds:
            raise DancenowError(f"the video is {info.duration:.0f} s long; the limit is {max_video_seconds:.0f} s")
        return "video", {"width": info.width, "height": info.height, "fps": round(info.fps, 3),
                         "seconds": round(info.duration, 2), "frames": info.frame_count}
    if sniffed == "image":
        from dancenow.images import read_image

        try:
            img = read_image(path)
        except DancenowError:
            raise DancenowError("not an image this app can read") from None
        return "image", {"width": int(img.shape[1]), "height": int(img.shape[0])}
    if sniffed == "npz":
        from dancenow.posefile import load_poses

        try:
            seq = load_poses(path)
            return "poses", {"width": seq.width, "height": seq.height, "fps": seq.fps,
                             "seconds": round(len(seq) / seq.fps, 2), "frames": len(seq)}
        except DancenowError:
            pass
        return "motion", _motion_info(path)
    if sniffed == "bvh":
        return "motion", _motion_info(path)
    raise DancenowError("unknown kind of file")


def _motion_info(path: Path) -> dict:
    from dancenow.choreo.clips import load_clips

    try:
        clips = load_clips(path, "upload")
    except DancenowError as e:
        raise DancenowError(f"not a motion file this app can read ({e})") from None
    except Exception:
        raise DancenowError("not a motion file this app can read") from None
    if not clips:
        raise DancenowError("the motion file has no usable motion (no frame with both hips)")
    return {"clips": len(clips), "seconds": round(sum(len(c) for c in clips) / 30.0, 2)}


def thumbnail(path: Path, kind: str, out: Path, side: int = 240) -> Path | None:
    """A small PNG of a video's first frame or of an image (None for pose files)."""
    if kind not in ("video", "image"):
        return None
    import cv2

    from dancenow.images import write_image
    from dancenow.video import read_frames

    frames = read_frames(path)
    img = next(frames)
    frames.close()
    h, w = img.shape[:2]
    s = side / max(h, w)
    img = cv2.resize(img, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
    return write_image(out, img)


# ----------------------------------------------------------------------------- models

def model_kind(path: Path) -> str | None:
    """'synth' (a target-person model), 'choreo' (a choreography model) or None."""
    import json

    path = Path(path)
    cfg = path / "config.json"
    if cfg.is_file():
        try:
            if str(json.loads(cfg.read_text()).get("format", "")).startswith("dancenow.synth"):
                return "synth"
        except (OSError, ValueError, AttributeError):
            return None
    if (path / "model.json").is_file() or any(p.name.startswith("step-") for p in path.iterdir() if p.is_dir()):
        return "choreo"
    return None


def synth_model_info(path: Path) -> dict:
    import json

    doc = json.loads((Path(path) / "config.json").read_text())
    size = doc.get("config", {}).get("image_size")
    return {"step": doc.get("step"), "image_size": size, "metrics": doc.get("metrics", {})}


# ----------------------------------------------------------------------------- transfer

def _render_actor(actor: str, seconds: float, size: int, seed: int, path: Path):
    """A synthetic-world clip and its exact poses (the world is its own ground truth)."""
    from dancenow.world import render_clip
    from dancenow.video import write_video

    frames, poses = render_clip(actor, seconds, (size, size), seed=seed)
    write_video(path, frames, poses.fps, total=len(poses), progress=False)
    return path, poses


def _detect(path: Path, report: Report, stage: str, lo: float, hi: float):
    """Poses of a video (MediaPipe Holistic), reporting progress between lo and hi."""
    from dancenow.pose import detect_frames
    from dancenow.video import probe, read_frames

    info = probe(path)
    total = max(1, info.frame_count)

    def frames():
        for i, f in enumerate(read_frames(path)):
            if i % 15 == 0:
                report(f"{stage} ({i}/{total} frames)", lo + (hi - lo) * min(i / total, 1.0))
            yield f

    return detect_frames(frames(), info.fps, progress=False)


def _training_callback(model_dir: Path, report: Report, lo: float, hi: float, preset_total: int):
    """on_step for synth.train: progress, held-out SSIM/PSNR and the newest sample grid."""
    import json

    from dancenow.synth.config import SynthConfig

    state = {"t": 0.0, "total": preset_total, "cfg_mtime": 0.0}
    cfg_path = model_dir / "train_config.json"

    def on_step(step: int, final: bool = False) -> None:
        now = time.time()
        if now - state["t"] < 1.0 and not final:  # once a second, and once more when training ends
            return
        state["t"] = now
        try:  # a time budget rewrites the step count while training
            m = cfg_path.stat().st_mtime
            if m != state["cfg_mtime"]:
                state["total"], state["cfg_mtime"] = SynthConfig.load(cfg_path).total_steps, m
        except (OSError, DancenowError):
            pass
        live = {"step": step, "total": state["total"]}
        metrics = model_dir / "metrics.jsonl"
        if metrics.is_file():
            lines = metrics.read_text().strip().splitlines()
            if lines:
                last = json.loads(lines[-1])
                live.update(ssim=last.get("ssim"), psnr=last.get("psnr"), eval_step=last.get("step"))
        samples = sorted((model_dir / "samples").glob("step-*.png"))
        if samples:
            live["sample"] = str(samples[-1].relative_to(model_dir.parent))
        frac = min(step / max(state["total"], 1), 1.0)
        report(f"training ({step}/{state['total']} steps)", lo + (hi - lo) * frac, **live)

    return on_step


def run_transfer(p: dict, job_dir: Path, report: Report) -> dict:
    """prepare -> train -> transfer as one job (or transfer only, with a finished model)."""
    from dancenow.atomic import write_json
    from dancenow.images import write_image
    from dancenow.posefile import load_poses
    from dancenow.synth.model import SynthModel
    from dancenow.transfer import transfer_to_file

    out = _work(job_dir)
    t0 = time.time()
    trained = p.get("model") is None
    # 1. the model of the target person: train one, or reuse a finished one
    if trained:
        from dancenow.synth.checkpoint import list_checkpoints
        from dancenow.synth.config import preset
        from dancenow.synth.prepare import prepare
        from dancenow.synth.train import train

        cfg = preset(p["preset"])
        target = p["target"]
        if "actor" in target:
            report(f"rendering the target ({target['actor']}, {target['seconds']:g} s)", 0.01)
            video, poses = _render_actor(target["actor"], target["seconds"], p["video_size"], 7, out / "target.mp4")
        else:
            video = Path(target["path"])
            poses = load_poses(out / "target_poses.npz") if (out / "target_poses.npz").is_file() else None
            if poses is None:
                from dancenow.posefile import save_poses

                poses = _detect(video, report, "finding the target's pose", 0.01, 0.12)
                save_poses(poses, out / "target_poses.npz")
        report("preparing the training data (crop, labels, body stats)", 0.12)
        prepare(video, out / "data", size=cfg.image_size, poses=poses, progress=False)
        model_dir = out / "model"
        resume = bool(list_checkpoints(model_dir / "checkpoints"))
        if resume:
            log.info("continuing the training run in %s", model_dir)
        steps = p.get("steps")
        total = steps or cfg.total_steps
        report("training", 0.15, step=0, total=total)
        on_step = _training_callback(model_dir, report, 0.15, 0.8, total)
        train(cfg, out / "data", model_dir, resume=resume, steps=steps, minutes=None if resume else p.get("minutes"),
              progress=False, on_step=on_step)
        from dancenow.synth.config import SynthConfig

        on_step(SynthConfig.load(model_dir / "train_config.json").total_steps, final=True)  # the last sample and figures
    else:
        model_dir = Path(p["model"]["path"])
    model = SynthModel.load(model_dir)

    # 2. the source dance
    source = p["source"]
    lo = 0.8 if trained else 0.0
    if "actor" in source:
        report(f"rendering the source dancer ({source['actor']}, {source['seconds']:g} s)", lo)
        src_video, seq = _render_actor(source["actor"], source["seconds"], p["video_size"], 11, out / "source.mp4")
    elif source["kind"] == "poses":
        src_video, seq = None, load_poses(source["path"])
    else:
        src_video = Path(source["path"])
        seq = _detect(src_video, report, "finding the source dancer's pose", lo, lo + 0.3 * (1 - lo))

    # 3. transfer: the result and the side-by-side in one pass (the loop `dancenow transfer` runs)
    lo = lo + 0.3 * (1 - lo)
    n = len(seq)
    t1 = time.time()
    still_at = n // 2

    def on_frame(step) -> None:
        if step.index == still_at:
            write_image(out / "still.png", step.side_by_side)
        if step.index % 10 == 0:
            report(f"transferring ({step.index}/{n} frames)", lo + (0.97 - lo) * step.index / max(n, 1))

    transfer_to_file(model, src_video if src_video is not None else source["path"], out / "result.mp4", poses=seq,
                     side_by_side_output=out / "side_by_side.mp4", progress=False, on_frame=on_frame)
    transfer_fps = n / max(time.time() - t1, 1e-9)

    # 4. the normalization plot: source, target and the mapped source over time
    report("plotting the normalization", 0.98)
    files = {"result": "result.mp4", "side_by_side": "side_by_side.mp4", "still": "still.png"}
    try:
        _normalization_plot(seq, model, model_dir, out / "normalization.png")
        files["plot"] = "normalization.png"
    except DancenowError as e:  # the videos stand without it
        log.warning("no normalization plot: %s", e)
    info = synth_model_info(model_dir)
    held = info.get("metrics") or {}
    metrics = {
        "frames": n, "fps": seq.fps, "seconds": round(n / seq.fps, 2), "transfer_fps": round(transfer_fps, 2),
        "image_size": list(model.image_size), "model_step": info.get("step"),
        "heldout_ssim": held.get("ssim"), "heldout_psnr": held.get("psnr"),
        "trained_here": trained, "wall_seconds": round(time.time() - t0, 1),
    }
    write_json(out / "metrics.json", metrics, indent=2)
    files["metrics"] = "metrics.json"
    return {"files": files, "metrics": metrics, "model": "model" if trained else None}


def _normalization_plot(seq, model, model_dir: Path, path: Path) -> None:
    from dancenow.normalize import fit_stats
    from dancenow.normalize_plot import plot_normalization
    from dancenow.posefile import load_poses
    from dancenow.transfer import hold_last_pose, prepare_source

    filled, _ = hold_last_pose(seq)
    norm = prepare_source(seq, model.body_stats)
    target_poses = model_dir.parent / "data" / "poses.npz"  # a model trained here; else its stats alone
    target = load_poses(target_poses) if target_poses.is_file() else None
    plot_normalization(filled, target, norm, fit_stats(filled), model.body_stats, path)


# ----------------------------------------------------------------------------- coach

def run_coach(p: dict, job_dir: Path, report: Report) -> dict:
    """The coach report: a dance against a reference, an exercise's repetitions (a built-in
    exercise or one learned from a reference repetition), or a photo's pose against a reference
    pose; through the coach's own entry points (dancenow.coach.run)."""
    from dancenow.coach import run

    out = _work(job_dir) / "report"
    attempt = p["attempt"]["path"]
    reference = p["reference"]["path"] if p.get("reference") else None
    mode = p["mode"]
    if mode == "dance":
        from dancenow.coach import CoachConfig

        report("finding the poses and scoring the dance", 0.1)
        result, html, _ = run.dance_to_report(reference, attempt, out, CoachConfig(mirror=bool(p.get("mirror"))))
        metrics = {"score": round(float(result.score), 1), "timing_s": round(float(result.median_offset_s), 2),
                   "summary": f"{len(result.tips)} tips", "tips": [t.text for t in result.tips]}
    elif mode == "exercise":
        report("finding the poses and counting the repetitions", 0.1)
        exercise = p.get("exercise")
        result, html, _ = run.exercise_to_report(attempt, out, exercise=exercise, reference=reference if exercise is None else None)
        metrics = {"score": None if result.score != result.score else round(float(result.score), 1),
                   "reps": result.full, "partial": result.partial, "summary": result.summary()}
    else:
        report("finding the poses and comparing them", 0.1)
        result, html, _ = run.photo_to_report(attempt, out, reference, mirror=bool(p.get("mirror")))
        metrics = {"score": round(float(result.score), 1), "summary": f"{len(result.differences)} differences",
                   "tips": [d.instruction for d in result.differences]}
    rel = Path(html).relative_to(out.parent)
    return {"files": {"report": str(rel), "json": str(rel.with_suffix(".json"))}, "metrics": metrics, "model": None}


# ----------------------------------------------------------------------------- choreography

def _world_sources(data: Path, seconds: float, report: Report) -> list[tuple[str, str]]:
    """Pose files of the synthetic world's dancers, one style per group of moves."""
    from dancenow.posefile import save_poses
    from dancenow.world import generate_dance, perform

    sources = []
    for i, (style, moves) in enumerate(WORLD_STYLES.items()):
        for k, actor in enumerate(("ana", "ben", "chloe")):
            path = data / f"{style}_{actor}.npz"
            if not path.is_file():
                report(f"making the synthetic world's {style} dances", 0.02 + 0.03 * i)
                dance = generate_dance(100 * i + k, seconds, 30.0, moves=moves)
                save_poses(perform(actor, dance, (512, 512)).poses, path)
            sources.append((str(path), style))
    return sources


def run_choreo_train(p: dict, job_dir: Path, report: Report) -> dict:
    """A quick choreography model: from the synthetic world's dances, or from uploaded motion."""
    import dataclasses

    from dancenow.choreo.checkpoint import list_checkpoints as checkpoints
    from dancenow.choreo.config import preset
    from dancenow.choreo.train import train
    from dancenow.posefile import save_poses

    out = _work(job_dir)
    data = out / "data"
    data.mkdir(exist_ok=True)
    if p["source"] == "world":
        sources = _world_sources(data, p.get("world_seconds", 40.0), report)
    else:
        sources = []
        for i, item in enumerate(p["uploads"]):
            if item["kind"] == "video":
                path = data / f"upload{i}.npz"
                if not path.is_file():
                    save_poses(_detect(Path(item["path"]), report, f"finding the dancer's pose in {item['name']}", 0.0, 0.15), path)
                sources.append((str(path), item["style"]))
            else:
                sources.append((item["path"], item["style"]))
    steps = int(p["steps"])
    model_dir = out / "model"
    cfg = preset("small")
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, **QUICK_CHOREO["model"]),
                              batch_size=QUICK_CHOREO["batch_size"], steps=steps, checkpoint_every=max(10, steps // 10),
                              keep=2).validate()
    done = threading.Event()

    def watch():  # checkpoints are the only progress choreo.train shows from outside
        while not done.wait(1.0):
            found = checkpoints(model_dir)
            if found:
                step = int(found[-1].name.split("-")[1])
                report(f"training ({step}/{steps} steps)", 0.2 + 0.7 * step / steps, step=step, total=steps)

    report("training", 0.2, step=0, total=steps)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        ckpt = train(sources, model_dir, cfg, resume=True, device="cpu", progress=False)
    finally:
        done.set()
    report("generating a preview dance", 0.92)
    from dancenow.choreo.generate import generate_to_files

    # the calibrated temperature and torso spread, as `dancenow choreo generate` uses by default
    dance = generate_to_files(ckpt, [out / "preview.mp4"], seconds=8.0, size=(320, 320))
    styles = sorted({s for _, s in sources})
    metrics = {"steps": steps, "styles": styles, "clips": len(sources), "frames_per_second": round(dance.frames_per_second, 1)}
    return {"files": {"preview": "preview.mp4"}, "metrics": metrics, "model": "model"}


def run_choreo_video(p: dict, job_dir: Path, report: Report) -> dict:
    """The last seconds of a dance played on the Choreography page, as a stick-figure video."""
    from dancenow.choreo.generate import GeneratedDance, write_dance

    out = _work(job_dir)
    with np.load(Path(job_dir) / "input" / "dance.npz", allow_pickle=False) as z:
        pose, root, fps = z["pose"], z["root"], float(z["fps"])
    report("rendering the dance", 0.1)
    dance = GeneratedDance(pose, root, fps, 0, dict(p.get("style", {})), 0.0)
    write_dance(dance, out / "dance.mp4", (512, 512))
    metrics = {"frames": int(len(pose)), "seconds": round(len(pose) / fps, 2), "style": p.get("style", {}),
               "liveliness": p.get("liveliness")}
    return {"files": {"video": "dance.mp4"}, "metrics": metrics, "model": None}


class ChoreoStream:
    """A choreography model dancing on and on, a chunk at a time: each chunk continues the last
    `context_s` seconds of the dance so far with the liveliness and style mix of the moment,
    so a change of the controls shows within one chunk. Keeps the last `history_s` seconds (the
    model's representation) for saving."""

    def __init__(self, model_dir: Path, context_s: float = 1.0, history_s: float = 30.0):
        from dancenow.choreo.checkpoint import load_model
        from dancenow.choreo.generate import Choreographer

        model, info = load_model(model_dir)
        self.choreographer = Choreographer(model, info)
        self.fps = float(self.choreographer.fps)
        self.styles = [s for s in model.config.styles if s != "any"]
        seed = self.choreographer.still_seed()
        self.context = max(2, int(round(context_s * self.fps)))
        self.pose, self.step = seed.pose, seed.root_step  # context: (T, P, D), (T, D)
        self.root = np.zeros(seed.root_step.shape[1])
        self.frame = 0  # frames generated so far
        self.history: deque = deque(maxlen=int(history_s * self.fps) + 1)  # (frame, pose, root)
        self.calls = 0
        self.lock = threading.Lock()

    def next(self, n: int, liveliness: float, style: dict[str, float]) -> tuple[int, np.ndarray]:
        """The next n frames: (index of the first, (n, 25, 2) BODY_25 x, y in body heights, y
        down, NaN where the model has no joint). liveliness scales the model's calibrated
        temperature for the style mix (1: as fast as its data; 0: its most likely dance), so the
        slider means the same for every model (calibrated temperatures run from 0.1 to 4)."""
        from dancenow.choreo.clips import pose_to_body25, window_arrays
        from dancenow.choreo.generate import model_temperature, parse_style

        weights = {k: float(v) for k, v in style.items() if float(v) > 0}
        with self.lock:
            P = self.pose.shape[1]
            seed = window_arrays(self.pose, self.step, np.ones((len(self.pose), P + 1), np.float32),
                                 self.choreographer.defaults, "any", "live")
            ch = self.choreographer
            temperature = liveliness * model_temperature(ch.model, ch.info, parse_style(ch.model, weights or None))
            dance = ch(seed, seconds=n / self.fps, temperature=temperature, style=weights or None, random_seed=self.calls)
            self.calls += 1
            s = dance.seed_frames
            new_pose = dance.pose[s:]
            steps = np.diff(dance.root[s - 1:], axis=0)  # (n, D) root step of each new frame
            roots = self.root + np.cumsum(steps, 0)
            self.root = roots[-1]
            self.pose = np.concatenate([self.pose, new_pose.astype(np.float32)])[-self.context:]
            self.step = np.concatenate([self.step, steps.astype(np.float32)])[-self.context:]
            first = self.frame
            for i in range(len(new_pose)):
                self.history.append((first + i, new_pose[i], roots[i]))
            self.frame += len(new_pose)
        return first, pose_to_body25(new_pose, roots)[..., :2]

    def last_seconds(self, seconds: float, upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(pose (T, P, D), root (T, D)) of the `seconds` before frame `upto` (default: the end)."""
        with self.lock:
            items = [h for h in self.history if upto is None or h[0] <= upto]
        items = items[-int(round(seconds * self.fps)):]
        if len(items) < 2:
            raise DancenowError("nothing to save yet: play the dance first")
        return np.stack([h[1] for h in items]), np.stack([h[2] for h in items])


def body_limbs() -> list[list[int]]:
    """BODY_25 limbs and their OpenPose colours, for drawing on the page."""
    from dancenow.keypoints import BODY_LIMBS
    from dancenow.render import LIMB_COLORS

    return [[int(a), int(b), *map(int, c)] for (a, b), c in zip(BODY_LIMBS, LIMB_COLORS)]


def save_dance_input(path: Path, pose: np.ndarray, root: np.ndarray, fps: float) -> Path:
    from dancenow.atomic import atomic_file

    with atomic_file(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, pose=pose.astype(np.float32), root=root.astype(np.float32), fps=np.array(fps))
    return path


def configure_worker_threads() -> str | None:
    """Torch threads for a worker: the idle cores (before torch loads)."""
    from dancenow.compute import configure_threads

    return configure_threads()
