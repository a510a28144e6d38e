"""Generate dance: roll the model forward one frame at a time from a seed motion.

`rollout` is the loop shared by generation, evaluation and the live view: read the seed, then
repeatedly take the mixture for the next frame, draw from it (or take its mode), add it to the
damped constant-velocity prior, put the directions back on the sphere (3D) or disk (2D) and
feed the new frame back. `forecast` is the deterministic prediction built on it. Positions are
always the directions times the dancer's bone lengths (skeleton.py), so no bone ever changes
length in 3D, however long the dance: nothing outside the network corrects the body.
`Choreographer` is the pipeline around it (a loaded model plus a seed in, a `GeneratedDance`
out), in the manner of a diffusers pipeline: no training code, no argument parsing.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dancenow.choreo.clips import Clip, ClipArrays, clip_window, load_clips, to_pose_sequence
from dancenow.choreo.config import ANY_STYLE, DEFAULT_TEMPERATURE, TEMPO_BAND
from dancenow.choreo.mdn import MixtureParams, sample
from dancenow.choreo.model import ChoreoModel
from dancenow.choreo.skeleton import (TORSO_BONES, facing_yaw, heading_angle, joints_from_bones, mirror_bones,
                                      posture_angles, project, yaw_rotation)
from dancenow.errors import DancenowError
from dancenow.guard import MAX_SECONDS  # a generated dance is at most as long as any clip a command writes
from dancenow.keypoints import PoseSequence

log = logging.getLogger(__name__)

# A sampled dance's tempo is held near its style's (`TempoHold`), by a PI controller on the
# temperature: it is scaled by exp(c - TEMPO_P e), e how far the log ratio of the dance's recent
# speed (mean over TEMPO_WINDOW_S) to the data's lies outside TEMPO_BAND, c integrating -e at
# TEMPO_GAIN per second, within 1/TEMPO_RANGE-TEMPO_RANGE x. Why: calibration sets the
# temperature on dances from the standing pose, and a dance from another seed can settle at
# another tempo: the default model (seed 0) danced folk from folk's own first second at 0.63,
# 0.85 and 0.79x the data's speed over 60 s (three sampling seeds), every 10 s alike. The band
# leaves alone a tempo real dances vary by (held to 1.0x exactly, folk leaned more: posture
# 1.40 -> 1.53x); the proportional part stops the bursts an integral alone made (folk's 5 s
# speed peaked at 1.70x, 44% of the time outside 0.8-1.2x; now 1.31x and 12%; open loop 1.18x
# and 70%, four dances each; salsa 0-3% either way).
TEMPO_WINDOW_S, TEMPO_GAIN, TEMPO_P, TEMPO_RANGE = 2.0, 0.15, 3.0, 2.5


class TempoHold:
    """Closed-loop tempo for `rollout`, as mirostat holds a text's surprise: `scale` (B,)
    multiplies the sampling temperature; `observe` each new frame. target: (B,) the speed to
    hold (mean joint speed, body heights per second, `pose_statistics`' "speed" averaged over
    joints); lengths: (B, Bn) each dancer's bone lengths, which turn directions into joints."""

    def __init__(self, target: torch.Tensor, lengths: torch.Tensor, fps: float):
        self.target = torch.as_tensor(target, dtype=torch.float32) / fps  # per frame
        self.lengths = torch.as_tensor(lengths, dtype=torch.float32)
        self.alpha = 1.0 / (TEMPO_WINDOW_S * fps)
        self.gain = TEMPO_GAIN / fps
        self.band = (float(np.log(TEMPO_BAND[0])), float(np.log(TEMPO_BAND[1])))
        self.limit = float(np.log(TEMPO_RANGE))
        self.speed = self.target.clone()  # starts on target: nothing to correct until frames come
        self.integral = torch.zeros_like(self.target)
        self.log_scale = torch.zeros_like(self.target)

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.exp()

    def observe(self, prev: torch.Tensor, cur: torch.Tensor) -> None:
        """prev, cur: (B, Bn, D) consecutive frames' bone directions."""
        step = joints_from_bones((cur - prev) * self.lengths[..., None]).norm(dim=-1).mean(-1)
        self.speed += self.alpha * (step - self.speed)
        ratio = torch.log(self.speed.clamp_min(1e-9) / self.target)
        off = ratio - ratio.clamp(*self.band)  # 0 inside the band
        self.integral = (self.integral - self.gain * off).clamp(-self.limit, self.limit)
        self.log_scale = (self.integral - TEMPO_P * off).clamp(-self.limit, self.limit)


@torch.no_grad()
def rollout(model: ChoreoModel, u: torch.Tensor, root_step: torch.Tensor, observed: torch.Tensor,
            style: torch.Tensor, frames: int, temperature: float = 0.0,
            generator: torch.Generator | None = None, state=None,
            spread: torch.Tensor | None = None, guidance: float = 1.0,
            guide_from: str = "any", tempo: TempoHold | None = None) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    """Continue B motions by `frames` frames.

    u (B, Tc, Bn, D) bone directions, root_step (B, Tc, D), observed (B, Tc, Bn + 1): the
    context (Tc >= 1), lengths in body heights. style: (B,) indices or (B, S) blend weights.
    temperature 0 = deterministic rollout (`model.point` of every step's mixture, fed back);
    > 0 samples with `generator`; a (B,) tensor gives each motion its own (all > 0).
    spread: per-output-dimension scale of the sampled spread ((out,) or (B, out),
    `torso_spread_vector`), None = the mixture's own.
    Returns the new frames' directions (B, frames, Bn, D), root steps (B, frames, D) and the
    LSTM state.

    guidance w != 1 (classifier-free guidance, Ho & Salimans 2022): the network also runs with
    the style-free "any" (its own state, fed the same frames), and the head reads
    h_any + w (h_style - h_any) (and likewise the style vector); the head is linear, so its
    outputs move w times as far from the style-free dance toward the style's. The state is then
    a pair (style's, any's). guide_from "others": the network's second run reads, instead of
    "any", the blend of the known styles the asked one leaves out (`guidance_base`), so the
    dance is pushed away from them, as a diffusion pipeline's negative prompt does.

    tempo: hold each sampled motion's speed (`TempoHold`; ignored at temperature 0)."""
    guided = guidance != 1.0
    if _is_zero(temperature):
        tempo = None
    style_vec = model.style_vector(style)
    x = model.encode_inputs(u, root_step, observed)
    if guided:
        any_style = guidance_base(model, style, guide_from)
        any_vec = model.style_vector(any_style)
        guide = lambda free, styled: free + guidance * (styled - free)  # noqa: E731
        head_vec = guide(any_vec, style_vec)
        state, state_any = state if state is not None else (None, None)
        h, _, state = model.hidden(x, style, state)
        h_any, _, state_any = model.hidden(x, any_style, state_any)
        last = model.head(guide(h_any[:, -1], h[:, -1]), head_vec)  # mixture for the frame after the context
    else:
        params, state = model.run(x, style, state)
        last = params[:, -1]  # mixture for the frame after the context
    cur, cur_step = u[:, -1], root_step[:, -1]
    prev = u[:, -2] if u.shape[1] > 1 else cur  # a one-frame seed: standing still
    ones = torch.ones_like(observed[:, -1])
    has_prev = torch.ones(u.shape[0], dtype=torch.bool, device=u.device)
    out_u, out_step = [], []
    for k in range(frames):
        if _is_zero(temperature):
            y = model.point(last)
        else:
            y = sample(last, temperature if tempo is None else temperature * tempo.scale, generator, spread)
        nxt, nstep = model.decode(y, *model.prior(cur, cur - prev, cur_step), model.frame(cur))
        if tempo is not None:
            tempo.observe(cur, nxt)
        out_u.append(nxt)
        out_step.append(nstep)
        if k + 1 < frames:
            x = model.encode_inputs(nxt[:, None], nstep[:, None], ones[:, None], cur, has_prev)[:, 0]
            if guided:
                h, state = model.step_hidden(x, style_vec, state)
                h_any, state_any = model.step_hidden(x, any_vec, state_any)
                last = model.head(guide(h_any, h), head_vec)
            else:
                last, state = model.step(x, style_vec, state)
        prev, cur, cur_step = cur, nxt, nstep
    return torch.stack(out_u, 1), torch.stack(out_step, 1), ((state, state_any) if guided else state)


GUIDE_FROM = ("any", "others")


