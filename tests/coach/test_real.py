"""Real footage: repetition counts against counts made by watching the videos.

How the counts were made: contact sheets of the clips (every 4th frame of the air squats,
every 2nd of the jumping jacks, each labelled with its frame number) were looked at and each
repetition's end position noted, independently of the counter.

  t2_airsquat_white.mp4 (23.976 fps): 9 air squats, bottoms held at frames 56-76, 140-168
    (front view), 244-284, 348-392, 460-496, 568-600 (side view), 672-700, 756-784, 848-876
    (front view); cross-fades between the views near frames 192 and 624.
  t3_jumpingjacks_white.mp4 (29.97 fps): 19 jumping jacks from frame 72 (arms down) to about
    670, arms overhead near frames 88, 118, 150, 180, 209, 241 (front view), 278, 310, 341,
    371, 401, 431 (turned about 45 degrees), 471, 502, 532, 562, 593, 623, 654 (side-on).

Poses are detected at a reduced rate (12 and 15 fps) to keep the tests short; the counts are
the same at the clips' own rates (see bench/coach_real_counts.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from dancenow.coach.exercise import analyze_exercise
from dancenow.coach.exercises import get_exercise

SQUAT_BOTTOMS = [(56, 76), (140, 168), (244, 284), (348, 392), (460, 496), (568, 600), (672, 700), (756, 784), (848, 876)]
SQUAT_FPS = 24000 / 1001
JACK_PEAKS = [88, 118, 150, 180, 209, 241, 278, 310, 341, 371, 401, 431, 471, 502, 532, 562, 593, 623, 654]
JACK_FPS = 30000 / 1001


def _detect(path, fps):
    from dancenow.pose import PoseConfig, detect_video

    return detect_video(path, PoseConfig(face=False, hands=False), fps=fps, progress=False)


@pytest.fixture(scope="module")
def squat_result(shared_data):
    return analyze_exercise(_detect(shared_data / "footage" / "t2_airsquat_white.mp4", 12.0), get_exercise("squat"))


@pytest.fixture(scope="module")
def jack_result(shared_data):
    return analyze_exercise(_detect(shared_data / "footage" / "t3_jumpingjacks_white.mp4", 15.0),
                            get_exercise("jumping-jack"))


def test_air_squats_match_the_count_by_watching(squat_result):
    r = squat_result
    assert (r.full, r.partial, r.unfinished) == (9, 0, False)
    for rep, (a, b) in zip(r.reps, SQUAT_BOTTOMS):
        assert a / SQUAT_FPS - 0.3 <= rep.peak_s <= b / SQUAT_FPS + 0.3, (rep.number, rep.peak_s, a, b)
    assert [rep.view for rep in r.reps] == ["front"] * 2 + ["side"] * 4 + ["front"] * 3


def test_air_squat_table_is_plausible(squat_result):
    """A demonstration squat: about a second down, a held bottom, a faster way up; thighs at or
    below level; knees bent 100-140 degrees in the picture; the trunk judged only side-on."""
    for rep in squat_result.reps:
        assert 0.4 < rep.down_s < 1.5 and 0.4 < rep.hold_s < 1.6 and 0.3 < rep.up_s < 1.2, rep
        assert rep.depth_value < 0.05  # hips at or below knee height (leg lengths)
        assert 100 < rep.rom["knee_flexion"][1] < 140
        trunk = next(c for c in rep.checks if c.name == "trunk_lean")
        knees = next(c for c in rep.checks if c.name == "knees_in")
        if rep.view == "side":
            assert trunk.status == "ok" and 10 < trunk.value < 30 and knees.status == "cannot judge"
        else:
            assert trunk.status == "cannot judge" and knees.status == "ok"
    assert squat_result.score > 90


def test_jumping_jacks_match_the_count_by_watching(jack_result):
    r = jack_result
    assert (r.full, r.partial, r.unfinished) == (19, 0, False)
    peaks = np.array([rep.peak_s for rep in r.reps])
    assert np.abs(peaks - np.array(JACK_PEAKS) / JACK_FPS).max() < 0.2  # seconds
    views = [rep.view for rep in r.reps]
    assert views == ["front"] * 6 + ["oblique"] * 6 + ["side"] * 7
    for rep in r.reps:
        assert 0.1 <= rep.down_s <= 0.5 and rep.up_s <= 0.5  # about one jack a second
        arms = next(c for c in rep.checks if c.name == "arms_overhead")
        assert arms.status == ("cannot judge" if rep.view == "side" else "ok")
