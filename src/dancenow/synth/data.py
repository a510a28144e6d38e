"""Training data for synthesis: `prepare` turns a target video into a cache the trainer reads
fast, and `SynthData` reads it.

A prepared directory holds:
  meta.json        format/version, source, frame count, fps, sizes, the held-out split, and
                   which steps are done (re-running `prepare` skips them)
  poses.npz        the target's poses in video pixels (dancenow.posefile)
  crop.json        the fixed crop box: one affine map, video pixels -> model pixels (`Crop`)
  frames.npy       (T, H, W, 3) uint8 frames in model space (memory-mapped when read)
  labels.npy       (T, H, W, 3) uint8 label images (dancenow.render.render_label) in model space
  keypoints.npy    (T, 137, 3) float32 keypoints in model pixels
  body_stats.json  the target's BodyStats in video pixels (dancenow.normalize.fit_stats)

The crop is ONE box for the whole video, so where the person stands in the frame (and how big
they are) stays meaningful: normalization maps a source dancer into the target's video frame,
and the model then sees it through the same crop.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from dancenow.atomic import atomic_file, write_json
from dancenow.errors import DancenowError
from dancenow.keypoints import BODY, FACE, Joint, PoseSequence, body_height

log = logging.getLogger(__name__)

DATA_FORMAT = "dancenow.synth.data"
DATA_VERSION = 1
CROP_FORMAT = "dancenow.crop"
_HEAD_JOINTS = [Joint.NOSE, Joint.R_EYE, Joint.L_EYE, Joint.R_EAR, Joint.L_EAR]


# --------------------------------------------------------------------------- the crop

@dataclass(frozen=True)
class Crop:
    """A fixed map from source-video pixels to model-image pixels: a box (x0, y0, width,
    height) of the video frame (it may reach past the frame's edges: that part is black) scaled
    to out_width x out_height. Pixel-centre convention, the one cv2.resize uses:

        x_model = (x_video - x0 + 0.5) * sx - 0.5,   sx = out_width / width   (same for y)
    """

    x0: int
    y0: int
    width: int
    height: int
    src_width: int
    src_height: int
    out_width: int
    out_height: int

    @property
    def scale(self) -> tuple[float, float]:
        """(sx, sy): model pixels per video pixel."""
        return self.out_width / self.width, self.out_height / self.height

    @property
    def src_size(self) -> tuple[int, int]:
        return self.src_width, self.src_height

    @property
    def out_size(self) -> tuple[int, int]:
        return self.out_width, self.out_height

    def to_model(self, keypoints: np.ndarray) -> np.ndarray:
        """(..., J, 3) keypoints in video pixels -> model pixels (missing ones stay 0, 0, 0)."""
        kp = np.array(keypoints, dtype=np.float32, copy=True)
        sx, sy = self.scale
        ok = kp[..., 2] > 0
        kp[..., 0] = np.where(ok, (kp[..., 0] - self.x0 + 0.5) * sx - 0.5, 0.0)
        kp[..., 1] = np.where(ok, (kp[..., 1] - self.y0 + 0.5) * sy - 0.5, 0.0)
        return kp

    def to_video(self, keypoints: np.ndarray) -> np.ndarray:
        """The inverse of `to_model`."""
        kp = np.array(keypoints, dtype=np.float32, copy=True)
        sx, sy = self.scale
        ok = kp[..., 2] > 0
        kp[..., 0] = np.where(ok, (kp[..., 0] + 0.5) / sx - 0.5 + self.x0, 0.0)
        kp[..., 1] = np.where(ok, (kp[..., 1] + 0.5) / sy - 0.5 + self.y0, 0.0)
        return kp

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Crop and resize one RGB uint8 video frame (src_height, src_width, 3) to the model's
        (out_height, out_width, 3); parts of the box outside the frame are black."""
        import cv2

        h, w = frame.shape[:2]
        if (w, h) != self.src_size:
            raise DancenowError(f"frame is {w}x{h}, the crop was fitted to {self.src_width}x{self.src_height} frames")
        canvas = np.zeros((self.height, self.width, 3), np.uint8)
        ax, ay = max(self.x0, 0), max(self.y0, 0)
        bx, by = min(self.x0 + self.width, w), min(self.y0 + self.height, h)
        if bx > ax and by > ay:
            canvas[ay - self.y0: by - self.y0, ax - self.x0: bx - self.x0] = frame[ay:by, ax:bx]
        interp = cv2.INTER_AREA if self.width > self.out_width else cv2.INTER_LINEAR
        return cv2.resize(canvas, self.out_size, interpolation=interp)

    def to_dict(self) -> dict:
        return {"format": CROP_FORMAT, "version": 1, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict, where: str = "crop") -> "Crop":
        if not isinstance(d, dict) or d.get("format") != CROP_FORMAT:
            raise DancenowError(f"{where} is not a dancenow crop record")
        try:
            c = cls(**{f.name: int(d[f.name]) for f in dataclasses.fields(cls)})
        except (KeyError, TypeError, ValueError) as e:
            raise DancenowError(f"{where}: bad or missing crop field ({e})") from None
        if min(c.width, c.height, c.src_width, c.src_height, c.out_width, c.out_height) <= 0:
            raise DancenowError(f"{where}: crop sizes must be positive")
        return c

    def save(self, path: str | os.PathLike) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Crop":
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()), str(path))
        except FileNotFoundError:
            raise DancenowError(f"crop file not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DancenowError(f"{path} is not a JSON crop file") from None

    @classmethod
    def fit(cls, keypoints: np.ndarray, src_size: tuple[int, int], out_size: tuple[int, int],
            margin: float = 0.15) -> "Crop":
        """The smallest box with the output's aspect ratio that holds the person in (nearly)
        every frame, plus `margin` x their median body height on each side (the head top and
        the feet reach past the keypoints). Robust to a few wild detections: the box spans the
        2nd..98th percentile of the per-frame extents. Kept inside the frame where it fits;
        without any person, the whole frame (letterboxed)."""
        sw, sh = src_size
        ow, oh = out_size
        kp = np.asarray(keypoints, np.float64)[:, BODY]
        ok = kp[..., 2] > 0
        frames = ok.sum(1) >= 2
        if frames.any():
            xs = np.where(ok, kp[..., 0], np.nan)[frames]
            ys = np.where(ok, kp[..., 1], np.nan)[frames]
            x_lo, x_hi = np.percentile(np.nanmin(xs, 1), 2), np.percentile(np.nanmax(xs, 1), 98)
            y_lo, y_hi = np.percentile(np.nanmin(ys, 1), 2), np.percentile(np.nanmax(ys, 1), 98)
            heights = body_height(np.asarray(keypoints)[frames])
            size = np.nanmedian(heights) if np.isfinite(heights).any() else max(y_hi - y_lo, x_hi - x_lo)
            pad = margin * max(float(size), 1.0)
            x_lo, x_hi, y_lo, y_hi = x_lo - pad, x_hi + pad, y_lo - pad, y_hi + pad
        else:
            log.warning("no person in any frame: the crop is the whole frame")
            x_lo, x_hi, y_lo, y_hi = 0.0, float(sw), 0.0, float(sh)
        bw, bh = max(x_hi - x_lo, 2.0), max(y_hi - y_lo, 2.0)
        aspect = ow / oh
        if bw / bh < aspect:
            bw = bh * aspect
        else:
            bh = bw / aspect
        cx, cy = (x_lo + x_hi) / 2, (y_lo + y_hi) / 2
        # Keep the box inside the frame when it fits; centre it on the frame when it does not
        # (the least black border).
        cx = min(max(cx, bw / 2), sw - bw / 2) if bw <= sw else sw / 2
        cy = min(max(cy, bh / 2), sh - bh / 2) if bh <= sh else sh / 2
        w, h = int(round(bw)), int(round(bh))
        return cls(int(round(cx - w / 2)), int(round(cy - h / 2)), w, h, sw, sh, ow, oh)


# --------------------------------------------------------------------------- face boxes

def face_boxes(keypoints: np.ndarray, side: int, image_size: tuple[int, int]) -> np.ndarray:
    """(T, 3) int64 square face boxes (x0, y0, valid) of `side` px from (T, J, 3) keypoints in
    model pixels: centred on the median of the face points when at least 5 are present, else on
    the mean of the present head joints (nose, eyes, ears; at least 2); clamped into the image.
    valid = 0 where neither is available. Training and inference both locate faces this way."""
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim == 2:
        kp = kp[None]
    w, h = image_size
    out = np.zeros((kp.shape[0], 3), np.int64)
    face = kp[:, FACE]
    head = kp[:, _HEAD_JOINTS]
    for t in range(kp.shape[0]):
        fo = face[t, :, 2] > 0
        ho = head[t, :, 2] > 0
        if fo.sum() >= 5:
            c = np.median(face[t, fo, :2], axis=0)
        elif ho.sum() >= 2:
            c = head[t, ho, :2].mean(0)
        else:
            continue
        x0 = int(np.clip(round(c[0] - side / 2), 0, w - side))
        y0 = int(np.clip(round(c[1] - side / 2), 0, h - side))
        out[t] = (x0, y0, 1)
    return out


# --------------------------------------------------------------------------- prepare

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


def _as_sequence(poses, video) -> PoseSequence:
    if isinstance(poses, PoseSequence):
        return poses
    from dancenow.posefile import load_poses

    return load_poses(poses, video=video if isinstance(video, (str, os.PathLike)) else None)


def _reserve(path) -> None:
    from dancenow.guard import reserve

    reserve(path)


def _check_prepare_inputs(video, out_dir, size, poses, fps, holdout, margin):
    """Everything `prepare` can check before it writes: numbers within bounds, the output folder,
    the video (readable, not too long at `fps`), the poses (loaded once here), and room on disk
    for the frames and labels (a memory map that meets a full disk dies of SIGBUS, silently).
    Returns the size as ints and the poses as a PoseSequence (or None)."""
    from dancenow import guard

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
    if poses is not None:
        poses = _as_sequence(poses, video)
        n = max(n or 0, len(poses))
    if n:
        guard.check_free_space(out, int(n * size[0] * size[1] * 3 * 2), f"the frames and labels of {n:.0f} frames at "
                               f"{size[0]}x{size[1]}")
    return size, poses


def prepare(video: str | os.PathLike | Iterable[np.ndarray], out_dir: str | os.PathLike,
            size: tuple[int, int] = (128, 128), *, poses: PoseSequence | str | os.PathLike | None = None,
            fps: float | None = None, holdout: float = 0.1, margin: float = 0.15, pose_config=None,
            person: tuple[float, float] | None = None, progress: bool = True) -> Path:
    """Prepare a target video for training; returns `out_dir`.

    video: a video file, or an iterable of RGB uint8 frames (then `poses` is required and gives
        the frame rate). poses: ready poses (a PoseSequence, or a .npz / OpenPose folder path) in
        the video's pixels, one per frame; None runs `dancenow.pose.detect_video` (with
        `pose_config`). fps: resample the video to this rate first (default: its own, or the
        given poses' rate). size: (w, h) model image size. holdout: the fraction of frames at
        the end kept for validation. margin: crop margin in body heights. person: a point on the
        person to follow in the first frame (sets `pose_config.person`).
    Steps already done (same source, same settings) are skipped when re-run.
    """
    from tqdm import tqdm

    from dancenow.render import render_label

    # -- input checks before any folder or file is made (robustness, issue 19) --
    size, poses = _check_prepare_inputs(video, out_dir, size, poses, fps, holdout, margin)
    if person is not None:
        import dataclasses

        from dancenow.pose import PoseConfig

        pose_config = dataclasses.replace(pose_config or PoseConfig(), person=tuple(person))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    size = (int(size[0]), int(size[1]))
    if min(size) < 16:
        raise DancenowError(f"training size {size[0]}x{size[1]} is too small (at least 16 px per side)")
    if not 0.0 <= holdout < 0.9:
        raise DancenowError(f"holdout must be in [0, 0.9), got {holdout}")
    meta = _read_meta(out)
    done = dict(meta.get("done", {}))
    source = _source_id(video)
    if source is None and poses is None:
        raise DancenowError("preparing from in-memory frames needs their poses (poses=...)")
    if meta and source and meta.get("source") and meta["source"].get("path") != source["path"]:
        raise DancenowError(f"{out} holds data prepared from {meta['source']['path']}: use another directory")

    def save_meta(**extra) -> None:
        meta.update(format=DATA_FORMAT, version=DATA_VERSION, source=source, done=done, **extra)
        write_json(out / "meta.json", meta)

    # 1. poses (video pixels)
    if poses is not None:
        seq = _as_sequence(poses, video)
        key = {"given": _digest(seq.keypoints)}
        if done.get("poses") != key or not (out / "poses.npz").is_file():
            from dancenow.posefile import save_poses

            save_poses(seq, out / "poses.npz")
    elif done.get("poses") == {"source": source, "fps": fps, "config": repr(pose_config)} and (out / "poses.npz").is_file():
        from dancenow.posefile import load_poses

        seq = load_poses(out / "poses.npz")
        key = done["poses"]
        log.info("poses: cached in %s", out / "poses.npz")
    else:
        try:
            from dancenow.pose import detect_video
        except ImportError as e:
            raise DancenowError(f"the pose stage is not available ({e}); pass ready poses (--poses)") from None
        from dancenow.posefile import save_poses

        kwargs = {} if pose_config is None else {"config": pose_config}
        seq = detect_video(video, fps=fps, progress=progress, **kwargs)
        save_poses(seq, out / "poses.npz")
        key = {"source": source, "fps": fps, "config": repr(pose_config)}
    done["poses"] = key
    save_meta()
    if len(seq) < 4:
        raise DancenowError(f"the target has only {len(seq)} frames; training needs at least 4")

    # 2. frame size and rate of the video
    if source is not None:
        from dancenow.video import probe

        info = probe(video)
        src_size, video_fps = info.size, info.fps
        read_fps = fps if fps else (seq.fps if abs(seq.fps - info.fps) > 0.01 * info.fps else None)
    else:
        src_size, video_fps, read_fps = seq.size, seq.fps, None
    if seq.size != src_size:
        log.warning("poses refer to %dx%d frames, the video is %dx%d: rescaling the keypoints",
                    seq.width, seq.height, *src_size)
        kp = seq.keypoints.copy()
        kp[..., 0] *= src_size[0] / seq.width
        kp[..., 1] *= src_size[1] / seq.height
        seq = PoseSequence(kp, seq.fps, *src_size)
    n = len(seq)

    # 3. the crop (deterministic from the poses; cheap to recompute)
    crop = Crop.fit(seq.keypoints, src_size, size, margin)
    crop.save(out / "crop.json")

    # 4. frames in model space, streamed into a memory map (flat memory for long videos)
    frames_key = {"poses": key, "crop": crop.to_dict(), "n": n}
    if done.get("frames") == frames_key and (out / "frames.npy").is_file():
        log.info("frames: cached in %s", out / "frames.npy")
        n = int(meta.get("frames", n))
    else:
        if source is not None:
            from dancenow.video import read_frames

            stream = read_frames(video, fps=read_fps)
        else:
            stream = iter(video)
        with atomic_file(out / "frames.npy") as tmp:
            mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, size[1], size[0], 3))
            _reserve(tmp)  # a full disk: one line now, not SIGBUS while the map is written
            got, extra, tolerance = 0, 0, max(2, n // 100)
            for frame in tqdm(stream, total=n, unit="frame", desc="frames", disable=not progress):
                if got == n:  # frames beyond the poses: a few are rounding, many a mismatch
                    extra += 1
                    if extra > tolerance:
                        break
                    continue
                mm[got] = crop.apply(np.asarray(frame))
                got += 1
            mm.flush()
            del mm
            if got < n:
                if n - got > tolerance:
                    raise DancenowError(f"the video has {got} frames but there are {n} poses: poses and video do not match")
                log.warning("the video has %d frames, the poses %d: using the first %d", got, n, got)
                arr = np.load(tmp, mmap_mode="r")[:got].copy()
                np.save(tmp, arr, allow_pickle=False)
                n = got
            elif extra > tolerance:
                raise DancenowError(f"the video has more than {n + tolerance} frames but there are only {n} poses: poses and video do not match")
        done["frames"] = frames_key
        save_meta(frames=n)
    seq = seq.slice(0, n)

    # 5. model-space keypoints, label images, the target's body statistics
    labels_key = {"poses": key, "crop": crop.to_dict(), "n": n}
    if done.get("labels") != labels_key or not (out / "labels.npy").is_file():
        kp_model = crop.to_model(seq.keypoints)
        _save_npy(out / "keypoints.npy", kp_model)
        with atomic_file(out / "labels.npy") as tmp:
            mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, size[1], size[0], 3))
            _reserve(tmp)
            for t in tqdm(range(n), unit="frame", desc="labels", disable=not progress):
                mm[t] = render_label(kp_model[t], size, size)
            mm.flush()
            del mm
        done["labels"] = labels_key
        save_meta()
    if done.get("stats") != labels_key or not (out / "body_stats.json").is_file():
        from dancenow.normalize import fit_stats

        fit_stats(seq).save(out / "body_stats.json")
        done["stats"] = labels_key
        save_meta()

    # 6. the held-out tail
    n_val = int(round(holdout * n))
    if holdout > 0:
        n_val = max(n_val, 2)
    if n - n_val < 3:
        raise DancenowError(f"{n} frames leave too few for training after holding out {n_val}")
    save_meta(frames=n, fps=float(read_fps or video_fps), size=list(size), src_size=list(src_size),
              val_start=n - n_val, holdout=holdout, margin=margin)
    log.info("prepared %d frames (%d held out) at %dx%d in %s", n, n_val, size[0], size[1], out)
    return out


