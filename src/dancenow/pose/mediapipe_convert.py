"""MediaPipe landmarks -> our OpenPose layout (BODY_25 + face 70 + hands 21 x 2).

Pure array functions, no mediapipe import: they take landmark arrays in MediaPipe's
normalized image coordinates (x, y in [0, 1] of the image that was processed; may lie
outside when a point is predicted off-image) and return (n, 3) float32 keypoints
(x, y in pixels, confidence) in the OpenPose order of `dancenow.keypoints`.

Pixel convention: MediaPipe's x = 0 is the left *edge* of the image, OpenPose's x = 0 is the
*centre* of the first pixel, so pixel = normalized * size - 0.5.

References: MediaPipe Pose landmark order (mediapipe/python/solutions/pose.py, PoseLandmark),
Face Mesh topology (canonical_face_model_uv_visualization.png), OpenPose output formats
(doc/02_output.md); the 468 -> 68 face correspondence follows the one in common use (e.g.
PeizhiYan/Mediapipe_2_Dlib_Landmarks), checked on real faces in tests/test_pose.py.
"""

from __future__ import annotations

import enum

import numpy as np

from dancenow.keypoints import NUM_BODY, NUM_FACE, NUM_HAND, Joint


class MPPose(enum.IntEnum):
    """MediaPipe Pose's 33 landmarks ("left" is the person's left)."""

    NOSE = 0
    LEFT_EYE_INNER = 1
    LEFT_EYE = 2
    LEFT_EYE_OUTER = 3
    RIGHT_EYE_INNER = 4
    RIGHT_EYE = 5
    RIGHT_EYE_OUTER = 6
    LEFT_EAR = 7
    RIGHT_EAR = 8
    MOUTH_LEFT = 9
    MOUTH_RIGHT = 10
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_PINKY = 17
    RIGHT_PINKY = 18
    LEFT_INDEX = 19
    RIGHT_INDEX = 20
    LEFT_THUMB = 21
    RIGHT_THUMB = 22
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28
    LEFT_HEEL = 29
    RIGHT_HEEL = 30
    LEFT_FOOT_INDEX = 31
    RIGHT_FOOT_INDEX = 32


# BODY_25 joint <- MediaPipe landmark, for the joints that exist in both. Neck and MidHip are
# midpoints (below). MediaPipe has no small toes: OpenPose's small toe is left missing rather
# than invented; its big toe takes MediaPipe's foot index (the tip of the foot, near the
# second toe), the closest point it has.
BODY25_FROM_MP: dict[int, int] = {
    Joint.NOSE: MPPose.NOSE,
    Joint.R_SHOULDER: MPPose.RIGHT_SHOULDER, Joint.R_ELBOW: MPPose.RIGHT_ELBOW, Joint.R_WRIST: MPPose.RIGHT_WRIST,
    Joint.L_SHOULDER: MPPose.LEFT_SHOULDER, Joint.L_ELBOW: MPPose.LEFT_ELBOW, Joint.L_WRIST: MPPose.LEFT_WRIST,
    Joint.R_HIP: MPPose.RIGHT_HIP, Joint.R_KNEE: MPPose.RIGHT_KNEE, Joint.R_ANKLE: MPPose.RIGHT_ANKLE,
    Joint.L_HIP: MPPose.LEFT_HIP, Joint.L_KNEE: MPPose.LEFT_KNEE, Joint.L_ANKLE: MPPose.LEFT_ANKLE,
    Joint.R_EYE: MPPose.RIGHT_EYE, Joint.L_EYE: MPPose.LEFT_EYE,
    Joint.R_EAR: MPPose.RIGHT_EAR, Joint.L_EAR: MPPose.LEFT_EAR,
    Joint.L_BIG_TOE: MPPose.LEFT_FOOT_INDEX, Joint.L_HEEL: MPPose.LEFT_HEEL,
    Joint.R_BIG_TOE: MPPose.RIGHT_FOOT_INDEX, Joint.R_HEEL: MPPose.RIGHT_HEEL,
}
_B25_DST = np.array(list(BODY25_FROM_MP.keys()), np.int64)
_B25_SRC = np.array(list(BODY25_FROM_MP.values()), np.int64)

