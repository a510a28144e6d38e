"""The body the choreography model moves: 15 joints hung on 14 bones from the mid-hip root.

The model never predicts joint positions. It predicts a direction per bone, and positions are
those directions times the dancer's bone lengths, summed from the root outward (forward
kinematics, `joints_from_bones`). So a generated body cannot break: in 3D every bone keeps its
length exactly, frame after frame, however long the dance; in a 2D front view a bone may look
shorter (it points toward the camera) but never longer than the dancer's (directions are
vectors in the unit disk there, the front view of a 3D unit vector).

Points: the 15 MODEL_JOINTS, the root (mid-hip, the origin of a body-centred pose) and the neck
(the shoulder midpoint; every motion-capture skeleton here puts its own "neck" joint at a
different height, so it is rebuilt). The pelvis and the shoulder line are one bone each, from
the root to the left hip and from the neck to the left shoulder: the right hip and shoulder
are their mirror images through the midpoint (that is what "midpoint" means).
"""

from __future__ import annotations

import numpy as np

from dancenow.keypoints import Joint as J

# The joints the model predicts, in this order.
MODEL_JOINTS: tuple[int, ...] = (
    J.NOSE, J.R_SHOULDER, J.R_ELBOW, J.R_WRIST, J.L_SHOULDER, J.L_ELBOW, J.L_WRIST,
    J.R_HIP, J.R_KNEE, J.R_ANKLE, J.L_HIP, J.L_KNEE, J.L_ANKLE, J.L_BIG_TOE, J.R_BIG_TOE,
)
NUM_POINTS = len(MODEL_JOINTS)
# Left/right swap within MODEL_JOINTS (mirroring).
MODEL_FLIP: tuple[int, ...] = (0, 4, 5, 6, 1, 2, 3, 10, 11, 12, 7, 8, 9, 14, 13)


def _mj(j: int) -> int:
    return MODEL_JOINTS.index(j)


ROOT, NECK = "root", "neck"
# (name, parent point, child point): points are BODY_25 joints or ROOT / NECK.
BONE_TABLE: tuple[tuple[str, object, object], ...] = (
    ("pelvis", ROOT, J.L_HIP), ("spine", ROOT, NECK), ("shoulders", NECK, J.L_SHOULDER), ("head", NECK, J.NOSE),
    ("r_upper_arm", J.R_SHOULDER, J.R_ELBOW), ("r_forearm", J.R_ELBOW, J.R_WRIST),
    ("l_upper_arm", J.L_SHOULDER, J.L_ELBOW), ("l_forearm", J.L_ELBOW, J.L_WRIST),
    ("r_thigh", J.R_HIP, J.R_KNEE), ("r_shin", J.R_KNEE, J.R_ANKLE), ("r_foot", J.R_ANKLE, J.R_BIG_TOE),
    ("l_thigh", J.L_HIP, J.L_KNEE), ("l_shin", J.L_KNEE, J.L_ANKLE), ("l_foot", J.L_ANKLE, J.L_BIG_TOE),
)
BONE_NAMES = tuple(b[0] for b in BONE_TABLE)
NUM_BONES = len(BONE_TABLE)
# The torso: what training's drift recovery turns and what generation's torso spread scales.
TORSO_BONES = tuple(BONE_NAMES.index(n) for n in ("pelvis", "spine", "shoulders", "head"))
# Mirroring in bone space: bone i of the mirrored body is sign * (bone BONE_FLIP[i], x negated).
# The pelvis and shoulder bones point to the left side: mirrored, the left side is the old
# right one, whose bone is minus the old one.
BONE_FLIP: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 4, 5, 11, 12, 13, 8, 9, 10)
BONE_FLIP_SIGN: tuple[float, ...] = (-1.0, 1.0, -1.0, 1.0) + (1.0,) * 10


