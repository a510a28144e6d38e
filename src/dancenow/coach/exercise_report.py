"""The exercise report: one static HTML page (everything inline: it opens offline) and the same
findings as JSON.

The page shows the count (full and partial repetitions), the score, a table with one row per
repetition (time, view, tempo of its three phases, depth, range of motion, each check: ok,
fault or cannot judge from this view, and the score), the faults in words, plots of the
progress signal with the repetitions shaded and the camera view underneath, the key measures
over time and the tempo per repetition, and a still of every repetition at its end position
(video frames when the video is given, stick figures otherwise).
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
from dancenow.coach.exercise import ExerciseResult, RepResult, measure_label
from dancenow.coach.measures import UNITS
from dancenow.coach.page import CANVAS, CSS, FrameSource, crop, crop_box, figure_png, grab_frames, img_tag, label, png
from dancenow.coach.score import format_clock
from dancenow.errors import DancenowError
from dancenow.keypoints import NUM_BODY

log = logging.getLogger(__name__)

THUMB = (180, 240)  # (w, h) of a repetition's still, pixels
MAX_STILLS = 40
VIEW_COLORS = {"front": "#1e88e5", "oblique": "#8e24aa", "side": "#757575", "": "#eeeeee"}
STATUS_MARK = {"ok": "&#10003;", "fault": "&#10007;", "cannot judge": "&ndash;", "no data": "?"}
STATUS_CLASS = {"ok": "good", "fault": "bad", "cannot judge": "na", "no data": "na"}


def fmt_measure(name: str, v: float | None) -> str:
    """A measure's value as shown: degrees whole, ratios with two decimals."""
    if v is None or not math.isfinite(v):
        return "-"
    v = v + 0.0 if abs(v) >= 0.005 else 0.0  # no "-0.00"
    return f"{v:.0f}&deg;" if UNITS.get(name) == "deg" else f"{v:.2f}"


def fmt_time(t: float) -> str:
    """Seconds as m:ss.s."""
    return f"{format_clock(t)}.{int(10 * (t % 1)):d}"


# ----------------------------------------------------------------------------- plots

def _timeline_png(r: ExerciseResult) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    t = np.arange(len(r.progress)) / r.fps
    fig = Figure(figsize=(11, 3.8), dpi=100)
    FigureCanvasAgg(fig)
    ax, band = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [8, 1]})
    for rep in r.reps:
        color = "#a5d6a7" if rep.status == "full" else "#ffcc80"
        ax.axvspan(rep.start_s, rep.stop_s, color=color, alpha=0.6, lw=0)
        ax.annotate(str(rep.number), (rep.peak_s, r.progress[rep.frames.peak]), textcoords="offset points",
                    xytext=(0, 4), ha="center", fontsize=9, fontweight="bold")
    ax.plot(t, r.progress, color="#90a4ae", lw=0.8, label="progress")
    ax.plot(t, r.smoothed, color="#1565c0", lw=1.6, label="as counted (smoothed)")
    count = r.exercise.count
    ax.axhline(1.0, color="#2e7d32", ls="--", lw=0.8, label="full end position")
    ax.axhline(count.full_level, color="#ef6c00", ls=":", lw=0.8, label=f"partial below {count.full_level:g}")
    ax.set_ylabel(f"progress\n({r.signal.name})")
    top = np.nanmax(r.progress) if np.isfinite(r.progress).any() else 1.0
    ax.set_ylim(min(-0.1, np.nanmin(r.progress) if np.isfinite(r.progress).any() else 0) - 0.05, max(1.45, top + 0.4))
    ax.legend(loc="upper left", fontsize=7, ncol=4, framealpha=0.9)
    ax.grid(alpha=0.3)
    ax.set_title(f"{r.summary()}: repetitions shaded (green full, orange partial), numbered at their end position",
                 fontsize=10)
    # the camera view as a colour band
    view = r.measures.view
    k = 0
    while k < len(view):
        j = k
        while j + 1 < len(view) and view[j + 1] == view[k]:
            j += 1
        band.axvspan(k / r.fps, (j + 1) / r.fps, color=VIEW_COLORS.get(view[k], "#eeeeee"), lw=0)
        k = j + 1
    band.set_yticks([])
    band.set_ylabel("view", rotation=0, ha="right", va="center", fontsize=8)
    band.set_xlabel("time (s); view band: blue front, purple oblique, grey side")
    fig.tight_layout()
    return figure_png(fig)


