"""Side views of one style's 60 s generated dances, at guidance 3 for every style (as before
per-style guidance) and as `generate.calibrate_guidance` calibrates it now: a picture of the
lean that grows past the temperature calibration's 20 s (docs/choreo_measurements.md, health).

    python bench/choreo_lean.py MODEL_DIR docs/choreo_lean_improv.png --style improv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dancenow.choreo.benchmark import is_salsa_test  # noqa: E402
from dancenow.choreo.checkpoint import load_model  # noqa: E402
from dancenow.choreo.generate import Choreographer, calibrate_guidance, calibrate_sampling, posture_ratio  # noqa: E402
from dancenow.choreo.skeleton import facing_yaw, yaw_rotation  # noqa: E402

from choreo_eval import load_data  # noqa: E402  (bench/, beside this file)

ROOT = Path(__file__).resolve().parents[1]
TIMES = (5, 15, 25, 35, 45, 55)  # seconds into the dance shown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("out", help=".png to write")
    ap.add_argument("--style", default="improv")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "dance"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, info = load_model(Path(args.model))
    clips = load_data(Path(args.data), 3)[args.style]
    seed = max([c for c in clips if not is_salsa_test(c.name)], key=len).slice(0, int(info["fps"]))
    rows = []
    for label in ("guidance 3 for every style (before)", "per style (now)"):
        cal = dict(info, guide_from="others")
        if label.startswith("guidance 3"):
            cal["guidance"] = 3.0
            cal["temperature"], cal["torso_spread"] = calibrate_sampling(model, cal, guidance=3.0, guide_from="others",
                                                                        styles=[args.style])
        else:
            cal["temperature"], cal["torso_spread"], cal["guidance"] = calibrate_guidance(model, cal, 3.0, "others")
        rows.append((label, Choreographer(model, cal)(seed, seconds=60, style=args.style, random_seed=0)))
    ref = info["reference"][args.style]
    fig, axes = plt.subplots(2, len(TIMES), figsize=(2 * len(TIMES), 5.2))
    for r, (label, d) in enumerate(rows):
        rot = yaw_rotation(facing_yaw(d.pose[: d.seed_frames]))
        for c, t in enumerate(TIMES):
            ax = axes[r, c]
            f = d.seed_frames + int(t * d.fps)
            p = d.pose[f] @ rot.T
            side = np.stack([p[:, 2], -p[:, 1]], -1)  # from the dancer's side: forward across, up up
            ax.scatter(side[:, 0], side[:, 1], s=6, c="k")
            ax.plot([0, side[0, 0]], [0, side[0, 1]], "r-", lw=2)  # hip centre to nose: the lean
            ax.axvline(0, color="0.8", lw=0.5)
            ax.set_xlim(-0.6, 0.6), ax.set_ylim(-0.6, 0.6), ax.set_aspect("equal"), ax.set_xticks([]), ax.set_yticks([])
            window = d.pose[max(d.seed_frames, f - int(5 * d.fps)):f + int(5 * d.fps)]
            ax.set_title(f"{t} s, posture {posture_ratio(window, ref):.1f}x", fontsize=8)
        axes[r, 0].set_ylabel(f"{label}\nguidance {d.guidance:g}", fontsize=8)
    fig.suptitle(f"{args.style}: a 60 s generated dance seen from the side (red: hip centre to nose; "
                 f"posture: twist or lean against the data's, 10 s around)", fontsize=9)
    save_figure(fig, args.out)


def save_figure(fig, out: str) -> None:
    """Lay out and write `fig` as a .png, under a temporary name first (nothing half-written)."""
    fig.tight_layout()
    tmp = Path(out).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=80)
    tmp.replace(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
