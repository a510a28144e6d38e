"""Generation speed of the choreography model on the CPU, batch of 1 (one dancer), against real
time and a same-run reference workload (so numbers from a loaded machine can be compared).

    python bench/choreo_speed.py [--model runs/choreo-salsa] [--seconds 30] [--threads 1]

Without --model a freshly initialised 3D model of the default preset's size is timed (speed does
not depend on the weights). Prints frames/s for mode rollout (temperature 0) and sampling (0.8),
and the reference: a 1 x 1536 @ 1536 matmul loop (GFLOP/s).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import dataclasses

from dancenow.choreo.config import preset
from dancenow.choreo.generate import Choreographer
from dancenow.choreo.model import ChoreoModel
from dancenow.choreo.skeleton import NUM_BONES


def reference_gflops(seconds: float = 1.0) -> float:
    a, b = torch.randn(1, 1536), torch.randn(1536, 1536)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(50):
            a @ b
        n += 50
    return n * 2 * 1536 * 1536 / (time.perf_counter() - t0) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.model:
        from dancenow.choreo.checkpoint import load_model

        model, info = load_model(args.model)
    else:
        torch.manual_seed(0)
        model = ChoreoModel(dataclasses.replace(preset("default").model, dims=3, styles=["any", "a"])).eval()
        down = np.zeros((NUM_BONES, 3))
        down[:, 1] = 1.0
        info = {"fps": 30.0, "dims": 3, "defaults": {"direction": down, "lengths": np.full(NUM_BONES, 0.2)}}
    print(f"model: hidden {model.config.hidden} x {model.config.layers} layers, {model.config.mixtures} mixtures, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters; torch threads {torch.get_num_threads()}")
    print(f"reference workload before: {reference_gflops():.1f} GFLOP/s (matrix-vector, batch 1)")
    ch = Choreographer(model, info)
    for temp in (0.0, 0.8):
        ch(None, seconds=1.0, temperature=temp)  # warm-up
        d = ch(None, seconds=args.seconds, temperature=temp)
        print(f"temperature {temp}: {d.frames_per_second:7.0f} frames/s = {d.frames_per_second / d.fps:5.1f}x real time "
              f"({d.fps:g} fps)")
    print(f"reference workload after:  {reference_gflops():.1f} GFLOP/s")


if __name__ == "__main__":
    main()
