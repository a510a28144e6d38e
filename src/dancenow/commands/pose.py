"""The pose stage's commands: `pose` (detect) and `render` (stick figures)."""

from __future__ import annotations

import click

from dancenow import guard
from dancenow.commands import POINT, POSITIVE, SIZE, command, openpose_options, wrote


@command(outputs={"output": guard.VIDEO})
@click.argument("poses", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="Output .mp4 (or .png for the first frame).")
@click.option("--overlay", "overlay_video", type=click.Path(), default=None, help="Draw over the frames of this video.")
@click.option("--size", type=SIZE, default=None, help="Output size WIDTHxHEIGHT (default: the poses' frame size).")
@openpose_options
def render(poses, output, overlay_video, size, openpose_fps, openpose_size, openpose_video):
    """Draw poses as a stick-figure video (OpenPose colours on black), or over a video.

    Example: dancenow render poses.npz -o skeleton.mp4 --overlay dance.mp4
    """
    from dancenow.posefile import load_poses
    from dancenow.render import draw_to_file

    seq = load_poses(poses, openpose_fps, openpose_size, openpose_video or overlay_video)
    wrote(draw_to_file(seq, output, overlay_video, size))


@command("pose", outputs={"output": guard.poses_kind})
@click.argument("video", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Output poses: a .npz file, or an OpenPose JSON folder (any path not ending in .npz).")
@click.option("--person", type=POINT, default=None,
              help="A point on the person to follow, in pixels of the first frame (default: the most prominent person).")
@click.option("--no-face", is_flag=True, help="Skip the face (70 points).")
@click.option("--no-hands", is_flag=True, help="Skip the hands (21 points each); with --no-face the faster body-only model runs.")
@click.option("--no-smooth", is_flag=True, help="Raw detections: no gap filling or temporal smoothing.")
@click.option("--max-gap", type=click.IntRange(min=0), default=None, help="Fill gaps of up to this many frames (default 5).")
@click.option("--fps", type=POSITIVE, default=None, help="Work at this frame rate (the video is resampled; default: its own).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def pose_cmd(video, output, person, no_face, no_hands, no_smooth, max_gap, fps, quiet):
    """Detect one person's pose (body, face, hands) in every frame of a video or still image,
    with MediaPipe Holistic, following the same person through a crowd.

    Example: dancenow pose dance.mp4 -o poses.npz --person 640,360
    """
    from dancenow.pose import PoseConfig, SmoothConfig, detect_to_file

    smooth = None if no_smooth else (SmoothConfig() if max_gap is None else SmoothConfig(max_gap=max_gap))
    config = PoseConfig(face=not no_face, hands=not no_hands, person=person, smooth=smooth)
    seq = detect_to_file(video, output, config, fps=fps, progress=not quiet)
    missing = int((~seq.present[:, :25].any(1)).sum())
    wrote(output, f": {len(seq)} frames at {seq.fps:g} fps, {seq.width}x{seq.height}; "
                   f"{missing} frame(s) without the person")
