"""Evaluate a choreography model: forecasting against baselines, likelihood, long-run health.

Forecasting (`evaluate_forecast`): from `context_s` seconds of held-out motion, predict the next
second; the error at a horizon is the mean over the model's joints of the Euclidean distance
between predicted and true positions, in body heights (see `clips.stature`), in the model's
space (2D front view or 3D); a 3D model's forecasts are also scored seen from the front (z
dropped), comparable with a 2D model's. "body" errors are body-centred (the pose alone); "with
root" errors add the root track, relative to the last context frame.

The model's forecast is its deterministic mode rollout averaged with that of the motion's mirror
image (`generate.forecast`), or the average of sampled continuations. Style-free forecasts (a
style the model does not know) are hedged: pulled toward standing still, or toward the dancer's
own velocity, as far as a backtest on the context says (`generate.hedged_forecast`). Baselines, as in human-motion prediction (Martinez et al. 2017 found
zero-velocity hard to beat):
  zero-velocity     repeat the last observed pose (and root position);
  constant velocity continue the last frame-to-frame displacement of every joint;
  damped velocity   the model's own prior with no network: bone directions and root step go on
                    changing by `damping` x their last change each frame (skeleton kept);
  mean pose         the training set's mean body-centred pose (at the last root position);
  style mean pose   the mean pose of the style's own training data (when the style is known).

Health (`dance_health`): a long generated dance against the training data: bone lengths (how
far any bone's length moves during the dance, and its median against the data's), mean joint
speed, spread of poses (per-frame turned to face the camera, so turning is not counted as
variety), share of "frozen" seconds, and whether anything left a sane range.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from dancenow.choreo.clips import Clip, ClipArrays, clip_arrays, clip_window, forecast_lengths, forecast_pose
from dancenow.choreo.config import ANY_STYLE
from dancenow.choreo.generate import (POSTURE_LIMIT, apply_hedge, forecast, hedge_forecasts, hedge_weights,
                                      is_style_free, parse_style)
from dancenow.choreo.mdn import mixture_log_prob
from dancenow.choreo.model import ChoreoModel
from dancenow.choreo.skeleton import BONE_NAMES, bone_lengths, bone_vectors, joints_from_bones, posture_angles, project
from dancenow.errors import DancenowError

log = logging.getLogger(__name__)

BASELINES = ("zero-velocity", "constant velocity", "damped velocity", "mean pose")
# Bones whose front-view length changes with which way the dancer faces (orientation, not
# skeleton) and tiny ones: left out of the 2D health check of lengths.
_ORIENTATION_BONES = {"pelvis", "shoulders", "head", "r_foot", "l_foot"}


# ----------------------------------------------------------------------------- statistics

def face_camera(pose: np.ndarray) -> np.ndarray:
    """3D body-centred poses (T, P, 3) each turned about the vertical to face the camera (its
    pelvis + shoulder line along +x); 2D poses unchanged."""
    pose = np.asarray(pose, np.float64)
    if pose.shape[-1] != 3:
        return pose
    v = bone_vectors(pose)
    across = v[:, 0] + v[:, 2]  # (T, 3)
    ang = np.arctan2(across[:, 2], across[:, 0])
    c, s = np.cos(ang), np.sin(ang)
    out = pose.copy()
    out[..., 0] = c[:, None] * pose[..., 0] + s[:, None] * pose[..., 2]
    out[..., 2] = -s[:, None] * pose[..., 0] + c[:, None] * pose[..., 2]
    return out


def pose_statistics(poses: list[np.ndarray] | list[Clip], fps: float) -> dict:
    """Reference statistics of body-centred poses (a list of (T, P, D) arrays or Clips), all
    JSON-ready lists, lengths in body heights, speeds in body heights per second:
    mean (P, D); std (P, D) of the poses turned to face the camera; bones: median length per
    bone; speed: mean per-joint speed (P,); root_speed; frames; in 3D twist90 and tilt90: the
    90th percentiles of `posture_angles`."""
    arrs = [c.pose if isinstance(c, Clip) else np.asarray(c) for c in poses]
    arrs = [np.asarray(a, np.float64) for a in arrs if len(a) > 1]
    if not arrs:
        raise DancenowError("no motion to measure (every clip is shorter than 2 frames)")
    allp = np.concatenate(arrs)
    speeds = np.concatenate([np.linalg.norm(np.diff(a, axis=0), axis=-1) for a in arrs]) * fps  # (N, P)
    out = {"mean": np.nanmean(allp, 0).tolist(), "std": np.nanstd(face_camera(allp), 0).tolist(),
           "bones": np.nanmedian(bone_lengths(allp), 0).tolist(), "speed": np.nanmean(speeds, 0).tolist(),
           "frames": int(len(allp))}
    if allp.shape[-1] == 3:
        twist, tilt = posture_angles(allp)
        out["twist90"], out["tilt90"] = float(np.percentile(twist, 90)), float(np.percentile(tilt, 90))
    roots = [c.root for c in poses if isinstance(c, Clip) and len(c) > 1]
    if roots:
        out["root_speed"] = float(np.nanmean(np.concatenate([np.linalg.norm(np.diff(r, axis=0), axis=-1) for r in roots])) * fps)
    return out


# ----------------------------------------------------------------------------- forecasting

@dataclass(frozen=True)
class ForecastReport:
    """Forecast errors (body heights) at `horizons` frames ahead, per method; `windows` forecasts
    were averaged. front: the same forecasts seen from the front (3D models only). nll:
    teacher-forced held-out negative log-likelihood, nats per standardised target dimension."""

    fps: float
    context: int
    horizons: tuple[int, ...]
    body: dict[str, tuple[float, ...]]
    with_root: dict[str, tuple[float, ...]]
    windows: int
    front: dict[str, tuple[float, ...]] | None = None
    nll: float | None = None
    method: str = "mode rollout"
    notes: list[str] = field(default_factory=list)

    def gain(self, method: str, horizon_index: int, over: str = "zero-velocity", table: str = "body") -> float:
        """Fraction by which `method`'s error is below `over`'s at one horizon (0.3 = 30% lower)."""
        tab = getattr(self, table)
        return 1.0 - tab[method][horizon_index] / tab[over][horizon_index]

    def table(self) -> str:
        """A plain-text table: errors and % below zero-velocity."""
        heads = [("1 frame" if h == 1 else f"{h / self.fps:g} s") for h in self.horizons]
        lines = [f"forecast from {self.context / self.fps:g} s of motion at {self.fps:g} fps, {self.windows} windows; "
                 f"model = {self.method}; mean per-joint error in body heights (vs zero-velocity)"]
        tabs = [("body-centred", self.body), ("with root motion", self.with_root)]
        if self.front:
            tabs.append(("front view (2D)", self.front))
        for title, tab in tabs:
            lines.append(f"{title:22s}" + "".join(f"{h:>20s}" for h in heads))
            for m, errs in tab.items():
                cells = "".join(f"{e:9.4f} ({(1 - e / tab['zero-velocity'][i]) * 100:+5.1f}%) " for i, e in enumerate(errs))
                lines.append(f"  {m:20s}{cells}")
        if self.nll is not None:
            lines.append(f"held-out NLL: {self.nll:.3f} nats/dim (teacher-forced)")
        return "\n".join(lines + self.notes)


def _windows(clips: list[Clip], context: int, horizon: int, stride: int):
    for c in clips:
        for s in range(0, len(c) - context - horizon + 1, stride):
            yield c, s


def damped_velocity(model: ChoreoModel, u: np.ndarray, step: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The model's prior run on its own: (B, frames, Bn, D) directions and (B, frames, D) root
    steps from the last two context frames u (B, >=2, Bn, D), step (B, >=1, D)."""
    a = model.config.damping
    cur, vel, rs = u[:, -1].astype(np.float64), (u[:, -1] - u[:, -2]).astype(np.float64), step[:, -1].astype(np.float64)
    out_u, out_s = [], []
    for _ in range(frames):
        vel, rs = a * vel, a * rs
        nxt = project(cur + vel)
        vel, cur = nxt - cur, nxt
        out_u.append(cur)
        out_s.append(rs)
    return np.stack(out_u, 1), np.stack(out_s, 1)


