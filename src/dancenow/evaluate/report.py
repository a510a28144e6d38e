"""The evaluation result (`EvalReport`) and its outputs: a printed table, JSON, and a markdown
summary with a grid image of the worst and best frames by SSIM (reference | generated)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dancenow.atomic import atomic_file, write_json
from dancenow.evaluate.posedist import PoseDistance
from dancenow.images import write_image

GRID_MIN_HEIGHT = 192  # pixels: smaller frames are enlarged (nearest neighbour) in the grid

# "Everybody Dance Now" (Chan et al. 2019), Table 1, full model, 1024x512 self-transfer.
PAPER = {
    "ssim": 0.898, "lpips": 0.031, "face_ssim": 0.830, "face_lpips": 0.033,
    "pose_px_at_512_high": {"body": 2.57, "face": 0.92, "hands": 3.30},
}


@dataclass(frozen=True)
class FrameScores:
    """Per-frame metrics, (T,) float64 arrays; NaN where a metric was not computed for a frame
    (no face found, LPIPS unavailable). PSNR is inf for identical frames."""

    ssim: np.ndarray
    psnr: np.ndarray
    lpips: np.ndarray
    face_ssim: np.ndarray
    face_psnr: np.ndarray
    face_lpips: np.ndarray
    person_ssim: np.ndarray
    person_psnr: np.ndarray
    person_lpips: np.ndarray


@dataclass(frozen=True)
class ExampleFrame:
    """One frame kept for the grid: index, its SSIM, the (downscaled) RGB uint8 images, and the
    face crop's box in the downscaled images' pixels (None when no face was found)."""

    index: int
    ssim: float
    reference: np.ndarray = field(repr=False)
    generated: np.ndarray = field(repr=False)
    face: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1


@dataclass(frozen=True)
class EvalReport:
    """Metrics of generated frames against reference frames.

    Whole-frame, person's-box and face-crop metrics are means over frames (person and face: over
    the frames where the box was found, `person_frames`, `face_frames`; dancenow.evaluate.regions). SSIM in [-1, 1] (higher is better), PSNR in dB (higher is
    better), LPIPS >= 0 (lower is better; None with `lpips_unavailable` saying why). `pose` is
    None with `pose_unavailable` saying why. `seconds` is the wall time of the whole evaluation;
    `generation_fps` the generator's own rate (model evaluation only).
    """

    frames: int
    width: int
    height: int
    fps: float
    ssim: float
    psnr: float
    lpips: float | None
    face_ssim: float | None
    face_psnr: float | None
    face_lpips: float | None
    face_frames: int
    face_side: int
    lpips_net: str | None
    lpips_unavailable: str | None
    pose: PoseDistance | None
    pose_unavailable: str | None
    seconds: float
    generation_fps: float | None
    source: dict[str, Any]
    per_frame: FrameScores = field(repr=False)
    person_ssim: float | None = None
    person_psnr: float | None = None
    person_lpips: float | None = None
    person_frames: int = 0
    worst: tuple[ExampleFrame, ...] = field(default=(), repr=False)
    best: tuple[ExampleFrame, ...] = field(default=(), repr=False)

    @property
    def eval_fps(self) -> float:
        """Frames evaluated per second of wall time (everything included)."""
        return self.frames / self.seconds if self.seconds > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        pf = self.per_frame
        return {
            "source": self.source,
            "frames": self.frames,
            "frame_size": [self.width, self.height],
            "fps": self.fps,
            "whole_frame": {"ssim": _num(self.ssim), "psnr_db": _num(self.psnr), "lpips": _num(self.lpips)},
            "person": {"ssim": _num(self.person_ssim), "psnr_db": _num(self.person_psnr), "lpips": _num(self.person_lpips),
                       "frames_with_person": self.person_frames},
            "face": {"ssim": _num(self.face_ssim), "psnr_db": _num(self.face_psnr), "lpips": _num(self.face_lpips),
                     "frames_with_face": self.face_frames, "crop_side_px": self.face_side},
            "lpips_net": self.lpips_net,
            "lpips_unavailable": self.lpips_unavailable,
            "pose_distance": self.pose.to_dict() if self.pose else None,
            "pose_unavailable": self.pose_unavailable,
            "seconds": round(self.seconds, 3),
            "eval_fps": _num(self.eval_fps),
            "generation_fps": _num(self.generation_fps),
            "paper_full_model_1024x512": PAPER,
            "per_frame": {
                "ssim": [_num(v) for v in pf.ssim], "psnr_db": [_num(v) for v in pf.psnr],
                "lpips": [_num(v) for v in pf.lpips], "face_ssim": [_num(v) for v in pf.face_ssim],
                "face_psnr_db": [_num(v) for v in pf.face_psnr], "face_lpips": [_num(v) for v in pf.face_lpips],
                "person_ssim": [_num(v) for v in pf.person_ssim], "person_psnr_db": [_num(v) for v in pf.person_psnr],
                "person_lpips": [_num(v) for v in pf.person_lpips],
            },
        }

    def table(self) -> str:
        """A plain-text table of the headline figures beside the paper's."""
        rows = [("metric", "whole frame", "person", "face", "paper (frame / face)")]
        rows.append(("SSIM", _f(self.ssim), _f(self.person_ssim), _f(self.face_ssim), f"{PAPER['ssim']} / {PAPER['face_ssim']}"))
        rows.append(("PSNR dB", _f(self.psnr, 2), _f(self.person_psnr, 2), _f(self.face_psnr, 2), "-"))
        rows.append(("LPIPS", _f(self.lpips), _f(self.person_lpips), _f(self.face_lpips), f"{PAPER['lpips']} / {PAPER['face_lpips']}"))
        lines = _grid_text(rows)
        if self.lpips_unavailable:
            lines.append(f"LPIPS unavailable: {self.lpips_unavailable}")
        lines.append(f"person's box found in {self.person_frames}/{self.frames} frames; "
                     f"face crop: {self.face_side} px square, found in {self.face_frames}/{self.frames} frames")
        if self.pose is not None:
            at512 = self.pose.at_height(512)
            prow = [("pose", "px", "px @512 high", "paper @512", "missed kp/img", "part missed")]
            for name, p in self.pose.parts.items():
                prow.append((name, _f(p.mean_px, 2), _f(at512[name], 2), str(PAPER["pose_px_at_512_high"][name]),
                             _f(p.missed_per_image, 2), _f(p.part_missed_rate, 3)))
            lines.append("")
            lines += _grid_text(prow)
            lines.append(f"pose distances in pixels of {self.pose.width}x{self.pose.height} frames")
        elif self.pose_unavailable:
            lines.append(f"pose distance unavailable: {self.pose_unavailable}")
        speed = f"{self.frames} frames {self.width}x{self.height} in {self.seconds:.1f} s ({self.eval_fps:.2f} frames/s evaluated"
        if self.generation_fps is not None:
            speed += f", {self.generation_fps:.2f} frames/s generated"
        lines.append(speed + ")")
        return "\n".join(lines)


