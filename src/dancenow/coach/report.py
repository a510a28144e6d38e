"""The coach's report: one static HTML page (opens offline: images embedded as base64 PNG)
and the same findings as JSON for programs.

The page shows the overall score, scores per body part, joint and section, plain-language
tips, a timeline of the score and the timing offset, and the worst moments as reference and
attempt stills. In each still the person's own skeleton is drawn solid and the other one as
a "ghost" rebuilt on this person's body (this person's bone lengths, the other's limb
directions, from the same mid-hip), so the two skeletons differ exactly where the angles
differ, whatever the body shapes; the joints that differ are circled with the error in
degrees. Stills use video frames when the videos are given, stick figures on a dark
background otherwise.
"""

from __future__ import annotations

import html
import logging
import math
import os
from pathlib import Path

import cv2
import numpy as np

from dancenow.atomic import atomic_file, write_json
from dancenow.coach.features import ANGLES
from dancenow.coach.page import CANVAS, CSS, FrameSource, crop, crop_box, figure_png, grab_frames, img_tag, label, png
from dancenow.coach.score import CoachResult, Moment, format_clock
from dancenow.errors import DancenowError
from dancenow.keypoints import NUM_BODY, Joint, PoseSequence

log = logging.getLogger(__name__)


REF_COLOR = (66, 165, 245)  # RGB, blue
ATT_COLOR = (255, 152, 0)  # RGB, orange
BAD_COLOR = (244, 67, 54)  # RGB, red
STILL_SIZE = (300, 400)  # (w, h) of one still, pixels

J = Joint
# The body as a tree from the mid-hip (parent, child): what the ghost skeleton is rebuilt along.
TREE: tuple[tuple[int, int], ...] = (
    (J.MID_HIP, J.NECK), (J.NECK, J.NOSE),
    (J.NECK, J.R_SHOULDER), (J.R_SHOULDER, J.R_ELBOW), (J.R_ELBOW, J.R_WRIST),
    (J.NECK, J.L_SHOULDER), (J.L_SHOULDER, J.L_ELBOW), (J.L_ELBOW, J.L_WRIST),
    (J.MID_HIP, J.R_HIP), (J.R_HIP, J.R_KNEE), (J.R_KNEE, J.R_ANKLE),
    (J.MID_HIP, J.L_HIP), (J.L_HIP, J.L_KNEE), (J.L_KNEE, J.L_ANKLE),
)


# ----------------------------------------------------------------------------- skeletons

def body_points(kp: np.ndarray, min_conf: float) -> np.ndarray:
    """(25, 3) body keypoints with a mid-hip filled in from the hips, missing below min_conf."""
    b = np.array(kp[:NUM_BODY], np.float64)
    b[b[:, 2] < max(min_conf, 1e-6)] = 0.0
    if b[J.MID_HIP, 2] <= 0 and b[J.R_HIP, 2] > 0 and b[J.L_HIP, 2] > 0:
        b[J.MID_HIP] = [*(0.5 * (b[J.R_HIP, :2] + b[J.L_HIP, :2])), min(b[J.R_HIP, 2], b[J.L_HIP, 2])]
    return b


