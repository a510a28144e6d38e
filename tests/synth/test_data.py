"""Data preparation and reading: the fixed crop, prepare's cache and re-run, batches, the
epoch sampler (runtime budget: 10 s)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dancenow.errors import DancenowError
from dancenow.keypoints import FACE, PoseSequence
from dancenow.render import render_label
from dancenow.synth.data import EpochSampler, SynthData
from dancenow.synth.geometry import Crop, face_boxes
from dancenow.synth.prepare import prepare

from .helpers import tiny_frames, tiny_poses


def test_crop_is_one_affine_map_both_ways(rng):
    crop = Crop(x0=-10, y0=20, width=200, height=100, src_width=320, src_height=240, out_width=64, out_height=32)
    kp = np.zeros((5, 137, 3), np.float32)
    kp[..., :2] = rng.uniform(0, 300, (5, 137, 2))
    kp[..., 2] = 1.0
    kp[0, 3] = 0  # a missing keypoint stays missing
    back = crop.to_video(crop.to_model(kp))
    assert np.abs(back - kp).max() < 1e-3  # pixels
    assert np.all(crop.to_model(kp)[0, 3] == 0)


def test_crop_image_agrees_with_the_keypoint_map():
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[100:104, 150:154] = 255  # a 4x4 white square centred at video pixel (151.5, 101.5)
    crop = Crop(x0=50, y0=40, width=200, height=200, src_width=320, src_height=240, out_width=50, out_height=50)
    img = crop.apply(frame)
    assert img.shape == (50, 50, 3)
    ys, xs = np.nonzero(img[..., 0] > 0)
    w = img[ys, xs, 0].astype(float)
    centre = np.array([np.average(xs, weights=w), np.average(ys, weights=w)])
    expected = crop.to_model(np.array([[151.5, 101.5, 1.0]]))[0, :2]
    assert np.abs(centre - expected).max() < 0.25  # model pixels
    # a box reaching past the frame is black outside it
    outside = Crop(x0=-100, y0=0, width=240, height=240, src_width=320, src_height=240, out_width=24, out_height=24)
    assert outside.apply(np.full((240, 320, 3), 200, np.uint8))[:, :9].max() == 0


def test_crop_fit_keeps_the_person_and_the_aspect():
    seq = tiny_poses(frames=30, size=(160, 90))
    crop = Crop.fit(seq.keypoints, seq.size, (64, 64))
    assert crop.width == crop.height  # the output's aspect
    m = crop.to_model(seq.keypoints)
    ok = m[..., 2] > 0
    assert m[ok][:, :2].min() >= 0 and m[ok][:, :2].max() <= 63  # every keypoint in the image
    empty = Crop.fit(np.zeros((3, 137, 3), np.float32), (160, 90), (64, 32))
    # nobody: the whole frame, letterboxed to the output's 2:1 aspect
    assert (empty.x0, empty.y0, empty.width, empty.height) == (-10, 0, 180, 90)


def test_prepare_writes_a_readable_cache_and_skips_on_rerun(tiny_target, tiny_data):
    video, seq = tiny_target
    d = SynthData(tiny_data)
    assert len(d) == len(seq) == 24 and d.size == (32, 32)
    assert d.val == range(21, 24) and d.train == range(0, 21)  # 12.5% held out at the end
    assert d.frames.dtype == np.uint8 and isinstance(d.frames, np.memmap)
    np.testing.assert_allclose(d.keypoints, d.crop.to_model(seq.keypoints), atol=1e-4)
    assert np.array_equal(d.labels[5], render_label(d.keypoints[5], (32, 32), (32, 32)))
    from dancenow.normalize import BodyStats
    from dancenow.video import read_frames

    first = next(iter(read_frames(video)))
    assert np.array_equal(d.frames[0], d.crop.apply(first))
    assert BodyStats.load(d.body_stats_path).width == 120
    # re-running skips the finished steps: the frame cache is not rewritten
    mtime = (tiny_data / "frames.npy").stat().st_mtime_ns
    prepare(video, tiny_data, size=(32, 32), poses=seq, holdout=0.125, progress=False)
    assert (tiny_data / "frames.npy").stat().st_mtime_ns == mtime
    done = json.loads((tiny_data / "meta.json").read_text())["done"]
    assert set(done) == {"poses", "camera", "frames", "labels", "stats"}


def test_prepare_from_frames_in_memory_and_mismatches(tmp_path):
    seq = tiny_poses(frames=12)
    out = prepare(tiny_frames(seq), tmp_path / "mem", size=(32, 32), poses=seq, holdout=0.2, progress=False)
    d = SynthData(out)
    assert len(d) == 12 and len(d.val) == 2
    long = PoseSequence(np.concatenate([seq.keypoints] * 2), seq.fps, seq.width, seq.height)
    with pytest.raises(DancenowError, match="do not match"):
        prepare(tiny_frames(seq), tmp_path / "bad", size=(32, 32), poses=long, progress=False)
    with pytest.raises(DancenowError, match="needs their poses"):
        prepare(tiny_frames(seq), tmp_path / "bad2", size=(32, 32), progress=False)
    with pytest.raises(DancenowError, match="not a prepared data directory"):
        SynthData(tmp_path)


def test_batches_have_named_fields(tiny_data):
    d = SynthData(tiny_data)
    b = d.batch(np.array([3, 0]), face_side=8)
    assert b.label.shape == (2, 2, 3, 32, 32) and b.image.shape == (2, 2, 3, 32, 32)
    assert b.label.min() >= -1 and b.label.max() <= 1
    np.testing.assert_array_equal(((b.image[1, 1].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy(), d.frames[1])
    assert b.face.shape == (2, 2, 3) and b.index.tolist() == [3, 0]
    assert d.pair_starts("val").tolist() == [21, 22]
    assert d[0]["keypoints"].shape == (137, 3) and d[0]["image"].shape == (32, 32, 3)


def test_face_boxes_centre_on_the_face():
    seq = tiny_poses(frames=2)
    box = face_boxes(seq.keypoints, 8, seq.size)
    centre = np.median(seq.keypoints[0, FACE, :2], axis=0)
    assert box[0, 2] == 1 and np.abs(box[0, :2] + 4 - centre).max() <= 1.0  # pixels
    no_face = seq.keypoints.copy()
    no_face[:, FACE] = 0
    assert face_boxes(no_face, 8, seq.size)[0, 2] == 1  # falls back on nose, eyes, ears
    assert face_boxes(np.zeros((1, 137, 3)), 8, seq.size)[0, 2] == 0
    edge = seq.keypoints[:1].copy()
    edge[..., :2] -= 40  # face near the corner: the box is clamped inside the image
    assert face_boxes(edge, 8, seq.size)[0, :2].min() >= 0


def test_epoch_sampler_is_reproducible_resumable_and_sharded():
    items = np.arange(10)
    a = EpochSampler(items, 3, seed=1)
    seq = [a.next().tolist() for _ in range(7)]
    b = EpochSampler(items, 3, seed=1)
    for _ in range(4):
        b.next()
    c = EpochSampler(items, 3, seed=1)
    c.load_state(b.state())
    assert [c.next().tolist() for _ in range(3)] == seq[4:]
    r0, r1 = EpochSampler(items, 5, 1, rank=0, world=2), EpochSampler(items, 5, 1, rank=1, world=2)
    assert not set(r0.next().tolist()) & set(r1.next().tolist())  # disjoint shards
