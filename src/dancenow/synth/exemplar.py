"""Exemplars: the training frame nearest in pose. Shown to the generator beside the label, it
only has to correct a real picture of the person (clothes, face, hair come from the exemplar);
shown unchanged, it is the retrieval baseline every synthesis figure is compared with.

Poses are compared on the 25 body keypoints in model pixels (the crop is fixed, so position and
size matter, as they do in the picture): the mean distance over the joints seen in either pose,
a joint seen in only one of them counting MISSING_PENALTY body heights. Left and right are
labelled, so a back view is far from a front view.

During training a frame's exemplar is the nearest bank frame at least `exclude` frames away in
time (else it would be the frame itself, or its neighbour, and the generator would learn to
copy); in transfer, the nearest one, kept until another is clearly nearer (hysteresis), so the
exemplar does not flicker between two near-equal frames.

With blending (ExemplarConfig.blend > 1) the generator is shown not one posed exemplar but the
per-pixel median of the few nearest ones (those within `within` times the nearest's distance),
each posed: where they agree (the person's clothes, face, hair) the median keeps it sharp; where
one of them is wrong (a misaligned stripe, a ponytail swung the other way) the others outvote it.
On the held-out jumping jacks this alone raised the person's-box SSIM of the posed exemplar from
0.773 to 0.798 and the face's from 0.810 to 0.832 (tai-chi: 0.685 -> 0.702, 0.729 -> 0.767).
"""

from __future__ import annotations

import numpy as np

from dancenow.keypoints import Joint, body_height

BODY_POINTS = 25
MISSING_PENALTY = 0.25  # body heights: the cost of a joint seen in one pose and not the other
CHUNK = 64  # query rows per distance block (memory: CHUNK x bank x 25 floats)


def descriptors(keypoints: np.ndarray) -> np.ndarray:
    """(N, 25, 3) float32 body keypoints (x, y, seen) of (N, J, 3) keypoints."""
    kp = np.asarray(keypoints, np.float32)
    if kp.ndim == 2:
        kp = kp[None]
    d = kp[:, :BODY_POINTS].copy()
    d[..., 2] = (d[..., 2] > 0).astype(np.float32)
    return d


MIN_JOINTS = 8  # a frame with fewer body joints seen is not offered as an exemplar


def has_body(keypoints: np.ndarray) -> np.ndarray:
    """(N,) bool: frames whose pose shows at least MIN_JOINTS body joints (an empty room, or a
    dancer half out of the frame, makes no exemplar)."""
    kp = np.asarray(keypoints)
    return (kp[:, :BODY_POINTS, 2] > 0).sum(axis=1) >= MIN_JOINTS


def body_scale(keypoints: np.ndarray) -> float:
    """The median body height (pixels) of a set of poses; 100 when none can be measured."""
    h = body_height(np.asarray(keypoints))
    h = h[np.isfinite(h)]
    return float(np.median(h)) if len(h) else 100.0


def pose_distances(query: np.ndarray, bank: np.ndarray, scale: float) -> np.ndarray:
    """(M, N) distances (pixels) between descriptors `query` (M, 25, 3) and `bank` (N, 25, 3)."""
    q, b = np.asarray(query, np.float32), np.asarray(bank, np.float32)
    out = np.empty((len(q), len(b)), np.float32)
    penalty = MISSING_PENALTY * scale
    for i in range(0, len(q), CHUNK):
        qc = q[i:i + CHUNK, None]  # (m, 1, 25, 3)
        both = qc[..., 2] * b[None, :, :, 2]  # (m, N, 25)
        either = np.maximum(qc[..., 2], b[None, :, :, 2])
        d = np.sqrt(((qc[..., :2] - b[None, :, :, :2]) ** 2).sum(-1))
        cost = both * d + (either - both) * penalty
        out[i:i + CHUNK] = cost.sum(-1) / np.maximum(either.sum(-1), 1.0)
    return out


