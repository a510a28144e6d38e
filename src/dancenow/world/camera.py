"""A pinhole camera for the synthetic world, possibly moving over a clip (a dolly).

World coordinates are metres: x to the camera's right (the dancer's left when facing the
camera), y up, z towards the camera; the floor is the plane y = 0 and the stage origin is the
point (0, 0, 0). Image coordinates are pixels, origin top-left, y down (OpenCV convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dancenow.errors import DancenowError


def _ease(u: np.ndarray) -> np.ndarray:
    """Smoothstep 0 -> 1 (zero velocity at both ends, so a dolly starts and stops gently)."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


@dataclass(frozen=True)
class Camera:
    """A camera looking at a point above the stage.

    distance: horizontal distance (m) from the camera to its target along z.
    height: camera height above the floor (m).
    target_height: height (m) of the point looked at.
    fov_deg: vertical field of view (degrees); the focal length follows from the frame height.
    x: lateral camera position (m); target_x: lateral position of the target (m).
    distance_end: if set, the camera dollies (eased) from `distance` to this distance over the
        clip, so the dancer's scale and ankle height in the image change; None = static.
    dolly_cycles: how many there-and-back trips the dolly makes (0.5 = one way).
    """

    distance: float = 3.6
    height: float = 1.0
    target_height: float = 0.95
    fov_deg: float = 40.0
    x: float = 0.0
    target_x: float = 0.0
    distance_end: float | None = None
    dolly_cycles: float = 0.5

    def __post_init__(self) -> None:
        if not (self.distance > 0.5 and 5.0 < self.fov_deg < 150.0):
            raise DancenowError(f"invalid camera: distance {self.distance} m, fov {self.fov_deg} deg")
        if self.distance_end is not None and not self.distance_end > 0.5:
            raise DancenowError(f"invalid camera distance_end {self.distance_end} m")

    @property
    def moves(self) -> bool:
        return self.distance_end is not None and self.distance_end != self.distance

    def focal(self, height_px: int) -> float:
        """Focal length in pixels for a frame `height_px` high."""
        return 0.5 * height_px / math.tan(math.radians(self.fov_deg) / 2.0)

    def distances(self, frames: int) -> np.ndarray:
        """(T,) camera distance (m) at each frame."""
        if not self.moves or frames <= 1:
            return np.full(frames, self.distance, np.float64)
        u = np.linspace(0.0, 1.0, frames)
        # a triangle wave with `dolly_cycles` legs of 0.5, each eased
        legs = u * self.dolly_cycles * 2.0
        k = np.floor(np.minimum(legs, np.ceil(self.dolly_cycles * 2.0) - 1e-9))
        frac = _ease(legs - k)
        s = np.where(k % 2 == 0, frac, 1.0 - frac)
        return self.distance + (self.distance_end - self.distance) * s

    def extrinsics(self, frames: int) -> tuple[np.ndarray, np.ndarray]:
        """World -> camera rotation R (T, 3, 3) and camera centre C (T, 3) in metres.
        Camera axes (OpenCV): x right, y down, z forward; a point X maps to R @ (X - C)."""
        d = self.distances(frames)
        C = np.stack([np.full(frames, self.x), np.full(frames, self.height), d], axis=-1)
        target = np.array([self.target_x, self.target_height, 0.0])
        fwd = target[None] - C
        fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)
        up = np.array([0.0, 1.0, 0.0])
        right = np.cross(fwd, up[None])
        right /= np.linalg.norm(right, axis=-1, keepdims=True)
        down = np.cross(fwd, right)
        R = np.stack([right, down, fwd], axis=1)  # rows are the camera axes in world coordinates
        return R, C


def project(points: np.ndarray, R: np.ndarray, C: np.ndarray, f: float, cx: float, cy: float) -> tuple[np.ndarray, np.ndarray]:
    """Project world points (T, N, 3) (m) with per-frame extrinsics: returns pixel coordinates
    (T, N, 2) and camera depth (T, N) in metres (distance along the optical axis)."""
    cam = np.einsum("tij,tnj->tni", R, points - C[:, None, :])
    z = cam[..., 2]
    zs = np.maximum(z, 1e-6)  # points behind the camera never happen on our stage
    uv = np.stack([cx + f * cam[..., 0] / zs, cy + f * cam[..., 1] / zs], axis=-1)
    return uv, z
