"""Posing an exemplar part by part (dancenow.synth.exemplar): what each part carries."""
from __future__ import annotations

import numpy as np

from dancenow.synth import exemplar as X

H = W = 160


def _pose(l_ankle_x: float, r_ankle_x: float) -> np.ndarray:
    """A front-facing stick body, 120 px tall, in BODY_25 order, its ankles where asked."""
    kp = np.zeros((25, 3), np.float32)
    pts = {0: (80, 20), 1: (80, 40), 2: (68, 42), 3: (62, 60), 4: (60, 78), 5: (92, 42), 6: (98, 60),
           7: (100, 78), 8: (80, 80), 9: (74, 80), 12: (86, 80),
           10: ((74 + r_ankle_x) / 2, 110), 11: (r_ankle_x, 140), 13: ((86 + l_ankle_x) / 2, 110), 14: (l_ankle_x, 140)}
    for j, (x, y) in pts.items():
        kp[j] = (x, y, 1.0)
    return kp


def _draw(kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stick body drawn thick (grey torso and arms, the right leg red, the left leg green) on
    black, and its person mask."""
    import cv2

    img = np.zeros((H, W, 3), np.uint8)
    p = {j: (int(round(kp[j, 0])), int(round(kp[j, 1]))) for j in range(25) if kp[j, 2] > 0}
    for a, b in ((1, 8), (2, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 0), (9, 12)):
        cv2.line(img, p[a], p[b], (128, 128, 128), 7)
    for a, b in ((9, 10), (10, 11)):
        cv2.line(img, p[a], p[b], (255, 0, 0), 7)
    for a, b in ((12, 13), (13, 14)):
        cv2.line(img, p[a], p[b], (0, 255, 0), 7)
    mask = (img.max(-1) > 0).astype(np.uint8) * 255
    return img, mask


def _leg_pixels(img: np.ndarray, alpha: np.ndarray, channel: int) -> np.ndarray:
    """Where the posed picture shows one leg's colour (red 0, green 1) solidly."""
    other = 1 - channel
    return (alpha > 0.5) & (img[..., channel] > 150) & (img[..., other] < 80)


def _segment_distance(p: np.ndarray, a, b) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    v = b - a
    t = np.clip(((p - a) @ v) / (v @ v), 0, 1)
    return np.linalg.norm(p - a - t[..., None] * v, axis=-1)


def test_a_leg_is_not_copied_beside_the_other_one(monkeypatch):
    """An exemplar with its legs together, posed with the legs apart: between the target's legs,
    pulled by no part, pixels stay where they are, which is where the exemplar's legs were.
    Without the ownership check, copies of the legs appear there (ghost legs between the real
    ones); with it, each leg appears where the target has it and hardly anywhere else."""
    exemplar = _pose(l_ankle_x=88, r_ankle_x=72)  # legs together: their centres 12-16 px apart
    target = _pose(l_ankle_x=120, r_ankle_x=40)  # legs wide apart
    img, mask = _draw(exemplar)
    plate = np.zeros_like(img)
    yy, xx = np.mgrid[:H, :W]
    p = np.stack([xx, yy], -1).astype(np.float64)
    to_right = np.minimum(_segment_distance(p, target[9, :2], target[10, :2]), _segment_distance(p, target[10, :2], target[11, :2]))
    to_left = np.minimum(_segment_distance(p, target[12, :2], target[13, :2]), _segment_distance(p, target[13, :2], target[14, :2]))
    below_hips = yy > 95  # the legs apart, below where they meet the torso

    def ghosts(on: bool) -> tuple[int, int, int]:
        monkeypatch.setattr(X, "OWNERSHIP", on)
        pic, alpha = X.posed_exemplar(img, mask, exemplar, target, plate)
        red, green = _leg_pixels(pic, alpha, 0), _leg_pixels(pic, alpha, 1)
        ghost = (red & (to_right > 14) | green & (to_left > 14)) & below_hips
        return int(ghost.sum()), int((red & (to_right <= 4)).sum()), int((green & (to_left <= 4)).sum())

    ghost_off, _, _ = ghosts(False)
    ghost_on, red_on, green_on = ghosts(True)
    assert ghost_off > 60  # the failure the check is for: ghost legs
    assert ghost_on < 0.3 * ghost_off
    assert red_on > 150 and green_on > 150  # both real legs are still drawn
