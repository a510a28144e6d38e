"""A synthetic dance world: procedural 3D kinematic dancers with exact ground truth, rendered
to video fast. It is the default data of `dancenow demo` and the test bench of other stages.

    from dancenow.world import ACTORS, generate_dance, perform, render_frames
    dance = generate_dance(seed=1, seconds=10)
    perf = perform(ACTORS["ana"], dance)          # perf.poses: exact 2D keypoints (PoseSequence)
    frames = render_frames(ACTORS["ana"], perf)   # RGB uint8 frames, lazily

The same `Dance` performed by two actors is the same choreography on two different bodies,
placed and filmed differently: "the target actor doing the source's dance" as ground truth.
Modules: skeleton (bodies, forward kinematics, the 137 keypoints), moves (choreography),
actor (named looks), camera (pinhole, dolly), draw (the renderer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from dancenow.keypoints import FACE, NUM_JOINTS, SKELETON, PoseSequence
from dancenow.world.actor import ACTORS, Actor, actor_from_seed, get_actor
from dancenow.world.camera import Camera, project
from dancenow.world.moves import MOVES, Dance, generate_dance
from dancenow.world.skeleton import J, Body, Kinematics, build_body, forward_kinematics

__all__ = ["Actor", "ACTORS", "actor_from_seed", "get_actor", "Dance", "generate_dance", "MOVES", "Camera",
           "perform", "Performance", "render_frames", "render_clip", "render_to_file", "BONES"]

# Keypoint pairs of SKELETON that lie on one rigid segment (or one phalanx), so their 3D
# distance never changes. Left out: Neck-MidHip (across the bending spine) and Neck-Nose
# (across the neck joint).
BONES: tuple[tuple[int, int], ...] = tuple(p for p in SKELETON if p not in ((1, 8), (1, 0)))
FACING_MIN = 0.1  # cosine between the face's forward axis and the view ray: below it, no face


@dataclass(frozen=True, eq=False)
class Performance:
    """An actor performing a dance in front of a camera, with exact ground truth.

    poses: (T, 137, 3) keypoints in pixels of the `size` frame: the exact pinhole projection of
        `joints3d` (confidence 1; face points 0 while the face is turned away from the camera).
    joints3d: (T, 137, 3) world metres (x right, y up, z towards the camera; floor y = 0).
    bone_lengths: {(a, b): metres} for every rigid pair in `BONES` (constant over the clip).
    kinematics: internal joints' world positions and frames (for the renderer).
    R, C, focal: per-frame camera rotation (T, 3, 3), centre (T, 3) metres, focal length px.
    facing: (T,) cosine between the face's forward axis and the direction to the camera.
    """

    actor: Actor
    dance: Dance
    body: Body = field(repr=False)
    camera: Camera
    size: tuple[int, int]
    poses: PoseSequence = field(repr=False)
    joints3d: np.ndarray = field(repr=False)
    bone_lengths: dict = field(repr=False)
    kinematics: Kinematics = field(repr=False)
    R: np.ndarray = field(repr=False)
    C: np.ndarray = field(repr=False)
    focal: float
    facing: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.poses)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (T, N, 2) and camera depth (T, N) m of world points (T, N, 3)."""
        w, h = self.size
        return project(points, self.R, self.C, self.focal, w / 2.0, h / 2.0)


def perform(actor: Actor | str, dance: Dance, size: tuple[int, int] = (256, 256),
            camera: Camera | None = None) -> Performance:
    """Put `actor` (an Actor or a name in ACTORS) through `dance` at its stage place, filmed by
    `camera` (default: the actor's own) into a `size` = (width, height) frame."""
    actor = get_actor(actor)
    w, h = int(size[0]), int(size[1])
    camera = camera or actor.camera
    body = build_body(actor.body)
    kin = forward_kinematics(body, dance.dofs)
    stage = np.array([actor.stage_x, 0.0, actor.stage_z])
    kin = Kinematics(kin.positions + stage, kin.rotations, kin.keypoints + stage)
    T = len(dance)
    R, C = camera.extrinsics(T)
    f = camera.focal(h)
    uv, _ = project(kin.keypoints, R, C, f, w / 2.0, h / 2.0)
    # the face is seen when its forward axis points at the camera
    head = kin.positions[:, J["head"]]
    view = C - head
    view /= np.linalg.norm(view, axis=-1, keepdims=True)
    facing = np.einsum("ti,ti->t", kin.rotations[:, J["head"], :, 2], view)
    kp = np.concatenate([uv, np.ones((T, NUM_JOINTS, 1))], axis=-1)
    kp[facing < FACING_MIN, FACE] = 0.0
    poses = PoseSequence(kp.astype(np.float32), dance.fps, w, h)
    j3 = kin.keypoints
    bones = {(a, b): float(np.linalg.norm(j3[0, a] - j3[0, b])) for a, b in BONES}
    return Performance(actor, dance, body, camera, (w, h), poses, j3.astype(np.float32), bones, kin,
                       R, C, f, facing)


def render_frames(actor: Actor | str, performance: Performance) -> Iterator[np.ndarray]:
    """RGB uint8 frames (H, W, 3) of the performance, one by one."""
    from dancenow.world.draw import Renderer

    return Renderer(get_actor(actor), performance).frames()


def render_clip(actor: Actor | str, seconds: float, size: tuple[int, int] = (256, 256), seed: int = 0,
                fps: float = 30.0, camera: Camera | None = None) -> tuple[Iterator[np.ndarray], PoseSequence]:
    """A clip of `actor` dancing the dance of `seed` for `seconds`: (frames, exact poses)."""
    actor = get_actor(actor)
    perf = perform(actor, generate_dance(seed, seconds, fps), size, camera)
    return render_frames(actor, perf), perf.poses


def render_to_file(output, actor_name: str | None = None, actor_seed: int | None = None, seconds: float = 10.0,
                   size: tuple[int, int] = (256, 256), fps: float = 30.0, seed: int = 0, save_poses=None,
                   progress: bool = True) -> list:
    """`dancenow world`: a named actor (default ana), or one made from `actor_seed`, dancing the
    dance of `seed`, written to `output` (.mp4, or .png for the first frame) and its exact
    poses to `save_poses` (when given). Returns the paths written."""
    from dancenow.errors import DancenowError
    from dancenow.video import write_video

    if actor_name is not None and actor_seed is not None:
        raise DancenowError("give a named actor or an actor seed, not both")
    if not seconds > 0:
        raise DancenowError(f"the clip length must be positive, got {seconds} s")
    actor = actor_from_seed(actor_seed) if actor_seed is not None else get_actor(actor_name or "ana")
    frames, poses = render_clip(actor, seconds, size, seed=seed, fps=fps)
    written = [write_video(output, frames, fps, total=len(poses), desc=f"world {actor.name}", progress=progress)]
    if save_poses is not None:
        from dancenow.posefile import save_poses as save

        written.append(save(poses, save_poses))
    return written
