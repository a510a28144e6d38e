"""The model directory: what training writes and transfer loads, and `SynthModel` to run it.

A model directory (a training run's output directory) holds:
  config.json                 format + version, the SynthConfig, which generator, the step, and
                              the sha256 of each file below (so a half-copied or mixed
                              directory is caught)
  generator.safetensors       the image generator (global, or local enhancer around the global)
  face_generator.safetensors  the face residual generator (only when the face stage ran)
  exemplars.safetensors       the exemplar bank: training frames (K, H, W, 3) uint8 in model
                              space, their keypoints (K, 137, 3), frame indices, and the
                              person's masks (K, H, W) uint8 for posing (exemplar conditioning)
  plate.png                   the background plate in the target video's pixels (plate only)
  body_stats.json             the target's BodyStats (video pixels), for normalization
  crop.json                   the fixed map video pixels -> model pixels (`Crop`)
Loading never unpickles anything: weights are safetensors, the rest JSON and PNG. Format v1
directories (before the plate and exemplars) load as they were.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn as nn

from dancenow.atomic import atomic_file, file_sha256
from dancenow.compute import resolve_device
from dancenow.errors import DancenowError
from dancenow.synth.config import SynthConfig
from dancenow.synth.exemplar import ExemplarChooser, body_scale, descriptors, posed_blend, snap_to_bank
from dancenow.synth.generate import Conditioning, step, to_mask, to_tensor, to_uint8
from dancenow.synth.geometry import Crop, face_box_from_label, face_boxes
from dancenow.synth.networks import build_face_generator, build_generator

log = logging.getLogger(__name__)

MODEL_FORMAT = "dancenow.synth.model"
MODEL_VERSION = 2  # v2: plate.png, exemplars.safetensors, RGBA generators
GENERATOR_FILE = "generator.safetensors"
FACE_FILE = "face_generator.safetensors"
EXEMPLAR_FILE = "exemplars.safetensors"
PLATE_FILE = "plate.png"


@dataclass(frozen=True)
class ExemplarBank:
    """Training frames the generator may be shown: images (K, H, W, 3) uint8 in model space,
    keypoints (K, 137, 3) float32 model pixels, frames (K,) their indices in the training data,
    alphas (K, H, W) uint8 the person in each (for posing; None when exemplars are not posed)."""

    images: np.ndarray
    keypoints: np.ndarray
    frames: np.ndarray
    alphas: np.ndarray | None = None

    def labels(self) -> np.ndarray:
        """(K, H, W, 3) uint8 label images, drawn as the training data's were."""
        from dancenow.render import render_label

        h, w = self.images.shape[1:3]
        return np.stack([render_label(k, (w, h), (w, h)) for k in self.keypoints])


@dataclass(frozen=True)
class Generated:
    """One generated frame: image (H, W, 3) uint8 in model space; alpha (H, W) float32 in [0, 1]
    (how much of each pixel is the person; None without a plate); exemplar: the bank entry shown
    (None without exemplars)."""

    image: np.ndarray
    alpha: np.ndarray | None = None
    exemplar: int | None = None


@dataclass
class StepInput:
    """A frame prepared for the generator (SynthModel.prepare_step): its conditioning, the face
    crop's box (None without a face generator) and the exemplar chosen (None without)."""

    cond: Conditioning
    face_box: torch.Tensor | None = None
    exemplar: int | None = None


# --------------------------------------------------------------------------- files

def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> str:
    from safetensors.torch import save_file

    with atomic_file(path) as tmp:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(tmp))
    return file_sha256(path)


