"""Readers: dance files in, `Motion`s out (BODY_25 joint tracks with a style label).

Sources (each tagged with a style name):
  - our pose `.npz` and OpenPose JSON folders (2D pixels, via `dancenow.posefile.load_poses`);
  - videos (`.mp4`, ...): poses detected with the pose stage (`dancenow.pose.detect_video`);
  - BVH motion capture (`bvh.py` forward kinematics), mapped onto BODY_25 by a per-skeleton
    joint-name map (CMU 43-joint salsa, CMU 31-joint, UCY 54-joint, Bandai 22-joint), kept in 3D;
  - the Motion-MDRNN example array (`x`: clips x frames x 66 = 22 markers x 3, Z up, 30 fps).

A `Motion` holds BODY_25 joint positions (T, 25, D) with NaN for missing, in "camera" axes: x
to the image right, y down, z toward the viewer (D = 3; D = 2 drops z, which is exactly the
orthographic front view). For motion capture the camera looks at the capture volume's front,
along the file's -z axis (BVH is y-up, and the solo dancers here all face +z at the start; the
CMU salsa couple face each other along x, so this audience view shows them in profile).
`front="dancer"` instead turns each recording about the vertical so that the dancer faces the
camera over the first second (the Motion-MDRNN markers, whose lab axes have no front, are
always turned so). clips.py turns Motions into the model's representation.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from dancenow.choreo.bvh import Bvh, read_bvh
from dancenow.errors import DancenowError
from dancenow.keypoints import NUM_BODY, Joint, PoseSequence

log = logging.getLogger(__name__)

J = Joint
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm")

# ----------------------------------------------------------------------------- skeleton maps
# BODY_25 joint -> how to get it from the source skeleton: a joint name, a tuple of names
# (their mean), or ("extend", a, b, f) = b + f * (b - a) (a point beyond b on the line a->b).
# NOSE has no joint in most skeletons: we take the eye midpoint (CMU 43), the middle of the
# head bone (CMU 31), the head joint (UCY: it sits mid-head), or extend the short neck->head
# bone (Bandai: its head joint is at the skull base). Approximate, and consistent per skeleton.
SkeletonMap = dict[int, "str | tuple"]

SKELETONS: dict[str, SkeletonMap] = {
    "cmu43": {
        J.NOSE: ("leftEye", "rightEye"), J.R_EYE: "rightEye", J.L_EYE: "leftEye",
        J.R_SHOULDER: "rShldr", J.R_ELBOW: "rForeArm", J.R_WRIST: "rHand",
        J.L_SHOULDER: "lShldr", J.L_ELBOW: "lForeArm", J.L_WRIST: "lHand",
        J.R_HIP: "rThigh", J.R_KNEE: "rShin", J.R_ANKLE: "rFoot", J.R_BIG_TOE: "rFoot_end",
        J.L_HIP: "lThigh", J.L_KNEE: "lShin", J.L_ANKLE: "lFoot", J.L_BIG_TOE: "lFoot_end",
    },
    "cmu31": {
        J.NOSE: ("Head", "Head_end"),
        J.R_SHOULDER: "RightShoulder", J.R_ELBOW: "RightElbow", J.R_WRIST: "RightWrist",
        J.L_SHOULDER: "LeftShoulder", J.L_ELBOW: "LeftElbow", J.L_WRIST: "LeftWrist",
        J.R_HIP: "RightHip", J.R_KNEE: "RightKnee", J.R_ANKLE: "RightAnkle", J.R_BIG_TOE: "RightToe_end",
        J.L_HIP: "LeftHip", J.L_KNEE: "LeftKnee", J.L_ANKLE: "LeftAnkle", J.L_BIG_TOE: "LeftToe_end",
    },
    "ucy54": {
        J.NOSE: "Head",
        J.R_SHOULDER: "RightArm", J.R_ELBOW: "RightForeArm", J.R_WRIST: "RightHand",
        J.L_SHOULDER: "LeftArm", J.L_ELBOW: "LeftForeArm", J.L_WRIST: "LeftHand",
        J.R_HIP: "RightUpLeg", J.R_KNEE: "RightLeg", J.R_ANKLE: "RightFoot", J.R_BIG_TOE: "RightToeBase",
        J.L_HIP: "LeftUpLeg", J.L_KNEE: "LeftLeg", J.L_ANKLE: "LeftFoot", J.L_BIG_TOE: "LeftToeBase",
    },
    "bandai22": {
        J.NOSE: ("extend", "Neck", "Head", 1.5),
        J.R_SHOULDER: "UpperArm_R", J.R_ELBOW: "LowerArm_R", J.R_WRIST: "Hand_R",
        J.L_SHOULDER: "UpperArm_L", J.L_ELBOW: "LowerArm_L", J.L_WRIST: "Hand_L",
        J.R_HIP: "UpperLeg_R", J.R_KNEE: "LowerLeg_R", J.R_ANKLE: "Foot_R", J.R_BIG_TOE: "Toes_R",
        J.L_HIP: "UpperLeg_L", J.L_KNEE: "LowerLeg_L", J.L_ANKLE: "Foot_L", J.L_BIG_TOE: "Toes_L",
    },
}
# Motion-MDRNN's 22 markers (from its dance1.tsv header), in array order.
MDRNN_MARKERS = ("Head", "neck", "lsho", "lelb", "lwri", "lhan", "rsho", "relb", "rwri", "rhan", "t10",
                 "root", "lhip", "lknee", "lank", "lfoot", "ltoe", "rhip", "rknee", "rank", "rfoot", "rtoe")
SKELETONS["mdrnn22"] = {
    J.NOSE: "Head", J.R_SHOULDER: "rsho", J.R_ELBOW: "relb", J.R_WRIST: "rwri",
    J.L_SHOULDER: "lsho", J.L_ELBOW: "lelb", J.L_WRIST: "lwri",
    J.R_HIP: "rhip", J.R_KNEE: "rknee", J.R_ANKLE: "rank", J.R_BIG_TOE: "rtoe",
    J.L_HIP: "lhip", J.L_KNEE: "lknee", J.L_ANKLE: "lank", J.L_BIG_TOE: "ltoe",
}
MDRNN_FPS = 30.0  # its .tsv says FREQUENCY 30


def detect_skeleton(names: list[str]) -> str:
    """The SKELETONS key whose joint names all occur in `names`."""
    have = set(names)
    for key, m in SKELETONS.items():
        needed = {n for spec in m.values() for n in _spec_names(spec)}
        if needed <= have:
            return key
    raise DancenowError(f"unknown skeleton (joints {', '.join(names[:8])}, ...): "
                        f"supported are {', '.join(SKELETONS)} (see dancenow.choreo.data.SKELETONS)")


def _spec_names(spec) -> list[str]:
    if isinstance(spec, str):
        return [spec]
    if spec[0] == "extend":
        return [spec[1], spec[2]]
    return list(spec)


def _map_joints(src: np.ndarray, names: list[str], skeleton: SkeletonMap) -> np.ndarray:
    """(T, N, 3) source positions -> (T, 25, 3) BODY_25 (NaN where the map has nothing)."""
    idx = {n: i for i, n in enumerate(names)}
    out = np.full((src.shape[0], NUM_BODY, 3), np.nan)
    for j, spec in skeleton.items():
        if isinstance(spec, str):
            out[:, j] = src[:, idx[spec]]
        elif spec[0] == "extend":
            a, b = src[:, idx[spec[1]]], src[:, idx[spec[2]]]
            out[:, j] = b + spec[3] * (b - a)
        else:
            out[:, j] = np.mean([src[:, idx[n]] for n in spec], axis=0)
    derive_neck_midhip(out)
    return out


def derive_neck_midhip(body: np.ndarray) -> None:
    """Set NECK and MID_HIP of (T, 25, D) BODY_25 positions (NaN = missing), in place, to the
    shoulder and hip midpoints (NaN where one of the pair is missing)."""
    body[:, J.NECK] = 0.5 * (body[:, J.R_SHOULDER] + body[:, J.L_SHOULDER])
    body[:, J.MID_HIP] = 0.5 * (body[:, J.R_HIP] + body[:, J.L_HIP])


# ----------------------------------------------------------------------------- Motion

@dataclass(frozen=True, eq=False)
class Motion:
    """One performance's BODY_25 joints over time, before normalisation.

    joints: (T, 25, D) float64 in source units; camera axes x right, y down, z toward the viewer
        (D = 3) or image pixels x right, y down (D = 2). Missing values are NaN.
    fps: frames per second. name: where it came from. style: the style label.
    """

    joints: np.ndarray
    fps: float
    name: str
    style: str

    @property
    def dims(self) -> int:
        return self.joints.shape[-1]

    @property
    def present(self) -> np.ndarray:
        """(T, 25) bool: joint known."""
        return np.isfinite(self.joints).all(-1)

    def project_2d(self) -> "Motion":
        """Orthographic front view (drop z); a no-op for 2D motion."""
        return Motion(self.joints[..., :2], self.fps, self.name, self.style)


def _to_camera(world: np.ndarray, fps: float, front: str = "world") -> np.ndarray:
    """(T, 25, 3) Y-up world positions -> camera axes (x right, y down, z to the viewer). front:
    "world" = the camera on the world's +z axis looking back; "dancer" = first turned about the
    vertical so that the dancer faces the camera (+z) over the first second."""
    if front not in ("world", "dancer"):
        raise DancenowError(f"front must be 'world' or 'dancer', got {front!r}")
    if front == "world":
        cam = world.copy()
        cam[..., 1] *= -1.0  # image y points down
        return cam
    first = world[: max(1, int(round(fps)))]
    across = (np.nanmean(first[:, J.L_HIP] - first[:, J.R_HIP], 0)
              + np.nanmean(first[:, J.L_SHOULDER] - first[:, J.R_SHOULDER], 0))
    # facing = across x up: a dancer whose left is +x faces +z
    facing = np.cross(across, [0.0, 1.0, 0.0])
    yaw = np.arctan2(facing[0], facing[2])  # angle of facing from +z about +y
    c, s = np.cos(-yaw), np.sin(-yaw)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])  # rotation about y by -yaw
    cam = world @ rot.T
    cam[..., 1] *= -1.0  # image y points down
    return cam


def motion_from_bvh(path: str | os.PathLike, style: str, bvh: Bvh | None = None, front: str = "world") -> Motion:
    """A BVH file as a 3D `Motion` (BODY_25 by the skeleton's joint-name map, camera axes;
    `front` as in the module docstring)."""
    bvh = bvh or read_bvh(path)
    key = detect_skeleton(bvh.names)
    body = _map_joints(bvh.positions(), bvh.names, SKELETONS[key])
    return Motion(_to_camera(body, bvh.fps, front), bvh.fps, Path(path).stem, style)


def motions_from_mdrnn(path: str | os.PathLike, style: str) -> list[Motion]:
    """The Motion-MDRNN example array (`x`: clips x frames x 66, Z up, 30 fps) as 3D Motions."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        if "x" not in z.files:
            raise DancenowError(f"{path} is neither a dancenow pose file nor a marker array with field 'x'")
        x = np.asarray(z["x"], np.float64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[-1] != 3 * len(MDRNN_MARKERS):
        raise DancenowError(f"{path}: marker array 'x' has shape {x.shape}, expected (clips, frames, {3 * len(MDRNN_MARKERS)})")
    out = []
    for i, clip in enumerate(x):
        m = clip.reshape(len(clip), len(MDRNN_MARKERS), 3)
        world = np.stack([m[..., 0], m[..., 2], -m[..., 1]], -1)  # Z up -> Y up (right-handed)
        body = _map_joints(world, list(MDRNN_MARKERS), SKELETONS["mdrnn22"])
        out.append(Motion(_to_camera(body, MDRNN_FPS, "dancer"), MDRNN_FPS, f"{path.stem}[{i}]", style))
    return out


def motion_from_poses(seq: PoseSequence, style: str, name: str = "poses") -> Motion:
    """A 2D `Motion` from a PoseSequence (pixels; confidence 0 -> NaN). MID_HIP is rebuilt from
    the hips and NECK from the shoulders, as for motion capture."""
    body = seq.keypoints[:, :NUM_BODY].astype(np.float64)
    xy = np.where(body[..., 2:3] > 0, body[..., :2], np.nan)
    derive_neck_midhip(xy)
    return Motion(xy, seq.fps, name, style)


def load_motions(path: str | os.PathLike, style: str, fps: float | None = None,
                 size: tuple[int, int] | None = None, front: str = "world",
                 detect_fps: float | None = None, progress: bool = False) -> list[Motion]:
    """Any supported file as Motions: `.bvh` (3D; `front` as in `motion_from_bvh`), the MDRNN
    marker `.npz` (3D), our pose `.npz` or an OpenPose JSON folder (2D; `fps`/`size` as in
    `load_poses`), or a video (2D: the pose stage detects the most prominent person, at
    `detect_fps` frames per second when given, else at the video's own rate)."""
    path = Path(path)
    if path.suffix.lower() == ".bvh":
        return [motion_from_bvh(path, style, front=front)]
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return [motion_from_video(path, style, detect_fps, progress)]
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                ours = "format" in z.files
        except FileNotFoundError:
            raise DancenowError(f"pose file not found: {path}") from None
        except Exception as e:
            raise DancenowError(f"{path} is not a readable .npz ({type(e).__name__})") from None
        if not ours:
            return motions_from_mdrnn(path, style)
    from dancenow.posefile import load_poses

    return [motion_from_poses(load_poses(path, fps=fps, size=size), style, path.stem)]


def motion_from_video(path: str | os.PathLike, style: str, fps: float | None = None, progress: bool = False) -> Motion:
    """Detect the dancer's poses in a video (body only, smoothed; see `dancenow.pose`) as a 2D
    Motion. A video in which nobody is found is an error naming the file."""
    from dancenow.pose import PoseConfig, detect_video

    seq = detect_video(path, PoseConfig(face=False, hands=False), fps=fps, progress=progress)
    found = (seq.keypoints[:, [J.R_HIP, J.L_HIP], 2] > 0).all(-1).mean() if len(seq) else 0.0
    if found == 0:
        raise DancenowError(f"{path}: no dancer found in any frame (both hips are needed)")
    log.info("%s: dancer found in %.0f%% of %d frames", path, 100 * found, len(seq))
    return motion_from_poses(seq, style, Path(path).stem)


def training_sources(paths: Sequence[str], style: str | None, add: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(path, style) pairs for training: `paths` all in `style`, plus (STYLE, PATTERN) pairs
    whose glob PATTERN is expanded here (so a quoted pattern works on every shell)."""
    import glob

    if paths and not style:
        raise DancenowError("give --style NAME for the POSES (or use --add STYLE PATTERN)")
    out = [(str(p), style) for p in paths]
    for name, pattern in add:
        found = sorted(glob.glob(pattern)) or ([pattern] if Path(pattern).exists() else [])
        if not found:
            raise DancenowError(f"--add {name}: no files match {pattern!r}")
        out += [(p, name) for p in found]
    if not out:
        raise DancenowError("no training files: give POSES --style NAME and/or --add STYLE PATTERN")
    return out