def select_bank(keypoints: np.ndarray, size: int) -> np.ndarray:
    """Indices of up to `size` frames covering the poses of (N, J, 3) keypoints: greedy k-centre
    (each pick is the pose farthest from those picked), starting from the frame nearest to the
    median pose; only frames that show a body (`has_body`; all of them when none does). Sorted."""
    ok = has_body(keypoints)
    idx = np.flatnonzero(ok) if ok.any() else np.arange(len(keypoints))
    return idx[_k_centres(np.asarray(keypoints)[idx], size)]


def _k_centres(keypoints: np.ndarray, size: int) -> np.ndarray:
    d = descriptors(keypoints)
    n = len(d)
    if size >= n:
        return np.arange(n, dtype=np.int64)
    scale = body_scale(keypoints)
    med = np.median(d[..., :2], axis=0)
    first = int(np.argmin(np.abs(d[..., :2] - med[None]).sum(axis=(1, 2))))
    picked = [first]
    far = pose_distances(d[first:first + 1], d, scale)[0]
    for _ in range(size - 1):
        i = int(np.argmax(far))
        picked.append(i)
        far = np.minimum(far, pose_distances(d[i:i + 1], d, scale)[0])
    return np.sort(np.array(picked, np.int64))


def _candidate_distances(query: np.ndarray, bank: np.ndarray, scale: float, query_index: np.ndarray | None,
                         bank_index: np.ndarray | None, exclude: int) -> tuple[np.ndarray, np.ndarray]:
    """((M, N) pose distances with bank poses within `exclude` frames of the query (by their
    frame indices) at inf, (M,) bool: queries whose every candidate was excluded; their row is
    minus the time gap instead, so the farthest in time comes out nearest)."""
    dist = pose_distances(query, bank, scale)
    none = np.zeros(len(dist), bool)
    if exclude > 0 and query_index is not None and bank_index is not None:
        gap = np.abs(np.asarray(query_index)[:, None] - np.asarray(bank_index)[None, :])
        dist = np.where(gap < exclude, np.inf, dist)
        none = np.isinf(dist).all(axis=1)
        if none.any():
            dist[none] = -gap[none]
    return dist, none


def nearest(query: np.ndarray, bank: np.ndarray, scale: float, query_index: np.ndarray | None = None,
            bank_index: np.ndarray | None = None, exclude: int = 0) -> np.ndarray:
    """(M,) position in `bank` of the nearest pose to each query (descriptors). With
    `exclude` > 0, bank poses within `exclude` frames of the query (by their frame indices
    `query_index`, `bank_index`) are not candidates (when every one is, the farthest in time)."""
    return _candidate_distances(query, bank, scale, query_index, bank_index, exclude)[0].argmin(axis=1).astype(np.int64)


def blend_set(dist: np.ndarray, anchor: int, blend: int, within: float) -> np.ndarray:
    """Bank positions to blend for one frame: `anchor` first, then the nearest others whose
    distance (`dist`, one row) is within `within` times the anchor's, `blend` in all at most."""
    if blend <= 1:
        return np.array([anchor], np.int64)
    limit = within * max(float(dist[anchor]), 0.0) + 1e-6
    order = np.argsort(dist, kind="stable")[: blend + 1]
    others = [int(i) for i in order if i != anchor and dist[i] <= limit][: blend - 1]
    return np.array([anchor] + others, np.int64)


class ExemplarChooser:
    """The exemplars for each frame of a sequence: the nearest bank pose, with hysteresis (the
    current one is kept until another is nearer by more than `switch`, a fraction of the
    current distance), then up to `blend` - 1 more near ones (see `blend_set`). Returns bank
    positions, the held one first."""

    def __init__(self, bank: np.ndarray, scale: float, switch: float = 0.2, blend: int = 1, within: float = 1.5):
        self.bank, self.scale, self.switch = np.asarray(bank, np.float32), float(scale), float(switch)
        self.blend, self.within = int(blend), float(within)
        self.current: int | None = None

    def __call__(self, keypoints: np.ndarray) -> np.ndarray:
        d = pose_distances(descriptors(keypoints), self.bank, self.scale)[0]
        best = int(np.argmin(d))
        if self.current is None or d[best] < (1.0 - self.switch) * d[self.current]:
            self.current = best
        return blend_set(d, self.current, self.blend, self.within)

    def reset(self) -> None:
        self.current = None


