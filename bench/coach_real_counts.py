"""Repetition counts on the real fitness clips, beside the counts made by watching them and a
simple baseline, with each clip's per-repetition table and report.

    python bench/coach_real_counts.py [--out /tmp/coach_bench] [--fps 0]

For each clip: poses detected at the clip's own rate (or --fps), `coach exercise` analysis,
its report written to OUT/<clip>/, and the count compared with
  watched   the count made by looking at contact sheets of the clip (see tests/coach/test_real.py)
  baseline  upward crossings of half the full range by the raw progress signal (no smoothing,
            no hysteresis): the simplest counter
The baseline is also run on a generated squat sequence with detector-like jitter, where its
double counts show.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FOOTAGE = ROOT.parent / "shared" / "data" / "footage"
CLIPS = (("t2_airsquat_white.mp4", "squat", 9), ("t3_jumpingjacks_white.mp4", "jumping-jack", 19))


def baseline_count(p: np.ndarray, level: float = 0.5) -> int:
    """Upward crossings of `level` by the raw signal (NaN frames skipped)."""
    q = p[np.isfinite(p)]
    return int(np.sum((q[1:] >= level) & (q[:-1] < level)))


def table(result) -> list[str]:
    ex = result.exercise
    p1, p2, p3 = ex.phases
    rom = ex.rom[0]
    lines = [f"{'#':>2} {'status':<7} {'view':<7} {'time':>11} {p1:>6} {p2:>6} {p3:>6} {'depth':>6} "
             f"{rom + ' max':>18} {'score':>5}  faults / cannot judge"]
    for r in result.reps:
        faults = [c.title for c in r.faults]
        hidden = [c.title for c in r.checks if c.status == "cannot judge"]
        lo, hi = r.rom.get(rom, (float("nan"), float("nan")))
        lines.append(f"{r.number:>2} {r.status:<7} {r.view:<7} {r.start_s:5.1f}-{r.stop_s:5.1f} {r.down_s:6.2f} "
                     f"{r.hold_s:6.2f} {r.up_s:6.2f} {100 * r.depth:5.0f}% {hi:18.1f} {r.score:5.0f}  "
                     f"{', '.join(faults) or 'none'} / {', '.join(hidden) or '-'}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/coach_bench"))
    ap.add_argument("--fps", type=float, default=0.0, help="Detect at this rate (0: each clip's own).")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from dancenow.coach.exercise import analyze_exercise
    from dancenow.coach.exercise_report import write_exercise_report
    from dancenow.coach.exercises import get_exercise
    from dancenow.pose import PoseConfig, detect_video

    for name, exercise, watched in CLIPS:
        clip = FOOTAGE / name
        if not clip.is_file():
            raise SystemExit(f"clip not found: {clip} (the shared data folder sits beside the checkout)")
        t = time.perf_counter()
        seq = detect_video(clip, PoseConfig(face=False, hands=False), fps=args.fps or None, progress=False)
        result = analyze_exercise(seq, get_exercise(exercise))
        report = write_exercise_report(result, args.out / clip.stem, clip if not args.fps else None)
        print(f"\n{name}: {len(seq)} frames at {seq.fps:.2f} fps ({time.perf_counter() - t:.0f} s with detection)")
        print(f"  counted {result.full} full + {result.partial} partial; watched {watched}; "
              f"baseline {baseline_count(result.progress)}")
        print("  " + "\n  ".join(table(result)))
        print(f"  report: {report}")

    import sys

    sys.path.insert(0, str(ROOT))  # the generated sequences of the tests: known answers
    from tests.coach.figures import reps, squats

    seq = squats(None, segments=reps([1.0] * 8) + [(0.6, 0, 0.7), (1.0, 0.7, 0.7), (0.6, 0.7, 0)], noise_px=6.0, seed=5)
    result = analyze_exercise(seq, get_exercise("squat"))
    print(f"\ngenerated: 8 squats + 1 half-way, 6 px jitter: counted {result.full} full + {result.partial} partial; "
          f"baseline {baseline_count(result.progress)} (truth 8 + 1 partial)")


if __name__ == "__main__":
    main()
