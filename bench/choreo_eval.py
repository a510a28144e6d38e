"""The choreography benchmark (issue 18): one table for forecasting, health, style and novelty.

    python bench/choreo_eval.py                        # seeds 0 and 1, every style left out in turn
    python bench/choreo_eval.py --seeds 0 --leave-out folk,jpop --runs runs/choreo-eval
    python bench/choreo_eval.py --seeds 0,1 --left-out-seeds 0 --table runs/choreo_table.txt
    python bench/choreo_eval.py --forecast-only       # the forecasting rows alone, in minutes once trained

For every seed it trains (or resumes, in --runs) with the default settings (preset "default")
on the shared dance data (../shared/data/dance):
  - "all": every style, the CMU salsa takes 01-03 of both partners held out (a dancer, 2000
    steps, and its forecaster, 3000 more);
  - "without X" for each left-out style X: X never seen (and the salsa takes still held out);
    the dancer alone, which forecasts a style it does not know (the forecaster is for known ones).
Then it measures, on the CPU:
  forecasting  from 1 s of motion, 1 frame / 0.5 s / 1 s ahead, mean per-joint error in body
               heights, body-centred, in 3D (and seen from the front), of the mirror-averaged
               forecast (generate.forecast; the single unmirrored rollout beside it), style-free
               ones hedged (generate.hedged_forecast; unhedged beside it), against zero-velocity,
               constant velocity, damped velocity (the model's prior alone) and mean-pose
               baselines: held-out salsa (style "salsa"), and each left-out style (style "any");
  health       60 s generations from a held-out second of salsa at the model's calibrated
               temperature, torso spread and style guidance (generate.calibrate_guidance),
               tempo held (generate.TempoHold, generation's default), beside the same open loop
               and, as the baseline, at the fixed DEFAULT_TEMPERATURE with the mixture's own
               spread, unguided: bone-length drift, speed, spread and posture against the
               data's, frozen seconds (bones against the seed dancer's own); and three
               calibrated 60 s dances of every style, seeded from a second of its own data,
               tempo held and open loop;
  style        a logistic-regression classifier of 2-s windows (style.py), trained on real takes
               (salsa's training takes and the first 70% of every other take), its accuracy on
               the held-out rest; then the share of windows of generated dances (30 s from a
               neutral standing pose, first 2 s dropped, 10 dances per style) it names right, and
               where a 50/50 blend lands between its parents; with the default style guidance
               and, as the baseline, unguided (each calibrated for its own guidance);
  novelty      distance of each generated second to the nearest training second, beside the
               same for held-out real salsa (RMS bone-direction difference, about radians);
  speed        generated frames per second, batch of 1.
One torch thread by default: the machines this runs on are shared; timings say so.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from dancenow.choreo.benchmark import SHARED_STYLES, is_salsa_test, shared_sources, training_split
from dancenow.choreo.checkpoint import load_model
from dancenow.choreo.clips import load_clips
from dancenow.choreo.config import DEFAULT_GUIDANCE, DEFAULT_GUIDE_FROM, DEFAULT_TEMPERATURE, preset
from dancenow.choreo.evaluate import dance_health, evaluate_forecast
from dancenow.choreo.generate import (Choreographer, calibrate_guidance, calibrate_sampling, model_guidance,
                                      model_guide_from, model_temperature, model_torso_spread, parse_style,
                                      write_dance)
from dancenow.choreo.style import StyleClassifier, novelty, training_seconds
from dancenow.choreo.train import train

ROOT = Path(__file__).resolve().parents[1]
FPS = 30.0
BLEND = ("salsa", "folk")


def load_data(root: Path, dims: int) -> dict[str, list]:
    data: dict[str, list] = {}
    for p, s in shared_sources(root):
        data.setdefault(s, []).extend(load_clips(p, s, FPS, dims))
    return data


def classifier_split(data: dict[str, list]) -> tuple[list, list]:
    """(train, held-out) real examples (pose, root, style) for the style classifier."""
    train_ex, held = [], []
    for style, clips in data.items():
        for c in clips:
            if style == "salsa":
                (held if is_salsa_test(c.name) else train_ex).append((c.pose, c.root, style))
            else:
                k = int(len(c) * 0.7)
                train_ex.append((c.pose[:k], c.root[:k], style))
                held.append((c.pose[k:], c.root[k:], style))
    return train_ex, held


def train_model(args, seed: int, leave_out: str | None) -> Path:
    name = f"all-seed{seed}" if leave_out is None else f"without-{leave_out}-seed{seed}"
    # generation uses the dancer alone, and a default run's dancer is the same with or without
    # the forecaster after it: --generation-only trains none when no full model is there
    dancer_only = leave_out is not None or (args.generation_only and not (Path(args.runs) / name).exists())
    if leave_out is None and dancer_only:
        name = f"dancer-seed{seed}"
    sources, exclude = training_split(args.data, leave_out)
    cfg = preset("default")
    cfg.seed = seed
    if dancer_only:  # a left-out model forecasts its left-out style as "any": the dancer alone, no forecaster needed
        cfg.forecaster_steps, cfg.model.forecaster = 0, 0.0
    if args.steps:
        cfg.steps = args.steps
    cpu0, wall0 = time.process_time(), time.perf_counter()
    ckpt = train(sources, Path(args.runs) / name, cfg, exclude=exclude, threads=args.threads, device=args.device,
                 progress=False)
    print(f"trained {name}: {ckpt} (this call {(time.process_time() - cpu0) / 60:.1f} CPU min, "
          f"{(time.perf_counter() - wall0) / 60:.1f} wall min)", flush=True)
    return ckpt


def style_health(ch: Choreographer, info: dict, data: dict[str, list], styles: list[str], seconds: float = 60.0,
                 dances: int = 3) -> dict:
    """Per style, the health of `dances` dances of `seconds` (sampling seeds 0, 1, ...) seeded from
    the first second of that style's longest training clip, at the model's calibration, their
    tempo held (generation's default) and, as the baseline, open loop: the issue's figures are
    salsa's; the other styles are reported beside them so a change that breaks them shows."""
    out = {}
    for style in styles:
        clips = [c for c in data.get(style, []) if not is_salsa_test(c.name)]
        if not clips:
            continue
        seed = max(clips, key=len).slice(0, int(FPS))
        for held in (True, False):
            rows = []
            for k in range(dances):
                d = ch(seed, seconds=seconds, style=style, random_seed=k, hold_tempo=held)
                h = dance_health(d.pose[d.seed_frames:], FPS, info["reference"][style], d.lengths)
                rows.append({**h.__dict__, "ok": h.ok, "lively": h.lively, "summary": h.summary()})
            out.setdefault(style, {"temperature": d.temperature, "guidance": d.guidance})["held" if held else "open"] = rows
    return out


def generated_style(ch: Choreographer, clf: StyleClassifier, styles: list[str], seconds: float,
                    temperature: float | None, n: int = 10) -> dict:
    """Per style (and the blend): share of windows named that style, mean probability of each
    style, over `n` generated dances from the neutral standing pose."""
    out = {}
    specs = [s for s in styles if s in clf.styles] + ([f"{BLEND[0]}=0.5,{BLEND[1]}=0.5"] if all(b in styles for b in BLEND) else [])
    for spec in specs:
        probs = []
        for k in range(n):
            d = ch(None, seconds=seconds, temperature=temperature, style=spec, random_seed=100 + k)
            skip = d.seed_frames + int(2 * FPS)
            probs.append(clf.proba(d.pose[skip:], d.root[skip:]))
        p = np.concatenate(probs)
        entry = {"mean_prob": dict(zip(clf.styles, p.mean(0).round(4).tolist()))}
        if "=" not in spec:
            entry["recognised"] = float(np.mean(np.argmax(p, 1) == clf.styles.index(spec)))
        out[spec] = entry
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "dance"))
    ap.add_argument("--runs", default="runs/choreo-eval", help="model folders (training resumes there)")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--leave-out", default="all", help="styles left out in turn: all, none, or a comma list")
    ap.add_argument("--left-out-seeds", default=None, help="seeds whose left-out models are trained and measured "
                    "(default: every seed; a comma list to save time: the table says which)")
    ap.add_argument("--table", default=None, help="also write the printed table to this file")
    ap.add_argument("--steps", type=int, default=None, help="override the default preset's steps (not for the issue's figures)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="training device; everything is measured on the CPU")
    ap.add_argument("--videos", default=None, help="folder for a 30 s generated salsa video per seed")
    ap.add_argument("--json", default=None, help="write every figure as JSON here")
    ap.add_argument("--forecast-only", action="store_true", help="measure forecasting only (no generation, style or "
                    "novelty): for a change that only touches forecasts")
    ap.add_argument("--recalibrate", action="store_true", help="calibrate sampling as training does now (for models "
                    "trained before a change to calibration)")
    ap.add_argument("--generation-only", action="store_true", help="measure generation, style and novelty only (no "
                    "forecasting, no left-out models; trains the dancer alone, 'dancer-seedN', where no 'all-seedN' "
                    "is there): for a change that only touches generation")
    args = ap.parse_args()
    if args.forecast_only and args.generation_only:
        ap.error("--forecast-only and --generation-only exclude each other")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    left = list(SHARED_STYLES) if args.leave_out == "all" else [] if args.leave_out == "none" else args.leave_out.split(",")
    if args.generation_only:
        left = []
    data = None
    lo_seeds = seeds if args.left_out_seeds is None else [int(s) for s in args.left_out_seeds.split(",")]
    results: dict = {"seeds": seeds, "left_out": left, "left_out_seeds": lo_seeds, "temperature": DEFAULT_TEMPERATURE,
                     "guidance": DEFAULT_GUIDANCE, "guide_from": DEFAULT_GUIDE_FROM, "runs": {}}

    models = {}
    for seed in seeds:
        for lo in [None] + (left if seed in lo_seeds else []):
            models[(seed, lo)] = train_model(args, seed, lo)
    model0, info0 = load_model(models[(seeds[0], None)])
    data = load_data(Path(args.data), int(info0["dims"]))
    salsa_test = [c for c in data["salsa"] if is_salsa_test(c.name)]

    results["forecast_only"], results["generation_only"] = args.forecast_only, args.generation_only
    # the style classifier and the novelty reference (real data only)
    clf_train, clf_held = classifier_split(data)
    clf = StyleClassifier.fit(clf_train, FPS)
    results["classifier_heldout_accuracy"] = clf.accuracy(clf_held)
    train_clips = [c for s, cs in data.items() for c in cs if not is_salsa_test(c.name)]
    reference = training_seconds([c.pose for c in train_clips], FPS)
    real_nov = np.concatenate([novelty(c.pose, FPS, reference) for c in salsa_test])
    results["novelty_real_heldout_salsa"] = np.percentile(real_nov, [10, 50, 90]).tolist()

    for seed in seeds:
        r: dict = {}
        model, info = load_model(models[(seed, None)])
        if not args.generation_only:
            rep = evaluate_forecast(model, info, salsa_test, style="salsa")
            r["salsa"] = {"body": rep.body, "front": rep.front, "with_root": rep.with_root, "windows": rep.windows,
                          "nll": rep.nll,
                          "single": evaluate_forecast(model, info, salsa_test, style="salsa", mirror=False).body["model"]}
            r["left_out"] = left_out_forecasts(models, seed, left if seed in lo_seeds else [], data)
        if args.forecast_only:
            results["runs"][seed] = r
            print(f"seed {seed} measured (forecasts only)", flush=True)
            continue
        if (args.recalibrate or not isinstance(info.get("guidance"), dict) or model_guidance(info) != DEFAULT_GUIDANCE
                or model_guide_from(info) != DEFAULT_GUIDE_FROM):
            # calibrated for other guidance (or before per-style guidance): calibrate as training now does
            info["guide_from"] = DEFAULT_GUIDE_FROM
            info["temperature"], info["torso_spread"], info["guidance"] = calibrate_guidance(
                model, info, DEFAULT_GUIDANCE, DEFAULT_GUIDE_FROM)
        r["guidance"] = info["guidance"]
        r["calibrated_temperature"] = info["temperature"]
        r["calibrated_torso_spread"] = info["torso_spread"]
        ch = Choreographer(model, info)
        # the same model without style guidance, calibrated for it: what guidance buys
        plain = dict(info, guidance=1.0)
        plain["temperature"], plain["torso_spread"] = calibrate_sampling(model, info, guidance=1.0)
        ch_plain = Choreographer(model, plain)
        seed_clip = max(salsa_test, key=len).slice(0, int(FPS))
        t_salsa = model_temperature(model, info, parse_style(model, "salsa"))
        f_salsa = model_torso_spread(model, info, parse_style(model, "salsa"))
        health = []
        # the baseline: the mixture as trained, at a fixed temperature, without guidance
        g_salsa = model_guidance(info, model, parse_style(model, "salsa"))
        for temp, torso, w, kind, held in ((t_salsa, f_salsa, g_salsa, "calibrated", True),
                                           (t_salsa, f_salsa, g_salsa, "open loop", False),
                                           (DEFAULT_TEMPERATURE, 1.0, 1.0, "fixed", False)):
            for k in range(2):
                d = ch(seed_clip, seconds=60, temperature=temp, style="salsa", random_seed=k, torso_spread=torso,
                       guidance=w, hold_tempo=held)
                h = dance_health(d.pose[d.seed_frames:], FPS, info["reference"]["salsa"], d.lengths)
                health.append({**h.__dict__, "ok": h.ok, "lively": h.lively, "frames_per_s": d.frames_per_second,
                               "summary": h.summary(), "temperature": temp, "torso_spread": torso, "guidance": w,
                               "kind": kind})
        r["health"] = health
        r["health_styles"] = style_health(ch, info, data, model.config.styles)
        r["generated_style"] = generated_style(ch, clf, model.config.styles, 30.0, None)
        r["generated_style_plain"] = generated_style(ch_plain, clf, model.config.styles, 30.0, None)
        gen = [ch(None, seconds=30, style="salsa", random_seed=200 + k) for k in range(3)]
        nov = np.concatenate([novelty(d.pose[d.seed_frames + int(2 * FPS):], FPS, reference) for d in gen])
        r["novelty_generated_salsa"] = np.percentile(nov, [10, 50, 90]).tolist()
        r["near_copies"] = float(np.mean(nov < np.percentile(real_nov, 5)))
        if args.videos:
            Path(args.videos).mkdir(parents=True, exist_ok=True)
            d = ch(salsa_test[0].slice(300, 330), seconds=30, style="salsa", random_seed=seed)
            write_dance(d, Path(args.videos) / f"choreo_salsa_seed{seed}.mp4")
            write_dance(d, Path(args.videos) / f"choreo_salsa_seed{seed}.npz")
        results["runs"][seed] = r
        print(f"seed {seed} measured", flush=True)

    text = print_table(results)
    if args.table:
        Path(args.table).parent.mkdir(parents=True, exist_ok=True)
        Path(args.table).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))


