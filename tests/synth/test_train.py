"""Training: one step lowers the losses, exact resume, Ctrl-C, damaged checkpoints, all stages
including the local enhancer, and a 2-process gloo run (runtime budget: 45 s)."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from dancenow.errors import DancenowError
from dancenow.synth import checkpoint as ckpt
from dancenow.synth.config import SynthConfig
from dancenow.synth.data import SynthData
from dancenow.synth.model import SynthModel
from dancenow.synth.train import Trainer, train

from .helpers import tiny_config


def _losses(run) -> dict[int, dict]:
    return {r["step"]: r for r in map(json.loads, (run / "losses.jsonl").read_text().splitlines())}


def test_one_step_lowers_the_losses(tiny_data, tmp_path):
    from dancenow.synth.config import ExemplarConfig

    data = SynthData(tiny_data)
    # a generator drawing from scratch: a residual one starts at the posed exemplar, where Adam's
    # first step (every weight moves by lr) can overshoot on a network this small
    cfg = dataclasses.replace(tiny_config(), exemplar=ExemplarConfig(residual=False))
    tr = Trainer(cfg, data, tmp_path / "run", progress=False)
    tr.setup_stage("global")
    batch = tr.batch(np.array([2, 9]))
    g0, d0 = copy.deepcopy(tr.generator.state_dict()), copy.deepcopy(tr.D.state_dict())
    before = tr.loss_terms(batch)
    tr.train_step(batch)
    d1 = copy.deepcopy(tr.D.state_dict())
    tr.D.load_state_dict(d0)
    g_after = tr.loss_terms(batch)["G"]  # the new generator against the old discriminator
    tr.D.load_state_dict(d1)
    tr.generator.load_state_dict(g0)
    d_after = tr.loss_terms(batch)["D"]  # the new discriminator against the old generator
    assert g_after < before["G"]
    assert d_after < before["D"]


def test_resume_continues_bit_exactly(tiny_data, tmp_path):
    cfg = tiny_config(steps_global=3, steps_face=2)
    full = train(cfg, tiny_data, tmp_path / "full", progress=False)
    part = train(cfg, tiny_data, tmp_path / "part", progress=False, until=2)  # stops with a checkpoint
    assert [p.name for p in ckpt.list_checkpoints(part / "checkpoints")] == ["step-00000002.safetensors"]
    with pytest.raises(DancenowError, match="--resume"):
        train(cfg, tiny_data, part, progress=False)  # an existing run is never overwritten
    train(cfg, tiny_data, part, resume=True, progress=False)
    a, b = _losses(full), _losses(part)
    assert sorted(b) == [1, 2, 3, 4, 5]
    for step in (3, 4, 5):  # across the global -> face boundary
        for k in ("G", "G_feat", "D"):
            assert a[step][k] == b[step][k], f"step {step} {k}: {a[step][k]!r} != {b[step][k]!r}"
    fa, fb = (json.loads((r / "config.json").read_text())["files"] for r in (full, part))
    assert fa == fb  # byte-identical generator and face generator weights


def test_ctrl_c_saves_a_checkpoint(tiny_data, tmp_path):
    def press_ctrl_c(step):
        if step == 1:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(), tiny_data, tmp_path / "run", progress=False, on_step=press_ctrl_c)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "run" / "checkpoints")] == ["step-00000001.safetensors"]
    assert SynthModel.load(tmp_path / "run").info["step"] == 1  # the model files were refreshed too


def test_damaged_checkpoints_give_clear_errors_and_older_ones_survive(tiny_data, tmp_path, monkeypatch, caplog):
    run = tmp_path / "run"
    cfg = tiny_config(steps_global=4, steps_face=0, checkpoint_every=1, keep_checkpoints=2)
    train(cfg, tiny_data, run, progress=False, until=3)
    kept = ckpt.list_checkpoints(run / "checkpoints")
    assert [p.name for p in kept] == ["step-00000002.safetensors", "step-00000003.safetensors"]  # last K
    older, newest = kept
    raw = newest.read_bytes()
    newest.write_bytes(raw[: len(raw) // 2])  # truncated
    with pytest.raises(DancenowError, match="truncated or corrupt"):
        ckpt.load_checkpoint(newest)
    # resuming says so in one line and continues from the newest intact checkpoint
    import logging

    with caplog.at_level(logging.WARNING, logger="dancenow"):
        train(cfg, tiny_data, run, resume=True, progress=False, until=3)
    assert any("truncated or corrupt" in r.getMessage() and "previous checkpoint" in r.getMessage() for r in caplog.records)
    assert ckpt.load_checkpoint(newest)[1]["step"] == 3  # step 3 trained again, written whole
    intact = {p: p.read_bytes() for p in ckpt.list_checkpoints(run / "checkpoints")}
    for p in intact:
        p.write_bytes(b"garbage")
    with pytest.raises(DancenowError, match="no intact checkpoint"):
        train(cfg, tiny_data, run, resume=True, progress=False)
    for p, b in intact.items():
        p.write_bytes(b)
    raw = newest.read_bytes()
    flipped = bytearray(raw)
    flipped[-100] ^= 0xFF  # one bit pattern inside the tensor data
    newest.write_bytes(bytes(flipped))
    with pytest.raises(DancenowError, match="checksum"):
        ckpt.load_checkpoint(newest)
    assert ckpt.load_checkpoint(older)[1]["step"] == 2  # the previous checkpoint is intact

    # a save that dies half-way leaves the existing checkpoints as they were and no debris
    newest.write_bytes(raw)
    before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    import safetensors.torch

    def dying_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", dying_save)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(newest, {"x": torch.zeros(3)}, {})
    assert {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()} == before


def test_all_stages_with_the_local_enhancer(tiny_data, tmp_path):
    base = tiny_config(steps_global=1, steps_face=1)
    cfg = dataclasses.replace(base, local=dataclasses.replace(base.local, enabled=True, ngf=4, fix_global_fraction=0.5),
                              train=dataclasses.replace(base.train, steps_local=2, eval_every=1))
    run = train(cfg, tiny_data, tmp_path / "run", progress=False)
    logs = _losses(run)
    assert [logs[s]["stage"] for s in (1, 2, 3, 4)] == ["global", "local", "local", "face"]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["stage"] for m in metrics] == ["global", "local", "local", "face"]
    assert all(-1 <= m["ssim"] <= 1 and m["psnr"] > 0 for m in metrics)
    model = SynthModel.load(run)
    assert type(model.generator).__name__ == "LocalEnhancer" and model.has_face
    assert list((run / "samples").glob("step-*.png"))
    assert list((run / "tb").glob("events.out.tfevents.*"))


def test_two_process_gloo_run_ends_with_identical_weights(tiny_data, tmp_path):
    """The user's path: torchrun with 2 CPU processes (gloo), the module entry point, a JSON config."""
    cfg = tiny_config(steps_global=3, steps_face=1, batch_size=2)
    cfg.save(tmp_path / "cfg.json")
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "dancenow.synth", str(tiny_data), "-o", str(out), "--config", str(tmp_path / "cfg.json"), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    # the processes' own messages come first, torchrun's summary of who failed last
    assert proc.returncode == 0, proc.stderr[:4000] + "\n[...]\n" + proc.stderr[-1500:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["world"] == 2 and summary["steps"] == 4 and summary["samples_per_s"] > 0
    d = summary["rank_weight_digests"]
    assert len(d) == 2 and d[0] == d[1]  # both processes hold the same weights
    assert f"model: {out}" in proc.stdout  # printed once, by rank 0
    assert proc.stdout.count("model:") == 1
    # and they trained on the global batch: the result differs from one process on half of it
    single = train(cfg, tiny_data, tmp_path / "single", progress=False)
    assert json.loads((single / "train_summary.json").read_text())["rank_weight_digests"][0] != d[0]


def test_bf16_autocast_and_channels_last_code_path(tiny_data, tmp_path):
    """What CUDA runs (bf16 autocast, channels_last), exercised on the CPU."""
    base = tiny_config(steps_global=1, steps_face=1)
    cfg = dataclasses.replace(base, train=dataclasses.replace(base.train, amp="bf16", channels_last="on"))
    run = train(cfg, tiny_data, tmp_path / "run", progress=False)
    logs = _losses(run)
    assert all(np.isfinite(logs[s][k]) for s in (1, 2) for k in ("G", "D"))
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["bf16"] and summary["channels_last"]


def test_resume_with_more_steps_extends_the_remaining_stages(tiny_data, tmp_path):
    cfg = tiny_config(steps_global=2, steps_face=1)
    run = train(cfg, tiny_data, tmp_path / "run", progress=False)
    train(cfg, tiny_data, run, resume=True, steps=5, progress=False)  # the finished run goes on
    logs = _losses(run)
    assert [logs[s]["stage"] for s in range(1, 6)] == ["global", "global", "face", "face", "face"]
    assert json.loads((run / "train_config.json").read_text())["train"]["steps_face"] == 3


def test_time_budget_sets_the_step_count(tiny_data, tmp_path):
    cfg = tiny_config(steps_global=1000, steps_face=100)  # far more than 3 seconds allow
    run = train(cfg, tiny_data, tmp_path / "run", minutes=0.05, progress=False)
    resolved = SynthConfig.load(run / "train_config.json")
    assert 6 <= resolved.total_steps < 1100
    assert json.loads((run / "train_summary.json").read_text())["steps"] == resolved.total_steps
    assert [n for n, _ in resolved.stages] == ["global", "face"]  # both stages kept


def _image_term(tiny_data, tmp_path, name: str, weight: float, expected) -> None:
    """One image loss term alone (`name` in the trainer's terms, at `weight`): it equals
    `expected(f0, y0, f1, y1)` on the generated and real frames of a batch, G is it weighted,
    and three training steps lower it."""
    from dancenow.synth.config import ExemplarConfig, LossWeights
    from dancenow.synth.generate import generate

    base = tiny_config()
    weights = {"l1": 0.0, name.removeprefix("G_"): weight}
    cfg = dataclasses.replace(base, loss=LossWeights(gan=0.0, feat=0.0, vgg=0.0, **weights),
                              train=dataclasses.replace(base.train, amp="off"),
                              exemplar=ExemplarConfig(residual=False))  # drawing from scratch: the term falls at once
    data = SynthData(tiny_data)
    tr = Trainer(cfg, data, tmp_path / "run", progress=False)
    tr.setup_stage("global")
    batch = tr.batch(np.array([2, 9]))
    terms = tr.loss_terms(batch)
    c0, c1, y0, y1 = tr._inputs(batch)
    with torch.no_grad():
        f0, _ = generate(tr.generator, cfg, c0, None)
        f1, _ = generate(tr.generator, cfg, c1, f0)  # temporal: frame t+1 sees frame t
    want = expected(f0, y0, f1, y1)
    assert terms[name] == pytest.approx(want, rel=1e-5)
    assert terms["G"] == pytest.approx(weight * want, rel=1e-5)  # the only term, weighted
    before = terms[name]
    for _ in range(3):
        tr.train_step(batch)
    assert tr.loss_terms(batch)[name] < before


def test_l1_term_is_the_mean_absolute_error_of_the_frames(tiny_data, tmp_path):
    _image_term(tiny_data, tmp_path, "G_l1", 2.0,
                lambda f0, y0, f1, y1: 0.5 * ((f0 - y0).abs().mean() + (f1 - y1).abs().mean()).item())


def test_ssim_term_is_one_minus_the_frames_ssim_and_training_lowers_it(tiny_data, tmp_path):
    from dancenow.synth.losses import SSIMLoss

    _image_term(tiny_data, tmp_path, "G_ssim", 3.0,
                lambda f0, y0, f1, y1: 0.5 * (SSIMLoss()(f0, y0) + SSIMLoss()(f1, y1)).item())


def test_alpha_term_is_the_mean_absolute_error_of_the_person_masks(tiny_data, tmp_path):
    from dancenow.synth.config import LossWeights
    from dancenow.synth.generate import generate
    from dancenow.synth.plate import person_alphas

    base = tiny_config()
    assert base.plate
    cfg = dataclasses.replace(base, loss=LossWeights(gan=0.0, feat=0.0, l1=0.0, vgg=0.0, alpha=3.0),
                              train=dataclasses.replace(base.train, amp="off", lr=1e-3))
    data = SynthData(tiny_data)
    tr = Trainer(cfg, data, tmp_path / "run", progress=False)
    # every frame's mask, the same as the exemplars are cut out with (where segmentation missed
    # the little person, the plate difference near its skeleton)
    want_masks = person_alphas(np.asarray(data.frames), data.plate, data.keypoints)
    assert tr.frame_ok is None  # every mask covers its skeleton
    np.testing.assert_array_equal(tr.frame_alphas, want_masks)
    np.testing.assert_array_equal(tr.bank_alphas, want_masks[tr.bank])
    tr.setup_stage("global")
    starts = np.array([2, 9])
    batch = tr.batch(starts)
    terms = tr.loss_terms(batch)
    c0, c1, _, _ = tr._inputs(batch)
    with torch.no_grad():
        f0, a0 = generate(tr.generator, cfg, c0, None)
        _, a1 = generate(tr.generator, cfg, c1, f0)
    m0, m1 = (torch.from_numpy(want_masks[starts + i]).float()[:, None] / 255 for i in (0, 1))
    want = 0.5 * ((a0 - m0).abs().mean() + (a1 - m1).abs().mean()).item()
    assert want > 0.01  # the posed exemplars' alphas are not the frames' own masks
    assert terms["G_alpha"] == pytest.approx(want, rel=1e-5)
    assert terms["G"] == pytest.approx(3.0 * want, rel=1e-5)  # the only term, weighted
    for _ in range(20):  # the first steps overshoot (shared weights), then it falls steadily
        tr.train_step(batch)
    assert tr.loss_terms(batch)["G_alpha"] < 0.8 * want
    # off (the weight 0): no masks are made for the loss
    off = Trainer(base, data, tmp_path / "run2", progress=False)
    assert off.frame_alphas is None


def test_alpha_weights_leave_out_a_band_just_outside_the_mask():
    from dancenow.synth.train import alpha_weights

    masks = np.zeros((2, 100, 80), np.uint8)
    masks[0, 40:60, 30:50] = 255  # a 20 px square
    w = alpha_weights(masks, 0.05)  # 5 px at 100 px high
    assert w.dtype == np.uint8 and w.shape == masks.shape
    assert w[0, 40:60, 30:50].all()  # inside: supervised
    assert not w[0, 35:40, 30:50].any() and not w[0, 60:65, 30:50].any()  # the band above and below
    assert not w[0, 40:60, 25:30].any() and not w[0, 40:60, 50:55].any()
    assert w[0, :34].all() and w[0, 66:].all() and w[0, :, :24].all() and w[0, :, 56:].all()  # beyond it
    assert w[1].all()  # no person: all of it supervised (alpha 0)
    assert alpha_weights(masks, 0.0).all()  # no band


def test_without_adversarial_terms_the_discriminator_is_left_alone(tiny_data, tmp_path):
    from dancenow.synth.config import LossWeights

    base = tiny_config()
    cfg = dataclasses.replace(base, loss=LossWeights(gan=0.0, feat=0.0, l1=10.0, vgg=0.0, alpha=10.0),
                              train=dataclasses.replace(base.train, amp="off"))
    tr = Trainer(cfg, SynthData(tiny_data), tmp_path / "run", progress=False)
    tr.setup_stage("global")
    assert not tr.adversarial
    d_before = copy.deepcopy(tr.D.state_dict())
    g_before = copy.deepcopy(tr.generator.state_dict())
    terms = tr.train_step(tr.batch(np.array([2, 9])))
    assert terms["D"] == 0.0 and terms["G_gan"] == 0.0 and terms["G_feat"] == 0.0 and terms["G_l1"] > 0
    assert all(torch.equal(v, tr.D.state_dict()[k]) for k, v in d_before.items())
    assert any(not torch.equal(v, tr.generator.state_dict()[k]) for k, v in g_before.items())


def test_a_run_folder_in_use_is_refused(tiny_data, tmp_path):
    """train() holds the run folder's lock (dancenow.guard.run_lock) itself, so library callers
    (the demo, benchmarks) get the promise too; another process's training is refused."""
    import subprocess
    import sys
    import textwrap

    from dancenow.guard import LOCK_NAME

    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from dancenow.guard import run_lock
        with run_lock({str(run)!r}):
            print("held", flush=True)
            sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DancenowError, match="in use"):
            train(tiny_config(steps_global=1, steps_face=0), tiny_data, run, progress=False)
    finally:
        holder.communicate("\n", timeout=30)
    train(tiny_config(steps_global=1, steps_face=0), tiny_data, run, progress=False)
    assert not (run / LOCK_NAME).exists()  # released when training ends


def test_resume_restores_the_thread_count(tiny_data, tmp_path, caplog):
    import logging

    cfg = tiny_config(steps_global=3, steps_face=0)
    run = train(cfg, tiny_data, tmp_path / "run", progress=False, until=1)
    meta = ckpt.load_checkpoint(ckpt.list_checkpoints(run / "checkpoints")[-1])[1]
    assert meta["compute"] == {"threads": 1, "device": "cpu", "bf16": meta["compute"]["bf16"]}
    torch.set_num_threads(2)
    try:
        with caplog.at_level(logging.INFO, logger="dancenow"):
            train(cfg, tiny_data, run, resume=True, progress=False, until=2)
        assert torch.get_num_threads() == 1 and any("1 CPU threads" in r.getMessage() for r in caplog.records)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="dancenow"):
            train(cfg, tiny_data, run, resume=True, progress=False, threads=2)  # asked for: said, not bit-exact
        assert any("not bit-exactly" in r.getMessage() for r in caplog.records)
    finally:
        torch.set_num_threads(1)