# --------------------------------------------------------------------------- reading

@dataclass
class Batch:
    """A training batch of frame pairs (t, t+1), named fields, images as float in [-1, 1]."""

    label: "torch.Tensor"  # (B, 2, 3, H, W) label images of frames t and t+1
    image: "torch.Tensor"  # (B, 2, 3, H, W) real frames t and t+1
    face: "torch.Tensor"  # (B, 2, 3) int64 face boxes (x0, y0, valid) in model pixels
    index: "torch.Tensor"  # (B,) int64 frame index t

    def to(self, device) -> "Batch":
        return Batch(self.label.to(device, non_blocking=True), self.image.to(device, non_blocking=True),
                     self.face, self.index)


def _to_float(x: np.ndarray):
    import torch

    # (B, 2, H, W, 3) uint8 -> (B, 2, 3, H, W) float32 in [-1, 1]
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 1, 4, 2, 3).float()
    return t.div_(127.5).sub_(1.0)


class SynthData:
    """A prepared directory (see the module docstring), read fast: frames and labels stay
    memory-mapped uint8 and a batch gathers its rows in one indexing operation.

    frames, labels: (T, H, W, 3) uint8; keypoints: (T, 137, 3) float32 model pixels;
    crop: the video -> model map; train/val: frame index ranges (val = the held-out tail).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.is_file():
            raise DancenowError(f"{self.path} is not a prepared data directory (no meta.json): run `dancenow prepare` first")
        try:
            meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DancenowError(f"{meta_path} is not readable JSON") from None
        if meta.get("format") != DATA_FORMAT:
            raise DancenowError(f"{self.path} is not a dancenow training-data directory")
        if int(meta.get("version", 0)) > DATA_VERSION:
            raise DancenowError(f"{self.path} is data format v{meta.get('version')}; this dancenow reads v{DATA_VERSION}")
        if "val_start" not in meta:
            raise DancenowError(f"{self.path} is incompletely prepared: re-run `dancenow prepare`")
        self.meta = meta
        try:
            self.frames = np.load(self.path / "frames.npy", mmap_mode="r")
            self.labels = np.load(self.path / "labels.npy", mmap_mode="r")
            self.keypoints = np.load(self.path / "keypoints.npy")
        except (FileNotFoundError, ValueError, OSError) as e:
            raise DancenowError(f"{self.path} is incompletely prepared ({type(e).__name__}): re-run `dancenow prepare`") from None
        self.crop = Crop.load(self.path / "crop.json")
        n = len(self.frames)
        if not (len(self.labels) == len(self.keypoints) == n == int(meta["frames"])):
            raise DancenowError(f"{self.path}: frames, labels and keypoints disagree in length: re-run `dancenow prepare`")
        self.size: tuple[int, int] = (int(meta["size"][0]), int(meta["size"][1]))
        self.fps = float(meta["fps"])
        self.val_start = int(meta["val_start"])
        self._faces: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def train(self) -> range:
        return range(0, self.val_start)

    @property
    def val(self) -> range:
        return range(self.val_start, len(self))

    @property
    def body_stats_path(self) -> Path:
        return self.path / "body_stats.json"

    def faces(self, side: int) -> np.ndarray:
        """(T, 3) face boxes (x0, y0, valid) of `side` px for every frame (cached)."""
        if side not in self._faces:
            self._faces[side] = face_boxes(self.keypoints, side, self.size)
        return self._faces[side]

    def pair_starts(self, split: str = "train", face_side: int | None = None) -> np.ndarray:
        """Frame indices t with t and t+1 both in `split` ('train' or 'val') and, when
        `face_side` is given, a face located in both."""
        r = self.train if split == "train" else self.val
        t = np.arange(r.start, r.stop - 1, dtype=np.int64)
        if face_side:
            valid = self.faces(face_side)[:, 2] > 0
            t = t[valid[t] & valid[t + 1]]
        return t

    def batch(self, starts: np.ndarray, face_side: int | None = None) -> Batch:
        """The pairs (t, t+1) for each t in `starts`."""
        import torch

        starts = np.asarray(starts, dtype=np.int64)
        idx = np.stack([starts, starts + 1], axis=1)  # (B, 2)
        flat = idx.reshape(-1)
        order = np.argsort(flat, kind="stable")  # memmaps read fastest in file order
        inv = np.argsort(order)
        b = len(starts)
        h, w = self.frames.shape[1:3]
        labels = self.labels[flat[order]][inv].reshape(b, 2, h, w, 3)
        images = self.frames[flat[order]][inv].reshape(b, 2, h, w, 3)
        faces = self.faces(face_side)[idx] if face_side else np.zeros((b, 2, 3), np.int64)
        return Batch(_to_float(labels), _to_float(images), torch.from_numpy(np.ascontiguousarray(faces)),
                     torch.from_numpy(starts.copy()))

    def __getitem__(self, t: int) -> dict[str, np.ndarray]:
        """Frame t as named fields: label, image (H, W, 3) uint8, keypoints (137, 3) model px."""
        return {"label": np.asarray(self.labels[t]), "image": np.asarray(self.frames[t]), "keypoints": self.keypoints[t]}

    def iter_split(self, split: str = "val") -> Iterator[dict[str, np.ndarray]]:
        r = self.train if split == "train" else self.val
        for t in r:
            yield self[t]


class EpochSampler:
    """Batches of pair starts in a reproducible order: epoch e is the permutation drawn from
    numpy's generator seeded with (seed, stage, e); under DDP each rank takes every
    world-th element, so ranks see disjoint data. State = (epoch, cursor), saved in checkpoints
    so a resumed run sees exactly the batches the uninterrupted run would have."""

    def __init__(self, items: np.ndarray, batch_size: int, seed: int, stage: int = 0, rank: int = 0, world: int = 1):
        self.items = np.asarray(items, np.int64)
        self.batch_size, self.seed, self.stage, self.rank, self.world = batch_size, seed, stage, rank, world
        per_rank = len(self.items) // world
        if per_rank < 1:
            raise DancenowError(f"{len(self.items)} training pairs are too few for {world} processes")
        self.batch_size = min(batch_size, per_rank)
        self.epoch, self.cursor = 0, 0
        self._perm = self._permutation()

    def _permutation(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.stage, self.epoch])
        perm = self.items[rng.permutation(len(self.items))]
        per_rank = len(perm) // self.world
        return perm[: per_rank * self.world][self.rank:: self.world]

    def next(self) -> np.ndarray:
        if self.cursor + self.batch_size > len(self._perm):
            self.epoch, self.cursor = self.epoch + 1, 0
            self._perm = self._permutation()
        out = self._perm[self.cursor: self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return out

    def state(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state(self, state: dict) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self._perm = self._permutation()
