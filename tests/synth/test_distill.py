"""The fast student: distillation on a tiny model, loading with `fast`, refusal of a missing or
stale student, the CLI (runtime budget: 10 s)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from dancenow.errors import DancenowError
from dancenow.synth.data import SynthData
from dancenow.synth.distill import DistillConfig, distill
from dancenow.synth.model import GENERATOR_FILE, SynthModel
from dancenow.synth.student import STUDENT_FILE, STUDENT_INFO, StudentConfig
from dancenow.synth.train import train

from .helpers import tiny_config

TINY_STUDENT = StudentConfig(ngf=4, n_downsample=2, n_blocks=1)


@pytest.fixture(scope="module")
def model_dir(tiny_data, tmp_path_factory):
    return train(tiny_config(steps_global=2, steps_face=1), tiny_data, tmp_path_factory.mktemp("m") / "run", progress=False)


def test_distill_saves_a_student_that_loads_generates_and_goes_stale(model_dir, tiny_data, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(model_dir, model, ignore=shutil.ignore_patterns("checkpoints", "tb", "samples"))
    with pytest.raises(DancenowError, match="no fast student.*dancenow distill"):
        SynthModel.load(model, fast=True)
    res = distill(model, tiny_data, DistillConfig(steps=30, batch_size=4, lr=3e-3, student=TINY_STUDENT), progress=False)
    assert res.path == model / STUDENT_FILE and res.path.is_file()
    info = json.loads((model / STUDENT_INFO).read_text())
    assert info["teacher_sha256"] == json.loads((model / "config.json").read_text())["files"][GENERATOR_FILE]
    # both start at the posed exemplar (residual models), and stay near each other ([-1, 1] scale)
    assert np.isfinite(res.val_l1_start) and res.val_l1 < 0.02
    fast = SynthModel.load(model, fast=True)
    assert fast.info["fast"] and sum(p.numel() for p in fast.generator.parameters()) < \
        sum(p.numel() for p in SynthModel.load(model).generator.parameters())
    data = SynthData(tiny_data)
    out = list(fast.generate_sequence((np.array(data.labels[t]) for t in range(3)), (data.keypoints[t] for t in range(3))))
    assert len(out) == 3 and out[0].image.shape == (32, 32, 3) and out[0].alpha is not None

    # the teacher retrained since (its generator is not the one the student copied): refused
    info["teacher_sha256"] = "f" * 64
    (model / STUDENT_INFO).write_text(json.dumps(info))
    with pytest.raises(DancenowError, match="earlier generator.*distill"):
        SynthModel.load(model, fast=True)


def test_cli_distill_and_transfer_fast(model_dir, tiny_data, tiny_target, tmp_path):
    from dancenow.cli import main

    model = tmp_path / "model"
    shutil.copytree(model_dir, model, ignore=shutil.ignore_patterns("checkpoints", "tb", "samples"))
    r = CliRunner().invoke(main, ["distill", "--model", str(model), "--data", str(tiny_data), "--steps", "2", "-q"])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and (model / STUDENT_FILE).is_file()
    video, seq = tiny_target
    out = tmp_path / "fast.mp4"
    r = CliRunner().invoke(main, ["transfer", str(video), "--poses", str(tiny_data / "poses.npz"), "--model", str(model),
                                  "-o", str(out), "--fast"])
    assert r.exit_code == 0, r.output
    assert out.is_file()


def test_a_first_version_student_loads_with_its_7x7_edges(model_dir, tmp_path):
    """Students written before edge_kernel/padding existed (7x7 edge convolutions, the teacher's
    padding) still load as what they were."""
    import torch

    from dancenow.synth.student import build_student, save_student

    model = tmp_path / "model"
    shutil.copytree(model_dir, model, ignore=shutil.ignore_patterns("checkpoints", "tb", "samples"))
    cfg = SynthModel.load(model).config
    old = StudentConfig(ngf=4, n_downsample=2, n_blocks=1, edge_kernel=7, padding=None)
    teacher_sha = json.loads((model / "config.json").read_text())["files"][GENERATOR_FILE]
    save_student(model, build_student(cfg, old), old, teacher_sha, steps=1)
    info = json.loads((model / STUDENT_INFO).read_text())
    del info["student"]["edge_kernel"], info["student"]["padding"]  # as version 1 wrote it
    (model / STUDENT_INFO).write_text(json.dumps(info))
    convs = [m for m in SynthModel.load(model, fast=True).generator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].kernel_size == (7, 7) and convs[-1].kernel_size == (7, 7)
    # and the default student now has 3x3 edges
    new = [m for m in build_student(cfg).modules() if isinstance(m, torch.nn.Conv2d)]
    assert new[0].kernel_size == (3, 3) and new[-1].kernel_size == (3, 3)
