"""The model directory: what training writes and transfer loads, and `SynthModel` to run it.

A model directory (a training run's output directory) holds:
  config.json                 format + version, the SynthConfig, which generator, the step, and
                              the sha256 of each weight file (so a half-copied or mixed
                              directory is caught)
  generator.safetensors       the image generator (global, or local enhancer around the global)
  face_generator.safetensors  the face residual generator (only when the face stage ran)
  body_stats.json             the target's BodyStats (video pixels), for normalization
  crop.json                   the fixed map video pixels -> model pixels (`Crop`)
Loading never unpickles anything: weights are safetensors, the rest JSON.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn as nn

from dancenow.atomic import atomic_file
from dancenow.compute import resolve_device
from dancenow.errors import DancenowError
from dancenow.synth.config import SynthConfig
from dancenow.synth.data import Crop, face_boxes
from dancenow.synth.networks import build_face_generator, build_generator, generator_input

log = logging.getLogger(__name__)

MODEL_FORMAT = "dancenow.synth.model"
MODEL_VERSION = 1
GENERATOR_FILE = "generator.safetensors"
FACE_FILE = "face_generator.safetensors"


# --------------------------------------------------------------------------- faces (tensors)

def crop_faces(images: torch.Tensor, boxes: torch.Tensor, side: int) -> torch.Tensor:
    """(B, C, H, W) images, (B, 3) boxes (x0, y0, valid) -> (B, C, side, side) crops (boxes
    must lie inside the image: `face_boxes` clamps them)."""
    b = boxes.tolist()
    return torch.stack([images[i, :, y: y + side, x: x + side] for i, (x, y, _) in enumerate(b)])


def paste_faces(images: torch.Tensor, faces: torch.Tensor, boxes: torch.Tensor, side: int) -> torch.Tensor:
    """A copy of `images` with `faces` (B, C, side, side) written into the valid boxes."""
    out = images.clone()
    for i, (x, y, valid) in enumerate(boxes.tolist()):
        if valid:
            out[i, :, y: y + side, x: x + side] = faces[i]
    return out


def refine_faces(face_generator: nn.Module, labels: torch.Tensor, images: torch.Tensor,
                 boxes: torch.Tensor, side: int) -> torch.Tensor:
    """Add the face generator's residual to the face crops of `images` (where boxes are valid)."""
    if not bool((boxes[:, 2] > 0).any()):
        return images
    lab, img = crop_faces(labels, boxes, side), crop_faces(images, boxes, side)
    return paste_faces(images, (img + face_generator(lab, img)).clamp(-1, 1), boxes, side)


def face_box_from_label(label: np.ndarray, side: int) -> np.ndarray:
    """(3,) face box (x0, y0, valid) found in a label image: render_label draws the face in white
    (no body or hand colour is white), so the box centres on the median white pixel. For callers
    of `SynthModel.generate` that have no keypoints at hand."""
    lab = np.asarray(label)
    h, w = lab.shape[:2]
    white = (lab.min(axis=2) >= 200)
    ys, xs = np.nonzero(white)
    if len(xs) < 4:
        return np.zeros(3, np.int64)
    cx, cy = float(np.median(xs)), float(np.median(ys))
    return np.array([int(np.clip(round(cx - side / 2), 0, w - side)), int(np.clip(round(cy - side / 2), 0, h - side)), 1], np.int64)


# --------------------------------------------------------------------------- conversions

