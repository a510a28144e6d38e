"""The coach's entry points, one per `dancenow coach` command: check every argument, read the
inputs (detecting poses in videos), analyse, write the report, and record the session in the
history database when asked. Nothing here prints; the commands print what these return."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from dancenow.coach.inputs import check_exists, check_file_output, check_output_dir, load_input
from dancenow.errors import DancenowError

log = logging.getLogger(__name__)


def _check_history(history: str | os.PathLike | None) -> None:
    if history is not None:
        check_file_output(history, "history database")


def _record(history: str | os.PathLike | None, session) -> int | None:
    if history is None:
        return None
    from dancenow.coach.history import History

    with History(history) as h:
        return h.record(session)


def dance_to_report(reference, attempt, output, config=None, reference_video=None, attempt_video=None,
                    openpose_fps: float | None = None, history=None):
    """`coach dance`: score an attempt against a reference dance (`score.coach`) into
    output/report.html and report.json. Returns (CoachResult, html path, session id or None)."""
    from dancenow.coach.history import Session
    from dancenow.coach.report import write_report
    from dancenow.coach.score import CoachConfig, coach

    for path, what in ((reference, "reference"), (attempt, "attempt"), (reference_video, "reference video"),
                       (attempt_video, "attempt video")):
        check_exists(path, what)
    check_output_dir(output)
    _check_history(history)
    config = config or CoachConfig()
    ref, ref_video = load_input(reference, reference_video, openpose_fps, "reference", output)
    att, att_video = load_input(attempt, attempt_video, openpose_fps, "attempt", output)
    result = coach(ref, att, config)
    path = write_report(result, output, reference_video=ref_video, attempt_video=att_video)
    sid = _record(history, Session("dance", Path(str(reference)).stem, str(Path(attempt).resolve()), score=result.score,
                                   duration_s=len(result.attempt) / result.fps,
                                   details={"part_scores": result.part_scores, "median_offset_s": result.median_offset_s}))
    return result, path, sid


def load_exercise(exercise: str | None, reference, openpose_fps: float | None, output):
    """The exercise to judge: a built-in one by name, or one learned from a reference repetition
    (a video, whose poses are then saved in `output`, or a pose file)."""
    from dancenow.coach.exercises import from_reference, get_exercise
    from dancenow.coach.measures import measure_poses

    if (exercise is None) == (reference is None):
        raise DancenowError("give --exercise NAME or --reference REP (one of the two)")
    if exercise is not None:
        return get_exercise(exercise)
    ref, _ = load_input(reference, None, openpose_fps, "reference", output)
    return from_reference(measure_poses(ref), Path(str(reference)).stem)


def exercise_to_report(video, output, exercise: str | None = None, reference=None, poses=None,
                       openpose_fps: float | None = None, history=None, config=None):
    """`coach exercise`: count and judge the repetitions in `video` (a video, a pose file, or a
    video whose poses are given as `poses`), write output/report.html and report.json, and
    record the session. Returns (ExerciseResult, html path, session id or None)."""
    from dancenow.coach.exercise import ExerciseConfig, analyze_exercise
    from dancenow.coach.exercise_report import write_exercise_report
    from dancenow.coach.exercises import get_exercise
    from dancenow.coach.history import session_from_exercise

    check_exists(video, "video")
    check_exists(poses, "poses")
    check_exists(reference, "reference")
    if exercise is not None:
        get_exercise(exercise)  # an unknown name fails before any work
    if (exercise is None) == (reference is None):
        raise DancenowError("give --exercise NAME or --reference REP (one of the two)")
    check_output_dir(output)
    _check_history(history)
    ex = load_exercise(exercise, reference, openpose_fps, output)
    if poses is not None:
        from dancenow.posefile import load_poses

        seq, frames = load_poses(poses, openpose_fps, None, video), video
    else:
        seq, frames = load_input(video, None, openpose_fps, "exercise", output)
    result = analyze_exercise(seq, ex, config or ExerciseConfig())
    path = write_exercise_report(result, output, frames)
    sid = _record(history, session_from_exercise(result, source=str(Path(video).resolve())))
    return result, path, sid


def history_summary(history, exercise: str | None = None, joint: str | None = None, plot=None, csv=None,
                    last: int | None = None) -> list[str]:
    """`coach history`: lines describing the recorded sessions (and a joint's range of motion
    per session, its best and its trend), optionally a plot (PNG) and a CSV export."""
    from dancenow.coach.history import History, format_sessions, plot_history
    from dancenow.coach.measures import LABELS

    path = Path(history)
    if not path.is_file():
        raise DancenowError(f"no history yet at {path} (record runs with --history)")
    if plot is not None:
        check_file_output(plot, "plot")
    if csv is not None:
        check_file_output(csv, "CSV export")
    lines = []
    with History(path) as h:
        sessions = h.sessions(exercise=exercise, last=last)
        if not sessions:
            raise DancenowError(f"no sessions recorded in {path}" + (f" for {exercise!r}" if exercise else ""))
        lines += format_sessions(sessions)
        jp = None
        if joint is not None:
            jp = h.joint_progress(joint, exercise)
            name = LABELS.get(joint, joint)
            lines.append("")
            lines.append(f"{name}: range of motion per session (the most reached in a repetition, degrees)")
            for sid, when, best, mean, n in jp.rows:
                lines.append(f"  session {sid:>4}  {when[:19].replace('T', ' ')}  max {best:6.1f}  mean {mean:6.1f}  ({n} reps)")
            trend = []
            if math.isfinite(jp.trend_per_week):
                trend.append(f"{jp.trend_per_week:+.1f} deg per week")
            if math.isfinite(jp.trend_per_session):
                trend.append(f"{jp.trend_per_session:+.1f} deg per session")
            lines.append(f"best {jp.best:.1f} deg on {jp.best_at[:10]}; trend "
                         + (", ".join(trend) if trend else "n/a (one session)"))
        if plot is not None:
            lines.append(f"wrote {plot_history(sessions, plot, jp)}")
        if csv is not None:
            lines.append(f"wrote {h.export_csv(csv, exercise)}")
    return lines


def _photo_poses(path, poses, what: str, frame: int = 0):
    """(one-frame poses, the image or None) of a photo (detected) or a pose file (`frame` of it)."""
    from dancenow.images import read_image
    from dancenow.posefile import is_pose_path, load_poses

    if poses is not None:
        if path is not None and is_pose_path(path):
            raise DancenowError(f"{what} {path} is a pose file or folder: give the photo itself with --poses "
                                "(its poses), or the pose file alone")
        seq = load_poses(poses)
        img = read_image(path) if path is not None else None
    elif is_pose_path(path):
        seq, img = load_poses(path), None
    else:
        from dancenow.coach.inputs import _body_only
        from dancenow.pose import detect_image

        img = read_image(path)
        seq = detect_image(img, _body_only())
    if not 0 <= frame < len(seq):
        raise DancenowError(f"{what}: frame {frame} is outside its {len(seq)} frame(s)")
    seq = seq.slice(frame, frame + 1)
    if not seq.present[0, :25].any():
        raise DancenowError(f"no person found in the {what} ({path})")
    return seq, img


def photo_to_report(photo, output, reference, poses=None, reference_frame: int = 0, mirror: bool = False,
                    history=None):
    """`coach photo`: the pose in `photo` against the `reference` pose (a photo, or a pose file
    and `reference_frame` of it): which joints differ and how to move them; writes
    output/pose.png, report.html and report.json. Returns (PhotoResult, html path, session id)."""
    from dancenow.coach.history import Session
    from dancenow.coach.photo import PhotoConfig, compare_pose, write_photo_report

    check_exists(photo, "photo")
    check_exists(poses, "poses")
    check_exists(reference, "reference")
    check_output_dir(output)
    _check_history(history)
    me, img = _photo_poses(photo, poses, "photo")
    ref, ref_img = _photo_poses(reference, None, "reference", reference_frame)
    result = compare_pose(me, ref, PhotoConfig(mirror=mirror))
    path = write_photo_report(result, output, img, ref_img)
    sid = _record(history, Session("photo", Path(str(reference)).stem, str(Path(photo).resolve()), score=result.score,
                                   details={"differences": [d.joint for d in result.differences]}))
    return result, path, sid


def live_session(source=None, camera: int | None = None, exercise: str | None = None, reference=None, dance=None,
                 record=None, show: bool | None = None, config=None, output=None, openpose_fps: float | None = None,
                 history=None):
    """`coach live`: coach from a camera (or a `source` video standing in for one) with an
    exercise (built-in or learned from a `reference` repetition) or a `dance` reference shown
    as a ghost. Afterwards, for an exercise, the whole session is analysed offline: a report in
    `output` (when given) and a history record (when asked). Returns (LiveStats, ExerciseResult
    or None, html path or None, session id or None)."""
    from dancenow.coach.exercise import ExerciseConfig, analyze_exercise
    from dancenow.coach.exercise_report import write_exercise_report
    from dancenow.coach.exercises import get_exercise
    from dancenow.coach.history import session_from_exercise
    from dancenow.coach.live import LiveConfig, run_live

    if sum(x is not None for x in (exercise, reference, dance)) != 1:
        raise DancenowError("give one of --exercise NAME, --reference REP or --dance REF")
    if source is not None and camera is not None:
        raise DancenowError("give a camera or a --source video, not both")
    check_exists(source, "source video")
    check_exists(reference, "reference")
    check_exists(dance, "dance reference")
    if exercise is not None:
        get_exercise(exercise)
    if record is not None:
        check_file_output(record, "recording")
    if output is not None:
        if dance is not None:
            raise DancenowError("-o writes an exercise report; a live dance has none (use --record)")
        check_output_dir(output)
    _check_history(history)
    ex = ref_dance = None
    if dance is not None:
        ref_dance, _ = load_input(dance, None, openpose_fps, "dance", None)
    else:
        ex = load_exercise(exercise, reference, openpose_fps, output)
    cam = camera if camera is not None or source is not None else 0  # no input named: the first camera
    stats = run_live(source, cam, ex, ref_dance, record, show, config or LiveConfig())
    result = path = sid = None
    if ex is not None and stats.poses is not None and len(stats.poses) >= 2 and (output is not None or history is not None):
        result = analyze_exercise(stats.poses, ex, ExerciseConfig())
        if output is not None:
            path = write_exercise_report(result, output, source)
        sid = _record(history, session_from_exercise(result, source=str(source or f"camera {camera or 0}"), kind="live"))
    return stats, result, path, sid