# OpenPose face point (0..67, the 68 dlib/iBUG-300W points, 0-based) <- Face Mesh vertex, or
# the mean of two vertices where no single one sits at the dlib point. "Right" is the person's
# right (image left on a frontal face). 68/69 (pupils) are computed separately.
FACE68_FROM_MESH: tuple[tuple[int, ...], ...] = (
    # 0-16 jaw line, from the right temple down to the chin (8) and up to the left temple
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,),
    (400,), (379,), (365,), (397, 288), (361,), (323,), (454,), (356,),
    # 17-21 right brow (outer -> inner), 22-26 left brow (inner -> outer)
    (70,), (63,), (105,), (66,), (107,),
    (336,), (296,), (334,), (293,), (300,),
    # 27-30 nose bridge (top -> tip), 31-35 nostril base (right -> left)
    (168, 6), (197, 195), (5,), (4,), (75,), (97,), (2,), (326,), (305,),
    # 36-41 right eye (outer corner, upper lid x2, inner corner, lower lid x2)
    (33,), (160,), (158,), (133,), (153,), (144,),
    # 42-47 left eye (inner corner, upper lid x2, outer corner, lower lid x2)
    (362,), (385,), (387,), (263,), (373,), (380,),
    # 48-59 outer lips from the right corner, clockwise in the image
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    # 60-67 inner lips from the right corner
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)
assert len(FACE68_FROM_MESH) == 68
# Mesh -> face as a (468, 68) averaging matrix, so the conversion is one matmul.
_FACE_W = np.zeros((468, 68), np.float32)
for _i, _src in enumerate(FACE68_FROM_MESH):
    _FACE_W[list(_src), _i] = 1.0 / len(_src)
# With refine_face_landmarks (478 points) 468 and 473 are the iris centres of the person's
# right and left eye (verified: 468 sits in the eye of mesh 33/133, which is pose RIGHT_EYE).
IRIS_RIGHT, IRIS_LEFT = 468, 473
_EYE_RIGHT = [36, 37, 38, 39, 40, 41]  # in the 68-point face
_EYE_LEFT = [42, 43, 44, 45, 46, 47]


def to_pixels(norm_xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """(n, 2) MediaPipe normalized coordinates -> (n, 2) pixel coordinates (pixel centres)."""
    return norm_xy * np.array([width, height], np.float32) - 0.5


def body25_from_pose(pose_xy: np.ndarray, visibility: np.ndarray, min_visibility: float = 0.0) -> np.ndarray:
    """MediaPipe's 33 body landmarks -> (25, 3) BODY_25.

    pose_xy: (33, 2) pixels; visibility: (33,) in [0, 1], used as the confidence. A joint whose
    visibility is below `min_visibility` is missing. Neck = shoulder midpoint and MidHip = hip
    midpoint (as OpenPose defines them), each with the smaller confidence of its two ends.
    Small toes are always missing (MediaPipe has none).
    """
    out = np.zeros((NUM_BODY, 3), np.float32)
    out[_B25_DST, :2] = pose_xy[_B25_SRC]
    out[_B25_DST, 2] = visibility[_B25_SRC]
    for dst, (a, b) in ((Joint.NECK, (MPPose.LEFT_SHOULDER, MPPose.RIGHT_SHOULDER)),
                        (Joint.MID_HIP, (MPPose.LEFT_HIP, MPPose.RIGHT_HIP))):
        out[dst, :2] = 0.5 * (pose_xy[a] + pose_xy[b])
        out[dst, 2] = min(visibility[a], visibility[b])
    out[out[:, 2] < max(min_visibility, 1e-6)] = 0.0
    return out


def face70_from_mesh(mesh_xy: np.ndarray, confidence: float = 1.0) -> np.ndarray:
    """Face Mesh (468 or 478 points, (n, 2) pixels) -> (70, 3) OpenPose face.

    Points 0-67 by `FACE68_FROM_MESH`; pupils 68 (right) and 69 (left) are the iris centres
    when the mesh has the 10 iris points (478), else the centres of the six eye-contour points.
    Face Mesh gives no per-point score: every point gets `confidence`.
    """
    out = np.zeros((NUM_FACE, 3), np.float32)
    out[:68, :2] = _FACE_W.T @ mesh_xy[:468]
    if mesh_xy.shape[0] >= 478:
        out[68, :2] = mesh_xy[IRIS_RIGHT]
        out[69, :2] = mesh_xy[IRIS_LEFT]
    else:
        out[68, :2] = out[_EYE_RIGHT, :2].mean(0)
        out[69, :2] = out[_EYE_LEFT, :2].mean(0)
    out[:, 2] = confidence
    return out


def hand21_from_mediapipe(hand_xy: np.ndarray, confidence: float = 1.0) -> np.ndarray:
    """MediaPipe hand (21, 2) pixels -> (21, 3) OpenPose hand. Both use the same order (wrist,
    then thumb, index, middle, ring, little finger, 4 points each from the base), so this only
    adds the confidence (MediaPipe gives none per point)."""
    out = np.zeros((NUM_HAND, 3), np.float32)
    out[:, :2] = hand_xy
    out[:, 2] = confidence
    return out