def to_tensor(img: np.ndarray, device) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [-1, 1]."""
    t = torch.tensor(np.asarray(img), device=device)  # a copy: frames may be read-only memmaps
    return t.permute(2, 0, 1)[None].float().div(127.5).sub(1.0)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) float in [-1, 1] -> (H, W, 3) uint8."""
    if t.ndim == 4:
        t = t[0]
    return ((t.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


# --------------------------------------------------------------------------- files

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _save_weights(module: nn.Module, path: Path) -> str:
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    with atomic_file(path) as tmp:
        save_file(state, str(tmp))
    return _sha256(path)


def export_model(path: str | os.PathLike, cfg: SynthConfig, generator: nn.Module, face_generator: nn.Module | None,
                 body_stats_path: str | os.PathLike, crop: Crop, step: int, metrics: dict | None = None) -> Path:
    """Write (or refresh) the model files in directory `path`. Each file is written atomically,
    config.json last: it carries the weight files' sha256, so a reader never pairs a config
    with weights it does not describe."""
    import shutil

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    files = {GENERATOR_FILE: _save_weights(generator, path / GENERATOR_FILE)}
    if face_generator is not None:
        files[FACE_FILE] = _save_weights(face_generator, path / FACE_FILE)
    else:
        (path / FACE_FILE).unlink(missing_ok=True)
    if Path(body_stats_path).resolve() != (path / "body_stats.json").resolve():
        with atomic_file(path / "body_stats.json") as tmp:
            shutil.copyfile(body_stats_path, tmp)
    crop.save(path / "crop.json")
    doc = {
        "format": MODEL_FORMAT, "version": MODEL_VERSION,
        "generator": "local" if cfg.local.enabled else "global",
        "face": face_generator is not None, "step": int(step), "files": files,
        "metrics": metrics or {}, "config": cfg.to_dict(),
    }
    with atomic_file(path / "config.json") as tmp:
        tmp.write_text(json.dumps(doc, indent=1))
    return path


def _load_weights(module: nn.Module, path: Path, expected_sha: str | None, where: Path) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise DancenowError(f"model directory {where} is incomplete: {path.name} is missing")
    if expected_sha and _sha256(path) != expected_sha:
        raise DancenowError(f"model directory {where} is inconsistent: {path.name} does not match config.json (partly copied or mixed runs)")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise DancenowError(f"{path} is not a readable safetensors file ({str(e)[:80]})") from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise DancenowError(f"{path} does not fit the architecture in config.json ({str(e).splitlines()[0][:120]})") from None


# --------------------------------------------------------------------------- the model

class SynthModel:
    """A trained target-person model, ready to generate frames.

    config: its SynthConfig; body_stats: the target's BodyStats (video pixels); crop: video
    pixels -> model pixels (with the source frame size, `crop.src_size`); image_size: (w, h)
    of the generated frames. Frames are RGB uint8 (H, W, 3).
    """

    def __init__(self, config: SynthConfig, generator: nn.Module, face_generator: nn.Module | None,
                 body_stats, crop: Crop, device: torch.device, info: dict | None = None):
        self.config = config
        self.generator = generator.eval().requires_grad_(False)
        self.face_generator = face_generator.eval().requires_grad_(False) if face_generator is not None else None
        self.body_stats = body_stats
        self.crop = crop
        self.device = device
        self.info = info or {}

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> "SynthModel":
        """Load a model directory (see the module docstring). DancenowError, naming the
        directory, when it is missing, incomplete, corrupt or from an incompatible version."""
        from dancenow.normalize import BodyStats

        path = Path(path)
        if not path.is_dir():
            raise DancenowError(f"model directory not found: {path}")
        cfg_path = path / "config.json"
        if not cfg_path.is_file():
            hint = " (training has not exported a model yet)" if (path / "checkpoints").is_dir() else ""
            raise DancenowError(f"{path} is not a dancenow model directory: config.json is missing{hint}")
        try:
            doc = json.loads(cfg_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DancenowError(f"{cfg_path} is not readable JSON (corrupt model directory)") from None
        if not isinstance(doc, dict) or doc.get("format") != MODEL_FORMAT:
            raise DancenowError(f"{path} is not a dancenow synthesis model (config.json has no format '{MODEL_FORMAT}')")
        version = int(doc.get("version", -1))
        if version > MODEL_VERSION or version < 1:
            raise DancenowError(f"{path} is model format v{version}; this dancenow reads v1..v{MODEL_VERSION}: "
                                f"{'upgrade dancenow' if version > MODEL_VERSION else 'retrain the model'}")
        try:
            cfg = SynthConfig.from_dict(doc["config"], str(cfg_path))
        except KeyError:
            raise DancenowError(f"{cfg_path} lacks the model config") from None
        dev = resolve_device(device)
        generator = build_generator(cfg)
        files = doc.get("files", {})
        _load_weights(generator, path / GENERATOR_FILE, files.get(GENERATOR_FILE), path)
        face = None
        if doc.get("face"):
            face = build_face_generator(cfg)
            _load_weights(face, path / FACE_FILE, files.get(FACE_FILE), path)
        for name in ("body_stats.json", "crop.json"):
            if not (path / name).is_file():
                raise DancenowError(f"model directory {path} is incomplete: {name} is missing")
        stats = BodyStats.load(path / "body_stats.json")
        crop = Crop.load(path / "crop.json")
        if crop.out_size != tuple(cfg.image_size):
            raise DancenowError(f"{path}: crop.json maps to {crop.out_width}x{crop.out_height}, the model generates {cfg.image_size[0]}x{cfg.image_size[1]}")
        return cls(cfg, generator.to(dev), face.to(dev) if face is not None else None, stats, crop, dev,
                   {k: doc.get(k) for k in ("step", "metrics", "generator")})

    # ------------------------------------------------------------------ geometry
    @property
    def image_size(self) -> tuple[int, int]:
        """(w, h) of the generated frames."""
        return tuple(self.config.image_size)

    @property
    def has_face(self) -> bool:
        return self.face_generator is not None

    def model_keypoints(self, keypoints: np.ndarray, src_size: tuple[int, int]) -> np.ndarray:
        """(J, 3) or (T, J, 3) keypoints in pixels of a `src_size` (w, h) frame of the target's
        video -> model pixels. A src_size other than the target video's (crop.src_size) is
        taken as the same view at another resolution and rescaled first."""
        kp = np.array(keypoints, dtype=np.float32, copy=True)
        sw, sh = src_size
        if (sw, sh) != self.crop.src_size:
            kp[..., 0] *= self.crop.src_width / sw
            kp[..., 1] *= self.crop.src_height / sh
        return self.crop.to_model(kp)

    def label_image(self, keypoints: np.ndarray, src_size: tuple[int, int]) -> np.ndarray:
        """(J, 3) keypoints in target-video pixels -> the (H, W, 3) uint8 label image in model
        space (the crop applied), the generator's input."""
        from dancenow.render import render_label

        return render_label(self.model_keypoints(keypoints, src_size), self.image_size, self.image_size)

    # ------------------------------------------------------------------ generation
    def _check(self, img: np.ndarray, what: str) -> np.ndarray:
        img = np.asarray(img)
        w, h = self.image_size
        if img.shape != (h, w, 3) or img.dtype != np.uint8:
            raise DancenowError(f"{what} must be uint8 ({h}, {w}, 3), got {img.dtype} {img.shape}")
        return img

    def _face_box(self, label: np.ndarray, keypoints: np.ndarray | None, src_size: tuple[int, int] | None) -> torch.Tensor:
        side = self.config.face_crop
        if keypoints is not None:
            kp = np.asarray(keypoints) if src_size is None else self.model_keypoints(keypoints, src_size)
            box = face_boxes(kp[None], side, self.image_size)[0]
        else:
            box = face_box_from_label(label, side)
        return torch.from_numpy(box)[None]

    @torch.no_grad()
    def _step(self, label: np.ndarray, prev: torch.Tensor | None, keypoints: np.ndarray | None,
              src_size: tuple[int, int] | None) -> torch.Tensor:
        x = to_tensor(label, self.device)
        out = self.generator(generator_input(x, prev, self.config.temporal, self.config.output_nc))
        if self.face_generator is not None:
            box = self._face_box(label, keypoints, src_size)
            out = refine_faces(self.face_generator, x, out, box, self.config.face_crop)
        return out

    def generate(self, label: np.ndarray, prev: np.ndarray | None, keypoints: np.ndarray | None = None,
                 src_size: tuple[int, int] | None = None) -> np.ndarray:
        """One frame: label (H, W, 3) uint8 in model space, prev = the previously generated frame
        (None for a sequence's first frame). The face residual is applied when the model has
        one, at the face located from `keypoints` ((J, 3); model pixels, or pixels of a
        `src_size` target-video frame when src_size is given) or, without keypoints, from the
        label's white face lines. Returns (H, W, 3) uint8."""
        label = self._check(label, "label")
        p = None if prev is None else to_tensor(self._check(prev, "prev"), self.device)
        return to_uint8(self._step(label, p, keypoints, src_size))

    def generate_sequence(self, labels: Iterable[np.ndarray], keypoints: Iterable[np.ndarray] | None = None,
                          src_size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
        """Frames for consecutive labels, lazily, each conditioned on the previous output (kept
        in float, as in training). keypoints: per-frame (J, 3) to locate the face crops, in
        model pixels, or in pixels of a `src_size` target-video frame (see `generate`)."""
        prev = None
        kps = iter(keypoints) if keypoints is not None else None
        for label in labels:
            kp = next(kps, None) if kps is not None else None
            prev = self._step(self._check(label, "label"), prev, kp, src_size)
            yield to_uint8(prev)
