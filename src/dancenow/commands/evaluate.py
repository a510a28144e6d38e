"""Evaluation's command: `evaluate`."""

from __future__ import annotations

import click

from dancenow import guard
from dancenow.commands import command, wrote


@command("evaluate", heavy=True, outputs={"output": guard.report_with_extras})
@click.option("--generated", type=click.Path(), default=None, help="Generated video (pair mode).")
@click.option("--reference", type=click.Path(), default=None, help="Reference video of the same frames (pair mode).")
@click.option("--poses", "poses_path", type=click.Path(), default=None,
              help="Poses of the reference video (.npz or OpenPose folder); default: detected on it.")
@click.option("--model", "model_dir", type=click.Path(), default=None, help="Trained model directory (model mode).")
@click.option("--data", "data_dir", type=click.Path(), default=None, help="Prepared data directory (model mode).")
@click.option("--split", default="val", show_default=True, help="Held-out split of --data to generate (model mode).")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Report .json; NAME.md and NAME_frames.png (worst/best frames) are written beside it.")
@click.option("--lpips-net", type=click.Choice(["alex", "vgg"]), default="alex", show_default=True, help="LPIPS backbone.")
@click.option("--lpips-backbone", type=click.Path(), default=None,
              help="torchvision ImageNet weights of the backbone (default: torchvision's cache).")
@click.option("--lpips-weights", type=click.Path(), default=None,
              help="lpips v0.1 linear layers (default: from an installed lpips package).")
@click.option("--no-lpips", is_flag=True, help="Skip LPIPS.")
@click.option("--no-pose", is_flag=True, help="Skip the pose distance (the detector is not run).")
@click.option("--face-fraction", type=click.FloatRange(0, 1, min_open=True), default=0.25, show_default=True, help="Face crop side / frame height.")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Evaluate only the first N frames.")
@click.option("--examples", type=click.IntRange(min=0), default=3, show_default=True, help="Worst and best frames shown in the grid.")
@click.option("--device", default="auto", show_default=True, help="auto (a GPU when torch sees one), cpu, cuda, cuda:N or mps.")
def evaluate_cmd(generated, reference, poses_path, model_dir, data_dir, split, output, lpips_net, lpips_backbone,
                 lpips_weights, no_lpips, no_pose, face_fraction, max_frames, examples, device):
    """Measure generated frames against real ones: SSIM, PSNR and LPIPS over the whole frame and
    the face crop, pose distance and missed detections per body part, frames/s ("Everybody Dance
    Now" metrics). Either a pair of videos, or a trained model on its held-out frames.

    Example: dancenow evaluate --generated fake.mp4 --reference real.mp4 -o report.json

    Example: dancenow evaluate --model runs/me --data data/me --split val -o report.json
    """
    from dancenow.evaluate import EvalConfig, evaluate_to_file

    pair_mode = generated is not None or reference is not None
    model_mode = model_dir is not None or data_dir is not None
    if pair_mode == model_mode:
        raise click.UsageError("give either --generated and --reference, or --model and --data")
    if pair_mode and not (generated and reference):
        raise click.UsageError("pair mode needs both --generated and --reference")
    if model_mode and not (model_dir and data_dir):
        raise click.UsageError("model mode needs both --model and --data")
    if model_mode and poses_path:
        raise click.UsageError("--poses is for pair mode (model mode takes the poses from --data)")
    config = EvalConfig(lpips=not no_lpips, lpips_net=lpips_net, lpips_backbone=lpips_backbone,
                        lpips_weights=lpips_weights, pose=not no_pose, face_fraction=face_fraction,
                        examples=examples, max_frames=max_frames, device=device)
    report, written = evaluate_to_file(output, config, generated=generated, reference=reference, poses=poses_path,
                                       model_dir=model_dir, data_dir=data_dir, split=split)
    click.echo(report.table())
    wrote(", ".join(str(p) for p in written.values()))
