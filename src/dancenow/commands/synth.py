"""Pose-to-image synthesis's commands: `prepare` (training data) and `train`."""

from __future__ import annotations

import click

from dancenow.synth.config import PRESETS  # torch-free
from dancenow import guard
from dancenow.commands import POINT, POSITIVE, SIZE, command


@command("prepare", outputs={"output": guard.DATA_DIR})
@click.argument("video", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="Data directory to write (re-running skips finished steps).")
@click.option("--preset", "preset_name", default="cpu-small", show_default=True, type=click.Choice(PRESETS),
              help="Take the training size from this preset.")
@click.option("--size", type=SIZE, default=None, help="Training size WIDTHxHEIGHT (default: the preset's).")
@click.option("--poses", "poses_path", type=click.Path(), default=None,
              help="Ready poses of the video (.npz or OpenPose folder) instead of detecting them.")
@click.option("--fps", type=POSITIVE, default=None, help="Work at this frame rate (the video is resampled; default: its own).")
@click.option("--holdout", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True, help="Fraction of frames at the end kept for validation.")
@click.option("--margin", type=click.FloatRange(min=0), default=0.15, show_default=True, help="Crop margin around the person, in body heights.")
@click.option("--person", type=POINT, default=None, help="A point on the person to follow in the first frame (several people in view).")
@click.option("--start", type=click.FloatRange(min=0), default=None, help="Use the video from this second (leave out a title card).")
@click.option("--end", type=POSITIVE, default=None, help="Use the video up to this second.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def prepare_cmd(video, output, preset_name, size, poses_path, fps, holdout, margin, person, start, end, quiet):
    """Prepare a target video for training: what the camera did and the background without the
    person (a plate; a slightly drifting camera is steadied), one fixed crop around the person,
    frames and label images at the training size, poses, the target's BodyStats, a held-out tail.

    Example: dancenow prepare target.mp4 -o data/me --preset cpu-small
    """
    from dancenow.synth.config import preset
    from dancenow.synth.prepare import prepare

    span = None
    if start is not None or end is not None:
        from dancenow.errors import DancenowError
        from dancenow.video import probe

        info = probe(video)  # an unreadable video fails here, naming it
        seconds = info.frame_count / info.fps if info.frame_count and info.fps else None
        if start is not None and seconds is not None and start >= seconds:
            raise DancenowError(f"--start {start:g} s is past the end of {video} ({seconds:.1f} s)")
        if end is not None and seconds is not None and end > seconds + 1.0:
            raise DancenowError(f"--end {end:g} s is past the end of {video} ({seconds:.1f} s)")
        if end is not None and end <= (start or 0.0):
            raise DancenowError(f"--end {end:g} s must come after --start {start or 0:g} s")
        span = (start or 0.0, end)
    out = prepare(video, output, size or preset(preset_name).image_size, poses=poses_path, fps=fps,
                  holdout=holdout, margin=margin, person=person, span=span, progress=not quiet)
    click.echo(f"prepared {out}")


@command("train", heavy=True, outputs={"output": guard.RUN_DIR})
@click.argument("data", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="Run directory: the model, checkpoints, samples, logs.")
@click.option("--preset", "preset_name", default="cpu-small", show_default=True, type=click.Choice(PRESETS),
              help="Network sizes and schedule.")
@click.option("--config", "config_path", type=click.Path(), default=None,
              help="A JSON config; its settings override the preset it names (default cpu-small).")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Total training steps over all stages (the preset's split, scaled).")
@click.option("--minutes", type=POSITIVE, default=None,
              help="Wall-time budget: the step count is set from the speed of the first steps (instead of --steps).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Frame pairs per step (per process).")
@click.option("--resume", is_flag=True, help="Continue exactly from the newest checkpoint in the run directory.")
@click.option("--vgg-weights", type=click.Path(), default=None,
              help="VGG19 ImageNet weights (torchvision's vgg19-dcbb9e9d.pth); default: torch's cache, else no VGG loss.")
@click.option("--device", default="auto", show_default=True, help="auto (a GPU when torch sees one), cpu, cuda, cuda:N or mps.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch (default: the idle cores).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def train_cmd(data, output, preset_name, config_path, steps, minutes, batch_size, resume, vgg_weights, device, threads, quiet):
    """Train a model of the target person (global -> [local] -> face stages). Ctrl-C saves a
    checkpoint; --resume continues it. Multi-GPU: torchrun --nproc_per_node N -m dancenow.synth ...

    Example: dancenow train data/me -o runs/me --preset cpu-small
    """
    from dancenow.synth.config import SynthConfig, preset
    from dancenow.synth.train import train_run

    if steps is not None and minutes is not None:
        raise click.UsageError("give --steps or --minutes, not both")
    cfg = SynthConfig.load(config_path) if config_path else preset(preset_name)
    summary = train_run(cfg, data, output, resume=resume, steps=steps, minutes=minutes, batch_size=batch_size,
                        vgg_weights=vgg_weights, device=device, threads=threads, progress=not quiet)
    if summary is not None:  # rank 0
        click.echo(f"model: {summary}")


@command("distill", heavy=True)
@click.option("--model", "model_dir", required=True, type=click.Path(), help="A trained model directory (dancenow train): the teacher, and where the student goes.")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="The prepared data the model was trained on (dancenow prepare).")
@click.option("--steps", type=click.IntRange(min=1), default=1500, show_default=True, help="Training steps of the student.")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True, help="Frames per step.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the student's initialisation and frame order.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def distill_cmd(model_dir, data_dir, steps, batch_size, seed, quiet):
    """Distill a fast student generator from a trained model (about 6x fewer operations a frame),
    for `dancenow transfer --fast` and `dancenow live --fast`: it learns to draw what the
    model's generator draws on its training data. Saved into the model directory, beside the
    generator it copies; retraining the model makes it stale (distill again).

    Example: dancenow distill --model runs/me --data data/me --steps 1500
    """
    from dancenow.synth.distill import DistillConfig, distill

    res = distill(model_dir, data_dir, DistillConfig(steps=steps, batch_size=batch_size, seed=seed), progress=not quiet)
    click.echo(f"wrote {res.path} ({res.steps} steps in {res.seconds / 60:.1f} min; held-out L1 to the full "
               f"generator {res.val_l1:.4f}, {res.val_l1_start:.4f} before)")
