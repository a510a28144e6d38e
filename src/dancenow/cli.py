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


# Subcommands that run torch networks for long enough for the thread count to matter.
_TORCH_HEAVY = {"demo", "train", "transfer", "evaluate", "choreo"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.version_option(package_name="dancenow")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """dancenow: make anyone dance like a professional ("Do as I do"), choreograph new dance,
    and coach a learner against a reference.

    Example: dancenow demo
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s: %(message)s")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    if ctx.invoked_subcommand in _TORCH_HEAVY and "--help" not in sys.argv and "-h" not in sys.argv:
        from dancenow.cpu import configure_threads

        msg = configure_threads()
        if msg:
            logging.getLogger("dancenow").info(msg)


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

def _point(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        x, y = (float(v) for v in value.split(","))
        return x, y
    except ValueError:
        raise click.BadParameter(f"expected X,Y in pixels, e.g. 640,360, got {value!r}") from None


def _check_pose_output(output: str) -> None:
    """Fail before the (long) detection, not after it, when `output` cannot be written or
    would replace a folder that is not OpenPose JSON."""
    import os

    out = Path(output)
    if out.suffix.lower() != ".npz" and out.is_dir() and any(
            f.suffix.lower() != ".json" for f in out.iterdir()):
        raise DancenowError(f"refusing to replace {out}: it is a folder holding other files than OpenPose JSON")
    if out.suffix.lower() == ".npz" and out.is_dir():
        raise DancenowError(f"cannot write {out}: it is a folder")
    parent = out.parent
    while not parent.exists():  # the folders atomic writing would create
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise DancenowError(f"cannot write {out}: {parent} is not a writable folder")


@command(main, "pose")
@click.argument("video", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Output poses: a .npz file, or an OpenPose JSON folder (any path not ending in .npz).")
@click.option("--person", default=None, metavar="X,Y",
              help="A point on the person to follow, in pixels of the first frame (default: the most prominent person).")
@click.option("--no-face", is_flag=True, help="Skip the face (70 points).")
@click.option("--no-hands", is_flag=True, help="Skip the hands (21 points each); with --no-face the faster body-only model runs.")
@click.option("--no-smooth", is_flag=True, help="Raw detections: no gap filling or temporal smoothing.")
@click.option("--max-gap", type=int, default=None, help="Fill gaps of up to this many frames (default 5).")
@click.option("--fps", type=float, default=None, help="Resample the video to this frame rate first.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def pose_cmd(video, output, person, no_face, no_hands, no_smooth, max_gap, fps, quiet):
    """Detect one person's pose (body, face, hands) in every frame of a video or still image,
    with MediaPipe Holistic, following the same person through a crowd.

    Example: dancenow pose dance.mp4 -o poses.npz --person 640,360
    """
    from dancenow.pose import PoseConfig, SmoothConfig, detect_video
    from dancenow.posefile import save_poses

    point = _point(person)
    if fps is not None and not fps > 0:
        raise click.BadParameter(f"--fps must be > 0, got {fps}")
    _check_pose_output(output)
    smooth = None if no_smooth else (SmoothConfig() if max_gap is None else SmoothConfig(max_gap=max_gap))
    config = PoseConfig(face=not no_face, hands=not no_hands, person=point, smooth=smooth)
    seq = detect_video(video, config, fps=fps, progress=not quiet)
    save_poses(seq, output)
    missing = int((~seq.present[:, :25].any(1)).sum())
    click.echo(f"wrote {output}: {len(seq)} frames at {seq.fps:g} fps, {seq.width}x{seq.height}; "
               f"{missing} frame(s) without the person")


# ----------------------------------------------------------------------------- normalize (issue 3)

def _load_target(target: str, frac: float | None, fps: float, size: str | None, video: str | None):
    """--target of `normalize`: body stats (.json) or poses; returns (stats, poses or None)."""
    from dancenow.normalize import BodyStats, fit_stats

    if Path(target).suffix.lower() == ".json":
        stats = BodyStats.load(target)
        if frac is not None and frac != stats.frac:
            raise DancenowError(f"{target} was fitted with frac {stats.frac:g}; --target-frac applies to target poses only")
        return stats, None
    # The target's frame rate plays no part in the mapping: take the source's so that an
    # OpenPose folder does not warn about a rate it does not need.
    poses = load_pose_arg(target, fps, size, video)
    return fit_stats(poses, 0.5 if frac is None else frac), poses


def _stats_line(name: str, st) -> str:
    def f(v):
        return "none" if v is None else f"{v:.1f}"

    return (f"{name}: {st.usable}/{st.frames} usable frames, ankle y close {f(st.close)} far {f(st.far)} "
            f"med {f(st.med)} px, end heights close {f(st.h_close)} far {f(st.h_far)} px, tallest {f(st.max_height)} px"
            + (" (close height reset to tallest)" if st.close_reset else ""))


@command(main, "normalize")
@click.argument("source", type=click.Path())
@click.option("--target", required=True, help="Target poses (.npz or OpenPose folder), or its body stats (.json from normalize-stats).")
@click.option("-o", "--output", required=True, type=click.Path(), help="Normalized poses (.npz or OpenPose folder), in the target's frame.")
@click.option("--plot", "plot_path", type=click.Path(), default=None, help="Also write a PNG of ankle y and height over time, with the fitted ends.")
@click.option("--align-x", is_flag=True, help="Shift horizontally so the source's median hip x lands on the target's (default: no shift, as in the paper).")
@click.option("--source-frac", type=float, default=0.5, show_default=True, help="frac bounding the frames that define the source's far end.")
@click.option("--target-frac", type=float, default=None, help="The same for target poses (default 0.5).")
@click.option("--median-window", type=int, default=7, show_default=True, help="Frames of the temporal median (odd; 1 = off).")
@click.option("--target-size", default=None, help="Frame size WIDTHxHEIGHT of a target OpenPose folder.")
@click.option("--target-video", type=click.Path(), default=None, help="Take the frame size of a target OpenPose folder from this video.")
@with_pose_input
def normalize_cmd(source, target, output, plot_path, align_x, source_frac, target_frac, median_window,
                  target_size, target_video, fps, frame_size, match_video):
    """Map a source dancer onto the target person's body and place in frame ("Everybody Dance
    Now" global pose normalization): per frame, a scale and vertical shift from the ankle
    position, fitted from the body heights at the nearest and farthest positions of each video.

    Example: dancenow normalize source.npz --target target.npz -o normalized.npz --plot norm.png
    """
    from dancenow.normalize import fit_stats, normalize, plot_normalization
    from dancenow.posefile import save_poses

    src = load_pose_arg(source, fps, frame_size, match_video)
    src_stats = fit_stats(src, source_frac)
    tgt_stats, tgt = _load_target(target, target_frac, src.fps, target_size, target_video)
    out = normalize(src, src_stats, tgt_stats, align_x=align_x, median_window=median_window)
    save_poses(out, output)
    click.echo(_stats_line("source", src_stats))
    click.echo(_stats_line("target", tgt_stats))
    if plot_path:
        plot_normalization(src, tgt, out, src_stats, tgt_stats, plot_path)
        click.echo(f"wrote {plot_path}")
    click.echo(f"wrote {output} ({len(out)} frames, {out.width}x{out.height})")


@command(main, "normalize-stats")
@click.argument("poses", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="Body stats .json (use it as normalize --target).")
@click.option("--frac", type=float, default=0.5, show_default=True, help="frac bounding the frames that define the far end.")
@with_pose_input
def normalize_stats_cmd(poses, output, frac, fps, frame_size, match_video):
    """Fit and save a video's body stats (where and how big the person appears): the target
    side of `normalize`, kept so the target's poses are not needed again.

    Example: dancenow normalize-stats target.npz -o target_stats.json
    """
    from dancenow.normalize import fit_stats

    stats = fit_stats(load_pose_arg(poses, fps, frame_size, match_video), frac)
    stats.save(output)
    click.echo(_stats_line("stats", stats))
    click.echo(f"wrote {output}")

# ----------------------------------------------------------------------------- synthetic (issue 4)

def _square_or_size(value: str) -> tuple[int, int]:
    """'256' -> (256, 256); '320x240' -> (320, 240)."""
    if "x" in value.lower():
        return _size(value)
    try:
        n = int(value)
        assert n > 0
        return n, n
    except Exception:
        raise click.BadParameter(f"expected N or WIDTHxHEIGHT, e.g. 256 or 320x240, got {value!r}") from None


@command(main)
@click.option("--actor", "actor_name", default=None, help="A named actor: ana, ben, chloe or dev (default ana).")
@click.option("--seed", "actor_seed", type=int, default=None, help="A random actor made from this seed instead of a named one.")
@click.option("--seconds", type=float, default=10.0, show_default=True, help="Clip length.")
@click.option("--size", "size_", default="256", show_default=True, help="Frame size: N (square) or WIDTHxHEIGHT.")
@click.option("--fps", type=float, default=30.0, show_default=True, help="Frame rate.")
@click.option("--dance-seed", type=int, default=0, show_default=True, help="Seed of the choreography (the same for any actor).")
@click.option("-o", "--output", required=True, type=click.Path(), help="Output .mp4 (or .png: the first frame only).")
@click.option("--poses", "poses_out", type=click.Path(), default=None, help="Also write the exact ground-truth poses (.npz or OpenPose folder).")
def synthetic(actor_name, actor_seed, seconds, size_, fps, dance_seed, output, poses_out):
    """Render a synthetic dancer (exact ground-truth poses) to a video.

    The same --dance-seed gives the same dance for every actor, so a target actor can be
    rendered doing a source actor's dance.

    Example: dancenow synthetic --actor ana --seconds 60 --size 256 -o target.mp4 --poses target.npz
    """
    from tqdm import tqdm

    from dancenow.posefile import save_poses
    from dancenow.synthetic import actor_from_seed, get_actor, render_clip
    from dancenow.video import VideoWriter

    if actor_name is not None and actor_seed is not None:
        raise click.UsageError("give --actor or --seed, not both")
    actor = actor_from_seed(actor_seed) if actor_seed is not None else get_actor(actor_name or "ana")
    if not seconds > 0:
        raise click.BadParameter(f"--seconds must be positive, got {seconds}")
    frames, poses = render_clip(actor, seconds, _square_or_size(size_), seed=dance_seed, fps=fps)
    if Path(output).suffix.lower() == ".png":
        from dancenow.images import write_image

        write_image(output, next(iter(frames)))
    else:
        with VideoWriter(output, fps) as w:
            for f in tqdm(frames, total=len(poses), unit="frame", desc=f"synthetic {actor.name}"):
                w.write(f)
    click.echo(f"wrote {output}")
    if poses_out:
        save_poses(poses, poses_out)
        click.echo(f"wrote {poses_out}")

# ----------------------------------------------------------------------------- synth: prepare, train (issue 5)

@command(main, "prepare")
@click.argument("video", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="Data directory to write (re-running skips finished steps).")
@click.option("--preset", "preset_name", default="cpu-small", show_default=True,
              type=click.Choice(["quick", "cpu-small", "paper"]), help="Take the training size from this preset.")
@click.option("--size", "train_size", default=None, help="Training size WIDTHxHEIGHT (default: the preset's).")
@click.option("--poses", "poses_path", type=click.Path(), default=None,
              help="Ready poses of the video (.npz or OpenPose folder) instead of detecting them.")
@click.option("--fps", type=float, default=None, help="Resample the video to this frame rate first.")
@click.option("--holdout", type=float, default=0.1, show_default=True, help="Fraction of frames at the end kept for validation.")
@click.option("--margin", type=float, default=0.15, show_default=True, help="Crop margin around the person, in body heights.")
@click.option("--person", default=None, help="X,Y: a pixel on the person to follow in the first frame (several people in view).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def prepare_cmd(video, output, preset_name, train_size, poses_path, fps, holdout, margin, person, quiet):
    """Prepare a target video for training: one fixed crop around the person, frames and
    label images at the training size, poses, the target's BodyStats, a held-out tail.

    Example: dancenow prepare target.mp4 -o data/me --preset cpu-small
    """
    from dancenow.synth.config import preset
    from dancenow.synth.data import prepare

    size = _size(train_size) or preset(preset_name).image_size
    poses = load_pose_arg(poses_path, fps=None, video=video) if poses_path else None
    pose_config = None
    if person:
        import dataclasses

        from dancenow.pose import PoseConfig

        try:
            px, py = (float(v) for v in person.split(","))
        except ValueError:
            raise click.BadParameter(f"expected X,Y pixels, got {person!r}", param_hint="--person") from None
        pose_config = dataclasses.replace(PoseConfig(), person=(px, py))
    out = prepare(video, output, size, poses=poses, fps=fps, holdout=holdout, margin=margin,
                  pose_config=pose_config, progress=not quiet)
    click.echo(f"prepared {out}")


@command(main, "train")
@click.argument("data", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="Run directory: the model, checkpoints, samples, logs.")
@click.option("--preset", "preset_name", default="cpu-small", show_default=True,
              type=click.Choice(["quick", "cpu-small", "paper"]), help="Network sizes and schedule.")
@click.option("--config", "config_path", type=click.Path(), default=None,
              help="A JSON config; its settings override the preset it names (default cpu-small).")
@click.option("--steps", type=int, default=None, help="Total steps over all stages (the preset's split, scaled).")
@click.option("--minutes", type=float, default=None,
              help="Wall-time budget: the step count is set from the speed of the first steps (instead of --steps).")
@click.option("--batch-size", type=int, default=None, help="Frame pairs per step (per process).")
@click.option("--resume", is_flag=True, help="Continue exactly from the newest checkpoint in the run directory.")
@click.option("--vgg-weights", type=click.Path(), default=None,
              help="VGG19 ImageNet weights (torchvision's vgg19-dcbb9e9d.pth); default: torch's cache, else no VGG loss.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N, mps or auto.")
@click.option("--threads", type=int, default=None,
              help="CPU threads for torch (default: torch's choice; 1 is faster on a CPU shared with other work).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_cmd(data, output, preset_name, config_path, steps, minutes, batch_size, resume, vgg_weights, device, threads, quiet):
    """Train a model of the target person (global -> [local] -> face stages). Ctrl-C saves a
    checkpoint; --resume continues it. Multi-GPU: torchrun --nproc_per_node N -m dancenow.train ...

    Example: dancenow train data/me -o runs/me --preset cpu-small
    """
    import dataclasses
    import os

    from dancenow.synth.config import SynthConfig, preset
    from dancenow.synth.train import train

    if threads is not None:
        if threads < 1:
            raise click.BadParameter("must be >= 1", param_hint="--threads")
        import torch

        torch.set_num_threads(threads)
    cfg = SynthConfig.load(config_path) if config_path else preset(preset_name)
    if batch_size is not None:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=batch_size))
    if steps is not None and minutes is not None:
        raise click.UsageError("give --steps or --minutes, not both")
    out = train(cfg, data, output, resume=resume, steps=steps, minutes=minutes, vgg_weights=vgg_weights,
                device=device, progress=not quiet)
    if int(os.environ.get("RANK", "0")) == 0:
        summary = out / "train_summary.json"
        line = ""
        if summary.is_file():
            import json

            m = json.loads(summary.read_text()).get("metrics", {})
            if "ssim" in m:
                line = f" (held-out SSIM {m['ssim']:.3f}, PSNR {m['psnr']:.2f} dB)"
        click.echo(f"model: {out}{line}")
# ----------------------------------------------------------------------------- transfer, demo (issue 6)

def _is_pose_path(path: str) -> bool:
    p = Path(path)
    return p.suffix.lower() == ".npz" or p.is_dir()


@command(main)
@click.argument("source", type=click.Path())
@click.option("--model", "model_dir", required=True, type=click.Path(), help="A trained model directory (dancenow train).")
@click.option("-o", "--output", required=True, type=click.Path(), help="Output .mp4.")
@click.option("--poses", "poses_path", type=click.Path(), default=None, help="Use these source poses (.npz or OpenPose folder) instead of detecting them.")
@click.option("--side-by-side", is_flag=True, help="Write source | normalized pose | result, with captions.")
@click.option("--no-smooth", is_flag=True, help="Do not smooth the source poses in time.")
@click.option("--align-x", is_flag=True, help="Move the source's median hip x onto the target's.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, or auto.")
@with_pose_input
def transfer(source, model_dir, output, poses_path, side_by_side, no_smooth, align_x, device, fps, frame_size, match_video):
    """Make the model's target person perform the dance of SOURCE (a video, or poses only: a
    .npz or an OpenPose folder, e.g. a generated choreography). Streams: memory does not grow
    with the video's length.

    Example: dancenow transfer source.mp4 --model runs/me -o me_dancing.mp4 --side-by-side
    """
    from tqdm import tqdm

    from dancenow.synth.model import SynthModel
    from dancenow.transfer import TransferConfig, TransferPipeline
    from dancenow.video import VideoWriter, probe, read_frames

    model = SynthModel.load(model_dir, device=device)  # fails before anything is written
    frames = None
    if _is_pose_path(source):
        seq = load_pose_arg(source, fps, frame_size, match_video)
    else:
        info = probe(source)
        if poses_path:
            seq = load_pose_arg(poses_path, fps or info.fps, frame_size or f"{info.width}x{info.height}")
        else:
            from dancenow.pose import detect_video

            seq = detect_video(source)
        frames = read_frames(source)
    pipe = TransferPipeline(model, TransferConfig(smooth=not no_smooth, align_x=align_x))
    with VideoWriter(output, seq.fps) as w:
        for step in tqdm(pipe(seq, frames), total=len(seq), unit="frame", desc="transfer"):
            w.write(step.side_by_side if side_by_side else step.image)
    click.echo(f"wrote {output} ({len(seq)} frames at {seq.fps:g} fps)")


@command(main)
@click.option("-o", "--out-dir", default="demo", show_default=True, type=click.Path(), help="Where the demo writes its outputs.")
@click.option("--quick", is_flag=True, help="A version of about 2 minutes (short clips, tiny model).")
@click.option("--reuse", is_flag=True, help="Reuse the model of a previous demo run in OUT_DIR instead of training.")
@click.option("--train-steps", type=int, default=None, help="Override the training schedule's total steps.")
def demo(out_dir, quick, reuse, train_steps):
    """Run the whole pipeline with no files: render a target actor and a differently built source
    dancer, detect the source's pose, train a model of the target, transfer the dance, and
    score it against the ground truth.

    Example: dancenow demo --quick
    """
    from dancenow.demo import DemoConfig, run_demo

    res = run_demo(DemoConfig(out_dir=Path(out_dir), quick=quick, reuse=reuse, train_steps=train_steps))
    m = res.metrics
    click.echo(f"demo done in {res.seconds / 60:.1f} min: SSIM {m['ssim']:.3f}, PSNR {m['psnr']:.2f} dB "
               f"against the ground truth, transfer {m['transfer_fps']:.1f} frames/s")
    for name in ("side_by_side", "sample", "summary", "metrics"):
        click.echo(f"  {name:13s} {res.outputs[name]}")
# ----------------------------------------------------------------------------- evaluate (issue 7)

@command(main, "evaluate")
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
@click.option("--face-fraction", type=float, default=0.25, show_default=True, help="Face crop side / frame height.")
@click.option("--max-frames", type=int, default=None, help="Evaluate only the first N frames.")
@click.option("--examples", type=int, default=3, show_default=True, help="Worst and best frames shown in the grid.")
@click.option("--device", default="cpu", show_default=True, help="Torch device (LPIPS, generation).")
def evaluate_cmd(generated, reference, poses_path, model_dir, data_dir, split, output, lpips_net, lpips_backbone,
                 lpips_weights, no_lpips, no_pose, face_fraction, max_frames, examples, device):
    """Measure generated frames against real ones: SSIM, PSNR and LPIPS over the whole frame and
    the face crop, pose distance and missed detections per body part, frames/s ("Everybody Dance
    Now" metrics). Either a pair of videos, or a trained model on its held-out frames.

    Example: dancenow evaluate --generated fake.mp4 --reference real.mp4 -o report.json

    Example: dancenow evaluate --model runs/me --data data/me --split val -o report.json
    """
    from dancenow.evaluate import EvalConfig, evaluate_model, evaluate_videos, write_report

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
    if pair_mode:
        poses = load_pose_arg(poses_path, video=reference) if poses_path else None
        report = evaluate_videos(generated, reference, poses, config)
    else:
        report = evaluate_model(model_dir, data_dir, split, config)
    written = write_report(report, output)
    click.echo(report.table())
    click.echo("wrote " + ", ".join(str(p) for p in written.values()))

# ----------------------------------------------------------------------------- choreo (issue 8)
from dancenow.choreo.config import TRAIN_DEFAULTS  # noqa: E402  (torch-free: defaults for --help)


def _choreo_sources(poses: tuple[str, ...], style: str | None, add: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """(path, style) pairs from positional POSES (all of --style) and --add STYLE PATTERN pairs
    (PATTERN is expanded here, so it can be quoted)."""
    import glob

    if poses and not style:
        raise click.UsageError("give --style NAME for the POSES (or use --add STYLE PATTERN)")
    out = [(p, style) for p in poses]
    for name, pattern in add:
        found = sorted(glob.glob(pattern)) or ([pattern] if Path(pattern).exists() else [])
        if not found:
            raise click.BadParameter(f"no files match {pattern!r}", param_hint="--add")
        out += [(p, name) for p in found]
    if not out:
        raise click.UsageError("no training files: give POSES --style NAME and/or --add STYLE PATTERN")
    return out


@main.group("choreo", context_settings={"help_option_names": ["-h", "--help"]})
def choreo() -> None:
    """Learn dance styles from pose sequences and motion capture, generate new moves, forecast a
    dancer live (an LSTM + mixture density network, Graves 2013 style).

    Example: dancenow choreo train mocap/*.bvh --style salsa -o salsa-model/
    """


@command(choreo, "train")
@click.argument("poses", nargs=-1, type=click.Path())
@click.option("--style", default=None, help="Style name of the POSES.")
@click.option("--add", "add", type=(str, str), multiple=True, metavar="STYLE PATTERN",
              help="More training files of another style (glob pattern, quoted). Repeatable.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Model folder (checkpoints go here).")
@click.option("--exclude", multiple=True, help="Leave out a take by name (file stem), e.g. 60_01_scaled. Repeatable.")
@click.option("--steps", type=int, default=TRAIN_DEFAULTS.steps, show_default=True, help="Training steps.")
@click.option("--batch-size", type=int, default=TRAIN_DEFAULTS.batch_size, show_default=True)
@click.option("--hidden", type=int, default=TRAIN_DEFAULTS.hidden, show_default=True, help="LSTM width.")
@click.option("--layers", type=int, default=TRAIN_DEFAULTS.layers, show_default=True, help="LSTM layers.")
@click.option("--mixtures", type=int, default=TRAIN_DEFAULTS.mixtures, show_default=True, help="Gaussian mixture components.")
@click.option("--lr", type=float, default=TRAIN_DEFAULTS.lr, show_default=True, help="Peak learning rate.")
@click.option("--rollout-weight", type=float, default=TRAIN_DEFAULTS.rollout_weight, show_default=True,
              help="Weight of the free-running (1 s rollout) loss beside the likelihood; 0 = pure teacher forcing.")
@click.option("--dims", type=click.Choice(["2", "3"]), default="2", show_default=True,
              help="2: front-view 2D poses; 3: 3D (motion capture only).")
@click.option("--fps", type=float, default=TRAIN_DEFAULTS.fps, show_default=True, help="Frame rate the model works at.")
@click.option("--openpose-fps", type=float, default=None, help="Frame rate of OpenPose JSON folders (they store none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--checkpoint-every", type=int, default=TRAIN_DEFAULTS.checkpoint_every, show_default=True)
@click.option("--keep", type=int, default=TRAIN_DEFAULTS.keep, show_default=True, help="Checkpoints kept.")
@click.option("--no-resume", is_flag=True, help="Start afresh even if the folder holds checkpoints.")
@click.option("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice).")
@click.option("--device", default="cpu", show_default=True, help="cpu, or cuda to train on a GPU.")
def choreo_train(poses, style, add, output, exclude, steps, batch_size, hidden, layers, mixtures, lr, rollout_weight,
                 dims, fps, openpose_fps, seed, checkpoint_every, keep, no_resume, threads, device):
    """Train a style model on pose files (.npz, OpenPose folders) and BVH motion capture. Resumes
    from the folder's newest checkpoint unless --no-resume.

    Example: dancenow choreo train data/cmu_salsa/*.bvh --style salsa --add folk 'data/ucy/*.bvh' -o model/
    """
    from dancenow.choreo.train import TrainConfig, train

    sources = _choreo_sources(poses, style, add)
    cfg = TrainConfig(sources=sources, out_dir=output, exclude=list(exclude), steps=steps, batch_size=batch_size,
                      hidden=hidden, layers=layers, mixtures=mixtures, lr=lr, rollout_weight=rollout_weight,
                      dims=int(dims), fps=fps,
                      seed=seed, checkpoint_every=checkpoint_every, keep=keep, resume=not no_resume,
                      threads=threads, openpose_fps=openpose_fps, device=device)
    ckpt = train(cfg)
    click.echo(f"wrote {ckpt}")


@command(choreo, "generate")
@click.option("--model", "model_dir", required=True, type=click.Path(), help="Model folder or checkpoint.")
@click.option("--seed", "seed_path", type=click.Path(), default=None,
              help="Pose/BVH file to continue (its last --seed-seconds); default: the mean pose, standing still.")
@click.option("--seed-seconds", type=float, default=1.0, show_default=True, help="How much of the seed to use.")
@click.option("--seconds", type=float, default=30.0, show_default=True, help="Length of the generated dance.")
@click.option("--temperature", type=float, default=0.8, show_default=True,
              help="Randomness: 0 = most likely moves (deterministic; settles into stillness), 1 = the model's full spread.")
@click.option("--style", default=None, help='A style name or a blend "salsa=0.7,folk=0.3" (default: any).')
@click.option("--random-seed", type=int, default=0, show_default=True, help="Seed of the sampling.")
@click.option("--out-size", default="512x512", show_default=True, help="Frame size WIDTHxHEIGHT of the output poses.")
@click.option("--no-seed-frames", is_flag=True, help="Leave the seed motion out of the output.")
@click.option("--limb-pull", type=click.FloatRange(0, 1), default=None,
              help="Share of the way limbs return to their typical length each frame (default 0.7; 0 = the network alone).")
@click.option("-o", "--output", "outputs", required=True, multiple=True, type=click.Path(),
              help="dance.npz (poses, ready for `dancenow transfer`), an OpenPose folder, or dance.mp4 (stick figure). Repeatable.")
@with_pose_input
def choreo_generate(model_dir, seed_path, seed_seconds, seconds, temperature, style, random_seed, out_size,
                    no_seed_frames, limb_pull, outputs, fps, frame_size, match_video):
    """Generate new dance moves in a learned style (or a blend), continuing a seed motion.

    Example: dancenow choreo generate --model model/ --seed seed.npz --seconds 30 --style salsa=0.7,folk=0.3 -o dance.npz -o dance.mp4
    """
    from dancenow.choreo.generate import Choreographer, write_dance
    from dancenow.choreo.train import load_model

    model, info = load_model(model_dir)
    ch = Choreographer(model, info, pull=limb_pull)
    seed = None
    if seed_path:
        size = _size(frame_size)
        if match_video and (fps is None or size is None):
            from dancenow.video import probe

            vi = probe(match_video)
            fps, size = fps or vi.fps, size or vi.size
        seed = ch.seed_from_file(seed_path, seed_seconds, fps=fps, size=size)
    dance = ch(seed, seconds=seconds, temperature=temperature, style=style, random_seed=random_seed)
    for out in outputs:
        write_dance(dance, out, _size(out_size), include_seed=not no_seed_frames)
        click.echo(f"wrote {out}")
    n = dance.pose.shape[0] - dance.seed_frames
    click.echo(f"generated {n} frames ({seconds:g} s at {dance.fps:g} fps) at {dance.frames_per_second:.0f} frames/s "
               f"({dance.frames_per_second / dance.fps:.0f}x real time)")


@command(choreo, "live")
@click.option("--model", "model_dir", required=True, type=click.Path(), help="Model folder or checkpoint (2D).")
@click.option("--video", type=click.Path(), default=None, help="Video file to play as the live stream.")
@click.option("--camera", type=int, default=None, help="Camera index (OpenCV) instead of a video.")
@click.option("--poses", "poses_path", type=click.Path(), default=None,
              help="Poses of --video (.npz/OpenPose); default: detected as the video plays.")
@click.option("--horizon", type=float, default=1.0, show_default=True, help="Seconds ahead to predict.")
@click.option("--context", type=float, default=1.0, show_default=True, help="Seconds of observed motion used.")
@click.option("--style", default=None, help='Style or blend to predict in (default: any).')
@click.option("--temperature", type=float, default=0.0, show_default=True, help="0 = most likely continuation.")
@click.option("--every", type=int, default=1, show_default=True, help="Forecast every N-th frame (to keep up on a slow machine).")
@click.option("-o", "--output", type=click.Path(), default=None, help="Also write the side-by-side frames to this .mp4.")
@click.option("--no-window", is_flag=True, help="Do not open a window (implied without a display).")
@click.option("--max-frames", type=int, default=None, help="Stop after N frames.")
def choreo_live(model_dir, video, camera, poses_path, horizon, context, style, temperature, every, output, no_window,
                max_frames):
    """Forecast a dancer live: the observed figure and the model's predicted continuation side
    by side, in a window, or written to a video when there is no display.

    Example: dancenow choreo live --model model/ --video dance.mp4 -o live.mp4
    """
    from dancenow.choreo.live import LiveConfig, camera_frames, has_display, resample_keypoints, run_live
    from dancenow.choreo.train import load_model

    if (video is None) == (camera is None):
        raise click.UsageError("give one of --video or --camera")
    if poses_path and camera is not None:
        raise click.UsageError("--poses goes with --video")
    model, info = load_model(model_dir)
    rate = float(info["fps"])
    show = has_display() and not no_window
    if not show and not output:
        raise click.UsageError("no display here (or --no-window): give -o live.mp4 to write the frames")
    if video is not None:
        from dancenow.video import probe, read_frames

        vi = probe(video)
        size = vi.size
        frames = read_frames(video, fps=rate)
        total = int(round(vi.frame_count * rate / vi.fps)) or None
    else:
        frames = camera_frames(camera)
        first = next(frames)
        size = (first.shape[1], first.shape[0])
        import itertools

        frames = itertools.chain([first], frames)
        total = None
    if poses_path:
        seq = load_pose_arg(poses_path, fps=vi.fps, size=f"{size[0]}x{size[1]}")
        keypoints = iter(resample_keypoints(seq, rate))
    else:
        from dancenow.pose import PoseConfig, iter_keypoints

        frames, for_pose = _tee(frames)
        keypoints = iter_keypoints(for_pose, rate, PoseConfig(face=False, hands=False))
    config = LiveConfig(context_s=context, horizon_s=horizon, style=style, temperature=temperature, every=every)
    stats = run_live(model, info, keypoints, size, frames, config, show=show, output=output, max_frames=max_frames,
                     total=total)
    click.echo(f"{stats.frames} frames, {stats.forecasts} forecasts; forecast latency mean "
               f"{stats.mean_latency_s * 1000:.1f} ms, worst {stats.max_latency_s * 1000:.1f} ms "
               f"(real time needs < {stats.frame_budget_s * 1000:.0f} ms)")
    if output:
        click.echo(f"wrote {output}")


def _tee(frames):
    """Two iterators over the same frames, for a consumer that runs one frame ahead of the other
    at most (the pose detector, then the display)."""
    import itertools

    return itertools.tee(frames, 2)


@command(choreo, "evaluate")
@click.argument("poses", nargs=-1, required=True, type=click.Path())
@click.option("--model", "model_dir", required=True, type=click.Path(), help="Model folder or checkpoint.")
@click.option("--style", default=None, help="Style the held-out POSES are in (default: any).")
@click.option("--context", type=float, default=1.0, show_default=True, help="Seconds of motion the forecasts start from.")
@click.option("--stride", type=float, default=1 / 3, show_default=True, help="Seconds between forecast windows.")
@click.option("--health-seconds", type=float, default=60.0, show_default=True,
              help="Length of the generated dance checked for long-run health (0: skip).")
@click.option("--openpose-fps", type=float, default=None, help="Frame rate of OpenPose JSON folders.")
@click.option("-o", "--output", type=click.Path(), default=None, help="Also write the report as .json.")
def choreo_evaluate(poses, model_dir, style, context, stride, health_seconds, openpose_fps, output):
    """Forecast held-out motion 1 frame, 0.5 s and 1 s ahead against the zero-velocity, constant
    velocity and mean-pose baselines; held-out likelihood; health of a long generated dance.

    Example: dancenow choreo evaluate data/cmu_salsa/60_01_scaled.bvh --model model/ --style salsa
    """
    from dancenow.choreo.evaluate import evaluate_model_on_files, write_report

    report = evaluate_model_on_files(model_dir, list(poses), style=style, context_s=context, stride_s=stride,
                                     health_seconds=health_seconds, openpose_fps=openpose_fps)
    click.echo(report.text())
    if output:
        write_report(report, output)
        click.echo(f"wrote {output}")

# ----------------------------------------------------------------------------- coach (issue 9)

def _coach_input(path: str, video: str | None, fps: float | None, what: str, out_dir: Path):
    """A coach input: a video (poses detected, and saved into the report folder so a rerun can
    pass the .npz), a .npz, or an OpenPose folder. Returns (poses, video for the stills)."""
    from dancenow.posefile import save_poses

    p = Path(path)
    if p.suffix.lower() == ".npz" or p.is_dir():
        return load_pose_arg(path, fps, None, video), video
    if not p.exists():
        raise DancenowError(f"{what} not found: {path}")
    from dancenow.pose import detect_video

    click.echo(f"detecting poses in {path} ...")
    seq = detect_video(path)
    saved = save_poses(seq, out_dir / f"{what}_poses.npz")
    click.echo(f"wrote {saved} (pass it instead of the video next time)")
    return seq, (video or path)


@command(main, "coach")
@click.argument("reference", type=click.Path())
@click.argument("attempt", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Report folder (report.html, report.json).")
@click.option("--mirror", is_flag=True, help="The learner faced a screen and mirrored the reference (their right copies its left).")
@click.option("--lr-invariant", is_flag=True, help="Accept moves done with the other side (compare with the attempt's mirror image too).")
@click.option("--reference-video", type=click.Path(), default=None, help="Video of reference poses (.npz/OpenPose) for the stills (and an OpenPose folder's fps and size).")
@click.option("--attempt-video", type=click.Path(), default=None, help="The same for the attempt.")
@click.option("--fps", type=float, default=None, help="Frame rate of OpenPose folders without a video (they store none).")
@click.option("--sections", default=None, help="Section start times in seconds of the reference, e.g. 0,12.5,30 (default: about every --section-seconds).")
@click.option("--section-seconds", type=float, default=8.0, show_default=True, help="Section length when --sections is not given.")
@click.option("--band-seconds", type=float, default=3.0, show_default=True, help="How far the timing may drift from an even stretch of the two recordings.")
def coach_cmd(reference, attempt, output, mirror, lr_invariant, reference_video, attempt_video, fps, sections,
              section_seconds, band_seconds):
    """Score a learner's ATTEMPT against a REFERENCE dance: time-aligned (being late is not being
    wrong), per joint angle (elbows, knees, shoulders, hips, trunk lean), per body part and per
    section, with tips, into an HTML report and JSON. Each input is a video (poses are
    detected), a .npz pose file or an OpenPose JSON folder.

    Example: dancenow coach teacher.mp4 me.mp4 -o report/ --mirror
    """
    from dancenow.coach import CoachConfig, coach, write_report

    out_dir = Path(output)
    starts = None
    if sections:
        try:
            starts = tuple(float(v) for v in sections.split(",") if v.strip())
        except ValueError:
            raise click.BadParameter(f"expected seconds separated by commas, e.g. 0,12.5,30, got {sections!r}") from None
    config = CoachConfig(mirror=mirror, lr_invariant=lr_invariant, sections=starts, section_seconds=section_seconds,
                         band_seconds=band_seconds, progress=True)
    ref, ref_video = _coach_input(reference, reference_video, fps, "reference", out_dir)
    att, att_video = _coach_input(attempt, attempt_video, fps, "attempt", out_dir)
    result = coach(ref, att, config)
    path = write_report(result, out_dir, reference_video=ref_video, attempt_video=att_video)
    click.echo(f"score {result.score:.0f}/100; typical timing {result.median_offset_s:+.2f} s (+ = late)")
    for tip in result.tips:
        click.echo(f"  - {tip.text}")
    click.echo(f"wrote {path} and {path.with_suffix('.json')}")



if __name__ == "__main__":
    main()
