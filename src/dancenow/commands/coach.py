"""The coach's commands: `coach dance|exercise|live|photo|history`."""

from __future__ import annotations

import click

from dancenow import guard
from dancenow.errors import DancenowError
from dancenow.commands import POSITIVE, SECONDS, command, wrote

EXERCISE_NAMES = ("squat", "jumping-jack", "lunge", "push-up", "arm-raise")  # dancenow.coach.exercises.EXERCISES


@click.group("coach", context_settings={"help_option_names": ["-h", "--help"]})
def coach() -> None:
    """Coach a learner: a dance against a reference, exercise repetitions (counts, form, tempo,
    range of motion), live feedback, a photo pose, and progress over sessions.

    Example: dancenow coach exercise squats.mp4 --exercise squat -o report/
    """


def history_options(fn):
    """--history / --history-db: record this run in the progress database."""
    fn = click.option("--history-db", type=click.Path(dir_okay=False), default=None,
                      help="History database (implies --history; default: coach_history.sqlite in the user's data folder).")(fn)
    fn = click.option("--history", "record_run", is_flag=True, help="Record this run in the history database (see `coach history`).")(fn)
    return fn


def _history_path(record: bool, history_db):
    if history_db is not None:
        return history_db
    if record:
        from dancenow.coach.history import default_history_path

        return default_history_path()
    return None


