"""Training and generation speed of the synthesis model on this machine.

Prints, for a preset (default cpu-small): seconds per step, steps/s and samples/s (frame pairs
per second) for the image stage and the face stage, peak memory, the generator's FLOPs per
frame and the achieved FLOP rate against this machine's measured float32 matmul rate; then the
pix2pixHD reference configuration built from our networks (global G, 4 downsamples, 9 blocks,
ngf 32, 2-scale D ndf 64, LSGAN + feature matching, no VGG, no temporal input, batch 1) at
128x128 and 256x256, beside NVIDIA pix2pixHD's own figures measured on this CPU (2 threads):
0.53 s/step and 56 ms/frame at 128x128, 1.13 s/step and 172 ms/frame at 256x256.

    python bench/train_speed.py [--preset cpu-small] [--steps 10] [--threads 2] [--json out.json]

Timings on a shared machine vary with the other load: everything is measured in the same run,
so the ratios are more telling than the absolute figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dancenow.synth.config import DiscriminatorConfig, FaceConfig, GeneratorConfig, SynthConfig, TrainConfig, preset
from dancenow.synth.data import SynthData
from dancenow.synth.prepare import prepare
from dancenow.synth.generate import Conditioning, generator_input
from dancenow.synth.train import Trainer

NVIDIA_REFERENCE = {128: (0.53, 56.0), 256: (1.13, 172.0)}  # s/step, ms/frame on this CPU, 2 threads


def matmul_gflops(n: int = 1024, seconds: float = 2.0) -> float:
    """Best float32 GFLOP/s of an n x n matmul over ~`seconds` (2 n^3 FLOPs each)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        for _ in range(3):
            a @ b
        best = max(best, 3 * 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def make_data(folder: Path, size: tuple[int, int], seconds: float = 4.0) -> SynthData:
    """A prepared directory of a synthetic actor (exact poses), or of noise without the synthetic world."""
    try:
        from dancenow.demo import target_camera
        from dancenow.world import get_actor, render_clip

        frames, poses = render_clip("ana", seconds, (320, 320), seed=1, camera=target_camera(get_actor("ana")))
        return SynthData(prepare(list(frames), folder, size, poses=poses, progress=False))
    except ImportError:
        from dancenow.keypoints import PoseSequence

        rng = np.random.default_rng(0)
        n = int(seconds * 30)
        kp = np.zeros((n, 137, 3), np.float32)
        kp[:, :25, :2] = rng.uniform(60, 200, (n, 25, 2))
        kp[:, :25, 2] = 1
        frames = [rng.integers(0, 255, (256, 256, 3), dtype=np.uint8) for _ in range(n)]
        return SynthData(prepare(frames, folder, size, poses=PoseSequence(kp, 30, 256, 256), progress=False))


def time_steps(tr: Trainer, stage: str, steps: int, warmup: int = 2) -> float:
    """Median seconds per training step of `stage`."""
    tr.setup_stage(stage)
    times = []
    for i in range(warmup + steps):
        batch = tr.batch(tr.sampler.next())
        t = time.perf_counter()
        tr.train_step(batch)
        if tr.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return float(np.median(times))


@torch.no_grad()
def time_generation(tr: Trainer, frames: int = 10) -> tuple[float, int]:
    """(median ms per generated frame, generator FLOPs per frame), batch 1."""
    cfg = tr.cfg
    w, h = cfg.global_size
    g = tr.generator.eval()

    def image():
        return torch.randn(1, 3, h, w, device=tr.device)

    ex = cfg.exemplar
    cond = Conditioning(image(), image() if ex.enabled else None, image() if ex.enabled and not ex.warp else None,
                        image() if cfg.plate else None,
                        torch.rand(1, 1, h, w, device=tr.device) if ex.enabled and ex.warp else None)
    inp = generator_input(cfg, cond, image() if cfg.temporal else None)
    n_flops = flops(lambda: g(inp))
    times = []
    for i in range(frames + 2):
        t = time.perf_counter()
        with torch.autocast(device_type=tr.device.type, dtype=torch.bfloat16, enabled=tr.amp):  # as training and transfer run it
            g(inp)
        if i >= 2:
            times.append(time.perf_counter() - t)
    g.train()
    return 1000 * float(np.median(times)), n_flops


def pix2pixhd_reference(size: int) -> SynthConfig:
    from dancenow.synth.config import ExemplarConfig

    return SynthConfig(
        image_size=(size, size), temporal=False, plate=False, exemplar=ExemplarConfig(enabled=False),
        generator=GeneratorConfig(ngf=32, n_downsample=4, n_blocks=9),
        discriminator=DiscriminatorConfig(ndf=64, n_layers=3, num_D=2),
        face=FaceConfig(enabled=False),
        train=TrainConfig(steps_global=100, steps_face=0, batch_size=1),
        preset="pix2pixHD-reference",
    ).validate()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu-small")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per stage (after 2 warm-up steps)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--skip-reference", action="store_true", help="skip the pix2pixHD reference configurations")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out: dict = {"device": str(device), "threads": torch.get_num_threads(), "preset": args.preset}
    print(f"device {device}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    rate = matmul_gflops()
    out["matmul_gflops"] = rate
    print(f"measured float32 matmul (1024^3): {rate:.1f} GFLOP/s")

    cfg = preset(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        ref_sizes = [] if args.skip_reference else [128, 256]
        datasets = {s: make_data(Path(tmp) / f"d{s}", (s, s)) for s in sorted({cfg.image_size[0], *ref_sizes})}

        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tr = Trainer(cfg, datasets[cfg.image_size[0]], Path(tmp) / "run", progress=False)
        step_g = time_steps(tr, "global", args.steps)
        gen_flops_train = flops(lambda: tr.train_step(tr.batch(tr.sampler.next())))
        ms_frame, gen_flops = time_generation(tr)
        step_f = time_steps(tr, "face", args.steps) if cfg.face.enabled else None
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        b = cfg.train.batch_size
        res = {
            "image_size": list(cfg.image_size), "batch_size": b,
            "global_s_per_step": step_g, "global_steps_per_s": 1 / step_g, "global_pairs_per_s": b / step_g,
            "face_s_per_step": step_f, "face_steps_per_s": 1 / step_f if step_f else None,
            "peak_rss_mb": peak, "rss_before_mb": rss0,
            "generator_gflops_per_frame": gen_flops / 1e9, "generate_ms_per_frame": ms_frame,
            "generate_gflops_per_s": gen_flops / 1e9 / (ms_frame / 1000),
            "train_step_gflops": gen_flops_train / 1e9, "train_gflops_per_s": gen_flops_train / 1e9 / step_g,
            "steps_per_hour_global": 3600 / step_g,
        }
        if device.type == "cuda":
            res["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
        out["preset_figures"] = res
        print(f"\n{args.preset} ({cfg.image_size[0]}x{cfg.image_size[1]}, ngf {cfg.generator.ngf}, "
              f"{cfg.generator.n_downsample} downsamples, {cfg.generator.n_blocks} blocks, batch {b}, temporal pairs):")
        print(f"  image stage: {step_g:.3f} s/step = {1 / step_g:.2f} steps/s, {b / step_g:.2f} frame pairs/s "
              f"({3600 / step_g:.0f} steps per hour)")
        if step_f:
            print(f"  face stage:  {step_f:.3f} s/step = {1 / step_f:.2f} steps/s")
        print(f"  peak memory (process RSS): {peak:.0f} MB")
        print(f"  generator: {gen_flops / 1e9:.2f} GFLOP/frame, {ms_frame:.1f} ms/frame = "
              f"{res['generate_gflops_per_s']:.1f} GFLOP/s ({100 * res['generate_gflops_per_s'] / rate:.0f}% of matmul)")
        print(f"  training step: {gen_flops_train / 1e9:.2f} GFLOP = {res['train_gflops_per_s']:.1f} GFLOP/s "
              f"({100 * res['train_gflops_per_s'] / rate:.0f}% of matmul)")

        out["pix2pixhd_reference"] = {}
        for s in ref_sizes:
            rcfg = pix2pixhd_reference(s)
            rtr = Trainer(rcfg, datasets[s], Path(tmp) / f"ref{s}", progress=False)
            st = time_steps(rtr, "global", max(3, args.steps // 2))
            step_fl = flops(lambda: rtr.train_step(rtr.batch(rtr.sampler.next())))
            ms, fl = time_generation(rtr)
            ns, nms = NVIDIA_REFERENCE[s]
            out["pix2pixhd_reference"][s] = {"s_per_step": st, "ms_per_frame": ms, "gflops_per_frame": fl / 1e9,
                                             "gflops_per_step": step_fl / 1e9, "nvidia_s_per_step": ns,
                                             "nvidia_ms_per_frame": nms}
            print(f"\npix2pixHD configuration {s}x{s} (ngf 32, 4 down, 9 blocks, 2-scale D, LSGAN+FM, no VGG, batch 1):")
            print(f"  ours:   {st:.2f} s/step ({step_fl / 1e9:.1f} GFLOP: {step_fl / 1e9 / st:.1f} GFLOP/s), "
                  f"{ms:.0f} ms/frame ({fl / 1e9:.2f} GFLOP/frame: {fl / 1e9 / (ms / 1000):.1f} GFLOP/s)")
            print(f"  NVIDIA: {ns:.2f} s/step ({step_fl / 1e9 / ns:.1f} GFLOP/s for the same work), {nms:.0f} ms/frame "
                  f"({fl / 1e9 / (nms / 1000):.1f} GFLOP/s), measured earlier on this CPU with 2 threads")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
