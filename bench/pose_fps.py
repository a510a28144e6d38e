"""Frames per second and peak memory of `dancenow pose` end to end (decode, track and detect,
smooth, write) on a real clip, beside MediaPipe Holistic's own rate on the same frames.

    python bench/pose_fps.py [--clip PATH] [--frames N] [--rounds 2]

Holistic's own rate: the clip decoded into memory first, then plain Holistic (video mode, model
complexity 1, the same settings `dancenow pose` uses) over those frames, in this process.
End to end: `dancenow pose CLIP -o poses.npz` in a child process; we report the pipeline time
measured inside it (decode + detect + smooth + write, after imports) and the whole command's
wall time (with interpreter start and imports), and its peak resident memory. The two are run
alternately `--rounds` times and the medians reported, because a shared machine's speed drifts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "real" / "openpose_dance_street.avi"

# Runs in the child: the CLI command itself, timed from just before it starts (imports done).
CHILD = r"""
import json, sys, time
from dancenow.cli import main
import dancenow.pose.detect, mediapipe  # import cost is reported separately (wall time)
t = time.perf_counter()
main(["pose", sys.argv[1], "-o", sys.argv[2], "-q"] + sys.argv[3:], standalone_mode=False)
seconds = time.perf_counter() - t
# peak resident memory of this process since exec (VmHWM; ru_maxrss would count the fork)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print("BENCH " + json.dumps({"seconds": seconds, "peak_kb": hwm}))
"""


def holistic_rate(frames) -> float:
    """Frames/s of plain MediaPipe Holistic over in-memory frames (graph built beforehand)."""
    import mediapipe as mp

    with mp.solutions.holistic.Holistic(static_image_mode=False, model_complexity=1, smooth_landmarks=False) as h:
        h.process(frames[0])  # the first call starts the graph's models: not part of the rate
        t = time.perf_counter()
        for f in frames[1:]:
            h.process(f)
        return (len(frames) - 1) / (time.perf_counter() - t)


def end_to_end(clip: Path, extra: list[str]) -> dict:
    """One `dancenow pose` run in a child process: pipeline seconds, wall seconds, peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "poses.npz"
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, str(clip), str(out), *extra],
                              capture_output=True, text=True, env={**os.environ, "GLOG_minloglevel": "2"})
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise SystemExit(f"dancenow pose failed:\n{proc.stderr[-2000:]}")
        line = next(x for x in proc.stdout.splitlines() if x.startswith("BENCH "))
        inner = json.loads(line[6:])
    return {"pipeline_s": inner["seconds"], "wall_s": wall, "peak_mb": inner["peak_kb"] / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    ap.add_argument("--frames", type=int, default=None, help="Use only the first N frames (default: all).")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if not args.clip.is_file():
        raise SystemExit(f"clip not found: {args.clip} (the shared data folder sits beside the checkout)")
    import numpy as np

    from dancenow.video import probe, read_frames, write_video

    info = probe(args.clip)
    frames = []
    for f in read_frames(args.clip):
        frames.append(f)
        if args.frames and len(frames) == args.frames:
            break
    clip = args.clip
    tmpdir = None
    if args.frames:  # the child must see the same frames: write them out (H.264, near-lossless)
        tmpdir = tempfile.TemporaryDirectory()
        clip = write_video(Path(tmpdir.name) / "clip.mp4", frames, info.fps)
    n = len(frames)
    print(f"clip: {args.clip.name}, {n} frames, {info.width}x{info.height}, {info.fps:g} fps; "
          f"{os.cpu_count()} CPU cores (shared: figures vary with the machine's load)")

    base, e2e = [], []
    for r in range(args.rounds):
        base.append(holistic_rate(frames))
        e2e.append(end_to_end(clip, []))
        print(f"  round {r + 1}: Holistic {base[-1]:.1f} frames/s; dancenow pose {n / e2e[-1]['pipeline_s']:.1f} "
              f"frames/s (pipeline), {n / e2e[-1]['wall_s']:.1f} frames/s (whole command)", flush=True)
    b = statistics.median(base)
    p = statistics.median(n / x["pipeline_s"] for x in e2e)
    w = statistics.median(n / x["wall_s"] for x in e2e)
    decoded_mb = float(np.stack(frames[:1]).nbytes) * n / 2**20
    print(f"Holistic alone, pre-decoded frames: {b:.1f} frames/s (median of {args.rounds})")
    print(f"dancenow pose, decode+detect+smooth+write: {p:.1f} frames/s = {100 * p / b:.0f}% of Holistic's rate")
    print(f"dancenow pose, whole command incl. start-up and imports: {w:.1f} frames/s = {100 * w / b:.0f}%")
    print(f"peak memory of dancenow pose: {max(x['peak_mb'] for x in e2e):.0f} MB "
          f"(frames are streamed: the whole clip decoded would take another {decoded_mb:.0f} MB)")
    if tmpdir is not None:
        tmpdir.cleanup()


if __name__ == "__main__":
    main()
