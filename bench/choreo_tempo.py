"""Speed over time of 60 s generated dances, open loop and with the tempo held (generate.TempoHold),
each seeded from a second of its style's own data, at the model's calibration: a picture of a
dance that settles at another tempo than the one calibrated from the standing pose, and of the
hold bringing it back (docs/choreo_measurements.md, health).

    python bench/choreo_tempo.py MODEL_DIR docs/choreo_tempo_folk.png --styles folk,salsa
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
from dancenow.choreo.config import TEMPO_BAND  # noqa: E402
from dancenow.choreo.generate import Choreographer  # noqa: E402

from choreo_eval import load_data  # noqa: E402  (bench/, beside this file)
from choreo_lean import save_figure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMOOTH_S = 5.0  # the speed shown is the mean over this many seconds around each moment


def speed_curve(pose: np.ndarray, fps: float, reference: float) -> np.ndarray:
    """Mean joint speed x the data's, averaged over SMOOTH_S around each frame."""
    v = np.linalg.norm(np.diff(pose, axis=0), axis=-1).mean(1) * fps / reference
    k = int(SMOOTH_S * fps)
    return np.convolve(v, np.ones(k) / k, mode="valid")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("out", help=".png to write")
    ap.add_argument("--styles", default="folk,salsa")
    ap.add_argument("--dances", type=int, default=3, help="sampling seeds per style")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "dance"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, info = load_model(Path(args.model))
    data = load_data(Path(args.data), int(info["dims"]))
    ch = Choreographer(model, info)
    styles = args.styles.split(",")
    fig, axes = plt.subplots(len(styles), 1, figsize=(8, 2.6 * len(styles)), squeeze=False)
    for ax, style in zip(axes[:, 0], styles):
        seed = max([c for c in data[style] if not is_salsa_test(c.name)], key=len).slice(0, int(ch.fps))
        ref = float(np.mean(info["reference"][style]["speed"]))
        for held, colour in ((False, "0.6"), (True, "tab:blue")):
            means = []
            for k in range(args.dances):
                d = ch(seed, seconds=60, style=style, random_seed=k, hold_tempo=held)
                pose = d.pose[d.seed_frames:]
                curve = speed_curve(pose, d.fps, ref)
                t = (np.arange(len(curve)) + SMOOTH_S * d.fps / 2) / d.fps
                means.append(np.linalg.norm(np.diff(pose, axis=0), axis=-1).mean() * d.fps / ref)
                ax.plot(t, curve, color=colour, lw=1.2)
            ax.lines[-args.dances].set_label(f"{'tempo held' if held else 'open loop'}: 60 s means "
                                             + ", ".join(f"{m:.2f}" for m in means) + "x")
        ax.axhspan(0.8, 1.2, color="tab:green", alpha=0.08, label="0.8-1.2x (issue 18)")
        for b in TEMPO_BAND:
            ax.axhline(b, color="tab:blue", lw=0.5, ls="--")
        ax.set_ylim(0, 2), ax.set_xlim(0, 60)
        ax.set_ylabel("speed x the data's")
        ax.set_title(f"{style}: temperature {d.temperature:.2f}, torso spread {d.torso_spread:.2f}, guidance "
                     f"{d.guidance:g}; seeded from its own data; {SMOOTH_S:g} s means", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("seconds into the dance")
    save_figure(fig, args.out)


if __name__ == "__main__":
    main()