def guidance_base(model: ChoreoModel, style: torch.Tensor, guide_from: str = "any") -> torch.Tensor:
    """(B, S) the style weights guidance pushes away from, for styles ((B,) indices or (B, S)
    weights): with `guide_from` "any" the style-free mode (classifier-free guidance as
    published), with "others" every known style the asked blend gives no weight, equally (the
    style-free "any" where it gives weight to all)."""
    if guide_from not in GUIDE_FROM:
        raise DancenowError(f"guide_from must be one of {', '.join(GUIDE_FROM)}, got {guide_from!r}")
    S = len(model.config.styles)
    w = style if style.dtype not in (torch.int32, torch.int64) else torch.nn.functional.one_hot(style, S)
    w = w.to(torch.float32)
    base = torch.zeros(w.shape[0], S, dtype=torch.float32, device=w.device)
    base[:, 0] = 1.0
    if guide_from == "others":
        rest = (w <= 0).to(torch.float32)
        rest[:, 0] = 0.0
        n = rest.sum(1, keepdim=True)
        base = torch.where(n > 0, rest / n.clamp_min(1.0), base)
    return base


def _is_zero(temperature) -> bool:
    return not isinstance(temperature, torch.Tensor) and temperature == 0


# Calibration grids and run (see `calibrate_sampling`).
# Temperatures above 1 are on the grid because a tightened torso takes much of the motion a
# sampled dance had: the default model's salsa needed 2.05 to move as fast as the data with its
# torso at 0.06 (grid ending at 1.5: 0.58-0.74x the data's speed).
CALIBRATION_GRID = tuple(float(t) for t in np.geomspace(0.05, 4.0, 16))
TORSO_GRID = (1.0, 0.5, 0.25, 0.12, 0.06)
CALIBRATION_SECONDS, CALIBRATION_SKIP_S, CALIBRATION_SEEDS = 20.0, 4.0, 3


def torso_spread_vector(model: ChoreoModel, factor: "float | torch.Tensor") -> torch.Tensor:
    """Per-output-dimension spread scales ((out,), or (B, out) for a (B,) tensor of factors):
    `factor` on the torso bones' directions (skeleton.TORSO_BONES), 1 elsewhere."""
    D = model.config.dims
    dims = [b * D + d for b in TORSO_BONES for d in range(D)]
    f = torch.as_tensor(factor, dtype=torch.float32)
    out = torch.ones(tuple(f.shape) + (model.out_features,))
    out[..., dims] = f[..., None]
    return out


