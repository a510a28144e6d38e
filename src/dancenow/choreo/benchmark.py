"""The shared dance data (../shared/data/dance, see its README) and the splits the benchmark
(bench/choreo_eval.py) and the tests use: which files make which style, which salsa takes are
held out, and how a style is left out of training entirely."""

from __future__ import annotations

import os
from pathlib import Path

from dancenow.errors import DancenowError

# Styles of the shared dance data and which files make them.
SHARED_STYLES: dict[str, tuple[str, ...]] = {
    "salsa": ("cmu_salsa/6[01]_*_scaled.bvh",),  # CMU subjects 60 and 61, a couple
    "mj": ("cmu_131/131_*.bvh",),  # CMU 131, Michael Jackson styled moves
    "folk": ("ucy/*.bvh",),  # UCY Dance DB, three dancers
    "jpop": ("bandai_dance-short_normal_*.bvh",),  # Bandai Namco, one performer
    "improv": ("mdrnn_improv_examples.npz",),  # Motion-MDRNN, improvised, markers
}
# The held-out evaluation split: CMU salsa takes 01-03 of both partners, never trained on.
SALSA_TEST_TAKES = tuple(f"{s}_{t:02d}_scaled" for s in (60, 61) for t in (1, 2, 3))


def shared_sources(root: str | os.PathLike) -> list[tuple[Path, str]]:
    """(file, style) for the shared dance folder, sorted for a reproducible order."""
    root = Path(root)
    out = []
    for style, patterns in SHARED_STYLES.items():
        for pat in patterns:
            out += [(p, style) for p in sorted(root.glob(pat))]
    if not out:
        raise DancenowError(f"no dance files found in {root}")
    return out


def training_split(root: str | os.PathLike, leave_out: str | None = None) -> tuple[list[tuple[str, str]], list[str]]:
    """(training sources, takes to exclude) for a benchmark model: every style but `leave_out`
    (None: all), the held-out salsa takes excluded."""
    if leave_out is not None and leave_out not in SHARED_STYLES:
        raise DancenowError(f"unknown style {leave_out!r}: the shared data has {', '.join(SHARED_STYLES)}")
    sources = [(str(p), s) for p, s in shared_sources(root) if s != leave_out]
    return sources, list(SALSA_TEST_TAKES)


def is_salsa_test(name: str) -> bool:
    """Whether a clip (by name, `take@frame` for a split clip) is one of the held-out salsa takes."""
    return name.split("@")[0] in SALSA_TEST_TAKES
