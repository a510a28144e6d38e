"""Exercise mode: exact repetition counts on generated sequences (pauses, jitter, partial and
slow repetitions, missing poses), the camera view, form checks that only one view can see,
repetitions learned from a reference, the report and the command."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from dancenow.coach.exercise import analyze_exercise
from dancenow.coach.exercise_report import write_exercise_report
from dancenow.coach.exercises import EXERCISES, from_reference, get_exercise
from dancenow.coach.measures import measure_poses
from dancenow.coach.reps import CountConfig, RepCounter
from dancenow.errors import DancenowError
from dancenow.posefile import save_poses
from tests.coach.figures import FPS, body, film, jumping_jacks, lunges, pushups, reps, schedule, squats

SQUAT = get_exercise("squat")


def _count(seq, ex=SQUAT):
    r = analyze_exercise(seq, ex)
    return r, [rep.status for rep in r.reps]


# ----------------------------------------------------------------------------- counting

def test_plain_squats_are_counted_from_the_front_and_from_the_side():
    for yaw in (0, 90):
        r, status = _count(squats([1.0] * 5, yaw=yaw, seed=yaw))
        assert status == ["full"] * 5, yaw
        assert r.full == 5 and r.partial == 0 and not r.unfinished


def test_pauses_jitter_partial_and_a_slow_last_rep_count_exactly():
    segments = (reps([1.0])  # 1: plain
                + [(1.0, 0, 1.0), (2.5, 1.0, 1.0), (1.0, 1.0, 0), (0.8, 0, 0)]  # 2: a long pause at the bottom
                + [(0.6, 0, 0.5), (1.5, 0.5, 0.5), (0.6, 0.5, 1.0), (0.3, 1, 1), (1.0, 1.0, 0), (0.8, 0, 0)]  # 3: pause half-way down
                + [(0.6, 0, 1.0), (0.3, 1.0, 0.85), (0.3, 0.85, 1.0), (1.0, 1.0, 0), (0.8, 0, 0)]  # 4: a bounce at the bottom
                + reps([0.7])[1:]  # 5: partial, half the hip drop
                + [(5.0, 0, 1.0), (1.0, 1.0, 1.0), (5.0, 1.0, 0), (1.0, 0, 0)])  # 6: slow last rep
    seq = squats(None, segments=segments, noise_px=3.0, seed=3)  # 3 px jitter on a body ~350 px tall
    r, status = _count(seq)
    assert status == ["full", "full", "full", "full", "partial", "full"]
    assert r.full == 5 and r.partial == 1
    slow, plain = r.reps[-1], r.reps[0]
    assert slow.down_s > 3 * plain.down_s and slow.up_s > 3 * plain.up_s  # the slow rep's tempo is measured
    assert 2.0 < r.reps[1].hold_s < 3.2  # seconds at the bottom (the 2.5 s pause)
    assert 0.45 < r.reps[4].depth < 0.65  # the partial rep went half way


def test_jitter_and_tiny_movements_are_not_reps():
    still = film(body(int(10 * FPS)), noise_px=4.0, seed=1)
    assert _count(still)[0].reps == ()
    small = squats(None, segments=reps([0.25] * 4), noise_px=2.0, seed=2)  # quarter-depth bobs
    assert _count(small)[0].reps == ()


def test_missing_poses_mid_rep_do_not_split_or_lose_it():
    s = schedule(reps([1.0] * 3))
    missing = np.zeros(len(s), bool)
    missing[70:79] = True  # 0.3 s without a pose on the way down of rep 1
    missing[150:154] = True
    seq = film(body(len(s), squat=s, arm=100.0, arm_plane="front"), noise_px=1.0, missing=missing)
    assert _count(seq)[1] == ["full"] * 3


def test_a_clip_ending_mid_rep_is_not_counted():
    s = schedule(reps([1.0, 1.0]) + [(1.0, 0, 1.0)])
    r, status = _count(film(body(len(s), squat=s)))
    assert status == ["full", "full"] and r.unfinished
    assert any("ends during a repetition" in n for n in r.notes)


def test_fast_jumping_jacks_from_three_views():
    for yaw in (0, 55, 90):
        r, status = _count(jumping_jacks(12, period=0.7, yaw=yaw, noise_px=2.0, seed=yaw), EXERCISES["jumping-jack"])
        assert status == ["full"] * 12, yaw


def test_live_counter_agrees_with_the_offline_count():
    seq = squats([1.0, 0.7, 1.0], noise_px=2.0)
    r = analyze_exercise(seq, SQUAT)
    counter = RepCounter(FPS, SQUAT.count)
    counted = [i for i, p in enumerate(r.progress) if counter.push(float(p)) is not None]
    assert len(counted) == len(r.reps) == 3
    # counted on the way back up, after the deepest point
    assert all(c > rep.frames.peak for c, rep in zip(counted, r.reps))


def test_count_config_is_validated():
    with pytest.raises(DancenowError, match="delta"):
        CountConfig(delta=0)


# ----------------------------------------------------------------------------- views and checks

def test_the_view_is_read_from_the_shoulders():
    views = {yaw: analyze_exercise(squats([1.0], yaw=yaw), SQUAT).reps[0].view for yaw in (0, 60, 90, 180)}
    assert views == {0: "front", 60: "oblique", 90: "side", 180: "front"}  # 180: facing away looks like facing


def _check(rep, name):
    return next(c for c in rep.checks if c.name == name)


def test_a_side_only_fault_is_not_judgeable_from_the_front():
    """Chest dropping forward (trunk 60 deg past upright at the bottom): the side view sees it,
    the front view cannot (the lean points at the camera) and must say so, not pass it."""
    side = analyze_exercise(squats([1.0] * 2, yaw=90, lean=55.0), SQUAT)
    front = analyze_exercise(squats([1.0] * 2, yaw=0, lean=55.0), SQUAT)
    for rep in side.reps:
        c = _check(rep, "trunk_lean")
        assert c.status == "fault" and c.value > 45 and "chest drops forward" in c.text
    for rep in front.reps:
        c = _check(rep, "trunk_lean")
        assert c.status == "cannot judge" and c.value is None
        assert "cannot judge from a front view" in c.text and "points at the camera" in c.text
        assert rep.faults == ()  # nothing else is wrong with these squats
    assert front.reps[0].score == 100.0 and side.reps[0].score == 85.0  # the side view's fault costs its penalty
    # and a clean squat from the side passes the same check
    assert _check(analyze_exercise(squats([1.0], yaw=90), SQUAT).reps[0], "trunk_lean").status == "ok"


def test_knees_caving_in_is_seen_from_the_front_only():
    front = analyze_exercise(squats([1.0], yaw=0, knee_out=-0.12), SQUAT).reps[0]
    side = analyze_exercise(squats([1.0], yaw=90, knee_out=-0.12), SQUAT).reps[0]
    good = analyze_exercise(squats([1.0], yaw=0, knee_out=0.05), SQUAT).reps[0]
    assert _check(front, "knees_in").status == "fault" and "knees cave in" in _check(front, "knees_in").text
    assert _check(side, "knees_in").status == "cannot judge" and "from a side view" in _check(side, "knees_in").text
    assert _check(good, "knees_in").status == "ok"


def test_shallow_squats_are_partial_or_shallow_and_uneven_hips_show_from_the_front():
    r = analyze_exercise(squats([0.85] * 2, yaw=90), SQUAT)
    assert [rep.status for rep in r.reps] == ["full", "full"]  # 80% of the hip drop counts...
    assert all(_check(rep, "depth").status == "fault" for rep in r.reps)  # ...but the hips stayed above the knees
    assert r.reps[0].depth_value > 0.05
    uneven = analyze_exercise(squats([1.0], yaw=0, hip_shift=0.06), SQUAT).reps[0]
    assert _check(uneven, "hips_level").status == "fault"


def test_jumping_jack_arms_and_feet():
    low = analyze_exercise(jumping_jacks(3, arm_top=120, spread=0.1), EXERCISES["jumping-jack"])
    assert [rep.status for rep in low.reps] == ["full"] * 3  # 120 of 150 deg is past the partial line
    faults = {c.name for c in low.reps[0].faults}
    assert faults == {"arms_overhead", "feet_apart"}
    side = analyze_exercise(jumping_jacks(3, arm_top=120, spread=0.1, yaw=90), EXERCISES["jumping-jack"]).reps[0]
    # from the side, arms raised sideways look straight up past shoulder height: not judged
    assert side.faults == ()
    assert _check(side, "feet_apart").status == "cannot judge" and _check(side, "arms_overhead").status == "cannot judge"


def test_lunges_count_and_the_trunk_is_judged_side_on_only():
    ex = EXERCISES["lunge"]
    side = analyze_exercise(lunges([1.0, 1.0, 1.0, 0.6], lean=40.0), ex)
    assert [r.status for r in side.reps] == ["full", "full", "full", "partial"]
    assert all(_check(r, "trunk_lean").status == "fault" for r in side.reps[:3])
    front = analyze_exercise(lunges([1.0, 1.0], lean=40.0, yaw=0), ex)
    assert [r.status for r in front.reps] == ["full", "full"]
    assert all(_check(r, "trunk_lean").status == "cannot judge" and _check(r, "depth").status == "cannot judge"
               for r in front.reps)
    assert all(_check(r, "trunk_lean").status == "ok" for r in analyze_exercise(lunges([1.0]), ex).reps)


def test_push_ups_from_both_sides_and_the_body_line():
    ex = EXERCISES["push-up"]
    for yaw in (90, 0):  # counted on the shoulders' drop: it shows from the side and the front
        r = analyze_exercise(pushups([1.0, 1.0, 0.75, 1.0], yaw=yaw), ex)
        assert [rep.status for rep in r.reps] == ["full", "full", "partial", "full"], yaw
    sag = analyze_exercise(pushups([1.0, 1.0], sag=0.2), ex).reps
    pike = analyze_exercise(pushups([1.0, 1.0], sag=-0.2), ex).reps
    assert [c.name for r in sag for c in r.faults] == ["hips_sag"] * 2
    assert [c.name for r in pike for c in r.faults] == ["hips_pike"] * 2
    front = analyze_exercise(pushups([1.0], sag=0.2, yaw=0), ex).reps[0]
    assert _check(front, "hips_sag").status == "cannot judge" and front.faults == ()


def test_arm_raises_built_in():
    ex = EXERCISES["arm-raise"]
    r = analyze_exercise(_arm_raises([1.0, 1.0, 0.5, 1.2]), ex)
    assert [rep.status for rep in r.reps] == ["full", "full", "partial", "full"]
    assert _check(r.reps[2], "height").status == "fault" and r.reps[0].faults == ()
    assert 95 < r.reps[3].rom["left_shoulder"][1] < 110  # degrees: the 1.2 raise reaches 106
    bent = analyze_exercise(_arm_raises([1.0], elbow=50.0), ex).reps[0]
    assert [c.name for c in bent.faults] == ["elbows"]
    side = analyze_exercise(_arm_raises([1.0, 1.0], yaw=90), ex).reps[0]
    assert _check(side, "height").status == "cannot judge" and "look straight up" in _check(side, "height").text


# ----------------------------------------------------------------------------- learned from a reference

def _arm_raises(tops, yaw=0.0, elbow=5.0, seed=0, left=None):
    a = schedule(reps(tops, down=1.0, up=1.0))
    arm = 10 + 80 * a
    return film(body(len(a), arm=arm, arm_plane="side", elbow=elbow, arm_left=left(a) if left else None),
                yaw, 1.0, seed)


def test_an_exercise_learned_from_one_repetition():
    ref = _arm_raises([1.0], seed=1)  # one lateral raise to shoulder height, filmed from the front
    ex = from_reference(measure_poses(ref))
    assert {p.measure for p in ex.signals[0].parts} == {"left_shoulder", "right_shoulder"}
    assert ex.reference_view == "front"
    r = analyze_exercise(_arm_raises([1.0, 1.0, 0.55, 1.0], seed=2), ex)
    assert [rep.status for rep in r.reps] == ["full", "full", "partial", "full"]
    assert all(not rep.faults for i, rep in enumerate(r.reps) if i != 2)
    # bent elbows at the top: the elbow differs from the reference's
    bent = analyze_exercise(_arm_raises([1.0, 1.0], elbow=60.0, seed=3), ex)
    names = {c.name for rep in bent.reps for c in rep.faults}
    assert names == {"pose_left_elbow", "pose_right_elbow"}
    assert re.search(r"left elbow flexion 6\d deg at the end position, the reference \d \(\+5\d\)", bent.reps[0].faults[0].text)
    # filmed from the side, the reference's front-view pose cannot be judged
    side = analyze_exercise(_arm_raises([1.0, 1.0], yaw=90, seed=4), from_reference(measure_poses(ref)))
    assert all(c.status == "cannot judge" for rep in side.reps for c in rep.checks)
    assert any("filmed from the front" in n for n in side.notes)


def test_a_reference_without_movement_is_refused():
    with pytest.raises(DancenowError, match="nothing moves"):
        from_reference(measure_poses(film(body(60), noise_px=0.5)))


# ----------------------------------------------------------------------------- report and command

def test_report_is_self_contained_with_a_row_per_rep(tmp_path):
    seq = squats([1.0, 0.7, 1.0], yaw=90, lean=55.0)
    r = analyze_exercise(seq, SQUAT)
    frames = (np.full((240, 320, 3), 200, np.uint8) for _ in range(len(seq)))  # half-size stand-in video
    path = write_exercise_report(r, tmp_path / "rep", frames)
    page = path.read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page  # nothing to fetch
    assert page.count('src="data:image/png;base64,') == 3 + 3  # three plots, one still per rep
    assert page.count("<tr") == 1 + 3  # header + one row per repetition
    assert "chest drops forward" in page and "knees caving in</b>, reps 1, 2, 3: cannot judge from a side view" in page
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert [x["status"] for x in data["reps"]] == ["full", "partial", "full"]
    assert data["reps"][0]["checks"][1]["status"] == "fault" and len(data["progress"]) == len(seq)


def test_cli_exercise_and_history(tmp_path):
    from dancenow.cli import main

    save_poses(squats([1.0, 1.0, 0.7]), tmp_path / "squats.npz")
    db = tmp_path / "h" / "history.sqlite"
    run = CliRunner().invoke
    res = run(main, ["coach", "exercise", str(tmp_path / "squats.npz"), "--exercise", "squat", "-o", str(tmp_path / "r"),
                     "--history-db", str(db)])
    assert res.exit_code == 0, res.output
    assert "2 squat reps + 1 partial" in res.output and (tmp_path / "r" / "report.html").is_file()
    res = run(main, ["coach", "history", "--history-db", str(db), "--joint", "knee_flexion", "--csv", str(tmp_path / "h.csv")])
    assert res.exit_code == 0, res.output
    assert "squat" in res.output and "knee flexion: range of motion per session" in res.output
    assert len((tmp_path / "h.csv").read_text().splitlines()) == 1 + 3
    # bad input: one line, exit 1, nothing written
    for args, msg in ((["--exercise", "squat", "--reference", str(tmp_path / "squats.npz")], "one of the two"),
                      (["--exercise", "squat", "--poses", str(tmp_path / "nope.npz")], "poses not found")):
        res = run(main, ["coach", "exercise", str(tmp_path / "squats.npz"), *args, "-o", str(tmp_path / "bad")])
        assert res.exit_code == 1 and msg in res.output and "Traceback" not in res.output
        assert not (tmp_path / "bad").exists()
