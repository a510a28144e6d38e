"""Named synthetic actors: body proportions, look (skin, hair, clothes, pattern), the room they
are filmed in, and their default placement on stage and camera.

Colours are RGB tuples of 0-255 ints. Placement is in metres on the stage (see camera.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from dancenow.errors import DancenowError
from dancenow.world.camera import Camera, project
from dancenow.world.skeleton import Proportions

RGB = tuple[int, int, int]
PATTERNS = ("plain", "stripes", "dots", "blocks")
HAIR_STYLES = ("short", "long", "bun", "buzz")
BOTTOMS = ("trousers", "shorts", "skirt")
SLEEVES = ("long", "short", "none")


@dataclass(frozen=True)
class Actor:
    """A synthetic person and the room they are filmed in.

    body: proportions (height in metres etc.).
    skin, hair: colours; hair_style: one of HAIR_STYLES.
    top, top_accent: shirt colours; pattern: one of PATTERNS (drawn in `top_accent`, it moves
        with the torso); sleeves: one of SLEEVES.
    bottom: colour of trousers/shorts/skirt; bottom_style: one of BOTTOMS; shoes: colour.
    wall, floor, floor_lines: the room; stage_x, stage_z: where the actor stands (m);
    camera: the default camera for this actor.
    """

    name: str
    body: Proportions
    skin: RGB
    hair: RGB
    hair_style: str
    top: RGB
    top_accent: RGB
    pattern: str
    sleeves: str
    bottom: RGB
    bottom_style: str
    shoes: RGB
    wall: RGB = (196, 190, 178)
    floor: RGB = (150, 118, 86)
    floor_lines: RGB = (120, 92, 66)
    stage_x: float = 0.0
    stage_z: float = 0.0
    camera: Camera = field(default_factory=Camera)

    def __post_init__(self) -> None:
        for what, value, allowed in (("pattern", self.pattern, PATTERNS), ("hair_style", self.hair_style, HAIR_STYLES),
                                     ("bottom_style", self.bottom_style, BOTTOMS), ("sleeves", self.sleeves, SLEEVES)):
            if value not in allowed:
                raise DancenowError(f"actor {self.name}: {what} {value!r} is not one of {', '.join(allowed)}")
        if not 1.0 < self.body.height < 2.4:
            raise DancenowError(f"actor {self.name}: height {self.body.height} m is not a person's")


_NAMED: tuple[Actor, ...] = (
    # the demo's target: tall, slim, long dark hair, red striped top, jeans, filmed in a pale
    # studio by a camera that slowly dollies back and forth (so her scale changes)
    Actor("ana", Proportions(height=1.74, legs=1.04, arms=1.0, shoulders=0.94, hips=1.05, head=0.97, build=0.88, chest=0.96, waist=0.86),
          skin=(224, 180, 150), hair=(50, 32, 24), hair_style="long",
          top=(196, 40, 52), top_accent=(245, 235, 225), pattern="stripes", sleeves="short",
          bottom=(52, 72, 120), bottom_style="trousers", shoes=(240, 240, 240),
          wall=(206, 200, 188), floor=(160, 124, 88), floor_lines=(128, 96, 66),
          stage_x=0.0, stage_z=0.0,
          camera=Camera(distance=3.5, height=1.05, target_height=0.92, fov_deg=42.0, distance_end=4.6, dolly_cycles=1.0)),
    # the demo's source: shorter, broad, short black hair, blue dotted T-shirt, khaki shorts,
    # off-centre and further away, in a blue-grey room
    Actor("ben", Proportions(height=1.62, legs=0.95, arms=1.04, shoulders=1.12, hips=0.95, head=1.06, build=1.2, chest=1.08, waist=1.1),
          skin=(140, 96, 70), hair=(22, 18, 16), hair_style="short",
          top=(40, 96, 176), top_accent=(236, 196, 60), pattern="dots", sleeves="short",
          bottom=(190, 168, 118), bottom_style="shorts", shoes=(40, 40, 44),
          wall=(150, 166, 178), floor=(104, 100, 96), floor_lines=(84, 80, 78),
          stage_x=0.45, stage_z=-0.3,
          camera=Camera(distance=3.9, height=1.2, target_height=0.9, fov_deg=42.0, x=0.15)),
    # a third: medium build, bun, green two-tone long-sleeved top, dark skirt, warm room
    Actor("chloe", Proportions(height=1.68, legs=1.0, arms=0.97, shoulders=0.98, hips=1.12, head=1.0, build=0.95, chest=1.0, waist=0.92),
          skin=(250, 214, 190), hair=(196, 120, 52), hair_style="bun",
          top=(46, 150, 96), top_accent=(24, 84, 56), pattern="blocks", sleeves="long",
          bottom=(40, 36, 48), bottom_style="skirt", shoes=(150, 40, 40),
          wall=(222, 206, 170), floor=(120, 80, 56), floor_lines=(96, 62, 44),
          stage_x=-0.35, stage_z=0.2,
          camera=Camera(distance=3.3, height=0.95, target_height=0.95, fov_deg=44.0, x=-0.1)),
    # a fourth: very tall, long limbs, buzz cut, plain yellow sleeveless top, grey trousers
    Actor("dev", Proportions(height=1.9, legs=1.06, arms=1.06, shoulders=1.05, hips=0.92, head=0.95, build=1.0, chest=1.02, waist=1.0),
          skin=(176, 124, 92), hair=(34, 26, 22), hair_style="buzz",
          top=(232, 196, 50), top_accent=(232, 196, 50), pattern="plain", sleeves="none",
          bottom=(96, 98, 104), bottom_style="trousers", shoes=(200, 60, 40),
          wall=(176, 186, 170), floor=(140, 136, 126), floor_lines=(116, 112, 104),
          stage_x=0.0, stage_z=0.2,
          camera=Camera(distance=4.7, height=1.2, target_height=1.0, fov_deg=42.0, distance_end=3.9)),
)


def fit_camera(camera: Camera, height: float, stage_x: float = 0.0, stage_z: float = 0.0,
               size: tuple[int, int] = (256, 256)) -> Camera:
    """`camera` with its field of view widened (1 degree at a time) until a dancer of `height`
    (m) standing at (stage_x, stage_z) stays in frame: feet on the floor, hands raised in a jump
    (1.3 x height) or stretched out sideways; and, after walking 0.36 x height towards the
    camera (the `walk` move), feet and head."""
    w, h = size
    corners = []
    for x in (stage_x - 0.5 * height, stage_x + 0.5 * height):
        corners += [[x, 0.0, stage_z + 0.15], [x, 1.3 * height, stage_z]]
    z = stage_z + 0.36 * height
    for x in (stage_x - 0.3 * height, stage_x + 0.3 * height):
        corners += [[x, 0.0, z + 0.15], [x, 1.05 * height, z]]
    pts = np.array(corners)
    for _ in range(40):
        ok = True
        for d in {camera.distance, camera.distance_end or camera.distance}:
            cam = dataclasses.replace(camera, distance=d, distance_end=None)
            R, C = cam.extrinsics(1)
            uv, z = project(pts[None], R, C, cam.focal(h), w / 2.0, h / 2.0)
            m = 0.03 * h
            ok &= bool((z > 0).all() and (uv[..., 0] > m).all() and (uv[..., 0] < w - m).all()
                       and (uv[..., 1] > m).all() and (uv[..., 1] < h - m).all())
        if ok:
            return camera
        camera = dataclasses.replace(camera, fov_deg=camera.fov_deg + 1.0)
    return camera


# the named actors, their cameras widened where needed so that every move stays in frame
ACTORS: dict[str, Actor] = {
    a.name: dataclasses.replace(a, camera=fit_camera(a.camera, a.body.height, a.stage_x, a.stage_z)) for a in _NAMED
}


def get_actor(actor: "Actor | str") -> Actor:
    """An Actor, or a named actor from ACTORS."""
    if isinstance(actor, Actor):
        return actor
    if actor not in ACTORS:
        raise DancenowError(f"unknown actor {actor!r}; known: {', '.join(ACTORS)} (or use a seed)")
    return ACTORS[actor]


_WALLS = np.array([[206, 200, 188], [150, 166, 178], [222, 206, 170], [176, 186, 170], [228, 228, 224], [196, 170, 160]])
_FLOORS = np.array([[160, 124, 88], [104, 100, 96], [120, 80, 56], [140, 136, 126], [80, 64, 52], [176, 150, 110]])


def _colour(rng: np.random.Generator, lo: int = 20, hi: int = 235) -> RGB:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def actor_from_seed(seed: int) -> Actor:
    """A random but reproducible actor: proportions, look, room, placement and camera."""
    rng = np.random.default_rng([seed, 4])  # salted so actor seeds don't echo dance seeds
    # skin tones along a light-to-dark line (keeps them human)
    k = rng.uniform(0, 1)
    skin = tuple(int(v) for v in (1 - k) * np.array([250, 216, 192]) + k * np.array([110, 72, 52]))
    hair = tuple(int(v) for v in rng.choice([[30, 22, 18], [70, 44, 26], [150, 96, 48], [210, 180, 120], [120, 120, 120]]))
    top = _colour(rng)
    accent = _colour(rng)
    body = Proportions(
        height=float(rng.uniform(1.55, 1.92)), legs=float(rng.uniform(0.94, 1.06)), arms=float(rng.uniform(0.94, 1.06)),
        shoulders=float(rng.uniform(0.9, 1.12)), hips=float(rng.uniform(0.9, 1.12)), head=float(rng.uniform(0.94, 1.06)),
        build=float(rng.uniform(0.85, 1.2)), chest=float(rng.uniform(0.92, 1.08)), waist=float(rng.uniform(0.85, 1.1)))
    # rooms people film in: pale walls, wooden, grey or dark floors
    wall = tuple(int(v) for v in np.clip(rng.choice(_WALLS) + rng.integers(-12, 13, 3), 0, 255))
    floor = tuple(int(v) for v in np.clip(rng.choice(_FLOORS) + rng.integers(-10, 11, 3), 0, 255))
    cam = Camera(distance=float(rng.uniform(3.3, 4.0)), height=float(rng.uniform(0.9, 1.25)),
                 target_height=float(rng.uniform(0.88, 1.0)), fov_deg=float(rng.uniform(38, 44)),
                 x=float(rng.uniform(-0.2, 0.2)),
                 distance_end=float(rng.uniform(3.3, 4.5)) if rng.random() < 0.5 else None)
    stage_x, stage_z = float(rng.uniform(-0.4, 0.4)), float(rng.uniform(-0.3, 0.3))
    return Actor(
        name=f"seed{seed}", body=body, skin=skin, hair=hair, hair_style=str(rng.choice(HAIR_STYLES)),
        top=top, top_accent=accent, pattern=str(rng.choice(PATTERNS)), sleeves=str(rng.choice(SLEEVES)),
        bottom=_colour(rng, 20, 200), bottom_style=str(rng.choice(BOTTOMS)), shoes=_colour(rng, 20, 240),
        wall=wall, floor=floor, floor_lines=tuple(int(0.8 * v) for v in floor),
        stage_x=stage_x, stage_z=stage_z, camera=fit_camera(cam, body.height, stage_x, stage_z))
