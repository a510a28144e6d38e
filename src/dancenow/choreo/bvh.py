"""A small BVH (Biovision Hierarchy) motion-capture reader with forward kinematics.

`read_bvh(path)` parses the HIERARCHY and MOTION sections into a `Bvh` (joint tree, offsets,
channels, per-frame channel values). `Bvh.positions()` runs forward kinematics and returns
world positions of every joint (and end site) per frame, in the file's units and axes.

Conventions (the de-facto ones every exporter we met follows):
  - A joint's local transform is translate(offset) * R, where R is the product of the rotation
    channels in the order they are listed (e.g. "Zrotation Xrotation Yrotation" gives
    Rz @ Rx @ Ry), angles in degrees.
  - A joint with position channels (root always; UCY and Bandai export them on every joint)
    uses those values as its translation *instead of* the offset (they equal the offset where
    the skeleton is rigid; checked on the UCY and Bandai files).
No scipy: the rotations are a few lines of numpy, vectorised over frames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dancenow.errors import DancenowError

_AXES = {"X": 0, "Y": 1, "Z": 2}


@dataclass(frozen=True)
class BvhJoint:
    """One node of the skeleton. `channels` are names like 'Xposition', 'Zrotation' in file order;
    `first_channel` is the column of the first one in the MOTION data. End sites have no channels
    and are named '<parent>_end'."""

    name: str
    parent: int  # index into Bvh.joints, -1 for the root
    offset: np.ndarray  # (3,) in file units
    channels: tuple[str, ...]
    first_channel: int
    end_site: bool = False


@dataclass(frozen=True)
class Bvh:
    """A parsed BVH file. `motion`: (T, C) float64 channel values (degrees for rotations);
    `frame_time`: seconds per frame."""

    path: Path
    joints: tuple[BvhJoint, ...]
    motion: np.ndarray
    frame_time: float

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def names(self) -> list[str]:
        return [j.name for j in self.joints]

    def __len__(self) -> int:
        return self.motion.shape[0]

    def index(self, name: str) -> int:
        for i, j in enumerate(self.joints):
            if j.name == name:
                return i
        raise DancenowError(f"{self.path}: no joint named {name!r}")

    def positions(self) -> np.ndarray:
        """(T, N, 3) world positions of all joints and end sites (file units and axes)."""
        T = len(self)
        n = len(self.joints)
        rot = np.empty((n, T, 3, 3))
        pos = np.empty((n, T, 3))
        for i, j in enumerate(self.joints):
            local_t = np.broadcast_to(j.offset, (T, 3)).copy()
            local_r = np.broadcast_to(np.eye(3), (T, 3, 3)).copy()
            for k, ch in enumerate(j.channels):
                vals = self.motion[:, j.first_channel + k]
                axis = _AXES[ch[0].upper()]
                if ch.lower().endswith("position"):
                    local_t[:, axis] = vals
                else:
                    local_r = local_r @ _axis_rotation(axis, np.deg2rad(vals))
            if j.parent < 0:
                rot[i], pos[i] = local_r, local_t
            else:
                p = j.parent
                pos[i] = pos[p] + np.einsum("tij,tj->ti", rot[p], local_t)
                rot[i] = rot[p] @ local_r
        return pos.transpose(1, 0, 2)


def _axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotation matrices about one axis by `angle` radians (right-handed)."""
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros(angle.shape + (3, 3))
    a, b = [(1, 2), (2, 0), (0, 1)][axis]  # the plane the rotation acts in
    m[..., axis, axis] = 1.0
    m[..., a, a] = c
    m[..., a, b] = -s
    m[..., b, a] = s
    m[..., b, b] = c
    return m


MAX_BVH_FPS = 1000.0  # frames per second: a frame time below 1 ms is not motion capture
MAX_FRAME_TIME = 10.0  # seconds per frame: above this a "motion" is a slide show