def nearest_sets(query: np.ndarray, bank: np.ndarray, scale: float, query_index: np.ndarray,
                 bank_index: np.ndarray, exclude: int, blend: int, within: float) -> list[np.ndarray]:
    """Training's exemplars: for each query (descriptors), the bank positions `ExemplarChooser`
    would blend, nearest first, among bank poses at least `exclude` frames away in time (see
    `nearest`; a query with no candidate gets the farthest in time alone)."""
    dist, none = _candidate_distances(query, bank, scale, query_index, bank_index, exclude)
    anchors = dist.argmin(axis=1)
    return [np.array([a], np.int64) if fallback else blend_set(row, int(a), blend, within)
            for row, a, fallback in zip(dist, anchors, none)]


def retrieve(query_keypoints: np.ndarray, train_keypoints: np.ndarray) -> np.ndarray:
    """The retrieval baseline: for each query pose (M, J, 3), the index of the nearest training
    pose (N, J, 3) that shows a body, by the distance above, with no hysteresis."""
    ok = has_body(train_keypoints)
    idx = np.flatnonzero(ok) if ok.any() else np.arange(len(train_keypoints))
    tk = np.asarray(train_keypoints)[idx]
    return idx[nearest(descriptors(query_keypoints), descriptors(tk), body_scale(tk))]


# --------------------------------------------------------------------------- warping to a pose

# Body parts moved rigidly: (from joint, to joint), BODY_25 indices. The torso (shoulders, neck,
# hips) is one affine part of its own.
_SEGMENTS = (
    (1, 0),  # neck -> nose: the head
    (2, 3), (3, 4), (5, 6), (6, 7),  # upper arms, forearms (and hands, past the wrists)
    (9, 10), (10, 11), (12, 13), (13, 14),  # thighs, shins
    (11, 22), (14, 19),  # feet: ankle -> big toe
)
_TORSO = (1, 2, 5, 8, 9, 12)  # neck, shoulders, mid-hip, hips
PART_SIGMA = 0.05  # body heights: how far from the head and the torso their motion carries
# ... and from an arm or leg segment: less, so a bent elbow or knee is not a swirl of both
# segments' motions (posed exemplars alone, held out, person SSIM at 0.05 -> 0.03: tai-chi
# 0.697 -> 0.701, jumping jacks 0.810 -> 0.813, the synthetic target 0.886 -> 0.900)
LIMB_SIGMA = 0.03
# Ownership (`_owned`): an exemplar pixel lying on another body part than the one posing it is
# not shown (a ghost leg beside the real one). On: within OWNER_REACH x LIMB_RADIUS body heights
# of a part's bone in the exemplar, a pixel is that part's.
OWNERSHIP = True
LIMB_RADIUS = 0.05
OWNER_REACH = 2.0
OWNER_SHARE = 0.1  # a target part pulling a point this share of the strongest pull may own it
SUPPORT_REACH = 0.15  # body heights: exemplar pixels beyond 1.5x this from the target's bones are dropped
_BACKGROUND_WEIGHT = 1e-3  # far from every part, pixels stay where they are
# Parts whose pixels reach farther than SUPPORT_REACH: the head carries its hair (a ponytail
# hangs well behind the neck-nose line; posed exemplars alone, jacks: face SSIM 0.834 -> 0.842).
PART_REACH = {(1, 0): 1.5}


SNAP_STRENGTH = 0.5  # how far a joint moves toward the nearest bank pose's (a fraction)
SNAP_REACH = 0.04  # body heights: joints this near are moved fully, twice as far not at all


