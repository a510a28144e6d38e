"""Generation speed of the choreography model on the CPU, batch of 1 (one dancer), against real
time and a same-run reference workload (so numbers from a loaded machine can be compared).

    python bench/choreo_speed.py [--model runs/choreo-salsa] [--seconds 30] [--threads 1]

Without --model a freshly initialised model of the default size is timed (speed does not depend
on the weights). Prints frames/s for mode rollout (temperature 0) and sampling (0.5), with the
bone-length guard on and off, and the reference: a 384x1536 @ 1536 matmul loop (GFLOP/s).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from dancenow.choreo.config import TrainConfig
from dancenow.choreo.generate import Choreographer
from dancenow.choreo.model import ChoreoModel


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
        model = ChoreoModel(TrainConfig().model_config(["any", "a"])).eval()
        P, D = model.config.joints, model.config.dims
        info = {"fps": 30.0, "dims": D, "mean_pose": np.zeros((P, D)).tolist(), "bone_limits": None}
    print(f"model: hidden {model.config.hidden} x {model.config.layers} layers, {model.config.mixtures} mixtures, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters; torch threads {torch.get_num_threads()}")
    print(f"reference workload before: {reference_gflops():.1f} GFLOP/s (matrix-vector, batch 1)")
    for guard in (True, False):
        ch = Choreographer(model, info, guard=guard)
        for temp in (0.0, 0.5):
            ch(None, seconds=1.0, temperature=temp)  # warm-up
            d = ch(None, seconds=args.seconds, temperature=temp)
            print(f"guard {'on ' if guard and ch.guard is not None else 'off'} temperature {temp}: "
                  f"{d.frames_per_second:7.0f} frames/s = {d.frames_per_second / d.fps:5.1f}x real time ({d.fps:g} fps)")
    print(f"reference workload after:  {reference_gflops():.1f} GFLOP/s")


if __name__ == "__main__":
    main()