def read_bvh(path: str | os.PathLike) -> Bvh:
    """Parse a BVH file. Raises DancenowError naming the file for anything malformed."""
    path = Path(path)
    if path.is_dir():
        raise DancenowError(f"{path} is a folder, not a BVH file")
    if not path.is_file():
        raise DancenowError(f"BVH file not found: {path}")
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        raise DancenowError(f"cannot read {path}: {e.strerror or e}") from None
    if not text.strip():
        raise DancenowError(f"{path} is empty, not a BVH file")
    head, sep, motion_text = text.partition("MOTION")
    if not sep or "HIERARCHY" not in head:
        raise DancenowError(f"{path} is not a BVH file (no HIERARCHY/MOTION sections)")
    try:
        joints, n_channels = _parse_hierarchy(head.split())
    except (IndexError, ValueError, KeyError, TypeError) as e:
        raise DancenowError(f"{path}: malformed BVH hierarchy ({e or type(e).__name__})") from None
    lines = motion_text.strip().splitlines()
    try:
        frames = int(lines[0].split(":")[1])
        frame_time = float(lines[1].split(":")[1])
        values = np.array(" ".join(lines[2:]).split(), dtype=np.float64)
    except (IndexError, ValueError):
        raise DancenowError(f"{path}: malformed BVH MOTION header or values (expected 'Frames: N', "
                            "'Frame Time: S', then numbers)") from None
    if frames <= 0:
        raise DancenowError(f"{path}: BVH has {frames} frames")
    if not (1.0 / MAX_BVH_FPS <= frame_time <= MAX_FRAME_TIME):  # NaN fails too
        raise DancenowError(f"{path}: BVH frame time {frame_time} s is outside [{1 / MAX_BVH_FPS:g}, {MAX_FRAME_TIME:g}] s")
    if n_channels == 0 or values.size < frames * n_channels:
        raise DancenowError(f"{path}: BVH motion has {values.size} values, expected {frames} x {n_channels} (truncated file?)")
    motion = values[: frames * n_channels].reshape(frames, n_channels)
    if not np.isfinite(motion).all():
        raise DancenowError(f"{path}: BVH motion contains NaN or infinite values")
    return Bvh(path, tuple(joints), motion, frame_time)


def _parse_hierarchy(tok: list[str]) -> tuple[list[BvhJoint], int]:
    joints: list[BvhJoint] = []
    stack: list[int] = []
    n_channels = 0
    i = tok.index("HIERARCHY") + 1
    pending: dict | None = None
    while i < len(tok):
        t = tok[i]
        if t in ("ROOT", "JOINT"):
            pending = {"name": tok[i + 1], "end": False}
            i += 2
        elif t == "End":  # "End Site"
            parent = stack[-1]
            pending = {"name": joints[parent]["name"] + "_end", "end": True}  # type: ignore[index]
            i += 2
        elif t == "{":
            if pending is None:
                raise ValueError("'{' without a joint")
            pending["parent"] = stack[-1] if stack else -1
            pending["offset"] = np.zeros(3)
            pending["channels"] = ()
            joints.append(pending)  # type: ignore[arg-type]  # converted below
            stack.append(len(joints) - 1)
            pending = None
            i += 1
        elif t == "}":
            if not stack:
                raise ValueError("'}' without a joint")
            stack.pop()
            i += 1
        elif t == "OFFSET":
            offset = np.array([float(v) for v in tok[i + 1:i + 4]])
            if offset.shape != (3,) or not np.isfinite(offset).all():
                raise ValueError(f"OFFSET of {joints[stack[-1]]['name']} is not three finite numbers")  # type: ignore[index]
            joints[stack[-1]]["offset"] = offset  # type: ignore[index]
            i += 4
        elif t == "CHANNELS":
            n = int(tok[i + 1])
            if not 0 <= n <= 6:
                raise ValueError(f"CHANNELS {n}: a joint has 0 to 6 channels")
            chans = tuple(tok[i + 2:i + 2 + n])
            for c in chans:
                if c[0].upper() not in _AXES or not c.lower().endswith(("position", "rotation")):
                    raise ValueError(f"unknown channel {c!r}")
            joints[stack[-1]]["channels"] = chans  # type: ignore[index]
            joints[stack[-1]]["first"] = n_channels  # type: ignore[index]
            n_channels += n
            i += 2 + n
        else:
            raise ValueError(f"unexpected token {t!r}")
    if not joints:
        raise ValueError("no joints")
    if stack:
        raise ValueError("unbalanced braces: a joint is not closed")
    out = [BvhJoint(j["name"], j["parent"], j["offset"], j["channels"], j.get("first", 0), j["end"]) for j in joints]  # type: ignore[index]
    return out, n_channels