def _measures_png(r: ExerciseResult) -> bytes | None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [n for n in r.exercise.rom if np.isfinite(r.measures[n]).any()]
    if not names:
        return None
    t = np.arange(len(r.progress)) / r.fps
    fig = Figure(figsize=(11, 1.6 + 1.3 * len(names)), dpi=100)
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(len(names), 1, sharex=True))
    for ax, n in zip(axes, names):
        for rep in r.reps:
            ax.axvspan(rep.start_s, rep.stop_s, color="#a5d6a7" if rep.status == "full" else "#ffcc80", alpha=0.4, lw=0)
        ax.plot(t, r.measures[n], color="#37474f", lw=1.0)
        ax.set_ylabel(measure_label(n), fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_title("Range of motion: the key measures over time", fontsize=10)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    return figure_png(fig)


def _tempo_png(r: ExerciseResult) -> bytes | None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not r.reps:
        return None
    fig = Figure(figsize=(11, 3.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    x = np.array([rep.number for rep in r.reps])
    a = np.array([rep.down_s for rep in r.reps])
    b = np.array([rep.hold_s for rep in r.reps])
    c = np.array([rep.up_s for rep in r.reps])
    p1, p2, p3 = r.exercise.phases
    ax.bar(x, a, color="#64b5f6", label=p1)
    ax.bar(x, b, bottom=a, color="#1565c0", label=p2)
    ax.bar(x, c, bottom=a + b, color="#90caf9", label=p3)
    ax.set_xlabel("repetition")
    ax.set_ylabel("seconds")
    ax.set_xticks(x)
    ax2 = ax.twinx()
    ax2.plot(x, [rep.score for rep in r.reps], "o-", color="#c62828", label="score")
    ax2.set_ylim(0, 105)
    ax2.set_ylabel("score", color="#c62828")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="lower left", fontsize=8, ncol=4)
    ax.set_title("Tempo of each repetition (stacked phases) and its score", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return figure_png(fig)


# ----------------------------------------------------------------------------- stills

def rep_still(frame: np.ndarray | None, keypoints: np.ndarray, size: tuple[int, int], title: str,
              faulty: bool, min_conf: float = 0.2) -> np.ndarray:
    """One repetition's still (THUMB, RGB): the frame (or a dark canvas) cropped around the
    person, the body skeleton drawn over it (red when the repetition has a fault)."""
    from dancenow.render import draw_pose

    if frame is None:
        img = np.empty((size[1], size[0], 3), np.uint8)
        img[:] = CANVAS
        sx = sy = 1.0
    else:
        img = np.ascontiguousarray(frame).copy()
        sx, sy = img.shape[1] / size[0], img.shape[0] / size[1]
    kp = np.array(keypoints, np.float64)
    kp[kp[:, 2] < min_conf] = 0.0
    body = kp[:NUM_BODY]
    pts = body[body[:, 2] > 0, :2] * [sx, sy]
    box = crop_box(pts, img.shape[1], img.shape[0], THUMB, margin=1.2)
    unit = max(1.0, (box[3] - box[1]) / THUMB[1])
    draw_pose(img, kp, scale=(sx, sy), parts=("body",), thickness=max(2, int(round(3 * unit))))
    out = cv2.resize(crop(img, box), THUMB, interpolation=cv2.INTER_AREA)
    if faulty:
        cv2.rectangle(out, (0, 0), (THUMB[0] - 1, THUMB[1] - 1), (229, 57, 53), 4)
    label(out, title, (6, 18), (255, 255, 255), 0.45)
    return out


# ----------------------------------------------------------------------------- html

def _score_class(v: float) -> str:
    if not math.isfinite(v):
        return "na"
    return "good" if v >= 85 else "ok" if v >= 65 else "bad"


_EXTRA_CSS = """
.wrap{overflow-x:auto} .reps{font-size:13px} .reps td{text-align:center;white-space:nowrap;padding:3px 6px}
.reps th{text-align:center;font-size:12px;max-width:96px;padding:3px 6px;vertical-align:bottom} .reps td:first-child{font-weight:600}
.stills{display:flex;flex-wrap:wrap;gap:8px} .stills img{border-radius:4px;border:1px solid #ccc}
.partial{background:#fff3e0} .note{background:#e3f2fd;padding:6px 10px;border-radius:4px;margin:4px 0}
"""


def _rep_row(r: ExerciseResult, rep: RepResult) -> str:
    e = html.escape
    cells = [str(rep.number), rep.status, f"{fmt_time(rep.start_s)}&ndash;{fmt_time(rep.stop_s)}", rep.view or "?",
             f"{rep.down_s:.2f}", f"{rep.hold_s:.2f}", f"{rep.up_s:.2f}", f"{100 * rep.depth:.0f}%"]
    if r.exercise.depth:
        cells.append(fmt_measure(r.exercise.depth, rep.depth_value))
    for k in r.exercise.rom:
        if k in rep.rom:
            a, b = rep.rom[k]
            cells.append(f"{fmt_measure(k, a)}&ndash;{fmt_measure(k, b)}")
        else:
            cells.append("-")
    out = "".join(f"<td>{c}</td>" for c in cells)
    for c in rep.checks:
        tip = c.text or (f"{c.title}: ok" + (f" ({c.value:.2f})" if c.value is not None else ""))
        out += f'<td class="{STATUS_CLASS[c.status]}" title="{e(tip)}">{STATUS_MARK[c.status]}</td>'
    out += f'<td class="{_score_class(rep.score)}">{rep.score:.0f}</td>'
    return f'<tr class="{"partial" if rep.status == "partial" else ""}">{out}</tr>'


def _cannot_judge(r: ExerciseResult) -> list[str]:
    """One line per check that some repetitions' view cannot see: which reps, and why."""
    lines = []
    for k, c in enumerate(r.exercise.checks):
        reps = [rep for rep in r.reps if rep.checks[k].status == "cannot judge"]
        if not reps:
            continue
        by_reason: dict[str, list[int]] = {}
        for rep in reps:
            by_reason.setdefault(rep.checks[k].text, []).append(rep.number)
        for reason, nums in by_reason.items():
            lines.append(f"<b>{html.escape(c.title)}</b>, rep{'s' if len(nums) > 1 else ''} "
                         f"{', '.join(map(str, nums))}: {html.escape(reason)}.")
    return lines


def _html(r: ExerciseResult, plots: list[tuple[bytes, str]], stills: list[tuple[RepResult, bytes]]) -> str:
    e = html.escape
    ex = r.exercise
    p1, p2, p3 = ex.phases
    head = ["#", "rep", "time", "view", f"{e(p1)} (s)", f"{e(p2)} (s)", f"{e(p3)} (s)", "depth"]
    if ex.depth:
        head.append(e(measure_label(ex.depth)))
    head += [e(measure_label(k, "range")) for k in ex.rom]
    head += [e(c.title) for c in ex.checks] + ["score"]
    rows = "".join(_rep_row(r, rep) for rep in r.reps) or f'<tr><td colspan="{len(head)}">no repetition found</td></tr>'
    faults = []
    for rep in r.reps:
        for c in rep.faults:
            faults.append(f"<li>Rep {rep.number} ({fmt_time(rep.peak_s)}): {e(c.text)}.</li>")
    faults_html = "".join(faults) or "<li>No form fault seen.</li>"
    cannot = "".join(f"<li>{x}</li>" for x in _cannot_judge(r)) or "<li>Every check could be judged.</li>"
    notes = "".join(f'<p class="note">{e(n)}</p>' for n in r.notes)
    views = ", ".join(f"{k} {100 * v:.0f}%" for k, v in r.views.items() if v > 0) or "unknown"
    plots_html = "".join(img_tag(data, alt, "plot") for data, alt in plots)
    stills_html = "".join(img_tag(data, f"repetition {rep.number}") for rep, data in stills)
    score = f"{r.score:.0f}" if math.isfinite(r.score) else "-"
    partial = f" + {r.partial} partial" if r.partial else ""
    depth_note = ("Depth: the deepest point as a share of the full end position "
                  f"({e(r.signal.name)}; 100% = the exercise's full range).")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dancenow {e(ex.name)}: {r.full} reps</title>
<style>{CSS}{_EXTRA_CSS}</style></head><body>
<h1>{e(ex.name.capitalize())} report</h1>
<p class="muted">{e(ex.description)} Counted on {e(r.signal.name)}; {len(r.poses)} frames at {r.fps:g} fps ({r.duration_s:.1f} s); camera view: {e(views)}.</p>
<div class="top"><div class="big">{r.full}<small> reps{e(partial)}</small></div>
<div class="big {_score_class(r.score)}">{score}<small>/100</small></div></div>
{notes}
<h2>Repetitions</h2>
<div class="wrap"><table class="reps"><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>{rows}</table></div>
<p class="muted">{depth_note} Ranges run from the rest position before a repetition to the one after.
Checks: <span class="good">&#10003;</span> ok, <span class="bad">&#10007;</span> fault,
<span class="na">&ndash;</span> cannot judge from this view (hover a cell for the value or the reason).
A repetition scores 100, minus up to 40 for a short range, minus each fault's points.</p>
<h2>Form</h2><ul class="tips">{faults_html}</ul>
<h3>What this camera view cannot judge</h3><ul>{cannot}</ul>
<h2>Plots</h2>{plots_html}
<h2>Each repetition at its end position</h2><div class="stills">{stills_html or "<p>none</p>"}</div>
<p class="muted">Angles are measured in the picture (2D); the same findings are in report.json.</p>
</body></html>
"""


def write_exercise_report(result: ExerciseResult, out_dir: str | os.PathLike, video: FrameSource = None) -> Path:
    """Write `report.html` (self-contained) and `report.json` into `out_dir` (created if needed;
    other files there are left alone). Returns the HTML path. video: a path or RGB frames at the
    poses' frame rate, for the stills (None: stick figures)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DancenowError(f"report output {out_dir} exists and is not a folder")
    reps = list(result.reps[:MAX_STILLS])
    frames = grab_frames(video, [rep.frames.peak for rep in reps], "exercise")
    stills = []
    for rep in reps:
        title = f"{rep.number} {rep.view} {rep.score:.0f}" + (" partial" if rep.status == "partial" else "")
        img = rep_still(frames.get(rep.frames.peak), result.poses.keypoints[rep.frames.peak], result.poses.size,
                        title, bool(rep.faults))
        stills.append((rep, png(img)))
    plots = [(_timeline_png(result), "progress over time with the repetitions and the camera view")]
    for data, alt in ((_measures_png(result), "key measures over time"), (_tempo_png(result), "tempo and score per repetition")):
        if data is not None:
            plots.append((data, alt))
    page = _html(result, plots, stills)
    write_json(out_dir / "report.json", result.to_dict(), allow_nan=False)
    with atomic_file(out_dir / "report.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out_dir / "report.html"