def snap_to_bank(keypoints: np.ndarray, bank: np.ndarray, strength: float = SNAP_STRENGTH,
                 reach: float = SNAP_REACH, bank_desc: np.ndarray | None = None,
                 scale: float | None = None) -> np.ndarray:
    """(T, J, 3) poses (a mapped source dance, say) moved joint by joint part of the way toward
    each frame's nearest pose of `bank` (K, J, 3), the target's own repertoire, in the same
    pixels: by `strength` for a joint within `reach` x the pose's body height, fading to
    nothing at twice that (a joint far from it is a different move, kept as it is). A mapped
    pose carries a couple of pixels of error (another body, another detection); where a real
    pose of the target lies that close, the gap is more likely error than dance. Joints missing
    in either pose, and frames without a body height, stay as they are. `bank_desc`, `scale`:
    the bank's descriptors and body scale when the caller keeps them (a model does)."""
    from dancenow.keypoints import body_height

    kp = np.asarray(keypoints, np.float32)
    out = kp.copy()
    if len(kp) == 0 or len(bank) == 0 or strength <= 0:
        return out
    bank = np.asarray(bank, np.float32)
    if bank_desc is None:
        bank_desc, scale = descriptors(bank), body_scale(bank)
    near = bank[nearest(descriptors(kp), bank_desc, scale)]  # (T, J, 3)
    both = (kp[..., 2] > 0) & (near[..., 2] > 0)
    r = reach * body_height(kp)[:, None]  # (T, 1); NaN where it cannot be measured
    gap = np.linalg.norm(near[..., :2] - kp[..., :2], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = strength * np.clip((2 * r - gap) / r, 0.0, 1.0)
    w = np.where(both & np.isfinite(w), w, 0.0)
    out[..., :2] += w[..., None] * (near[..., :2] - kp[..., :2])
    return out


class _TargetGrid:
    """What posing to one target pose costs regardless of the exemplar, computed once per target
    and shared by every exemplar posed to it (posed_blend): the grid of points where the warp
    is evaluated, and per body part their coordinates along and across it, their distance to
    it and its weight."""

    def __init__(self, h: int, w: int, target: np.ndarray, stride: int):
        self.stride, self.t = stride, np.asarray(target, np.float64)
        self.bh = float(body_height(self.t[None])[0])
        self.hs, self.ws = -(-h // stride), -(-w // stride)
        ys, xs = np.mgrid[0:self.hs, 0:self.ws] * stride
        self.p = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
        self.sigma = PART_SIGMA * self.bh
        self._stack: tuple | None = None
        self._torsos: dict = {}

    def segments(self) -> tuple:
        """The body parts the target shows, stacked for all exemplars at once: (their indices in
        _SEGMENTS, lengths (S,), and (S, P) weights W, W * along, W * across and distances
        (divided by the part's PART_REACH)), so that an exemplar's source positions are three
        small matrix products (num = W'a_e + (W along)'(r u_e) + (W across)'(n_e / s))."""
        if self._stack is None:
            seen = self.t[:BODY_POINTS, 2] > 0
            rows, lengths, w, wa, wc, near = [], [], [], [], [], []
            for i, (a, b) in enumerate(_SEGMENTS):
                if not (seen[a] and seen[b]):
                    continue
                a_t, b_t = self.t[a, :2], self.t[b, :2]
                v_t = b_t - a_t
                l_t = max(np.hypot(*v_t), 1e-3)
                u_t = v_t / l_t
                q = self.p - a_t
                along, across = q @ u_t, q @ np.array([-u_t[1], u_t[0]])
                k = np.clip(along / l_t, 0, 1)
                dist = np.hypot(*(q - k[:, None] * v_t[None]).T)
                sig = self.sigma if (a, b) == (1, 0) else LIMB_SIGMA * self.bh
                wgt = np.exp(-0.5 * (dist / sig) ** 2)
                rows.append(i)
                lengths.append(l_t)
                w.append(wgt)
                wa.append(wgt * along)
                wc.append(wgt * across)
                near.append(dist / PART_REACH.get((a, b), 1.0))
            n = len(self.p)
            self._stack = (np.array(rows, np.int64), np.array(lengths), *(np.array(x).reshape(len(rows), n) for x in (w, wa, wc, near)))
        return self._stack

    def torso(self, joints: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(distance, weight) of the grid to the target's torso through `joints`."""
        import cv2

        if joints not in self._torsos:
            pts = self.t[list(joints), :2]
            if len(joints) >= 3:
                dist = np.maximum(-_signed_distance(cv2.convexHull(pts.astype(np.float32)), self.p), 0.0)
            else:
                dist = np.min([np.hypot(*(self.p - q).T) for q in pts], axis=0)
            self._torsos[joints] = (dist, np.exp(-0.5 * (dist / self.sigma) ** 2))
        return self._torsos[joints]


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(3, 2) least-squares similarity (rotation, uniform scale, shift) mapping points src (N, 2)
    onto dst, as a matrix for [x, y, 1] rows (Umeyama). A full affine would bloat a torso seen
    from the side, where shoulders and hips line up."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    var = (a ** 2).sum()
    if var < 1e-9:
        return np.array([[1.0, 0.0], [0.0, 1.0], [md[0] - ms[0], md[1] - ms[1]]])
    u, sv, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1.0, d]) @ vt
    scale = (sv * np.array([1.0, d])).sum() / var
    m = scale * r  # (2, 2): dst = m @ src + t
    t = md - m @ ms
    return np.concatenate([m.T, t[None]], axis=0)


def _warp_map(h: int, w: int, e: np.ndarray, t: np.ndarray, stride: int = 2,
              grid: _TargetGrid | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """((h, w, 2) float32 source positions in the exemplar for each target pixel (see
    `warp_to_pose`), (h, w) float32 support: how near each pixel is to the target's body, 1 on
    it, falling to 0 about SUPPORT_REACH body heights away), computed every `stride` pixels and
    interpolated; None when a body height cannot be measured in either pose. `grid`: the
    target's side, when several exemplars are posed to the same target."""
    import cv2

    g = grid if grid is not None else _TargetGrid(h, w, t, stride)
    stride = g.stride
    ok = (e[:BODY_POINTS, 2] > 0) & (t[:BODY_POINTS, 2] > 0)
    bh_t, bh_e = g.bh, body_height(e[None])[0]
    if not np.isfinite(bh_t) or not np.isfinite(bh_e) or bh_t <= 0 or bh_e <= 0:
        return None
    s = bh_t / bh_e  # target pixels per exemplar pixel, across the limbs
    p = g.p
    num = _BACKGROUND_WEIGHT * p
    den = np.full(len(p), _BACKGROUND_WEIGHT)
    near = np.full(len(p), np.inf)  # distance to the nearest body part
    rows, lengths, wt, wa, wc, dist = g.segments()
    pick = np.array([bool(ok[_SEGMENTS[i][0]] and ok[_SEGMENTS[i][1]]) for i in rows], bool)
    if pick.any():
        # along each segment scaled by the length ratio, across it by s
        seg = np.array([_SEGMENTS[i] for i in rows[pick]])
        a_e, v_e = e[seg[:, 0], :2], e[seg[:, 1], :2] - e[seg[:, 0], :2]
        l_e = np.maximum(np.hypot(v_e[:, 0], v_e[:, 1]), 1e-3)
        u_e = v_e / l_e[:, None]
        r = np.clip(l_e / lengths[pick], 1 / 3, 3)  # exemplar length per target length
        n_e = np.stack([-u_e[:, 1], u_e[:, 0]], axis=1)
        num = num + wt[pick].T @ a_e + wa[pick].T @ (r[:, None] * u_e) + wc[pick].T @ (n_e / s)
        den = den + wt[pick].sum(axis=0)
        near = np.minimum(near, dist[pick].min(axis=0))
    torso = tuple(j for j in _TORSO if ok[j])
    if len(torso) >= 2:
        m = _similarity(t[list(torso), :2], e[list(torso), :2])  # target -> exemplar
        dist, wgt = g.torso(torso)
        num += wgt[:, None] * (p @ m[:2] + m[2])
        den += wgt
        near = np.minimum(near, dist)
    hs, ws = g.hs, g.ws
    src = num / den[:, None]
    reach = SUPPORT_REACH * bh_t
    support = np.clip(1.5 - near / reach, 0.0, 1.0)
    if OWNERSHIP and pick.any():
        parts = [_SEGMENTS[i] for i in rows[pick]]
        weights = [wt[pick]]
        if len(torso) >= 2:
            parts.append(torso)
            weights.append(wgt[None])
        # on every other grid point (the warp is smooth), only where the support is on
        every = np.zeros((hs, ws), bool)
        every[::2, ::2] = True
        on = (support > 0) & every.ravel()
        owned = np.ones(len(src))
        owned[on] = _owned(src[on], np.concatenate(weights)[:, on], parts, e, bh_e)
        owned = owned.reshape(hs, ws)[::2, ::2].repeat(2, 0).repeat(2, 1)[:hs, :ws]
        support = support * owned.ravel()
    src = src.astype(np.float32).reshape(hs, ws, 2)
    support = support.astype(np.float32).reshape(hs, ws)
    if stride > 1:  # both are smooth: interpolate them (grid point i sits at pixel i * stride)
        shift = 0.5 * (stride - 1)  # cv2.resize's pixel-centre convention
        m = np.float32([[1, 0, shift], [0, 1, shift]])

        def up(a):
            a = cv2.resize(a, (ws * stride, hs * stride), interpolation=cv2.INTER_LINEAR)
            return cv2.warpAffine(a, m, (ws * stride, hs * stride), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REPLICATE)[:h, :w]

        src, support = up(src), up(support)
    return src, support


def _owned(src: np.ndarray, weights: np.ndarray, parts: list[tuple[int, ...]], e: np.ndarray,
           bh_e: float) -> np.ndarray:
    """(P,) 1 where the exemplar pixel a target point is taken from (src (P, 2), exemplar
    pixels) belongs to the body part the point is posed by, or to one joined to it, else 0.
    weights (K, P): each part's pull on each point in the target; parts: the K parts (a
    segment's two joints, or the torso's joints). The warp blends the parts' motions by distance,
    so a point beside the target's leg reads the exemplar beside its leg, where the exemplar's
    other leg or a swinging arm may lie: copied, that is a ghost limb. Where no part pulls a
    point harder than the background does, the point stays where it is, and a limb the exemplar
    has there is a ghost too. A limb lying over the torso in the exemplar owns those pixels (the
    torso owns its hull's inside otherwise). Held out, posed exemplars alone, person SSIM: tai-chi
    0.693 -> 0.701, the jumping jacks 0.817 -> 0.815 (side views, where a limb lies over
    another, lose a little), the synthetic target level."""
    import cv2

    r = LIMB_RADIUS * bh_e
    dist = np.empty((len(parts), len(src)))
    segs = [k for k, j in enumerate(parts) if len(j) == 2]
    if segs:  # every segment at once: (S, P)
        a = np.array([e[parts[k][0], :2] for k in segs])[:, None]
        v = np.array([e[parts[k][1], :2] for k in segs])[:, None] - a
        q = src[None] - a
        t = np.clip((q * v).sum(-1) / np.maximum((v * v).sum(-1), 1e-9), 0, 1)
        dist[segs] = np.linalg.norm(q - t[..., None] * v, axis=-1)
    for k, joints in enumerate(parts):
        if len(joints) == 2:
            continue
        pts = e[list(joints), :2]
        if len(joints) >= 3:
            dist[k] = np.maximum(-_signed_distance(cv2.convexHull(pts.astype(np.float32)), src), 0.0) + 0.5 * r
        else:
            dist[k] = np.min([np.hypot(*(src - q).T) for q in pts], axis=0) + 0.5 * r
    owner = dist.argmin(0)
    on_body = dist.min(0) < OWNER_REACH * r
    sets = [set(j) for j in parts]
    joined = np.array([[bool(a & b) for b in sets] for a in sets])  # (K, K): share a joint (or are one part)
    strong = weights >= OWNER_SHARE * np.maximum(weights.max(0, keepdims=True), _BACKGROUND_WEIGHT)
    fine = (strong & joined[:, owner]).any(0)
    return np.where(on_body & ~fine, 0.0, 1.0)


def warp_to_pose(image: np.ndarray, keypoints: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The exemplar `image` (H, W, C) uint8, posed as `keypoints` (J, 3), moved part by part into
    the pose `target` (J, 3) (both in the image's pixels): each body part (the head, arm and leg
    segments, the feet; the torso as one similarity) carries the pixels near it, blended by
    distance, so the picture stays continuous; far from the body pixels stay where they are.
    Parts missing in either pose are left out. Cheap (one cv2.remap): done per frame in
    training and transfer."""
    import cv2

    h, w = image.shape[:2]
    maps = _warp_map(h, w, np.asarray(keypoints, np.float64), np.asarray(target, np.float64))
    if maps is None:
        return np.array(image, copy=True)
    src = maps[0]
    return cv2.remap(image, src[..., 0], src[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def posed_exemplar(image: np.ndarray, person: np.ndarray | None, keypoints: np.ndarray, target: np.ndarray,
                   plate: np.ndarray | None, stride: int = 2, grid: _TargetGrid | None = None) -> tuple[np.ndarray, np.ndarray]:
    """What the generator is shown of an exemplar, and where its person is: (the person of
    `image` (where `person`, an (H, W) uint8 mask 0-255, says) moved into the `target` pose and
    laid over the background plate, (H, W) float32 alpha in [0, 1]). Only what lands near the
    target's body is kept (a foot of the exemplar where the target has none is dropped, not
    copied as a ghost). Without a plate or a mask: the whole image moved (the room bends
    around the limbs) and the alpha is the body's neighbourhood. stride: the warp is computed
    every `stride` pixels and interpolated (the maps are smooth; 4 costs a quarter of 2)."""
    import cv2

    h, w = image.shape[:2]
    maps = _warp_map(h, w, np.asarray(keypoints, np.float64), np.asarray(target, np.float64), stride, grid)
    if maps is None:  # no body to pose to: nothing of the exemplar is shown
        if plate is None:
            return np.array(image, copy=True), np.zeros((h, w), np.float32)
        return np.array(plate, copy=True), np.zeros((h, w), np.float32)
    src, support = maps

    def move(a):
        return cv2.remap(a, src[..., 0], src[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    if plate is None or person is None:
        return move(image), support
    moved = move(np.dstack([image, person]))
    a = moved[..., 3].astype(np.float32) / 255.0 * support
    return (moved[..., :3] * a[..., None] + plate * (1.0 - a[..., None]) + 0.5).astype(np.uint8), a


def posed_blend(images: list[np.ndarray], persons: list[np.ndarray | None], keypoints: list[np.ndarray],
                target: np.ndarray, plate: np.ndarray | None, stride: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Several exemplars (images, their person masks and keypoints), each posed as `target` by
    `posed_exemplar`, fused: the per-pixel median of the pictures and of the alphas (the mean
    of two; one as it is). The median keeps edges where most exemplars agree, and drops what
    only one of them shows. The head is then taken whole from the nearest exemplar, moved by
    whole pixels (`_moved_head`): a face is rigid, and one sharp face beats a median of several."""
    grid = _TargetGrid(images[0].shape[0], images[0].shape[1], target, stride) if len(images) > 1 else None
    posed = [posed_exemplar(im, m, kp, target, plate, stride, grid) for im, m, kp in zip(images, persons, keypoints)]
    if len(posed) == 1:
        pic, alpha = posed[0]
    else:
        pic, alpha = _median([p for p, _ in posed]), _median([a for _, a in posed])
    if plate is not None and persons[0] is not None:
        pic, alpha = _moved_head(pic, alpha, images[0], persons[0], keypoints[0], target, plate)
    return (pic if pic.dtype == np.uint8 else (pic + 0.5).astype(np.uint8)), alpha


HEAD_JOINTS = (Joint.NOSE, Joint.R_EYE, Joint.L_EYE, Joint.R_EAR, Joint.L_EAR)
HEAD_RADIUS = 0.1  # body heights: the disc around the head taken whole from the nearest exemplar
HEAD_FEATHER = 0.3  # of the radius: the disc's soft rim


def _moved_head(pic: np.ndarray, alpha: np.ndarray, image: np.ndarray, person: np.ndarray, keypoints: np.ndarray,
                target: np.ndarray, plate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The posed picture with its head replaced by the nearest exemplar's, moved by whole pixels
    onto the target's head (no rotation, no resampling) over a feathered disc. The part-wise
    warp resamples the face and the median mixes several faces: eyes and mouth go soft and the
    hair turns wall-grey where the exemplars' hair disagrees. On the demo this raised the posed
    exemplar's face SSIM from 0.697 to 0.710 (and the trained model's from 0.700 to 0.712).
    `pic` and `alpha` (float32) are posed_blend's own arrays: they are changed in place."""
    e, t = np.asarray(keypoints, np.float64), np.asarray(target, np.float64)
    j = list(HEAD_JOINTS)
    ok = (e[j, 2] > 0) & (t[j, 2] > 0)
    bh = body_height(t[None])[0]
    if ok.sum() < 2 or not np.isfinite(bh) or bh <= 0:
        return pic, alpha
    centre = t[j][ok, :2].mean(0)
    dx, dy = np.round(centre - e[j][ok, :2].mean(0)).astype(int)
    # only the disc's box changes: the rest of the picture is left as it is
    h, w = pic.shape[:2]
    rad = HEAD_RADIUS * bh
    x0, y0 = max(int(np.floor(centre[0] - rad)), 0), max(int(np.floor(centre[1] - rad)), 0)
    x1, y1 = min(int(np.ceil(centre[0] + rad)) + 1, w), min(int(np.ceil(centre[1] + rad)) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return pic, alpha
    yy, xx = np.mgrid[y0:y1, x0:x1]
    wgt = np.clip((1.0 - np.hypot(xx - centre[0], yy - centre[1]) / rad) / HEAD_FEATHER, 0, 1).astype(np.float32)
    sy, sx = yy - dy, xx - dx  # where each pixel comes from in the exemplar
    inside = (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)
    sy, sx = np.clip(sy, 0, h - 1), np.clip(sx, 0, w - 1)
    a = person[sy, sx].astype(np.float32) / 255.0 * inside  # no person beyond the exemplar's edge
    moved = a[..., None] * image[sy, sx] + (1 - a[..., None]) * plate[y0:y1, x0:x1]
    box = (slice(y0, y1), slice(x0, x1))
    mixed = wgt[..., None] * moved + (1 - wgt[..., None]) * pic[box]
    pic[box] = (mixed + 0.5).astype(np.uint8) if pic.dtype == np.uint8 else mixed
    alpha[box] = wgt * a + (1 - wgt) * alpha[box]
    return pic, alpha


def _median(arrays: list[np.ndarray]) -> np.ndarray:
    """The element-wise median of a few equal-shaped arrays (the mean of the middle two for an
    even count), float32: as np.median over a stack, but by an odd-even transposition sort of
    whole arrays (min/max in place of compare-and-swap), about 10x faster for 3-7 images."""
    x = list(arrays)
    n = len(x)
    for r in range(n):
        for i in range(r % 2, n - 1, 2):
            x[i], x[i + 1] = np.minimum(x[i], x[i + 1]), np.maximum(x[i], x[i + 1])
    if n % 2:
        return x[n // 2].astype(np.float32)
    return (x[n // 2 - 1].astype(np.float32) + x[n // 2].astype(np.float32)) * np.float32(0.5)


def _signed_distance(hull: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Signed distance (positive inside) of points p (N, 2) to a convex polygon, vectorized."""
    poly = hull.reshape(-1, 2).astype(np.float64)
    d = np.full(len(p), np.inf)
    inside = np.ones(len(p), bool)
    area = 0.5 * np.sum(poly[:, 0] * np.roll(poly[:, 1], -1) - np.roll(poly[:, 0], -1) * poly[:, 1])
    sign = 1.0 if area >= 0 else -1.0
    for i in range(len(poly)):
        a, b = poly[i], poly[(i + 1) % len(poly)]
        v = b - a
        q = p - a
        k = np.clip((q @ v) / max(v @ v, 1e-9), 0, 1)
        d = np.minimum(d, np.hypot(*(q - k[:, None] * v[None]).T))
        inside &= sign * (v[0] * q[:, 1] - v[1] * q[:, 0]) >= 0
    return np.where(inside, d, -d)
