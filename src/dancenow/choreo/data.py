"""Dance data for the choreography model: pose files and motion capture in, model features out.

Sources (each tagged with a style name):
  - our pose `.npz` and OpenPose JSON folders (2D pixels, via `dancenow.posefile.load_poses`);
  - BVH motion capture (`bvh.py` forward kinematics), mapped onto BODY_25 by a per-skeleton
    joint-name map (CMU 43-joint salsa, CMU 31-joint, UCY 54-joint, Bandai 22-joint), either kept
    in 3D or projected orthographically onto a front view;
  - the Motion-MDRNN example array (`x`: clips x frames x 66 = 22 markers x 3, Z up, 30 fps).

Every source becomes a `Motion`: BODY_25 joint positions (T, 25, D) with a presence mask, in
"camera" axes: x to the image right, y down, z toward the viewer (D = 3; D = 2 drops z, which is
exactly the orthographic front view). For motion capture the camera looks at the capture
volume's front, along the file's -z axis (BVH is y-up, and the solo dancers here all face +z at
the start; the CMU salsa couple face each other along x, so this audience view shows them in
profile). `front="dancer"` instead turns each recording about the vertical so that the dancer
faces the camera over the first second (the Motion-MDRNN markers, whose lab axes have no front,
are always turned so).

A `Motion` then becomes `Clip`s, the model's representation: resampled to one frame rate,
scale-normalised (lengths in body heights: head to ankle, see `stature`), body-centred (joints
relative to the mid-hip "root") plus root motion (per-frame root displacement). Short gaps are
interpolated and marked as not observed (the loss skips them, the model sees a mask bit);
long gaps (> `max_gap_s`) split a recording into separate clips. Nothing missing is fed as 0.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from dancenow.choreo.bvh import Bvh, read_bvh
from dancenow.errors import DancenowError
from dancenow.keypoints import NUM_BODY, NUM_JOINTS, Joint, PoseSequence

log = logging.getLogger(__name__)

J = Joint
# The joints the model predicts, in this order. NECK and MID_HIP are not free: MID_HIP is the
# root (the origin of the body-centred pose) and NECK is rebuilt as the shoulder midpoint, as it
# is in every motion-capture skeleton here (their "neck" joints sit at very different heights).
MODEL_JOINTS: tuple[int, ...] = (
    J.NOSE, J.R_SHOULDER, J.R_ELBOW, J.R_WRIST, J.L_SHOULDER, J.L_ELBOW, J.L_WRIST,
    J.R_HIP, J.R_KNEE, J.R_ANKLE, J.L_HIP, J.L_KNEE, J.L_ANKLE, J.L_BIG_TOE, J.R_BIG_TOE,
)
# Bones among MODEL_JOINTS (+ derived neck) used for the bone-length health check: (a, b) BODY_25.
MODEL_BONES: tuple[tuple[int, int], ...] = (
    (J.R_SHOULDER, J.R_ELBOW), (J.R_ELBOW, J.R_WRIST), (J.L_SHOULDER, J.L_ELBOW), (J.L_ELBOW, J.L_WRIST),
    (J.R_HIP, J.R_KNEE), (J.R_KNEE, J.R_ANKLE), (J.L_HIP, J.L_KNEE), (J.L_KNEE, J.L_ANKLE),
    (J.R_ANKLE, J.R_BIG_TOE), (J.L_ANKLE, J.L_BIG_TOE), (J.NECK, J.NOSE), (J.NECK, J.MID_HIP),
    (J.R_SHOULDER, J.L_SHOULDER), (J.R_HIP, J.L_HIP),
)
# Left/right swap within MODEL_JOINTS (for mirror augmentation).
MODEL_FLIP: tuple[int, ...] = (0, 4, 5, 6, 1, 2, 3, 10, 11, 12, 7, 8, 9, 14, 13)

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
                 size: tuple[int, int] | None = None, front: str = "world") -> list[Motion]:
    """Any supported file as Motions: `.bvh` (3D; `front` as in `motion_from_bvh`), the MDRNN
    marker `.npz` (3D), our pose `.npz` or an OpenPose JSON folder (2D; `fps`/`size` as in
    `load_poses`)."""
    path = Path(path)
    if path.suffix.lower() == ".bvh":
        return [motion_from_bvh(path, style, front=front)]
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


# ----------------------------------------------------------------------------- Clip

def stature(body: np.ndarray) -> float:
    """A body height for one recording, in its units: the 90th percentile over frames of the
    nose-to-ankle-midpoint distance (1.9 x nose-to-hip-midpoint where the ankles are missing).
    The percentile, not the mean, because dancers crouch and bend but rarely stand taller.
    `body`: (T, 25, D) with NaN for missing."""
    nose = body[:, J.NOSE]
    ankle = 0.5 * (body[:, J.R_ANKLE] + body[:, J.L_ANKLE])
    full = np.linalg.norm(nose - ankle, axis=-1)
    upper = 1.9 * np.linalg.norm(nose - body[:, J.MID_HIP], axis=-1)
    h = np.where(np.isfinite(full), full, upper)
    h = h[np.isfinite(h)]
    if h.size == 0:
        raise DancenowError("cannot measure body height: no frame has the nose and the ankles or hips")
    return float(np.percentile(h, 90))


def _resample(x: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """(T, ...) with NaN gaps, linearly interpolated at dst_fps sample times. A new sample is
    NaN when either source neighbour is (so gaps stay gaps)."""
    if abs(src_fps - dst_fps) < 1e-6 * dst_fps:
        return x.copy()
    T = x.shape[0]
    n = int(np.floor((T - 1) * dst_fps / src_fps)) + 1
    t = np.arange(n) * (src_fps / dst_fps)
    i0 = np.minimum(np.floor(t).astype(int), T - 1)
    i1 = np.minimum(i0 + 1, T - 1)
    w = (t - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return (1 - w) * x[i0] + w * x[i1]  # NaN propagates from either neighbour


def _fill_gaps(x: np.ndarray) -> np.ndarray:
    """(T, ...) -> NaNs linearly interpolated along time (held constant past the ends), per column;
    columns with no value at all stay NaN."""
    flat = x.reshape(x.shape[0], -1).copy()
    t = np.arange(flat.shape[0])
    for c in range(flat.shape[1]):
        ok = np.isfinite(flat[:, c])
        if ok.any() and not ok.all():
            flat[:, c] = np.interp(t, t[ok], flat[ok, c])
    return flat.reshape(x.shape)


@dataclass(frozen=True, eq=False)
class Clip:
    """A stretch of motion in the model's representation (one frame rate, lengths in body heights).

    pose: (T, P, D) float32, MODEL_JOINTS relative to the root (mid-hip), divided by `scale`.
    root: (T, D) float32, root position / scale, relative to the clip's first root position.
    observed: (T, P) bool, pose values that were measured (not gap-filled).
    root_observed: (T,) bool.
    scale: body height in source units (pixels, metres, ...). fps: frames per second.
    Gap-filled values are linear interpolations (never zeros); joints never seen in the clip
    are NaN (the dataset imputes its mean pose and the mask tells the model)."""

    pose: np.ndarray
    root: np.ndarray
    observed: np.ndarray
    root_observed: np.ndarray
    fps: float
    scale: float
    name: str
    style: str
    origin: np.ndarray = field(default_factory=lambda: np.zeros(2))  # first root, source units

    def __len__(self) -> int:
        return self.pose.shape[0]

    @property
    def dims(self) -> int:
        return self.pose.shape[-1]

    def slice(self, start: int, stop: int) -> "Clip":
        return Clip(self.pose[start:stop], self.root[start:stop], self.observed[start:stop],
                    self.root_observed[start:stop], self.fps, self.scale, self.name, self.style, self.origin)

    def mirrored(self) -> "Clip":
        """Left/right swapped and x flipped (a plausible dance of the same style)."""
        flip = np.array(MODEL_FLIP)
        pose = self.pose[:, flip].copy()
        pose[..., 0] *= -1
        root = self.root.copy()
        root[:, 0] *= -1
        return Clip(pose, root, self.observed[:, flip], self.root_observed, self.fps, self.scale,
                    self.name + ":mirror", self.style, self.origin)

    def body25(self) -> np.ndarray:
        """(T, 25, D) absolute positions in body heights (root track included), NaN where the
        layout has no joint; NECK and MID_HIP rebuilt."""
        return pose_to_body25(self.pose, self.root)


def pose_to_body25(pose: np.ndarray, root: np.ndarray | None = None) -> np.ndarray:
    """(T, P, D) body-centred MODEL_JOINTS (+ optional (T, D) root) -> (T, 25, D) BODY_25 with
    NaN for joints outside the model; NECK = shoulder midpoint, MID_HIP = root."""
    T, _, D = pose.shape
    out = np.full((T, NUM_BODY, D), np.nan, dtype=np.float64)
    out[:, list(MODEL_JOINTS)] = pose
    derive_neck_midhip(out)
    if root is not None:
        out += np.asarray(root, np.float64)[:, None, :]
    return out


def clips_from_motion(motion: Motion, fps: float = 30.0, dims: int = 2, max_gap_s: float = 0.25,
                      min_length: int = 2, scale: float | None = None) -> list[Clip]:
    """Normalise one Motion into Clips at `fps` in `dims` (2: front view, 3: needs 3D input).

    Frames without a root (either hip missing) end a clip when the gap is longer than
    `max_gap_s` seconds; shorter gaps and missing joints are linearly interpolated and marked
    unobserved. Clips shorter than `min_length` frames are dropped. `scale`: the body height in
    the motion's units (None: measured with `stature`)."""
    if dims not in (2, 3):
        raise DancenowError(f"dims must be 2 or 3, got {dims}")
    if dims == 3 and motion.dims < 3:
        raise DancenowError(f"{motion.name} is 2D: it cannot be used in 3D (use dims=2)")
    joints = motion.joints[..., :dims]
    scale = stature(joints) if scale is None else float(scale)
    if not scale > 0:
        raise DancenowError(f"{motion.name}: body height is zero")
    joints = _resample(joints, motion.fps, fps)
    root = joints[:, J.MID_HIP]
    root_ok = np.isfinite(root).all(-1)
    # split at long root gaps
    max_gap = max(0, int(round(max_gap_s * fps)))
    segments, start, gap = [], None, 0
    for t, ok in enumerate(root_ok):
        if ok:
            if start is None:
                start = t
            gap = 0
            last_ok = t
        elif start is not None:
            gap += 1
            if gap > max_gap:
                segments.append((start, last_ok + 1))
                start, gap = None, 0
    if start is not None:
        segments.append((start, last_ok + 1))
    clips = []
    for a, b in segments:
        if b - a < min_length:
            continue
        seg = joints[a:b]
        r = _fill_gaps(seg[:, J.MID_HIP])
        rel = seg[:, list(MODEL_JOINTS)] - seg[:, [J.MID_HIP]]
        observed = np.isfinite(rel).all(-1)
        rel = _fill_gaps(rel)
        origin = r[0].copy()
        name = motion.name if len(segments) == 1 else f"{motion.name}@{a}"
        clips.append(Clip(
            (rel / scale).astype(np.float32), ((r - origin) / scale).astype(np.float32), observed,
            root_ok[a:b].copy(), fps, scale, name, motion.style, origin,
        ))
    if not clips:
        log.warning("%s: no usable stretch of motion (hips missing throughout?)", motion.name)
    return clips