@command("dance", group=coach, outputs={"output": guard.REPORT_DIR, "history_db": guard.SQLITE})
@click.argument("reference", type=click.Path())
@click.argument("attempt", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Report folder (report.html, report.json).")
@click.option("--mirror", is_flag=True, help="The learner faced a screen and mirrored the reference (their right copies its left).")
@click.option("--lr-invariant", is_flag=True, help="Accept moves done with the other side (compare with the attempt's mirror image too).")
@click.option("--reference-video", type=click.Path(), default=None, help="Video of reference poses (.npz/OpenPose) for the stills (and an OpenPose folder's fps and size).")
@click.option("--attempt-video", type=click.Path(), default=None, help="The same for the attempt.")
@click.option("--openpose-fps", type=POSITIVE, default=None, help="Frame rate of OpenPose folders without a video (they store none).")
@click.option("--sections", type=SECONDS, default=None, help="Section start times in seconds of the reference, e.g. 0,12.5,30 (default: about every --section-seconds).")
@click.option("--section-seconds", type=POSITIVE, default=8.0, show_default=True, help="Section length when --sections is not given.")
@click.option("--band-seconds", type=POSITIVE, default=3.0, show_default=True, help="How far the timing may drift from an even stretch of the two recordings.")
@history_options
def dance_cmd(reference, attempt, output, mirror, lr_invariant, reference_video, attempt_video, openpose_fps, sections,
              section_seconds, band_seconds, record_run, history_db):
    """Score a learner's ATTEMPT against a REFERENCE dance: time-aligned (being late is not being
    wrong), per joint angle (elbows, knees, shoulders, hips, trunk lean), per body part and per
    section, with tips, into an HTML report and JSON. Each input is a video (poses are
    detected), a .npz pose file or an OpenPose JSON folder.

    Example: dancenow coach dance teacher.mp4 me.mp4 -o report/ --mirror
    """
    from dancenow.coach.run import dance_to_report
    from dancenow.coach.score import CoachConfig

    config = CoachConfig(mirror=mirror, lr_invariant=lr_invariant, sections=sections, section_seconds=section_seconds,
                         band_seconds=band_seconds, progress=True)
    result, path, sid = dance_to_report(reference, attempt, output, config, reference_video, attempt_video, openpose_fps,
                                        _history_path(record_run, history_db))
    click.echo(f"score {result.score:.0f}/100; typical timing {result.median_offset_s:+.2f} s (+ = late)")
    for tip in result.tips:
        click.echo(f"  - {tip.text}")
    wrote(f"{path} and {path.with_suffix('.json')}", f" (history session {sid})" if sid else "")


@command("exercise", group=coach, outputs={"output": guard.REPORT_DIR, "history_db": guard.SQLITE})
@click.argument("video", type=click.Path())
@click.option("--exercise", type=click.Choice(EXERCISE_NAMES), default=None, help="A built-in exercise.")
@click.option("--reference", type=click.Path(), default=None,
              help="One good repetition (video or pose file) to learn the exercise from, instead of --exercise.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Report folder (report.html, report.json).")
@click.option("--poses", type=click.Path(), default=None, help="Poses of VIDEO (.npz/OpenPose) read instead of detected.")
@click.option("--openpose-fps", type=POSITIVE, default=None, help="Frame rate of OpenPose folders (they store none; default: the video's).")
@history_options
def exercise_cmd(video, exercise, reference, output, poses, openpose_fps, record_run, history_db):
    """Count the repetitions of an exercise in VIDEO and judge each one: range of motion, tempo,
    depth, the form faults the camera's view can see (and which it cannot judge), a score;
    into an HTML report with a per-repetition table and plots, and JSON. VIDEO is a video (poses
    are detected) or a pose file.

    Example: dancenow coach exercise squats.mp4 --exercise squat -o report/ --history
    """
    from dancenow.coach.run import exercise_to_report

    result, path, sid = exercise_to_report(video, output, exercise, reference, poses, openpose_fps,
                                           _history_path(record_run, history_db))
    click.echo(result.summary())
    for rep in result.reps:
        faults = "; ".join(c.text for c in rep.faults) or "no fault seen"
        click.echo(f"  {rep.number:>2} {rep.status:<7} {rep.view or '?':<7} depth {100 * rep.depth:3.0f}%  "
                   f"{rep.down_s:.1f}/{rep.hold_s:.1f}/{rep.up_s:.1f} s  score {rep.score:3.0f}  {faults}")
    for note in result.notes:
        click.echo(f"note: {note}")
    wrote(f"{path} and {path.with_suffix('.json')}", f" (history session {sid})" if sid else "")


@command("live", group=coach, outputs={"record": guard.MP4, "output": guard.REPORT_DIR, "history_db": guard.SQLITE})
@click.option("--exercise", type=click.Choice(EXERCISE_NAMES), default=None, help="Count and judge this exercise.")
@click.option("--reference", type=click.Path(), default=None, help="Or learn the exercise from one repetition (video or pose file).")
@click.option("--dance", type=click.Path(), default=None, help="Or dance along: this reference (video or pose file) is shown as a ghost on you.")
@click.option("--source", type=click.Path(), default=None, help="A video standing in for the camera.")
@click.option("--camera", type=click.IntRange(min=0), default=None, help="Camera index (default 0 when there is no --source).")
@click.option("--record", type=click.Path(dir_okay=False), default=None, help="Save what is shown to this .mp4 (works without a display).")
@click.option("--no-window", is_flag=True, help="Do not open a window (implied without a display).")
@click.option("--cues", type=click.Choice(["off", "sound", "speech"]), default="off", show_default=True,
              help="A beep per repetition (two for a fault), or the count and fault spoken.")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True, help="Detect the pose on every N-th frame (a slow machine keeps up).")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Stop after N frames.")
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None, help="After an exercise session, write its full report here.")
@history_options
def live_cmd(exercise, reference, dance, source, camera, record, no_window, cues, every, max_frames, output, record_run,
             history_db):
    """Coach live from a camera (or --source video): your skeleton with the repetition counter
    and the last repetition's faults, or a dance reference as a ghost on your body. Without a
    display it says so and --record still saves the annotated video.

    Example: dancenow coach live --exercise squat --source squats.mp4 --record live.mp4
    """
    from dancenow.coach.live import LiveConfig
    from dancenow.coach.run import live_session

    config = LiveConfig(every=every, cues=cues, max_frames=max_frames)
    stats, result, path, sid = live_session(source, camera, exercise, reference, dance, record,
                                            False if no_window else None, config, output, None,
                                            _history_path(record_run, history_db))
    line = f"{stats.frames} frames in {stats.seconds:.1f} s ({stats.rate:.1f} frames/s)"
    if dance is None:
        line += f"; {stats.full} reps" + (f" + {stats.partial} partial" if stats.partial else "") + " counted live"
    click.echo(line)
    if result is not None:
        click.echo(f"whole session: {result.summary()}")
    if record is not None:
        wrote(record)
    if path is not None:
        wrote(f"{path} and {path.with_suffix('.json')}", f" (history session {sid})" if sid else "")
    elif sid:
        click.echo(f"recorded history session {sid}")


