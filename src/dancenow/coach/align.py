"""Time alignment of an attempt to a reference by dynamic time warping (DTW).

The frame distance is the mean squared chord between the unit directions of the limbs
(`features.BONES`) present in both frames: 2 - 2 cos(angle between the bone directions),
0 for the same pose, 4 for every bone reversed, each bone weighted by how flat it lies in the
picture in both frames (a forearm pointing at the camera has a noisy 2D direction).
Directions, not positions, so a different body shape or distance from the camera costs nothing.

DTW runs inside a Sakoe-Chiba band (+-`band_seconds` around the straight line from the first
frame pair to the last, so recordings of different lengths are stretched evenly) and is
computed row by row in O(N * band) memory: within a row, the horizontal steps are a min-plus
prefix scan, D(j) = S(j) + cummin(A(j) - S(j)) with S the running sum of horizontal step costs,
which numpy vectorizes. Step patterns (Sakoe & Chiba 1978, as in the R `dtw` package):

  symmetric2  D(i,j) = min(D(i-1,j-1) + 2c, D(i-1,j) + c, D(i,j-1) + c); a diagonal step counts
              twice, so the total is normalized by N + M (the default, fair to both sequences).
  symmetric1  D(i,j) = c + min(D(i-1,j-1), D(i-1,j), D(i,j-1)).

`step_penalty` (in cost units) is added to every horizontal or vertical step: it prefers the
plain diagonal among equally good paths (a held pose otherwise lets the path wander) without
stopping real waiting or hurrying.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d
from tqdm import tqdm

from dancenow.coach.features import PoseFeatures
from dancenow.errors import DancenowError

log = logging.getLogger(__name__)

StepPattern = Literal["symmetric1", "symmetric2"]
NO_DATA_COST = 2.0  # frames sharing fewer than MIN_COMMON_BONES bones: as unlike as orthogonal limbs
MIN_COMMON_BONES = 3


@dataclass(frozen=True, eq=False)
class Alignment:
    """A monotone pairing of reference and attempt frames (both at `fps`).

    path: (K, 2) int, (reference frame, attempt frame) pairs from (0, 0) to (N-1, M-1).
    variant: (N,) int, per reference frame the attempt variant closer at its `warp` frame
        (0: as given; 1: its mirror image, only with a left/right-invariant comparison).
    offset_s: (N,) seconds, attempt time minus reference time at each reference frame
        (positive: the attempt is late), smoothed (a running median over `smooth_seconds`, then
        a running mean over half that): timing drifts slowly, while the raw path also bends
        for a few frames to explain away a pose error, which must not hide that error.
    raw_offset_s: (N,) the same before smoothing (mean of the matched attempt frames).
    warp: (N,) int, the attempt frame compared with each reference frame: the reference frame
        shifted by the smoothed offset, kept monotone and inside the attempt.
    median_offset_s: the median of raw_offset_s: the typical delay.
    distance: accumulated frame distance, normalized (per frame pair for symmetric1,
        per N + M for symmetric2).
    """

    path: np.ndarray
    variant: np.ndarray
    offset_s: np.ndarray
    raw_offset_s: np.ndarray
    median_offset_s: float
    distance: float
    fps: float
    warp: np.ndarray

    def matches(self, reference_frame: int) -> np.ndarray:
        """Attempt frames matched to one reference frame (at least one)."""
        return self.path[self.path[:, 0] == reference_frame, 1]


class _BoneCost:
    """Frame distances between one reference frame and a range of attempt frames (see module
    docstring), the minimum over the attempt's variants."""

    def __init__(self, ref: PoseFeatures, variants: Sequence[PoseFeatures]):
        def prep(f: PoseFeatures):
            ok = np.isfinite(f.bones[..., 0])
            # A bone seen end-on has a noisy direction: weight it by how flat it lies in the
            # picture (full weight from half its length up).
            w = np.where(ok, np.clip(np.nan_to_num(f.bone_ratio, nan=1.0) / 0.5, 0.05, 1.0), 0.0)
            dirs = np.where(ok[..., None], f.bones, 0.0) * w[..., None]
            return dirs.astype(np.float64), w.astype(np.float64), ok.astype(np.float64)

        self.r, self.rw, self.rm = prep(ref)
        self.v = [prep(f) for f in variants]

    @staticmethod
    def _cost(dots, wsum, count) -> np.ndarray:
        # sum_b w_r w_a (2 - 2 u_r.u_a) / sum_b w_r w_a, with the weights folded into the vectors
        with np.errstate(invalid="ignore", divide="ignore"):
            c = (2.0 * wsum - 2.0 * dots) / wsum
        return np.where((count >= MIN_COMMON_BONES) & (wsum > 0), np.maximum(c, 0.0), NO_DATA_COST)

    def row_all(self, i: int, lo: int, hi: int) -> np.ndarray:
        """(V, hi - lo + 1) distances of reference frame i to attempt frames lo..hi per variant."""
        out = []
        for a, aw, am in self.v:
            dots = np.einsum("wbk,bk->w", a[lo:hi + 1], self.r[i])
            out.append(self._cost(dots, aw[lo:hi + 1] @ self.rw[i], am[lo:hi + 1] @ self.rm[i]))
        return np.stack(out)

    def row(self, i: int, lo: int, hi: int) -> np.ndarray:
        return self.row_all(i, lo, hi).min(axis=0)

    def pairs(self, path: np.ndarray) -> np.ndarray:
        """(V, K) distances of the path's frame pairs for each variant."""
        out = []
        ri, ai = path[:, 0], path[:, 1]
        for a, aw, am in self.v:
            dots = np.einsum("kbc,kbc->k", a[ai], self.r[ri])
            out.append(self._cost(dots, (aw[ai] * self.rw[ri]).sum(-1), (am[ai] * self.rm[ri]).sum(-1)))
        return np.stack(out)