def evaluate_forecast(model: ChoreoModel, info: dict, clips: list[Clip], context_s: float = 1.0,
                      horizons_s: tuple[float, ...] = (0.0, 0.5, 1.0), stride_s: float = 1 / 3,
                      style: str | None = None, batch_size: int = 128, samples: int = 0,
                      mirror: bool = True, hedge: bool | None = None) -> ForecastReport:
    """Forecast every window of `clips` (at the model's fps and dims, e.g. from `load_clips`)
    and compare with the baselines. A horizon of 0 s means the next frame. `style`: the style
    to condition on (None: each clip's own when the model knows it, else "any"). samples: 0 =
    the mode rollout, N = the average of N sampled continuations; mirror: averaged with the
    mirror image's forecast (`generate.forecast`); hedge: pull the forecast toward standing still
    or the dancer's own velocity as far as a backtest on the context says (`generate.hedged_forecast`); None = for
    style-free forecasts only (a style the model does not know), False = never, True = always.
    Hedging needs the mode rollout (samples 0) and a mirrored forecast."""
    fps = float(info["fps"])
    D = model.config.dims
    if any(abs(c.fps - fps) > 1e-6 for c in clips) or any(c.dims != D for c in clips):
        raise DancenowError(f"clips must be at the model's {fps:g} fps and {D}D")
    defaults = info["defaults"]
    context = max(2, int(round(context_s * fps)))
    horizons = tuple(max(1, int(round(h * fps))) for h in horizons_s)
    H = max(horizons)
    stride = max(1, int(round(stride_s * fps)))
    wins = list(_windows(clips, context, H, stride))
    if not wins:
        raise DancenowError(f"no clip is long enough for {context_s:g} s of context + {H / fps:g} s ahead")
    refs = info.get("reference", {})
    names = [style or c.style for c, _ in wins]
    style_means = all(n in refs and n != ANY_STYLE for n in names)
    methods = ("model",) + BASELINES + (("style mean pose",) if style_means else ())
    mean_pose = np.asarray(refs[ANY_STYLE]["mean"], np.float32)
    sums = {t: {m: np.zeros(H) for m in methods} for t in ("body", "root", "front")}
    counts = np.zeros(H)
    g = torch.Generator().manual_seed(0)
    for i in range(0, len(wins), batch_size):
        part = wins[i:i + batch_size]
        ctx = [clip_window(c, s, s + context, defaults) for c, s in part]
        u = np.stack([a.u for a in ctx])
        step = np.stack([a.root_step for a in ctx])
        obs = np.stack([a.observed for a in ctx])
        lengths = np.stack([a.lengths for a in ctx])[:, None, :, None]  # (B, 1, Bn, 1)
        ahead = np.stack([forecast_lengths(a, H) for a in ctx])[..., None]  # (B, H, Bn, 1)
        styles = torch.stack([parse_style(model, style or _known(model, c.style)) for c, _ in part])
        pu, ps = forecast(model, torch.from_numpy(u), torch.from_numpy(step), torch.from_numpy(obs), styles, H,
                          samples, g, mirror)
        hedged = is_style_free(model, styles) if hedge is None else torch.full((len(part),), bool(hedge))
        if samples <= 0 and mirror and hedged.any():
            k = hedged.nonzero()[:, 0]
            uk, sk = torch.from_numpy(u[k]), torch.from_numpy(step[k])
            ob, sty = torch.from_numpy(obs[k]), styles[k]
            _, backtests, slow = hedge_forecasts(model, uk, sk, ob, sty, H, plain=(pu[k], ps[k]))
            w = hedge_weights(model, uk, sk, ob, sty, torch.from_numpy(lengths[k, 0, :, 0]), H, backtests)
            pu[k], ps[k] = apply_hedge(model, uk, sk, ob, sty, pu[k], ps[k], w, slow)  # as generate.hedged_forecast
        damping = model.config.damping
        body = np.stack([forecast_pose(a, d, damping, L[..., 0]) for a, d, L in zip(ctx, pu.numpy(), ahead)])
        preds = {"model": (body, np.cumsum(ps.numpy(), 1))}
        du, ds = damped_velocity(model, u, step, H)
        preds["damped velocity"] = (joints_from_bones(du * ahead), np.cumsum(ds, 1))
        pose = np.stack([c.pose[s:s + context + H] for c, s in part]).astype(np.float64)
        root = np.stack([c.root[s:s + context + H] for c, s in part]).astype(np.float64)
        observed = np.stack([c.observed[s:s + context + H] for c, s in part])
        last, prev = pose[:, context - 1:context], pose[:, context - 2:context - 1]
        k = np.arange(1, H + 1)[None, :, None, None]
        zero_root = np.zeros((len(part), H, D))
        v_root = (root[:, context - 1] - root[:, context - 2])[:, None]
        preds["zero-velocity"] = (np.repeat(last, H, 1), zero_root)
        preds["constant velocity"] = (last + k * (last - prev), k[..., 0] * v_root)
        preds["mean pose"] = (np.broadcast_to(mean_pose, (len(part), H) + mean_pose.shape), zero_root)
        if style_means:
            sm = np.stack([np.asarray(refs[style or c.style]["mean"], np.float32) for c, _ in part])
            preds["style mean pose"] = (np.broadcast_to(sm[:, None], (len(part), H) + mean_pose.shape), zero_root)
        true = pose[:, context:]
        true_root = root[:, context:] - root[:, context - 1:context]
        ok = observed[:, context:]  # (B, H, P)
        for m, (p, r) in preds.items():
            sums["body"][m] += (np.linalg.norm(p - true, axis=-1) * ok).sum((0, 2))
            full_p, full_t = p + r[:, :, None], true + true_root[:, :, None]
            sums["root"][m] += (np.linalg.norm(full_p - full_t, axis=-1) * ok).sum((0, 2))
            if D == 3:
                sums["front"][m] += (np.linalg.norm(p[..., :2] - true[..., :2], axis=-1) * ok).sum((0, 2))
        counts += ok.sum((0, 2))
    idx = [h - 1 for h in horizons]
    table = lambda t: {m: tuple(float(v) for v in (sums[t][m] / np.maximum(counts, 1))[idx]) for m in methods}  # noqa: E731
    arrays = [clip_arrays(c, defaults) for c in clips]
    nll = heldout_nll(model, arrays, style)
    method = f"{model.config.point} rollout" if samples <= 0 else f"mean of {samples} sampled rollouts"
    method += ", mirror-averaged" if mirror else ""
    if model.forecaster is not None:
        method += f", known styles {model.config.forecaster:g} from the forecaster"
    if samples <= 0 and mirror and hedge is not False:
        method += ", hedged" if hedge else ", style-free forecasts hedged"
    return ForecastReport(fps, context, horizons, table("body"), table("root"), len(wins),
                          table("front") if D == 3 else None, nll, method)


