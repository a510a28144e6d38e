"""A 3D stick figure doing exercises, filmed from any side, with every answer known.

The body is built in its own frame (u: the person's left, v: forward, y: up; metres) from a
few joint parameters per frame, turned by `yaw` (0: facing the camera, 90: side-on, facing
image right) and projected orthographically into a 640x480 frame, with Gaussian pixel noise
like a detector's. Schedules (`schedule`) make the repetitions: holds, pauses, partial
depths, any tempo.
"""

from __future__ import annotations

import numpy as np

from dancenow.keypoints import NUM_JOINTS, Joint, PoseSequence

J = Joint
FPS = 30.0

SHANK, THIGH, TRUNK, UPPER, FORE = 0.42, 0.45, 0.55, 0.30, 0.27  # metres
HIP_W, SHOULDER_W, ANKLE_H = 0.26, 0.38, 0.08


def schedule(segments, fps: float = FPS) -> np.ndarray:
    """A 0..1 (or beyond) curve from segments (seconds, from, to): smooth (cosine) moves and
    holds (from == to)."""
    out = []
    for seconds, a, b in segments:
        n = max(1, int(round(seconds * fps)))
        u = (1 - np.cos(np.pi * (np.arange(n) + 1) / n)) / 2
        out.append(a + (b - a) * u)
    return np.concatenate(out)


def reps(depths, down: float = 1.0, up: float = 1.0, rest: float = 0.8, hold: float = 0.3) -> list:
    """Segments for repetitions to the given depths, each: down, hold, up, rest."""
    seg = [(rest, 0.0, 0.0)]
    for d in depths:
        seg += [(down, 0.0, d), (hold, d, d), (up, d, 0.0), (rest, 0.0, 0.0)]
    return seg


def body(T: int, squat=0.0, lean=0.0, knee_out=0.0, arm=10.0, arm_plane="side", elbow=5.0, spread=0.0,
         arm_left=None, hip_shift=0.0, stance=0.3) -> np.ndarray:
    """(T, 25, 3) joints in the body frame (u left, v forward, y up), metres.

    squat: 0 standing .. 1 thighs level (knee flexion ~120 deg, hips drop ~55%). lean: extra
    forward trunk lean at full squat, degrees. knee_out: knees move this far outward (negative:
    inward, caving in) at full squat, metres. arm: shoulder elevation (deg, 0 hanging, 180
    overhead) in the arm_plane "side" (abduction) or "front" (flexion); arm_left: the left
    arm's, if different. elbow: flexion (deg). spread: feet apart beyond the stance, metres.
    hip_shift: the left hip drops this far at full squat (metres: an uneven squat). stance:
    ankles apart standing, metres.
    Any parameter may be a (T,) array.
    """
    f = lambda v: np.broadcast_to(np.asarray(v, np.float64), (T,)).copy()  # noqa: E731
    s, lean, knee_out, arm, elbow, spread = map(f, (squat, lean, knee_out, arm, elbow, spread))
    arm_l = arm if arm_left is None else f(arm_left)
    hip_shift = f(hip_shift)
    P = np.zeros((T, 25, 3))  # (u, v, y)
    a = np.radians(35.0 * s)  # shank forward
    b = np.radians(85.0 * s)  # thigh back from vertical
    g = np.radians(8.0 * s + lean * s)  # trunk forward
    for side, (H, K, A, S, E, W) in ((+1, (J.L_HIP, J.L_KNEE, J.L_ANKLE, J.L_SHOULDER, J.L_ELBOW, J.L_WRIST)),
                                     (-1, (J.R_HIP, J.R_KNEE, J.R_ANKLE, J.R_SHOULDER, J.R_ELBOW, J.R_WRIST))):
        au = side * (stance + spread) / 2
        P[:, A] = np.stack([au, 0 * s, np.full(T, ANKLE_H)], -1)
        P[:, K] = P[:, A] + np.stack([side * knee_out * s, SHANK * np.sin(a), SHANK * np.cos(a)], -1)
        hu = side * HIP_W / 2
        drop = hip_shift * s if side > 0 else 0.0
        P[:, H] = np.stack([np.full(T, hu), P[:, K, 1] - THIGH * np.sin(b), P[:, K, 2] + THIGH * np.cos(b) - drop], -1)
    mid = 0.5 * (P[:, J.L_HIP] + P[:, J.R_HIP])
    P[:, J.MID_HIP] = mid
    P[:, J.NECK] = mid + np.stack([0 * s, TRUNK * np.sin(g), TRUNK * np.cos(g)], -1)
    up = np.stack([0 * s, np.sin(g), np.cos(g)], -1)
    fwd = np.stack([0 * s, np.cos(g), -np.sin(g)], -1)
    P[:, J.NOSE] = P[:, J.NECK] + 0.22 * up + 0.08 * fwd
    for side, (S, E, W, eye, ear) in ((+1, (J.L_SHOULDER, J.L_ELBOW, J.L_WRIST, J.L_EYE, J.L_EAR)),
                                      (-1, (J.R_SHOULDER, J.R_ELBOW, J.R_WRIST, J.R_EYE, J.R_EAR))):
        el = np.radians(arm_l if side > 0 else arm)
        P[:, S] = P[:, J.NECK] + np.array([side * SHOULDER_W / 2, 0, 0])
        down = -up
        out = np.broadcast_to(np.array([side, 0.0, 0.0]), (T, 3)) if arm_plane == "side" else fwd
        d = down * np.cos(el)[:, None] + out * np.sin(el)[:, None]
        P[:, E] = P[:, S] + UPPER * d
        e2 = el + np.radians(elbow)
        d2 = down * np.cos(e2)[:, None] + out * np.sin(e2)[:, None]
        P[:, W] = P[:, E] + FORE * d2
        P[:, eye] = P[:, J.NOSE] + np.array([side * 0.035, 0, 0]) + 0.03 * up
        P[:, ear] = P[:, J.NOSE] + np.array([side * 0.07, 0, 0]) - 0.06 * fwd
    for toe, small, heel, ank in ((J.L_BIG_TOE, J.L_SMALL_TOE, J.L_HEEL, J.L_ANKLE), (J.R_BIG_TOE, J.R_SMALL_TOE, J.R_HEEL, J.R_ANKLE)):
        P[:, toe] = P[:, ank] + [0, 0.15, -0.06]
        P[:, small] = P[:, ank] + [0.03, 0.13, -0.06]
        P[:, heel] = P[:, ank] + [0, -0.05, -0.06]
    return P


