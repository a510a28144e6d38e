"""The choreography commands end to end, their one-line errors, and training from a real video."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dancenow.cli import main

from .helpers import synthetic_dance


def _train_args(styles_dir, out, *extra):
    return ["choreo", "train", str(styles_dir / "up0.npz"), "--style", "up", "--add", "down", str(styles_dir / "down*.npz"),
            "-o", str(out), "--preset", "quick", "--steps", "3", "--threads", "1", "-q", *extra]


def test_cli_train_generate_evaluate_live(styles_dir, tmp_path):
    from dancenow.posefile import load_poses, save_poses
    from dancenow.render import render_sequence
    from dancenow.video import write_video

    r = CliRunner()
    model = tmp_path / "model"
    res = r.invoke(main, _train_args(styles_dir, model))
    assert res.exit_code == 0, res.output
    res = r.invoke(main, ["choreo", "generate", "--model", str(model), "--prime", str(styles_dir / "up1.npz"),
                          "--seconds", "1", "--style", "up=0.7,down=0.3", "-o", str(tmp_path / "d.npz"),
                          "-o", str(tmp_path / "d.mp4"), "--size", "128x128"])
    assert res.exit_code == 0, res.output
    assert "frames/s" in res.output and (tmp_path / "d.mp4").stat().st_size > 0
    seq = load_poses(tmp_path / "d.npz")
    assert seq.size == (128, 128) and len(seq) == 60  # 1 s seed + 1 s generated at 30 fps
    res = r.invoke(main, ["choreo", "evaluate", str(styles_dir / "up1.npz"), "--model", str(model), "--style", "up",
                          "--health-seconds", "2", "-o", str(tmp_path / "rep.json")])
    assert res.exit_code == 0, res.output
    assert "damped velocity" in res.output and json.loads((tmp_path / "rep.json").read_text())["forecast"]["windows"] > 0
    poses = synthetic_dance(0.5, seconds=1.5)
    write_video(tmp_path / "v.mp4", render_sequence(poses, (160, 120)), 30.0)
    save_poses(poses.replace(keypoints=poses.keypoints * [0.25, 0.25, 1], width=160, height=120), tmp_path / "v.npz")
    res = r.invoke(main, ["choreo", "live", "--model", str(model), "--source", str(tmp_path / "v.mp4"), "--poses",
                          str(tmp_path / "v.npz"), "--no-window", "--record", str(tmp_path / "live.mp4")])
    assert res.exit_code == 0, res.output
    assert "forecasts" in res.output and (tmp_path / "live.mp4").stat().st_size > 0


@pytest.mark.parametrize("extra, message", [
    (["--threads", "-1"], "threads"),
    (["--device", "bogus"], "bogus"),
    (["--steps", "0"], "steps"),
    (["--steps", "100000000"], "steps"),
])
def test_train_refuses_bad_numbers_before_writing(styles_dir, tmp_path, extra, message):
    res = CliRunner().invoke(main, _train_args(styles_dir, tmp_path / "m", *extra))
    assert res.exit_code != 0 and message in res.output, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in res.output
    assert not (tmp_path / "m").exists()


def test_train_config_file_is_checked(styles_dir, tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"preset": "quick", "model": {"hidden": 0}}))
    res = CliRunner().invoke(main, _train_args(styles_dir, tmp_path / "m", "--config", str(cfg)))
    assert res.exit_code == 1 and "model.hidden" in res.output and not (tmp_path / "m").exists()
    cfg.write_text('{"preset": "quick", "lr": NaN}')
    res = CliRunner().invoke(main, _train_args(styles_dir, tmp_path / "m", "--config", str(cfg)))
    assert res.exit_code == 1 and "train.lr" in res.output and not (tmp_path / "m").exists()


def test_generate_bounds_and_unknown_styles(styles_dir, tmp_path):
    r = CliRunner()
    assert r.invoke(main, _train_args(styles_dir, tmp_path / "m")).exit_code == 0
    res = r.invoke(main, ["choreo", "generate", "--model", str(tmp_path / "m"), "--seconds", "1e7", "-o", str(tmp_path / "x.npz")])
    assert res.exit_code != 0 and "14400" in res.output and not (tmp_path / "x.npz").exists()
    res = r.invoke(main, ["choreo", "generate", "--model", str(tmp_path / "m"), "--style", "salsa", "-o", str(tmp_path / "x.npz")])
    assert res.exit_code == 1 and "unknown style 'salsa'" in res.output and not (tmp_path / "x.npz").exists()


def test_train_from_a_real_dance_video(shared_data, tmp_path):
    """`choreo train dance.mp4 --style me`: poses detected with the pose stage, a 2D model
    trained, and it generates (2 s of a real street-dance clip)."""
    from dancenow.choreo.checkpoint import load_model
    from dancenow.video import read_frames, write_video

    src = shared_data / "footage" / "s1_streetdance_outdoor.mp4"
    frames = [f for _, f in zip(range(60), read_frames(src))]
    write_video(tmp_path / "dance.mp4", frames, 29.97)
    r = CliRunner()
    res = r.invoke(main, ["choreo", "train", str(tmp_path / "dance.mp4"), "--style", "me", "-o", str(tmp_path / "m"),
                          "--preset", "quick", "--steps", "3", "--threads", "1", "-q"])
    assert res.exit_code == 0, res.output
    model, info = load_model(tmp_path / "m")
    assert info["dims"] == 2 and model.config.styles == ["any", "me"]
    assert info["clips"][0][2] >= 55  # the dancer was found in (nearly) every one of the 60 frames
    res = r.invoke(main, ["choreo", "generate", "--model", str(tmp_path / "m"), "--prime", str(tmp_path / "dance.mp4"),
                          "--seconds", "2", "--style", "me", "-o", str(tmp_path / "g.npz")])
    assert res.exit_code == 0, res.output
