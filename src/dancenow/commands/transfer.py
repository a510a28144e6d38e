"""Transfer's commands: `transfer` (a source dance performed by the target) and `demo`."""

from __future__ import annotations

from pathlib import Path

import click

from dancenow import guard
from dancenow.commands import command, openpose_options, wrote

# One meaning for transfer and live: TransferConfig.snap / LiveTransferConfig.snap
snap_option = click.option(
    "--snap", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
    help="Pull each mapped joint this fraction of the way toward the target's nearest own pose where it is already close (0: the mapped pose as it is).")


@command(heavy=True, outputs={"output": guard.MP4})
@click.argument("source", type=click.Path())
@click.option("--model", "model_dir", required=True, type=click.Path(), help="A trained model directory (dancenow train).")
@click.option("-o", "--output", required=True, type=click.Path(), help="Output .mp4.")
@click.option("--poses", "poses_path", type=click.Path(), default=None, help="Use these source poses (.npz or OpenPose folder) instead of detecting them.")
@click.option("--side-by-side", is_flag=True, help="Write source | normalized pose | result, with captions.")
@click.option("--crop", is_flag=True, help="Write the model's crop around the person, not the target's whole frame.")
@click.option("--no-smooth", is_flag=True, help="Do not smooth the source poses in time.")
@click.option("--align-x", is_flag=True, help="Move the source's median hip x onto the target's.")
@click.option("--keep-proportions", is_flag=True, help="Keep the source's bone lengths (the paper's normalization alone; by default the spine, limbs, shoulders and hips take the target's).")
@snap_option
@click.option("--fast", is_flag=True, help="Generate with the model's distilled student (dancenow distill): real time on a laptop CPU.")
@click.option("--device", default="auto", show_default=True, help="auto (a GPU when torch sees one), cpu, cuda, cuda:N or mps.")
@openpose_options
def transfer(source, model_dir, output, poses_path, side_by_side, crop, no_smooth, align_x, keep_proportions, snap, fast, device,
             openpose_fps, openpose_size, openpose_video):
    """Make the model's target person perform the dance of SOURCE (a video, or poses only: a
    .npz or an OpenPose folder, e.g. a generated choreography). The result is the target video's
    whole frame, the person placed into the background plate (a model trained on a moving
    camera's footage, or --crop, gives the crop around the person). Streams: memory does not
    grow with the video's length.

    Example: dancenow transfer source.mp4 --model runs/me -o me_dancing.mp4 --side-by-side
    """
    from dancenow.synth.model import SynthModel
    from dancenow.transfer import TransferConfig, transfer_to_file

    model = SynthModel.load(model_dir, device=device, fast=fast)  # fails before anything is written
    if openpose_video and not (openpose_fps and openpose_size):
        from dancenow.video import probe

        info = probe(openpose_video)
        openpose_fps, openpose_size = openpose_fps or info.fps, openpose_size or info.size
    config = TransferConfig(smooth=not no_smooth, align_x=align_x, keep_proportions=keep_proportions, snap=snap, crop=crop)
    res = transfer_to_file(model, source, output, poses_path, config, side_by_side=side_by_side,
                           openpose_fps=openpose_fps, openpose_size=openpose_size)
    what = "whole frames" if res.full_frame else "the crop"
    wrote(res.output, f" ({res.frames} frames of {what}, {res.size[0]}x{res.size[1]}, at {res.fps:g} fps; "
                      f"{res.frames / max(res.seconds, 1e-9):.1f} frames/s)")


@command("live", heavy=True, outputs={"record": guard.MP4})
@click.option("--model", "model_dir", required=True, type=click.Path(), help="A trained model directory (dancenow train).")
@click.option("--source", type=click.Path(), default=None, help="A video standing in for the camera.")
@click.option("--camera", type=click.IntRange(min=0), default=None, help="Camera index (default 0 when there is no --source).")
@click.option("--record", type=click.Path(dir_okay=False), default=None, help="Save what is shown to this .mp4 (works without a display).")
@click.option("--no-window", is_flag=True, help="Do not open a window (implied without a display).")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Stop after N frames.")
@click.option("--body-only", is_flag=True, help="Detect the body alone (faster), even when the model draws face and hands.")
@click.option("--keep-proportions", is_flag=True, help="Keep the source's bone lengths (the paper's normalization alone; by default the spine, limbs, shoulders and hips take the target's).")
@snap_option
@click.option("--fast", is_flag=True, help="Generate with the model's distilled student (dancenow distill).")
@click.option("--device", default="auto", show_default=True, help="auto (a GPU when torch sees one), cpu, cuda, cuda:N or mps.")
def live(model_dir, source, camera, record, no_window, max_frames, body_only, keep_proportions, snap, fast, device):
    """A live mirror: the model's target person moves as you move in front of the camera (or in
    a --source video), shown as you | target. Your body is measured over the first seconds,
    then held. Without a display it says so and --record still saves what would be shown.

    Example: dancenow live --model runs/me --fast --body-only --record mirror.mp4
    """
    from dancenow.live import LiveTransferConfig, run_live_transfer
    from dancenow.synth.model import SynthModel

    model = SynthModel.load(model_dir, device=device, fast=fast)
    if source is None and camera is None:
        camera = 0
    stats = run_live_transfer(model, source, camera, record, False if no_window else None,
                              LiveTransferConfig(body_only=body_only, max_frames=max_frames,
                                                 keep_proportions=keep_proportions, snap=snap))
    click.echo(f"{stats.frames} frames in {stats.seconds:.1f} s ({stats.rate:.1f} frames/s; detection of "
               f"{'body, face and hands' if stats.face_hands else 'the body'}; no person found in {stats.missing})")
    if record is not None:
        wrote(record)


@command(heavy=True, outputs={"output": guard.DEMO_DIR})
@click.option("-o", "--output", default="demo", show_default=True, type=click.Path(), help="Folder the demo writes its outputs to.")
@click.option("--quick", is_flag=True, help="A version of about 2 minutes (short clips, tiny model).")
@click.option("--reuse", is_flag=True, help="Reuse the model of a previous demo run in the folder instead of training.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Total training steps (default: the demo's schedule).")
def demo(output, quick, reuse, steps):
    """Run the whole pipeline with no files: render a target actor and a differently built source
    dancer, detect the source's pose, train a model of the target, transfer the dance, and
    score it against the ground truth.

    Example: dancenow demo --quick
    """
    from dancenow.demo import DemoConfig, run_demo

    res = run_demo(DemoConfig(out_dir=Path(output), quick=quick, reuse=reuse, train_steps=steps))
    m = res.metrics
    o, r = m["ours"], m["retrieval"]
    click.echo(f"demo done in {res.seconds / 60:.1f} min: against the truth video, SSIM {o['ssim']:.3f} whole frame, "
               f"{o['person_ssim']:.3f} person (retrieval: {r['ssim']:.3f}, {r['person_ssim']:.3f}); "
               f"transfer {m['transfer_fps']:.1f} frames/s")
    for name in ("side_by_side", "result", "truth", "sample", "summary", "metrics"):
        click.echo(f"  {name:13s} {res.outputs[name]}")
