"""Measuring style and novelty of dances, generated or real.

`StyleClassifier`: a small multinomial logistic regression over 2-second windows of motion,
trained on real takes, that names a window's style (salsa, folk, ...). It reads how the body
moves, not whose body it is: its features are bone *directions* of the limbs, spine and
shoulder and hip lines (no lengths, no head or foot bones, whose placement differs between
motion-capture skeletons), each window turned to face the camera (3D), so that it cannot
recognise a dataset by its skeleton or its camera instead of by its dance. Features per window:
the mean and spread of every direction, each bone's mean angular speed and acceleration, how
the body's overall speed splits over rhythm bands (0-1, 1-2, 2-4, 4-8 Hz), and the root's
horizontal speed and vertical bounce.

`novelty`: for every second of a dance, the distance to the nearest second of the training
data (mirror images included, since training mirrors), as the root-mean-square difference of
the facing-normalised limb directions over that second (about radians). A model that replays
its data scores near 0; held-out real dance gives the figure for "as new as a new real dance".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dancenow.choreo.skeleton import BONE_NAMES, bone_vectors, dancer_lengths, directions, mirror_bones, yaw_rotation
from dancenow.errors import DancenowError

WINDOW_S = 2.0  # classifier windows
STRIDE_S = 0.5
NOVELTY_S = 1.0  # novelty compares seconds
STYLE_BONES = tuple(i for i, n in enumerate(BONE_NAMES) if n not in ("head", "r_foot", "l_foot"))
BANDS_HZ = ((0.0, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 8.0))
FORMAT = "dancenow.choreo.style"


def pose_directions(pose: np.ndarray) -> np.ndarray:
    """Body-centred poses (T, P, D) -> bone directions (T, Bn, D) (skeleton.directions with the
    stretch's own lengths: unit vectors in 3D)."""
    pose = np.asarray(pose, np.float64)
    return directions(bone_vectors(pose), dancer_lengths(pose))


def _face(u: np.ndarray, root: np.ndarray | None = None):
    """Directions (T, Bn, D) (and root (T, D)) of a 3D stretch turned to face the camera on
    average; 2D unchanged."""
    if u.shape[-1] != 3:
        return u, root
    across = np.nanmean(u[:, 0] + u[:, 2], 0)  # pelvis + shoulder line
    rot = yaw_rotation(float(np.arctan2(across[2], across[0])))
    return u @ rot.T, (None if root is None else root @ rot.T)


def window_features(u: np.ndarray, root: np.ndarray, fps: float) -> np.ndarray:
    """Features (F,) of one window: directions u (T, Bn, D), root track (T, D), at `fps`."""
    u, root = _face(np.asarray(u, np.float64), np.asarray(root, np.float64))
    s = u[:, STYLE_BONES]
    vel = np.diff(s, axis=0) * fps  # (T-1, b, D)
    acc = np.diff(vel, axis=0) * fps
    speed = np.linalg.norm(vel, axis=-1)  # (T-1, b)
    total = speed.mean(1)
    spec = np.abs(np.fft.rfft(total - total.mean())) ** 2
    freqs = np.fft.rfftfreq(len(total), 1.0 / fps)
    bands = np.array([spec[(freqs >= a) & (freqs < b)].sum() for a, b in BANDS_HZ])
    bands = bands / max(bands.sum(), 1e-12)
    rstep = np.diff(root, axis=0) * fps
    horiz = np.linalg.norm(np.delete(rstep, 1, axis=-1), axis=-1).mean() if root.shape[-1] == 3 else abs(rstep[:, 0]).mean()
    bounce = root[:, 1].std()
    return np.concatenate([s.mean(0).ravel(), s.std(0).ravel(), speed.mean(0), np.linalg.norm(acc, axis=-1).mean(0),
                           bands, [np.log1p(total.mean()), horiz, bounce]])


def windows(pose: np.ndarray, root: np.ndarray, fps: float, window_s: float = WINDOW_S,
            stride_s: float = STRIDE_S) -> np.ndarray:
    """Features (n, F) of every `window_s` window of a dance (body-centred poses (T, P, D),
    root track (T, D)), `stride_s` apart; (0, F) when it is shorter than one window."""
    n = max(2, int(round(window_s * fps)))
    stride = max(1, int(round(stride_s * fps)))
    u = pose_directions(pose)
    feats = [window_features(u[s:s + n], root[s:s + n], fps) for s in range(0, len(u) - n + 1, stride)]
    return np.stack(feats) if feats else np.zeros((0, len(window_features(u[:2], root[:2], fps))))


@dataclass
class StyleClassifier:
    """Multinomial logistic regression over standardised window features."""

    styles: list[str]
    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray  # (F, S)
    bias: np.ndarray  # (S,)
    fps: float
    dims: int

    @classmethod
    def fit(cls, examples: list[tuple[np.ndarray, np.ndarray, str]], fps: float, l2: float = 1e-2,
            iterations: int = 300) -> "StyleClassifier":
        """Train on real dances: (pose (T, P, D), root (T, D), style) each; every style weighs
        the same however many windows it has."""
        import torch

        feats, labels = [], []
        styles = sorted({s for _, _, s in examples})
        if len(styles) < 2:
            raise DancenowError("a style classifier needs at least two styles")
        for pose, root, style in examples:
            f = windows(pose, root, fps)
            feats.append(f)
            labels += [styles.index(style)] * len(f)
        x = np.concatenate(feats)
        y = np.array(labels)
        if len(x) == 0:
            raise DancenowError("no dance is long enough for one window")
        mean, std = x.mean(0), np.maximum(x.std(0), 1e-6)
        xt = torch.tensor((x - mean) / std, dtype=torch.float64)
        yt = torch.tensor(y)
        counts = np.bincount(y, minlength=len(styles)).astype(np.float64)
        cw = torch.tensor(len(y) / (len(styles) * np.maximum(counts, 1)), dtype=torch.float64)
        w = torch.zeros(x.shape[1], len(styles), dtype=torch.float64, requires_grad=True)
        b = torch.zeros(len(styles), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(xt @ w + b, yt, weight=cw) + l2 * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
        dims = examples[0][0].shape[-1]
        return cls(styles, mean, std, w.detach().numpy(), b.detach().numpy(), fps, dims)

    def proba(self, pose: np.ndarray, root: np.ndarray) -> np.ndarray:
        """(n_windows, S) style probabilities of a dance's windows."""
        f = windows(pose, root, self.fps)
        z = ((f - self.mean) / self.std) @ self.weight + self.bias
        z = z - z.max(-1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(-1, keepdims=True)

    def accuracy(self, examples: list[tuple[np.ndarray, np.ndarray, str]]) -> dict[str, float]:
        """Share of windows named right, per style present in `examples` (and "all": the mean
        over those styles)."""
        hits: dict[str, list[bool]] = {}
        for pose, root, style in examples:
            p = self.proba(pose, root)
            hits.setdefault(style, []).extend((np.argmax(p, 1) == self.styles.index(style)).tolist())
        out = {s: float(np.mean(h)) for s, h in hits.items() if h}
        out["all"] = float(np.mean(list(out.values()))) if out else float("nan")
        return out

    def save(self, path: str | os.PathLike) -> Path:
        from dancenow.atomic import write_json

        return write_json(path, {"format": FORMAT, "version": 1, "styles": self.styles, "mean": self.mean.tolist(),
                                 "std": self.std.tolist(), "weight": self.weight.tolist(), "bias": self.bias.tolist(),
                                 "fps": self.fps, "dims": self.dims})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "StyleClassifier":
        try:
            d = json.loads(Path(path).read_text())
            if d.get("format") != FORMAT:
                raise ValueError("not a style classifier")
            return cls(d["styles"], np.array(d["mean"]), np.array(d["std"]), np.array(d["weight"]),
                       np.array(d["bias"]), float(d["fps"]), int(d["dims"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DancenowError(f"{path}: not a readable style classifier ({type(e).__name__})") from None


# ----------------------------------------------------------------------------- novelty

def _seconds(pose: np.ndarray, fps: float, stride: int, mirror: bool = False) -> np.ndarray:
    """(n, F) facing-normalised limb directions of every NOVELTY_S window, every 3rd frame."""
    n = max(2, int(round(NOVELTY_S * fps)))
    u = pose_directions(pose)
    if mirror:
        u, _, _ = mirror_bones(u, np.zeros((len(u), u.shape[-1])), np.zeros((len(u), u.shape[1] + 1)))
    out = []
    for s in range(0, len(u) - n + 1, stride):
        w, _ = _face(u[s:s + n])
        out.append(w[::3][:, STYLE_BONES].ravel())
    return np.stack(out) if out else np.zeros((0, 0))


def training_seconds(poses: list[np.ndarray], fps: float) -> np.ndarray:
    """The novelty reference: every second (3 frames apart) of the training dances and their
    mirror images, as (n, F) features."""
    parts = [_seconds(p, fps, 3, m) for p in poses for m in (False, True) if len(p) >= fps * NOVELTY_S]
    parts = [p for p in parts if len(p)]
    if not parts:
        raise DancenowError("no training dance is a second long")
    return np.concatenate(parts)


def novelty(pose: np.ndarray, fps: float, reference: np.ndarray, batch: int = 256) -> np.ndarray:
    """For every second of a dance (1 s apart), the RMS direction difference to the nearest
    second of `reference` (`training_seconds`)."""
    q = _seconds(pose, fps, max(1, int(round(NOVELTY_S * fps))))
    if len(q) == 0:
        return np.zeros(0)
    ref2 = (reference ** 2).sum(1)
    out = []
    for i in range(0, len(q), batch):
        part = q[i:i + batch]
        d2 = (part ** 2).sum(1)[:, None] + ref2[None] - 2 * part @ reference.T
        out.append(np.sqrt(np.maximum(d2.min(1), 0) * pose.shape[-1] / q.shape[1]))  # per bone and frame
    return np.concatenate(out)
