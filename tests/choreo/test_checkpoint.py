"""Checkpoints: safetensors and JSON only, damaged ones found and skipped, old formats named,
one writer per folder."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from dancenow.choreo import checkpoint as K
from dancenow.choreo.config import ChoreoConfig
from dancenow.choreo.model import ChoreoModel
from dancenow.errors import DancenowError


def _model():
    torch.manual_seed(0)
    return ChoreoModel(ChoreoConfig(dims=2, hidden=8, layers=1, mixtures=1, style_dim=2, styles=["any", "a"]))


def test_save_and_load_nothing_pickled(tmp_path):
    m = _model()
    opt = torch.optim.AdamW(m.parameters())
    m(torch.zeros(1, 3, m.in_features), torch.tensor([1]))[0].mu.sum().backward()
    opt.step()
    t, meta = K.optimizer_tensors(opt)
    K.save_checkpoint(tmp_path / "step-0000001", m, {"fps": 30.0}, {"optimizer": meta}, t)
    files = sorted(p.name for p in (tmp_path / "step-0000001").iterdir())
    assert files == ["model.json", "model.safetensors", "trainer.json", "trainer.safetensors"]
    for f in (tmp_path / "step-0000001").iterdir():  # no pickle anywhere
        assert not f.read_bytes().startswith(b"\x80"), f
    loaded, info = K.load_model(tmp_path)
    assert info["fps"] == 30.0 and info["version"] == K.VERSION
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), loaded.state_dict().values()))
    # the optimizer state comes back whole
    opt2 = torch.optim.AdamW(loaded.parameters())
    K.load_optimizer(opt2, K._load_tensors(tmp_path / "step-0000001" / "trainer.safetensors"), meta)
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert all(torch.equal(s1[k]["exp_avg"], s2[k]["exp_avg"]) for k in s1)


def test_a_damaged_newest_checkpoint_falls_back_to_the_newest_intact_one(tmp_path, caplog):
    m = _model()
    for step in (1, 2, 3):
        K.save_checkpoint(K.checkpoint_path(tmp_path, step), m, {"step": step})
    blob = tmp_path / "step-0000003" / "model.safetensors"
    data = bytearray(blob.read_bytes())
    data[-5] ^= 0xFF  # one flipped bit in the weights: the checksum catches it
    blob.write_bytes(bytes(data))
    (tmp_path / "step-0000002" / "model.json").write_text('{"format": "dancenow.ch')  # truncated
    _, info = K.load_model(tmp_path)
    assert info["step"] == 1
    warnings = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(warnings) == 2 and all("\n" not in w for w in warnings)
    with pytest.raises(DancenowError, match="corrupt"):
        K.load_model(tmp_path / "step-0000003")  # asked for by name: no fallback


def test_old_format_is_a_one_line_error_naming_the_version(tmp_path):
    old = tmp_path / "step-0001800"
    old.mkdir()
    (old / "model.json").write_text(json.dumps({"format": "dancenow.choreo", "version": 1, "config": {"joints": 15}}))
    (old / "model.safetensors").write_bytes(b"")
    (old / "optimizer.pt").write_bytes(pickle.dumps({"never": "unpickled"}))
    for path in (tmp_path, old):
        with pytest.raises(DancenowError, match="format v1") as e:
            K.load_model(path)
        assert "\n" not in str(e.value)
    (tmp_path / "x").mkdir()
    with pytest.raises(DancenowError, match="no choreography model"):
        K.load_model(tmp_path / "x")


def test_pruning_keeps_the_newest(tmp_path):
    m = _model()
    for step in (5, 10, 15):
        K.save_checkpoint(K.checkpoint_path(tmp_path, step), m, {})
    K.prune_checkpoints(tmp_path, 0, K.checkpoint_path(tmp_path, 15))  # keep < 1 still keeps one
    assert [p.name for p in K.list_checkpoints(tmp_path)] == ["step-0000015"]
