"""The model directory and SynthModel: loading errors, the crop in label_image, generation with
temporal conditioning and the face residual, the CLI (runtime budget: 15 s)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from dancenow.errors import DancenowError
from dancenow.render import render_label
from dancenow.synth.data import SynthData
from dancenow.synth.geometry import face_box_from_label
from dancenow.synth.model import FACE_FILE, GENERATOR_FILE, SynthModel
from dancenow.synth.train import train

from .helpers import tiny_config


@pytest.fixture(scope="module")
def model_dir(tiny_data, tmp_path_factory):
    return train(tiny_config(steps_global=2, steps_face=1), tiny_data, tmp_path_factory.mktemp("m") / "run", progress=False)


def _copy(src, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoints", "tb", "samples"))
    return dst


def test_load_and_generate(model_dir, tiny_data):
    m = SynthModel.load(model_dir)
    data = SynthData(tiny_data)
    assert m.image_size == (32, 32) and m.has_face and m.crop == data.crop
    assert m.body_stats.width == 120 and m.info["step"] == 3
    labels = [np.array(data.labels[t]) for t in range(4)]
    out = list(m.generate_sequence(labels, [data.keypoints[t] for t in range(4)]))
    frames = [g.image for g in out]
    assert len(frames) == 4 and frames[0].shape == (32, 32, 3) and frames[0].dtype == np.uint8
    # alpha (the person over the plate) and the exemplar shown come with every frame
    assert out[0].alpha.shape == (32, 32) and 0 <= out[0].alpha.min() <= out[0].alpha.max() <= 1
    assert all(g.exemplar is not None for g in out) and m.has_plate
    # the first frame is generate(label, None); later ones depend on the previous output
    kp1 = data.keypoints[1]
    assert np.array_equal(m.generate(labels[0], None, data.keypoints[0]).image, frames[0])
    assert not np.array_equal(m.generate(labels[1], None, kp1).image, m.generate(labels[1], frames[0], kp1).image)
    # keypoints in target-video pixels with src_size give the same face boxes and exemplars
    from dancenow.posefile import load_poses

    video_kp = load_poses(tiny_data / "poses.npz").keypoints[:4]
    again = list(m.generate_sequence(labels, video_kp, src_size=(120, 90)))
    assert all(np.array_equal(a, b.image) for a, b in zip(frames, again))
    # the full frame: the person placed back into the target video's frame, over the plate
    full = m.full_frame(out[0])
    assert full.shape == (90, 120, 3) and m.video_size == (120, 90)
    with pytest.raises(DancenowError, match="label must be uint8"):
        m.generate(np.zeros((16, 16, 3), np.uint8), None, kp1)
    with pytest.raises(DancenowError, match="keypoints"):
        m.generate(labels[0], None)  # an exemplar model needs the pose to pick its exemplar


def test_label_image_applies_the_crop(model_dir, tiny_data):
    m = SynthModel.load(model_dir)
    from dancenow.posefile import load_poses

    kp = load_poses(tiny_data / "poses.npz").keypoints[7]
    assert np.array_equal(m.label_image(kp, (120, 90)), SynthData(tiny_data).labels[7])
    # the same view at twice the resolution maps to the same label
    kp2 = kp.copy()
    kp2[:, :2] *= 2
    assert np.abs(m.label_image(kp2, (240, 180)).astype(int) - SynthData(tiny_data).labels[7]).mean() < 2


def test_face_residual_changes_only_the_face(model_dir, tiny_data):
    m = SynthModel.load(model_dir)
    data = SynthData(tiny_data)
    label, kp = np.array(data.labels[3]), data.keypoints[3]
    base_face = m.face_generator
    m.face_generator = None
    plain = m.generate(label, None, kp).image
    m.face_generator = base_face
    last = [mod for mod in base_face.modules() if isinstance(mod, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.bias.fill_(0.5)  # a visible residual
    refined = m.generate(label, None, kp).image
    x0, y0, valid = data.faces(m.config.face_crop)[3]
    assert valid
    diff = np.abs(refined.astype(int) - plain).sum(-1)
    s = m.config.face_crop
    assert diff[y0:y0 + s, x0:x0 + s].mean() > 10  # grey levels
    outside = diff.copy()
    outside[y0:y0 + s, x0:x0 + s] = 0
    assert outside.max() == 0
    box = face_box_from_label(render_label(kp, (32, 32)), s)  # without keypoints: the white face lines
    assert box[2] == 1 and abs(int(box[0]) - int(x0)) <= 2 and abs(int(box[1]) - int(y0)) <= 2


@pytest.mark.parametrize("damage, message", [
    ("missing_dir", "not found"),
    ("no_config", "config.json is missing"),
    ("bad_json", "not readable JSON"),
    ("future_version", "upgrade dancenow"),
    ("no_weights", "generator.safetensors is missing"),
    ("mixed_weights", "does not match config.json"),
    ("no_crop", "crop.json is missing"),
    ("other_architecture", "does not fit the architecture"),
])
def test_bad_model_directories_get_clear_errors(model_dir, tmp_path, damage, message):
    d = _copy(model_dir, tmp_path)
    cfg_path = d / "config.json"
    doc = json.loads(cfg_path.read_text())
    if damage == "missing_dir":
        d = tmp_path / "nowhere"
    elif damage == "no_config":
        cfg_path.unlink()
    elif damage == "bad_json":
        cfg_path.write_text("{")
    elif damage == "future_version":
        cfg_path.write_text(json.dumps({**doc, "version": 99}))
    elif damage == "no_weights":
        (d / GENERATOR_FILE).unlink()
    elif damage == "mixed_weights":
        shutil.copyfile(d / FACE_FILE, d / GENERATOR_FILE)
    elif damage == "no_crop":
        (d / "crop.json").unlink()
    elif damage == "other_architecture":
        doc["config"]["generator"]["ngf"] = 16
        doc["files"] = {}
        cfg_path.write_text(json.dumps(doc))
    with pytest.raises(DancenowError, match=message):
        SynthModel.load(d)


def test_cli_prepare_and_train(tiny_target, tmp_path):
    from dancenow.cli import main
    from dancenow.posefile import save_poses

    video, seq = tiny_target
    save_poses(seq, tmp_path / "poses.npz")
    runner = CliRunner()
    r = runner.invoke(main, ["prepare", str(video), "-o", str(tmp_path / "data"), "--size", "32x32",
                             "--poses", str(tmp_path / "poses.npz"), "--quiet"])
    assert r.exit_code == 0, r.output
    tiny_config(steps_global=1, steps_face=0).save(tmp_path / "cfg.json")
    args = ["train", str(tmp_path / "data"), "-o", str(tmp_path / "run"), "--config", str(tmp_path / "cfg.json"), "--quiet"]
    r = runner.invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "model:" in r.output and "SSIM" in r.output
    r = runner.invoke(main, args)  # the run exists: a one-line error, not a traceback
    assert r.exit_code == 1 and "Error:" in r.output and "--resume" in r.output
    (tmp_path / "unprepared").mkdir()
    r = runner.invoke(main, ["train", str(tmp_path / "unprepared"), "-o", str(tmp_path / "x"), "--quiet"])
    assert r.exit_code == 1 and "dancenow prepare" in r.output
    for cmd in ("prepare", "train"):
        assert "Example:" in runner.invoke(main, [cmd, "--help"]).output


def test_format_v1_model_directories_still_load(tiny_data, tmp_path):
    """A model directory written before the plate and exemplars (format v1, config v1) loads and
    generates whole frames; a version from the future names its version."""
    import dataclasses

    from dancenow.synth.config import ExemplarConfig
    from dancenow.synth.model import export_model
    from dancenow.synth.networks import build_generator

    data = SynthData(tiny_data)
    cfg = dataclasses.replace(tiny_config(), plate=False, exemplar=ExemplarConfig(enabled=False))
    d = export_model(tmp_path / "old", cfg, build_generator(cfg), None, data.body_stats_path, data.crop, step=7)
    doc = json.loads((d / "config.json").read_text())
    old_cfg = doc["config"]
    for key in ("plate", "exemplar"):
        del old_cfg[key]
    del old_cfg["loss"]["l1"], old_cfg["train"]["ema"]
    old_cfg["version"] = 1
    doc["version"] = 1
    (d / "config.json").write_text(json.dumps(doc))
    m = SynthModel.load(d)
    assert not m.has_plate and m.bank is None and m.info["step"] == 7
    g = m.generate(np.array(data.labels[0]), None)
    assert g.image.shape == (32, 32, 3) and g.alpha is None
    doc["version"] = 3
    (d / "config.json").write_text(json.dumps(doc))
    with pytest.raises(DancenowError, match="model format v3"):
        SynthModel.load(d)


def test_a_model_saved_without_bone_lengths_takes_them_from_its_exemplars(model_dir, tmp_path):
    """Body stats before v2 had no bone lengths; such a model still retargets the source."""
    from dancenow.normalize import bone_lengths

    d = _copy(model_dir, tmp_path)
    stats = json.loads((d / "body_stats.json").read_text())
    del stats["bones"]
    stats["version"] = 1
    (d / "body_stats.json").write_text(json.dumps(stats))
    m = SynthModel.load(d)
    assert m.body_stats.bones == bone_lengths(m.bank.keypoints)
    assert any(b is not None for b in m.body_stats.bones)


def test_a_model_offers_no_exemplar_whose_mask_missed_the_person(tmp_path):
    """A bank frame whose person mask is empty (segmentation missed the dancer) would be posed
    into nothing and the person would vanish from the frame: loading leaves it out (models
    trained before the trainer did)."""
    from dancenow.synth.model import ExemplarBank, SynthModel, export_model
    from tests.synth.helpers import tiny_plate_model

    d = tiny_plate_model(tmp_path)
    m = SynthModel.load(d)
    b = m.bank
    assert len(b.images) == 6
    alphas = b.alphas.copy()
    alphas[2] = 0
    export_model(d, m.config, m.generator, m.face_generator, d / "body_stats.json", m.crop, step=0,
                 plate=m.plate_video, bank=ExemplarBank(b.images, b.keypoints, b.frames, alphas))
    again = SynthModel.load(d)
    assert len(again.bank.images) == 5 and 2 not in again.bank.frames.tolist()
    g = again.generate(np.zeros((32, 32, 3), np.uint8), None, b.keypoints[2])  # frame 2's own pose
    assert again.bank.frames[np.atleast_1d(g.exemplar)[0]] != 2
