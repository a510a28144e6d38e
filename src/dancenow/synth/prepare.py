"""Preparing a target video for training: `prepare(video, out_dir)` turns it into a cache the
trainer reads fast (`dancenow.synth.data.SynthData`).

A prepared directory holds:
  meta.json        format/version, source, frame count, fps, sizes, the held-out split, and
                   which steps are done (re-running `prepare` skips them)
  poses.npz        the target's poses as detected, in video pixels (dancenow.posefile)
  camera.json      what the camera did (static | steadied | moving, dancenow.synth.plate)
  plate.png        the background without the person, video pixels (not for a moving camera)
  warps.npy        (T, 2, 3) per-frame alignment to the first frame (steadied cameras only)
  crop.json        the fixed crop box: one affine map, video pixels -> model pixels (`Crop`)
  frames.npy       (T, H, W, 3) uint8 frames in model space (memory-mapped when read)
  labels.npy       (T, H, W, 3) uint8 label images (dancenow.render.render_label) in model space
  keypoints.npy    (T, 137, 3) float32 keypoints in model pixels
  body_stats.json  the target's BodyStats in (steadied) video pixels (dancenow.normalize.fit_stats)

The crop is ONE box for the whole video, so where the person stands in the frame (and how big
they are) stays meaningful: normalization maps a source dancer into the target's video frame,
and the model then sees it through the same crop. A steadied camera's frames are first warped
into the first frame's view, so "video pixels" means that view throughout.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from dancenow.atomic import atomic_file, write_json
from dancenow.errors import DancenowError
from dancenow.keypoints import PoseSequence
from dancenow.synth.geometry import Crop

log = logging.getLogger(__name__)

DATA_FORMAT = "dancenow.synth.data"
DATA_VERSION = 2  # v2: camera.json, plate.png, warps.npy (steadied cameras)
CAMERA_VERSION = 4


# --------------------------------------------------------------------------- small helpers

def _read_meta(out: Path) -> dict:
    p = out / "meta.json"
    if not p.is_file():
        return {}
    try:
        meta = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        log.warning("%s is unreadable: preparing from scratch", p)
        return {}
    if meta.get("format") != DATA_FORMAT or int(meta.get("version", 0)) != DATA_VERSION:
        log.warning("%s is from another dancenow version: preparing from scratch", p)
        return {}
    return meta


def _source_id(video) -> dict | None:
    """What identifies a source video file (path, size, mtime); None for in-memory frames."""
    if isinstance(video, (str, os.PathLike)):
        p = Path(video).resolve()
        if not p.exists():
            raise DancenowError(f"video not found: {video}")
        st = p.stat()
        return {"path": str(p), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    return None


def _digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, arr, allow_pickle=False)


def _reserve(path) -> None:
    from dancenow.guard import reserve

    reserve(path)  # a full disk: one line now, not SIGBUS while the memory map is written


def _check_prepare_inputs(video, out_dir, size, poses, fps, holdout, margin):
    """Everything `prepare` can check before it writes: numbers within bounds, the output folder,
    the video (readable, not too long at `fps`), the poses (loaded once here), and room on disk
    for the frames and labels (a memory map that meets a full disk dies of SIGBUS, silently).
    Returns the size as ints and the poses as a PoseSequence (or None)."""
    from dancenow import guard
    from dancenow.posefile import load_poses

    size = guard.check_size(size, "the training size")
    guard.check_number(holdout, "holdout", lo=0, hi=0.9, hi_open=True)
    guard.check_number(margin, "margin", lo=0, hi=10)
    if fps is not None:
        guard.check_number(fps, "fps", lo=0, lo_open=True, hi=guard.MAX_FPS)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DancenowError(f"cannot prepare into {out}: it is a file, not a folder")
    n = None
    if isinstance(video, (str, os.PathLike)):
        from dancenow.video import probe

        info = probe(video)  # a missing, empty or unreadable video fails here
        n = info.frame_count * (fps / info.fps if fps else 1.0)
        guard.check_frames(n, f"{video}" + (f" at {fps:g} fps" if fps else ""))
    if poses is not None and not isinstance(poses, PoseSequence):
        poses = load_poses(poses, video=video if isinstance(video, (str, os.PathLike)) else None)
    if poses is not None:
        n = max(n or 0, len(poses))
    if n:
        guard.check_free_space(out, int(n * size[0] * size[1] * 3 * 2), f"the frames and labels of {n:.0f} frames at "
                               f"{size[0]}x{size[1]}")
    return size, poses


class _Frames:
    """The target's frames, readable more than once: a video file (decoded again on each pass,
    resampled to `fps` when given) or frames in memory; only frames first..stop-1 (stop None:
    to the end)."""

    def __init__(self, video, fps: float | None, first: int = 0, stop: int | None = None):
        self.path = video if isinstance(video, (str, os.PathLike)) else None
        self.fps, self.first, self.stop = fps, first, stop
        self.frames = None if self.path is not None else [np.asarray(f) for f in video][first:stop]

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.path is None:
            return iter(self.frames)
        import itertools

        from dancenow.video import read_frames

        return itertools.islice(read_frames(self.path, fps=self.fps), self.first, self.stop)


# --------------------------------------------------------------------------- the steps

def _poses_step(frames: _Frames, rate: float, out: Path, done: dict, poses, source, key_extra: dict, pose_config,
                progress) -> tuple[PoseSequence, dict]:
    """1. The target's poses in video pixels: given (a whole video's, cut to the span), cached,
    or detected on the span's frames. Returns (poses, key)."""
    from dancenow.posefile import load_poses, save_poses

    if poses is not None:
        seq = poses if isinstance(poses, PoseSequence) else load_poses(poses, video=frames.path)
        if frames.first or frames.stop is not None:
            if frames.first >= len(seq):
                raise DancenowError(f"the span starts at frame {frames.first}, the poses have {len(seq)} frames")
            seq = seq.slice(frames.first, min(len(seq), frames.stop or len(seq)))
        key = {"given": _digest(seq.keypoints)}
        if done.get("poses") != key or not (out / "poses.npz").is_file():
            save_poses(seq, out / "poses.npz")
        return seq, key
    key = {"source": source, "config": repr(pose_config), **key_extra}
    if done.get("poses") == key and (out / "poses.npz").is_file():
        log.info("poses: cached in %s", out / "poses.npz")
        return load_poses(out / "poses.npz"), key
    try:
        from dancenow.pose import PoseConfig, detect_frames
        from dancenow.video import probe
    except ImportError as e:
        raise DancenowError(f"the pose stage is not available ({e}); pass ready poses (--poses)") from None
    info = probe(frames.path)
    total = int(round(info.frame_count * rate / info.fps)) if info.frame_count else None
    if total is not None:
        total = max(0, min(total, frames.stop or total) - frames.first)
    seq = detect_frames(iter(frames), rate, pose_config or PoseConfig(), total=total or None, progress=progress)
    save_poses(seq, out / "poses.npz")
    return seq, key