def _band(n: int, m: int, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Per reference row, the first and last attempt column inside the band."""
    slope = (m - 1) / (n - 1) if n > 1 else 0.0
    # a path can always cross from one row to the next only if the band is wider than the slope
    width = max(width, slope + 1.0, 1.0)
    centre = np.arange(n) * slope
    lo = np.clip(np.floor(centre - width), 0, m - 1).astype(int)
    hi = np.clip(np.ceil(centre + width), 0, m - 1).astype(int)
    lo[0], hi[-1] = 0, m - 1
    return lo, hi


def dtw(cost_row, n: int, m: int, band: float | None = None, step_pattern: StepPattern = "symmetric2",
        step_penalty: float = 0.0, progress: bool = False) -> tuple[np.ndarray, float]:
    """Banded DTW over an n x m cost grid given row by row.

    cost_row(i, lo, hi) -> (hi - lo + 1,) nonnegative costs of row i, columns lo..hi.
    band: half-width in frames around the line from (0, 0) to (n-1, m-1) (None: unbounded).
    Returns (path (K, 2) int from (0, 0) to (n-1, m-1), normalized distance).
    """
    if n < 1 or m < 1:
        raise DancenowError("cannot align an empty sequence")
    if step_pattern not in ("symmetric1", "symmetric2"):
        raise DancenowError(f"unknown step pattern {step_pattern!r}: use symmetric1 or symmetric2")
    lo, hi = _band(n, m, float(max(n, m)) if band is None else float(band))
    wd = 2.0 if step_pattern == "symmetric2" else 1.0  # weight of a diagonal step's cost
    p = float(step_penalty)
    D: list[np.ndarray] = []
    C: list[np.ndarray] = []
    rows = tqdm(range(n), desc="align", unit="frame", disable=not progress, leave=False)
    for i in rows:
        c = np.asarray(cost_row(i, lo[i], hi[i]), dtype=np.float64)
        cols = np.arange(lo[i], hi[i] + 1)
        if i == 0:
            a = np.full(len(cols), np.inf)
            a[0] = wd * c[0]  # column 0 is in row 0's band
        else:
            prev, plo, phi = D[-1], lo[i - 1], hi[i - 1]
            diag = np.full(len(cols), np.inf)
            vert = np.full(len(cols), np.inf)
            k = cols - 1
            ok = (k >= plo) & (k <= phi)
            diag[ok] = prev[k[ok] - plo]
            ok = (cols >= plo) & (cols <= phi)
            vert[ok] = prev[cols[ok] - plo]
            if wd == 2.0:
                a = np.minimum(diag + 2.0 * c, vert + c + p)
            else:
                a = np.minimum(diag, vert + p) + c
        s = np.cumsum(c + p)  # horizontal step costs, as a running sum
        D.append(s + np.minimum.accumulate(a - s))
        C.append(c)
    total = float(D[-1][-1])
    if not np.isfinite(total):
        raise DancenowError("time alignment failed: no path inside the band (widen band_seconds)")

    # Backtrack: at each cell, take the predecessor that produced its value (diagonal on ties).
    path = [(n - 1, m - 1)]
    i, j = n - 1, m - 1
    while i > 0 or j > 0:
        c = C[i][j - lo[i]]
        best, step = np.inf, None
        if i > 0 and lo[i - 1] <= j - 1 <= hi[i - 1]:
            v = D[i - 1][j - 1 - lo[i - 1]] + wd * c
            best, step = v, (i - 1, j - 1)
        if i > 0 and lo[i - 1] <= j <= hi[i - 1]:
            v = D[i - 1][j - lo[i - 1]] + c + p
            if v < best:
                best, step = v, (i - 1, j)
        if j - 1 >= lo[i]:
            v = D[i][j - 1 - lo[i]] + c + p
            if v < best:
                best, step = v, (i, j - 1)
        if step is None:  # cannot happen inside a connected band; guard against an endless loop
            raise DancenowError("time alignment failed while tracing the path back")
        i, j = step
        path.append(step)
    path_arr = np.array(path[::-1], dtype=np.int64)
    norm = (n + m) if wd == 2.0 else len(path_arr)
    return path_arr, total / norm


def align(reference: PoseFeatures, attempt: Sequence[PoseFeatures], band_seconds: float | None = 4.0,
          step_pattern: StepPattern = "symmetric2", step_penalty: float = 0.01,
          smooth_seconds: float = 1.0, progress: bool = False) -> Alignment:
    """Align the attempt to the reference (both at the same fps).

    attempt: one or more variants of the attempt's features (the same frames; e.g. the
    attempt and its mirror image for a left/right-invariant comparison); each frame pair costs
    the minimum over the variants.
    """
    if not attempt:
        raise DancenowError("no attempt features to align")
    fps = reference.fps
    if any(abs(a.fps - fps) > 1e-6 for a in attempt):
        raise DancenowError(f"reference ({fps:g} fps) and attempt ({attempt[0].fps:g} fps) must share a frame rate: resample first")
    n, m = len(reference), len(attempt[0])
    cost = _BoneCost(reference, attempt)
    band = None if band_seconds is None else band_seconds * fps
    path, distance = dtw(cost.row, n, m, band, step_pattern, step_penalty, progress=progress)
    # Offset at each reference frame: mean time of its matched attempt frames minus its own time.
    sums = np.bincount(path[:, 0], weights=path[:, 1], minlength=n)
    counts = np.bincount(path[:, 0], minlength=n)
    raw = (sums / counts - np.arange(n)) / fps
    win = int(round(smooth_seconds * fps))
    smooth = raw.copy()
    if win > 1:
        smooth = median_filter(smooth, size=win | 1, mode="nearest")
        smooth = uniform_filter1d(smooth, max(1, win // 2), mode="nearest")
    warp = np.clip(np.round(np.arange(n) + smooth * fps), 0, m - 1).astype(np.int64)
    warp = np.maximum.accumulate(warp)
    pairs = np.stack([np.arange(n), warp], axis=1)
    variant = cost.pairs(pairs).argmin(axis=0) if len(attempt) > 1 else np.zeros(n, np.int64)
    return Alignment(path, variant.astype(np.int64), smooth, raw, float(np.median(raw)), float(distance), fps, warp)
