"""Real-time figures of transfer and the live mirror, in one table (issue 17).

1. The generator alone: frames/s at 128, 256 and 512 px for each preset's generator and the
   fast student (random weights: speed does not depend on them), fp32 and bf16 autocast, its
   GFLOP a frame (multiply-adds x 2 of the convolutions) and the fraction of this machine's
   fp32 matmul rate (a 1024^3 torch.mm, measured in the same run) that it reaches. Generators
   only: no face generator, no exemplar posing.
2. With `--model` (a trained model directory, with a student when `--fast` figures are wanted):
   the generator alone as transfer runs it (the model's own step: body + face generator on
   prepared inputs), then `transfer_to_file` end to end on `--poses` (poses given: no detection;
   normalization, labels, exemplar posing, generator, paste into the full frame, H.264), both
   overlapped and serial. The simplest alternative beside it: the serial path.
3. With `--model` and `--clip`: the live mirror on the clip standing in for the camera (body-only
   detection, recording to a temporary file, no window).

    python bench/transfer_fps.py --model /tmp/fast/run --poses /tmp/fast/src.npz --clip me.mp4 --json out.json

Run it under `flock /work/cpu.lock` on a shared machine: timings depend on what else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

SIZES = (128, 256, 512)


def matmul_rate(dtype=torch.float32, n: int = 2048, seconds: float = 0.5, trials: int = 3) -> float:
    """GFLOP/s of an n^3 matmul on this machine with torch's current threads: the best of
    `trials` runs (a shared machine's other work only ever slows a run down)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    best = 0.0
    for _ in range(trials):
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            torch.mm(a, b)
            reps += 1
        best = max(best, 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9)
    return best


def conv_gflop(module: nn.Module, x: torch.Tensor) -> float:
    """GFLOP (2 x multiply-adds) of the convolutions of one forward pass on x."""
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.ConvTranspose2d):
            total[0] += inp[0].numel() * m.out_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
        else:
            total[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    hooks = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        module(x)
    for h in hooks:
        h.remove()
    return 2 * total[0] / 1e9


def time_call(fn, budget: float = 2.0, min_reps: int = 3, warmup: int = 1) -> float:
    """Median seconds of fn() over at least min_reps calls or `budget` seconds."""
    for _ in range(warmup):
        fn()
    times = []
    t_end = time.perf_counter() + budget
    while len(times) < min_reps or time.perf_counter() < t_end:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if len(times) >= 200:
            break
    return float(np.median(times))


def generators(size: int) -> list[tuple[str, nn.Module, int]]:
    from dancenow.synth.config import preset
    from dancenow.synth.networks import build_generator
    from dancenow.synth.student import build_student

    out = []
    for name in ("quick", "cpu-small", "paper"):
        cfg = preset(name).with_image_size((size, size))
        out.append((name, build_generator(cfg).eval(), cfg.generator_input_nc))
    cfg = preset("cpu-small").with_image_size((size, size))
    out.append(("fast student", build_student(cfg).eval(), cfg.generator_input_nc))
    return out


def generator_rows(fp32_rate: float, budget: float, bf16: bool) -> list[dict]:
    rows = []
    for size in SIZES:
        for name, g, nc in generators(size):
            x = torch.randn(1, nc, size, size)
            gflop = conv_gflop(g, x)
            row = {"what": f"generator: {name}", "size": size, "gflop": gflop}
            for mode in ("fp32", "bf16") if bf16 else ("fp32",):
                def run():
                    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
                        g(x)
                s = time_call(run, budget=budget if gflop < 100 else 0.0, min_reps=3 if gflop < 100 else 1)
                row[f"{mode}_ms"] = s * 1000
                row[f"{mode}_fps"] = 1 / s
                row[f"{mode}_of_peak"] = gflop / s / fp32_rate
            rows.append(row)
            print(_line(row), flush=True)
    return rows


def model_rows(model_dir: Path, poses: Path, fast: bool, frames: int | None, threads: list[int]) -> list[dict]:
    """The model's own step alone, and transfer end to end (overlapped and serial)."""
    from dancenow.keypoints import PoseSequence
    from dancenow.posefile import load_poses
    from dancenow.synth.model import SynthModel
    from dancenow.transfer import TransferConfig, prepare_source, transfer_to_file

    model = SynthModel.load(model_dir, fast=fast)
    who = "fast student" if fast else "full model"
    seq = load_poses(poses)
    if frames:
        seq = PoseSequence(seq.keypoints[:frames], seq.fps, seq.width, seq.height)
    rows = []
    # the generator as transfer runs it, on inputs prepared beforehand
    stats = model.body_stats
    norm = prepare_source(seq, stats)
    size = (stats.width, stats.height)
    chooser = model.chooser()
    n = min(len(norm), 60)
    inputs = [model.prepare_step(model.label_image(k, size), model.model_keypoints(k, size), chooser)
              for k in norm.keypoints[:n]]
    model.run_step(inputs[0], None)
    t = time.perf_counter()
    prev = None
    for inp in inputs:
        prev, _ = model.run_step(inp, prev)
    gen_fps = n / (time.perf_counter() - t)
    w, h = model.image_size
    gen = {"what": f"{who}: generator step alone (+face), threads {torch.get_num_threads()}", "size": h, "fps": gen_fps}
    rows.append(gen)
    print(_line(gen), flush=True)
    base = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        for overlap, th in [(True, t) for t in threads] + [(False, base)]:
            out = Path(tmp) / f"out{int(overlap)}.mp4"
            src = poses if not frames else _save(seq, Path(tmp))
            res = transfer_to_file(model, src, out, config=TransferConfig(overlap=overlap, threads=th), progress=False)
            torch.set_num_threads(base)
            fps = res.frames / res.seconds
            row = {"what": f"{who}: transfer end to end, {'overlapped' if overlap else 'serial'}, gen. threads {th}",
                   "size": h, "fps": fps, "frames": res.frames, "of_generator": fps / gen_fps,
                   "output": f"{res.size[0]}x{res.size[1]}", "threads": th}
            rows.append(row)
            print(_line(row), flush=True)
    return rows


def _save(seq, folder: Path) -> Path:
    from dancenow.posefile import save_poses

    path = folder / "poses.npz"
    if not path.exists():
        save_poses(seq, path)
    return path


def live_rows(model_dir: Path, clip: Path, fast: bool, frames: int, threads: list[int]) -> list[dict]:
    from dancenow.live import LiveTransferConfig, run_live_transfer
    from dancenow.synth.model import SynthModel

    model = SynthModel.load(model_dir, fast=fast)
    who = "fast student" if fast else "full model"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = torch.get_num_threads()
        for overlap, th in [(True, t) for t in threads] + [(False, base)]:
            st = run_live_transfer(model, clip, record=Path(tmp) / "live.mp4", show=False,
                                   config=LiveTransferConfig(body_only=True, max_frames=frames, overlap=overlap, threads=th))
            torch.set_num_threads(base)
            row = {"what": f"{who}: live, body-only detection, {'overlapped' if overlap else 'serial'}, gen. threads {th}",
                   "size": model.image_size[1], "fps": st.rate, "frames": st.frames, "missing": st.missing, "threads": th}
            rows.append(row)
            print(_line(row), flush=True)
    return rows


def quality_rows(model_dir: Path, data_dir: Path, sheet: Path | None) -> list[dict]:
    """Held-out SSIM of the full model and the fast student on the same frames (the prepared
    data's tail, generated in sequence as transfer does), beside retrieval; bench/synth_quality.py's
    `held_out` does the work. `sheet`: teacher | student | real contact sheet."""
    from synth_quality import held_out, sheet as contact_sheet

    from dancenow.images import write_image
    from dancenow.synth.data import SynthData
    from dancenow.synth.model import SynthModel

    data = SynthData(data_dir)
    full = held_out(SynthModel.load(model_dir), data)
    fast = held_out(SynthModel.load(model_dir, fast=True), data)
    rows = []
    for who, rep in (("full model", full.ours_report), ("fast student", fast.ours_report), ("retrieval", full.retrieval_report)):
        row = {"what": f"held-out quality: {who}", "size": data.size[1], "ssim": rep.ssim, "psnr": rep.psnr,
               "person_ssim": rep.person_ssim, "frames": rep.frames}
        rows.append(row)
        print(_line(row), flush=True)
    if sheet is not None:
        pick = np.linspace(0, len(full.reals) - 1, 5).round().astype(int)
        img = contact_sheet([(full.ours[i], fast.ours[i], full.reals[i]) for i in pick], ("full model", "fast student", "real"))
        write_image(sheet, img)
        print(f"wrote {sheet}")
    return rows


def _line(r: dict) -> str:
    parts = [f"{r['what']:<58}", f"{r['size']:>4} px"]
    if "ssim" in r:
        parts.append(f"SSIM {r['ssim']:.4f} (person {r['person_ssim']:.4f}), PSNR {r['psnr']:.2f} dB, {r['frames']} frames")
    elif "gflop" in r:
        parts.append(f"{r['gflop']:7.2f} GFLOP")
        for mode in ("fp32", "bf16"):
            if f"{mode}_ms" in r:
                parts.append(f"{mode} {r[f'{mode}_ms']:8.1f} ms {r[f'{mode}_fps']:6.1f} fps ({100 * r[f'{mode}_of_peak']:4.0f}% of fp32 matmul)")
    else:
        parts.append(f"{r['fps']:6.1f} fps")
        if "of_generator" in r:
            parts.append(f"({100 * r['of_generator']:.0f}% of the generator alone; {r['frames']} frames, output {r['output']})")
        if "missing" in r:
            parts.append(f"({r['frames']} frames, {r['missing']} without a person)")
    return " | ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="a trained model directory (with a student for --fast rows)")
    ap.add_argument("--poses", type=Path, default=None, help="source poses (.npz) for transfer end to end")
    ap.add_argument("--frames", type=int, default=None, help="use the first N source poses only")
    ap.add_argument("--clip", type=Path, default=None, help="a video standing in for the camera (live rows)")
    ap.add_argument("--live-frames", type=int, default=150)
    ap.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="generator threads tried in overlapped transfer")
    ap.add_argument("--budget", type=float, default=2.0, help="seconds of timing per generator and mode")
    ap.add_argument("--no-bf16", action="store_true")
    ap.add_argument("--skip-generators", action="store_true")
    ap.add_argument("--data", type=Path, default=None, help="the model's prepared data: held-out SSIM full vs student")
    ap.add_argument("--sheet", type=Path, default=None, help="with --data: write a full | student | real contact sheet here")
    ap.add_argument("--json", type=Path, default=None, help="write every row here")
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    info = {"torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "load": os.getloadavg(),
            "bf16_native": bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())}
    fp32 = matmul_rate(torch.float32)
    bf16 = matmul_rate(torch.bfloat16)
    info.update(fp32_matmul_gflops=fp32, bf16_matmul_gflops=bf16)
    print(f"machine: {info['cpus']} CPUs, torch threads {info['torch_threads']}, load {info['load'][0]:.2f}; "
          f"matmul {fp32:.0f} GFLOP/s fp32, {bf16:.0f} GFLOP/s bf16", flush=True)
    rows = [] if args.skip_generators else generator_rows(fp32, args.budget, not args.no_bf16)
    if args.model is not None and args.data is not None:
        rows += quality_rows(args.model, args.data, args.sheet)
    if args.model is not None:
        for fast in (False, True):
            if fast and not (args.model / "student.safetensors").is_file():
                print("(no student in the model: no fast rows)")
                continue
            if args.poses is not None:
                rows += model_rows(args.model, args.poses, fast, args.frames, args.threads)
            if args.clip is not None:
                rows += live_rows(args.model, args.clip, fast, args.live_frames, args.threads)
    print()
    for r in rows:
        print(_line(r))
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    sys.exit(main())
