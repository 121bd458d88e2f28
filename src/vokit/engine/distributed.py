"""Distributed data-parallel setup under ``torchrun`` (gloo on the CPU, nccl on CUDA).

``torchrun --nproc_per_node N`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
the engine reads them here. Without them (or with ``WORLD_SIZE=1``) training runs in one process.
"""

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from vokit.errors import VokitError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a (possibly one-process) run."""

    rank: int
    world_size: int
    local_rank: int
    owns_group: bool
    """True when this module initialised the process group (and so must destroy it)."""

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs, checkpoints and the config."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """The torch device for a config string (``auto``, ``cpu``, ``cuda``, ``cuda:N``).

    Args:
        name: the device string.
        local_rank: this process's rank on its machine; picks the GPU when ``name`` is ``auto`` or ``cuda``.

    Returns:
        The device.

    Raises:
        VokitError: CUDA was asked for but is not available.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise VokitError(f"unknown device {name!r}: {err}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise VokitError(f"device {name!r} asked for, but CUDA is not available on this machine")
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
    return device


def init_distributed(device_name: str) -> DistInfo:
    """Join the process group when launched by torchrun; a no-op for a single process.

    Args:
        device_name: the configured device string; CUDA selects nccl, the CPU gloo.

    Returns:
        Rank, world size and local rank.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world_size <= 1:
        return DistInfo(rank=0, world_size=1, local_rank=0, owns_group=False)
    if dist.is_initialized():
        return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank,
                        owns_group=False)
    device = resolve_device(device_name, local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world_size)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, owns_group=True)


def shutdown_distributed(info: DistInfo) -> None:
    """Leave the process group if :func:`init_distributed` created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def all_gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj``, in rank order (a one-element list for one process)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def all_true(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Whether ``flag`` holds on every rank (a logical AND across processes)."""
    if not info.enabled:
        return flag
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def any_true(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Whether ``flag`` holds on some rank (a logical OR across processes)."""
    if not info.enabled:
        return flag
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op for one process)."""
    if info.enabled:
        dist.barrier()


def broadcast_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (batch-norm statistics, method state) to every rank."""
    if not info.enabled:
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=0)
