"""Transfer: the streaming pipeline on a tiny (untrained) model, the CLI's errors, memory."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dancenow.cli import main
from tests.synth.helpers import tiny_plate_model
from dancenow.posefile import save_poses
from dancenow.keypoints import BODY
from dancenow.world import generate_dance, perform, render_frames
from dancenow.transfer import TransferConfig, TransferPipeline, hold_last_pose
from dancenow.video import probe, read_frames, write_video

SIZE = (96, 96)  # rendered video size, pixels


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A model directory exported as training would, with random weights: the pictures are
    meaningless but every step of transfer (normalization, crop, labels, face) is exercised."""
    return tiny_plate_model(tmp_path_factory.mktemp("transfer"), SIZE)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Another actor, another dance, as a video and its exact poses (2 s at 30 fps)."""
    d = tmp_path_factory.mktemp("source")
    perf = perform("ben", generate_dance(11, 2.0), SIZE)
    write_video(d / "source.mp4", render_frames("ben", perf), perf.poses.fps)
    save_poses(perf.poses, d / "source.npz")
    return d / "source.mp4", d / "source.npz", perf.poses


def test_pipeline_streams_one_frame_per_source_frame(tiny_model, source):
    from dancenow.synth.model import SynthModel

    _, _, poses = source
    model = SynthModel.load(tiny_model)
    out = list(TransferPipeline(model)(poses))
    assert len(out) == len(poses)
    w, h = model.image_size
    assert all(o.image.shape == (h, w, 3) and o.image.dtype == np.uint8 for o in out)
    # the result is the target video's whole frame, the person composited into the plate
    assert all(o.result.shape == (SIZE[1], SIZE[0], 3) for o in out)
    assert np.array_equal(out[0].result, model.crop.paste(out[0].image, out[0].alpha, model.plate_video))
    outside = np.ones(SIZE[::-1], bool)  # video pixels outside the crop box are the plate's
    c = model.crop
    outside[max(c.y0, 0):c.y0 + c.height, max(c.x0, 0):c.x0 + c.width] = False
    if outside.any():
        assert np.array_equal(out[0].result[outside], model.plate_video[outside])
    crop_only = next(iter(TransferPipeline(model, TransferConfig(crop=True))(poses)))
    assert crop_only.result.shape == (h, w, 3)
    # source stick figure | pose | result, all at least 256 px high
    assert out[0].side_by_side.shape[0] == 256 and out[0].side_by_side.shape[1] > 2 * 256
    # the normalized pose lands in the target's frame, near where the target's feet were
    stats = model.body_stats
    ankle_y = np.max(np.stack([o.keypoints[[11, 14], 1] for o in out]), axis=1)
    assert stats.far - 0.1 * stats.span <= np.median(ankle_y) <= stats.close + 0.1 * stats.span


def test_frames_without_a_person_reuse_the_last_pose(tiny_model, source):
    from dancenow.synth.model import SynthModel

    _, _, poses = source
    kp = poses.keypoints.copy()
    kp[[0, 10, 11, 12, 30]] = 0  # the dancer vanishes now and then (and at the very start)
    gappy = poses.replace(keypoints=kp)
    filled, n = hold_last_pose(gappy)
    assert n == 5
    assert np.array_equal(filled.keypoints[12], kp[9]) and np.array_equal(filled.keypoints[0], kp[1])
    out = list(TransferPipeline(SynthModel.load(tiny_model))(gappy))
    assert len(out) == len(poses)
    assert all((o.keypoints[BODY, 2] > 0).any() for o in out)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc to read the resident memory")
def test_memory_does_not_grow_with_the_source_length(tiny_model, source):
    """Bound: while streaming a 1-minute source (1800 frames at 30 fps), resident memory grows by
    less than 10 MB from frame 100 to the last frame. Keeping every output (result, label,
    composite: about 18 KB a frame at this size) would add about 30 MB. The source poses
    themselves (1800 x 137 x 3 floats, 3 MB) are prepared up front, before frame 0."""
    from dancenow.synth.model import SynthModel

    _, _, poses = source
    model = SynthModel.load(tiny_model)
    n = int(60 * poses.fps)
    reps = n // len(poses) + 1
    long = poses.replace(keypoints=np.concatenate([poses.keypoints] * reps)[:n])
    at_100 = None
    count = 0
    for step in TransferPipeline(model)(long):
        count += 1
        if count == 100:
            at_100 = _rss_mb()
    growth = _rss_mb() - at_100
    assert count == n
    assert growth < 10, f"resident memory grew {growth:.1f} MB over a 1-minute source"


def test_cli_transfer_video_and_poses_only(tiny_model, source, tmp_path):
    video, npz, poses = source
    out = tmp_path / "out.mp4"
    r = CliRunner().invoke(main, ["transfer", str(video), "--model", str(tiny_model), "-o", str(out),
                                  "--poses", str(npz), "--side-by-side"])
    assert r.exit_code == 0, r.output
    info = probe(out)
    assert info.frame_count == len(poses) and info.fps == pytest.approx(poses.fps) and info.height == 256
    out2 = tmp_path / "from_poses.mp4"
    r = CliRunner().invoke(main, ["transfer", str(npz), "--model", str(tiny_model), "-o", str(out2)])
    assert r.exit_code == 0, r.output
    assert probe(out2).size == SIZE and "whole frames" in r.output  # the target's framing
    out3 = tmp_path / "crop.mp4"
    r = CliRunner().invoke(main, ["transfer", str(npz), "--model", str(tiny_model), "-o", str(out3), "--crop"])
    assert r.exit_code == 0, r.output
    assert probe(out3).size == (32, 32)


def test_cli_bad_inputs_leave_nothing_behind(tiny_model, source, tmp_path):
    video, _, _ = source
    out = tmp_path / "out.mp4"
    r = CliRunner().invoke(main, ["transfer", str(video), "--model", str(tmp_path / "nope"), "-o", str(out)])
    assert r.exit_code != 0 and "Error:" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    r = CliRunner().invoke(main, ["transfer", str(fake), "--model", str(tiny_model), "-o", str(out)])
    assert r.exit_code != 0 and "fake.mp4" in r.output and "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == [fake]


def test_overlapped_and_serial_runs_give_identical_frames(tiny_model, source):
    """The threaded pipeline (label drawing and exemplar posing ahead of the generator,
    compositing behind it) changes when work is done, never what is made."""
    from dancenow.synth.model import SynthModel

    video, _, poses = source
    model = SynthModel.load(tiny_model)
    runs = {overlap: list(TransferPipeline(model, TransferConfig(overlap=overlap))(poses, read_frames(video)))
            for overlap in (False, True)}
    assert len(runs[True]) == len(runs[False]) == len(poses)
    for a, b in zip(runs[False], runs[True]):
        assert a.index == b.index
        np.testing.assert_array_equal(a.result, b.result)
        np.testing.assert_array_equal(a.label, b.label)
        np.testing.assert_array_equal(a.source, b.source)


def test_overlapped_stages_keep_order_and_raise_errors():
    from dancenow.overlap import overlapped

    assert list(overlapped(range(50), [lambda x: x + 1, lambda x: x * 2])) == [(x + 1) * 2 for x in range(50)]

    def boom(x):
        if x == 7:
            raise ValueError("frame 7")
        return x

    with pytest.raises(ValueError, match="frame 7"):
        list(overlapped(range(20), [boom, lambda x: x]))
    it = overlapped(range(10**6), [lambda x: x])  # stopping early stops the threads
    assert next(it) == 0
    it.close()


def test_a_worker_computes_beside_its_caller_one_item_at_a_time_and_raises_its_errors():
    import threading

    from dancenow.overlap import Worker

    gate = threading.Event()

    def slow_double(x):
        gate.wait(5.0)
        if x == "boom":
            raise ValueError("bad item")
        return 2 * x

    with Worker(slow_double) as w:
        assert w.idle and w.take() is Worker.NOTHING
        w.submit(21)
        assert not w.idle and w.take() is Worker.NOTHING  # the caller does not wait for it
        with pytest.raises(RuntimeError, match="busy"):
            w.submit(1)
        gate.set()
        for _ in range(500):
            if w.idle:
                break
            threading.Event().wait(0.01)
        assert w.take() == 42 and w.take() is Worker.NOTHING  # a result is taken once
        w.submit("boom")
        for _ in range(500):
            if w.idle:
                break
            threading.Event().wait(0.01)
        with pytest.raises(ValueError, match="bad item"):
            w.take()


def test_snap_moves_what_the_model_draws_toward_the_targets_own_poses(tiny_model, source):
    """The drawn pose (the label) is pulled toward the model's bank poses; the reported
    keypoints stay the mapped pose (what retrieval and scoring compare); snap 0 draws the mapped
    pose itself."""
    from dancenow.synth.model import SynthModel

    _, _, poses = source
    model = SynthModel.load(tiny_model)
    off = list(TransferPipeline(model, TransferConfig(snap=0.0, overlap=False))(poses))
    on = list(TransferPipeline(model, TransferConfig(snap=1.0, overlap=False))(poses))
    assert all(np.array_equal(a.keypoints, b.keypoints) for a, b in zip(off, on))
    size = (model.body_stats.width, model.body_stats.height)
    assert all(np.array_equal(a.label, model.label_image(a.keypoints, size)) for a in off)
    drawn = model.snap_poses(np.stack([o.keypoints for o in on]), size, 1.0)
    assert all(np.array_equal(o.label, model.label_image(k, size)) for o, k in zip(on, drawn))
    # a pose one pixel off a bank pose (in target-video pixels) is drawn on it
    from dancenow.keypoints import body_height

    own = model.crop.to_video(model.bank.keypoints[:1])
    near = own.copy()
    near[..., 0] = np.where(own[..., 2] > 0, own[..., 0] + 0.02 * body_height(own)[0], 0.0)
    got = model.snap_poses(near, size, 1.0)
    seen = own[0, :, 2] > 0
    np.testing.assert_allclose(got[0, seen, :2], own[0, seen, :2], atol=0.05)
