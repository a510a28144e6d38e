"""The 3D kinematic skeleton: body proportions, joint angles, forward kinematics, and the
137 keypoints of our layout (BODY_25 + 70 face + 2 x 21 hand points) as rigid points of it.

Coordinates: world metres, x to the camera's right, y up, z towards the camera (see camera.py).
A body's local frames at rest: x = the dancer's left, y = up, z = the dancer's forward; in the
rest pose the dancer stands upright facing +z with arms hanging and palms towards the thighs.

Every keypoint is a fixed point of one rigid segment (or of a finger phalanx), so all bone
lengths are constant over a clip by construction; only joint angles move. Angles are radians.

Joint angles ("DOFs"), shared by all bodies (see `DOFS`):
  root:   x, z (stage position, in body heights), yaw (turn to the dancer's left), lift (jump
          height, body heights), pelvis_tilt (forward), pelvis_roll (the dancer's left hip up)
  spine:  spine_bend (forward), spine_side (towards the dancer's left), spine_twist (to the left)
  head:   head_nod (down), head_turn (to the left), head_tilt (left ear down)
  per side s in l/r: s_shoulder_flex (arm forward/up), s_shoulder_abd (arm out sideways/up),
          s_shoulder_twist (outward), s_elbow (bend), s_wrist (flex), s_fingers (curl, 0 open),
          s_hip_flex (thigh forward), s_hip_abd (leg out), s_hip_twist (outward), s_knee (bend),
          s_ankle (toes down, relative to a foot flat on the floor)
Left/right DOFs mean the same motion on either side, so mirroring a move swaps them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dancenow.keypoints import FACE, LEFT_HAND, NUM_JOINTS, RIGHT_HAND, Joint

_ROOT = ("x", "z", "yaw", "lift", "pelvis_tilt", "pelvis_roll")
_TRUNK = ("spine_bend", "spine_side", "spine_twist", "head_nod", "head_turn", "head_tilt")
_SIDE = ("shoulder_flex", "shoulder_abd", "shoulder_twist", "elbow", "wrist", "fingers",
         "hip_flex", "hip_abd", "hip_twist", "knee", "ankle")
DOFS: tuple[str, ...] = _ROOT + _TRUNK + tuple(f"{s}_{n}" for s in "lr" for n in _SIDE)
DOF: dict[str, int] = {n: i for i, n in enumerate(DOFS)}
# DOFs whose sign flips under a left-right mirror (the rest swap l_ <-> r_ or stay).
MIRROR_NEGATE = ("x", "yaw", "pelvis_roll", "spine_side", "spine_twist", "head_turn", "head_tilt")
MIRROR_INDEX = np.array([DOF[("r_" + n[2:]) if n.startswith("l_") else ("l_" + n[2:]) if n.startswith("r_") else n]
                         for n in DOFS])
MIRROR_SIGN = np.array([-1.0 if n in MIRROR_NEGATE else 1.0 for n in DOFS])

# Internal skeleton joints (rotation centres), parents first.
JOINTS: tuple[str, ...] = ("pelvis", "spine", "neck", "head",
                           "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
                           "l_hip", "l_knee", "l_ankle", "r_hip", "r_knee", "r_ankle")
J: dict[str, int] = {n: i for i, n in enumerate(JOINTS)}
PARENT = np.array([-1, 0, 1, 2, 2, 4, 5, 2, 7, 8, 0, 10, 11, 0, 13, 14])


@dataclass(frozen=True)
class Proportions:
    """A body's build. Lengths scale with `height` (m, standing, floor to top of head) through
    anthropometric ratios (Drillis & Contini) times these factors (1.0 = average adult).

    legs, arms: segment length factors (the trunk takes up what the legs and head leave);
    shoulders, hips: breadth factors;
    head: head size factor; build: limb and torso thickness factor (0.8 slim, 1.25 heavy);
    chest, waist: torso cross-section factors (relative to `build`).
    """

    height: float = 1.72
    legs: float = 1.0
    arms: float = 1.0
    shoulders: float = 1.0
    hips: float = 1.0
    head: float = 1.0
    build: float = 1.0
    chest: float = 1.0
    waist: float = 1.0


@dataclass(frozen=True)
class Body:
    """Derived geometry of one body (metres). `offsets[j]`: joint j in its parent's frame at
    rest. Radii are limb cross-section radii (m); `torso_levels` are (frame joint, height in
    that frame, half breadth, half depth) rows describing the torso's elliptical sections."""

    props: Proportions
    offsets: np.ndarray        # (16, 3)
    head_center: np.ndarray    # (3,) in the head frame
    head_radii: np.ndarray     # (3,) ellipsoid semi-axes x, y, z
    face: np.ndarray           # (70, 3) in the head frame
    ears: np.ndarray           # (2, 3) right, left, in the head frame
    foot: np.ndarray           # (3, 3) big toe, small toe, heel of the LEFT foot, ankle frame
    hand: np.ndarray           # (21, 3) LEFT hand at rest (open), wrist frame
    limb_radii: dict           # name -> (r_start, r_end)
    torso_levels: tuple        # ((joint, y, a, b), ...)

    @property
    def stature(self) -> float:
        return self.props.height