@command("photo", group=coach, outputs={"output": guard.REPORT_DIR, "history_db": guard.SQLITE})
@click.argument("photo", type=click.Path())
@click.option("--reference", required=True, type=click.Path(),
              help="The pose to copy: a photo, or a pose file (.npz/OpenPose) with --reference-frame.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Report folder (pose.png, report.html, report.json).")
@click.option("--poses", type=click.Path(), default=None, help="Poses of PHOTO (.npz/OpenPose) read instead of detected.")
@click.option("--reference-frame", type=click.IntRange(min=0), default=0, show_default=True, help="Frame of a reference pose file.")
@click.option("--mirror", is_flag=True, help="A selfie copying the reference like a mirror (your right copies its left).")
@history_options
def photo_cmd(photo, reference, output, poses, reference_frame, mirror, record_run, history_db):
    """Compare the pose in PHOTO with a reference pose: which joints differ and how to move them
    ("raise your left arm about 30 degrees higher", "turn your shoulders toward the camera",
    "raise your chin"), with both skeletons drawn over the photo.

    Example: dancenow coach photo me.jpg --reference pose.jpg -o photo_report/
    """
    from dancenow.coach.run import photo_to_report

    result, path, sid = photo_to_report(photo, output, reference, poses, reference_frame, mirror,
                                        _history_path(record_run, history_db))
    click.echo(f"score {result.score:.0f}/100; {len(result.differences)} difference(s)")
    for k, d in enumerate(result.differences, 1):
        click.echo(f"  {k}. {d.instruction} ({d.joint})")
    wrote(f"{path}, {path.with_name('pose.png')} and {path.with_suffix('.json')}", f" (history session {sid})" if sid else "")


@command("history", group=coach, outputs={"plot": guard.IMAGE, "csv_path": guard.CSV})
@click.option("--history-db", type=click.Path(dir_okay=False), default=None,
              help="History database (default: coach_history.sqlite in the user's data folder).")
@click.option("--exercise", default=None, help="Only this exercise (as recorded, e.g. squat).")
@click.option("--joint", default=None,
              help="Follow one joint's range of motion per session, e.g. left_shoulder (rehab: best and trend).")
@click.option("--last", type=click.IntRange(min=1), default=None, help="Only the last N sessions.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Write a PNG of progress over sessions.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None, help="Export one row per repetition as CSV.")
def history_cmd(history_db, exercise, joint, last, plot, csv_path):
    """Show progress over recorded sessions: repetitions, scores, and a joint's range of motion
    per session with its best and its trend; plot it and export CSV.

    Example: dancenow coach history --exercise arm-raise --joint left_shoulder --plot progress.png
    """
    from pathlib import Path

    from dancenow.coach.history import default_history_path
    from dancenow.coach.run import history_summary

    db = Path(history_db) if history_db else default_history_path()
    if db.is_file() and not guard.SQLITE.recognise(db):  # reading must not turn a stray file into a database
        raise DancenowError(f"{db} is not a history database (SQLite)")
    for line in history_summary(db, exercise, joint, plot, csv_path, last):
        click.echo(line)