def _bone_paths() -> np.ndarray:
    """(NUM_POINTS, NUM_BONES) signs: joint position = sum over bones of sign * bone vector."""
    def path(point) -> np.ndarray:
        v = np.zeros(NUM_BONES)
        if point == ROOT:
            return v
        if point == J.R_HIP:  # mirror of the left hip through the root
            v[0] = -1.0
            return v
        if point == J.R_SHOULDER:  # mirror of the left shoulder through the neck
            v = path(NECK)
            v[2] -= 1.0
            return v
        for b, (_, parent, child) in enumerate(BONE_TABLE):
            if child == point:
                v = path(parent)
                v[b] += 1.0
                return v
        raise KeyError(point)  # pragma: no cover

    return np.stack([path(j) for j in MODEL_JOINTS])


BONE_PATHS = _bone_paths()


def _extended(pose: np.ndarray) -> dict:
    """Point -> (..., D) positions of body-centred MODEL_JOINTS (..., P, D), root and neck added."""
    pts = {j: pose[..., _mj(j), :] for j in MODEL_JOINTS}
    pts[ROOT] = np.zeros_like(pose[..., 0, :])
    pts[NECK] = 0.5 * (pts[J.R_SHOULDER] + pts[J.L_SHOULDER])
    return pts


def bone_vectors(pose: np.ndarray) -> np.ndarray:
    """Body-centred joints (..., P, D) -> bone vectors (..., NUM_BONES, D) (child - parent)."""
    pts = _extended(np.asarray(pose))
    return np.stack([pts[c] - pts[p] for _, p, c in BONE_TABLE], -2)