def _known(model: ChoreoModel, style: str) -> str:
    return style if style in model.config.styles else ANY_STYLE


@torch.no_grad()
def heldout_nll(model: ChoreoModel, arrays: list[ClipArrays], style: str | None = None) -> float:
    """Teacher-forced NLL over whole clips (nats per observed standardised target dimension)."""
    from dancenow.choreo.skeleton import NUM_BONES

    D = model.config.dims
    total, n = 0.0, 0.0
    for a in arrays:
        if len(a) < 2:
            continue
        u, step, obs = (torch.from_numpy(v)[None] for v in (a.u, a.root_step, a.observed))
        x = model.encode_inputs(u[:, :-1], step[:, :-1], obs[:, :-1])
        vel, _ = model.velocities(u[:, :-1])
        y = model.encode_targets(u[:, 1:], step[:, 1:], *model.prior(u[:, :-1], vel, step[:, :-1]), model.frame(u[:, :-1]))
        bm = (obs[:, 1:, :NUM_BONES] * obs[:, :-1, :NUM_BONES]).repeat_interleave(D, -1)
        mask = torch.cat([bm, obs[:, 1:, NUM_BONES:].repeat_interleave(D, -1)], -1)
        params, _ = model.run(x, parse_style(model, style or _known(model, a.style))[None])
        total += float(-mixture_log_prob(params, y, mask).sum())
        n += float(mask.sum())
    return total / max(n, 1.0)