def left_out_forecasts(models: dict, seed: int, styles: list[str], data: dict) -> dict:
    """Forecasts of each left-out style (style "any") by the seed's model that never saw it: hedged,
    and beside it unhedged and one unmirrored rollout."""
    out = {}
    for lo in styles:
        m, inf = load_model(models[(seed, lo)])
        lrep = evaluate_forecast(m, inf, data[lo], style="any")
        out[lo] = {"body": lrep.body, "front": lrep.front, "windows": lrep.windows,
                   "single": evaluate_forecast(m, inf, data[lo], style="any", mirror=False).body["model"],
                   "unhedged": evaluate_forecast(m, inf, data[lo], style="any", hedge=False).body["model"]}
    return out


def _gain(tab: dict, h: int) -> float:
    return 100 * (1 - tab["model"][h] / tab["zero-velocity"][h])


def _forecast_rows(res: dict, runs: dict, say) -> None:
    seeds = res["seeds"]
    H = ("1 frame", "0.5 s", "1 s")
    say("== forecasting: mean per-joint error, body heights, body-centred 3D; % = below zero-velocity "
        "(front view in brackets); baselines from the same windows")
    head = f"{'set':26s}{'ahead':>8s}" + "".join(f"{'model, seed ' + str(s):>21s}" for s in seeds) + \
        f"{'zero-vel':>10s}{'const-vel':>10s}{'damped':>10s}{'mean pose':>10s}"
    say(head)
    sets = [("held-out salsa (salsa)", lambda r: r["salsa"])] + \
        [(f"left-out {lo} (any)", lambda r, lo=lo: r["left_out"].get(lo)) for lo in res["left_out"]]
    for title, get in sets:
        have = [s for s in seeds if get(runs[s]) is not None]
        if not have:
            continue
        first = get(runs[have[0]])
        for h, name in enumerate(H):
            cells = ""
            for s in seeds:
                t = get(runs[s])
                if t is None:
                    cells += f"{'not run':>21s}"
                    continue
                front = f"[{_gain(t['front'], h):+.0f}]" if t.get("front") else ""
                cells += f"{t['body']['model'][h]:8.4f} {_gain(t['body'], h):+5.1f}%{front:>5s}"
            b = first["body"]
            say(f"{title if h == 0 else '':26s}{name:>8s}{cells}{b['zero-velocity'][h]:10.4f}"
                f"{b['constant velocity'][h]:10.4f}{b['damped velocity'][h]:10.4f}{b['mean pose'][h]:10.4f}")
        # the same model's simpler forecasts: not hedged (style-free only), and one rollout, not mirrored
        for key, label in (("unhedged", "  not hedged"), ("single", "  one rollout, unmirrored")):
            if all(key in get(runs[s]) for s in have):
                say(f"{label:34s}" + "".join(
                    f"{'':21s}" if get(runs[s]) is None else
                    f"{'0.5/1 s ' + format(100 * (1 - get(runs[s])[key][1] / get(runs[s])['body']['zero-velocity'][1]), '+.1f'):>14s}"
                    f"/{100 * (1 - get(runs[s])[key][2] / get(runs[s])['body']['zero-velocity'][2]):+.1f}%" for s in seeds))


