"""Fixtures of the synthesis tests (helpers in helpers.py)."""

from __future__ import annotations

import pytest

from .helpers import tiny_frames, tiny_poses


@pytest.fixture(scope="session")
def tiny_target(tmp_path_factory):
    """(video path, poses) of a 24-frame 120x90 clip at 10 fps."""
    from dancenow.video import write_video

    seq = tiny_poses()
    folder = tmp_path_factory.mktemp("target")
    path = write_video(folder / "target.mp4", tiny_frames(seq), seq.fps)
    return path, seq


@pytest.fixture(scope="session")
def tiny_data(tiny_target, tmp_path_factory):
    """A prepared 32x32 data directory of the tiny target (3 held-out frames)."""
    from dancenow.synth.prepare import prepare

    video, seq = tiny_target
    return prepare(video, tmp_path_factory.mktemp("data") / "d", size=(32, 32), poses=seq, holdout=0.125, progress=False)


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """One torch thread: on a shared 2-core machine, two OpenMP threads wait on each other and
    run these tiny networks 4-8x slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