def _face_template() -> np.ndarray:
    """70 face points (OpenPose/dlib order) on a unit head: x = the person's left, y up,
    z forward, in units of the head's horizontal radius, origin at the head centre."""
    p = np.zeros((70, 3))
    th = np.linspace(0.0, np.pi, 17)
    p[0:17, 0] = -0.93 * np.cos(th)                     # jaw: person's right ear -> chin -> left
    p[0:17, 1] = 0.02 - 1.02 * np.sin(th) ** 1.2
    xb = np.linspace(-0.78, -0.16, 5)
    p[17:22, 0], p[17:22, 1] = xb, 0.38 + 0.08 * np.sin(np.linspace(0.2, 2.9, 5))
    p[22:27, 0], p[22:27, 1] = -xb[::-1], p[17:22, 1][::-1]
    p[27:31, 0], p[27:31, 1] = 0.0, np.linspace(0.2, -0.38, 4)   # nose bridge to tip
    p[31:36, 0], p[31:36, 1] = np.linspace(-0.2, 0.2, 5), [-0.44, -0.47, -0.49, -0.47, -0.44]
    # eyes, in image order (person's right eye first): dlib starts the right eye at its outer
    # corner and the left eye at its inner corner, then runs over the upper lid
    ex = np.array([-0.16, -0.06, 0.06, 0.16, 0.06, -0.06])
    ey = np.array([0.0, 0.06, 0.06, 0.0, -0.05, -0.05])
    for i0, cx in ((36, -0.38), (42, 0.38)):
        p[i0:i0 + 6, 0], p[i0:i0 + 6, 1] = cx + ex, 0.12 + ey
    ang = np.linspace(np.pi, -np.pi, 13)[:12]           # outer lip: right corner, over the top
    p[48:60, 0] = 0.33 * np.cos(ang)
    p[48:60, 1] = -0.70 + np.where(np.sin(ang) > 0, 0.11, 0.12) * np.sin(ang)
    ang = np.linspace(np.pi, -np.pi, 9)[:8]
    p[60:68, 0] = 0.25 * np.cos(ang)
    p[60:68, 1] = -0.70 + 0.035 * np.sin(ang)
    p[68] = p[36:42].mean(0)
    p[69] = p[42:48].mean(0)
    # depth: on the face's front surface, the nose and lips standing out
    r2 = p[:, 0] ** 2 + 0.35 * np.maximum(p[:, 1], -0.2) ** 2
    p[:, 2] = 0.92 * np.sqrt(np.clip(1.0 - 0.8 * r2, 0.08, None))
    p[27:31, 2] += np.linspace(0.04, 0.3, 4)
    p[31:36, 2] += [0.1, 0.14, 0.16, 0.14, 0.1]
    p[48:68, 2] += 0.06
    p[68:70, 2] += 0.02
    return p


