"""Global pose normalization's commands: `normalize` and `normalize-stats`."""

from __future__ import annotations

import click

from dancenow import guard
from dancenow.commands import SIZE, command, openpose_options, wrote


@command("normalize", outputs={"output": guard.poses_kind, "plot_path": guard.IMAGE})
@click.argument("source", type=click.Path())
@click.option("--target", required=True, help="Target poses (.npz or OpenPose folder), or its body stats (.json from normalize-stats).")
@click.option("-o", "--output", required=True, type=click.Path(), help="Normalized poses (.npz or OpenPose folder), in the target's frame.")
@click.option("--plot", "plot_path", type=click.Path(), default=None, help="Also write a PNG of ankle y and height over time, with the fitted ends.")
@click.option("--align-x", is_flag=True, help="Shift horizontally so the source's median hip x lands on the target's (default: no shift, as in the paper).")
@click.option("--keep-proportions", is_flag=True, help="Keep the source's bone lengths (the paper's normalization alone; by default the spine, limbs, shoulders and hips take the target's).")
@click.option("--source-frac", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True, help="frac bounding the frames that define the source's far end.")
@click.option("--target-frac", type=click.FloatRange(0, 1, min_open=True), default=None, help="The same for target poses (default 0.5).")
@click.option("--median-window", type=click.IntRange(min=1), default=7, show_default=True, help="Frames of the temporal median (odd; 1 = off).")
@click.option("--target-size", type=SIZE, default=None, help="Frame size WIDTHxHEIGHT of a target OpenPose folder.")
@click.option("--target-video", type=click.Path(), default=None, help="Take the frame size of a target OpenPose folder from this video.")
@openpose_options
def normalize_cmd(source, target, output, plot_path, align_x, keep_proportions, source_frac, target_frac, median_window,
                  target_size, target_video, openpose_fps, openpose_size, openpose_video):
    """Map a source dancer onto the target person's body and place in frame ("Everybody Dance
    Now" global pose normalization): per frame, a scale and vertical shift from the ankle
    position, fitted from the body heights at the nearest and farthest positions of each video;
    then the spine, limbs, shoulders and hips take the target's lengths, the feet kept on the floor
    (--keep-proportions: not).

    Example: dancenow normalize source.npz --target target.npz -o normalized.npz --plot norm.png
    """
    from dancenow.normalize import describe_stats, fit_stats, load_target, normalize
    from dancenow.posefile import load_poses, save_poses

    src = load_poses(source, openpose_fps, openpose_size, openpose_video)
    src_stats = fit_stats(src, source_frac)
    # the target's frame rate plays no part in the mapping: take the source's
    tgt_stats, tgt = load_target(target, target_frac, src.fps, target_size, target_video)
    out = normalize(src, src_stats, tgt_stats, align_x=align_x, median_window=median_window,
                    keep_proportions=keep_proportions)
    save_poses(out, output)
    click.echo(describe_stats("source", src_stats))
    click.echo(describe_stats("target", tgt_stats))
    if plot_path:
        from dancenow.normalize_plot import plot_normalization

        wrote(plot_normalization(src, tgt, out, src_stats, tgt_stats, plot_path))
    wrote(output, f" ({len(out)} frames, {out.width}x{out.height})")


@command("normalize-stats", outputs={"output": guard.JSON})
@click.argument("poses", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="Body stats .json (use it as normalize --target).")
@click.option("--frac", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True, help="frac bounding the frames that define the far end.")
@openpose_options
def normalize_stats_cmd(poses, output, frac, openpose_fps, openpose_size, openpose_video):
    """Fit and save a video's body stats (where and how big the person appears): the target
    side of `normalize`, kept so the target's poses are not needed again.

    Example: dancenow normalize-stats target.npz -o target_stats.json
    """
    from dancenow.normalize import describe_stats, fit_stats
    from dancenow.posefile import load_poses

    stats = fit_stats(load_poses(poses, openpose_fps, openpose_size, openpose_video), frac)
    stats.save(output)
    click.echo(describe_stats("stats", stats))
    wrote(output)
