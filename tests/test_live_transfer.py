"""The live mirror (`dancenow live`) on a short clip standing in for the camera, with no display:
detection, normalization fitted then held, generation, the recorded you | target video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dancenow.cli import main
from tests.synth.helpers import tiny_plate_model
from dancenow.video import probe, read_frames, write_video
from dancenow.world import generate_dance, perform, render_frames

PANEL = 256  # pixels: the height of the recorded window


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A 32x32 model with a plate and exemplars, random weights (every stage runs, the
    pictures mean nothing)."""
    return tiny_plate_model(tmp_path_factory.mktemp("live"), (96, 96))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A dancer of the synthetic world, 1 s at 30 fps, 320x240 (a small camera)."""
    d = tmp_path_factory.mktemp("clip")
    perf = perform("ben", generate_dance(11, 1.0), (320, 240))
    return write_video(d / "me.mp4", render_frames("ben", perf), perf.poses.fps)


def test_live_records_you_and_the_target_without_a_display(tiny_model, clip, tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    out = tmp_path / "mirror.mp4"
    r = CliRunner().invoke(main, ["live", "--model", str(tiny_model), "--source", str(clip), "--record", str(out),
                                  "--max-frames", "12", "--body-only"])
    assert r.exit_code == 0, r.output
    assert "frames/s" in r.output and out.is_file()
    info = probe(out)
    assert info.frame_count == 12
    you_w = round(320 * PANEL / 240)
    assert info.size[1] == PANEL and info.size[0] > you_w  # you | target side by side
    shown = next(iter(read_frames(out)))
    me = next(iter(read_frames(clip)))
    import cv2

    left = shown[:, :you_w].astype(np.float32)
    expect = cv2.resize(me, (you_w, PANEL), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    assert np.abs(left[40:] - expect[40:]).mean() < 12  # grey levels: the left panel is the camera (caption aside)
    assert shown[:, you_w:].std() > 1  # something is drawn on the right


def test_live_without_a_display_or_record_is_one_line(tiny_model, clip, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    r = CliRunner().invoke(main, ["live", "--model", str(tiny_model), "--source", str(clip), "--max-frames", "2"])
    assert r.exit_code != 0
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "no display" in errors[0] and "--record" in errors[0]


def test_live_normalizer_fits_then_holds():
    from dancenow.live import LiveNormalizer
    from dancenow.normalize import fit_stats

    perf = perform("ben", generate_dance(5, 2.0), (320, 240))
    seq = perf.poses
    target = fit_stats(seq)
    norm = LiveNormalizer(target, (320, 240), seq.fps, fit_frames=10)
    outs = [norm(k) for k in seq.keypoints]
    assert len(norm.seen) == 10  # fitted on the first 10 frames, then held
    held = norm.stats
    norm(seq.keypoints[-1])
    assert norm.stats is held
    assert all(o.shape == seq.keypoints[0].shape for o in outs)
    assert np.isfinite(np.stack(outs)).all()