def export_model(path: str | os.PathLike, cfg: SynthConfig, generator: nn.Module, face_generator: nn.Module | None,
                 body_stats_path: str | os.PathLike, crop: Crop, step: int, metrics: dict | None = None,
                 plate: np.ndarray | None = None, bank: ExemplarBank | None = None) -> Path:
    """Write (or refresh) the model files in directory `path`. Each file is written atomically,
    config.json last: it carries the other files' sha256, so a reader never pairs a config with
    files it does not describe. `plate` (video pixels) is required with cfg.plate, `bank` with
    exemplar conditioning."""
    import shutil

    from dancenow.images import write_image

    if cfg.plate and plate is None:
        raise DancenowError("this model composites over a background plate: export it with its plate")
    if cfg.exemplar.enabled and bank is None:
        raise DancenowError("this model is conditioned on exemplars: export it with its exemplar bank")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    files = {GENERATOR_FILE: _save_tensors(generator.state_dict(), path / GENERATOR_FILE)}
    for name, present in ((FACE_FILE, face_generator is not None), (EXEMPLAR_FILE, bank is not None), (PLATE_FILE, plate is not None)):
        if not present:
            (path / name).unlink(missing_ok=True)
    if face_generator is not None:
        files[FACE_FILE] = _save_tensors(face_generator.state_dict(), path / FACE_FILE)
    if bank is not None:
        tensors = {"images": torch.from_numpy(np.array(bank.images, np.uint8)),  # a copy: memmaps are read-only
                   "keypoints": torch.from_numpy(np.asarray(bank.keypoints, np.float32)),
                   "frames": torch.from_numpy(np.asarray(bank.frames, np.int64))}
        if bank.alphas is not None:
            tensors["alphas"] = torch.from_numpy(np.ascontiguousarray(bank.alphas, np.uint8))
        files[EXEMPLAR_FILE] = _save_tensors(tensors, path / EXEMPLAR_FILE)
    if plate is not None:
        write_image(path / PLATE_FILE, plate)
        files[PLATE_FILE] = file_sha256(path / PLATE_FILE)
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


def _check_file(path: Path, expected_sha: str | None, where: Path) -> None:
    if not path.is_file():
        raise DancenowError(f"model directory {where} is incomplete: {path.name} is missing")
    if expected_sha and file_sha256(path) != expected_sha:
        raise DancenowError(f"model directory {where} is inconsistent: {path.name} does not match config.json (partly copied or mixed runs)")