def _source_geometry(video, seq: PoseSequence | None, fps: float | None) -> tuple[tuple[int, int] | None, float | None, float | None]:
    """2. The video's frame size and rate, and the rate to read it at (None: as it is): `fps`,
    else given poses' rate when it differs from the video's."""
    if isinstance(video, (str, os.PathLike)):
        from dancenow.video import probe

        info = probe(video)
        read_fps = fps if fps else (seq.fps if seq is not None and abs(seq.fps - info.fps) > 0.01 * info.fps else None)
        return info.size, info.fps, read_fps
    return None, None, None


def _fit_poses(seq: PoseSequence, src_size: tuple[int, int]) -> PoseSequence:
    """Poses made for another frame size, rescaled to the video's frame."""
    if seq.size == src_size:
        return seq
    log.warning("poses refer to %dx%d frames, the video is %dx%d: rescaling the keypoints", seq.width, seq.height, *src_size)
    kp = seq.keypoints.copy()
    kp[..., 0] *= src_size[0] / seq.width
    kp[..., 1] *= src_size[1] / seq.height
    return PoseSequence(kp, seq.fps, *src_size)


def _count_and_sample(frames: _Frames, n: int, wanted: np.ndarray, progress: bool) -> tuple[int, list[np.ndarray]]:
    """One pass: how many frames there are (the poses say n; a few more or fewer are rounding,
    many a mismatch: an error) and the frames at the `wanted` indices."""
    from tqdm import tqdm

    tolerance = max(2, n // 100)
    want = set(int(i) for i in wanted)
    got, picked = 0, []
    for frame in tqdm(frames, total=n, unit="frame", desc="camera", disable=not progress):
        if got in want:
            picked.append(np.asarray(frame).copy())
        got += 1
        if got > n + tolerance:
            raise DancenowError(f"the video has more than {n + tolerance} frames but there are only {n} poses: poses and video do not match")
    if n - got > tolerance:
        raise DancenowError(f"the video has {got} frames but there are {n} poses: poses and video do not match")
    if got < n:
        log.warning("the video has %d frames, the poses %d: using the first %d", got, n, got)
    return min(got, n), picked


def _camera_step(frames: _Frames, seq: PoseSequence, n: int, n_train: int, out: Path, done: dict, pose_key: dict,
                 progress: bool) -> tuple[int, dict, np.ndarray | None, np.ndarray | None]:
    """3. What the camera did, and the background plate (dancenow.synth.plate). Returns the
    frame count, the camera record, the plate (video pixels; None for a moving camera) and the
    per-frame warps (None unless steadied)."""
    from dancenow.images import read_image, write_image
    from dancenow.synth import plate as P

    key = {"poses": pose_key, "n": n, "n_train": n_train, "version": CAMERA_VERSION}
    if done.get("camera") == key and (out / "camera.json").is_file():
        record = json.loads((out / "camera.json").read_text())
        plate = read_image(out / "plate.png") if record["kind"] != "moving" else None
        warps = np.load(out / "warps.npy") if record["kind"] == "steadied" else None
        log.info("camera: cached in %s (%s)", out / "camera.json", record["kind"])
        return int(record["frames"]), record, plate, warps
    wanted = P.sample_indices(max(3, min(n_train, n)))
    n, samples = _count_and_sample(frames, n, wanted, progress)
    wanted = wanted[: len(samples)]
    kp = seq.keypoints[wanted]
    persons = P.person_masks(samples, kp)  # segmentation + skeleton
    check = P.check_camera(samples, persons)
    record = {"format": "dancenow.synth.camera", "version": CAMERA_VERSION, "kind": check.kind,
              "motion": check.motion if np.isfinite(check.motion) else None, "frames": n}
    plate = warps = None
    if check.kind == "steadied":  # align every frame (ECC from the last trusted warp)
        from tqdm import tqdm

        size = samples[0].shape[1::-1]
        stream = (f for t, f in zip(range(n), frames))
        persons_all = (P.skeleton_mask(seq.keypoints[t], size) for t in range(n))
        warps, held = P.align_all(P.Aligner(samples[0], persons[0]),
                                  tqdm(stream, total=n, unit="frame", desc="align", disable=not progress), persons_all)
        record["held"] = held
        if held > 0.5:
            record["kind"], warps = "moving", None
    if record["kind"] != "moving":
        if warps is not None:
            reg = [P.register(f, warps[i]) for f, i in zip(samples, wanted)]
            pl = P.estimate_plate(np.stack([r[0] for r in reg]),
                                  np.stack([P.register_mask(m, warps[i]) for m, i in zip(persons, wanted)]),
                                  np.stack([r[1] for r in reg]))
        else:
            pl = P.estimate_plate(np.stack(samples), persons)
        record.update(change=pl.change, filled=pl.filled, samples=pl.samples)
        if pl.change > P.STATIC_LIMIT:
            record["kind"], warps = "moving", None
        else:
            plate = pl.image
    if record["kind"] == "moving":
        log.warning("the camera moves (%s): no background plate, the model will generate whole frames; film with a fixed camera for sharper results",
                    f"{100 * check.motion:.1f}% of the frame height" if np.isfinite(check.motion) else "frames do not align")
    else:
        log.info("camera %s (motion %.2f%% of the frame height), plate from %d frames, %.1f%% filled in",
                 record["kind"], 100 * check.motion, record["samples"], 100 * record["filled"])
        write_image(out / "plate.png", plate)
    if warps is not None:
        _save_npy(out / "warps.npy", warps)
    write_json(out / "camera.json", record)
    done["camera"] = key
    return n, record, plate, warps


def _model_frame(frame: np.ndarray, crop: Crop, warp: np.ndarray | None, plate_model: np.ndarray | None) -> np.ndarray:
    """One video frame -> model space: cropped, or (steadied) warped into the first frame's view
    and cropped in one resampling, areas the frame does not cover taken from the plate."""
    import cv2

    if warp is None:
        return crop.apply(frame)
    sx, sy = crop.scale
    lin = np.asarray(warp, np.float64)[:, :2] @ np.diag([1 / sx, 1 / sy])  # model -> frame, linear part
    c = np.array([(0.5 - crop.x0) * sx - 0.5, (0.5 - crop.y0) * sy - 0.5])
    m = np.concatenate([lin, (np.asarray(warp, np.float64)[:, 2] - lin @ c)[:, None]], axis=1)
    f = min(1.0, max(sx, sy))
    if f < 1.0:  # shrink first (area averaging), so the warp does not alias stripes and edges
        h, w = frame.shape[:2]
        frame = cv2.resize(frame, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        m = f * m
        m[:, 2] += 0.5 * f - 0.5
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    img = cv2.warpAffine(frame, m, crop.out_size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    if plate_model is not None:
        ones = np.ones(frame.shape[:2], np.uint8)
        valid = cv2.warpAffine(ones, m, crop.out_size, flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0
        img[~valid] = plate_model[~valid]
    return img


def _frames_step(frames: _Frames, crop: Crop, warps: np.ndarray | None, plate: np.ndarray | None, n: int,
                 out: Path, size: tuple[int, int], progress: bool) -> None:
    """5. frames.npy: every frame in model space, streamed into a memory map (flat memory)."""
    from tqdm import tqdm

    plate_model = crop.apply(plate) if plate is not None else None
    with atomic_file(out / "frames.npy") as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, size[1], size[0], 3))
        _reserve(tmp)
        got = 0
        for frame in tqdm(frames, total=n, unit="frame", desc="frames", disable=not progress):
            if got == n:
                break
            mm[got] = _model_frame(np.asarray(frame), crop, None if warps is None else warps[got], plate_model)
            got += 1
        mm.flush()
        del mm
        if got < n:
            raise DancenowError(f"the video gave {got} frames on a second reading, {n} on the first: is it being written?")


def _labels_step(kp_model: np.ndarray, out: Path, size: tuple[int, int], progress: bool) -> None:
    """6. keypoints.npy and labels.npy: the model-space keypoints and their label images."""
    from tqdm import tqdm

    from dancenow.render import render_label

    _save_npy(out / "keypoints.npy", kp_model)
    with atomic_file(out / "labels.npy") as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(kp_model), size[1], size[0], 3))
        _reserve(tmp)
        for t in tqdm(range(len(kp_model)), unit="frame", desc="labels", disable=not progress):
            mm[t] = render_label(kp_model[t], size, size)
        mm.flush()
        del mm


