"""Frames per second of `dancenow coach live` (exercise mode, no window, recording what it
shows) on a real clip, beside the pose tracker alone on the same frames (the floor any live
mode sits on), in one run.

    python bench/coach_live_fps.py [--clip PATH] [--frames N] [--exercise squat] [--every 1]

Rows (each over the same first N frames, decoded as they play, in this process):
  tracker alone   decode + MediaPipe body-only tracking (PersonTracker.step), nothing else
  live, recorded  decode + tracking + measures + counter + drawing + H.264 recording
The issue asks for >= 15 frames/s on 2 cores. The load average is printed beside the figures:
other work on the machine lowers them, so compare only rows of one run.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "footage" / "t2_airsquat_white.mp4"


def tracker_alone(clip: Path, frames: int) -> float:
    from dancenow.pose import PoseConfig
    from dancenow.pose.track import PersonTracker
    from dancenow.video import probe, read_frames

    tracker = PersonTracker(PoseConfig(face=False, hands=False), probe(clip).fps)
    n = 0
    t = time.perf_counter()
    try:
        for f in read_frames(clip):
            tracker.step(f)
            n += 1
            if n >= frames:
                break
    finally:
        tracker.close()
    return n / (time.perf_counter() - t)


def live(clip: Path, frames: int, exercise: str, every: int) -> tuple[float, int]:
    from dancenow.coach.exercises import get_exercise
    from dancenow.coach.live import LiveConfig, run_live

    with tempfile.TemporaryDirectory() as tmp:
        stats = run_live(clip, exercise=get_exercise(exercise), record=Path(tmp) / "live.mp4", show=False,
                         config=LiveConfig(every=every, max_frames=frames))
    return stats.rate, stats.full


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--exercise", default="squat")
    ap.add_argument("--every", type=int, default=1)
    args = ap.parse_args()
    if not args.clip.is_file():
        raise SystemExit(f"clip not found: {args.clip} (the shared data folder sits beside the checkout)")
    logging.basicConfig(level=logging.WARNING)
    from dancenow.video import probe

    info = probe(args.clip)
    print(f"clip: {args.clip.name}, first {min(args.frames, info.frame_count)} of {info.frame_count} frames, "
          f"{info.width}x{info.height}, {info.fps:g} fps; {os.cpu_count()} CPU cores, "
          f"load average before: {os.getloadavg()[0]:.1f}")
    base = tracker_alone(args.clip, args.frames)
    print(f"tracker alone (decode + body-only tracking): {base:.1f} frames/s", flush=True)
    rate, reps = live(args.clip, args.frames, args.exercise, args.every)
    print(f"coach live, recorded (--every {args.every}): {rate:.1f} frames/s = {100 * rate / base:.0f}% of the tracker "
          f"alone; {reps} {args.exercise} reps counted")
    print(f"load average after: {os.getloadavg()[0]:.1f} (2 idle cores: about 0; figures shrink as it grows)")


if __name__ == "__main__":
    main()