def load_clips(path: str | os.PathLike, style: str, fps: float = 30.0, dims: int = 2,
               pose_fps: float | None = None, pose_size: tuple[int, int] | None = None,
               front: str = "world") -> list[Clip]:
    """`load_motions` + `clips_from_motion` for one file (2D projects 3D sources)."""
    return [c for m in load_motions(path, style, pose_fps, pose_size, front) for c in clips_from_motion(m, fps, dims)]


# ----------------------------------------------------------------------------- the shared data

# Styles of the dance data in ../shared/data/dance (see its README), and which files make them.
SHARED_STYLES: dict[str, tuple[str, ...]] = {
    "salsa": ("cmu_salsa/6[01]_*_scaled.bvh",),
    "mj": ("cmu_131/131_*.bvh",),
    "folk": ("ucy/*.bvh",),
    "jpop": ("bandai_dance-short_normal_*.bvh",),
    "improv": ("mdrnn_improv_examples.npz",),
}
# The held-out evaluation split of the issue: CMU salsa takes 01-03 of both partners.
SALSA_TEST_TAKES = tuple(f"{s}_{t:02d}_scaled" for s in (60, 61) for t in (1, 2, 3))


def shared_sources(root: str | os.PathLike) -> list[tuple[Path, str]]:
    """(file, style) for the shared dance folder, sorted for a reproducible order."""
    root = Path(root)
    out = []
    for style, patterns in SHARED_STYLES.items():
        for pat in patterns:
            out += [(p, style) for p in sorted(root.glob(pat))]
    if not out:
        raise DancenowError(f"no dance files found in {root}")
    return out


