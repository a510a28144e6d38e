"""Configs: presets, JSON overrides, and every number checked before anything runs."""

from __future__ import annotations

import json

import pytest

from dancenow.choreo.config import PRESETS, ChoreoConfig, ChoreoTrainConfig, load_config, preset
from dancenow.errors import DancenowError


def test_presets_are_valid_and_the_model_settings_live_in_one_place():
    for name in PRESETS:
        cfg = preset(name)
        assert cfg.preset == name and isinstance(cfg.model, ChoreoConfig)
    train_fields = set(ChoreoTrainConfig.__dataclass_fields__)
    model_fields = set(ChoreoConfig.__dataclass_fields__)
    assert not (train_fields & model_fields), train_fields & model_fields  # no setting in both


def test_a_json_config_overrides_the_preset_it_names(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"preset": "small", "steps": 123, "model": {"hidden": 40}}))
    cfg = load_config(p)
    assert cfg.steps == 123 and cfg.model.hidden == 40
    assert cfg.model.mixtures == preset("small").model.mixtures and cfg.preset == "small"
    # a saved config reads back the same
    cfg.save(tmp_path / "saved.json")
    assert load_config(tmp_path / "saved.json") == cfg


@pytest.mark.parametrize("override, message", [
    ({"model": {"hidden": 0}}, "model.hidden"),
    ({"lr": float("nan")}, "train.lr"),
    ({"lr": "fast"}, "lr must be a number"),
    ({"fps": 0}, "train.fps"),
    ({"steps": 1e12}, "train.steps"),
    ({"steps": 2.5}, "whole number"),
    ({"keep": 0}, "train.keep"),
    ({"model": {"dropout": -0.1}}, "model.dropout"),
    ({"model": {"dims": 1}}, "dims"),
    ({"bogus": 1}, "unknown setting"),
    ({"forecaster_steps": 0}, "forecaster_steps and model.forecaster go together"),
    ({"preset": "small", "forecaster_steps": 100}, "go together"),
    ({"model": {"forecaster": 1.5}}, "model.forecaster"),
    ({"preset": "huge"}, "unknown preset"),
])
def test_bad_settings_are_one_line_errors(tmp_path, override, message):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(override).replace("NaN", "NaN"))
    with pytest.raises(DancenowError, match=message) as e:
        load_config(p)
    assert "\n" not in str(e.value)


def test_unreadable_config_files(tmp_path):
    with pytest.raises(DancenowError, match="not found"):
        load_config(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DancenowError, match="not valid JSON"):
        load_config(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(DancenowError, match="JSON object"):
        load_config(tmp_path / "list.json")