# ----------------------------------------------------------------------------- long-run health

@dataclass(frozen=True)
class HealthReport:
    """A long generated dance against reference statistics (lengths in body heights).

    length_drift: the largest relative change of any bone's length during the dance (3D: 0 up
        to float rounding, by construction). bone_ratio: generated / reference median length per
        bone (BONE_NAMES order); the check holds every bone to 10% in 3D, the limbs and spine in
        2D (the others' front-view length measures which way the dancer faces).
    speed_ratio: mean joint speed generated / reference. spread_ratio: mean per-coordinate pose
    standard deviation (poses turned to face the camera) generated / reference. frozen_fraction:
    share of 1-s windows whose mean joint speed is under 10% of the reference. max_extent:
    largest |coordinate| of any joint from the root. posture_ratio (3D): the larger of the
    generated / reference 90th percentiles of torso twist and spine tilt (`posture_angles`): a
    body that twists or leans far more than real dancers do is not healthy, however exact its
    bones.
    """

    seconds: float
    dims: int
    length_drift: float
    bone_ratio: tuple[float, ...]
    speed_ratio: float
    spread_ratio: float
    frozen_fraction: float
    max_extent: float
    posture_ratio: float = 1.0

    @property
    def checked_bones(self) -> tuple[int, ...]:
        return tuple(i for i, n in enumerate(BONE_NAMES) if self.dims == 3 or n not in _ORIENTATION_BONES)

    @property
    def bones_ok(self) -> bool:
        exact = self.dims != 3 or self.length_drift < 1e-4
        return exact and all(0.9 <= self.bone_ratio[i] <= 1.1 for i in self.checked_bones)

    @property
    def lively(self) -> bool:
        """Speed 0.8-1.2x and spread 0.8-1.25x the data's (the issue asks speed 0.8-1.2x and
        spread >= 0.8x; far more spread than real dance is chaos, not liveliness)."""
        return 0.8 <= self.speed_ratio <= 1.2 and 0.8 <= self.spread_ratio <= 1.25

    @property
    def exploded(self) -> bool:
        return not np.isfinite(self.max_extent) or self.max_extent > 2.0

    @property
    def ok(self) -> bool:
        return (self.bones_ok and not self.exploded and self.frozen_fraction < 0.25
                and self.posture_ratio <= POSTURE_LIMIT)

    def summary(self) -> str:
        r = np.array(self.bone_ratio)
        chk = list(self.checked_bones)
        worst = chk[int(np.argmax(np.abs(np.log(r[chk]))))]
        return (f"{self.seconds:.0f} s: bone lengths drift {self.length_drift:.1e}, median {r[chk].min():.3f}-{r[chk].max():.3f}x "
                f"the data's (worst {BONE_NAMES[worst]}), speed {self.speed_ratio:.2f}x, spread {self.spread_ratio:.2f}x, "
                f"frozen {self.frozen_fraction * 100:.0f}% of seconds, posture {self.posture_ratio:.2f}x, max extent {self.max_extent:.2f} -> "
                f"{'healthy' if self.ok else 'UNHEALTHY'}, {'lively' if self.lively else 'NOT lively'}")