def print_table(res: dict) -> str:
    """Print the table; return it as text."""
    out: list[str] = []
    say = out.append
    seeds = res["seeds"]
    runs = {int(k): v for k, v in res["runs"].items()}
    if res.get("generation_only"):
        say("== forecasting: not measured (--generation-only)")
    else:
        _forecast_rows(res, runs, say)
    if res.get("forecast_only"):
        return _end_table(res, out, "forecasts only")
    say("\n== health: 60 s salsa generations (two sampling seeds per model), at the model's calibrated "
        f"temperature and torso spread with style guidance (per style, from {res.get('guidance', 1.0):g} down) from "
        f"{res.get('guide_from', 'any')}, tempo held (generation's default); the same open loop (the tempo "
        f"hold's baseline); and at the fixed {res['temperature']:g} with the mixture's own spread, unguided, "
        "open loop (the baseline)")
    for s in seeds:
        cal = runs[s].get("calibrated_temperature", {})
        tor = runs[s].get("calibrated_torso_spread", {})
        gd = runs[s].get("guidance")
        gd = gd if isinstance(gd, dict) else {k: gd or 1.0 for k in cal}
        say(f"  model seed {s}: calibrated temperature / torso spread / guidance " + ", ".join(
            f"{k} {v:.2f}/{tor.get(k, 1.0):.2f}/{gd.get(k, 1.0):g}" for k, v in cal.items()))
        for h in runs[s]["health"]:
            say(f"    {h.get('kind', 'fixed'):10s} T={h.get('temperature', res['temperature']):.2f} "
                f"torso x{h.get('torso_spread', 1.0):.2f}: {h['summary']}; "
                f"{h['frames_per_s']:.0f} frames/s")
    if all("health_styles" in runs[s] for s in seeds):
        say("  every style: 60 s dances seeded from a second of its own data, calibrated, tempo held "
            "[open loop, the baseline]; means over the dances (speed, spread, posture x the data's)")
        for s in seeds:
            for style, h in runs[s]["health_styles"].items():
                if "held" not in h:  # a table from before the tempo hold: one dance
                    say(f"    model seed {s} {style:7s} T={h['temperature']:.2f} guidance {h.get('guidance', 1.0):g}: {h['summary']}")
                    continue
                cells = []
                for key in ("held", "open"):
                    rows = h[key]
                    m = {f: np.mean([r[f] for r in rows]) for f in ("speed_ratio", "spread_ratio", "posture_ratio")}
                    cells.append(f"speed {m['speed_ratio']:.2f} spread {m['spread_ratio']:.2f} posture {m['posture_ratio']:.2f}, "
                                 f"healthy {sum(r['ok'] for r in rows)}/{len(rows)}, lively {sum(r['lively'] for r in rows)}/{len(rows)}")
                say(f"    model seed {s} {style:7s} T={h['temperature']:.2f} guidance {h.get('guidance', 1.0):g}: "
                    f"{cells[0]} [{cells[1]}]")
    acc = res["classifier_heldout_accuracy"]
    say("\n== style: classifier of 2-s windows, held-out accuracy "
        + ", ".join(f"{k} {v * 100:.0f}%" for k, v in acc.items()))
    for s in seeds:
        for key, how in (("generated_style", f"guidance per style from {res.get('guidance', 1.0):g} down, from {res.get('guide_from', 'any')}"),
                         ("generated_style_plain", "unguided (baseline)")):
            gs = runs[s].get(key)
            if gs is None:
                continue
            rec = ", ".join(f"{k} {v['recognised'] * 100:.0f}%" for k, v in gs.items() if "recognised" in v)
            say(f"  model seed {s}, {how}: generated dances (calibrated) recognised as their style: {rec}")
            blend = [k for k in gs if "=" in k]
            if blend:
                a, b = BLEND
                pa = [gs[a]["mean_prob"][a], gs[blend[0]]["mean_prob"][a], gs[b]["mean_prob"][a]]
                pb = [gs[a]["mean_prob"][b], gs[blend[0]]["mean_prob"][b], gs[b]["mean_prob"][b]]
                say(f"    P({a}) for {a} / 50-50 blend / {b}: {pa[0]:.2f} / {pa[1]:.2f} / {pa[2]:.2f}; "
                    f"P({b}): {pb[0]:.2f} / {pb[1]:.2f} / {pb[2]:.2f}")
    r = res["novelty_real_heldout_salsa"]
    say(f"\n== novelty: distance to the nearest training second (10th/50th/90th percentile); "
        f"held-out real salsa {r[0]:.3f} / {r[1]:.3f} / {r[2]:.3f}")
    for s in seeds:
        g = runs[s]["novelty_generated_salsa"]
        say(f"  model seed {s}: generated salsa {g[0]:.3f} / {g[1]:.3f} / {g[2]:.3f}; "
            f"near-copies (closer than 95% of real held-out seconds) {runs[s]['near_copies'] * 100:.0f}%")
    return _end_table(res, out, "generation only (the dancer; forecasts not measured)" if res.get("generation_only") else "")


def _end_table(res: dict, out: list[str], what: str = "") -> str:
    seeds = res["seeds"]
    lo_seeds = res.get("left_out_seeds", seeds)
    out.append(f"\nseeds {', '.join(map(str, seeds))} (model 'all'); left-out styles {', '.join(res['left_out']) or 'none'} "
               f"for seed(s) {', '.join(map(str, lo_seeds))}; default preset; one torch thread" + (f"; {what}" if what else ""))
    text = "\n".join(out) + "\n"
    print("\n" + text, end="")
    return text


if __name__ == "__main__":
    main()
