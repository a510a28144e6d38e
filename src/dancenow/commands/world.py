"""The synthetic dance world's command: `world`."""

from __future__ import annotations

import click

from dancenow import guard
from dancenow.commands import POSITIVE, SQUARE_OR_SIZE, command, wrote


@command("world", outputs={"output": guard.VIDEO, "save_poses": guard.poses_kind})
@click.option("--actor", "actor_name", default=None, help="A named actor: ana, ben, chloe or dev (default ana).")
@click.option("--actor-seed", type=int, default=None, help="A random actor made from this seed instead of a named one.")
@click.option("--seconds", type=POSITIVE, default=10.0, show_default=True, help="Clip length.")
@click.option("--size", type=SQUARE_OR_SIZE, default="256", show_default=True, help="Frame size: N (square) or WIDTHxHEIGHT.")
@click.option("--fps", type=POSITIVE, default=30.0, show_default=True, help="Frame rate.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the choreography (the same for any actor).")
@click.option("-o", "--output", required=True, type=click.Path(), help="Output .mp4 (or .png: the first frame only).")
@click.option("--save-poses", type=click.Path(), default=None, help="Also write the exact ground-truth poses (.npz or OpenPose folder).")
def world_cmd(actor_name, actor_seed, seconds, size, fps, seed, output, save_poses):
    """Render a dancer of the synthetic dance world, with its exact ground-truth poses.

    The same --seed gives the same dance for every actor, so a target actor can be rendered
    doing a source actor's dance.

    Example: dancenow world --actor ana --seconds 60 --size 256 -o target.mp4 --save-poses target.npz
    """
    from dancenow.world import render_to_file

    if actor_name is not None and actor_seed is not None:
        raise click.UsageError("give --actor or --actor-seed, not both")
    written = render_to_file(output, actor_name, actor_seed, seconds, size, fps, seed, save_poses)
    for path in written:
        wrote(path)