def _span_frames(span: tuple[float, float | None] | None, rate: float) -> tuple[int, int | None]:
    """(first frame, stop frame or None) of a span in seconds, at `rate` frames/s."""
    if span is None:
        return 0, None
    return int(round(span[0] * rate)), None if span[1] is None else int(round(span[1] * rate))


def _held_out(n: int, holdout: float) -> int:
    """The number of frames at the end kept for validation."""
    n_val = int(round(holdout * n))
    if holdout > 0:
        n_val = max(n_val, 2)
    if n - n_val < 3:
        raise DancenowError(f"{n} frames leave too few for training after holding out {n_val}")
    return n_val


# --------------------------------------------------------------------------- prepare

def prepare(video: str | os.PathLike | Iterable[np.ndarray], out_dir: str | os.PathLike,
            size: tuple[int, int] = (256, 256), *, poses: PoseSequence | str | os.PathLike | None = None,
            fps: float | None = None, holdout: float = 0.1, margin: float = 0.15, pose_config=None,
            person: tuple[float, float] | None = None, span: tuple[float, float | None] | None = None,
            progress: bool = True) -> Path:
    """Prepare a target video for training; returns `out_dir`.

    video: a video file, or an iterable of RGB uint8 frames (then `poses` is required and gives
        the frame rate; the frames are held in memory). poses: ready poses (a PoseSequence, or a
        .npz / OpenPose folder path) in the video's pixels, one per frame; None runs
        `dancenow.pose.detect_video` (with `pose_config`). fps: resample the video to this rate
        first (default: its own, or the given poses' rate). size: (w, h) model image size.
        holdout: the fraction of frames at the end kept for validation. margin: crop margin in
        body heights. person: a point on the person to follow in the first frame. span: (start,
        end) seconds of the video to use (end None: to the end), to leave out title cards; given
        poses are the whole video's.
    Steps already done (same source, same settings) are skipped when re-run.
    """
    from dancenow.synth import plate as P

    # 0. check everything before writing anything (robustness, issue 19)
    size, poses = _check_prepare_inputs(video, out_dir, size, poses, fps, holdout, margin)
    if min(size) < 16:
        raise DancenowError(f"training size {size[0]}x{size[1]} is too small (at least 16 px per side)")
    if person is not None:
        from dancenow.pose import PoseConfig

        pose_config = dataclasses.replace(pose_config or PoseConfig(), person=tuple(person))
    if span is not None and not (span[0] >= 0 and (span[1] is None or span[1] > span[0])):
        raise DancenowError(f"the span must be start >= 0 and end > start seconds, got {span[0]}..{span[1]}")
    source = _source_id(video)
    if source is None and poses is None:
        raise DancenowError("preparing from in-memory frames needs their poses (poses=...)")
    out = Path(out_dir)
    meta = _read_meta(out)
    if meta and source and meta.get("source") and meta["source"].get("path") != source["path"]:
        raise DancenowError(f"{out} holds data prepared from {meta['source']['path']}: use another directory")
    out.mkdir(parents=True, exist_ok=True)
    done = dict(meta.get("done", {}))

    def save_meta(**extra) -> None:
        meta.update(format=DATA_FORMAT, version=DATA_VERSION, source=source, done=done, **extra)
        write_json(out / "meta.json", meta)

    # 1. the video's frame size and rate, the span's frames; 2. poses (video pixels)
    given = poses  # a PoseSequence or None (loaded by the checks)
    src_size, video_fps, read_fps = _source_geometry(video, given, fps)
    rate = float(read_fps or video_fps or given.fps)
    first, stop = _span_frames(span, rate)
    frames = _Frames(video, read_fps, first, stop)
    seq, pose_key = _poses_step(frames, rate, out, done, given, source, {"fps": fps, "span": [first, stop]}, pose_config, progress)
    done["poses"] = pose_key
    save_meta()
    if len(seq) < 4:
        raise DancenowError(f"the target has only {len(seq)} frames; training needs at least 4")
    if src_size is None:
        src_size, video_fps = seq.size, seq.fps
    seq = _fit_poses(seq, src_size)

    # 3. the camera and the background plate (from the training part only)
    n_val = _held_out(len(seq), holdout)
    n, camera, plate, warps = _camera_step(frames, seq, len(seq), len(seq) - n_val, out, done, pose_key, progress)
    save_meta()
    seq = seq.slice(0, n)
    if warps is not None:  # poses in the first frame's view, as the frames will be
        seq = seq.replace(keypoints=P.register_keypoints(seq.keypoints, warps))

    # 4. the crop (deterministic from the poses; cheap to recompute)
    crop = Crop.fit(seq.keypoints, src_size, size, margin)
    crop.save(out / "crop.json")

    # 5. frames in model space
    frames_key = {"camera": done["camera"], "crop": crop.to_dict(), "n": n}
    if done.get("frames") == frames_key and (out / "frames.npy").is_file():
        log.info("frames: cached in %s", out / "frames.npy")
    else:
        _frames_step(frames, crop, warps, plate, n, out, size, progress)
        done["frames"] = frames_key
        save_meta(frames=n)

    # 6. model-space keypoints, label images, the target's body statistics
    if done.get("labels") != frames_key or not (out / "labels.npy").is_file():
        _labels_step(crop.to_model(seq.keypoints), out, size, progress)
        done["labels"] = frames_key
        save_meta()
    if done.get("stats") != frames_key or not (out / "body_stats.json").is_file():
        from dancenow.normalize import fit_stats

        fit_stats(seq).save(out / "body_stats.json")
        done["stats"] = frames_key
        save_meta()

    # 7. the held-out tail
    n_val = _held_out(n, holdout)
    save_meta(frames=n, fps=rate, size=list(size), src_size=list(src_size), span=[first, stop],
              val_start=n - n_val, holdout=holdout, margin=margin, camera=camera["kind"])
    log.info("prepared %d frames (%d held out) at %dx%d in %s", n, n_val, size[0], size[1], out)
    return out
