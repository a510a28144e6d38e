"""Draw poses: OpenPose-style label images (the generator's input), overlays, debugging.

Colours follow OpenPose's BODY_25 palette (a limb takes the colour of its far joint), so
left and right limbs differ; the face is drawn in white lines, hands in per-finger colours.
A connection with a missing end is not drawn.
"""

from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np

from dancenow.keypoints import BODY_LIMBS, FACE, FACE_LINES, HAND_BONES, LEFT_HAND, RIGHT_HAND, PoseSequence

# OpenPose's BODY_25 joint colours (RGB), indexed by joint.
BODY_COLORS = np.array([
    (255, 0, 85), (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0),
    (85, 255, 0), (0, 255, 0), (255, 0, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255),
    (0, 170, 255), (0, 85, 255), (0, 0, 255), (255, 0, 170), (170, 0, 255), (255, 0, 255),
    (85, 0, 255), (0, 0, 255), (0, 0, 255), (0, 0, 255), (0, 255, 255), (0, 255, 255),
    (0, 255, 255),
], dtype=np.uint8)
LIMB_COLORS = np.array([BODY_COLORS[b] for _, b in BODY_LIMBS], dtype=np.uint8)
FACE_COLOR = (255, 255, 255)
FINGER_COLORS = np.array([(255, 0, 0), (255, 255, 0), (0, 255, 0), (0, 255, 255), (0, 0, 255)], dtype=np.uint8)
HAND_COLORS = np.array([FINGER_COLORS[i // 4] for i in range(len(HAND_BONES))], dtype=np.uint8)


def _thickness(height: int) -> tuple[int, int, int]:
    """Line widths for body, face, hands, scaled with the output height (4 px body at 512)."""
    body = max(2, int(round(4 * height / 512)))
    return body, max(1, body // 2), max(1, body // 2)


def _draw_lines(img, xy, ok, pairs, colors, thickness, offset=0) -> None:
    for (a, b), c in zip(pairs, colors):
        a, b = a + offset, b + offset
        if ok[a] and ok[b]:
            pa = (int(round(xy[a, 0])), int(round(xy[a, 1])))
            pb = (int(round(xy[b, 0])), int(round(xy[b, 1])))
            cv2.line(img, pa, pb, tuple(int(v) for v in c), thickness, lineType=cv2.LINE_AA)


def draw_pose(img: np.ndarray, keypoints: np.ndarray, scale: tuple[float, float] = (1.0, 1.0),
              parts: tuple[str, ...] = ("body", "face", "hands"), thickness: int | None = None) -> np.ndarray:
    """Draw one frame's keypoints (J, 3) onto `img` (H, W, 3 uint8, modified in place and returned).
    `scale` maps keypoint pixels to `img` pixels (sx, sy)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    xy = kp[:, :2] * np.asarray(scale)
    ok = kp[:, 2] > 0
    tb, tf, th = _thickness(img.shape[0]) if thickness is None else (thickness, max(1, thickness // 2), max(1, thickness // 2))
    if "body" in parts:
        _draw_lines(img, xy, ok, BODY_LIMBS, LIMB_COLORS, tb)
    if "face" in parts:
        _draw_lines(img, xy, ok, FACE_LINES, [FACE_COLOR] * len(FACE_LINES), tf, FACE.start)
    if "hands" in parts:
        _draw_lines(img, xy, ok, HAND_BONES, HAND_COLORS, th, LEFT_HAND.start)
        _draw_lines(img, xy, ok, HAND_BONES, HAND_COLORS, th, RIGHT_HAND.start)
    return img


def render_label(keypoints: np.ndarray, src_size: tuple[int, int], out_size: tuple[int, int] | None = None) -> np.ndarray:
    """A label image (H, W, 3 uint8, black background) of one frame's keypoints.
    src_size: (w, h) the keypoints refer to; out_size: (w, h) of the image (default src_size)."""
    ow, oh = out_size or src_size
    img = np.zeros((oh, ow, 3), np.uint8)
    return draw_pose(img, keypoints, scale=(ow / src_size[0], oh / src_size[1]))


def render_sequence(seq: PoseSequence, out_size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """Label images of every frame, lazily."""
    for kp in seq.keypoints:
        yield render_label(kp, seq.size, out_size)


def overlay(frame: np.ndarray, keypoints: np.ndarray, src_size: tuple[int, int] | None = None) -> np.ndarray:
    """The frame with the skeleton drawn over it (a copy)."""
    img = np.ascontiguousarray(frame).copy()
    src = src_size or (img.shape[1], img.shape[0])
    return draw_pose(img, keypoints, scale=(img.shape[1] / src[0], img.shape[0] / src[1]))


def caption(img: np.ndarray, text: str) -> np.ndarray:
    """Write a small caption in the top-left corner (a copy), readable on any background."""
    out = np.ascontiguousarray(img).copy()
    s = max(0.35, out.shape[0] / 700)
    cv2.putText(out, text, (6, int(18 * s / 0.5)), cv2.FONT_HERSHEY_SIMPLEX, s, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (6, int(18 * s / 0.5)), cv2.FONT_HERSHEY_SIMPLEX, s, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def draw_to_file(seq: PoseSequence, output, overlay_video=None, size: tuple[int, int] | None = None,
                 progress: bool = True):
    """`dancenow render`: a stick-figure video of `seq` (on black at `size`, default the poses'
    frame size; or over the frames of `overlay_video`), or its first frame for a .png path."""
    from dancenow.video import read_frames, write_video

    if overlay_video is not None:
        frames = (overlay(f, kp, seq.size) for f, kp in zip(read_frames(overlay_video), seq.keypoints))
    else:
        frames = render_sequence(seq, size)
    return write_video(output, frames, seq.fps, total=len(seq), desc="render", progress=progress)