def _num(v: float | None) -> float | str | None:
    """JSON-safe numbers: NaN/None (not computed) -> null, inf (identical frames' PSNR) -> "inf"."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return float(v)


def _f(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.{digits}f}"


def _grid_text(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def example_grid(report: EvalReport) -> np.ndarray | None:
    """An RGB uint8 image: one row per kept frame (worst first, then best), each row
    reference | generated, captioned with the frame index and SSIM. None without examples."""
    from dancenow.render import caption

    rows = []
    for label, examples in (("worst", report.worst), ("best", report.best)):
        for ex in examples:
            ref, gen = ex.reference.copy(), ex.generated.copy()
            if ex.face is not None:  # where the face metrics were measured
                for img in (ref, gen):
                    cv2.rectangle(img, ex.face[:2], (ex.face[2] - 1, ex.face[3] - 1), (255, 255, 0), 1)
            # Tiny model frames (64 px) are enlarged so that they and their captions can be read.
            k = max(1, -(-GRID_MIN_HEIGHT // ref.shape[0]))
            if k > 1:
                ref = cv2.resize(ref, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)
                gen = cv2.resize(gen, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)
            ref = caption(ref, f"{label}: frame {ex.index} reference")
            gen = caption(gen, f"generated  SSIM {ex.ssim:.3f}")
            sep = np.full((ref.shape[0], 4, 3), 255, np.uint8)
            rows.append(np.concatenate([ref, sep, gen], axis=1))
    if not rows:
        return None
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, axis=0)


def thumbnail(img: np.ndarray, max_height: int = 256) -> tuple[np.ndarray, float]:
    """A copy of an RGB image no taller than max_height pixels (area-averaged), and the scale
    applied (thumbnail pixels per image pixel)."""
    h, w = img.shape[:2]
    if h <= max_height:
        return np.ascontiguousarray(img).copy(), 1.0
    s = max_height / h
    return cv2.resize(img, (max(1, round(w * s)), max_height), interpolation=cv2.INTER_AREA), s


def markdown(report: EvalReport, grid_name: str | None) -> str:
    """The markdown summary: source, the table, and the worst/best grid."""
    src = ", ".join(f"{k}: `{v}`" for k, v in report.source.items())
    parts = ["# Evaluation", "", src, "", "```", report.table(), "```", ""]
    parts.append("Paper figures: \"Everybody Dance Now\" (Chan et al. 2019), Table 1, full model, "
                 "self-transfer at 1024x512.")
    if grid_name:
        parts += ["", "## Worst and best frames by SSIM (reference | generated)", "",
                  ", ".join(f"worst frame {e.index}: SSIM {e.ssim:.3f}" for e in report.worst), "",
                  ", ".join(f"best frame {e.index}: SSIM {e.ssim:.3f}" for e in report.best), "",
                  f"![worst and best frames]({grid_name})"]
    return "\n".join(parts) + "\n"


def write_report(report: EvalReport, path: str | os.PathLike) -> dict[str, Path]:
    """Write `path` (JSON), and beside it `<stem>.md` and `<stem>_frames.png` (the grid, when
    there are examples). Returns the paths written, by kind ('json', 'markdown', 'grid')."""
    path = Path(path)
    out: dict[str, Path] = {}
    grid = example_grid(report)
    grid_path = path.with_name(f"{path.stem}_frames.png")
    if grid is not None:
        out["grid"] = write_image(grid_path, grid)
    write_json(path, report.to_dict(), indent=2, end="\n", allow_nan=False)
    out["json"] = path
    md_path = path.with_name(f"{path.stem}.md")
    with atomic_file(md_path) as tmp:
        tmp.write_text(markdown(report, grid_path.name if grid is not None else None))
    out["markdown"] = md_path
    return out
