"""Thread choice for torch: the cores that are idle when a command starts (dancenow.compute)."""

from __future__ import annotations

import os
import sys

import pytest

from dancenow import compute as cpu


@pytest.mark.parametrize("busy, cores, want", [
    (None, 2, 2),    # the system does not say: all cores
    (0.0, 2, 2),
    (0.4, 2, 2),     # background noise is not a busy core
    (1.0, 2, 1),     # one core taken: one thread (2.4x faster than two, measured)
    (1.9, 2, 1),     # never fewer than one
    (3.2, 8, 5),
    (9.0, 8, 1),
])
def test_idle_threads(busy, cores, want):
    assert cpu.idle_threads(busy, cores) == want


def test_busy_cores_is_a_share_of_the_cores():
    busy = cpu.busy_cores(0.05)
    if busy is None:
        pytest.skip("this system has no /proc/stat")
    assert -1e-6 <= busy <= cpu.cpu_count() + 1e-6


def test_configure_threads_respects_the_user_and_a_loaded_torch(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu.configure_threads() is None
    assert os.environ["OMP_NUM_THREADS"] == "3"
    monkeypatch.delenv("OMP_NUM_THREADS")
    import torch  # noqa: F401  (loaded: its threads are already fixed, so nothing is set)

    assert cpu.configure_threads() is None
    assert "OMP_NUM_THREADS" not in os.environ


def test_configure_threads_before_torch(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "x")  # so that the test's own setting is undone after it
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(cpu, "busy_cores", lambda interval=0.25: 1.0)
    monkeypatch.setattr(cpu, "cpu_count", lambda: 2)
    msg = cpu.configure_threads()
    assert os.environ["OMP_NUM_THREADS"] == "1"
    assert "1.0 of 2" in msg and "OMP_NUM_THREADS" in msg


def test_resolve_device_names_and_errors():
    from dancenow.compute import resolve_device
    from dancenow.errors import DancenowError

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(DancenowError, match="unknown device 'bogus'"):
        resolve_device("bogus")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(DancenowError, match="no CUDA GPU"):
            resolve_device("cuda")
