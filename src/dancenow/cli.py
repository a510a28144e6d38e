"""The `dancenow` command: each subcommand parses its arguments, calls one library function,
and writes the result. Library errors (DancenowError) become a one-line message and exit 1."""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path

import click

from dancenow.errors import DancenowError

log = logging.getLogger("dancenow")


def _errors_to_exit(fn):
    """Turn library errors into `Error: <one line>` and a non-zero exit, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DancenowError as e:
            raise click.ClickException(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


def command(group: click.Group, name: str | None = None, **kwargs):
    """`@command(main)` registers a subcommand with error handling."""

    def deco(fn):
        return group.command(name, **kwargs)(_errors_to_exit(fn))

    return deco


def _size(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        w, h = (int(v) for v in value.lower().split("x"))
        assert w > 0 and h > 0
        return w, h
    except Exception:
        raise click.BadParameter(f"expected WIDTHxHEIGHT, e.g. 1280x720, got {value!r}") from None


def load_pose_arg(path: str, fps: float | None = None, size: str | None = None, video: str | None = None):
    """Load a pose path from the command line (.npz or OpenPose folder); for OpenPose, fps and
    size come from the options or from a matching video."""
    from dancenow.posefile import load_poses

    wh = _size(size)
    if video and (fps is None or wh is None):
        from dancenow.video import probe

        info = probe(video)
        fps = fps or info.fps
        wh = wh or info.size
    return load_poses(path, fps=fps, size=wh)


pose_input_options = [
    click.option("--fps", type=float, default=None, help="Frame rate of an OpenPose JSON folder (it stores none)."),
    click.option("--size", "frame_size", default=None, help="Frame size WIDTHxHEIGHT of an OpenPose JSON folder."),
    click.option("--video", "match_video", type=click.Path(), default=None, help="Take fps and size of an OpenPose folder from this video."),
]


def with_pose_input(fn):
    for opt in reversed(pose_input_options):
        fn = opt(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.version_option(package_name="dancenow")
def main(verbose: bool) -> None:
    """dancenow: make anyone dance like a professional ("Do as I do"), choreograph new dance,
    and coach a learner against a reference.

    Example: dancenow demo
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s: %(message)s")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)


# ----------------------------------------------------------------------------- render

@command(main)
@click.argument("poses", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="Output .mp4 (or .png for the first frame).")
@click.option("--overlay", "overlay_video", type=click.Path(), default=None, help="Draw over the frames of this video.")
@click.option("--out-size", default=None, help="Output size WIDTHxHEIGHT (default: the poses' frame size).")
@with_pose_input
def render(poses, output, overlay_video, out_size, fps, frame_size, match_video):
    """Draw poses as a stick-figure video (OpenPose colours on black), or over a video.

    Example: dancenow render poses.npz -o skeleton.mp4 --overlay dance.mp4
    """
    from tqdm import tqdm

    from dancenow import render as R
    from dancenow.video import VideoWriter, read_frames

    seq = load_pose_arg(poses, fps, frame_size, match_video or overlay_video)
    size = _size(out_size)
    if overlay_video:
        frames = (R.overlay(f, kp, seq.size) for f, kp in zip(read_frames(overlay_video), seq.keypoints))
    else:
        frames = R.render_sequence(seq, size)
    if Path(output).suffix.lower() == ".png":
        from dancenow.images import write_image

        write_image(output, next(iter(frames)))
    else:
        with VideoWriter(output, seq.fps) as w:
            for f in tqdm(frames, total=len(seq), unit="frame", desc="render"):
                w.write(f)
    click.echo(f"wrote {output}")


# ----------------------------------------------------------------------------- pose (issue 2)
# ----------------------------------------------------------------------------- normalize (issue 3)
# ----------------------------------------------------------------------------- synthetic (issue 4)
# ----------------------------------------------------------------------------- synth: prepare, train (issue 5)
# ----------------------------------------------------------------------------- transfer, demo (issue 6)
# ----------------------------------------------------------------------------- evaluate (issue 7)
# ----------------------------------------------------------------------------- choreo (issue 8)
# ----------------------------------------------------------------------------- coach (issue 9)


if __name__ == "__main__":
    main()
