"""The coach: score a learner's attempt against a reference, time-aligned, per joint.

    from dancenow.coach import coach, write_report, CoachConfig
    result = coach(reference_poses, attempt_poses, CoachConfig(mirror=True))
    print(result.score, [t.text for t in result.tips])
    write_report(result, "report/", reference_video="ref.mp4", attempt_video="me.mp4")

Exercise mode (`dancenow coach exercise`):

    from dancenow.coach.exercise import analyze_exercise
    from dancenow.coach.exercises import get_exercise
    result = analyze_exercise(poses, get_exercise("squat"))   # or exercises.from_reference(...)

Modules. Dance: `features` (body-frame positions, limb directions, joint angles), `align`
(banded DTW and the timing offset), `score` (`coach`, `CoachConfig` and the result
dataclasses), `report` (HTML with embedded plot and stills, and JSON). Exercise: `measures`
(view-independent measures and the camera view per frame), `reps` (the repetition counter),
`exercises` (built-in exercises, form checks and the views that see them, learning from a
reference repetition), `exercise` (per-repetition analysis), `exercise_report`. Also `live`
(live coaching), `photo` (a photo against a reference pose), `history` (SQLite progress over
sessions), `page` (what the HTML pages share), `inputs` and `run` (the commands' entry points).
"""

from dancenow.coach.align import Alignment, align, dtw
from dancenow.coach.features import ANGLE_NAMES, ANGLES, BODY_PARTS, PoseFeatures, pose_features, resample
from dancenow.coach.report import write_report
from dancenow.coach.score import CoachConfig, CoachResult, JointError, Moment, SectionScore, Tip, coach

__all__ = [
    "ANGLES", "ANGLE_NAMES", "BODY_PARTS", "Alignment", "CoachConfig", "CoachResult", "JointError", "Moment",
    "PoseFeatures", "SectionScore", "Tip", "align", "coach", "dtw", "pose_features", "resample", "write_report",
]
