"""The renderer: draws a shaded person from a `Performance` with OpenCV polygons on numpy.

Everything that depends only on geometry is projected once for the whole clip (vectorised);
the per-frame loop only fills polygons, back to front (painter's algorithm on camera depth).
A body is: tapered capsules for limbs (dark outline, lit core and highlight on the side
towards an upper-left light), a torso whose outline comes from projecting elliptical cross
sections, a head ellipsoid with hair, eyes, brows, nose and mouth at the face keypoints, hands
(palm and fingers from the hand keypoints), shoes, clothes whose pattern is laid out in the
torso's own coordinates (so it moves with the body), a floor in perspective, a wall, and a
soft shadow. Polygons are antialiased with 4 bits of subpixel precision.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Callable, Iterator

import cv2
import numpy as np

from dancenow.keypoints import FACE, LEFT_HAND, RIGHT_HAND, Joint
from dancenow.world.actor import Actor
from dancenow.world.camera import project
from dancenow.world.skeleton import J

if TYPE_CHECKING:
    from dancenow.world import Performance

SHIFT = 4
ONE = 1 << SHIFT
AA = cv2.LINE_AA
LIGHT = np.array([-0.55, -0.83])  # image direction the light comes from (upper left)
WALL_Z = -2.6                     # the wall behind the stage (m)
_ARC = np.linspace(-np.pi / 2, np.pi / 2, 7)


def _shade(c, k: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, v * k))) for v in c)


def _lit(c) -> tuple[int, int, int]:
    return tuple(int(min(255, v * 1.12 + 18)) for v in c)


def _mix(a, b, t: float) -> tuple[int, int, int]:
    return tuple(int(round((1 - t) * x + t * y)) for x, y in zip(a, b))


def _fix(pts: np.ndarray) -> np.ndarray:
    """Float pixels -> int32 fixed point for cv2's `shift` argument."""
    return np.round(pts * ONE).astype(np.int32)


def _capsule(p: np.ndarray, q: np.ndarray, rp: float, rq: float) -> np.ndarray | None:
    """Outline (n, 2) of a tapered capsule from p (radius rp) to q (radius rq), in pixels."""
    d = q - p
    n = float(np.hypot(d[0], d[1]))
    if n < 1e-3:
        return None
    u = d / n
    v = np.array([-u[1], u[0]])
    cs, sn = np.cos(_ARC)[:, None], np.sin(_ARC)[:, None]
    end_q = q + rq * (cs * u + sn * v)           # half circle around q
    end_p = p + rp * (-cs * u - sn * v)          # half circle around p
    return np.concatenate([end_q, end_p])


def _jacobian(Xc: np.ndarray, R: np.ndarray, f: float) -> np.ndarray:
    """(T, N, 2, 3) derivative of pixel position w.r.t. world position, at camera-space points
    Xc (T, N, 3): the local affine camera used to project ellipses and widths."""
    x, y, z = Xc[..., 0], Xc[..., 1], np.maximum(Xc[..., 2], 1e-6)
    row0 = np.stack([1 / z, np.zeros_like(z), -x / z**2], -1) * f
    row1 = np.stack([np.zeros_like(z), 1 / z, -y / z**2], -1) * f
    Jc = np.stack([row0, row1], -2)  # (T, N, 2, 3) w.r.t. camera coordinates
    return np.einsum("tnij,tjk->tnik", Jc, R)


