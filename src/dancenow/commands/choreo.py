"""Choreography's commands: `choreo train|generate|live|evaluate`."""

from __future__ import annotations

import click

from dancenow import guard
from dancenow.choreo.config import DEFAULT_GUIDANCE, DEFAULT_TEMPERATURE, PRESETS, TEMPO_BAND  # torch-free
from dancenow.commands import POSITIVE, SIZE, command, openpose_options, wrote


@click.group("choreo", context_settings={"help_option_names": ["-h", "--help"]})
def choreo() -> None:
    """Learn dance styles from pose sequences and motion capture, generate new moves, forecast a
    dancer live (an LSTM + mixture density network, Graves 2013 style).

    Example: dancenow choreo train mocap/*.bvh --style salsa -o salsa-model/
    """



@command("train", group=choreo, heavy=True, outputs={"output": guard.CHOREO_DIR})
@click.argument("poses", nargs=-1, type=click.Path())
@click.option("--style", default=None, help="Style name of the POSES (pose files, BVH motion capture or videos).")
@click.option("--add", "add", type=(str, str), multiple=True, metavar="STYLE PATTERN",
              help="More training files of another style (glob pattern, quoted). Repeatable.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Model folder (checkpoints go here).")
@click.option("--preset", "preset_name", default="default", show_default=True, type=click.Choice(PRESETS),
              help="Network size and schedule: default trains a dancer and then its forecaster (2000 + 3000 "
                   "steps), small and quick a dancer alone.")
@click.option("--config", "config_path", type=click.Path(), default=None,
              help="A JSON config; its settings override the preset it names (default: default).")
@click.option("--exclude", multiple=True, help="Leave out a take by name (file stem), e.g. 60_01_scaled. Repeatable.")
@click.option("--steps", type=int, default=None, help="The dancer's training steps (default: the preset's or config's; the forecaster's "
                   "come after them: forecaster_steps in --config).")
@click.option("--seed", type=int, default=None, help="Random seed (default: the preset's or config's, 0).")
@click.option("--no-resume", is_flag=True,
              help="Start afresh even if the folder holds checkpoints (they go once the new run has one).")
@click.option("--openpose-fps", type=POSITIVE, default=None, help="Frame rate of OpenPose JSON folders (they store none).")
@click.option("--threads", type=int, default=None, help="CPU threads for torch (default: the idle cores).")
@click.option("--device", default="auto", show_default=True, help="auto (a GPU when torch sees one), cpu, cuda, cuda:N or mps.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def choreo_train(poses, style, add, output, preset_name, config_path, exclude, steps, seed, no_resume, openpose_fps,
                 threads, device, quiet):
    """Train a style model on pose files (.npz, OpenPose folders), BVH motion capture or videos
    (the dancer's poses are detected first). Motion capture alone trains a 3D model; anything
    2D trains a front-view one (the kind `choreo live` needs). Resumes from the folder's newest
    checkpoint unless --no-resume; Ctrl-C saves a checkpoint.

    Example: dancenow choreo train data/cmu_salsa/*.bvh --style salsa --add folk 'data/ucy/*.bvh' -o model/
    """
    from dancenow.choreo.config import load_config, preset
    from dancenow.choreo.readers import training_sources
    from dancenow.choreo.train import train

    cfg = load_config(config_path) if config_path else preset(preset_name)
    if steps is not None:
        cfg.steps = steps
    if seed is not None:
        cfg.seed = seed
    wrote(train(training_sources(poses, style, add), output, cfg, exclude=list(exclude), resume=not no_resume,
                threads=threads, device=device, openpose_fps=openpose_fps, progress=not quiet))


@command("generate", group=choreo, heavy=True, outputs={"outputs": guard.poses_or_video})
@click.option("--model", "model_dir", required=True, type=click.Path(), help="Model folder or checkpoint.")
@click.option("--prime", "prime_path", type=click.Path(), default=None,
              help="Pose/BVH/video file whose last --prime-seconds the dance continues; default: a typical pose, standing still.")
@click.option("--prime-seconds", type=POSITIVE, default=1.0, show_default=True, help="How much of --prime to use.")
@click.option("--seconds", type=POSITIVE, default=30.0, show_default=True, help="Length of the generated dance (at most 3600).")
@click.option("--temperature", type=click.FloatRange(min=0), default=None,
              help="Randomness: 0 = most likely moves (deterministic; slows down to stillness), 1 = the model's full "
                   f"spread. Default: the model's calibrated one for the style (moves as fast as its data, up to 4; "
                   f"{DEFAULT_TEMPERATURE:g} for a model trained before calibration), adjusted as the dance goes to "
                   f"hold its speed within {TEMPO_BAND[0]:g}-{TEMPO_BAND[1]:g}x the data's; one given is used as "
                   "given. The torso's calibrated spread applies either way.")
@click.option("--style", default=None, help='A style name or a blend "salsa=0.7,folk=0.3" (default: any).')
@click.option("--guidance", type=click.FloatRange(min=0, max=10), default=None,
              help="Style guidance: how far past the dance of the other styles (the style-free one for models "
                   "trained before 2026-12-05) toward the asked style the model is pushed (1 = plain conditioning, "
                   "0 = the other styles'). Default: the one its temperature was calibrated at "
                   f"(for models trained now {DEFAULT_GUIDANCE:g}, or 1 for a style whose long dances lean at it).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampling.")