def _read_tensors(path: Path, expected_sha: str | None, where: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    _check_file(path, expected_sha, where)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise DancenowError(f"{path} is not a readable safetensors file ({str(e)[:80]})") from None


def _load_weights(module: nn.Module, path: Path, expected_sha: str | None, where: Path) -> None:
    state = _read_tensors(path, expected_sha, where)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise DancenowError(f"{path} does not fit the architecture in config.json ({str(e).splitlines()[0][:120]})") from None


def _load_bank(path: Path, expected_sha: str | None, where: Path, size: tuple[int, int]) -> ExemplarBank:
    t = _read_tensors(path, expected_sha, where)
    try:
        bank = ExemplarBank(t["images"].numpy(), t["keypoints"].numpy(), t["frames"].numpy(),
                            t["alphas"].numpy() if "alphas" in t else None)
    except KeyError as e:
        raise DancenowError(f"{path} is not an exemplar bank (no {e})") from None
    w, h = size
    k = len(bank.images)
    if bank.images.shape != (k, h, w, 3) or bank.images.dtype != np.uint8 or bank.keypoints.shape[0] != k or k < 1:
        raise DancenowError(f"{path}: exemplar images {tuple(bank.images.shape)} do not fit {w}x{h} frames")
    if bank.alphas is not None and bank.alphas.shape != (k, h, w):
        raise DancenowError(f"{path}: exemplar masks {tuple(bank.alphas.shape)} do not fit {k} {w}x{h} frames")
    return bank


# --------------------------------------------------------------------------- the model

class SynthModel:
    """A trained target-person model, ready to generate frames.

    config: its SynthConfig; body_stats: the target's BodyStats (video pixels); crop: video
    pixels -> model pixels (with the source frame size, `crop.src_size`); image_size: (w, h)
    of the generated frames; plate_video: the background in video pixels (None without);
    bank: the exemplar bank (None without). Frames are RGB uint8 (H, W, 3).
    """

    def __init__(self, config: SynthConfig, generator: nn.Module, face_generator: nn.Module | None,
                 body_stats, crop: Crop, device: torch.device, info: dict | None = None,
                 plate_video: np.ndarray | None = None, bank: ExemplarBank | None = None):
        self.config = config
        self.generator = generator.eval().requires_grad_(False)
        self.face_generator = face_generator.eval().requires_grad_(False) if face_generator is not None else None
        self.body_stats = body_stats
        self.crop = crop
        self.device = device
        self.info = info or {}
        self.plate_video = plate_video
        self.bank = bank
        self._plate_model = crop.apply(plate_video) if plate_video is not None else None
        self._plate = to_tensor(self._plate_model, device) if plate_video is not None else None
        self._inside = torch.from_numpy(crop.inside())[None, None].to(device) if plate_video is not None else None
        self._bank_labels = None
        if bank is not None:
            self._bank_labels = bank.labels() if not config.exemplar.warp else None
            self._bank_desc = descriptors(bank.keypoints)
            self._bank_scale = body_scale(bank.keypoints)
        self.amp = device.type == "cpu" and _cpu_bf16()
        # pixels between the points where the exemplar's warp is computed (then interpolated):
        # training's 2, or 4 for the fast path (posing then costs about a quarter)
        self.warp_stride = 2

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu", fast: bool = False) -> "SynthModel":
        """Load a model directory (see the module docstring). DancenowError, naming the
        directory, when it is missing, incomplete, corrupt or from an incompatible version.
        fast: generate with the distilled student (dancenow.synth.student) instead of the
        full generator; refused when there is none or it is stale."""
        from dancenow.images import read_image
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
        try:
            version = int(doc.get("version", -1))
        except (TypeError, ValueError):
            version = -1
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
        if fast:
            from dancenow.synth.student import load_student

            generator = load_student(path, cfg, files.get(GENERATOR_FILE) or file_sha256(path / GENERATOR_FILE))
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
        plate = bank = None
        if cfg.plate:
            _check_file(path / PLATE_FILE, files.get(PLATE_FILE), path)
            plate = read_image(path / PLATE_FILE)
            if plate.shape[:2] != (crop.src_height, crop.src_width):
                raise DancenowError(f"{path}: {PLATE_FILE} is {plate.shape[1]}x{plate.shape[0]}, the target video is {crop.src_width}x{crop.src_height}")
        if cfg.exemplar.enabled:
            bank = _load_bank(path / EXEMPLAR_FILE, files.get(EXEMPLAR_FILE), path, cfg.image_size)
            if cfg.exemplar.warp and bank.alphas is None and cfg.plate:
                raise DancenowError(f"{path}/{EXEMPLAR_FILE} has no person masks, which this model poses exemplars with")
            if bank.alphas is not None:  # models trained before the bank left these out
                from dancenow.synth.plate import MASK_COVER, mask_cover

                ok = mask_cover(bank.alphas, bank.keypoints) >= MASK_COVER
                if ok.any() and not ok.all():
                    bank = ExemplarBank(bank.images[ok], bank.keypoints[ok], bank.frames[ok], bank.alphas[ok])
        if not stats.bones and bank is not None:
            # a model saved before body stats held bone lengths: take them from its exemplars'
            # poses (lengths in units of body height, so the crop's scale does not matter)
            from dancenow.normalize import bone_lengths

            stats = dataclasses.replace(stats, bones=bone_lengths(bank.keypoints))
        info = {k: doc.get(k) for k in ("step", "metrics", "generator", "version")}
        info["fast"] = bool(fast)
        model = cls(cfg, generator.to(dev), face.to(dev) if face is not None else None, stats, crop, dev,
                    info, plate, bank)
        if fast:  # a coarser exemplar warp: 4.6 against 11.2 ms a frame, 0.04 grey levels apart (taiji, 256 px)
            model.warp_stride = 4
        return model

    # ------------------------------------------------------------------ geometry
    @property
    def image_size(self) -> tuple[int, int]:
        """(w, h) of the generated frames."""
        return tuple(self.config.image_size)

    @property
    def has_face(self) -> bool:
        return self.face_generator is not None

    @property
    def has_plate(self) -> bool:
        """Whether the model draws the person over a background plate (and can fill whole
        frames of the target video: `full_frame`)."""
        return self.plate_video is not None

    @property
    def video_size(self) -> tuple[int, int]:
        """(w, h) of the target video's frames."""
        return self.crop.src_size

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

    def full_frame(self, frame: Generated) -> np.ndarray:
        """A generated frame at the target video's framing and resolution: the person (scaled
        to the crop box, blended by alpha) over the full-size plate. DancenowError without a plate."""
        if self.plate_video is None:
            raise DancenowError("this model has no background plate (moving camera, or trained without): it generates the crop only")
        return self.crop.paste(frame.image, frame.alpha, self.plate_video)

    # ------------------------------------------------------------------ generation
    def _check(self, img: np.ndarray, what: str) -> np.ndarray:
        img = np.asarray(img)
        w, h = self.image_size
        if img.shape != (h, w, 3) or img.dtype != np.uint8:
            raise DancenowError(f"{what} must be uint8 ({h}, {w}, 3), got {img.dtype} {img.shape}")
        return img

    def _model_kp(self, keypoints: np.ndarray | None, src_size: tuple[int, int] | None) -> np.ndarray | None:
        if keypoints is None:
            return None
        return np.asarray(keypoints, np.float32) if src_size is None else self.model_keypoints(keypoints, src_size)

    def _face_box(self, label: np.ndarray, kp_model: np.ndarray | None) -> torch.Tensor | None:
        if self.face_generator is None:
            return None
        side = self.config.face_crop
        box = face_boxes(kp_model[None], side, self.image_size)[0] if kp_model is not None else face_box_from_label(label, side)
        return torch.from_numpy(box)[None]

    def prepare_step(self, label: np.ndarray, kp_model: np.ndarray | None,
                     chooser: ExemplarChooser | None) -> StepInput:
        """Everything a frame's generation needs besides the previous frame: the label and the
        posed exemplar as tensors, the face box. Depends on the pose alone, so a pipeline can
        prepare frame t+1 while the generator runs frame t (`chooser` must see frames in order)."""
        label = self._check(label, "label")
        cond = Conditioning(to_tensor(label, self.device), plate=self._plate, inside=self._inside)
        k = None
        if chooser is not None:
            if kp_model is None:
                raise DancenowError("this model picks an exemplar by pose: pass the keypoints with each label")
            ks = chooser(kp_model)
            k = int(ks[0])
            image, alpha = self.exemplar_image(ks, kp_model)
            cond.exemplar = to_tensor(image, self.device)
            if alpha is not None:
                cond.exemplar_alpha = torch.from_numpy(alpha)[None, None].to(self.device)
            else:
                cond.exemplar_label = to_tensor(self._bank_labels[k], self.device)
        return StepInput(cond, self._face_box(label, kp_model), k)

    @torch.no_grad()
    def run_step(self, inp: StepInput, prev: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The networks on a prepared frame: (image (1, 3, H, W) in [-1, 1], alpha or None)."""
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            return step(self.generator, self.face_generator, self.config, inp.cond, prev, inp.face_box)

    def _step(self, label: np.ndarray, prev: torch.Tensor | None, kp_model: np.ndarray | None,
              chooser: ExemplarChooser | None) -> tuple[torch.Tensor, torch.Tensor | None, int | None]:
        inp = self.prepare_step(label, kp_model, chooser)
        image, alpha = self.run_step(inp, prev)
        return image, alpha, inp.exemplar

    def exemplar_image(self, ks, kp_model: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Bank exemplars `ks` (positions, nearest first; or one int) as the generator is shown
        them for a frame posed as `kp_model` (model pixels): each posed over the plate, fused
        (exemplar.posed_blend), with the alpha; or, unposed, the first as it is (alpha None;
        see ExemplarConfig.warp)."""
        b = self.bank
        ks = np.atleast_1d(np.asarray(ks, np.int64))
        if not self.config.exemplar.warp:
            return b.images[ks[0]], None
        return posed_blend([b.images[k] for k in ks], [None if b.alphas is None else b.alphas[k] for k in ks],
                           [b.keypoints[k] for k in ks], kp_model, self._plate_model, self.warp_stride)

    def snap_poses(self, keypoints: np.ndarray, src_size: tuple[int, int], strength: float) -> np.ndarray:
        """(T, J, 3) poses in pixels of a `src_size` target-video frame, each joint moved
        `strength` of the way toward the nearest bank pose's where that is close
        (`exemplar.snap_to_bank`); unchanged for models without a bank or strength 0."""
        kp = np.asarray(keypoints, np.float32)
        if self.bank is None or strength <= 0:
            return kp
        m = snap_to_bank(self.model_keypoints(kp, src_size), self.bank.keypoints, strength,
                         bank_desc=self._bank_desc, scale=self._bank_scale)
        out = self.crop.to_video(m)
        sw, sh = src_size
        if (sw, sh) != self.crop.src_size:
            out[..., 0] *= sw / self.crop.src_width
            out[..., 1] *= sh / self.crop.src_height
        return out

    def chooser(self) -> ExemplarChooser | None:
        """A fresh exemplar chooser for one sequence (None for models without exemplars)."""
        return self._chooser()

    def _chooser(self) -> ExemplarChooser | None:
        if self.bank is None:
            return None
        ex = self.config.exemplar
        return ExemplarChooser(self._bank_desc, self._bank_scale, ex.switch, ex.fused, ex.within)

    def generate(self, label: np.ndarray, prev: np.ndarray | None, keypoints: np.ndarray | None = None,
                 src_size: tuple[int, int] | None = None) -> Generated:
        """One frame: label (H, W, 3) uint8 in model space, prev = the previously generated frame
        (None for a sequence's first frame). `keypoints` ((J, 3); model pixels, or pixels of a
        `src_size` target-video frame when src_size is given) place the face crop and choose the
        exemplar (required by exemplar models); without them the face is found in the label's
        white face lines."""
        label = self._check(label, "label")
        p = None if prev is None else to_tensor(self._check(prev, "prev"), self.device)
        image, alpha, k = self._step(label, p, self._model_kp(keypoints, src_size), self._chooser())
        return Generated(to_uint8(image), None if alpha is None else to_mask(alpha), k)

    def generate_sequence(self, labels: Iterable[np.ndarray], keypoints: Iterable[np.ndarray] | None = None,
                          src_size: tuple[int, int] | None = None) -> Iterator[Generated]:
        """Frames for consecutive labels, lazily, each conditioned on the previous output (kept
        in float, as in training), the exemplar held until a clearly nearer one comes.
        keypoints: per-frame (J, 3), in model pixels or in pixels of a `src_size` target-video
        frame (see `generate`)."""
        prev = None
        chooser = self._chooser()
        kps = iter(keypoints) if keypoints is not None else None
        for label in labels:
            kp = next(kps, None) if kps is not None else None
            prev, alpha, k = self._step(self._check(label, "label"), prev, self._model_kp(kp, src_size), chooser)
            yield Generated(to_uint8(prev), None if alpha is None else to_mask(alpha), k)


def _cpu_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16): generation is then ~1.8x faster
    under bf16 autocast; elsewhere bf16 is emulated and slower."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # another torch build
        return False
