"""The `dancenow` command: the main group. Each stage's subcommands live in
`dancenow.commands.<stage>` (they parse, call one library function and print)."""

from __future__ import annotations

import logging

import click

from dancenow.commands import choreo, coach, evaluate, normalize, pose, synth, transfer, world
from dancenow.commands import web


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging, third-party logs included.")
@click.version_option(package_name="dancenow")
def main(verbose: bool) -> None:
    """dancenow: make anyone dance like a professional ("Do as I do"), choreograph new dance,
    and coach a learner against a reference.

    Example: dancenow demo
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s: %(message)s")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)


for _cmd in (pose.pose_cmd, pose.render, normalize.normalize_cmd, normalize.normalize_stats_cmd, world.world_cmd,
             synth.prepare_cmd, synth.train_cmd, synth.distill_cmd, transfer.transfer, transfer.live, transfer.demo, evaluate.evaluate_cmd,
             choreo.choreo, coach.coach):
    main.add_command(_cmd)
main.add_command(web.serve_cmd)


if __name__ == "__main__":
    main()