def _hand_template(scale: float) -> np.ndarray:
    """21 points of an open LEFT hand hanging down (palm towards -x, thumb forward +z) in the
    wrist frame, metres (wrist, then thumb CMC..tip, then index..pinky MCP..tip)."""
    pts = np.zeros((21, 3))
    bases_z = np.array([0.019, 0.006, -0.007, -0.019]) * scale   # MCPs across the palm
    lengths = np.array([0.95, 1.0, 0.94, 0.76]) * 0.056 * scale  # index .. pinky
    for f in range(4):
        i0 = 5 + 4 * f
        base = np.array([0.0, -0.052 * scale, bases_z[f]])
        segs = np.array([0.0, 0.46, 0.30, 0.24]) * lengths[f]
        pts[i0:i0 + 4] = base - np.outer(np.cumsum(segs), [0.0, 1.0, 0.0])
    pts[1:5] = np.array([[-0.008, -0.012, 0.014], [-0.013, -0.027, 0.030],
                         [-0.016, -0.041, 0.040], [-0.018, -0.054, 0.047]]) * scale
    return pts


def build_body(props: Proportions) -> Body:
    """Segment lengths, offsets and radii of a body with these proportions."""
    H = props.height
    legs = props.legs
    ankle_h = 0.039 * H
    shin = 0.246 * H * legs
    thigh = 0.245 * H * legs
    # the trunk absorbs the difference so the standing height stays `height`
    leg_total = ankle_h + shin + thigh
    neck_to_top = 0.182 * H * props.head ** 0.5
    trunk = max(0.15 * H, H - leg_total - neck_to_top)
    lumbar, thoracic = 0.35 * trunk, 0.65 * trunk
    neck_len = 0.045 * H
    sw = 0.105 * H * props.shoulders
    hw = 0.053 * H * props.hips
    upper, fore = 0.186 * H * props.arms, 0.146 * H * props.arms
    offsets = np.zeros((16, 3))
    offsets[J["spine"]] = (0, lumbar, 0)
    offsets[J["neck"]] = (0, thoracic, 0)
    offsets[J["head"]] = (0, neck_len, 0)
    offsets[J["l_shoulder"]] = (sw, 0, 0)
    offsets[J["r_shoulder"]] = (-sw, 0, 0)
    for s in "lr":
        offsets[J[f"{s}_elbow"]] = (0, -upper, 0)
        offsets[J[f"{s}_wrist"]] = (0, -fore, 0)
        offsets[J[f"{s}_knee"]] = (0, -thigh, 0)
        offsets[J[f"{s}_ankle"]] = (0, -shin, 0)
    offsets[J["l_hip"]] = (hw, 0, 0)
    offsets[J["r_hip"]] = (-hw, 0, 0)
    R = 0.047 * H * props.head  # horizontal head radius
    head_radii = np.array([R, 1.36 * R, 1.15 * R])
    # the head centre sits so that the top of the skull is at `height` at rest
    head_center = np.array([0.0, neck_to_top - neck_len - head_radii[1], 0.1 * R])
    face = _face_template() * np.array([R, R * 1.2, R * 1.15]) + head_center
    ears = np.array([[-0.97 * R, 0.02 * R, -0.1 * R], [0.97 * R, 0.02 * R, -0.1 * R]]) + head_center
    foot = np.array([[-0.02, 0.0, 0.165], [0.035, 0.0, 0.135], [0.0, 0.0, -0.05]]) * (H / 1.72)
    foot[:, 1] = -ankle_h
    hand = _hand_template(H / 1.72 * props.arms)
    b = props.build * H / 1.72
    limb_radii = {
        "upper_arm": (0.045 * b, 0.035 * b), "forearm": (0.034 * b, 0.024 * b),
        "thigh": (0.078 * b, 0.052 * b), "shin": (0.05 * b, 0.032 * b), "neck": (0.056 * b, 0.05 * b),
    }
    bc, bw, bh = props.build * props.chest, props.build * props.waist, props.build
    s = H / 1.72
    torso_levels = (
        # (frame joint, y in that frame (m), half breadth (m), half depth (m))
        (J["pelvis"], -0.06 * s, (hw / s + 0.085 * bh) * s * props.hips ** 0.3, 0.10 * bh * s),
        (J["pelvis"], 0.03 * s, (hw / s + 0.080 * bh) * s, 0.10 * bh * s),
        (J["spine"], 0.0, 0.125 * bw * s * props.hips ** 0.3, 0.095 * bw * s),
        (J["spine"], 0.55 * thoracic, 0.148 * bc * s * props.shoulders ** 0.5, 0.11 * bc * s),
        (J["spine"], 0.86 * thoracic, sw + 0.035 * bh * s, 0.10 * bc * s),
        (J["neck"], 0.04 * s, 0.48 * sw, 0.065 * bh * s),  # the trapezius slope up to the neck
    )
    return Body(props, offsets, head_center, head_radii, face, ears, foot, hand, limb_radii, torso_levels)


