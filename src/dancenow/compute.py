"""Where torch runs: the device (`resolve_device`) and, on the CPU, how many threads: the cores
that are idle when a command starts.

Torch's intra-op threads spin at their barriers. Measured here (2 cores, a cpu-small synthesis
training step at 128 px): both cores idle, 2 threads 0.30 s/step, 1 thread 0.47 s; with one
other busy process, 2 threads 0.94 s/step, 1 thread 0.39 s. So with a core taken, one thread is
2.4x faster than two. The CLI samples how busy the cores are as it starts and sets
OMP_NUM_THREADS (read once, when torch loads) to the idle ones, unless the user set it.
"""

from __future__ import annotations

import os
import time


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies of all cores from /proc/stat (Linux); None elsewhere."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    if len(fields) < 5:
        return None
    return fields[3] + fields[4], sum(fields)  # idle + iowait, all


def busy_cores(interval: float = 0.25) -> float | None:
    """Cores kept busy by other processes, averaged over `interval` seconds (None where the
    system does not say)."""
    a = _cpu_times()
    if a is None:
        return None
    time.sleep(interval)
    b = _cpu_times()
    if b is None or b[1] <= a[1]:
        return None
    return (1.0 - (b[0] - a[0]) / (b[1] - a[1])) * cpu_count()


def idle_threads(busy: float | None, cores: int | None = None) -> int:
    """Threads for the idle cores: all of them, less each core that is busy more than half."""
    cores = cores or cpu_count()
    if busy is None:
        return cores
    return max(1, min(cores, cores - int(busy + 0.5)))


def configure_threads() -> str | None:
    """Set OMP_NUM_THREADS to the idle cores before torch loads; returns a line to log when it
    chose fewer threads than cores (None when it left things as they were)."""
    import sys

    if "OMP_NUM_THREADS" in os.environ or "torch" in sys.modules:
        return None
    cores = cpu_count()
    busy = busy_cores()
    n = idle_threads(busy, cores)
    os.environ["OMP_NUM_THREADS"] = str(n)
    if n < cores:
        return (f"other programs keep {busy:.1f} of {cores} CPU cores busy: using {n} thread{'s' if n > 1 else ''} "
                "(set OMP_NUM_THREADS to choose)")
    return None


def resolve_device(device=None):
    """A torch.device from a name: 'auto' / None is CUDA when torch sees a GPU, else the CPU;
    'cpu', 'cuda', 'cuda:N' and 'mps' as named. One line of error for a bad or absent device."""
    import torch

    from dancenow.errors import DancenowError

    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise DancenowError(f"unknown device {device!r}: cpu, cuda, cuda:N, mps or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DancenowError(f"device {device!r} asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise DancenowError(f"device {device!r} asked for, but this torch has no MPS (Apple GPU) support")
    return dev