def film(P: np.ndarray, yaw: float = 0.0, noise_px: float = 1.0, seed: int = 0, fps: float = FPS,
         px: float = 200.0, missing=None) -> PoseSequence:
    """Project body-frame joints (T, 25, 3) seen by a camera: yaw 0 = the person faces it, 90 =
    side-on (facing image right). px: pixels per metre. missing: (T,) bool, frames without a pose."""
    psi = np.radians(yaw)
    left = np.array([np.cos(psi), -np.sin(psi)])  # (x, z) of the person's left
    fwd = np.array([np.sin(psi), np.cos(psi)])
    x = P[..., 0] * left[0] + P[..., 1] * fwd[0]
    img = np.stack([320 + px * x, 460 - px * P[..., 2]], -1)
    if noise_px:
        img = img + np.random.default_rng(seed).normal(0, noise_px, img.shape)
    kp = np.zeros((len(P), NUM_JOINTS, 3), np.float32)
    kp[:, :25, :2] = img
    kp[:, :25, 2] = 0.9
    if missing is not None:
        kp[np.asarray(missing, bool)] = 0
    return PoseSequence(kp, fps, 640, 480)


def squats(depths, yaw: float = 0.0, noise_px: float = 1.0, seed: int = 0, segments=None, **kw) -> PoseSequence:
    """Squats to the given depths (or along `segments`), arms forward like an air squat."""
    s = schedule(segments if segments is not None else reps(depths))
    return film(body(len(s), squat=s, arm=np.full(len(s), 100.0), arm_plane="front", **kw), yaw, noise_px, seed)


def jumping_jacks(n: int, period: float = 0.9, yaw: float = 0.0, noise_px: float = 1.0, seed: int = 0,
                  arm_top: float = 165.0, spread: float = 0.45) -> PoseSequence:
    """n jumping jacks of `period` seconds each: arms from 10 deg to `arm_top` sideways, feet apart."""
    o = schedule([(0.6, 0, 0)] + [(period * 0.45, 0, 1), (period * 0.1, 1, 1), (period * 0.45, 1, 0)] * n + [(0.6, 0, 0)])
    return film(body(len(o), arm=10 + (arm_top - 10) * o, arm_plane="side", spread=spread * o, stance=0.16),
                yaw, noise_px, seed)


def _knee_ik(hip: np.ndarray, ankle: np.ndarray, forward: float) -> np.ndarray:
    """Knee positions (T, 3) for hips and ankles (T, 3) in the body frame, the knee bending
    toward `forward` (+1: forward, -1: back) in the sagittal (v, y) plane."""
    d = hip - ankle
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    dist = np.minimum(dist, SHANK + THIGH - 1e-6)
    a = (SHANK ** 2 - THIGH ** 2 + dist ** 2) / (2 * dist)  # along the ankle-to-hip line
    h = np.sqrt(np.maximum(SHANK ** 2 - a ** 2, 0.0))
    u = d / np.linalg.norm(d, axis=-1, keepdims=True)
    perp = np.stack([np.zeros(len(u)), u[:, 2], -u[:, 1]], -1) * forward  # in the (v, y) plane
    return ankle + a * u + h * perp