# ----------------------------------------------------------------------------- rotations

def rot_x(a: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations about x by angles a (T,) (y turns towards z)."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations about y (z turns towards x)."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(a: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations about z (x turns towards y)."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _local_rotations(d: np.ndarray) -> np.ndarray:
    """(T, 16, 3, 3) local joint rotations from DOFs (T, D)."""
    g = lambda n: d[:, DOF[n]]  # noqa: E731
    T = d.shape[0]
    L = np.broadcast_to(np.eye(3), (T, 16, 3, 3)).copy()
    L[:, J["pelvis"]] = rot_y(g("yaw")) @ rot_x(g("pelvis_tilt")) @ rot_z(g("pelvis_roll"))
    # the spine bends over two joints, half each, like a curve rather than a hinge
    half = rot_x(0.5 * g("spine_bend")) @ rot_z(-0.5 * g("spine_side")) @ rot_y(0.5 * g("spine_twist"))
    L[:, J["spine"]] = half
    L[:, J["neck"]] = half
    L[:, J["head"]] = rot_x(g("head_nod")) @ rot_y(g("head_turn")) @ rot_z(-g("head_tilt"))
    for s, sgn in (("l", 1.0), ("r", -1.0)):
        # arm: flex about the lateral axis after abducting in the frontal plane (so a forward
        # raised arm can still cross the midline for a clap), twist about its own length
        L[:, J[f"{s}_shoulder"]] = (rot_x(-g(f"{s}_shoulder_flex")) @ rot_z(sgn * g(f"{s}_shoulder_abd"))
                                    @ rot_y(sgn * g(f"{s}_shoulder_twist")))
        L[:, J[f"{s}_elbow"]] = rot_x(-g(f"{s}_elbow"))
        L[:, J[f"{s}_wrist"]] = rot_x(-g(f"{s}_wrist"))
        L[:, J[f"{s}_hip"]] = (rot_x(-g(f"{s}_hip_flex")) @ rot_z(sgn * g(f"{s}_hip_abd"))
                               @ rot_y(sgn * g(f"{s}_hip_twist")))
        L[:, J[f"{s}_knee"]] = rot_x(g(f"{s}_knee"))
        # the ankle keeps the foot flat on the floor (cancelling the leg's pitch) plus `ankle`
        pitch = g("pelvis_tilt") - g(f"{s}_hip_flex") + g(f"{s}_knee")
        L[:, J[f"{s}_ankle"]] = rot_x(g(f"{s}_ankle") - pitch)
    return L


@dataclass(frozen=True)
class Kinematics:
    """Forward kinematics of one body over a clip. positions: (T, 16, 3) world metres of the
    internal joints (`JOINTS`); rotations: (T, 16, 3, 3) their world frames (columns = the
    joint's x, y, z axes); keypoints: (T, 137, 3) world metres in our layout."""

    positions: np.ndarray
    rotations: np.ndarray
    keypoints: np.ndarray


def _curl_hand(hand: np.ndarray, curl: np.ndarray, mirror: bool) -> np.ndarray:
    """(T, 21, 3) hand points in the wrist frame with fingers curled by `curl` (T,) radians per
    finger joint, towards the palm (the thumb less, across it). Each phalanx keeps its length:
    only rigid rotations of the rest segments. `mirror` gives the right hand."""
    T = curl.shape[0]
    out = np.broadcast_to(hand, (T, 21, 3)).copy()
    palm_n = np.array([-1.0, 0.0, 0.0])  # the left palm faces -x (the thigh)
    for f in range(5):
        i0 = 1 + 4 * f
        d0 = hand[i0 + 1] - hand[i0]
        d0 = d0 / np.linalg.norm(d0)
        n0 = palm_n - d0 * (palm_n @ d0)
        n0 /= np.linalg.norm(n0)
        lens = np.linalg.norm(np.diff(hand[i0:i0 + 4], axis=0), axis=-1)
        c = (0.45 if f == 0 else 1.0) * curl
        pos = np.broadcast_to(hand[i0], (T, 3)).copy()
        for k in range(3):
            ang = c * (k + 1)
            pos = pos + (np.cos(ang)[:, None] * d0 + np.sin(ang)[:, None] * n0) * lens[k]
            out[:, i0 + 1 + k] = pos
    if mirror:
        out[..., 0] *= -1.0
    return out


def forward_kinematics(body: Body, dofs: np.ndarray) -> Kinematics:
    """World positions of every joint and keypoint for DOFs (T, D). The root is placed so the
    lowest foot point touches the floor (plus `lift`); x, z, lift are in body heights."""
    d = np.asarray(dofs, dtype=np.float64)
    T = d.shape[0]
    L = _local_rotations(d)
    Rg = np.empty_like(L)
    P = np.zeros((T, 16, 3))
    for j in range(16):
        p = PARENT[j]
        if p < 0:
            Rg[:, j] = L[:, j]
            continue
        Rg[:, j] = Rg[:, p] @ L[:, j]
        P[:, j] = P[:, p] + Rg[:, p] @ body.offsets[j]
    kp = np.zeros((T, NUM_JOINTS, 3))

    def at(joint: str, local: np.ndarray) -> np.ndarray:  # (n,3) or (T,n,3) local -> world
        j = J[joint]
        if local.ndim == 2:
            return P[:, j, None] + np.einsum("tij,nj->tni", Rg[:, j], local)
        return P[:, j, None] + np.einsum("tij,tnj->tni", Rg[:, j], local)

    # body (BODY_25): MidHip = pelvis (midpoint of the hips), Neck = midpoint of the shoulders
    for name, jn in (("NECK", "neck"), ("R_SHOULDER", "r_shoulder"), ("R_ELBOW", "r_elbow"),
                     ("R_WRIST", "r_wrist"), ("L_SHOULDER", "l_shoulder"), ("L_ELBOW", "l_elbow"),
                     ("L_WRIST", "l_wrist"), ("MID_HIP", "pelvis"), ("R_HIP", "r_hip"),
                     ("R_KNEE", "r_knee"), ("R_ANKLE", "r_ankle"), ("L_HIP", "l_hip"),
                     ("L_KNEE", "l_knee"), ("L_ANKLE", "l_ankle")):
        kp[:, Joint[name]] = P[:, J[jn]]
    face = at("head", body.face)
    kp[:, FACE] = face
    kp[:, Joint.NOSE] = face[:, 30]
    kp[:, Joint.R_EYE] = face[:, 68]
    kp[:, Joint.L_EYE] = face[:, 69]
    ears = at("head", body.ears)
    kp[:, Joint.R_EAR], kp[:, Joint.L_EAR] = ears[:, 0], ears[:, 1]
    lf = at("l_ankle", body.foot)
    rf = at("r_ankle", body.foot * np.array([-1.0, 1.0, 1.0]))
    kp[:, Joint.L_BIG_TOE], kp[:, Joint.L_SMALL_TOE], kp[:, Joint.L_HEEL] = lf[:, 0], lf[:, 1], lf[:, 2]
    kp[:, Joint.R_BIG_TOE], kp[:, Joint.R_SMALL_TOE], kp[:, Joint.R_HEEL] = rf[:, 0], rf[:, 1], rf[:, 2]
    kp[:, LEFT_HAND] = at("l_wrist", _curl_hand(body.hand, d[:, DOF["l_fingers"]], mirror=False))
    kp[:, RIGHT_HAND] = at("r_wrist", _curl_hand(body.hand, d[:, DOF["r_fingers"]], mirror=True))
    # root translation: stand on the floor, then the dance's stage position and jump
    H = body.stature
    feet = np.concatenate([lf, rf], axis=1)[..., 1]
    shift = np.stack([d[:, DOF["x"]] * H, -feet.min(axis=1) + d[:, DOF["lift"]] * H, d[:, DOF["z"]] * H], -1)
    P += shift[:, None]
    kp += shift[:, None]
    return Kinematics(P, Rg, kp)
