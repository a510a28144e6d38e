"""The picture that shows a normalization is right: ankle y and body height over time for the
source, the target and the normalized source, with the fitted ends and end heights marked.

Kept apart from `normalize.py` so that matplotlib loads only when a plot is asked for.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from dancenow.atomic import atomic_file
from dancenow.normalize import BodyStats, frame_measures, match_stats
from dancenow.keypoints import PoseSequence

_COLOURS = {"source": "tab:blue", "target": "tab:orange", "normalized": "tab:green"}


def plot_normalization(source: PoseSequence, target: PoseSequence | None, normalized: PoseSequence,
                       source_stats: BodyStats, target_stats: BodyStats,
                       path: str | os.PathLike) -> Path:
    """Write a PNG with three panels (pixels; source in its own frame, target and normalized
    source in the target frame):
      1. ankle y (the lower foot) per frame, with close/far of the source, of the target as
         fitted (dotted) and as used after re-centring (dashed);
      2. body height (head to ankle midpoint) per frame, with the end heights used;
      3. height against ankle y (each dot a usable frame), with the (end, end height) points.
    `target` may be None (stats only): its samples then come from `target_stats`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    quiet = logging.getLogger("dancenow.normalize")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # normalize() already gave its warnings for this match
    try:
        match = match_stats(source_stats, target_stats)
    finally:
        quiet.setLevel(level)
    ms, mn = frame_measures(source.keypoints), frame_measures(normalized.keypoints)
    series = {"source": (np.arange(len(source)), ms.ankle_y, ms.height)}
    if target is not None:
        mt = frame_measures(target.keypoints)
        series["target"] = (np.arange(len(target)), mt.ankle_y, mt.height)
    series["normalized"] = (np.arange(len(normalized)), mn.ankle_y, mn.height)

    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2), gridspec_kw={"width_ratios": [1.3, 1.3, 1]})
    ax_y, ax_h, ax_s = axes
    for name, (t, ay, h) in series.items():
        c = _COLOURS[name]
        ax_y.plot(t, ay, ".-", ms=2, lw=0.8, color=c, label=name)
        ax_h.plot(t, h, ".-", ms=2, lw=0.8, color=c, label=name)
        ax_s.plot(ay, h, ".", ms=3, color=c, alpha=0.6, label=name)
    if target is None:
        ax_s.plot(target_stats.ankle_y, target_stats.heights, ".", ms=3, color=_COLOURS["target"],
                  alpha=0.6, label="target (stats)")

    def hline(ax, v, colour, style, text):
        if v is not None and np.isfinite(v):
            ax.axhline(v, color=colour, ls=style, lw=1)
            ax.annotate(f"{text} {v:.0f}", (1.0, v), xycoords=("axes fraction", "data"), fontsize=7,
                        color=colour, ha="right", va="bottom")

    cs, ct = _COLOURS["source"], _COLOURS["target"]
    hline(ax_y, match.s_close, cs, "--", "src close")
    hline(ax_y, match.s_far, cs, "--", "src far")
    hline(ax_y, match.t_close, ct, "--", "tgt close (used)")
    hline(ax_y, match.t_far, ct, "--", "tgt far (used)")
    if match.recentred:
        hline(ax_y, target_stats.close, ct, ":", "tgt close (fitted)")
        hline(ax_y, target_stats.far, ct, ":", "tgt far (fitted)")
    ax_y.invert_yaxis()  # image y points down: up in the plot is up in the frame (farther away)
    hline(ax_h, match.s_h_close, cs, "--", "src h_close")
    hline(ax_h, match.s_h_far, cs, "--", "src h_far")
    hline(ax_h, match.t_h_close, ct, "--", "tgt h_close")
    hline(ax_h, match.t_h_far, ct, "--", "tgt h_far")
    for (y, h, c, label) in [(match.s_close, match.s_h_close, cs, "src close"), (match.s_far, match.s_h_far, cs, "src far"),
                             (match.t_close, match.t_h_close, ct, "tgt close"), (match.t_far, match.t_h_far, ct, "tgt far")]:
        ax_s.plot([y], [h], marker="D", ms=9, mfc="none", mew=2, color=c)
        ax_s.annotate(label, (y, h), textcoords="offset points", xytext=(6, 6), fontsize=7, color=c)

    ax_y.set(title="ankle y (lower foot)", xlabel="frame", ylabel="y, pixels (image y down)")
    ax_h.set(title="height: head to ankle midpoint", xlabel="frame", ylabel="pixels")
    ax_s.set(title=f"height vs ankle y ({match.mode}; c_close={match.c_close:.3f}, c_far={match.c_far:.3f})",
             xlabel="ankle y, pixels", ylabel="height, pixels")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(f"pose normalization: source {source.width}x{source.height}, target "
                 f"{target_stats.width}x{target_stats.height} (source frac {source_stats.frac:g}, "
                 f"target frac {target_stats.frac:g}{', target range re-centred' if match.recentred else ''})",
                 fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path