def dance_health(pose: np.ndarray, fps: float, reference: dict, dancer: np.ndarray | None = None) -> HealthReport:
    """Health of a generated (T, P, D) body-centred dance against `pose_statistics` output.
    dancer: the bone lengths (B,) of the dancer it was seeded from (`GeneratedDance.lengths`),
    which a seeded dance keeps: its bones are judged against them, not against the style's median
    dancer (a folk dancer's shoulders are 0.7x the folk data's median, and that is no fault of
    the generation)."""
    pose = np.asarray(pose, np.float64)
    stats = pose_statistics([pose], fps)
    ref_speed = float(np.mean(reference["speed"]))
    speed = np.linalg.norm(np.diff(pose, axis=0), axis=-1).mean(-1) * fps  # (T-1,)
    w = max(1, int(round(fps)))
    per_sec = [speed[i:i + w].mean() for i in range(0, len(speed) - w + 1, w)]
    frozen = float(np.mean(np.array(per_sec) < 0.1 * ref_speed)) if per_sec else 0.0
    posture = 1.0
    if pose.shape[-1] == 3 and "twist90" in reference:
        posture = max(stats["twist90"] / max(reference["twist90"], 1e-6), stats["tilt90"] / max(reference["tilt90"], 1e-6))
    lens = bone_lengths(pose)
    drift = float(np.nanmax(np.abs(lens / lens[:1] - 1))) if np.isfinite(lens).all() else float("inf")
    return HealthReport(
        seconds=len(pose) / fps,
        dims=pose.shape[-1],
        length_drift=drift,
        bone_ratio=tuple(float(g / r) for g, r in zip(stats["bones"], reference["bones"] if dancer is None else dancer)),
        speed_ratio=float(np.mean(stats["speed"]) / ref_speed),
        spread_ratio=float(np.mean(stats["std"]) / np.mean(reference["std"])),
        frozen_fraction=frozen,
        max_extent=float(np.nanmax(np.abs(pose))) if np.isfinite(pose).all() else float("inf"),
        posture_ratio=float(posture),
    )


