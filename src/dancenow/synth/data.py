"""Reading prepared training data fast: `SynthData` (a directory written by
`dancenow.synth.prepare.prepare`), batches of frame pairs, and the epoch order.

Frames and labels stay memory-mapped uint8; a batch gathers its rows in one indexing
operation. Data format v1 (before the background plate) is read too: it has no plate.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from dancenow.errors import DancenowError
from dancenow.synth.geometry import Crop, face_boxes
from dancenow.synth.prepare import DATA_FORMAT, DATA_VERSION


# --------------------------------------------------------------------------- reading

@dataclass
class Batch:
    """A training batch of frame pairs (t, t+1), named fields, images as float in [-1, 1]."""

    label: "torch.Tensor"  # (B, 2, 3, H, W) label images of frames t and t+1
    image: "torch.Tensor"  # (B, 2, 3, H, W) real frames t and t+1
    face: "torch.Tensor"  # (B, 2, 3) int64 face boxes (x0, y0, valid) in model pixels
    index: "torch.Tensor"  # (B,) int64 frame index t
    # what each frame is shown of its exemplar (dancenow.synth.generate.Conditioning):
    # (B, 2, 3, H, W), the posed exemplar or the exemplar frame (then with its label)
    exemplar: "torch.Tensor | None" = None
    exemplar_label: "torch.Tensor | None" = None
    exemplar_alpha: "torch.Tensor | None" = None  # (B, 2, 1, H, W) in [0, 1], with posed exemplars


def to_float(x: np.ndarray):
    import torch

    # (B, 2, H, W, 3) uint8 -> (B, 2, 3, H, W) float32 in [-1, 1]
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 1, 4, 2, 3).float()
    return t.div_(127.5).sub_(1.0)


class SynthData:
    """A prepared directory (see the module docstring), read fast: frames and labels stay
    memory-mapped uint8 and a batch gathers its rows in one indexing operation.

    frames, labels: (T, H, W, 3) uint8; keypoints: (T, 137, 3) float32 model pixels;
    crop: the video -> model map; train/val: frame index ranges (val = the held-out tail);
    camera: static | steadied | moving; plate: the background (H, W, 3) uint8 in model space
    and plate_video in video pixels (None for a moving camera, and for v1 data).
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
        self.camera = str(meta.get("camera", "moving" if int(meta.get("version", 1)) < 2 else "static"))
        self.plate_video = self.plate = None
        if self.camera != "moving":
            from dancenow.images import read_image

            if not (self.path / "plate.png").is_file():
                raise DancenowError(f"{self.path} is incompletely prepared (plate.png is missing): re-run `dancenow prepare`")
            self.plate_video = read_image(self.path / "plate.png")
            self.plate = self.crop.apply(self.plate_video)
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
        """The pairs (t, t+1) for each t in `starts` (exemplars are the trainer's to add)."""
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
        return Batch(to_float(labels), to_float(images), torch.from_numpy(np.ascontiguousarray(faces)),
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
