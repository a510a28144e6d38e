"""Style you can measure: the classifier tells clearly different styles apart; novelty is 0 for
a replay and grows for new motion."""

from __future__ import annotations

import numpy as np

from dancenow.choreo.style import StyleClassifier, novelty, training_seconds

from .helpers import FPS, synthetic_body


def test_classifier_separates_two_clearly_different_styles(tmp_path):
    # "up": arms high, 1 beat per second; "down": arms low, 2 beats per second
    train = [(*synthetic_body(0.9, 10, seed=s), "up") for s in range(2)] + \
            [(*synthetic_body(0.0, 10, seed=10 + s, beat_hz=2.0), "down") for s in range(2)]
    held = [(*synthetic_body(0.85, 6, seed=30), "up"), (*synthetic_body(0.05, 6, seed=31, beat_hz=2.0), "down")]
    clf = StyleClassifier.fit(train, FPS)
    acc = clf.accuracy(held)
    assert acc["up"] >= 0.95 and acc["down"] >= 0.95, acc
    clf.save(tmp_path / "c.json")
    again = StyleClassifier.load(tmp_path / "c.json")
    np.testing.assert_allclose(again.proba(*held[0][:2]), clf.proba(*held[0][:2]))


def test_novelty_is_zero_for_a_replay_and_not_for_new_motion():
    pose, _ = synthetic_body(0.5, 10, seed=0)
    ref = training_seconds([pose], FPS)
    assert np.allclose(novelty(pose[30:150], FPS, ref), 0.0, atol=1e-6)  # seconds of the training dance itself
    other, _ = synthetic_body(0.0, 5, seed=1, beat_hz=2.0)
    assert novelty(other, FPS, ref).min() > 0.1  # radians
