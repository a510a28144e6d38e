"""Evaluate a choreography model: forecasting against baselines, likelihood, long-run health.

Forecasting (`evaluate_forecast`): from `context_s` seconds of held-out motion, predict the next
second; the error at a horizon is the mean over the model's joints of the Euclidean distance
between predicted and true positions, in body heights (see `data.stature`), in the model's
space (2D front view or 3D). "body" errors are body-centred (joints relative to the mid-hip,
the pose alone); "with root" errors add the root track, relative to the last context frame.

The model's forecast is its *deterministic mode rollout*: at each step the mean of the most
probable mixture component is taken and fed back (temperature 0 in `generate.rollout`).
Baselines, as in human-motion prediction (Martinez et al. 2017 found zero-velocity hard to beat):
  zero-velocity     repeat the last observed pose (and root position);
  constant velocity continue the last frame-to-frame displacement;
  mean pose         the training set's mean body-centred pose (at the last root position);
  style mean pose   the mean pose of the style's own training data (when the style is known).

Health (`dance_health`): statistics of a long generated dance against the training data's:
per-bone median lengths (the issue asks for within 10%), mean joint speed, spread of poses,
share of "frozen" seconds, and whether anything left a sane range.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from dancenow.choreo.data import MODEL_BONES, Clip, ClipArrays, clip_arrays, pose_to_body25
from dancenow.choreo.generate import parse_style, rollout
from dancenow.choreo.mdn import mixture_log_prob
from dancenow.choreo.model import ANY_STYLE, ChoreoModel
from dancenow.errors import DancenowError
from dancenow.keypoints import Joint

log = logging.getLogger(__name__)

BONE_NAMES = [f"{Joint(a).name}-{Joint(b).name}" for a, b in MODEL_BONES]
# The bones the health check holds to +-10%: limbs and the torso. Hip and shoulder widths are
# left out in 2D (a dancer turning sideways shrinks them to ~0 in a front view: they measure
# orientation, not skeleton), as are the short ankle-toe and neck-nose links (a few pixels).
HEALTH_BONES = tuple(i for i, (a, b) in enumerate(MODEL_BONES)
                     if {a, b} not in ({Joint.R_SHOULDER, Joint.L_SHOULDER}, {Joint.R_HIP, Joint.L_HIP},
                                       {Joint.R_ANKLE, Joint.R_BIG_TOE}, {Joint.L_ANKLE, Joint.L_BIG_TOE},
                                       {Joint.NECK, Joint.NOSE}))
BASELINES = ("zero-velocity", "constant velocity", "mean pose")


# ----------------------------------------------------------------------------- statistics

def bone_lengths(pose: np.ndarray) -> np.ndarray:
    """(T, P, D) body-centred MODEL_JOINTS -> (T, n_bones) lengths, MODEL_BONES order."""
    body = pose_to_body25(np.asarray(pose, np.float64))
    return np.stack([np.linalg.norm(body[:, a] - body[:, b], axis=-1) for a, b in MODEL_BONES], 1)


def pose_statistics(poses: list[np.ndarray] | list[Clip], fps: float) -> dict:
    """Reference statistics of body-centred poses (a list of (T, P, D) arrays or Clips), all
    JSON-ready lists, lengths in body heights, speeds in body heights per second:
    mean, std (P, D); bones: median length per MODEL_BONES; speed: mean per-joint speed (P,);
    root_speed: mean root speed; frames: count."""
    arrs = [c.pose if isinstance(c, Clip) else np.asarray(c) for c in poses]
    arrs = [a for a in arrs if len(a) > 1]
    if not arrs:
        raise DancenowError("no motion to measure (every clip is shorter than 2 frames)")
    allp = np.concatenate(arrs).astype(np.float64)
    speeds = np.concatenate([np.linalg.norm(np.diff(a, axis=0), axis=-1) for a in arrs]) * fps  # (N, P)
    bones = np.nanmedian(bone_lengths(allp), 0)
    out = {"mean": np.nanmean(allp, 0).tolist(), "std": np.nanstd(allp, 0).tolist(),
           "bones": bones.tolist(), "speed": np.nanmean(speeds, 0).tolist(), "frames": int(len(allp))}
    roots = [c.root for c in poses if isinstance(c, Clip) and len(c) > 1]
    if roots:
        out["root_speed"] = float(np.nanmean(np.concatenate([np.linalg.norm(np.diff(r, axis=0), axis=-1) for r in roots])) * fps)
    return out


# ----------------------------------------------------------------------------- forecasting

@dataclass(frozen=True)
class ForecastReport:
    """Forecast errors (body heights) at `horizons` frames ahead, per method; `windows` forecasts
    were averaged. nll: teacher-forced held-out negative log-likelihood, nats per standardised
    target dimension (lower is better)."""

    fps: float
    context: int
    horizons: tuple[int, ...]
    body: dict[str, tuple[float, ...]]
    with_root: dict[str, tuple[float, ...]]
    windows: int
    nll: float | None = None
    method: str = "mode rollout"
    notes: list[str] = field(default_factory=list)

    def gain(self, method: str, horizon_index: int, over: str = "zero-velocity", body: bool = True) -> float:
        """Fraction by which `method`'s error is below `over`'s at one horizon (0.3 = 30% lower)."""
        tab = self.body if body else self.with_root
        return 1.0 - tab[method][horizon_index] / tab[over][horizon_index]

    def table(self) -> str:
        """A plain-text table: errors and % below zero-velocity."""
        heads = [("1 frame" if h == 1 else f"{h / self.fps:g} s") for h in self.horizons]
        lines = [f"forecast from {self.context / self.fps:g} s of motion at {self.fps:g} fps, {self.windows} windows; "
                 f"model = {self.method}; mean per-joint error in body heights (vs zero-velocity)"]
        for title, tab in (("body-centred", self.body), ("with root motion", self.with_root)):
            lines.append(f"{title:22s}" + "".join(f"{h:>20s}" for h in heads))
            for m, errs in tab.items():
                cells = "".join(f"{e:9.4f} ({(1 - e / tab['zero-velocity'][i]) * 100:+5.1f}%) " for i, e in enumerate(errs))
                lines.append(f"  {m:20s}{cells}")
        if self.nll is not None:
            lines.append(f"held-out NLL: {self.nll:.3f} nats/dim (teacher-forced)")
        return "\n".join(lines + self.notes)


def _windows(arrays: list[ClipArrays], context: int, horizon: int, stride: int):
    for a in arrays:
        for s in range(0, len(a) - context - horizon + 1, stride):
            yield a, s


def evaluate_forecast(model: ChoreoModel, info: dict, clips: list[Clip], context_s: float = 1.0,
                      horizons_s: tuple[float, ...] = (0.0, 0.5, 1.0), stride_s: float = 1 / 3,
                      style: str | None = None, batch_size: int = 128, guard: bool = True) -> ForecastReport:
    """Forecast every window of `clips` (at the model's fps and dims, e.g. from `load_clips`)
    and compare with the baselines. A horizon of 0 s means the next frame. `style`: the style
    to condition on (None: each clip's own when the model knows it, else "any"). guard: the
    bone-length guard of generation (see `generate.rollout`), on by default as in generation."""
    fps = float(info["fps"])
    if any(abs(c.fps - fps) > 1e-6 for c in clips) or any(c.dims != model.config.dims for c in clips):
        raise DancenowError(f"clips must be at the model's {fps:g} fps and {model.config.dims}D")
    context = max(2, int(round(context_s * fps)))
    horizons = tuple(max(1, int(round(h * fps))) for h in horizons_s)
    H = max(horizons)
    stride = max(1, int(round(stride_s * fps)))
    mean_pose = np.asarray(info["mean_pose"], np.float32)
    limits = np.asarray(info["bone_limits"]) if guard and info.get("bone_limits") else None
    arrays = [clip_arrays(c, mean_pose) for c in clips]
    roots = {id(a): c.root for a, c in zip(arrays, clips)}
    wins = list(_windows(arrays, context, H, stride))
    if not wins:
        raise DancenowError(f"no clip is long enough for {context_s:g} s of context + {H / fps:g} s ahead")
    style_names = [style or a.style for a, _ in wins]
    refs = info.get("reference", {})
    style_means = all(n in refs and n != ANY_STYLE for n in style_names)
    methods = ("model",) + BASELINES + (("style mean pose",) if style_means else ())
    sums_b = {m: np.zeros(H) for m in methods}
    sums_r = {m: np.zeros(H) for m in methods}
    counts = np.zeros(H)
    for i in range(0, len(wins), batch_size):
        part = wins[i:i + batch_size]
        pose = np.stack([a.pose[s:s + context + H] for a, s in part])  # (B, C+H, P, D)
        step = np.stack([a.root_step[s:s + context + H] for a, s in part])
        obs = np.stack([a.observed[s:s + context + H] for a, s in part])
        root = np.stack([roots[id(a)][s:s + context + H] for a, s in part])
        obs_ctx = obs[:, :context].copy()
        obs_ctx[:, 0, -1] = 0  # the first context frame's root step reaches before the context
        step_ctx = step[:, :context].copy()
        step_ctx[:, 0] = 0
        styles = torch.stack([parse_style(model, style or _known(model, a.style)) for a, _ in part])
        pred, pstep, _ = rollout(model, torch.from_numpy(pose[:, :context]), torch.from_numpy(step_ctx),
                                 torch.from_numpy(obs_ctx), styles, H, temperature=0.0, guard=limits)
        preds = {"model": (pred.numpy(), np.cumsum(pstep.numpy(), 1))}
        last, prev = pose[:, context - 1:context], pose[:, context - 2:context - 1]
        k = np.arange(1, H + 1)[None, :, None, None]
        zero_root = np.zeros((len(part), H, pose.shape[-1]))
        v_root = (root[:, context - 1] - root[:, context - 2])[:, None]
        preds["zero-velocity"] = (np.repeat(last, H, 1), zero_root)
        preds["constant velocity"] = (last + k * (last - prev), k[..., 0] * v_root)
        preds["mean pose"] = (np.broadcast_to(mean_pose, (len(part), H) + mean_pose.shape), zero_root)
        if style_means:
            sm = np.stack([np.asarray(refs[style or a.style]["mean"], np.float32) for a, _ in part])
            preds["style mean pose"] = (np.broadcast_to(sm[:, None], (len(part), H) + mean_pose.shape), zero_root)
        true = pose[:, context:]
        true_root = root[:, context:] - root[:, context - 1:context]
        ok = obs[:, context:, :-1] > 0  # (B, H, P)
        for m, (p, r) in preds.items():
            eb = np.linalg.norm(p - true, axis=-1)  # (B, H, P)
            er = np.linalg.norm((p + r[:, :, None]) - (true + true_root[:, :, None]), axis=-1)
            sums_b[m] += (eb * ok).sum((0, 2))
            sums_r[m] += (er * ok).sum((0, 2))
        counts += ok.sum((0, 2))
    idx = [h - 1 for h in horizons]
    body = {m: tuple(float(v) for v in (sums_b[m] / np.maximum(counts, 1))[idx]) for m in methods}
    with_root = {m: tuple(float(v) for v in (sums_r[m] / np.maximum(counts, 1))[idx]) for m in methods}
    nll = heldout_nll(model, arrays, style)
    method = "mode rollout" + (" with bone-length guard" if limits is not None else "")
    return ForecastReport(fps, context, horizons, body, with_root, len(wins), nll, method)


def _known(model: ChoreoModel, style: str) -> str:
    return style if style in model.config.styles else ANY_STYLE


@torch.no_grad()
def heldout_nll(model: ChoreoModel, arrays: list[ClipArrays], style: str | None = None) -> float:
    """Teacher-forced NLL over whole clips (nats per observed standardised target dimension)."""
    P, D = model.config.joints, model.config.dims
    total, n = 0.0, 0.0
    for a in arrays:
        if len(a) < 2:
            continue
        pose, step, obs = (torch.from_numpy(v)[None] for v in (a.pose, a.root_step, a.observed))
        x = model.encode_inputs(pose[:, :-1], step[:, :-1], obs[:, :-1])
        y = model.encode_targets(pose[:, 1:] - pose[:, :-1], step[:, 1:])
        jm = (obs[:, 1:, :P] * obs[:, :-1, :P]).repeat_interleave(D, -1)
        mask = torch.cat([jm, obs[:, 1:, P:].repeat_interleave(D, -1)], -1)
        params, _ = model.run(x, parse_style(model, style or _known(model, a.style))[None])
        total += float(-mixture_log_prob(params, y, mask).sum())
        n += float(mask.sum())
    return total / max(n, 1.0)


# ----------------------------------------------------------------------------- long-run health

@dataclass(frozen=True)
class HealthReport:
    """A long generated dance against reference statistics (lengths in body heights).

    bone_ratio: generated / reference median length per bone (BONE_NAMES order); the check
        holds HEALTH_BONES (limbs, torso) to within 10%, and in 3D every bone.
    speed_ratio: mean joint speed generated / reference. spread_ratio: mean per-coordinate pose
    standard deviation generated / reference. frozen_fraction: share of 1-s windows whose mean
    joint speed is under 10% of the reference. max_extent: largest |coordinate| of any joint
    from the root.
    """

    seconds: float
    dims: int
    bone_ratio: tuple[float, ...]
    speed_ratio: float
    spread_ratio: float
    frozen_fraction: float
    max_extent: float

    @property
    def checked_bones(self) -> tuple[int, ...]:
        return tuple(range(len(self.bone_ratio))) if self.dims == 3 else HEALTH_BONES

    @property
    def bones_ok(self) -> bool:
        return all(0.9 <= self.bone_ratio[i] <= 1.1 for i in self.checked_bones)

    @property
    def exploded(self) -> bool:
        return not np.isfinite(self.max_extent) or self.max_extent > 2.0

    @property
    def ok(self) -> bool:
        return self.bones_ok and not self.exploded and self.frozen_fraction < 0.25

    def summary(self) -> str:
        r = np.array(self.bone_ratio)
        chk = list(self.checked_bones)
        worst = chk[int(np.argmax(np.abs(np.log(r[chk]))))]
        return (f"{self.seconds:.0f} s: limb/torso bones {r[chk].min():.3f}-{r[chk].max():.3f} x reference "
                f"(worst {BONE_NAMES[worst]}; all bones {r.min():.2f}-{r.max():.2f}), speed {self.speed_ratio:.2f}x, spread {self.spread_ratio:.2f}x, "
                f"frozen {self.frozen_fraction * 100:.0f}% of seconds, max extent {self.max_extent:.2f} -> "
                f"{'healthy' if self.ok else 'UNHEALTHY'}")


def dance_health(pose: np.ndarray, fps: float, reference: dict) -> HealthReport:
    """Health of a generated (T, P, D) body-centred dance against `pose_statistics` output."""
    pose = np.asarray(pose, np.float64)
    stats = pose_statistics([pose], fps)
    ref_speed = float(np.mean(reference["speed"]))
    speed = np.linalg.norm(np.diff(pose, axis=0), axis=-1).mean(-1) * fps  # (T-1,)
    w = max(1, int(round(fps)))
    per_sec = [speed[i:i + w].mean() for i in range(0, len(speed) - w + 1, w)]
    frozen = float(np.mean(np.array(per_sec) < 0.1 * ref_speed)) if per_sec else 0.0
    return HealthReport(
        seconds=len(pose) / fps,
        dims=pose.shape[-1],
        bone_ratio=tuple(float(g / r) for g, r in zip(stats["bones"], reference["bones"])),
        speed_ratio=float(np.mean(stats["speed"]) / ref_speed),
        spread_ratio=float(np.mean(stats["std"]) / np.mean(reference["std"])),
        frozen_fraction=frozen,
        max_extent=float(np.nanmax(np.abs(pose))) if np.isfinite(pose).all() else float("inf"),
    )


# ----------------------------------------------------------------------------- the whole evaluation

@dataclass(frozen=True)
class ChoreoReport:
    """What `dancenow choreo evaluate` prints: forecasting, and the health of a long generation
    (temperature `health_temperature`, from a held-out second of motion)."""

    forecast: ForecastReport
    health: HealthReport | None
    health_temperature: float
    generation_frames_per_s: float | None
    health_pull: float = 0.0  # the limb pull of that generation (generate.DEFAULT_PULL)

    def text(self) -> str:
        lines = [self.forecast.table()]
        if self.health is not None:
            lines.append(f"generated dance (temperature {self.health_temperature:g}, limb pull {self.health_pull:g}): "
                         f"{self.health.summary()}")
        if self.generation_frames_per_s:
            lines.append(f"generation speed: {self.generation_frames_per_s:.0f} frames/s "
                         f"({self.generation_frames_per_s / self.forecast.fps:.0f}x real time, batch of 1, CPU)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        d = {"forecast": asdict(self.forecast), "health_temperature": self.health_temperature,
             "health_pull": self.health_pull,
             "generation_frames_per_s": self.generation_frames_per_s}
        if self.health is not None:
            d["health"] = asdict(self.health) | {"bones": dict(zip(BONE_NAMES, self.health.bone_ratio)),
                                                 "ok": self.health.ok}
        return d


def evaluate_clips(model: ChoreoModel, info: dict, clips: list[Clip], style: str | None = None,
                   context_s: float = 1.0, stride_s: float = 1 / 3, health_seconds: float = 60.0,
                   health_temperature: float = 1.0, random_seed: int = 0, guard: bool = True) -> ChoreoReport:
    """Forecast report on `clips`, plus health and speed of a `health_seconds` dance generated
    from the first `context_s` of the longest clip (0: skip), at `health_temperature` (1 = the
    model's own distribution)."""
    from dancenow.choreo.generate import Choreographer

    forecast = evaluate_forecast(model, info, clips, context_s=context_s, stride_s=stride_s, style=style, guard=guard)
    health, fps_gen, pull = None, None, 0.0
    if health_seconds > 0:
        seed = max(clips, key=len)
        seed = seed.slice(0, max(2, int(round(context_s * float(info["fps"])))))
        ch = Choreographer(model, info, guard)
        pull = ch.pull if ch.median is not None else 0.0
        dance = ch(seed, seconds=health_seconds, temperature=health_temperature,
                   style=style or _known(model, seed.style), random_seed=random_seed)
        ref = info["reference"].get(style or seed.style) or info["reference"][ANY_STYLE]
        health = dance_health(dance.pose[dance.seed_frames:], dance.fps, ref)
        fps_gen = dance.frames_per_second
    return ChoreoReport(forecast, health, health_temperature, fps_gen, pull)


def evaluate_model_on_files(model_dir, paths: list[str], style: str | None = None, context_s: float = 1.0,
                            stride_s: float = 1 / 3, health_seconds: float = 60.0,
                            openpose_fps: float | None = None) -> ChoreoReport:
    """`evaluate_clips` on pose/BVH files, loaded at the model's fps and dims."""
    from dancenow.choreo.data import load_clips
    from dancenow.choreo.checkpoint import load_model

    model, info = load_model(model_dir)
    clips = [c for p in paths for c in load_clips(p, style or ANY_STYLE, float(info["fps"]), int(info["dims"]),
                                                    pose_fps=openpose_fps, front=info.get("front", "world"))]
    if not clips:
        raise DancenowError("no usable motion in the given files")
    return evaluate_clips(model, info, clips, style, context_s, stride_s, health_seconds)


def write_report(report: ChoreoReport, path):
    """The report as JSON (atomically); returns its path."""
    from dancenow.atomic import write_json

    return write_json(path, report.to_dict())
