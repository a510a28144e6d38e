"""Evaluation runs: score generated frames against reference frames, streaming.

`evaluate_videos` compares any two videos frame by frame (e.g. another tool's output against
the real video); `evaluate_model` (in `dancenow.evaluate.model_eval`) generates held-out frames
with a trained model first. Both go through `evaluate_pairs`, which reads each pair once:
  1. whole-frame SSIM, PSNR (and LPIPS when its weights are on this machine);
  2. the same on the person's box and on the face crop, placed from the reference pose of that
     frame (dancenow.evaluate.regions);
  3. the generated frame is passed on to the pose detector (when pose distance is asked for),
     whose keypoints are compared with the reference poses at the end;
  4. the k worst and best frames by SSIM are kept (as thumbnails) for the report's grid.
Memory stays flat: only the current pair and the kept thumbnails are held.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from dancenow.errors import DancenowError
from dancenow.evaluate.metrics import SSIM_WINDOW, psnr, ssim
from dancenow.evaluate.perceptual import MIN_SIDE, LpipsNet, LpipsUnavailable, load_lpips
from dancenow.evaluate.posedist import detect_pose_distance
from dancenow.evaluate.regions import FACE_FRACTION, PERSON_MARGIN, Box, face_box, person_box
from dancenow.evaluate.report import EvalReport, ExampleFrame, FrameScores, thumbnail
from dancenow.keypoints import PoseSequence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalConfig:
    """What to compute.

    lpips: compute LPIPS (reported unavailable, with the reason, when its weights are absent).
    lpips_net: backbone, "alex" (lpips' default, the usual choice for reported figures) or "vgg".
    lpips_backbone, lpips_weights: local weight files (default: torchvision's cache and the
        installed lpips package; see dancenow.evaluate.perceptual).
    pose: run the pose detector on generated frames and report the pose distance.
    pose_config: a dancenow.pose.PoseConfig for the detector (None: its defaults, unsmoothed).
    face_fraction: side of the square face crop / frame height (1/4: the paper's 128 px at 512).
    person_margin: the person's box is the body keypoints' extent plus this x the body height.
    examples: how many worst and how many best frames (by SSIM) the grid shows.
    max_frames: evaluate only the first N frames (None: all).
    device: torch device for LPIPS.
    """

    lpips: bool = True
    lpips_net: LpipsNet = "alex"
    lpips_backbone: str | os.PathLike | None = None
    lpips_weights: str | os.PathLike | None = None
    pose: bool = True
    pose_config: Any = None
    face_fraction: float = FACE_FRACTION
    person_margin: float = PERSON_MARGIN
    examples: int = 3
    max_frames: int | None = None
    device: str = "cpu"


class _Scorer:
    """Accumulates per-frame metrics and the worst/best examples."""

    def __init__(self, config: EvalConfig, lpips_model, ref_poses: PoseSequence | None):
        self.config = config
        self.lpips = lpips_model
        self.ref_poses = ref_poses
        self.rows: list[tuple[float, ...]] = []  # ssim, psnr, lpips, face ssim, psnr, lpips, person ssim, psnr, lpips
        self.worst: list[tuple[float, int, ExampleFrame]] = []  # max-heap on SSIM via negation
        self.best: list[tuple[float, int, ExampleFrame]] = []  # min-heap on SSIM
        self.size: tuple[int, int] | None = None
        self.face_side = 0

    def add(self, gen: np.ndarray, ref: np.ndarray) -> None:
        i = len(self.rows)
        h, w = ref.shape[:2]
        if self.size is None:
            self.size = (w, h)
        s, p = ssim(gen, ref), psnr(gen, ref)
        lp = self.lpips.distance(gen, ref) if self.lpips is not None else math.nan
        fs = fp = fl = math.nan
        ps = pp = pl = math.nan
        box = None
        if self.ref_poses is not None:
            kp = self.ref_poses.keypoints[i]
            box = face_box(kp, (w, h), self.config.face_fraction, self.ref_poses.size)
            if box is not None:
                self.face_side = box.width
                fs, fp, fl = self._region(gen, ref, box)
            pbox = person_box(kp, (w, h), self.config.person_margin, self.ref_poses.size)
            if pbox is not None:
                ps, pp, pl = self._region(gen, ref, pbox)
        self.rows.append((s, p, lp, fs, fp, fl, ps, pp, pl))
        self._keep(i, s, gen, ref, box)

    def _region(self, gen: np.ndarray, ref: np.ndarray, box: Box) -> tuple[float, float, float]:
        """SSIM, PSNR, LPIPS on a box of both frames (NaN where the box is too small)."""
        s = p = lp = math.nan
        g, r = np.ascontiguousarray(box.crop(gen)), np.ascontiguousarray(box.crop(ref))
        if min(box.width, box.height) >= SSIM_WINDOW:
            s, p = ssim(g, r), psnr(g, r)
        if self.lpips is not None and min(box.width, box.height) >= MIN_SIDE[self.lpips.net_name]:
            lp = self.lpips.distance(g, r)
        return s, p, lp

    def _keep(self, i: int, s: float, gen: np.ndarray, ref: np.ndarray, box: Box | None) -> None:
        k = self.config.examples
        if k <= 0:
            return
        # Thumbnails are made only for frames that enter a heap.
        for heap, key in ((self.worst, -s), (self.best, s)):
            if len(heap) < k or key > heap[0][0]:
                tref, scale = thumbnail(ref)
                tgen, _ = thumbnail(gen)
                face = None if box is None else tuple(int(round(v * scale)) for v in (box.x0, box.y0, box.x1, box.y1))
                ex = ExampleFrame(i, s, tref, tgen, face)
                item = (key, i, ex)
                if len(heap) < k:
                    heapq.heappush(heap, item)
                else:
                    heapq.heapreplace(heap, item)

    def scores(self) -> FrameScores:
        a = np.array(self.rows, dtype=np.float64).reshape(-1, 9)
        return FrameScores(*(a[:, j].copy() for j in range(9)))

    def examples(self) -> tuple[tuple[ExampleFrame, ...], tuple[ExampleFrame, ...]]:
        worst = tuple(e for _, _, e in sorted(self.worst, key=lambda t: (t[2].ssim, t[1])))
        best = tuple(e for _, _, e in sorted(self.best, key=lambda t: (-t[2].ssim, t[1])))
        return worst, best


def _mean(values: np.ndarray) -> float | None:
    """Mean over the frames where the metric was computed (None when none was)."""
    v = values[~np.isnan(values)]
    return float(v.mean()) if len(v) else None


def _load_lpips(config: EvalConfig):
    if not config.lpips:
        return None, "not requested"
    try:
        return load_lpips(config.lpips_net, config.lpips_backbone, config.lpips_weights, config.device), None
    except LpipsUnavailable as e:
        log.info("LPIPS unavailable: %s", e)
        return None, str(e)


def evaluate_pairs(pairs: Iterable[tuple[np.ndarray, np.ndarray]], fps: float,
                   ref_poses: PoseSequence | None = None, config: EvalConfig = EvalConfig(),
                   total: int | None = None, progress: bool = True, source: dict[str, Any] | None = None,
                   pose_unavailable: str | None = None) -> EvalReport:
    """Score (generated, reference) RGB uint8 frame pairs, consumed once in order.

    ref_poses: the reference pose of each frame (any frame size of the same aspect ratio); it
        places the face crop and is what the detector's keypoints on generated frames are
        compared with. None: no face metrics and no pose distance (`pose_unavailable` says why).
    Raises DancenowError when a pair differs in size, or ref_poses and the pairs differ in count.
    """
    t0 = time.perf_counter()
    lpips_model, lpips_reason = _load_lpips(config)
    if ref_poses is not None and config.max_frames is not None:
        ref_poses = ref_poses.slice(0, config.max_frames)
    scorer = _Scorer(config, lpips_model, ref_poses)
    if config.max_frames is not None:
        pairs = itertools.islice(pairs, config.max_frames)
        total = min(total, config.max_frames) if total else config.max_frames

    def scored() -> Iterator[np.ndarray]:
        for gen, ref in pairs:
            if gen.shape != ref.shape:
                raise DancenowError(f"frame {len(scorer.rows)}: generated frame is {_wh(gen)} but the reference is {_wh(ref)}")
            if ref_poses is not None and len(scorer.rows) >= len(ref_poses):
                raise DancenowError(f"the reference poses have {len(ref_poses)} frames but there are more frame pairs")
            scorer.add(gen, ref)
            yield gen
        if ref_poses is not None and len(scorer.rows) != len(ref_poses):
            raise DancenowError(f"the reference poses have {len(ref_poses)} frames but there are {len(scorer.rows)} frame pairs")

    pose = None
    if ref_poses is None:
        pose_unavailable = pose_unavailable or "no reference poses"
    elif not config.pose:
        pose_unavailable = pose_unavailable or "not requested"
    if config.pose and ref_poses is not None:
        pose = detect_pose_distance(scored(), ref_poses, config.pose_config, progress=progress)
        pose_unavailable = None
    else:
        from tqdm import tqdm

        for _ in tqdm(scored(), total=total, unit="frame", desc="evaluate", disable=not progress):
            pass
    if not scorer.rows:
        raise DancenowError("no frames to evaluate")

    pf = scorer.scores()
    worst, best = scorer.examples()
    w, h = scorer.size
    face_frames = int((~np.isnan(pf.face_ssim)).sum())
    if lpips_model is not None and ref_poses is not None and face_frames and np.isnan(pf.face_lpips).all():
        lpips_reason = f"face crop of {scorer.face_side} px is below {MIN_SIDE[config.lpips_net]} px (face only)"
    return EvalReport(
        frames=len(scorer.rows), width=w, height=h, fps=float(fps),
        ssim=float(pf.ssim.mean()), psnr=float(pf.psnr.mean()), lpips=_mean(pf.lpips),
        face_ssim=_mean(pf.face_ssim), face_psnr=_mean(pf.face_psnr), face_lpips=_mean(pf.face_lpips),
        face_frames=face_frames, face_side=scorer.face_side,
        person_ssim=_mean(pf.person_ssim), person_psnr=_mean(pf.person_psnr), person_lpips=_mean(pf.person_lpips),
        person_frames=int((~np.isnan(pf.person_ssim)).sum()),
        lpips_net=config.lpips_net if lpips_model is not None else None, lpips_unavailable=lpips_reason,
        pose=pose, pose_unavailable=pose_unavailable,
        seconds=time.perf_counter() - t0, generation_fps=None, source=dict(source or {}),
        per_frame=pf, worst=worst, best=best,
    )


def _wh(img: np.ndarray) -> str:
    return f"{img.shape[1]}x{img.shape[0]}"


def _video_pairs(generated: Path, reference: Path) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Frame pairs of two videos; raises when one ends before the other (with both counts)."""
    from dancenow.video import read_frames

    gen_it, ref_it = read_frames(generated), read_frames(reference)
    n = 0
    for g, r in itertools.zip_longest(gen_it, ref_it):
        if g is None or r is None:
            longer, rest = (reference, ref_it) if g is None else (generated, gen_it)
            more = n + 1 + sum(1 for _ in rest)
            counts = (n, more) if g is None else (more, n)
            raise DancenowError(f"{generated} has {counts[0]} frames but {reference} has {counts[1]}: "
                                "a pair must have the same frames")
        yield g, r
        n += 1


def evaluate_videos(generated: str | os.PathLike, reference: str | os.PathLike,
                    poses: PoseSequence | None = None, config: EvalConfig = EvalConfig(),
                    progress: bool = True) -> EvalReport:
    """Compare a generated video with a reference video of the same frames (size and count).

    poses: the reference video's poses (for the face crop and the pose distance). None: they are
        detected on the reference video first (an extra pass) when `config.pose` is set;
        otherwise face metrics and pose distance are skipped.
    Raises DancenowError for an unreadable file, different frame sizes or counts.
    """
    from dancenow.video import probe

    generated, reference = Path(generated), Path(reference)
    gi, ri = probe(generated), probe(reference)
    if gi.size != ri.size:
        raise DancenowError(f"{generated} is {gi.width}x{gi.height} but {reference} is {ri.width}x{ri.height}: "
                            "a pair must have the same frame size")
    # Container frame counts can be estimates: refuse only a clear difference here; the exact
    # check happens while reading.
    if gi.frame_count and ri.frame_count and abs(gi.frame_count - ri.frame_count) > max(2, 0.01 * ri.frame_count):
        raise DancenowError(f"{generated} has {gi.frame_count} frames but {reference} has {ri.frame_count}: "
                            "a pair must have the same frames")
    if abs(gi.fps - ri.fps) > 0.01:
        log.warning("frame rates differ (%s: %.3f, %s: %.3f); comparing frame by frame", generated, gi.fps, reference, ri.fps)
    source: dict[str, Any] = {"generated": str(generated), "reference": str(reference)}
    pose_reason = None
    if poses is not None:
        if abs(poses.width / poses.height - ri.width / ri.height) > 0.01 * ri.width / ri.height:
            raise DancenowError(f"the poses' frame ({poses.width}x{poses.height}) and {reference} ({ri.width}x{ri.height}) differ in aspect ratio")
        source["poses"] = "given"
    elif config.pose:
        from dancenow.evaluate import posedist
        from dancenow.video import read_frames

        frames = read_frames(reference)
        if config.max_frames is not None:
            frames = itertools.islice(frames, config.max_frames)
        log.info("detecting the reference poses on %s", reference)
        poses = posedist.detect(frames, ri.fps, config.pose_config,
                                total=config.max_frames or ri.frame_count or None, progress=progress)
        source["poses"] = f"detected on {reference}"
    else:
        pose_reason = "no reference poses given and detection not requested"
    return evaluate_pairs(_video_pairs(generated, reference), ri.fps, poses, config,
                          total=ri.frame_count or None, progress=progress, source=source,
                          pose_unavailable=pose_reason)