def _ellipse(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Semi-axes (T, 2) and angle (T,) degrees of the ellipses with 2x2 'covariance' M (T, 2, 2)."""
    a, b, d = M[:, 0, 0], M[:, 0, 1], M[:, 1, 1]
    mid, disc = 0.5 * (a + d), np.sqrt(np.maximum(0.25 * (a - d) ** 2 + b * b, 0))
    axes = np.sqrt(np.maximum(np.stack([mid + disc, mid - disc], -1), 1e-6))
    ang = np.degrees(0.5 * np.arctan2(2 * b, a - d))
    return axes, ang



def _at_section(arr: np.ndarray, k: float) -> np.ndarray:
    """The point at fractional section index k on one side of the torso (linear between
    sections, extrapolated along the last pair beyond the top)."""
    i = min(int(np.floor(k)), len(arr) - 2)
    u = k - i
    return (1 - u) * arr[i] + u * arr[i + 1]

class Renderer:
    """Draws one actor's performance; `frames()` yields RGB uint8 frames (H, W, 3)."""

    def __init__(self, actor: Actor, perf: "Performance") -> None:
        self.actor, self.perf = actor, perf
        self.W, self.H = perf.size
        self.T = len(perf)
        body = perf.body
        kin = perf.kinematics
        P, Rg = kin.positions, kin.rotations
        R, C, f = perf.R, perf.C, perf.focal
        self._cam = lambda X: np.einsum("tij,tnj->tni", R, X - C[:, None])  # noqa: E731
        # 1. joints: pixels, depth, pixels per metre
        self.j2, self.jz = perf.project(P)
        self.js = f / np.maximum(self.jz, 1e-6)
        self.kp = perf.poses.xy
        # 2. torso (and skirt) outline from elliptical sections
        levels = list(body.torso_levels)
        if actor.bottom_style == "skirt":
            s = body.stature / 1.72
            lv1 = levels[1]
            levels = [(J["pelvis"], -0.30 * s, lv1[2] + 0.11 * s, lv1[3] + 0.09 * s)] + levels
            self.skirt_levels = 2  # the first two sections are the skirt's hem and top
        else:
            self.skirt_levels = 0
        self.sec_left, self.sec_right, self.sec_depth = self._sections(levels, P, Rg, R, f)
        # 3. head: skin and hair ellipsoids, long hair, bun
        hc = P[:, J["head"]] + np.einsum("tij,j->ti", Rg[:, J["head"]], body.head_center)
        Rh = Rg[:, J["head"]]
        rad = body.head_radii
        self.head = self._ellipsoid(hc, Rh, rad, R, f)
        Rr = rad[0]
        hair_off = {"short": (0.0, 0.14, -0.08), "buzz": (0.0, 0.08, -0.05), "long": (0.0, 0.12, -0.1), "bun": (0.0, 0.14, -0.08)}
        self.hair = self._ellipsoid(hc + np.einsum("tij,j->ti", Rh, np.array(hair_off[actor.hair_style]) * Rr),
                                    Rh, rad * np.array([1.07, 1.0, 1.06]), R, f)
        self.face_skin = self._ellipsoid(hc + np.einsum("tij,j->ti", Rh, np.array([0.0, -0.14, 0.14]) * Rr),
                                         Rh, rad * np.array([0.93, 0.9, 0.9]), R, f)
        self.facing = perf.facing
        if actor.hair_style == "long":
            loc = np.array([[-1.05, 0.35, -0.35], [1.05, 0.35, -0.35], [-1.2, -2.4, -0.5], [1.2, -2.4, -0.5],
                            [0.0, -2.55, -0.75], [0.0, 0.9, -0.7], [-0.7, -1.0, -0.95], [0.7, -1.0, -0.95]]) * Rr
            pts = hc[:, None] + np.einsum("tij,nj->tni", Rh, loc)
            self.curtain, cz = perf.project(pts)
            self.curtain_depth = cz.mean(1) + 0.02
        if actor.hair_style == "bun":
            bc = hc + np.einsum("tij,j->ti", Rh, np.array([0.0, 1.0, -0.85]) * Rr)
            b2, bz = perf.project(bc[:, None])
            self.bun = (b2[:, 0], 0.42 * Rr * f / np.maximum(bz[:, 0], 1e-6), bz[:, 0])
        # 4. shoes: a box around each foot, as a convex hull in the image
        s = body.stature / 1.72
        hh = float(-body.foot[0, 1])
        box = np.array([[x, y, z] for x in (-0.045, 0.045) for y in (-hh, -hh + 0.06 * s) for z in (-0.07 * s, 0.19 * s)])
        box[:, 0] *= s
        self.shoes = []
        for side, sg in (("l", 1.0), ("r", -1.0)):
            b = box * np.array([sg, 1, 1])
            pts = P[:, J[f"{side}_ankle"], None] + np.einsum("tij,nj->tni", Rg[:, J[f"{side}_ankle"]], b)
            self.shoes.append(perf.project(pts))
        # 5. shadow on the floor under the pelvis
        ang = np.linspace(0, 2 * np.pi, 20, endpoint=False)
        ring = np.stack([0.36 * s * np.cos(ang), np.zeros_like(ang), 0.24 * s * np.sin(ang)], -1)
        base = P[:, J["pelvis"]] * np.array([1.0, 0.0, 1.0])
        self.shadow, _ = perf.project(base[:, None] + ring[None])
        lift = np.clip(P[:, J["pelvis"], 1] - np.median(P[:, J["pelvis"], 1]), 0, None)
        self.shadow_alpha = 0.38 * np.exp(-lift / (0.15 * s))
        # 6. background: static camera -> draw once. A little fixed sensor noise (per actor, so
        # frames stay reproducible) keeps the flat colours from looking like a drawing
        yy = np.linspace(1.06, 0.86, self.H)[:, None, None]
        wall = np.clip(np.array(actor.wall, np.float32)[None, None] * yy, 0, 255).astype(np.uint8)
        self._wall = np.ascontiguousarray(np.broadcast_to(wall, (self.H, self.W, 3)))
        rng = np.random.default_rng(zlib.crc32(actor.name.encode()))
        self._noise = rng.integers(-3, 4, (self.H, self.W, 1), dtype=np.int16)
        self._bg_cache = None if perf.camera.moves else self.background(0)
        self.colours = self._palette()
        self.parts = self._parts()

    # ------------------------------------------------------------------ precomputation

    def _ellipsoid(self, centre, Rot, radii, R, f):
        """2D ellipse (centre (T,2), semi-axes (T,2), angle (T,), depth (T,)) of an ellipsoid."""
        c2, cz = self.perf.project(centre[:, None])
        Xc = self._cam(centre[:, None])
        Jac = _jacobian(Xc, R, f)[:, 0]                     # (T, 2, 3)
        A = Jac @ (Rot * radii[None, None, :])               # (T, 2, 3): projected axes
        axes, ang = _ellipse(A @ np.swapaxes(A, 1, 2))
        return c2[:, 0], axes, ang, cz[:, 0]

    def _sections(self, levels, P, Rg, R, f):
        """Left/right outline points (T, L, 2) of the torso's sections and its depth (T,)."""
        cs, ups, exs, ezs, ab = [], [], [], [], []
        for j, y, a, b in levels:
            cs.append(P[:, j] + Rg[:, j, :, 1] * y)
            ups.append(Rg[:, j, :, 1])
            exs.append(Rg[:, j, :, 0])
            ezs.append(Rg[:, j, :, 2])
            ab.append((a, b))
        cen = np.stack(cs, 1)                                # (T, L, 3)
        c2, cz = self.perf.project(cen)
        Jac = _jacobian(self._cam(cen), R, f)                # (T, L, 2, 3)
        ab = np.array(ab)
        vx = np.einsum("tlij,tlj->tli", Jac, np.stack(exs, 1)) * ab[None, :, 0, None]
        vz = np.einsum("tlij,tlj->tli", Jac, np.stack(ezs, 1)) * ab[None, :, 1, None]
        up = np.einsum("tlij,tlj->tli", Jac, np.stack(ups, 1))
        n = np.linalg.norm(up, axis=-1, keepdims=True)
        up = np.where(n > 1e-3, up / np.maximum(n, 1e-9), np.array([0.0, -1.0]))
        nrm = np.stack([-up[..., 1], up[..., 0]], -1)       # image normal of the spine
        w = np.sqrt(np.einsum("tli,tli->tl", vx, nrm) ** 2 + np.einsum("tli,tli->tl", vz, nrm) ** 2)
        return c2 + nrm * w[..., None], c2 - nrm * w[..., None], cz.mean(1)

    def _palette(self) -> dict:
        a = self.actor
        skin = a.skin
        return {
            "skin": skin, "hair": a.hair, "top": a.top, "accent": a.top_accent, "bottom": a.bottom, "shoes": a.shoes,
            "buzz": _mix(a.hair, skin, 0.45), "lips": _mix(_shade(skin, 0.8), (170, 60, 70), 0.35),
            "brow": _shade(a.hair, 0.8), "eye": (245, 245, 240), "iris": (50, 36, 30), "nose": _shade(skin, 0.78),
        }

    def background(self, t: int) -> np.ndarray:
        """Wall, floor with boards in perspective, baseboard, a picture and a door on the wall."""
        a, W, H = self.actor, self.W, self.H
        img = self._wall.copy()
        R, C = self.perf.R[t:t + 1], self.perf.C[t:t + 1]

        def proj(pts):  # (..., 3) world -> (..., 2) pixels and depth, one call for all points
            pts = np.asarray(pts, float)
            uv, z = project(pts.reshape(1, -1, 3), R, C, self.perf.focal, W / 2.0, H / 2.0)
            return uv[0].reshape(pts.shape[:-1] + (2,)), z[0].reshape(pts.shape[:-1])

        def band(y0: float, y1: float) -> np.ndarray:
            """The image region between the wall's horizontal lines at heights y0 < y1 (m); the
            floor is the band from the wall's foot down to below the frame."""
            (p, q), _ = proj([[-4.0, y0, WALL_Z], [4.0, y0, WALL_Z]])
            (r, s), _ = proj([[-4.0, y1, WALL_Z], [4.0, y1, WALL_Z]])
            xl, xr = -2.0, W + 2.0

            def at(a_, b_, x):
                return a_[1] + (b_[1] - a_[1]) * (x - a_[0]) / (b_[0] - a_[0])
            bottom = [[xr, at(p, q, xr)], [xl, at(p, q, xl)]]
            top = [[xl, at(r, s, xl)], [xr, at(r, s, xr)]] if y1 > y0 else [[xl, 2.0 * H], [xr, 2.0 * H]]
            return np.array(bottom + top)

        cv2.fillPoly(img, [_fix(band(0.0, -1.0))], a.floor, AA, SHIFT)
        # boards run towards the camera, cross joints staggered; only points well in front
        near = C[0, 2] - 1.0
        xs = np.arange(-5.06, 5.07, 0.22)
        long_ = np.stack([np.stack([xs, 0 * xs, np.full_like(xs, WALL_Z)], -1),
                          np.stack([xs, 0 * xs, np.full_like(xs, near)], -1)], 1)
        cross = []
        for k, z in enumerate(np.arange(WALL_Z, near, 0.9)):
            x0 = np.arange(-5.06 + 0.22 * (k % 2), 5.0, 0.44)
            cross.append(np.stack([np.stack([x0, 0 * x0, np.full_like(x0, z)], -1),
                                   np.stack([x0 + 0.22, 0 * x0, np.full_like(x0, z)], -1)], 1))
        segs = np.concatenate([long_] + cross)
        uv, z = proj(segs)
        ok = (z > 0.2).all(1)
        cv2.polylines(img, list(_fix(uv[ok])), False, a.floor_lines, 1, AA, SHIFT)
        cv2.fillPoly(img, [_fix(band(0.0, 0.12))], _shade(a.wall, 0.8), AA, SHIFT)
        rects = proj(np.array([
            [[-1.9, 1.2], [-1.1, 1.2], [-1.1, 1.8], [-1.9, 1.8]],          # picture frame
            [[-1.85, 1.25], [-1.15, 1.25], [-1.15, 1.75], [-1.85, 1.75]],  # picture
            [[1.3, 0.12], [2.2, 0.12], [2.2, 2.1], [1.3, 2.1]],            # door
        ]) @ np.array([[1.0, 0, 0], [0, 1.0, 0]]) + np.array([0, 0, WALL_Z]))[0]
        for pts, colour in zip(rects, (_shade(a.wall, 0.55), _mix(a.top_accent, a.wall, 0.5), _shade(a.wall, 0.88))):
            cv2.fillPoly(img, [_fix(pts)], colour, AA, SHIFT)
        return np.clip(img.astype(np.int16) + self._noise, 0, 255).astype(np.uint8)

    # ------------------------------------------------------------------ drawing primitives

    @staticmethod
    def _fill(img, pts, colour) -> None:
        cv2.fillPoly(img, [_fix(pts)], colour, AA, SHIFT)

    def _limb(self, img, p, q, rp, rq, colour) -> None:
        """A shaded tapered capsule: dark body, lit core shifted to the light, a highlight."""
        outline = _capsule(p, q, rp, rq)
        if outline is None:
            return
        self._fill(img, outline, _shade(colour, 0.68))
        d = q - p
        v = np.array([-d[1], d[0]]) / max(float(np.hypot(d[0], d[1])), 1e-6)
        if v @ LIGHT < 0:
            v = -v
        core = _capsule(p + v * 0.2 * rp, q + v * 0.2 * rq, 0.74 * rp, 0.74 * rq)
        self._fill(img, core, colour)
        if rp > 2.5:
            hi = _capsule(p + v * 0.45 * rp, q + v * 0.45 * rq, 0.22 * rp, 0.22 * rq)
            self._fill(img, hi, _lit(colour))

    def _ellipse(self, img, e, t, colour, shade: float = 0.7, core: float = 0.8) -> None:
        """A projected ellipsoid, darker towards its edge away from the light (shade 1: flat)."""
        c, axes, ang, _ = e
        centre, ax = c[t], axes[t]
        if shade < 1:
            self._ell(img, centre, ax, ang[t], _shade(colour, shade))
            self._ell(img, centre + LIGHT * (1 - core) * 0.9 * ax.min(), ax * core, ang[t], colour)
        else:
            self._ell(img, centre, ax, ang[t], colour)

    @staticmethod
    def _ell(img, centre, axes, angle, colour) -> None:
        cv2.ellipse(img, tuple(_fix(centre)), tuple(int(v) for v in np.round(axes * ONE)), float(angle), 0, 360,
                    colour, -1, AA, SHIFT)

    # ------------------------------------------------------------------ body parts

    def _arm(self, side: str) -> list[tuple[float, Callable]]:
        b = self.perf.body
        col, a = self.colours, self.actor
        sh, el, wr = J[f"{side}_shoulder"], J[f"{side}_elbow"], J[f"{side}_wrist"]
        hand = LEFT_HAND if side == "l" else RIGHT_HAND
        ru, rf = b.limb_radii["upper_arm"], b.limb_radii["forearm"]
        upper_col = col["skin"] if a.sleeves == "none" else col["top"]
        fore_col = col["top"] if a.sleeves == "long" else col["skin"]

        def upper(img, t):
            p, q, s0, s1 = self.j2[t, sh], self.j2[t, el], self.js[t, sh], self.js[t, el]
            if a.sleeves == "short":
                self._limb(img, p, q, ru[0] * s0, ru[1] * s1, col["skin"])
                m = p + 0.5 * (q - p)
                self._limb(img, p, m, ru[0] * s0 * 1.08, ru[0] * s1 * 1.08, col["top"])
            else:
                self._limb(img, p, q, ru[0] * s0, ru[1] * s1, upper_col)

        def fore(img, t):
            p, q, s0, s1 = self.j2[t, el], self.j2[t, wr], self.js[t, el], self.js[t, wr]
            self._limb(img, p, q, rf[0] * s0, rf[1] * s1, fore_col)

        def hand_draw(img, t):
            kp = self.kp[t, hand]
            s = self.js[t, wr]
            self._fill(img, cv2.convexHull(kp[[0, 1, 2, 5, 9, 13, 17]].astype(np.float32))[:, 0], _shade(col["skin"], 0.85))
            th = max(1, int(round(0.017 * s)))
            chains = [kp[[1, 2, 3, 4]]] + [kp[[5 + 4 * k, 6 + 4 * k, 7 + 4 * k, 8 + 4 * k]] for k in range(4)]
            cv2.polylines(img, [_fix(c) for c in chains], False, _shade(col["skin"], 0.9), th, AA, SHIFT)

        zs = self.jz
        return [(lambda t: 0.5 * (zs[t, sh] + zs[t, el]) - 0.04, upper),
                (lambda t: 0.5 * (zs[t, el] + zs[t, wr]) - 0.05, fore),
                (lambda t: zs[t, wr] - 0.07, hand_draw)]

    def _leg(self, side: str) -> list[tuple[Callable, Callable]]:
        b, col, a = self.perf.body, self.colours, self.actor
        hp, kn, an = J[f"{side}_hip"], J[f"{side}_knee"], J[f"{side}_ankle"]
        rt, rs = b.limb_radii["thigh"], b.limb_radii["shin"]
        thigh_col = col["bottom"] if a.bottom_style != "skirt" else col["skin"]
        shin_col = col["bottom"] if a.bottom_style == "trousers" else col["skin"]
        shoe2, shoez = self.shoes[0 if side == "l" else 1]

        def thigh(img, t):
            p, q, s0, s1 = self.j2[t, hp], self.j2[t, kn], self.js[t, hp], self.js[t, kn]
            if a.bottom_style == "shorts":
                self._limb(img, p, q, rt[0] * s0, rt[1] * s1, col["skin"])
                m = p + 0.55 * (q - p)
                self._limb(img, p, m, rt[0] * s0 * 1.08, rt[1] * s1 * 1.25, col["bottom"])
            else:
                self._limb(img, p, q, rt[0] * s0, rt[1] * s1, thigh_col)

        def shin(img, t):
            p, q, s0, s1 = self.j2[t, kn], self.j2[t, an], self.js[t, kn], self.js[t, an]
            self._limb(img, p, q, rs[0] * s0, rs[1] * s1, shin_col)

        def shoe(img, t):
            hull = cv2.convexHull(shoe2[t].astype(np.float32))[:, 0]
            self._fill(img, hull, _shade(col["shoes"], 0.75))
            c = hull.mean(0)
            self._fill(img, c + 0.72 * (hull - c) + LIGHT * 1.0, col["shoes"])

        zs = self.jz
        return [(lambda t: 0.5 * (zs[t, hp] + zs[t, kn]) + 0.03, thigh),
                (lambda t: 0.5 * (zs[t, kn] + zs[t, an]) + 0.01, shin),
                (lambda t: shoez[t].mean() - 0.0, shoe)]

    def _outline(self, t, k0: float, k1: float) -> np.ndarray:
        """Torso outline between fractional section indices k0 < k1, as one polygon."""
        ks = [k0] + [k for k in range(int(np.ceil(k0 + 1e-6)), int(np.floor(k1 - 1e-6)) + 1)] + [k1]
        L, Rr = self.sec_left[t], self.sec_right[t]
        left = np.array([_at_section(L, k) for k in ks])
        right = np.array([_at_section(Rr, k) for k in ks])
        return np.concatenate([left, right[::-1]])

    def _torso(self, img, t) -> None:
        a, col = self.actor, self.colours
        o = self.skirt_levels  # sections below index o belong to the skirt
        top0, top1 = o + 1.6, o + 5.0
        poly = self._outline(t, top0, top1)
        self._fill(img, poly, _shade(col["top"], 0.7))
        c = poly.mean(0)
        self._fill(img, c + 0.8 * (poly - c) + LIGHT * 0.08 * np.ptp(poly[:, 0]), col["top"])
        if a.pattern == "stripes":
            for k in np.arange(o + 1.9, o + 4.3, 0.42):
                self._fill(img, self._outline(t, k, k + 0.18), col["accent"])
        elif a.pattern == "blocks":
            self._fill(img, self._outline(t, top0, o + 2.55), col["accent"])
            self._fill(img, self._outline(t, o + 3.7, o + 4.1), col["accent"])
        elif a.pattern == "dots":
            L, Rr = self.sec_left[t], self.sec_right[t]
            r = max(1.0, 0.017 * self.js[t, J["spine"]])
            for row, k in enumerate(np.arange(o + 1.9, o + 4.4, 0.5)):
                # with a skirt the top rows lie past the last section (o shifts them up): as the
                # outline does, go on along the last section pair rather than indexing past it
                lft, rgt = _at_section(L, k), _at_section(Rr, k)
                for x in (np.array([0.2, 0.5, 0.8]) if row % 2 == 0 else np.array([0.35, 0.65])):
                    self._ell(img, lft + x * (rgt - lft), np.array([r, r]), 0.0, col["accent"])
        # waistband and hips in the bottom's colour
        band = self._outline(t, o + 0.0, o + 1.6)
        self._fill(img, band, _shade(col["bottom"], 0.72))
        cb = band.mean(0)
        self._fill(img, cb + 0.8 * (band - cb) + LIGHT * 0.08 * np.ptp(band[:, 0]), col["bottom"])
        if o:
            skirt = self._outline(t, 0.0, 2.0)
            self._fill(img, skirt, _shade(col["bottom"], 0.72))
            cs = skirt.mean(0)
            self._fill(img, cs + 0.78 * (skirt - cs) + LIGHT * 0.06 * np.ptp(skirt[:, 0]), col["bottom"])

    def _neck(self, img, t) -> None:
        b = self.perf.body
        r = b.limb_radii["neck"]
        p, q = self.j2[t, J["neck"]], self.j2[t, J["head"]]
        self._limb(img, p, q, r[0] * self.js[t, J["neck"]], r[1] * self.js[t, J["head"]], _shade(self.colours["skin"], 0.92))

    def _head(self, img, t) -> None:
        a, col = self.actor, self.colours
        facing = self.facing[t]
        hair_col = col["buzz"] if a.hair_style == "buzz" else col["hair"]
        bun_behind = False
        if a.hair_style == "bun":
            bun_behind = self.bun[2][t] > self.head[3][t]
            if bun_behind:
                self._ell(img, self.bun[0][t], np.array([self.bun[1][t]] * 2), 0.0, hair_col)
        # ears peek out at the sides
        er = max(1.0, 0.22 * self.perf.body.head_radii[0] * self.js[t, J["head"]])
        for e in (Joint.R_EAR, Joint.L_EAR):
            self._ell(img, self.kp[t, e], np.array([er * 0.7, er]), 0.0, _shade(col["skin"], 0.85))
        if facing > -0.25:
            self._ellipse(img, self.hair, t, hair_col)
            self._ellipse(img, self.face_skin, t, col["skin"], 0.86, 0.86)
        else:
            self._ellipse(img, self.face_skin, t, col["skin"], 0.86, 0.86)
            self._ellipse(img, self.hair, t, hair_col)
        if a.hair_style == "bun" and not bun_behind:
            self._ell(img, self.bun[0][t], np.array([self.bun[1][t]] * 2), 0.0, hair_col)
        if facing > 0.1:
            self._face(img, t)

    def _face(self, img, t) -> None:
        col = self.colours
        f = self.kp[t, FACE]
        s = self.js[t, J["head"]]
        lw = max(1, int(round(0.006 * s)))
        for i0, pupil in ((36, 68), (42, 69)):
            eye = f[i0:i0 + 6]
            self._fill(img, eye, col["eye"])
            r = max(0.8, 0.4 * np.ptp(eye[:, 1]) + 0.3)
            self._ell(img, f[pupil], np.array([r, r]), 0.0, col["iris"])
        cv2.polylines(img, [_fix(f[17:22]), _fix(f[22:27])], False, col["brow"], lw, AA, SHIFT)
        cv2.polylines(img, [_fix(f[31:36]), _fix(f[[27, 28, 29, 30]] + np.array([0.6, 0]))], False, col["nose"], 1, AA, SHIFT)
        self._fill(img, f[48:60], col["lips"])
        cv2.polylines(img, [_fix(f[60:68])], True, _shade(col["lips"], 0.6), 1, AA, SHIFT)

    def _curtain(self, img, t) -> None:
        hull = cv2.convexHull(self.curtain[t].astype(np.float32))[:, 0]
        self._fill(img, hull, _shade(self.colours["hair"], 0.8))
        c = hull.mean(0)
        self._fill(img, c + 0.75 * (hull - c) + LIGHT * 1.5, self.colours["hair"])

    # ------------------------------------------------------------------ frames

    def _parts(self) -> list[tuple[Callable, Callable]]:
        zs = self.jz
        parts = self._arm("l") + self._arm("r") + self._leg("l") + self._leg("r")
        parts.append((lambda t: self.sec_depth[t], self._torso))
        parts.append((lambda t: zs[t, J["neck"]] + 0.03, self._neck))
        parts.append((lambda t: self.head[3][t] - 0.06, self._head))
        if self.actor.hair_style == "long":
            parts.append((lambda t: self.curtain_depth[t], self._curtain))
        return parts

    def frame(self, t: int) -> np.ndarray:
        """The RGB frame at index t."""
        img = (self._bg_cache if self._bg_cache is not None else self.background(t)).copy()
        self._shadow(img, t)
        order = sorted(self.parts, key=lambda p: -p[0](t))  # far to near
        for _, draw in order:
            draw(img, t)
        return img

    def _shadow(self, img, t) -> None:
        pts = self.shadow[t]
        x0, y0 = np.floor(pts.min(0)).astype(int) - 1
        x1, y1 = np.ceil(pts.max(0)).astype(int) + 2
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.W), min(y1, self.H)
        if x1 <= x0 or y1 <= y0:
            return
        roi = img[y0:y1, x0:x1]
        dark = roi.copy()
        self._fill(dark, pts - np.array([x0, y0]), (20, 20, 24))
        cv2.addWeighted(dark, float(self.shadow_alpha[t]), roi, 1 - float(self.shadow_alpha[t]), 0, dst=roi)

    def frames(self) -> Iterator[np.ndarray]:
        for t in range(self.T):
            yield self.frame(t)