def posture_angles(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(twist, tilt) per frame of 3D body-centred poses (T, P, 3), degrees: the angle between
    the hip line and the shoulder line, and the spine's angle from the vertical."""
    v = bone_vectors(np.asarray(pose, np.float64))
    unit = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
    twist = np.degrees(np.arccos(np.clip((unit[..., 0, :] * unit[..., 2, :]).sum(-1), -1, 1)))
    tilt = np.degrees(np.arccos(np.clip(-unit[..., 1, 1], -1, 1)))  # y points down: upright spine is -y
    return twist, tilt


def joints_from_bones(vectors):
    """Bone vectors (..., NUM_BONES, D) -> body-centred joints (..., P, D), numpy or torch.
    Exact inverse of `bone_vectors` for poses whose root is the hip midpoint and whose neck is
    the shoulder midpoint (every body-centred pose here)."""
    if isinstance(vectors, np.ndarray):
        return np.einsum("pb,...bd->...pd", BONE_PATHS.astype(vectors.dtype), vectors)
    import torch

    paths = torch.as_tensor(BONE_PATHS, dtype=vectors.dtype, device=vectors.device)
    return torch.einsum("pb,...bd->...pd", paths, vectors)


def bone_lengths(pose: np.ndarray) -> np.ndarray:
    """(..., P, D) body-centred joints -> (..., NUM_BONES) bone lengths."""
    return np.linalg.norm(bone_vectors(pose), axis=-1)


def dancer_lengths(pose: np.ndarray, observed: np.ndarray | None = None) -> np.ndarray:
    """(NUM_BONES,) a dancer's bone lengths from a stretch (T, P, D) of their poses: in 3D the
    median over frames (motion capture bones are rigid, markers nearly so); in 2D the 98th
    percentile (a front view shows a bone at full length only when it is side-on to the
    camera, and shorter otherwise). Frames where a bone's joints were not observed are skipped."""
    lens = bone_lengths(np.asarray(pose, np.float64))  # (T, B)
    if observed is not None:
        ok = bone_observed(observed)
        lens = np.where(ok, lens, np.nan)
    q = 50.0 if pose.shape[-1] == 3 else 98.0
    out = np.full(NUM_BONES, np.nan)
    seen = np.isfinite(lens).any(0)
    if seen.any():
        out[seen] = np.nanpercentile(lens[:, seen], q, axis=0)
    return out


def bone_observed(observed: np.ndarray) -> np.ndarray:
    """(..., P) joint masks -> (..., NUM_BONES) bone masks (both ends observed; the root and
    neck count as observed when both of their hips / shoulders are)."""
    obs = np.asarray(observed, bool)
    pts = {j: obs[..., _mj(j)] for j in MODEL_JOINTS}
    pts[ROOT] = pts[J.R_HIP] & pts[J.L_HIP]
    pts[NECK] = pts[J.R_SHOULDER] & pts[J.L_SHOULDER]
    return np.stack([pts[p] & pts[c] for _, p, c in BONE_TABLE], -1)


def directions(vectors: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Bone vectors (..., B, D) -> model directions: unit vectors in 3D; in 2D the vector over
    the dancer's length, limited to the unit disk."""
    u = vectors / np.maximum(np.asarray(lengths)[..., None], 1e-6)
    return project(u)


def project(u):
    """Bring directions (..., B, D) back onto their set: the unit sphere (D = 3) or the unit
    disk (D = 2). numpy or torch."""
    if isinstance(u, np.ndarray):
        n = np.linalg.norm(u, axis=-1, keepdims=True)
        return u / np.maximum(n, 1e-9) if u.shape[-1] == 3 else u / np.maximum(n, 1.0)
    import torch

    n = torch.linalg.vector_norm(u, dim=-1, keepdim=True)
    return u / n.clamp_min(1e-9) if u.shape[-1] == 3 else u / n.clamp_min(1.0)


def mirror_bones(u, root_step, observed):
    """Mirror directions (..., B, D), root steps (..., D) and masks (..., B + 1) left/right
    (x negated, sides swapped); numpy arrays or torch tensors (returned as given). Mirroring
    twice gives back the input."""
    flip = list(BONE_FLIP)
    x = np.ones(u.shape[-1])
    x[0] = -1.0
    sign = np.array(BONE_FLIP_SIGN)[:, None] * x  # (B, D)
    if isinstance(u, np.ndarray):
        sign, x, cat = sign.astype(u.dtype), x.astype(root_step.dtype), np.concatenate
    else:
        import torch

        sign, x, cat = (torch.as_tensor(sign, dtype=u.dtype, device=u.device),
                        torch.as_tensor(x, dtype=u.dtype, device=u.device), torch.cat)
    return u[..., flip, :] * sign, root_step * x, cat([observed[..., flip], observed[..., -1:]], -1)


def yaw_rotation(angle: float) -> np.ndarray:
    """(3, 3) rotation about the vertical (y, camera axes) by `angle` radians."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], np.float32)


def heading_angle(u):
    """(...,) which way each 3D body (directions (..., Bn, 3)) faces, as the angle about the
    vertical of its pelvis + shoulder line seen from above (atan2(z, x)). numpy or torch."""
    across = u[..., 0, :] + u[..., 2, :]  # pelvis and shoulders both point to the body's left
    if isinstance(u, np.ndarray):
        return np.arctan2(across[..., 2], across[..., 0])
    import torch

    return torch.atan2(across[..., 2], across[..., 0])


def heading_frames(u):
    """Rotations (..., 3, 3) about the vertical that turn each 3D body (directions (..., Bn, 3))
    to face the camera: its pelvis + shoulder line along +x (`R @ v` expresses a vector v in the
    body's heading frame). numpy or torch. The model reads and predicts every frame in the
    heading frame of the frame it predicts from, so which way a dancer faces is not something it
    has to learn, and a twist between hips and shoulders is something it sees."""
    ang = heading_angle(u)
    if isinstance(u, np.ndarray):
        c, s, o, z = np.cos(ang), np.sin(ang), np.ones_like(ang), np.zeros_like(ang)
        return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)
    import torch

    c, s, o, z = torch.cos(ang), torch.sin(ang), torch.ones_like(ang), torch.zeros_like(ang)
    return torch.stack([torch.stack([c, z, s], -1), torch.stack([z, o, z], -1), torch.stack([-s, z, c], -1)], -2)


def facing_yaw(pose: np.ndarray) -> float:
    """The angle about the vertical that turns a 3D stretch of body-centred poses (T, P, 3) to
    face the camera (+z) on average: the mean pelvis and shoulder lines point to image +x then.
    Used to compare motions whatever way the dancer faces."""
    v = bone_vectors(pose)
    across = np.nanmean(v[:, 0] + v[:, 2], 0)  # root -> left hip + neck -> left shoulder
    return float(np.arctan2(across[2], across[0]))
