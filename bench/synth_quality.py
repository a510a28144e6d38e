"""Synthesis quality per CPU-minute, against retrieval: one table and a contact sheet per case.

For each case: prepare the target (cached), train a model for a fixed budget (default 15 min of
wall time on this machine; `--steps N` for exact runs), generate the held-out tail as transfer
does, and score it beside the simplest possible model, retrieval (the training frame whose body
keypoints are nearest, shown unchanged), on the same frames: SSIM and PSNR over the whole frame
(the model's 256 px crop), the person's box (body keypoints + 10% of the body height) and the
face crop (LPIPS where its weights are on this machine).

Cases: synthetic (the demo's target actor, static camera, its own held-out tail), demo (`dancenow
demo`'s transfer against the target actor rendered doing the source dance), and real clips of
../shared/data/footage/: taiji (t6), ballet (t5, 240p, a skirt), jacks (t3, frames 90-667),
squat (t2, frames 0-950).

    python bench/synth_quality.py                       # every case, 15 min each (about 1.5 h)
    python bench/synth_quality.py --cases taiji --steps 600 --set loss.l1=0 --tag no-l1

Writes bench_out/synth_quality/<case>[-tag].png (rows of pose | retrieval | ours | real) and
results.json there. Timings depend on what else the machine runs: compare figures measured in
the same conditions (the table prints CPU-minutes beside wall minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FOOTAGE = ROOT.parent / "shared" / "data" / "footage"


@dataclass(frozen=True)
class Case:
    name: str
    video: str | None = None  # a file of ../shared/data/footage
    span: tuple[float, float | None] | None = None  # seconds
    note: str = ""


CASES = {
    "synthetic": Case("synthetic", note="demo target actor, static camera, 60 s, held-out tail"),
    "demo": Case("demo", note="dancenow demo: transfer vs the truth video (full frame)"),
    "taiji": Case("taiji", "t6_taiji_room.mp4", note="tai-chi, 17 s, camera drifts (steadied)"),
    "ballet": Case("ballet", "t5_ballet_room_240p.mp4", note="ballet, 240p, red skirt"),
    "jacks": Case("jacks", "t3_jumpingjacks_white.mp4", (90 / 29.97, 668 / 29.97), note="jumping jacks, frames 90-667 (title card before, fade after)"),
    "squat": Case("squat", "t2_airsquat_white.mp4", (0.0, 950 / 23.976), note="air squats, frames 0-950, two views"),
}
DEFAULT_CASES = ("synthetic", "demo", "taiji", "ballet", "jacks")


def prepare_case(case: Case, work: Path, size: tuple[int, int]) -> Path:
    from dancenow.synth.prepare import prepare

    out = work / "data" / f"{case.name}-{size[0]}x{size[1]}"
    if case.video is not None:
        return prepare(FOOTAGE / case.video, out, size, span=case.span, progress=False)
    from dancenow.demo import DemoConfig, target_performance
    from dancenow.video import write_video
    from dancenow.world import render_frames

    cfg = DemoConfig().resolved()
    actor, perf = target_performance(cfg, seconds=60.0)
    video = work / "data" / "synthetic.mp4"
    if not video.is_file():
        write_video(video, render_frames(actor, perf), perf.poses.fps, progress=False)
    return prepare(video, out, size, poses=perf.poses, progress=False)


def override(cfg, assignments: list[str]):
    """key.sub=JSON edits of a SynthConfig (e.g. loss.l1=0, plate=false, generator.ngf=24)."""
    from dancenow.synth.config import SynthConfig

    d = cfg.to_dict()
    for a in assignments:
        key, _, value = a.partition("=")
        node = d
        *path, last = key.split(".")
        for k in path:
            node = node[k]
        if last not in node:
            raise SystemExit(f"--set {a}: no setting {key}")
        node[last] = json.loads(value)
    return SynthConfig.from_dict(d, "--set")


def sheet(rows: list[tuple[np.ndarray, ...]], titles: tuple[str, ...]) -> np.ndarray:
    from dancenow.render import caption

    gap = 3
    out_rows = []
    for r in rows:
        cells = [caption(img, t) for img, t in zip(r, titles)]
        sep = np.full((cells[0].shape[0], gap, 3), 255, np.uint8)
        out_rows.append(np.concatenate(sum(([c, sep] for c in cells), [])[:-1], axis=1))
        out_rows.append(np.full((gap, out_rows[-1].shape[1], 3), 255, np.uint8))
    return np.concatenate(out_rows[:-1], axis=0)


def figures(report) -> dict:
    return {"ssim": report.ssim, "psnr": report.psnr, "lpips": report.lpips,
            "person_ssim": report.person_ssim, "person_psnr": report.person_psnr, "person_lpips": report.person_lpips,
            "face_ssim": report.face_ssim, "face_psnr": report.face_psnr, "face_lpips": report.face_lpips,
            "frames": report.frames}


@dataclass
class HeldOut:
    """A model's held-out tail, generated in sequence as transfer does, beside retrieval: the
    frames (model space) and their reports (SSIM, PSNR, ... against the real frames)."""

    ours: list
    retrieved: list
    reals: list
    ours_report: object
    retrieval_report: object
    generate_fps: float


def held_out(model, data) -> HeldOut:
    """Generate data's held-out frames with `model` (a SynthModel, full or fast) and score them
    and the retrieval baseline against the real frames."""
    from dancenow.evaluate import EvalConfig, evaluate_pairs
    from dancenow.keypoints import PoseSequence
    from dancenow.synth.exemplar import retrieve

    val = data.val
    g0 = time.perf_counter()
    ours = [g.image for g in model.generate_sequence((np.array(data.labels[t]) for t in val), (data.keypoints[t] for t in val))]
    gen_fps = len(ours) / (time.perf_counter() - g0)
    train_idx = np.arange(data.train.start, data.train.stop)
    nearest = train_idx[retrieve(data.keypoints[val.start:val.stop], data.keypoints[train_idx])]
    retrieved = [np.array(data.frames[i]) for i in nearest]
    reals = [np.array(data.frames[t]) for t in val]
    w, h = data.size
    ref = PoseSequence(data.keypoints[val.start:val.stop], data.fps, w, h)
    ecfg = EvalConfig(pose=False, examples=0)
    rep_ours = evaluate_pairs(zip(ours, reals), data.fps, ref, ecfg, progress=False)
    rep_retr = evaluate_pairs(zip(retrieved, reals), data.fps, ref, ecfg, progress=False)
    return HeldOut(ours, retrieved, reals, rep_ours, rep_retr, gen_fps)


def run_case(case: Case, args, out: Path) -> dict:
    from dancenow.images import write_image
    from dancenow.synth.config import preset
    from dancenow.synth.data import SynthData
    from dancenow.synth.model import SynthModel
    from dancenow.synth.train import train

    tag = f"-{args.tag}" if args.tag else ""
    cfg = override(preset(args.preset), args.set)
    t0 = time.perf_counter()
    data_dir = prepare_case(case, args.work, cfg.image_size)
    prep_s = time.perf_counter() - t0
    data = SynthData(data_dir)
    run = args.work / "runs" / f"{case.name}{tag}"
    if run.exists():
        shutil.rmtree(run)
    w0, c0 = time.perf_counter(), time.process_time()
    train(cfg, data_dir, run, steps=args.steps, minutes=None if args.steps else args.minutes, progress=not args.quiet)
    train_wall, train_cpu = time.perf_counter() - w0, time.process_time() - c0
    steps = json.loads((run / "train_summary.json").read_text())["steps"]

    model = SynthModel.load(run)
    val = data.val
    h_o = held_out(model, data)
    ours, retrieved, reals, rep_ours, rep_retr, gen_fps = (h_o.ours, h_o.retrieved, h_o.reals, h_o.ours_report,
                                                           h_o.retrieval_report, h_o.generate_fps)
    w, h = data.size
    pick = np.linspace(0, len(val) - 1, 6).round().astype(int)
    rows = [(np.array(data.labels[val.start + i]), retrieved[i], ours[i], reals[i]) for i in pick]
    png = write_image(out / f"{case.name}{tag}.png", sheet(rows, ("pose", "retrieval", "ours", "real")))
    return {"case": case.name, "note": case.note, "tag": args.tag, "camera": data.camera, "frames": len(data),
            "held_out": len(val), "size": [w, h], "steps": steps, "train_wall_min": train_wall / 60,
            "train_cpu_min": train_cpu / 60, "prepare_min": prep_s / 60, "generate_fps": gen_fps,
            "ours": figures(rep_ours), "retrieval": figures(rep_retr), "sheet": str(png),
            "overrides": args.set}


def run_demo_case(args, out: Path) -> dict:
    from dancenow.demo import DemoConfig, run_demo

    w0, c0 = time.perf_counter(), time.process_time()
    res = run_demo(DemoConfig(out_dir=args.work / "demo", train_steps=args.steps))
    m = res.metrics
    shutil.copyfile(res.outputs["sample"], out / "demo.png")
    return {"case": "demo", "note": CASES["demo"].note, "tag": args.tag, "camera": "static", "steps": m["steps"],
            "train_wall_min": m.get("train_seconds", 0.0) / 60, "train_cpu_min": None,
            "demo_wall_min": (time.perf_counter() - w0) / 60, "demo_cpu_min": (time.process_time() - c0) / 60,
            "ours": m["ours"], "retrieval": m["retrieval"], "flicker": m["flicker"], "sheet": str(out / "demo.png"),
            "overrides": []}


def _f(v, d=3):
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{d}f}"


def table(results: list[dict]) -> str:
    head = ("case", "model", "SSIM frame", "SSIM person", "SSIM face", "PSNR frame", "PSNR person", "steps", "train min (CPU min)")
    rows = [head]
    for r in results:
        for who in ("ours", "retrieval"):
            m = r[who]
            rows.append((r["case"] + (f" [{r['tag']}]" if r.get("tag") else ""), who, _f(m["ssim"]), _f(m["person_ssim"]),
                         _f(m["face_ssim"]), _f(m["psnr"], 2), _f(m["person_psnr"], 2),
                         str(r["steps"]) if who == "ours" else "-",
                         f"{r['train_wall_min']:.1f} ({_f(r.get('train_cpu_min'), 1)})" if who == "ours" else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(DEFAULT_CASES), help=f"comma-separated, of {', '.join(CASES)}")
    ap.add_argument("--minutes", type=float, default=15.0, help="training wall-time budget per case")
    ap.add_argument("--steps", type=int, default=None, help="exact training steps instead of a time budget")
    ap.add_argument("--preset", default="cpu-small")
    ap.add_argument("--set", action="append", default=[], help="config edit key.sub=JSON (repeatable)")
    ap.add_argument("--tag", default="", help="suffix of this run's names (when comparing settings)")
    ap.add_argument("--work", type=Path, default=ROOT / "bench_out" / "synth_work", help="prepared data and runs")
    ap.add_argument("--out", type=Path, default=ROOT / "bench_out" / "synth_quality", help="table, sheets, results.json")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}: choose from {', '.join(CASES)}")
    if any(CASES[n].video for n in names) and not FOOTAGE.is_dir():
        raise SystemExit(f"the real clips are in {FOOTAGE}, which is absent")
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else []
    new = []
    for n in names:
        r = run_demo_case(args, args.out) if n == "demo" else run_case(CASES[n], args, args.out)
        new.append(r)
        results = [x for x in results if (x["case"], x.get("tag")) != (r["case"], r.get("tag"))] + [r]
        results_path.write_text(json.dumps(results, indent=1))
        print(table([r]), flush=True)
    print()
    print(table(new))
    print(f"\nsheets and results.json in {args.out}")


if __name__ == "__main__":
    sys.exit(main())
