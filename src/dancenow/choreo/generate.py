"""Generate dance: roll the model forward one frame at a time from a seed motion.

`rollout` is the loop shared by generation, evaluation and the live view: encode the seed,
then repeatedly take the mixture for the next frame, draw from it (or take its mode), add the
predicted pose delta and root step, and feed the new frame back. `Choreographer` is the
pipeline around it (a loaded model plus a seed in, a `GeneratedDance` out), in the manner of a
diffusers pipeline: no training code, no argument parsing.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dancenow.choreo.data import Clip, ClipArrays, apply_guard, clip_arrays, load_clips, to_pose_sequence
from dancenow.choreo.mdn import sample
from dancenow.choreo.model import ANY_STYLE, ChoreoModel
from dancenow.errors import DancenowError
from dancenow.keypoints import PoseSequence

log = logging.getLogger(__name__)

# Share of the way each limb moves toward its median 2D length per generated frame (see
# data.apply_guard). The network alone lets limbs shrink: 60 s salsa generations ended with
# forearms at 0.54-0.75x their real median (more input noise, longer rollouts, a separate
# forecast head and parent-relative targets did not fix it). Pulls of 0.05/0.1/0.2/0.35/0.5/0.7
# gave worst limbs 0.65/0.71/0.81/0.88/0.90/0.93x (bench/choreo_salsa_eval.py). A constraint,
# not learned: brief foreshortening survives, long-held short limbs do not.
DEFAULT_PULL = 0.7


@torch.no_grad()
def rollout(model: ChoreoModel, pose: torch.Tensor, root_step: torch.Tensor, observed: torch.Tensor,
            style: torch.Tensor, frames: int, temperature: float = 0.0,
            generator: torch.Generator | None = None, state=None,
            guard: np.ndarray | None = None, median: np.ndarray | None = None,
            pull: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    """Continue B motions by `frames` frames.

    pose (B, Tc, P, D) body-centred, root_step (B, Tc, D), observed (B, Tc, P + 1): the context
    (Tc >= 1), lengths in body heights. style: (B,) indices or (B, S) blend weights.
    temperature 0 = deterministic mode rollout (the mean of the most probable mixture component
    at every step, fed back); > 0 samples with `generator`. guard: (bones, 2) length limits
    (`data.bone_limits`); each new pose is kept within them (`data.apply_guard`) before it is
    fed back, a safety net against a skeleton drifting apart in long generations; with `median`
    (`data.bone_medians`) and `pull` > 0, limbs are also drawn that share of the way toward their
    median length every frame (see `data.apply_guard`).
    Returns the new frames' pose (B, frames, P, D), root steps (B, frames, D), and the LSTM state.
    """
    # 1. read the context
    x = model.encode_inputs(pose, root_step, observed)
    params, state = model.run(x, style, state)
    last = params[:, -1]  # mixture for the frame after the context
    cur = pose[:, -1]  # (B, P, D)
    ones = torch.ones_like(observed[:, -1])
    style_vec = model.style_vector(style)
    if guard is not None:
        guard = torch.as_tensor(np.asarray(guard), dtype=pose.dtype)
    out_pose, out_step = [], []
    has_prev = torch.ones(pose.shape[0], dtype=torch.bool)
    for _ in range(frames):
        # 2. draw the next frame's delta and root step, 3. integrate
        y = sample(last, temperature, generator)  # (B, out)
        delta, step = model.decode_outputs(y)
        prev, cur = cur, cur + delta
        if guard is not None:
            cur = apply_guard(cur, guard, median, pull)
        out_pose.append(cur)
        out_step.append(step)
        # 4. feed it back
        x = model.encode_inputs(cur[:, None], step[:, None], ones[:, None], prev, has_prev)[:, 0]
        last, state = model.step(x, style_vec, state)
    return torch.stack(out_pose, 1), torch.stack(out_step, 1), state


def parse_style(model: ChoreoModel, spec: str | dict[str, float] | None) -> torch.Tensor:
    """A style spec -> (S,) blend weights summing to 1. Spec: None or "any" (the style-free mode),
    a style name, "a=0.7,b=0.3", or a {name: weight} dict. Weights are renormalised."""
    styles = model.config.styles
    if spec is None:
        spec = ANY_STYLE
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        weights: dict[str, float] = {}
        for p in parts:
            name, _, w = p.partition("=")
            try:
                weights[name.strip()] = float(w) if w else 1.0
            except ValueError:
                raise DancenowError(f"bad style weight in {spec!r}: use NAME or NAME=WEIGHT,NAME=WEIGHT") from None
        spec = weights
    vec = torch.zeros(len(styles))
    for name, w in spec.items():
        vec[model.style_index(name)] += float(w)
    if not (vec >= 0).all() or vec.sum() <= 0:
        raise DancenowError(f"style weights must be >= 0 and not all 0: {spec}")
    return vec / vec.sum()


@dataclass(frozen=True, eq=False)
class GeneratedDance:
    """A generated dance in the model's representation.

    pose: (T, P, D) body-centred MODEL_JOINTS in body heights; root: (T, D) root track in body
    heights from the first frame; the first `seed_frames` frames are the seed (observed motion).
    fps: frames per second; style: blend weights by name; seconds_per_frame: generation time.
    """

    pose: np.ndarray
    root: np.ndarray
    fps: float
    seed_frames: int
    style: dict[str, float]
    compute_s: float

    @property
    def frames_per_second(self) -> float:
        """Generated frames per second of compute (real time = fps)."""
        n = self.pose.shape[0] - self.seed_frames
        return n / self.compute_s if self.compute_s > 0 else float("inf")

    def to_pose_sequence(self, size: tuple[int, int] = (512, 512), include_seed: bool = True) -> PoseSequence:
        """Our 137-point layout (body only) in a `size` frame, standing, feet near the bottom."""
        s = 0 if include_seed else self.seed_frames
        return to_pose_sequence(self.pose[s:], self.root[s:], self.fps, size)


class Choreographer:
    """A loaded choreography model, ready to continue a seed motion.

        model, info = load_model("model/")
        dance = Choreographer(model, info)(seed_clip, seconds=30, temperature=0.8, style="salsa")

    guard: keep bone lengths within the training data's range while generating, and draw limbs
    toward their median length by `pull` per frame (see `rollout`; models saved before the
    medians were recorded get the range guard only).
    """

    def __init__(self, model: ChoreoModel, info: dict, guard: bool = True, pull: float | None = None):
        self.model = model.eval()
        self.guard = np.asarray(info["bone_limits"]) if guard and info.get("bone_limits") else None
        self.median = np.asarray(info["bone_median"]) if guard and info.get("bone_median") else None
        self.pull = DEFAULT_PULL if pull is None else float(pull)
        self.info = info
        self.fps = float(info["fps"])
        self.dims = int(info["dims"])
        self.mean_pose = np.asarray(info["mean_pose"], np.float32)

    def seed_from_file(self, path: str | os.PathLike, seconds: float | None = 1.0, fps: float | None = None,
                       size: tuple[int, int] | None = None) -> ClipArrays:
        """The last `seconds` (None: all) of the longest clip in a pose/BVH file, as model input."""
        clips = load_clips(path, ANY_STYLE, self.fps, self.dims, pose_fps=fps, pose_size=size,
                           front=self.info.get("front", "world"))
        if not clips:
            raise DancenowError(f"{path}: no usable motion for a seed (no frame with both hips)")
        clip = max(clips, key=len)
        if seconds is not None:
            n = max(1, int(round(seconds * self.fps)))
            clip = clip.slice(max(0, len(clip) - n), len(clip))
        return clip_arrays(clip, self.mean_pose)

    def still_seed(self) -> ClipArrays:
        """A one-frame seed: the training mean pose, standing still."""
        P, D = self.mean_pose.shape
        return ClipArrays(self.mean_pose[None].copy(), np.zeros((1, D), np.float32),
                          np.ones((1, P + 1), np.float32), ANY_STYLE, "mean pose")

    def __call__(self, seed: ClipArrays | Clip | None = None, seconds: float = 30.0, temperature: float = 0.8,
                 style: str | dict[str, float] | None = None, random_seed: int = 0) -> GeneratedDance:
        """Continue `seed` (default: `still_seed()`) by `seconds` of dance."""
        if seconds <= 0:
            raise DancenowError(f"seconds must be > 0, got {seconds}")
        if isinstance(seed, Clip):
            seed = clip_arrays(seed, self.mean_pose)
        seed = seed if seed is not None else self.still_seed()
        if seed.pose.shape[1:] != self.mean_pose.shape:
            raise DancenowError(f"seed has {seed.pose.shape[1:]} joints x dims; the model wants {self.mean_pose.shape}")
        weights = parse_style(self.model, style)
        g = torch.Generator().manual_seed(int(random_seed))
        frames = int(round(seconds * self.fps))
        t0 = time.perf_counter()
        pose, step, _ = rollout(
            self.model, torch.from_numpy(seed.pose)[None], torch.from_numpy(seed.root_step)[None],
            torch.from_numpy(seed.observed)[None], weights[None], frames, temperature, g, guard=self.guard,
            median=self.median, pull=self.pull)
        dt = time.perf_counter() - t0
        all_pose = np.concatenate([seed.pose, pose[0].numpy()], 0)
        steps = np.concatenate([seed.root_step, step[0].numpy()], 0)
        steps[0] = 0.0
        root = np.cumsum(steps, 0)
        names = self.model.config.styles
        return GeneratedDance(all_pose, root, self.fps, len(seed), {names[i]: float(w) for i, w in enumerate(weights) if w > 0}, dt)


def write_dance(dance: GeneratedDance, path: str | os.PathLike, size: tuple[int, int] = (512, 512),
                include_seed: bool = True) -> Path:
    """Save as our pose .npz (or OpenPose folder), or render a stick-figure .mp4 (captioned)."""
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
                      prime_seconds: float = 1.0, seconds: float = 30.0, temperature: float = 0.8,
                      style: str | None = None, seed: int = 0, size: tuple[int, int] = (512, 512),
                      include_prime: bool = True, limb_pull: float | None = None,
                      openpose_fps: float | None = None, openpose_size: tuple[int, int] | None = None,
                      openpose_video: str | os.PathLike | None = None) -> GeneratedDance:
    """`dancenow choreo generate`: a dance from the model in `model_dir`, continuing `prime`
    (a pose/BVH file; None: standing still), written to every path in `outputs`."""
    from dancenow.choreo.checkpoint import load_model

    model, info = load_model(model_dir)
    ch = Choreographer(model, info, pull=limb_pull)
    start = None
    if prime is not None:
        if openpose_video is not None and (openpose_fps is None or openpose_size is None):
            from dancenow.video import probe

            vi = probe(openpose_video)
            openpose_fps, openpose_size = openpose_fps or vi.fps, openpose_size or vi.size
        start = ch.seed_from_file(prime, prime_seconds, fps=openpose_fps, size=openpose_size)
    dance = ch(start, seconds=seconds, temperature=temperature, style=style, random_seed=seed)
    for out in outputs:
        write_dance(dance, out, size, include_seed=include_prime)
    return dance
