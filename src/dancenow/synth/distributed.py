"""Multi-process training through torchrun: process-group set-up from torchrun's environment
variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), NCCL on GPUs and gloo on CPUs,
and the few collectives training needs. Without torchrun everything here is a no-op.

    torchrun --nproc_per_node 4 -m dancenow.synth data/ -o runs/me --preset paper
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass

import torch
import torch.nn as nn

from dancenow.errors import DancenowError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: rank among world processes, its device."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str | torch.device | None = None) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1), else a single process.
    Each process takes the GPU of its LOCAL_RANK when the device is CUDA."""
    from dancenow.compute import resolve_device

    dev = resolve_device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(0, 1, 0, dev)
    import torch.distributed as dist

    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise DancenowError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPUs")
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev)


def shutdown(info: DistInfo, finished: bool = False) -> None:
    """Leave the process group. finished: every process got here normally, so they first wait
    for each other: a gloo process that tears down while its peer still holds the connection
    (rank 0 writing the model) aborted now and then ("terminate called without an active
    exception", SIGABRT). After a failure no barrier: the peer may never arrive."""
    if info.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            if finished:
                dist.barrier()
            dist.destroy_process_group()


def wrap(module: nn.Module, info: DistInfo) -> nn.Module:
    """DistributedDataParallel around `module` under torchrun (gradients averaged across
    processes during backward; the initial weights broadcast from rank 0), else `module`."""
    if not info.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [info.device.index] if info.device.type == "cuda" else None
    return DDP(module, device_ids=ids)


def any_flag(flag: bool, info: DistInfo) -> bool:
    """True on every process when any process has `flag` set (so all stop at the same step)."""
    if not info.enabled:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()


def weights_digest(*modules: nn.Module | None) -> str:
    """sha256 of all parameters and buffers, to check that processes hold identical weights."""
    h = hashlib.sha256()
    for m in modules:
        if m is None:
            continue
        for k, v in m.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def gather_strings(value: str, info: DistInfo) -> list[str]:
    """Every process's `value`, in rank order (on every process)."""
    if not info.enabled:
        return [value]
    import torch.distributed as dist

    out: list = [None] * info.world
    dist.all_gather_object(out, value)
    return [str(v) for v in out]