@torch.no_grad()
def calibrate_sampling(model: ChoreoModel, info: dict, grid: tuple[float, ...] = CALIBRATION_GRID,
                       torso_grid: tuple[float, ...] = TORSO_GRID, seconds: float = CALIBRATION_SECONDS,
                       seeds: int = CALIBRATION_SEEDS, guidance: float = 1.0,
                       guide_from: str = "any", styles: list[str] | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """Per style, the sampling temperature and torso spread (`torso_spread_vector`) at which a
    dance generated from the typical standing pose moves as fast as the style's training data
    (mean joint speed, `info["reference"]`) and holds its torso as the data do (90th
    percentiles of hip-shoulder twist and spine tilt, 3D), after the first
    `CALIBRATION_SKIP_S` seconds. Returns ({style: temperature}, {style: torso spread}).

    Why: the mixture's spreads include what input noise and torso drift added to the training
    targets, motion a dance fed its own clean frames does not need. A fixed temperature made
    60 s dances 1.3x as fast as the data; a temperature alone, set for speed, left the torso's
    sampled spread 6-10x what the network's mean misses by, and sampled dances twisted hips
    from shoulders by 80-100 degrees (90th percentile; real salsa 25). For each torso spread
    the temperature is where the speed ratio crosses 1 (interpolated in log-log, clamped to the
    grid's ends); the torso spread kept is the one whose posture ratio there is nearest 1.
    One batched rollout per style over torso_grid x grid x seeds. 2D models calibrate the
    temperature only. `guidance`, `guide_from`: the style guidance the dances will be generated
    with (it changes how fast they move; `rollout`). styles: only these (default: every style
    the reference has). Uses only the checkpoint: no data, no training code."""
    model = model.eval()
    fps = float(info["fps"])
    if model.config.dims != 3:
        torso_grid = (1.0,)
    ch = Choreographer(model, info)
    seed = ch.still_seed()
    combos = [(f, t) for f in torso_grid for t in grid for _ in range(seeds)]
    temps = torch.tensor([t for _, t in combos], dtype=torch.float32)
    spread = torso_spread_vector(model, torch.tensor([f for f, _ in combos], dtype=torch.float32))
    n, frames, skip = len(combos), int(round(seconds * fps)), int(round(CALIBRATION_SKIP_S * fps))
    temps_out, torso_out = {}, {}
    for k, style in enumerate(model.config.styles):
        ref = info["reference"].get(style)
        if ref is None or (styles is not None and style not in styles):
            continue
        g = torch.Generator().manual_seed(k)
        rep = lambda a: torch.from_numpy(a)[None].expand(n, *a.shape).contiguous()  # noqa: E731
        style_w = torch.zeros(n, len(model.config.styles))
        style_w[:, k] = 1.0
        u, _, _ = rollout(model, rep(seed.u), rep(seed.root_step), rep(seed.observed), style_w, frames, temps, g,
                          spread=spread, guidance=guidance, guide_from=guide_from)
        pose = joints_from_bones(u.numpy()[:, skip:] * seed.lengths[:, None])  # (n, T, P, D)
        speed = np.linalg.norm(np.diff(pose, axis=1), axis=-1).mean((1, 2)) * fps
        shape = (len(torso_grid), len(grid), seeds)
        log_speed = np.log(np.maximum(speed, 1e-9) / float(np.mean(ref["speed"]))).reshape(shape).mean(2)
        by_setting = pose.reshape(shape + pose.shape[1:])  # (torso, temperature, seed, T, P, D)
        log_t = np.log(np.asarray(grid))
        best = None
        for i, f in enumerate(torso_grid):
            t = _crossing(log_t, log_speed[i])
            posture = 0.0
            if "twist90" in ref and len(torso_grid) > 1:
                at = int(np.argmin(np.abs(log_t - np.log(t))))  # the grid temperature nearest the crossing
                posture = abs(np.log(max(posture_ratio(by_setting[i, at].reshape(-1, *pose.shape[-2:]), ref), 1e-9)))
            if best is None or posture < best[0]:
                best = (posture, t, f)
        temps_out[style], torso_out[style] = best[1], best[2]
    return temps_out, torso_out


# Per style, the strongest of these guidance levels (at most the one asked for) whose long
# dances stay healthy (`calibrate_guidance`): style guidance pushes a style's dance past the
# others', and for some styles that push is a lean that grows. Measured on the default models
# (seeds 0 / 1, guidance 3 from the other styles): 60 s dances of the improvisers leaned 1.1x
# as far as their data's in the first 10 s and 4.1x in the last (posture 4.05 / 6.31x), CMU
# 131 6.15 / 2.60x; unguided, the improvisers 0.9-1.2x. Levels 2 and 1.5 did not help (2-3x).
GUIDANCE_LEVELS = (3.0, 1.0)
HEALTH_SECONDS = 60.0  # how long a dance the health check watches (the lean grows after 20 s)
POSTURE_LIMIT = 1.5  # the most a healthy dance twists or leans, x its data's (`evaluate.HealthReport.ok`)


@torch.no_grad()
def long_dance_posture(model: ChoreoModel, info: dict, style: str, temperature: float, torso_spread: float,
                       guidance: float, guide_from: str, seconds: float = HEALTH_SECONDS,
                       seeds: int = CALIBRATION_SEEDS) -> float:
    """The mean posture ratio (the 90th percentiles of hip-shoulder twist and spine tilt against
    the style's data, the larger) of `seeds` dances of `seconds` from the standing pose, after
    the first CALIBRATION_SKIP_S, their tempo held as generation holds it (`TempoHold`). 1 in
    2D (posture is measured in 3D)."""
    ref = info["reference"][style]
    if model.config.dims != 3 or "twist90" not in ref:
        return 1.0
    fps = float(info["fps"])
    seed = Choreographer(model, info).still_seed()
    style_w = torch.zeros(seeds, len(model.config.styles))
    style_w[:, model.config.styles.index(style)] = 1.0
    rep = lambda a: torch.from_numpy(a)[None].expand(seeds, *a.shape).contiguous()  # noqa: E731
    tempo = TempoHold(torch.full((seeds,), model_tempo(model, info, style_w[0])), rep(seed.lengths), fps)
    u, _, _ = rollout(model, rep(seed.u), rep(seed.root_step), rep(seed.observed), style_w, int(round(seconds * fps)),
                      temperature, torch.Generator().manual_seed(7), spread=torso_spread_vector(model, torso_spread),
                      guidance=guidance, guide_from=guide_from, tempo=tempo)
    pose = joints_from_bones(u.numpy()[:, int(round(CALIBRATION_SKIP_S * fps)):] * seed.lengths[:, None])
    return float(np.mean([posture_ratio(p, ref) for p in pose]))


def posture_ratio(pose: np.ndarray, ref: dict) -> float:
    """How far a 3D stretch of poses (T, P, 3) twists (hips against shoulders) or leans (the
    spine), the larger of its 90th percentiles against the style's data's (`ref`)."""
    twist, tilt = posture_angles(pose)
    return max(np.percentile(twist, 90) / max(ref["twist90"], 1e-6), np.percentile(tilt, 90) / max(ref["tilt90"], 1e-6))


def calibrate_guidance(model: ChoreoModel, info: dict, guidance: float, guide_from: str,
                       levels: tuple[float, ...] = GUIDANCE_LEVELS, **kw) -> tuple[dict, dict, dict]:
    """`calibrate_sampling` at `guidance`, then, per style whose long dances (`long_dance_posture`)
    twist or lean more than POSTURE_LIMIT x its data, again at the next lower of `levels` until
    one is healthy (else the least unhealthy). Returns per-style temperatures, torso spreads and
    guidance levels. kw: `calibrate_sampling`'s grids and run length."""
    temps, torsos = calibrate_sampling(model, info, guidance=guidance, guide_from=guide_from, **kw)
    guid = {s: float(guidance) for s in temps}
    for style in temps:
        if style == ANY_STYLE:  # style-free dances are never guided (`Choreographer`)
            continue
        best = (long_dance_posture(model, info, style, temps[style], torsos[style], guidance, guide_from), guidance)
        for g in (lv for lv in levels if lv < guidance):
            if best[0] <= POSTURE_LIMIT:
                break
            t, f = calibrate_sampling(model, info, guidance=g, guide_from=guide_from, styles=[style], **kw)
            posture = long_dance_posture(model, info, style, t[style], f[style], g, guide_from)
            if posture < best[0]:
                best = (posture, g)
                temps[style], torsos[style], guid[style] = t[style], f[style], g
    return temps, torsos, guid


def _crossing(log_t: np.ndarray, log_ratio: np.ndarray) -> float:
    """exp of where log_ratio (rising with log_t, roughly) first reaches 0, linearly
    interpolated; the grid's end when it never does."""
    if log_ratio[0] >= 0:
        return float(np.exp(log_t[0]))
    for i in range(1, len(log_t)):
        if log_ratio[i] >= 0:
            a, b = log_ratio[i - 1], log_ratio[i]
            return float(np.exp(log_t[i - 1] + (log_t[i] - log_t[i - 1]) * (-a) / (b - a)))
    return float(np.exp(log_t[-1]))


def model_temperature(model: ChoreoModel, info: dict, weights: torch.Tensor) -> float:
    """The calibrated temperature of a style blend (`parse_style` weights): the weighted geometric
    mean of its styles' (`info["temperature"]`, written when training ends); DEFAULT_TEMPERATURE
    for a model trained before calibration existed."""
    return _blend(model, info.get("temperature"), weights, DEFAULT_TEMPERATURE)


def model_guidance(info: dict, model: ChoreoModel | None = None, weights: torch.Tensor | None = None) -> float:
    """The style guidance a model's sampling was calibrated at (`info["guidance"]`): per style
    (`calibrate_guidance`), a blend's the weighted geometric mean of its styles' (given the
    model and the `parse_style` weights; without them the strongest); one level for every style
    for a model calibrated before that; 1 (plain conditioning) before guidance existed."""
    g = info.get("guidance", 1.0)
    if not isinstance(g, dict):
        return float(g)
    if model is None or weights is None:
        return float(max(g.values()))
    return _blend(model, g, weights, 1.0)


def model_guide_from(info: dict) -> str:
    """What a model's style guidance was calibrated pushing away from (`info["guide_from"]`,
    `rollout`); "any" for a model calibrated before "others" existed."""
    return str(info.get("guide_from", "any"))


def model_torso_spread(model: ChoreoModel, info: dict, weights: torch.Tensor) -> float:
    """The calibrated torso spread of a style blend, as `model_temperature` (`info["torso_spread"]`);
    1 (the mixture's own) for a model trained before it was calibrated."""
    return _blend(model, info.get("torso_spread"), weights, 1.0)


def model_tempo(model: ChoreoModel, info: dict, weights: torch.Tensor) -> float | None:
    """The speed a style blend's dances hold (`TempoHold`): its styles' data speeds (mean joint
    speed, body heights per second, `info["reference"]`), weighted; None where a style has none."""
    refs = info.get("reference", {})
    names = model.config.styles
    parts = [(float(w), refs.get(names[i])) for i, w in enumerate(weights) if w > 0]
    if not parts or any(r is None or "speed" not in r for _, r in parts):
        return None
    return float(sum(w * np.mean(r["speed"]) for w, r in parts) / sum(w for w, _ in parts))


def _blend(model: ChoreoModel, cal, weights: torch.Tensor, fallback: float) -> float:
    """Weighted geometric mean of per-style values `cal` over a blend's styles."""
    if not isinstance(cal, dict):
        return fallback
    names = model.config.styles
    logs = [(float(w), np.log(cal[names[i]])) for i, w in enumerate(weights) if w > 0 and names[i] in cal]
    if not logs:
        return fallback
    return float(np.exp(sum(w * l for w, l in logs) / sum(w for w, _ in logs)))


# A forecast's first frame is pulled toward constant velocity's as far as the context says it
# should be (`first_frame_weight`): over its last FIRST_FRAME_WINDOW frames, the model's
# one-step predictions and constant velocity's are mixed by the least-squares weight. 28: every
# frame of a 1 s context at 30 fps with two before it (20 before: left-out improvisers' first
# frame 0.0004554 -> 0.0004533 body heights, seed 0; held-out salsa and folk level).
FIRST_FRAME_WINDOW = 28


@torch.no_grad()
def first_frame_weight(model: ChoreoModel, u: torch.Tensor, root_step: torch.Tensor, observed: torch.Tensor,
                       style: torch.Tensor, window: int = FIRST_FRAME_WINDOW, mirror: bool = True) -> torch.Tensor:
    """(B,) the weight of the model's next frame against constant velocity's (1 = the model's
    alone), fitted on the context u (B, Tc, Bn, D): the model's one-step predictions of its last
    `window` frames (teacher-forced, as a forecast's first frame is made; with `mirror`
    averaged with the mirror image's, as `forecast` does) and constant velocity's, mixed by the
    weight in [0, 1] that brings them nearest the frames that came (least squares over the
    observed bones). A context under 4 frames gives 1."""
    if u.shape[1] < 4:
        return torch.ones(u.shape[0], dtype=u.dtype, device=u.device)
    cu, cs, co, cst = _with_mirror(u, root_step, observed, style, mirror)
    params, _ = model.run(model.encode_inputs(cu, cs, co), cst)
    return _context_weight(model, u, observed, cu, cs, params, window)


def _with_mirror(u: torch.Tensor, root_step: torch.Tensor, observed: torch.Tensor, style: torch.Tensor,
                 mirror: bool) -> tuple[torch.Tensor, ...]:
    """The context, with `mirror` stacked over its mirror image (one batch: a network call costs
    about the same for one motion or two)."""
    if not mirror:
        return u, root_step, observed, style
    mu, ms, mo = mirror_bones(u, root_step, observed)
    return torch.cat([u, mu]), torch.cat([root_step, ms]), torch.cat([observed, mo]), torch.cat([style, style])


def _context_weight(model: ChoreoModel, u: torch.Tensor, observed: torch.Tensor, cu: torch.Tensor, cs: torch.Tensor,
                    params, window: int) -> torch.Tensor:
    """`first_frame_weight` from the mixtures `params` that `model.run` gave for cu, cs (the
    context u, or it stacked over its mirror image: `_with_mirror`)."""
    B, Tc, Bn = u.shape[:3]
    t0 = max(2, Tc - window)
    prev, cur = cu[:, t0 - 2:Tc - 2], cu[:, t0 - 1:Tc - 1]
    mod, _ = model.decode(model.point(params[:, t0 - 1:Tc - 1]), *model.prior(cur, cur - prev, cs[:, t0 - 1:Tc - 1]),
                          model.frame(cur))
    if cu.shape[0] > B:  # the mirror image's predictions, mirrored back, averaged in
        back, _, _ = mirror_bones(mod[B:], cs[B:, t0:Tc], observed[:, t0:Tc])
        mod = project(0.5 * (mod[:B] + back))
    prev, cur, true = u[:, t0 - 2:Tc - 2], u[:, t0 - 1:Tc - 1], u[:, t0:Tc]
    vel = project(cur + (cur - prev))
    ok = (observed[:, t0:Tc, :Bn] * observed[:, t0 - 1:Tc - 1, :Bn] * observed[:, t0 - 2:Tc - 2, :Bn]).to(u.dtype)[..., None]
    e_m, e_c = (mod - true) * ok, (vel - true) * ok
    diff = e_c - e_m
    num, den = (e_c * diff).sum((1, 2, 3)), (diff * diff).sum((1, 2, 3))
    return torch.where(den > 1e-12, num / den.clamp_min(1e-12), torch.ones_like(num)).clamp(0.0, 1.0)


def continue_from_context(model: ChoreoModel, u: torch.Tensor, pu: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Forecast directions pu (B, T, Bn, D) of context u, their first frame moved to `weight`
    (B,) x its own + (1 - weight) x constant velocity's, the move fading by the prior's
    damping a frame after it (so the motion stays continuous)."""
    cv = project(u[:, -1] + (u[:, -1] - u[:, -2]))
    shift = (1.0 - weight)[:, None, None] * (cv - pu[:, 0])  # (B, Bn, D)
    fade = model.config.damping ** torch.arange(pu.shape[1], dtype=pu.dtype, device=pu.device)
    return project(pu + fade[None, :, None, None] * shift[:, None])


@torch.no_grad()
def forecast(model: ChoreoModel, u: torch.Tensor, root_step: torch.Tensor, observed: torch.Tensor,
             style: torch.Tensor, frames: int, samples: int = 0, generator: torch.Generator | None = None,
             mirror: bool = True, continuity: bool = True):
    """The model's deterministic forecast of B motions: with `samples` = 0 its point rollout;
    else the average of that many sampled continuations (directions averaged and put back on
    the sphere or disk, root steps averaged), which hedges between futures the way an expected
    value does. Returns directions (B, frames, Bn, D) and root steps (B, frames, D).

    mirror: also forecast the left/right mirror image of the motion (a dance's mirror image is
    as plausible: training mirrors half its stretches), mirror that forecast back and average
    the two. The forecast is then exactly mirror-symmetric, and the two rollouts' disagreements
    cancel. Default preset, 0.5 s ahead, % below zero-velocity: held-out salsa +29.0 / +29.5%
    -> +30.7 / +31.0% (seeds 0 / 1); styles never seen: salsa -9.1 -> -7.2%, Bandai +5.6 ->
    +6.9% (seed 0). The cost: a batch twice as large; a 1 s forecast at batch 1 took 84-91 ms
    against 44-64 for one rollout (default preset, one thread, idle; hedged: 97-127 ms).

    continuity: the first frame is moved toward constant velocity's as far as the context's own
    one-step predictions say (`first_frame_weight`), the move fading by the prior's damping a
    frame (`continue_from_context`). Where the network's next frame is good it stays (held-out
    salsa 0.0077 -> 0.0076 body heights, seed 0); where the dancer's velocity is better it
    moves (left out, hedged: folk 0.0103 -> 0.0092, constant velocity's 0.0101; improvisers
    0.0016 -> 0.0013; Bandai 0.0067 -> 0.0059, CMU 131 0.0059 -> 0.0055, seed 1). 0.5 s and 1 s
    ahead no figure moved by more than 0.1 point. It reuses the rollout's pass over the context;
    its cost, 1 s ahead at batch 1, one thread: 37 -> 38 ms (hedged 97 -> 99 ms).

    A model with a forecaster (ChoreoConfig.forecaster) forecasts a known style as the mix of
    its forecaster's forecast and the dancer's (each as above); a style-free one (a style the
    model does not know) is the dancer's alone. Default preset, held-out salsa 0.5 s ahead
    below zero-velocity, seeds 0 / 1: +30.2 / +30.5% -> +35.6 / +35.2%, at twice the cost."""

    def one(m: ChoreoModel, u, root_step, observed, style):
        if samples <= 0:
            return forecasts(m, [(u, root_step, observed, style, frames)], mirror, continuity)[0]
        cu, cs, co, cst = _with_mirror(u, root_step, observed, style, mirror)
        n = cu.shape[0]
        rep = lambda t: t.repeat_interleave(samples, 0)  # noqa: E731
        pu, ps, _ = rollout(m, rep(cu), rep(cs), rep(co), rep(cst), frames, 1.0, generator)
        pu, ps = project(pu.unflatten(0, (n, samples)).mean(1)), ps.unflatten(0, (n, samples)).mean(1)
        if mirror:
            pu, ps = _mirrored_back(pu, ps, observed)
        if continuity and u.shape[1] >= 4:
            pu = continue_from_context(m, u, pu, first_frame_weight(m, u, root_step, observed, style, mirror=mirror))
        return pu, ps

    pu, ps = one(model, u, root_step, observed, style)
    if model.forecaster is None:
        return pu, ps
    k = (~is_style_free(model, style)).nonzero()[:, 0]  # known styles: mixed with the forecaster's forecast
    if len(k):
        fu, fs = one(model.forecaster, u[k], root_step[k], observed[k], style[k])
        w = model.config.forecaster
        pu, ps = pu.clone(), ps.clone()
        pu[k], ps[k] = project(w * fu + (1 - w) * pu[k]), w * fs + (1 - w) * ps[k]
    return pu, ps


@torch.no_grad()
def forecasts(model: ChoreoModel, requests: list[tuple], mirror: bool = True,
              continuity: bool = True) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`forecast` (point rollouts) of several contexts at once: requests are (u, root_step,
    observed, style, frames), each its own batch and context length. The contexts run through
    the network in one call (`ChoreoModel.run_many`); their rollouts then step together, one
    batch, for as many frames as the longest asks. A rollout steps one frame at a time, and a step costs about the same for
    a batch of 2 or of 16, so a hedge's eight forecasts (`hedged_forecast`) cost about one
    long one. Returns (directions, root steps) per request."""
    if not requests:
        return []
    contexts = [_with_mirror(u, root_step, observed, style, mirror) for u, root_step, observed, style, _ in requests]
    passes = model.run_many([model.encode_inputs(cu, cs, co) for cu, cs, co, _ in contexts], [c[3] for c in contexts])
    runs = [(*c, params, state) for c, (params, state) in zip(contexts, passes)]
    cat = lambda i, f: torch.cat([f(r[i]) for r in runs])  # noqa: E731
    state = tuple(torch.cat([r[5][j] for r in runs], 1) for j in range(2))
    last = MixtureParams(*(cat(4, lambda p: getattr(p, f)[:, -1]) for f in ("logits", "mu", "log_sigma")))
    prev = cat(0, lambda cu: cu[:, -2] if cu.shape[1] > 1 else cu[:, -1])  # a one-frame seed: standing still
    pu, ps = _point_steps(model, last, state, cat(0, lambda cu: cu[:, -1]), prev, cat(1, lambda cs: cs[:, -1]),
                          torch.ones_like(cat(2, lambda co: co[:, -1])), model.style_vector(cat(3, lambda st: st)),
                          max(r[4] for r in requests))
    out, at = [], 0
    for (u, root_step, observed, style, frames), (cu, cs, co, cst, params, _) in zip(requests, runs):
        n = cu.shape[0]
        fu, fs = pu[at:at + n, :frames], ps[at:at + n, :frames]
        at += n
        if mirror:
            fu, fs = _mirrored_back(fu, fs, observed)
        if continuity and u.shape[1] >= 4:  # shorter: nothing to fit the weight on
            fu = continue_from_context(model, u, fu, _context_weight(model, u, observed, cu, cs, params, FIRST_FRAME_WINDOW))
        out.append((fu, fs))
    return out


def _mirrored_back(pu: torch.Tensor, ps: torch.Tensor, observed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A forecast of B contexts stacked over their mirror images (`_with_mirror`; observed: the
    B contexts' masks): the mirror images' half mirrored back and averaged with the first."""
    B, frames = observed.shape[0], pu.shape[1]
    back_u, back_s, _ = mirror_bones(pu[B:], ps[B:], observed[:, :1].expand(-1, frames, -1))
    return project(0.5 * (pu[:B] + back_u)), 0.5 * (ps[:B] + back_s)


def _point_steps(model: ChoreoModel, last, state, cur: torch.Tensor, prev: torch.Tensor, cur_step: torch.Tensor,
                 ones: torch.Tensor, style_vec: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The point rollout's frames after a context (`rollout` at temperature 0, unguided): `last`
    the mixture for the next frame, `state` the LSTM's, cur / prev the last two frames' bone
    directions (B, Bn, D), cur_step the last root step, ones (B, Bn + 1) every bone observed."""
    has_prev = torch.ones(cur.shape[0], dtype=torch.bool, device=cur.device)
    out_u, out_step = [], []
    for k in range(frames):
        nxt, nstep = model.decode(model.point(last), *model.prior(cur, cur - prev, cur_step), model.frame(cur))
        out_u.append(nxt)
        out_step.append(nstep)
        if k + 1 < frames:
            x = model.encode_inputs(nxt[:, None], nstep[:, None], ones[:, None], cur, has_prev)[:, 0]
            last, state = model.step(x, style_vec, state)
        prev, cur, cur_step = cur, nxt, nstep
    return torch.stack(out_u, 1), torch.stack(out_step, 1)


# A hedged forecast (`hedged_forecast`) weighs, by a backtest on the context, the model's forecast
# at these trust levels (0 = standing still, 1 = the forecast) and the dancer's own velocity
# carried on (constant velocity, for as many frames as the backtest covered, then held): a slow,
# smooth dancer is forecast best by its own motion, which a model of other styles' moves does
# not know (left-out Motion-MDRNN improvisers, 0.5 s: constant velocity 41% below standing
# still, the model's forecast 18%).
TRUST_GRID = tuple(round(0.1 * k, 1) for k in range(14))
TRUST_SOFTNESS = 0.1  # a candidate's weight falls by e for each 10% its backtest error is above the best one's
# The velocity candidate's backtest error counts this much more: one whose extrapolation was
# picked by luck costs far more than a trust level would (it runs off). At 1 (and at 1.25)
# the unseen Bandai and folk dancers lost 2-3 points at 1 s; at 1.5 none of the five
# left-out styles lost anything, and the improvisers still gained 11 points at 0.5 s.
VELOCITY_PENALTY = 1.5
# The trust levels are weighed twice: once from standing still, once from a pose that drifts
# from the last one toward the context's mean pose (time constant ANCHOR_FRAMES), because a
# dancer's limbs swing about a centre: a second ahead, the last second's mean pose is nearer the
# truth than the last pose (left-out styles, 1 s: salsa, folk, CMU 131 5-9% nearer) though not
# half a second ahead. None: standing still alone.
ANCHOR_FRAMES: float | None = 10.0
# A dancer who spins (salsa) turns the whole body about the vertical (y, down in our axes): the
# spin candidate turns the forecast's first frame on at the context's last rate of turn
# (`turn_rate`), the rate fading by SPIN_DAMPING a frame (at most 1 / (1 - SPIN_DAMPING) x the
# last turn in all). Left out, 0.5 s / 1 s below standing still: salsa +2.7 / +7.5 -> +3.3 /
# +7.7% (seed 1), +3.7 / +8.2 -> +4.1 / +8.3% (seed 0); Bandai +10.7 / +8.2 -> +11.0 / +8.3;
# CMU 131 +18.5 / +11.8 -> +18.3 / +11.7; folk and improvisers within 0.1; first frames unchanged.
# Starting from the last pose instead cost salsa's first frame 1%; as a third anchor for the
# trust levels, the improvisers lost 0.6 points. 0.8: salsa +3.0%, 0.95: +3.4% (seed 1).
# None: no spin candidate.
SPIN_DAMPING: float | None = 0.9
# A style the model never saw may be faster than every style it knows: salsa's steps reverse
# twice as sharply (acceleration / speed 0.51 a frame; folk 0.37, Bandai 0.38, CMU 131 0.41).
# The slow candidates are the trust levels again, of the model's forecast of the context played
# at SLOW_SPEED x its speed (resampled), played back at 1 / SLOW_SPEED x (`slowed_forecast`):
# a model that knows slower dances forecasts salsa slowed down nearer the truth than salsa at
# speed. Left out, 0.5 s / 1 s below standing still: salsa +3.3 / +7.7 -> +5.1 / +8.6% (seed
# 1), +4.1 / +8.3 -> +5.9 / +9.2% (seed 0); the other styles lose 0.3-1.3 points at 0.5 s
# (their backtests sometimes pick the slowed forecast by luck) and stay far above 5%. 0.4 was
# picked on left-out salsa, seed 1 (0.3: +4.2, 0.33: +5.1, 0.5: +4.8, 0.6: +4.4%); seed 0 was
# not looked at before. None: no slow candidates.
SLOW_SPEED: float | None = 0.4


def _trust_ramp(trust: torch.Tensor, frames: int, damping: float) -> torch.Tensor:
    """(B,) trust levels -> (B, frames) weights of the forecast against standing still: 1 - (1 -
    trust) (1 - damping^(k-1)) for the k-th frame ahead, so the first frame is the forecast's
    own and the next ones keep the motion as it goes (the prior's own time scale: it lets a
    velocity fade by `damping` a frame) while later ones approach `trust`."""
    k = torch.arange(frames, dtype=trust.dtype, device=trust.device)
    return 1.0 - (1.0 - trust[:, None]) * (1.0 - damping ** k)[None]


def turn_rate(u: torch.Tensor) -> torch.Tensor:
    """(B,) how fast the body turned about the vertical (radians a frame) over the last frame of
    context u (B, Tc, Bn, D): the change of the heading of the pelvis and shoulder bones (both
    point to the body's left), seen from above. 0 in 2D and where the heading is lost (the
    bones point up or down)."""
    if u.shape[-1] != 3 or u.shape[1] < 2:
        return torch.zeros(u.shape[0], dtype=u.dtype, device=u.device)
    last = u[:, -2:]
    across = last[..., 0, :] + last[..., 2, :]  # the line `heading_angle` reads
    ok = (torch.linalg.vector_norm(across[..., [0, 2]], dim=-1) > 0.2).all(1)
    a = heading_angle(last)  # (B, 2)
    turn = torch.remainder(a[:, 1] - a[:, 0] + torch.pi, 2 * torch.pi) - torch.pi
    return torch.where(ok, turn, torch.zeros_like(turn))


def _turned(u: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Directions u (B, T, Bn, 3) turned about the vertical by angle (B, T): heading + angle."""
    c, s = torch.cos(angle)[..., None], torch.sin(angle)[..., None]
    x, y, z = u.unbind(-1)
    return torch.stack([x * c - z * s, y, x * s + z * c], -1)


def _resample_time(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x (B, T, ...) read at fractional frames t (n,), linearly between neighbours (clamped)."""
    t = t.clamp(0, x.shape[1] - 1)
    i0 = t.floor().long().clamp(max=max(x.shape[1] - 2, 0))
    f = (t - i0.to(t.dtype)).to(x.dtype).view((1, -1) + (1,) * (x.dim() - 2))
    i1 = (i0 + 1).clamp(max=x.shape[1] - 1)
    return x[:, i0] * (1 - f) + x[:, i1] * f


def slowed_forecast(model: ChoreoModel, u: torch.Tensor, root_step: torch.Tensor, observed: torch.Tensor,
                    style: torch.Tensor, frames: int, speed: float, first: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's forecast of the context u (B, Tc, Bn, D), root_step, observed played at
    `speed` x its own (< 1: slowed; resampled so its last frame stays the last), played back at
    1 / speed x: directions (B, frames, Bn, D), root steps (B, frames, D). Its first frame is
    moved onto `first` (B, Bn, D), the forecast's own first frame (which is fitted to the
    dancer's velocity: `continue_from_context`), the move fading by the prior's damping a frame,
    so a hedge over both starts where the plain forecast does."""
    pu, ps = forecast(model, *_slowed_context(u, root_step, observed, speed), style, _slowed_frames(frames, speed))
    return _played_back(model, u, pu, ps, frames, speed, first)


def _slowed_context(u: torch.Tensor, root_step: torch.Tensor, observed: torch.Tensor, speed: float):
    """The context played at `speed` x (`slowed_forecast`): u, root_step, observed resampled."""
    Tc = u.shape[1]
    n = int(np.floor((Tc - 1) / speed + 1e-9)) + 1
    t = (Tc - 1) - speed * torch.arange(n - 1, -1, -1, dtype=torch.float64, device=u.device)
    su, ss = project(_resample_time(u, t)), _resample_time(root_step, t) * speed
    so = (_resample_time(observed.to(u.dtype), t) > 0.999).to(observed.dtype)  # both neighbours seen
    return su, ss, so


def _slowed_frames(frames: int, speed: float) -> int:
    """How many slowed frames cover `frames` played back at 1 / speed x."""
    return int(np.ceil(frames / speed - 1e-9)) + 1


def _played_back(model: ChoreoModel, u: torch.Tensor, pu: torch.Tensor, ps: torch.Tensor, frames: int, speed: float,
                 first: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A slowed forecast pu, ps of context u read back at 1 / speed x, its first frame moved onto
    `first` (`slowed_forecast`)."""
    back = torch.arange(1, frames + 1, dtype=torch.float64, device=u.device) / speed  # frames ahead, slowed
    out = _resample_time(torch.cat([u[:, -1:], pu], 1), back)
    fade = model.config.damping ** torch.arange(frames, dtype=u.dtype, device=u.device)
    out = project(out + fade[None, :, None, None] * (first - out[:, 0])[:, None])
    root = torch.cat([torch.zeros_like(ps[:, :1]), torch.cumsum(ps, 1)], 1)
    root = _resample_time(root, torch.cat([torch.zeros(1, dtype=back.dtype, device=u.device), back]))
    return out, torch.diff(root, dim=1)


def _backtest_frames(frames: int, context: int) -> int:
    """How many frames a hedge's backtest forecasts: the context's last half, at most `frames`."""
    return min(frames, context // 2)


def hedge_candidates(model: ChoreoModel, u_last: torch.Tensor, vel: torch.Tensor, step_last: torch.Tensor,
                     pu: torch.Tensor, ps: torch.Tensor, hold: int | None = None,
                     centre: torch.Tensor | None = None, turn: torch.Tensor | None = None,
                     slow: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The forecasts a hedge weighs, from the last frame `u_last` (B, Bn, D), its change `vel`
    and root step `step_last` (B, D), and the model's forecast pu (B, T, Bn, D), ps (B, T, D):
    directions (B, C, T, Bn, D), not yet projected, and root steps (B, C, T, D). The candidates:
    the trust levels from standing still; with `centre` (B, Bn, D), the context's mean pose, and
    ANCHOR_FRAMES set, the trust levels again from a pose drifting from the last toward it; with
    `slow` ((B, T, Bn, D), (B, T, D): `slowed_forecast`), every trust level of every anchor again
    for that forecast; with SPIN_DAMPING set, the forecast's first frame spinning on, in place,
    at the rate `turn` (B,) (`turn_rate`; None or 2D: held); last, the velocity carried on (and
    held after `hold` frames)."""
    T = pu.shape[1]
    grid = torch.tensor(TRUST_GRID, dtype=pu.dtype, device=pu.device)
    w = _trust_ramp(grid, T, model.config.damping)[None, :, :, None, None]  # (1, levels, T, 1, 1)
    k = torch.arange(1, T + 1, dtype=pu.dtype, device=pu.device)  # frames ahead
    anchors = [u_last[:, None].expand_as(pu)]
    if centre is not None and ANCHOR_FRAMES is not None:
        drift = (1.0 - torch.exp(-k / ANCHOR_FRAMES))[None, :, None, None]
        anchors.append(u_last[:, None] + drift * (centre - u_last)[:, None])
    trusted = [a[:, None] + w * (pu - a)[:, None] for a in anchors]
    if slow is not None:
        trusted += [a[:, None] + w * (slow[0] - a)[:, None] for a in anchors]
    go = (k <= (T if hold is None else hold)).to(pu.dtype)  # (T,): still moving
    moving = u_last[:, None] + torch.cumsum(go, 0)[None, :, None, None] * vel[:, None]
    spins = []
    if SPIN_DAMPING is not None:  # from the forecast's first frame, which already follows the last turn
        first = pu[:, :1].expand_as(pu)
        if turn is not None and pu.shape[-1] == 3:
            angle = turn[:, None] * (torch.cumsum(SPIN_DAMPING ** (k - 1), 0) - 1.0)[None]  # (B, T): 0, d, d + d^2 ...
            first = _turned(first, angle)
        spins = [first[:, None]]
    cu = torch.cat(trusted + spins + [moving[:, None]], 1)
    steps = [w[..., 0] * ps[:, None]] * len(anchors)
    if slow is not None:
        steps += [w[..., 0] * slow[1][:, None]] * len(anchors)
    cs = torch.cat(steps + [torch.zeros_like(ps)[:, None]] * len(spins)
                   + [(go[None, :, None] * step_last[:, None])[:, None]], 1)
    return cu, cs


def context_centre(u: torch.Tensor) -> torch.Tensor:
    """(B, Bn, D) the mean pose of a context u (B, Tc, Bn, D), as bone directions."""
    return project(u.mean(1))


def hedge_weights(model: ChoreoModel, u: torch.Tensor, root_step: torch.Tensor, observed: torch.Tensor,
                  style: torch.Tensor, lengths: torch.Tensor, frames: int, backtests: list | None = None) -> torch.Tensor:
    """How far to trust the model's forecast of each of B motions, and their own velocity, from
    backtests on their own context: forecast its last h = min(frames, Tc // 2) frames from the
    frames before them, and likewise its last 2h/3 and 4h/3 frames, and score each of the
    `hedge_candidates` there by its mean joint error (lengths (B, Bn): the dancers' bone
    lengths), as a ratio to the best candidate's in that backtest, averaged over the three (the
    velocity's x VELOCITY_PENALTY). Three backtests instead of one, on every left-out style
    (seed 0), 0.5 s / 1 s below standing still: salsa +3.4 / +8.6 -> +4.2 / +8.9%, CMU 131
    +17.3 / +10.1 -> +18.6 / +11.2, improvisers +28.2 / +13.0 -> +29.0 / +13.4, Bandai and
    folk +0.1-0.5 points. Returns (B, C) weights summing to 1: exp(-(a candidate's error - the
    best's) / (TRUST_SOFTNESS x the best's)), normalised. A context too short to backtest (< 8
    frames) puts all weight on the forecast (trust 1). backtests: the backtests' forecasts
    (`hedge_forecasts`), when the caller has them."""
    B, Tc = u.shape[:2]
    h = _backtest_frames(frames, Tc)
    if h < 4:
        w = torch.zeros(B, hedge_size(), dtype=u.dtype, device=u.device)
        w[:, TRUST_GRID.index(1.0)] = 1.0
        return w
    L = lengths[:, None, None, :, None].to(u.dtype)
    if backtests is None:
        backtests = hedge_forecasts(model, u, root_step, observed, style, frames, plain=False)[1]
    ratios = []
    for hk, bu, bs, slow in backtests:
        seen = u[:, :Tc - hk]
        i = Tc - hk - 1
        cu, _ = hedge_candidates(model, u[:, i], u[:, i] - u[:, i - 1], root_step[:, i], bu, bs,
                                 centre=context_centre(seen), turn=turn_rate(seen), slow=slow)
        errs = torch.linalg.vector_norm(joints_from_bones((project(cu) - u[:, None, Tc - hk:]) * L), dim=-1).mean((2, 3))
        ratios.append(errs / errs.min(1, keepdim=True).values.clamp_min(1e-9))
    errs = torch.stack(ratios).mean(0)
    errs = torch.cat([errs[:, :-1], VELOCITY_PENALTY * errs[:, -1:]], 1)
    best = errs.min(1, keepdim=True).values
    return torch.softmax(-(errs - best) / (TRUST_SOFTNESS * best).clamp_min(1e-9), 1)


def _backtest_lengths(frames: int, context: int) -> list[int]:
    """How many frames each of a hedge's three backtests forecasts (`hedge_weights`); none for a
    context too short to backtest."""
    h = _backtest_frames(frames, context)
    if h < 4:
        return []
    return sorted({max(2, round(2 * h / 3)), h, min(context - 2, round(4 * h / 3))})


def hedge_forecasts(model: ChoreoModel, u: torch.Tensor, root_step: torch.Tensor, observed: torch.Tensor,
                    style: torch.Tensor, frames: int, plain: "tuple | bool" = True):
    """Every forecast a hedge weighs, in one `forecasts` call: the plain forecast (`plain` True;
    a (pu, ps) pair the caller has, or False: none), each backtest's forecast of the context's
    last hk frames from those before, and (SLOW_SPEED set) each one's slowed forecast and the
    whole context's. Returns ((pu, ps) or None, [(hk, bu, bs, slow or None)], the whole
    context's slowed forecast or None). A hedged 1 s forecast at batch 1, one thread, default
    preset: 302-315 ms as eight `forecast` calls, 197-206 ms with their rollouts in one batch,
    152-158 ms with their contexts' passes in one call too (the plain forecast 34-35 ms)."""
    Tc = u.shape[1]
    tests = _backtest_lengths(frames, Tc)
    seen = [(u[:, :Tc - hk], root_step[:, :Tc - hk], observed[:, :Tc - hk]) for hk in tests]
    requests = [(u, root_step, observed, style, frames)] if plain is True else []
    requests += [(*c, style, hk) for c, hk in zip(seen, tests)]
    slow_needed = SLOW_SPEED is not None and plain is not False
    if SLOW_SPEED is not None:
        requests += [(*_slowed_context(*c, SLOW_SPEED), style, _slowed_frames(hk, SLOW_SPEED)) for c, hk in zip(seen, tests)]
        if slow_needed:
            requests.append((*_slowed_context(u, root_step, observed, SLOW_SPEED), style, _slowed_frames(frames, SLOW_SPEED)))
    out = forecasts(model, requests)
    if plain is True:
        plain = out.pop(0)
    backs = out[:len(tests)]
    slows = out[len(tests):] if SLOW_SPEED is not None else [None] * (len(tests) + slow_needed)
    backtests = []
    for hk, c, (bu, bs), sl in zip(tests, seen, backs, slows):
        slow = None if sl is None else _played_back(model, c[0], *sl, hk, SLOW_SPEED, bu[:, 0])
        backtests.append((hk, bu, bs, slow))
    whole = None
    if slow_needed:
        whole = _played_back(model, u, *slows[-1], frames, SLOW_SPEED, plain[0][:, 0])
    return (plain or None), backtests, whole


def apply_hedge(model: ChoreoModel, u: torch.Tensor, root_step: torch.Tensor, observed: torch.Tensor,
                style: torch.Tensor, pu: torch.Tensor, ps: torch.Tensor,
                weights: torch.Tensor, slow: tuple | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's forecast pu (B, T, Bn, D), ps (B, T, D) of context u (B, Tc, Bn, D),
    root_step (B, Tc, D), observed, style, hedged: the `hedge_candidates` mixed by `weights` (B, C).
    slow: the context's `slowed_forecast`, when the caller has it."""
    hold = _backtest_frames(pu.shape[1], u.shape[1])
    if slow is None and SLOW_SPEED is not None:
        slow = slowed_forecast(model, u, root_step, observed, style, pu.shape[1], SLOW_SPEED, pu[:, 0])
    cu, cs = hedge_candidates(model, u[:, -1], u[:, -1] - u[:, -2], root_step[:, -1], pu, ps, hold,
                              centre=context_centre(u), turn=turn_rate(u), slow=slow)
    return project((weights[:, :, None, None, None] * cu).sum(1)), (weights[:, :, None, None] * cs).sum(1)


def hedge_size() -> int:
    """How many `hedge_candidates` a hedge weighs: the trust levels once per anchor (twice with
    the slow candidates), the spin, the velocity."""
    return _trust_size() + (SPIN_DAMPING is not None) + 1


def _trust_size() -> int:
    """How many of the `hedge_candidates` are trust levels (they come first)."""
    return len(TRUST_GRID) * (1 if ANCHOR_FRAMES is None else 2) * (1 if SLOW_SPEED is None else 2)


def model_trust(weights: torch.Tensor) -> torch.Tensor:
    """(B,) the trust a hedge put in the model (its weights over the trust levels of every
    anchor, of the plain and the slowed forecast, times their levels)."""
    grid = torch.tensor(TRUST_GRID, dtype=weights.dtype, device=weights.device)
    levels = weights[:, :_trust_size()].unflatten(1, (-1, len(TRUST_GRID)))  # (B, anchors, levels)
    return (levels * grid).sum((1, 2))


def hedged_forecast(model: ChoreoModel, u: torch.Tensor, root_step: torch.Tensor, observed: torch.Tensor,
                    style: torch.Tensor, lengths: torch.Tensor, frames: int):
    """`forecast`, moved from standing still only as far as the model has earned on this
    motion, or toward the dancer's own velocity where that did better (`hedge_weights`): for
    dances of a style the model never saw, where its style-free mode may carry on moves of the
    styles it knows. Returns directions (B, frames, Bn, D), root steps (B, frames, D) and the
    (B, C) weights of the `hedge_candidates`.

    Measured with the default preset (seed 0), 0.5 s / 1 s ahead, % below zero-velocity, on
    styles left out of training: salsa -7.2 / +2.9 -> +1.5 / +5.9, Bandai +6.9 / +3.4 -> +9.6 /
    +7.2 with the trust levels alone (the first frame unchanged); the velocity candidate then
    took the improvisers from +18.0 / +8.5 to +28.9 / +13.3 and changed no other style's figure
    by more than 0.1 (their first frame 0.0018 -> 0.0015 body heights; constant velocity's
    0.0005). The trust levels weighed again from a pose drifting toward the context's centre
    (ANCHOR_FRAMES) then took salsa to +3.4 / +8.6, CMU 131 +16.1 / +8.9 -> +17.3 / +10.1,
    Bandai -> +10.3 / +7.5, folk +24.0 / +13.5 -> +24.0 / +14.1, and cost the improvisers 0.7 /
    0.3 points; three backtests instead of one (`hedge_weights`) took salsa to +4.2 / +8.9 and
    every other left-out style above both. Its cost, 1 s ahead at batch 1 on one thread: 148-205
    ms, the plain forecast 39-66 ms (same run, a 145 GFLOP/s machine); the slow candidates
    (SLOW_SPEED) took it from 94-96 to 316-323 ms (another day, plain 35-37 ms); running its
    forecasts together (`hedge_forecasts`) back to 152-158 ms. On a style it was trained
    on, the plain forecast is better (held-out salsa +30.7 / +25.8 -> +29.0 / +25.0 with the
    trust levels, +29.5 / +25.3 with both anchors), so known styles are not hedged
    (`evaluate_forecast`, the live view)."""
    (pu, ps), backtests, slow = hedge_forecasts(model, u, root_step, observed, style, frames)
    weights = hedge_weights(model, u, root_step, observed, style, lengths, frames, backtests)
    return *apply_hedge(model, u, root_step, observed, style, pu, ps, weights, slow), weights


def is_style_free(model: ChoreoModel, style: torch.Tensor) -> torch.Tensor:
    """(B,) whether each style ((B,) indices or (B, S) weights) is the style-free "any" alone."""
    if style.dtype in (torch.int32, torch.int64):
        return style == 0
    return style[:, 0] >= 1.0 - 1e-6


def parse_style(model: ChoreoModel, spec: str | dict[str, float] | None) -> torch.Tensor:
    """A style spec -> (S,) blend weights summing to 1. Spec: None or "any" (the style-free mode),
    a style name, "a=0.7,b=0.3", or a {name: weight} dict. Weights are renormalised."""
    styles = model.config.styles
    if spec is None:
        spec = ANY_STYLE
    if isinstance(spec, str):
        weights: dict[str, float] = {}
        for p in (p.strip() for p in spec.split(",")):
            if not p:
                continue
            name, _, w = p.partition("=")
            try:
                weights[name.strip()] = float(w) if w else 1.0
            except ValueError:
                raise DancenowError(f"bad style weight in {spec!r}: use NAME or NAME=WEIGHT,NAME=WEIGHT") from None
        spec = weights
    vec = torch.zeros(len(styles))
    for name, w in spec.items():
        if not np.isfinite(w):
            raise DancenowError(f"style weights must be finite numbers: {spec}")
        vec[model.style_index(name)] += float(w)
    if not (vec >= 0).all() or vec.sum() <= 0:
        raise DancenowError(f"style weights must be >= 0 and not all 0: {spec}")
    return vec / vec.sum()


@dataclass(frozen=True, eq=False)
class GeneratedDance:
    """A generated dance in the model's representation.

    pose: (T, P, D) body-centred MODEL_JOINTS in body heights; root: (T, D) root track in body
    heights from the first frame; the first `seed_frames` frames are the seed (observed motion);
    lengths: (Bn,) the dancer's bone lengths every generated frame keeps (3D: exactly).
    fps: frames per second; style: blend weights by name; compute_s: generation time.
    """

    pose: np.ndarray
    root: np.ndarray
    fps: float
    seed_frames: int
    style: dict[str, float]
    compute_s: float
    lengths: np.ndarray | None = None
    temperature: float | None = None  # what it was sampled at
    torso_spread: float | None = None  # and with what torso spread (calibrate_sampling)
    guidance: float = 1.0  # and style guidance (rollout)
    tempo: float | None = None  # the speed it held (TempoHold), None: open loop

    @property
    def frames_per_second(self) -> float:
        """Generated frames per second of compute (real time = fps)."""
        n = self.pose.shape[0] - self.seed_frames
        return n / self.compute_s if self.compute_s > 0 else float("inf")

    def front_view(self) -> tuple[np.ndarray, np.ndarray]:
        """(pose (T, P, 2), root (T, 2)): a 3D dance turned so that its seed faces the camera,
        then seen from the front (z dropped); a 2D dance as it is."""
        if self.pose.shape[-1] == 2:
            return self.pose, self.root
        rot = yaw_rotation(facing_yaw(self.pose[: max(1, self.seed_frames)]))
        return (self.pose @ rot.T)[..., :2], (self.root @ rot.T)[..., :2]

    def to_pose_sequence(self, size: tuple[int, int] = (512, 512), include_seed: bool = True) -> PoseSequence:
        """Our 137-point layout (body only) in a `size` frame, standing, feet near the bottom."""
        s = 0 if include_seed else self.seed_frames
        pose, root = self.front_view()
        return to_pose_sequence(pose[s:], root[s:], self.fps, size)


class Choreographer:
    """A loaded choreography model, ready to continue a seed motion.

        model, info = load_model("model/")
        dance = Choreographer(model, info)(seed, seconds=30, temperature=0.8, style="salsa")
    """

    def __init__(self, model: ChoreoModel, info: dict):
        self.model = model.eval()
        self.info = info
        self.fps = float(info["fps"])
        self.dims = int(info["dims"])
        self.defaults = {k: np.asarray(v, np.float32) for k, v in info["defaults"].items()}

    def seed_from_file(self, path: str | os.PathLike, seconds: float | None = 1.0, fps: float | None = None,
                       size: tuple[int, int] | None = None) -> ClipArrays:
        """The last `seconds` (None: all) of the longest clip in a pose/BVH/video file, as model
        input."""
        clips = load_clips(path, ANY_STYLE, self.fps, self.dims, pose_fps=fps, pose_size=size,
                           front=self.info.get("front", "world"))
        if not clips:
            raise DancenowError(f"{path}: no usable motion for a seed (no frame with both hips)")
        return self.seed_from_clip(max(clips, key=len), seconds)

    def seed_from_clip(self, clip: Clip, seconds: float | None = 1.0) -> ClipArrays:
        """The last `seconds` (None: all) of a clip, as model input."""
        n = len(clip) if seconds is None else max(1, int(round(seconds * self.fps)))
        return clip_window(clip, max(0, len(clip) - n), len(clip), self.defaults)

    def still_seed(self) -> ClipArrays:
        """A one-frame seed: the training data's typical pose and lengths, standing still."""
        u, L = self.defaults["direction"], self.defaults["lengths"]
        pose = joints_from_bones(u * L[:, None])
        Bn, D = u.shape
        return ClipArrays(u[None].copy(), L.copy(), np.zeros((1, D), np.float32), np.ones((1, Bn + 1), np.float32),
                          pose[None].astype(np.float32), ANY_STYLE, "typical pose")

    def __call__(self, seed: ClipArrays | Clip | None = None, seconds: float = 30.0,
                 temperature: float | None = None,
                 style: str | dict[str, float] | None = None, random_seed: int = 0,
                 torso_spread: float | None = None, guidance: float | None = None,
                 hold_tempo: bool | None = None) -> GeneratedDance:
        """Continue `seed` (default: `still_seed()`) by `seconds` of dance. temperature,
        torso_spread and guidance None: the model's calibrated ones for the style
        (`model_temperature`, `model_torso_spread`, `model_guidance`). hold_tempo: hold the
        style's speed (`TempoHold`, from the temperature given); None: when the temperature is
        the calibrated one."""
        check_seconds(seconds)
        if temperature is not None and not (np.isfinite(temperature) and 0 <= temperature <= 10):
            raise DancenowError(f"temperature must be in [0, 10], got {temperature}")
        if guidance is not None and not (np.isfinite(guidance) and 0 <= guidance <= 10):
            raise DancenowError(f"guidance must be in [0, 10], got {guidance}")
        if isinstance(seed, Clip):
            seed = self.seed_from_clip(seed, None)
        seed = seed if seed is not None else self.still_seed()
        if seed.u.shape[1:] != self.defaults["direction"].shape:
            raise DancenowError(f"seed has {seed.u.shape[1:]} bones x dims; the model wants {self.defaults['direction'].shape}")
        weights = parse_style(self.model, style)
        if hold_tempo is None:
            hold_tempo = temperature is None
        if temperature is None:
            temperature = model_temperature(self.model, self.info, weights)
        if torso_spread is None:
            torso_spread = model_torso_spread(self.model, self.info, weights)
        if guidance is None:
            guidance = model_guidance(self.info, self.model, weights)
        if float(weights[0]) == 1.0:
            guidance = 1.0  # style-free: guided from itself it is itself, at twice the cost
        g = torch.Generator().manual_seed(int(random_seed))
        frames = int(round(seconds * self.fps))
        target = model_tempo(self.model, self.info, weights) if hold_tempo and not _is_zero(temperature) else None
        tempo = None if target is None else TempoHold(torch.tensor([target]), torch.from_numpy(seed.lengths)[None], self.fps)
        t0 = time.perf_counter()
        u, step, _ = rollout(self.model, torch.from_numpy(seed.u)[None], torch.from_numpy(seed.root_step)[None],
                             torch.from_numpy(seed.observed)[None], weights[None], frames, temperature, g,
                             spread=torso_spread_vector(self.model, torso_spread), guidance=guidance,
                             guide_from=model_guide_from(self.info), tempo=tempo)
        dt = time.perf_counter() - t0
        gen = joints_from_bones(u[0].numpy() * seed.lengths[:, None])
        all_pose = np.concatenate([seed.pose, gen], 0)
        steps = np.concatenate([seed.root_step, step[0].numpy()], 0)
        steps[0] = 0.0
        names = self.model.config.styles
        return GeneratedDance(all_pose, np.cumsum(steps, 0), self.fps, len(seed),
                              {names[i]: float(w) for i, w in enumerate(weights) if w > 0}, dt, seed.lengths.copy(),
                              float(temperature), float(torso_spread), float(guidance), target)


def check_seconds(seconds: float) -> None:
    if not (np.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise DancenowError(f"seconds must be > 0 and at most {MAX_SECONDS:g}, got {seconds:g}")


def write_dance(dance: GeneratedDance, path: str | os.PathLike, size: tuple[int, int] = (512, 512),
                include_seed: bool = True) -> Path:
    """Save as our pose .npz (or OpenPose folder), or render a stick-figure .mp4 (captioned);
    3D dances are seen from the front, turned so that the seed faces the camera."""
    from dancenow.posefile import save_poses

    path = Path(path)
    seq = dance.to_pose_sequence(size, include_seed)
    if path.suffix.lower() in (".mp4", ".mov", ".m4v"):
        return write_stick_video(seq, path, seed_frames=dance.seed_frames if include_seed else 0,
                                 label=", ".join(f"{k} {v:.2f}" for k, v in dance.style.items()))
    return save_poses(seq, path)


def write_stick_video(seq: PoseSequence, path: str | os.PathLike, seed_frames: int = 0, label: str = "") -> Path:
    """A stick-figure video of `seq`; frames before `seed_frames` are captioned "seed"."""
    from tqdm import tqdm

    from dancenow.render import caption, render_label
    from dancenow.video import VideoWriter

    with VideoWriter(path, seq.fps) as w:
        for t, kp in enumerate(tqdm(seq.keypoints, unit="frame", desc="render", leave=False)):
            img = render_label(kp, seq.size)
            text = "seed" if t < seed_frames else f"generated {label}".strip()
            w.write(caption(img, f"{text}  {t / seq.fps:5.1f}s"))
    return Path(path)


def generate_to_files(model_dir: str | os.PathLike, outputs, prime: str | os.PathLike | None = None,
                      prime_seconds: float = 1.0, seconds: float = 30.0, temperature: float | None = None,
                      style: str | None = None, guidance: float | None = None, seed: int = 0,
                      size: tuple[int, int] = (512, 512),
                      include_prime: bool = True, openpose_fps: float | None = None,
                      openpose_size: tuple[int, int] | None = None,
                      openpose_video: str | os.PathLike | None = None) -> GeneratedDance:
    """`dancenow choreo generate`: a dance from the model in `model_dir`, continuing `prime`
    (a pose/BVH/video file; None: standing still), written to every path in `outputs`.
    Every argument is checked before the model runs."""
    from dancenow.choreo.checkpoint import load_model

    check_seconds(seconds)
    if not (np.isfinite(prime_seconds) and 0 < prime_seconds <= MAX_SECONDS):
        raise DancenowError(f"prime seconds must be > 0 and at most {MAX_SECONDS:g}, got {prime_seconds:g}")
    model, info = load_model(model_dir)
    parse_style(model, style)  # an unknown style fails here, before any work
    ch = Choreographer(model, info)
    start = None
    if prime is not None:
        if openpose_video is not None and (openpose_fps is None or openpose_size is None):
            from dancenow.video import probe

            vi = probe(openpose_video)
            openpose_fps, openpose_size = openpose_fps or vi.fps, openpose_size or vi.size
        start = ch.seed_from_file(prime, prime_seconds, fps=openpose_fps, size=openpose_size)
    dance = ch(start, seconds=seconds, temperature=temperature, style=style, random_seed=seed, guidance=guidance)
    for out in outputs:
        write_dance(dance, out, size, include_seed=include_prime)
    return dance
