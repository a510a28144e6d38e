"""The coach's command: `coach`."""

from __future__ import annotations

import click

from dancenow import guard
from dancenow.commands import POSITIVE, SECONDS, command, wrote


@command("coach", outputs={"output": guard.REPORT_DIR})
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
def coach_cmd(reference, attempt, output, mirror, lr_invariant, reference_video, attempt_video, openpose_fps, sections,
              section_seconds, band_seconds):
    """Score a learner's ATTEMPT against a REFERENCE dance: time-aligned (being late is not being
    wrong), per joint angle (elbows, knees, shoulders, hips, trunk lean), per body part and per
    section, with tips, into an HTML report and JSON. Each input is a video (poses are
    detected), a .npz pose file or an OpenPose JSON folder.

    Example: dancenow coach teacher.mp4 me.mp4 -o report/ --mirror
    """
    from dancenow.coach import CoachConfig, coach, write_report
    from dancenow.coach.inputs import load_input

    config = CoachConfig(mirror=mirror, lr_invariant=lr_invariant, sections=sections, section_seconds=section_seconds,
                         band_seconds=band_seconds, progress=True)
    ref, ref_video = load_input(reference, reference_video, openpose_fps, "reference", output)
    att, att_video = load_input(attempt, attempt_video, openpose_fps, "attempt", output)
    result = coach(ref, att, config)
    path = write_report(result, output, reference_video=ref_video, attempt_video=att_video)
    click.echo(f"score {result.score:.0f}/100; typical timing {result.median_offset_s:+.2f} s (+ = late)")
    for tip in result.tips:
        click.echo(f"  - {tip.text}")
    wrote(f"{path} and {path.with_suffix('.json')}")