def retarget(base: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The `other` pose rebuilt on the `base` body: (25, 3) keypoints in `base`'s pixels with
    base's bone lengths and other's bone directions along `TREE`, rooted at base's mid-hip.
    A bone missing in either pose leaves its subtree missing."""
    out = np.zeros_like(base)
    if base[J.MID_HIP, 2] <= 0:
        return out
    out[J.MID_HIP] = base[J.MID_HIP]
    for a, b in TREE:
        if out[a, 2] <= 0 or min(base[a, 2], base[b, 2], other[a, 2], other[b, 2]) <= 0:
            continue
        d = other[b, :2] - other[a, :2]
        n = np.linalg.norm(d)
        if n < 1e-6:
            continue
        length = np.linalg.norm(base[b, :2] - base[a, :2])
        out[b, :2] = out[a, :2] + d / n * length
        out[b, 2] = 1.0
    return out


def draw_tree(img: np.ndarray, kp: np.ndarray, color, thickness: int, outline: bool) -> None:
    for a, b in TREE:
        if kp[a, 2] > 0 and kp[b, 2] > 0:
            pa = tuple(int(round(v)) for v in kp[a, :2])
            pb = tuple(int(round(v)) for v in kp[b, :2])
            if outline:  # a dark edge keeps the line visible on any video frame
                cv2.line(img, pa, pb, (0, 0, 0), thickness + 2, cv2.LINE_AA)
            cv2.line(img, pa, pb, color, thickness, cv2.LINE_AA)
    for k in {a for a, _ in TREE} | {b for _, b in TREE}:
        if kp[k, 2] > 0:
            cv2.circle(img, tuple(int(round(v)) for v in kp[k, :2]), max(2, thickness), color, -1, cv2.LINE_AA)


def _mirror_frame_kp(kp: np.ndarray, seq: PoseSequence) -> np.ndarray:
    return PoseSequence(kp[None], seq.fps, seq.width, seq.height).mirrored().keypoints[0]


def render_still(frame: np.ndarray | None, own: np.ndarray, other: np.ndarray, size: tuple[int, int],
                 own_color, other_color, bad: dict[int, float], title: str) -> np.ndarray:
    """One still (STILL_SIZE, RGB uint8): `own` (25, 3) body keypoints in pixels of a frame of
    `size` (w, h) drawn solid, `other` rebuilt on own's body as a thin ghost, the joints in
    `bad` (joint index -> error in degrees) circled. `frame`: the video frame (any size; the
    keypoints are scaled to it) or None for a dark canvas."""
    if frame is None:
        img = np.empty((size[1], size[0], 3), np.uint8)
        img[:] = CANVAS
        sx = sy = 1.0
    else:
        img = np.ascontiguousarray(frame).copy()
        sx, sy = img.shape[1] / size[0], img.shape[0] / size[1]
    s = np.array([sx, sy, 1.0])
    own = own * s
    ghost = retarget(own, other * s)
    pts = np.concatenate([own[own[:, 2] > 0, :2], ghost[ghost[:, 2] > 0, :2]])
    box = crop_box(pts, img.shape[1], img.shape[0], STILL_SIZE)
    # line widths follow the crop so every still looks alike after resizing
    unit = max(1.0, (box[3] - box[1]) / STILL_SIZE[1])
    # the ghost first: where the poses agree the solid skeleton covers it, so only the
    # differences show
    draw_tree(img, ghost, other_color, max(1, int(round(2 * unit))), frame is not None)
    draw_tree(img, own, own_color, max(2, int(round(4 * unit))), frame is not None)
    for k, err in bad.items():
        if own[k, 2] > 0:
            p = tuple(int(round(v)) for v in own[k, :2])
            cv2.circle(img, p, int(round(14 * unit)), BAD_COLOR, max(2, int(round(3 * unit))), cv2.LINE_AA)
    out = cv2.resize(crop(img, box), STILL_SIZE, interpolation=cv2.INTER_AREA)
    # labels after resizing, so text has one size
    fx, fy = STILL_SIZE[0] / (box[2] - box[0]), STILL_SIZE[1] / (box[3] - box[1])
    for k, err in bad.items():
        if own[k, 2] > 0:
            p = (int(round((own[k, 0] - box[0]) * fx)) + 12, int(round((own[k, 1] - box[1]) * fy)) - 8)
            label(out, f"{abs(err):.0f} deg", p, BAD_COLOR, 0.45)
    label(out, title, (6, 18), (255, 255, 255), 0.5)
    return out


# ----------------------------------------------------------------------------- frames

def _source_index(t: float, fps: float) -> int:
    return max(0, int(round(t * fps)))


def moment_stills(result: CoachResult, moment: Moment, ref_frame: np.ndarray | None,
                  att_frame: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The (reference, attempt) stills of one moment; the attempt (frame and keypoints) is
    shown mirrored when it was compared mirrored (mirror mode or a left/right swap)."""
    cfg = result.config
    ref_seq, att_seq = result.reference, result.attempt
    ref_kp = body_points(ref_seq.keypoints[moment.reference_frame], cfg.min_confidence)
    att_kp_full = att_seq.keypoints[moment.attempt_frame]
    if moment.swapped:
        att_kp_full = _mirror_frame_kp(att_kp_full, att_seq)
    att_kp = body_points(att_kp_full, cfg.min_confidence)
    if att_frame is not None and (cfg.mirror ^ moment.swapped):
        att_frame = att_frame[:, ::-1]
    vertex = {d.name: int(d.vertex) for d in ANGLES}
    bad = {vertex[e.joint]: e.error_deg for e in moment.errors if e.differs}
    shown_mirrored = cfg.mirror ^ moment.swapped
    ref_still = render_still(ref_frame, ref_kp, att_kp, ref_seq.size, REF_COLOR, ATT_COLOR, bad,
                             f"reference {format_clock(moment.reference_time_s)}")
    att_title = f"attempt {format_clock(moment.attempt_time_s)}" + (" (mirrored)" if shown_mirrored else "")
    att_still = render_still(att_frame, att_kp, ref_kp, att_seq.size, ATT_COLOR, REF_COLOR,
                             bad, att_title)
    return ref_still, att_still


# ----------------------------------------------------------------------------- plot

def timeline_png(result: CoachResult) -> bytes:
    """The timeline plot as PNG bytes: score over time (sections shaded, worst moments
    numbered) above the timing offset over time."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    t = result.times_s
    fig = Figure(figsize=(11, 5.2), dpi=100)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    fs = result.frame_scores
    win = max(1, int(round(0.5 * result.fps)))
    ok = np.isfinite(fs)
    ker = np.ones(win) / win
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = np.convolve(np.where(ok, fs, 0), ker, "same") / np.convolve(ok.astype(float), ker, "same")
    smooth[~ok] = np.nan
    for k, s in enumerate(result.sections):
        if k % 2:
            ax1.axvspan(s.start_s, s.end_s, color="0.93", zorder=0)
            ax2.axvspan(s.start_s, s.end_s, color="0.93", zorder=0)
        if math.isfinite(s.score):
            ax1.text(0.5 * (s.start_s + s.end_s), 3, f"{s.score:.0f}", ha="center", va="bottom", fontsize=9, color="0.35")
    ax1.plot(t, fs, color="#90caf9", lw=0.8, label="per frame")
    ax1.plot(t, smooth, color="#1565c0", lw=2, label="0.5 s average")
    for k, m in enumerate(result.worst_moments, 1):
        ax1.plot([m.reference_time_s], [m.score], "o", color="#d32f2f", ms=9)
        ax1.annotate(str(k), (m.reference_time_s, m.score), textcoords="offset points", xytext=(0, -16),
                     ha="center", color="#d32f2f", fontweight="bold")
    ax1.set_ylim(0, 105)
    ax1.set_ylabel("score")
    ax1.set_title(f"Score {result.score:.0f}/100 over the reference's timeline (grey numbers: section scores)", fontsize=11)
    ax1.legend(loc="lower right", fontsize=8)
    ax1.grid(alpha=0.3)
    ax2.plot(t, result.alignment.raw_offset_s, color="#ffcc80", lw=0.8, label="raw")
    ax2.plot(t, result.offset_s, color="#ef6c00", lw=2, label="smoothed")
    ax2.axhline(result.median_offset_s, color="0.4", ls="--", lw=1, label=f"typical {result.median_offset_s:+.2f} s")
    ax2.axhline(0, color="0.6", lw=0.8)
    ax2.set_ylabel("timing offset (s)\n+ late, - early")
    ax2.set_xlabel("reference time (s)")
    ax2.legend(loc="upper right", fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return figure_png(fig)


# ----------------------------------------------------------------------------- html

def _fmt(v: float) -> str:
    return "-" if not math.isfinite(v) else f"{v:.0f}"


def _score_class(v: float) -> str:
    if not math.isfinite(v):
        return "na"
    return "good" if v >= 85 else "ok" if v >= 65 else "bad"


_CSS = CSS + """
.moments{display:flex;flex-direction:column;gap:18px} .moment{display:flex;gap:12px;align-items:flex-start;flex-wrap:wrap}
.moment img{border-radius:4px;border:1px solid #ccc} .moment ul{margin:4px 0;padding-left:18px;font-size:14px}
.key span{display:inline-block;width:22px;height:4px;vertical-align:middle;margin:0 4px 0 12px}
"""


def _error_item(x) -> str:
    name = html.escape(x.learner_joint.replace("_", " "))
    if x.measure == "depth":
        return (f"<li>{name}: the limb turns {x.reference_deg:.0f}&deg; out of the picture in the reference, "
                f"{x.attempt_deg:.0f}&deg; in yours (toward or away from the camera)</li>")
    return (f"<li>{name}: reference {x.reference_deg:.0f}&deg;, you {x.attempt_deg:.0f}&deg; "
            f"(off by {abs(x.error_deg):.0f}&deg;)</li>")


def _html(result: CoachResult, plot: bytes, stills: list[tuple[Moment, bytes, bytes]]) -> str:
    r = result
    cfg = r.config
    mode = []
    if cfg.mirror:
        mode.append("mirror mode (the attempt is compared as a mirror image)")
    if cfg.lr_invariant:
        mode.append(f"left/right-invariant ({100 * r.swapped.mean():.0f}% of the time matched with sides swapped)")
    e = html.escape
    parts = "".join(f'<tr><td>{e(p.replace("_", " "))}</td><td class="{_score_class(v)}">{_fmt(v)}</td></tr>'
                    for p, v in r.part_scores.items())
    joints = "".join(f'<tr><td>{e(j.replace("_", " "))}</td><td class="{_score_class(v)}">{_fmt(v)}</td></tr>'
                     for j, v in r.joint_scores.items())
    sections = "".join(
        f'<tr><td>{e(s.name)}</td><td class="{_score_class(s.score)}">{_fmt(s.score)}</td>'
        f'<td>{"-" if not math.isfinite(s.offset_s) else f"{s.offset_s:+.2f} s"}</td></tr>' for s in r.sections)
    tips = "".join(f"<li>{e(t.text)}</li>" for t in r.tips) or "<li>Nothing to correct: well done.</li>"
    moments = []
    for k, (m, ref_png, att_png) in enumerate(stills, 1):
        items = "".join(_error_item(x) for x in m.errors if x.differs) or "<li>small differences only</li>"
        moments.append(
            f'<div class="moment">{img_tag(ref_png, f"reference at {m.reference_time_s:.2f} s")}'
            f'{img_tag(att_png, f"attempt at {m.attempt_time_s:.2f} s")}<div><b>{k}. at {format_clock(m.reference_time_s)}'
            f" ({m.reference_time_s:.2f} s; your video {m.attempt_time_s:.2f} s): score {m.score:.0f}</b><ul>{items}</ul></div></div>")
    moments_html = "".join(moments) or "<p>No moment lost points.</p>"
    late = r.median_offset_s
    timing = (f"Typical timing: {abs(late):.2f} s {'behind' if late > 0 else 'ahead of'} the reference."
              if abs(late) >= 0.5 / r.fps else "Typical timing: in step with the reference.")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dancenow coach report: {r.score:.0f}/100</title>
<style>{_CSS}</style></head><body>
<h1>Dance coach report</h1>
<p class="muted">{e("; ".join(mode) or "standard comparison")}. Poses compared at {r.fps:g} fps; reference {len(r.frame_scores) / r.fps:.1f} s, attempt {len(r.attempt) / r.fps:.1f} s.</p>
<div class="top"><div class="big {_score_class(r.score)}">{r.score:.0f}<small>/100</small></div>
<table><tr><th>body part</th><th>score</th></tr>{parts}</table>
<table><tr><th>joint</th><th>score</th></tr>{joints}</table>
<table><tr><th>section</th><th>score</th><th>offset</th></tr>{sections}</table></div>
<p>{e(timing)} Scores count the pose only: being late or early does not cost points.</p>
<h2>Tips</h2><ol class="tips">{tips}</ol>
<h2>Timeline</h2>{img_tag(plot, "score and timing offset over time", "plot")}
<h2>Worst moments</h2>
<p class="key">Solid: the person in the picture.<span style="background:rgb{REF_COLOR}"></span>reference
<span style="background:rgb{ATT_COLOR}"></span>attempt (thin: the other pose rebuilt on this body)
<span style="background:rgb{BAD_COLOR}"></span>joints that differ</p>
<div class="moments">{moments_html}</div>
<p class="muted">Angles are measured in the picture plane (where a limb points toward or away from the
camera, how far it turns out of the picture is compared instead); a joint scores 100 within
{cfg.full_marks_deg:g}&deg; of the reference and 0 at {cfg.zero_marks_deg:g}&deg; or more off. The same findings are in report.json.</p>
</body></html>
"""


def write_report(result: CoachResult, out_dir: str | os.PathLike, reference_video: FrameSource = None,
                 attempt_video: FrameSource = None) -> Path:
    """Write `report.html` (self-contained, opens offline) and `report.json` into `out_dir`
    (created if needed; other files there are left alone). Returns the HTML path.

    reference_video, attempt_video: a video path, or an iterable of RGB uint8 frames at the
    frame rate of the PoseSequence given to `coach` (its source fps, before resampling), used for
    the stills; None draws stick figures.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DancenowError(f"report output {out_dir} exists and is not a folder")
    moments = list(result.worst_moments)
    ref_idx = [_source_index(m.reference_time_s, result.reference_source_fps) for m in moments]
    att_idx = [_source_index(m.attempt_time_s, result.attempt_source_fps) for m in moments]
    ref_frames = grab_frames(reference_video, ref_idx, "reference")
    att_frames = grab_frames(attempt_video, att_idx, "attempt")
    stills = []
    for m, ri, ai in zip(moments, ref_idx, att_idx):
        a, b = moment_stills(result, m, ref_frames.get(ri), att_frames.get(ai))
        stills.append((m, png(a), png(b)))
    page = _html(result, timeline_png(result), stills)
    html_path = out_dir / "report.html"
    write_json(out_dir / "report.json", result.to_dict(), allow_nan=False)
    with atomic_file(html_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return html_path
