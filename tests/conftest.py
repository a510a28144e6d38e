"""Shared fixtures: the real data folder (../shared/data), skipped with a reason when absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the checkout in CI)")
    return SHARED_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tests use tiny tensors, where a second intra-op thread costs more than it gives (measured
    3.5x slower generation at 64x64 with 2 threads on a busy 2-core machine)."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