@click.option("--size", type=SIZE, default="512x512", show_default=True, help="Frame size WIDTHxHEIGHT of the output poses.")
@click.option("--no-prime-frames", is_flag=True, help="Leave the --prime motion out of the output.")
@click.option("-o", "--output", "outputs", required=True, multiple=True, type=click.Path(),
              help="dance.npz (poses, ready for `dancenow transfer`), an OpenPose folder, or dance.mp4 (stick figure). Repeatable.")
@openpose_options
def choreo_generate(model_dir, prime_path, prime_seconds, seconds, temperature, style, guidance, seed, size,
                    no_prime_frames, outputs, openpose_fps, openpose_size, openpose_video):
    """Generate new dance moves in a learned style (or a blend), continuing a prime motion.

    Example: dancenow choreo generate --model model/ --prime start.npz --seconds 30 --style salsa=0.7,folk=0.3 -o dance.npz -o dance.mp4
    """
    from dancenow.choreo.generate import generate_to_files

    dance = generate_to_files(model_dir, outputs, prime=prime_path, prime_seconds=prime_seconds, seconds=seconds,
                              temperature=temperature, style=style, guidance=guidance, seed=seed, size=size,
                              include_prime=not no_prime_frames, openpose_fps=openpose_fps,
                              openpose_size=openpose_size, openpose_video=openpose_video)
    for out in outputs:
        wrote(out)
    n = dance.pose.shape[0] - dance.seed_frames
    click.echo(f"generated {n} frames ({seconds:g} s at {dance.fps:g} fps) at {dance.frames_per_second:.0f} frames/s "
               f"({dance.frames_per_second / dance.fps:.0f}x real time)")


@command("live", group=choreo, heavy=True, outputs={"record": guard.MP4})
@click.option("--model", "model_dir", required=True, type=click.Path(), help="Model folder or checkpoint (2D).")
@click.option("--source", type=click.Path(), default=None, help="A video standing in for the camera.")
@click.option("--camera", type=click.IntRange(min=0), default=None, help="Camera index (OpenCV).")
@click.option("--poses", "poses_path", type=click.Path(), default=None,
              help="Poses of --source (.npz/OpenPose); default: detected as the video plays.")
@click.option("--horizon", type=POSITIVE, default=1.0, show_default=True, help="Seconds ahead to predict.")
@click.option("--context", type=POSITIVE, default=1.0, show_default=True, help="Seconds of observed motion used.")
@click.option("--style", default=None, help='Style or blend to predict in (default: any).')
@click.option("--temperature", type=click.FloatRange(min=0), default=0.0, show_default=True, help="0 = most likely continuation.")
@click.option("--every", type=click.IntRange(min=1), default=None,
              help="Forecast every N-th model frame, in step with the display (default: beside the display, "
                   "as often as the machine can).")
@click.option("--record", type=click.Path(), default=None, help="Save what is shown to this .mp4.")
@click.option("--no-window", is_flag=True, help="Do not open a window (implied without a display).")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Stop after N frames.")
def choreo_live(model_dir, source, camera, poses_path, horizon, context, style, temperature, every, record, no_window,
                max_frames):
    """Forecast a dancer live: the observed figure and the model's predicted continuation side
    by side, at the camera's frame rate, in a window and/or recorded. Needs a 2D model (trained
    from video or pose files, or with dims 2).

    Example: dancenow choreo live --model model/ --source dance.mp4 --record live.mp4
    """
    from dancenow.choreo.live import LiveConfig, live_session

    config = LiveConfig(context_s=context, horizon_s=horizon, style=style, temperature=temperature, every=every)
    stats = live_session(model_dir, source, camera, poses_path, config, show=False if no_window else None,
                         record=record, max_frames=max_frames)
    click.echo(f"{stats.frames} frames at {stats.fps:g} fps, shown at {stats.shown_per_s:.0f} frames/s; "
               f"{stats.forecasts} forecasts ({stats.forecasts_per_s:.1f} a second), mean "
               f"{stats.mean_latency_s * 1000:.1f} ms, worst {stats.max_latency_s * 1000:.1f} ms")
    if record:
        wrote(record)


@command("evaluate", group=choreo, heavy=True, outputs={"output": guard.JSON})
@click.argument("poses", nargs=-1, required=True, type=click.Path())
@click.option("--model", "model_dir", required=True, type=click.Path(), help="Model folder or checkpoint.")
@click.option("--style", default=None, help="Style the held-out POSES are in (default: any).")
@click.option("--context", type=POSITIVE, default=1.0, show_default=True, help="Seconds of motion the forecasts start from.")
@click.option("--stride", type=POSITIVE, default=1 / 3, show_default="1/3",
              help="Seconds between forecast windows.")
@click.option("--health-seconds", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Length of the generated dance checked for long-run health (0: skip).")
@click.option("--openpose-fps", type=POSITIVE, default=None, help="Frame rate of OpenPose JSON folders.")
@click.option("-o", "--output", type=click.Path(), default=None, help="Also write the report as .json.")
def choreo_evaluate(poses, model_dir, style, context, stride, health_seconds, openpose_fps, output):
    """Forecast held-out motion 1 frame, 0.5 s and 1 s ahead against the zero-velocity, constant
    velocity, damped velocity and mean-pose baselines; held-out likelihood; health of a long
    generated dance.

    Example: dancenow choreo evaluate data/cmu_salsa/60_01_scaled.bvh --model model/ --style salsa
    """
    from dancenow.choreo.evaluate import evaluate_model_on_files, write_report

    report = evaluate_model_on_files(model_dir, list(poses), style=style, context_s=context, stride_s=stride,
                                     health_seconds=health_seconds, openpose_fps=openpose_fps)
    click.echo(report.text())
    if output:
        wrote(write_report(report, output))