def lunges(depths, yaw: float = 90.0, noise_px: float = 1.0, seed: int = 0, lean: float = 0.0,
           stride: float = 0.9) -> PoseSequence:
    """Stationary lunges (split squats), left foot forward: the hips drop straight down from
    the split stance toward the back knee almost touching the floor (depth 1)."""
    s = schedule(reps(depths))
    T = len(s)
    P = body(T)
    top = np.sqrt((SHANK + THIGH - 0.02) ** 2 - (stride / 2) ** 2) + ANKLE_H
    bottom = ANKLE_H + 0.40
    hip_y = top - (top - bottom) * s
    for side, (H, K, A) in ((+1, (J.L_HIP, J.L_KNEE, J.L_ANKLE)), (-1, (J.R_HIP, J.R_KNEE, J.R_ANKLE))):
        P[:, A] = np.stack([np.full(T, side * 0.12), np.full(T, side * stride / 2), np.full(T, ANKLE_H)], -1)
        P[:, H] = np.stack([np.full(T, side * HIP_W / 2), np.zeros(T), hip_y], -1)
        P[:, K] = _knee_ik(P[:, H], P[:, A], +1.0)
    mid = 0.5 * (P[:, J.L_HIP] + P[:, J.R_HIP])
    shift = mid - P[:, J.MID_HIP]
    g = np.radians(lean * s)
    upper = [J.NECK, J.NOSE, J.L_SHOULDER, J.R_SHOULDER, J.L_ELBOW, J.R_ELBOW, J.L_WRIST, J.R_WRIST,
             J.L_EYE, J.R_EYE, J.L_EAR, J.R_EAR]
    P[:, upper] += shift[:, None]
    # lean the upper body forward about the hips
    rel = P[:, upper] - mid[:, None]
    c, sn = np.cos(g)[:, None], np.sin(g)[:, None]
    v, y = rel[..., 1], rel[..., 2]
    rel[..., 1], rel[..., 2] = v * c + y * sn, -v * sn + y * c
    P[:, upper] = mid[:, None] + rel
    P[:, J.MID_HIP] = mid
    return film(P, yaw, noise_px, seed)


def pushups(depths, yaw: float = 90.0, noise_px: float = 1.0, seed: int = 0, sag: float = 0.0) -> PoseSequence:
    """Push-ups: hands under the shoulders, elbows bending from 10 deg to 100 deg at depth 1,
    the body a straight line from shoulders to ankles unless the hips `sag` (metres, + down)."""
    s = schedule(reps(depths))
    T = len(s)
    phi = np.radians(10 + 90 * s)  # elbow flexion
    P = np.zeros((T, 25, 3))
    for side, (S, E, W, H, K, A) in ((+1, (J.L_SHOULDER, J.L_ELBOW, J.L_WRIST, J.L_HIP, J.L_KNEE, J.L_ANKLE)),
                                     (-1, (J.R_SHOULDER, J.R_ELBOW, J.R_WRIST, J.R_HIP, J.R_KNEE, J.R_ANKLE))):
        u = side * SHOULDER_W / 2
        P[:, W] = np.stack([np.full(T, u), np.zeros(T), np.zeros(T)], -1)
        P[:, E] = P[:, W] + FORE * np.stack([np.zeros(T), -np.sin(phi / 2), np.cos(phi / 2)], -1)
        P[:, S] = P[:, E] + UPPER * np.stack([np.zeros(T), np.sin(phi / 2), np.cos(phi / 2)], -1)
        P[:, A] = np.stack([np.full(T, side * 0.1), np.full(T, -1.45), np.full(T, 0.06)], -1)
        P[:, H] = P[:, S] + 0.4 * (P[:, A] - P[:, S]) + np.array([side * HIP_W / 2 - u, 0, 0]) - np.array([0, 0, sag])
        P[:, K] = 0.5 * (P[:, H] + P[:, A])
    P[:, J.NECK] = 0.5 * (P[:, J.L_SHOULDER] + P[:, J.R_SHOULDER])
    P[:, J.MID_HIP] = 0.5 * (P[:, J.L_HIP] + P[:, J.R_HIP])
    P[:, J.NOSE] = P[:, J.NECK] + [0, 0.2, 0.03]
    for side, (eye, ear) in ((+1, (J.L_EYE, J.L_EAR)), (-1, (J.R_EYE, J.R_EAR))):
        P[:, eye] = P[:, J.NOSE] + [side * 0.035, -0.01, 0.03]
        P[:, ear] = P[:, J.NOSE] + [side * 0.07, -0.07, 0.0]
    return film(P, yaw, noise_px, seed)
