"""How fast the synthetic world renders, and how real it looks to MediaPipe.

    python bench/world_fps.py                      # 60 s, 30 fps, 256x256, every named actor
    python bench/world_fps.py --seconds 10 --encode
    python bench/world_fps.py --realism 10 --sample /work/notes/synthetic_sample.png

Speed: the time to generate the dance, to perform it (forward kinematics + projection) and to
render every frame, per actor, as frames/s; `--encode` adds H.264 writing (dancenow.video).
A same-run reference (a fixed numpy workload) is timed too, so figures taken on a loaded
machine can be compared. Realism: MediaPipe Holistic (model_complexity=1, tracking mode) on
the rendered RGB frames; its 33 pose landmarks mapped to BODY_25 and compared with the exact
ground truth: detection rate, and the median error over 13 body keypoints in units of the
ground-truth body height (head to ankles, `dancenow.keypoints.body_height`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from dancenow.keypoints import Joint, body_height
from dancenow.world import ACTORS, generate_dance, perform, render_frames

# BODY_25 index -> MediaPipe Pose landmark index (the person's right is MediaPipe's right)
MP_OF_BODY25 = {
    Joint.NOSE: 0, Joint.R_SHOULDER: 12, Joint.R_ELBOW: 14, Joint.R_WRIST: 16, Joint.L_SHOULDER: 11,
    Joint.L_ELBOW: 13, Joint.L_WRIST: 15, Joint.R_HIP: 24, Joint.R_KNEE: 26, Joint.R_ANKLE: 28,
    Joint.L_HIP: 23, Joint.L_KNEE: 25, Joint.L_ANKLE: 27,
}


def reference_workload() -> float:
    """Seconds for a fixed numpy job (matrix products): a yardstick for the machine's load."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 256)).astype(np.float32)
    t0 = time.perf_counter()
    for _ in range(200):
        a = np.tanh(a @ a.T * 0.01)
    return time.perf_counter() - t0


def speed(actor: str, seconds: float, size: int, seed: int, encode: bool) -> dict:
    t0 = time.perf_counter()
    dance = generate_dance(seed, seconds)
    t1 = time.perf_counter()
    perf = perform(actor, dance, (size, size))
    t2 = time.perf_counter()
    if encode:
        from dancenow.video import VideoWriter

        with tempfile.TemporaryDirectory() as d, VideoWriter(Path(d) / "clip.mp4", dance.fps) as w:
            for f in render_frames(actor, perf):
                w.write(f)
    else:
        for _ in render_frames(actor, perf):
            pass
    t3 = time.perf_counter()
    return {"frames": len(dance), "dance_s": t1 - t0, "perform_s": t2 - t1, "render_s": t3 - t2,
            "fps": len(dance) / (t3 - t1)}


def realism(actor: str, seconds: float, size: int, seed: int) -> dict:
    import mediapipe as mp

    perf = perform(actor, generate_dance(seed, seconds), (size, size))
    gt = perf.poses.keypoints
    height = body_height(gt)
    detected, errors = 0, []
    with mp.solutions.holistic.Holistic(static_image_mode=False, model_complexity=1) as holistic:
        for t, frame in enumerate(render_frames(actor, perf)):
            res = holistic.process(frame)
            if res.pose_landmarks is None:
                continue
            detected += 1
            lm = res.pose_landmarks.landmark
            for b, m in MP_OF_BODY25.items():
                err = np.hypot(lm[m].x * size - gt[t, b, 0], lm[m].y * size - gt[t, b, 1])
                errors.append(err / height[t])
    return {"frames": len(gt), "detected": detected / len(gt),
            "median_err": float(np.median(errors)) if errors else float("nan"),
            "p90_err": float(np.percentile(errors, 90)) if errors else float("nan"),
            "body_px": (float(np.min(height)), float(np.max(height)))}


def sample(path: str, seed: int, size: int) -> None:
    """Two actors doing the same dance at the same moment, and the first with its ground truth."""
    from dancenow.images import write_image
    from dancenow.render import overlay

    dance = generate_dance(seed, 4.0)
    t = 75
    frames = []
    for name in ("ana", "ben"):
        perf = perform(name, dance, (size, size))
        from dancenow.world.draw import Renderer

        frame = Renderer(ACTORS[name], perf).frame(t)
        frames.append(frame)
        if name == "ana":
            gt = overlay(frame, perf.poses.keypoints[t])
    write_image(path, np.concatenate(frames + [gt], axis=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--actors", default=",".join(ACTORS))
    ap.add_argument("--encode", action="store_true", help="also encode H.264 (VideoWriter)")
    ap.add_argument("--realism", type=float, default=0.0, help="seconds of clip to check with MediaPipe (0: skip)")
    ap.add_argument("--sample", default=None, help="write a sample frame panel to this .png")
    ap.add_argument("--sample-seed", type=int, default=10, help="dance seed of the sample panel")
    args = ap.parse_args()
    ref = reference_workload()
    print(f"reference numpy workload: {ref:.2f} s (higher = busier machine)")
    for name in args.actors.split(","):
        r = speed(name, args.seconds, args.size, args.seed, args.encode)
        print(f"{name:6s} {r['frames']} frames {args.size}x{args.size}: dance {r['dance_s']:.2f} s, perform "
              f"{r['perform_s']:.2f} s, render{'+encode' if args.encode else ''} {r['render_s']:.1f} s "
              f"-> {r['fps']:.0f} frames/s")
    if args.realism > 0:
        for name in args.actors.split(","):
            r = realism(name, args.realism, args.size, args.seed)
            print(f"{name:6s} MediaPipe on {r['frames']} frames: detected {100 * r['detected']:.1f}%, median body "
                  f"error {100 * r['median_err']:.2f}% of body height (p90 {100 * r['p90_err']:.2f}%), "
                  f"body {r['body_px'][0]:.0f}-{r['body_px'][1]:.0f} px")
    if args.sample:
        sample(args.sample, args.sample_seed, args.size)
        print(f"wrote {args.sample}")
    print(f"reference numpy workload after: {reference_workload():.2f} s")


if __name__ == "__main__":
    main()
