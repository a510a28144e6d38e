"""Frames per second of `dancenow choreo live` on a real clip (no window, recording what it
shows, poses detected as the clip plays at its own rate), with forecasts in step with the
display (`--every 1`) and beside it (the default), in one run.

    dancenow choreo train ../shared/data/footage/s1_streetdance_outdoor.mp4 --style street --preset small -o runs/street
    python bench/choreo_live_fps.py --model runs/street [--clip PATH] [--frames 300] [--style any]

Rows: forecasts in step with the display, then beside it, in the style asked (default `any`:
hedged, the slow case), then beside it in the model's own first style (not hedged). Prints
frames shown per second against the clip's rate, forecasts per second, their mean and worst
time, the load average and a same-run matrix-vector reference (GFLOP/s): other work on the
machine lowers every figure, so compare only rows of one run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from choreo_speed import reference_gflops  # bench/, beside this file

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "footage" / "s1_streetdance_outdoor.mp4"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a 2D choreography model folder")
    ap.add_argument("--clip", default=str(DEFAULT_CLIP))
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--style", default="any")
    args = ap.parse_args()
    from dancenow.choreo.checkpoint import load_model
    from dancenow.choreo.live import LiveConfig, live_session

    model, _ = load_model(args.model)
    own = model.config.styles[1] if len(model.config.styles) > 1 else args.style
    print(f"reference workload: {reference_gflops():.1f} GFLOP/s (matrix-vector, batch 1); "
          f"load average {os.getloadavg()[0]:.2f}")
    rows = [(f"in step, style {args.style}", LiveConfig(style=args.style, every=1)),
            (f"beside, style {args.style}", LiveConfig(style=args.style)),
            (f"beside, style {own}", LiveConfig(style=own))]
    print(f"{'forecasts':<26} {'shown/s':>8} {'clip fps':>8} {'forecasts/s':>11} {'mean ms':>8} {'worst ms':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, config) in enumerate(rows):
            stats = live_session(args.model, source=args.clip, config=config, show=False,
                                 record=Path(tmp) / f"{i}.mp4", max_frames=args.frames, progress=False)
            print(f"{name:<26} {stats.shown_per_s:8.1f} {stats.fps:8.2f} {stats.forecasts_per_s:11.1f} "
                  f"{stats.mean_latency_s * 1000:8.1f} {stats.max_latency_s * 1000:8.1f}", flush=True)


if __name__ == "__main__":
    main()