# ----------------------------------------------------------------------------- back to PoseSequence

def to_pose_sequence(pose: np.ndarray, root: np.ndarray | None, fps: float,
                     size: tuple[int, int] = (512, 512), height_frac: float = 0.6,
                     ground_frac: float = 0.93, recentre_s: float | None = 4.0) -> PoseSequence:
    """Place body-centred poses (T, P, 2) in body heights (+ root track (T, 2)) in a
    `size` frame: the body is `height_frac` of the frame high, the first frame's lowest foot
    point on the line `ground_frac` down, centred. The root's slow drift (a moving average over
    `recentre_s` seconds, None: off) is removed so a travelling dancer stays in the frame;
    steps, turns and jumps stay. Joints outside the frame are marked missing."""
    pose = np.asarray(pose, np.float64)[..., :2]
    T = pose.shape[0]
    w, h = size
    px = height_frac * h
    r = np.zeros((T, 2)) if root is None else np.asarray(root, np.float64)[:, :2].copy()
    if recentre_s and T > 1:
        k = max(1, int(round(recentre_s * fps)))
        pad = np.pad(r, ((k // 2, k - 1 - k // 2), (0, 0)), mode="edge")
        kern = np.ones(k) / k
        drift = np.stack([np.convolve(pad[:, d], kern, mode="valid") for d in range(2)], -1)
        r = r - drift + drift[:1]
    body = pose_to_body25(pose, r - r[:1])
    feet = body[0, [J.R_ANKLE, J.L_ANKLE, J.R_BIG_TOE, J.L_BIG_TOE], 1]
    lowest = np.nanmax(feet) if np.isfinite(feet).any() else 0.5
    xy = body * px
    xy[..., 0] += 0.5 * w
    xy[..., 1] += ground_frac * h - lowest * px
    kp = np.zeros((T, NUM_JOINTS, 3), np.float32)
    ok = np.isfinite(xy).all(-1) & (xy[..., 0] >= 0) & (xy[..., 0] <= w - 1) & (xy[..., 1] >= 0) & (xy[..., 1] <= h - 1)
    kp[:, :NUM_BODY, :2] = np.where(ok[..., None], xy, 0.0)
    kp[:, :NUM_BODY, 2] = ok
    return PoseSequence(kp, fps, w, h)


# ----------------------------------------------------------------------------- model inputs

@dataclass(frozen=True, eq=False)
class ClipArrays:
    """A clip ready for the model (all float32, lengths in body heights).

    pose: (T, P, D) with never-seen joints set to the training mean pose.
    root_step: (T, D) root displacement from the previous frame (0 at t = 0).
    observed: (T, P + 1) 1 where measured: the P joints, then the root step.
    """

    pose: np.ndarray
    root_step: np.ndarray
    observed: np.ndarray
    style: str
    name: str

    def __len__(self) -> int:
        return self.pose.shape[0]


def clip_arrays(clip: Clip, mean_pose: np.ndarray | None = None) -> ClipArrays:
    """`Clip` -> `ClipArrays`; `mean_pose` (P, D) fills joints the clip never shows."""
    pose = clip.pose.astype(np.float32).copy()
    never = ~np.isfinite(pose)
    if never.any():
        if mean_pose is None:
            raise DancenowError(f"{clip.name}: some joints are never observed and no mean pose was given")
        pose[never] = np.broadcast_to(mean_pose.astype(np.float32), pose.shape)[never]
    step = np.zeros_like(clip.root)
    step[1:] = clip.root[1:] - clip.root[:-1]
    step_ok = np.zeros(len(clip), bool)
    step_ok[1:] = clip.root_observed[1:] & clip.root_observed[:-1]
    observed = np.concatenate([clip.observed, step_ok[:, None]], 1).astype(np.float32)
    return ClipArrays(pose, step.astype(np.float32), observed, clip.style, clip.name)


def mirror_arrays(pose: np.ndarray, root_step: np.ndarray, observed: np.ndarray):
    """Mirror (..., P, D) pose, (..., D) root steps and (..., P + 1) masks left/right."""
    flip = np.array(MODEL_FLIP)
    pose = pose[..., flip, :].copy()
    pose[..., 0] *= -1
    root_step = root_step.copy()
    root_step[..., 0] *= -1
    observed = np.concatenate([observed[..., flip], observed[..., -1:]], -1)
    return pose, root_step, observed


# ----------------------------------------------------------------------------- skeleton guard

_NECK = -2  # pseudo-index: the shoulder midpoint
_ROOT = -1  # pseudo-index: the origin of the body-centred pose (mid-hip)


def _mj(j: int) -> int:
    return MODEL_JOINTS.index(j)


# Bones the guard keeps in range, parents before children, as (parent, child) indices into
# MODEL_JOINTS (or _ROOT / _NECK), each with the joints that move with the child.
GUARD_BONES: tuple[tuple[int, int], ...] = tuple(
    (_ROOT if p is None else (_NECK if p == "neck" else _mj(p)), _mj(c)) for p, c in (
        (None, J.R_HIP), (None, J.L_HIP), (None, J.R_SHOULDER), (None, J.L_SHOULDER),
        (J.R_HIP, J.R_KNEE), (J.R_KNEE, J.R_ANKLE), (J.R_ANKLE, J.R_BIG_TOE),
        (J.L_HIP, J.L_KNEE), (J.L_KNEE, J.L_ANKLE), (J.L_ANKLE, J.L_BIG_TOE),
        (J.R_SHOULDER, J.R_ELBOW), (J.R_ELBOW, J.R_WRIST), (J.L_SHOULDER, J.L_ELBOW), (J.L_ELBOW, J.L_WRIST),
        ("neck", J.NOSE),
    ))
_CHILDREN = {J.R_HIP: (J.R_KNEE, J.R_ANKLE, J.R_BIG_TOE), J.R_KNEE: (J.R_ANKLE, J.R_BIG_TOE),
             J.R_ANKLE: (J.R_BIG_TOE,), J.L_HIP: (J.L_KNEE, J.L_ANKLE, J.L_BIG_TOE),
             J.L_KNEE: (J.L_ANKLE, J.L_BIG_TOE), J.L_ANKLE: (J.L_BIG_TOE,),
             J.R_SHOULDER: (J.R_ELBOW, J.R_WRIST), J.R_ELBOW: (J.R_WRIST,),
             J.L_SHOULDER: (J.L_ELBOW, J.L_WRIST), J.L_ELBOW: (J.L_WRIST,)}
GUARD_SUBTREES: tuple[tuple[int, ...], ...] = tuple(
    (c,) + tuple(_mj(k) for k in _CHILDREN.get(MODEL_JOINTS[c], ())) for _, c in GUARD_BONES)


def guard_lengths(pose: np.ndarray) -> np.ndarray:
    """(T, P, D) body-centred poses -> (T, len(GUARD_BONES)) bone lengths."""
    pose = np.asarray(pose, np.float64)
    out = []
    for p, c in GUARD_BONES:
        parent = (np.zeros_like(pose[:, 0]) if p == _ROOT else
                  0.5 * (pose[:, _mj(J.R_SHOULDER)] + pose[:, _mj(J.L_SHOULDER)]) if p == _NECK else pose[:, p])
        out.append(np.linalg.norm(pose[:, c] - parent, axis=-1))
    return np.stack(out, 1)


def bone_limits(clips: list[Clip], low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """(len(GUARD_BONES), 2) length range (percentiles `low`, `high`, body heights) of each
    guarded bone over the observed frames of `clips`."""
    lens = np.concatenate([guard_lengths(c.pose)[c.observed.all(1)] for c in clips])
    return np.stack([np.percentile(lens, low, 0), np.percentile(lens, high, 0)], 1)


def bone_medians(clips: list[Clip]) -> np.ndarray:
    """(len(GUARD_BONES),) median length (body heights) of each guarded bone over observed frames."""
    lens = np.concatenate([guard_lengths(c.pose)[c.observed.all(1)] for c in clips])
    return np.median(lens, 0)


# The guarded bones a generation may pull toward their median length: the limbs. The root-hip and
# root-shoulder links measure how far the dancer is turned (a front view), the toe and nose links
# are a few pixels; those are only kept in range.
PULL_BONES = tuple(b for b, (p, c) in enumerate(GUARD_BONES)
                   if p >= 0 and MODEL_JOINTS[c] not in (J.R_BIG_TOE, J.L_BIG_TOE))


def _guard_levels() -> list[list[int]]:
    """GUARD_BONES grouped by depth (bones of one level share no joints), so the guard can treat
    a level in one vectorised step."""
    depth: dict[int, int] = {_ROOT: 0, _NECK: 1}
    levels: list[list[int]] = []
    for b, (p, c) in enumerate(GUARD_BONES):
        d = depth[p] + 1 if p in depth else 1
        depth[c] = d
        while len(levels) < d:
            levels.append([])
        levels[d - 1].append(b)
    return levels


GUARD_LEVELS = _guard_levels()


def _level_tables():
    """Per level: parent indices into [joints, root, neck], child indices, bone indices, and a
    (P, n) 0/1 matrix saying which joints each bone's correction moves (torch, built once)."""
    import torch

    P = len(MODEL_JOINTS)
    out = []
    for level in GUARD_LEVELS:
        parents = [p if p >= 0 else (P if p == _ROOT else P + 1) for p, _ in (GUARD_BONES[b] for b in level)]
        children = [GUARD_BONES[b][1] for b in level]
        move = torch.zeros((P, len(level)))
        for i, b in enumerate(level):
            move[list(GUARD_SUBTREES[b]), i] = 1.0
        out.append((torch.tensor(parents), torch.tensor(children), torch.tensor(level), move))
    return out


_LEVEL_TABLES: list = []


def apply_guard(pose, limits, median=None, pull: float = 0.0):
    """Keep every guarded bone of body-centred poses (..., P, D) (numpy or torch) within its
    (lo, hi) range (`limits`: (bones, 2), e.g. from `bone_limits`) by moving the child and the
    joints below it along the bone; parents are fixed first, so the skeleton is corrected from
    the root outward. A pose whose bones are in range comes back unchanged (to float rounding).

    With `median` ((bones,), `bone_medians`) and `pull` > 0, each limb (PULL_BONES) also moves
    that share of the way from its length toward the median: applied every frame of a long
    generation, it undoes the slow drift of sampled deltas (independent per joint) that otherwise
    shrinks forearms over tens of seconds, while a brief foreshortening still shows."""
    import torch

    if not _LEVEL_TABLES:
        _LEVEL_TABLES.extend(_level_tables())
    t = torch.as_tensor(pose)
    lim = torch.as_tensor(limits, dtype=t.dtype)
    if median is not None and pull > 0:
        rate = torch.zeros(len(GUARD_BONES), 1, dtype=t.dtype)
        rate[list(PULL_BONES)] = float(pull)
        med = torch.as_tensor(np.asarray(median), dtype=t.dtype)[:, None]
    else:
        rate = med = None
    rs, ls = _mj(J.R_SHOULDER), _mj(J.L_SHOULDER)
    for parents, children, bones, move in _LEVEL_TABLES:
        # parents of this level's bones: real joints, the root (origin) or the neck
        ext = torch.cat([t, torch.zeros_like(t[..., :1, :]), 0.5 * (t[..., rs:rs + 1, :] + t[..., ls:ls + 1, :])], -2)
        v = t.index_select(-2, children) - ext.index_select(-2, parents)  # (..., n, D)
        n = torch.linalg.vector_norm(v, dim=-1, keepdim=True).clamp_min(1e-9)
        lo_hi = lim.index_select(0, bones)  # (n, 2)
        target = n
        if rate is not None:
            r = rate.index_select(0, bones)
            target = n + r * (med.index_select(0, bones) - n)
        target = torch.minimum(torch.maximum(target, lo_hi[:, :1]), lo_hi[:, 1:])
        shift = v * (target / n - 1.0)  # zero when in range
        t = t + torch.matmul(move.to(t.dtype), shift)  # (..., P, D)
    return t if isinstance(pose, torch.Tensor) else t.numpy()


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
