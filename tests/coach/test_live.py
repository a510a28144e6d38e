"""Live mode: the frame-by-frame coach counts like the offline analysis, the trailing
measures match the offline causal ones, and a session runs on a short clip without a display
(recording what it would show)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from dancenow.coach.exercise import analyze_exercise
from dancenow.coach.exercises import get_exercise
from dancenow.coach.live import ExerciseCoach, LiveConfig, run_live
from dancenow.coach.measures import MEASURES, LiveMeasures, measure_poses
from dancenow.errors import DancenowError
from dancenow.video import probe, write_video
from tests.coach.figures import FPS, jumping_jacks, squats


def test_live_measures_equal_the_offline_causal_ones():
    seq = squats([1.0, 0.7], yaw=30, noise_px=2.0)
    offline = measure_poses(seq, causal=True)
    live = LiveMeasures(seq.fps)
    for i, kp in enumerate(seq.keypoints):
        m = live.push(kp)
        for k in MEASURES:
            a, b = m[k][0], offline[k][i]
            assert (np.isnan(a) and np.isnan(b)) or abs(a - b) < 1e-6, (i, k, a, b)


def test_live_coach_counts_and_judges_like_the_offline_analysis():
    for seq, name in ((squats([1.0, 1.0, 0.7, 1.0], yaw=90, lean=55.0, noise_px=2.0), "squat"),
                      (jumping_jacks(8, period=0.8, noise_px=2.0), "jumping-jack")):
        ex = get_exercise(name)
        coach = ExerciseCoach(ex, FPS)
        counted = [r for kp in seq.keypoints if (r := coach.push(kp)) is not None]
        offline = analyze_exercise(seq, ex)
        assert [r.status for r in counted] == [r.status for r in offline.reps]
        assert [[c.status for c in r.checks] for r in counted] == [[c.status for c in r.checks] for r in offline.reps]


def test_the_live_coach_reports_side_only_faults():
    seq = squats([1.0, 1.0], yaw=90, lean=55.0)
    coach = ExerciseCoach(get_exercise("squat"), FPS)
    counted = [r for kp in seq.keypoints if (r := coach.push(kp)) is not None]
    assert [r.view for r in counted] == ["side", "side"]
    assert all([c.name for c in r.faults] == ["trunk_lean"] for r in counted)


def test_dance_ghost_scores_the_current_pose():
    from dancenow.coach.live import _DanceGhost
    from tests.coach.figures import body, film

    ref = film(body(30, arm=np.linspace(10, 170, 30)), noise_px=0.0)
    ghost = _DanceGhost(ref, FPS)
    img = np.zeros((480, 640, 3), np.uint8)
    assert ghost.draw(img, ref.keypoints[12], 12, 3, 30.0) > 99  # the same pose at the same time
    assert img.any()  # the ghost and the skeleton were drawn
    assert ghost.draw(img.copy(), ref.keypoints[29], 0, 3, 30.0) < 60  # arms overhead vs arms down
    assert np.isnan(ghost.draw(img.copy(), np.zeros_like(ref.keypoints[0]), 5, 3, 30.0))  # nobody


def _blank_clip(path, frames=24, size=(160, 120)):
    return write_video(path, (np.full((size[1], size[0], 3), 128, np.uint8) for _ in range(frames)), 12.0)


def test_runs_without_a_display_and_records(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    clip = _blank_clip(tmp_path / "clip.mp4")
    with pytest.raises(DancenowError, match="no display here: give --record"):
        run_live(clip, exercise=get_exercise("squat"))
    stats = run_live(clip, exercise=get_exercise("squat"), record=tmp_path / "out.mp4", config=LiveConfig(cues="sound"))
    assert stats.frames == 24 and stats.full == 0 and stats.poses is not None and len(stats.poses) == 24
    assert probe(tmp_path / "out.mp4").frame_count == 24
    from dancenow.cli import main

    res = CliRunner().invoke(main, ["coach", "live", "--exercise", "squat", "--source", str(clip),
                                    "--record", str(tmp_path / "cli.mp4")])
    assert res.exit_code == 0, res.output
    assert "24 frames" in res.output and (tmp_path / "cli.mp4").is_file()
    res = CliRunner().invoke(main, ["coach", "live", "--exercise", "squat", "--dance", str(clip), "--source", str(clip),
                                    "--record", str(tmp_path / "x.mp4")])
    assert res.exit_code == 1 and "one of --exercise" in res.output
    res = CliRunner().invoke(main, ["coach", "live", "--exercise", "squat", "--source", str(clip), "--no-window"])
    assert res.exit_code == 1 and "nothing would be shown or saved" in res.output
    # a dance reference: the ghost mode runs on the same clip (nobody in it: no score)
    from dancenow.posefile import save_poses
    from tests.coach.figures import squats

    save_poses(squats([1.0]), tmp_path / "dance.npz")
    res = CliRunner().invoke(main, ["coach", "live", "--dance", str(tmp_path / "dance.npz"), "--source", str(clip),
                                    "--record", str(tmp_path / "dance.mp4")])
    assert res.exit_code == 0, res.output
    assert probe(tmp_path / "dance.mp4").frame_count == 24


def test_live_on_real_squats_without_a_display(shared_data, tmp_path, monkeypatch):
    """The first 210 frames (~9 s) of the real air-squat clip: the two front-view squats are
    counted live, the recording has every frame, and the session lands in the history."""
    from dancenow.coach.history import History
    from dancenow.coach.run import live_session

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    clip = shared_data / "footage" / "t2_airsquat_white.mp4"
    stats, result, path, sid = live_session(clip, exercise="squat", record=tmp_path / "live.mp4",
                                            config=LiveConfig(max_frames=210), output=tmp_path / "rep",
                                            history=tmp_path / "h.sqlite")
    assert stats.frames == 210 and stats.full == 2 and stats.partial == 0
    assert result.full == 2 and path.is_file() and probe(tmp_path / "live.mp4").frame_count == 210
    with History(tmp_path / "h.sqlite") as h:
        assert [(s.kind, s.full_reps) for s in h.sessions()] == [("live", 2)]