# ----------------------------------------------------------------------------- the whole evaluation

@dataclass(frozen=True)
class ChoreoReport:
    """What `dancenow choreo evaluate` prints: forecasting, and the health of a long generation
    (temperature `health_temperature`, from a held-out second of motion)."""

    forecast: ForecastReport
    health: HealthReport | None
    health_temperature: float | None
    generation_frames_per_s: float | None
    health_guidance: float | None = None  # the style guidance it was generated with

    def text(self) -> str:
        lines = [self.forecast.table()]
        if self.health is not None:
            how = f"temperature {self.health_temperature:g}" + (
                f", style guidance {self.health_guidance:g}" if self.health_guidance is not None else "")
            lines.append(f"generated dance ({how}): {self.health.summary()}")
        if self.generation_frames_per_s:
            lines.append(f"generation speed: {self.generation_frames_per_s:.0f} frames/s "
                         f"({self.generation_frames_per_s / self.forecast.fps:.0f}x real time, batch of 1, CPU)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        d = {"forecast": asdict(self.forecast), "health_temperature": self.health_temperature,
             "health_guidance": self.health_guidance, "generation_frames_per_s": self.generation_frames_per_s}
        if self.health is not None:
            d["health"] = asdict(self.health) | {"bones": dict(zip(BONE_NAMES, self.health.bone_ratio)),
                                                 "ok": self.health.ok, "lively": self.health.lively}
        return d


def evaluate_clips(model: ChoreoModel, info: dict, clips: list[Clip], style: str | None = None,
                   context_s: float = 1.0, stride_s: float = 1 / 3, health_seconds: float = 60.0,
                   health_temperature: float | None = None, random_seed: int = 0,
                   samples: int = 0) -> ChoreoReport:
    """Forecast report on `clips`, plus health and speed of a `health_seconds` dance generated
    from the first `context_s` of the longest clip (0: skip)."""
    from dancenow.choreo.generate import Choreographer

    report = evaluate_forecast(model, info, clips, context_s=context_s, stride_s=stride_s, style=style, samples=samples)
    health, fps_gen, guidance = None, None, None
    if health_seconds > 0:
        seed = max(clips, key=len)
        seed = seed.slice(0, max(2, int(round(context_s * float(info["fps"])))))
        ch = Choreographer(model, info)
        dance = ch(seed, seconds=health_seconds, temperature=health_temperature,
                   style=style or _known(model, seed.style), random_seed=random_seed)
        ref = info["reference"].get(style or seed.style) or info["reference"][ANY_STYLE]
        health = dance_health(dance.pose[dance.seed_frames:], dance.fps, ref, dance.lengths)
        fps_gen = dance.frames_per_second
        health_temperature, guidance = dance.temperature, dance.guidance
    return ChoreoReport(report, health, health_temperature, fps_gen, guidance)


def evaluate_model_on_files(model_dir, paths: list[str], style: str | None = None, context_s: float = 1.0,
                            stride_s: float = 1 / 3, health_seconds: float = 60.0,
                            openpose_fps: float | None = None) -> ChoreoReport:
    """`evaluate_clips` on pose/BVH/video files, loaded at the model's fps and dims."""
    from dancenow.choreo.checkpoint import load_model
    from dancenow.choreo.clips import load_clips
    from dancenow.choreo.generate import check_seconds

    for name, v in (("context", context_s), ("stride", stride_s)):
        if not (np.isfinite(v) and 0 < v <= 60):
            raise DancenowError(f"{name} must be > 0 and at most 60 seconds, got {v:g}")
    if health_seconds:
        check_seconds(health_seconds)
    model, info = load_model(model_dir)
    if style is not None:
        parse_style(model, style)
    clips = [c for p in paths for c in load_clips(p, style or ANY_STYLE, float(info["fps"]), int(info["dims"]),
                                                    pose_fps=openpose_fps, front=info.get("front", "world"))]
    if not clips:
        raise DancenowError("no usable motion in the given files")
    return evaluate_clips(model, info, clips, style, context_s, stride_s, health_seconds)


def write_report(report: ChoreoReport, path):
    """The report as JSON (atomically); returns its path."""
    from dancenow.atomic import write_json

    return write_json(path, report.to_dict())

