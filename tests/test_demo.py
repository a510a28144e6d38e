"""`dancenow demo --quick` end to end: synthetic world -> detection -> training -> transfer."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dancenow.cli import main
from dancenow.posefile import load_poses
from dancenow.video import probe


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path):
    out = tmp_path / "demo"
    # a fixed, small step count: this checks the plumbing and outputs, not the picture quality
    r = CliRunner().invoke(main, ["demo", "--quick", "--steps", "60", "-o", str(out)])
    assert r.exit_code == 0, r.output
    metrics = json.loads((out / "metrics.json").read_text())
    src = probe(out / "source.mp4")
    for name in ("transfer_side_by_side.mp4", "transfer.mp4", "truth.mp4", "retrieval.mp4"):
        info = probe(out / name)
        assert info.frame_count == src.frame_count == metrics["frames"] == 120  # 4 s at 30 fps
        assert info.fps == pytest.approx(30.0)
    # the result is the target's whole frame, framed exactly like the truth
    assert probe(out / "transfer.mp4").size == probe(out / "truth.mp4").size == probe(out / "target.mp4").size
    assert tuple(metrics["frame_size"]) == probe(out / "truth.mp4").size
    assert len(load_poses(out / "truth_poses.npz")) == 120
    sbs = probe(out / "transfer_side_by_side.mp4")
    assert sbs.height >= 256 and sbs.width >= 3 * 256  # source | pose | result
    for who in ("ours", "retrieval"):
        m = metrics[who]
        assert 0.0 < m["ssim"] < 1.0 and 0.0 < m["person_ssim"] < 1.0 and m["psnr"] > 5.0
    assert metrics["flicker"]["truth"] > 0 and metrics["flicker"]["ratio"] > 0
    assert metrics["source_detected_fraction"] > 0.9  # the real detector on the rendered source
    assert (out / "sample.png").stat().st_size > 0 and "retrieval" in (out / "summary.md").read_text()
    # a second run may reuse the model instead of training again
    r = CliRunner().invoke(main, ["demo", "--quick", "--reuse", "-o", str(out)])
    assert r.exit_code == 0, r.output
    # or train again in the same folder (demo has no --resume, and needs none)
    r = CliRunner().invoke(main, ["demo", "--quick", "--steps", "3", "-o", str(out)])
    assert r.exit_code == 0 and "--resume" not in r.output, r.output
    assert json.loads((out / "metrics.json").read_text())["steps"] == 3
