"""The choreography model's real evaluation (issue 8): train on the shared dance data with CMU
salsa takes 01-03 of both partners held out whole, then forecast those six takes in 2D at 30 fps
from 1 s of motion, against the zero-velocity, constant-velocity and mean-pose baselines.

    python bench/choreo_salsa_eval.py --out runs/choreo-salsa          # train (resumes) + evaluate
    python bench/choreo_salsa_eval.py --out runs/choreo-loso --leave-out jpop   # leave one style out
    python bench/choreo_salsa_eval.py --out runs/choreo-salsa --video dance.mp4  # + a 30 s dance

With --leave-out STYLE that style is left out of training entirely and the model (style "any")
is also evaluated on it. One CPU thread by default: the machines this runs on are shared.
Timing figures are CPU time of this process and wall time; both depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch

from dancenow.choreo.config import TrainConfig
from dancenow.choreo.data import SALSA_TEST_TAKES, load_clips, shared_sources
from dancenow.choreo.evaluate import evaluate_clips
from dancenow.choreo.generate import Choreographer, write_dance
from dancenow.choreo.checkpoint import load_model
from dancenow.choreo.train import train

ROOT = Path(__file__).resolve().parents[1]

# The settings of the reported run (see the report for the figures they gave).
# Spelled out in full (not left to TrainConfig's defaults) so the run stays reproducible.
SETTINGS = dict(fps=30.0, dims=2, front="world", mirror=True, hidden=384, layers=2, mixtures=8, style_dim=16,
                dropout=0.5, velocity=True, batch_size=32, bptt=30, episode=4, lr=2e-3, min_lr_frac=0.05,
                warmup=100, weight_decay=1e-4, grad_clip=1.0, style_dropout=0.15, transition=0.2,
                transition_lead=30, transition_blend=15, input_noise=0.02, rollout_weight=10.0,
                rollout_frames=30, rollout_context=30, rollout_batch=16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "dance"))
    ap.add_argument("--out", default="runs/choreo-salsa", help="model folder (resumes if it holds checkpoints)")
    ap.add_argument("--steps", type=int, default=1800)
    ap.add_argument("--leave-out", default=None, help="a style left out of training and evaluated as unseen")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="training device (cpu or cuda); evaluation runs on the CPU")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override one of SETTINGS (e.g. input_noise=0.02); repeatable")
    ap.add_argument("--health-temperatures", default="0.8,1.0",
                    help="temperatures of the extra 60 s health generations (comma-separated)")
    ap.add_argument("--pulls", default="0,0.7",
                    help="limb pulls toward the median length tried in those generations (comma-separated)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--video", default=None, help="also write a 30 s generated salsa stick-figure video here")
    ap.add_argument("--json", default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    torch.set_num_threads(args.threads)

    settings = dict(SETTINGS)
    for kv in args.set:
        k, _, v = kv.partition("=")
        if k not in settings:
            ap.error(f"--set {kv}: {k} is not one of SETTINGS")
        settings[k] = type(settings[k])(v) if not isinstance(settings[k], bool) else v.lower() in ("1", "true", "yes")
    sources = [(str(p), s) for p, s in shared_sources(args.data) if s != args.leave_out]
    cfg = TrainConfig(sources=sources, out_dir=args.out, exclude=list(SALSA_TEST_TAKES), steps=args.steps,
                      threads=args.threads, seed=args.seed, checkpoint_every=300, keep=10, device=args.device,
                      progress=False, **settings)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    ckpt = train(cfg)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"training: {ckpt} ({cfg.steps} steps; this invocation {cpu / 60:.1f} CPU min, {wall / 60:.1f} wall min)")

    model, info = load_model(ckpt)
    salsa_test = [c for p, s in shared_sources(args.data) if Path(p).stem in SALSA_TEST_TAKES for c in load_clips(p, s)]
    assert len(salsa_test) == 6, [c.name for c in salsa_test]
    results = {}
    rep = evaluate_clips(model, info, salsa_test, style="salsa", health_seconds=60)
    print("\n== held-out CMU salsa takes 01-03 of subjects 60 and 61, style 'salsa'")
    print(rep.text())
    results["salsa"] = rep.to_dict()
    from dancenow.choreo.evaluate import dance_health

    seed = max(salsa_test, key=len).slice(0, 30)
    results["health_by_temperature"] = {}
    for pull in [float(p) for p in args.pulls.split(",") if p]:
        ch = Choreographer(model, info, pull=pull)
        for temp in [float(t) for t in args.health_temperatures.split(",") if t]:
            dance = ch(seed, seconds=60, temperature=temp, style="salsa", random_seed=args.seed)
            hr = dance_health(dance.pose[dance.seed_frames:], dance.fps, info["reference"]["salsa"])
            print(f"health at temperature {temp:g}, pull {pull:g}: {hr.summary()}")
            results["health_by_temperature"][f"{temp:g}/{pull:g}"] = {**hr.__dict__, "ok": hr.ok}
    rep_any = evaluate_clips(model, info, salsa_test, style="any", health_seconds=0)
    print("\n== same takes, style 'any' (no style given)")
    print(rep_any.forecast.table())
    results["salsa_any"] = rep_any.to_dict()
    if args.leave_out:
        unseen = [c for p, s in shared_sources(args.data) if s == args.leave_out for c in load_clips(p, s)]
        rep_u = evaluate_clips(model, info, unseen, style="any", health_seconds=0)
        print(f"\n== left-out style '{args.leave_out}' (never seen in training), style 'any'")
        print(rep_u.forecast.table())
        results["left_out"] = {"style": args.leave_out, **rep_u.to_dict()}
    if args.video:
        ch = Choreographer(model, info)
        seed = salsa_test[0].slice(300, 330)  # 1 s of held-out salsa as the seed
        dance = ch(seed, seconds=30, temperature=0.8, style="salsa", random_seed=args.seed)
        write_dance(dance, args.video)
        write_dance(dance, Path(args.video).with_suffix(".npz"))
        print(f"\nwrote {args.video} (+ .npz): 1 s seed from {salsa_test[0].name}, 30 s generated at temperature 0.8, "
              f"{dance.frames_per_second:.0f} frames/s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
