"""The little we need from ``torch.distributed``: who we are, gather to rank 0, sums."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _comm_device() -> torch.device:
    """NCCL exchanges CUDA tensors, gloo CPU tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(t: Tensor) -> Tensor:
    """The element-wise sum of ``t`` over all processes (``t`` itself in one process)."""
    _, world = rank_and_world()
    if world == 1:
        return t
    out = t.detach().to(_comm_device(), torch.float64).clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(t.device, t.dtype)


def gather_to_rank0(payload: object) -> list[object] | None:
    """Every process's ``payload`` (CPU tensors and Python objects) on rank 0, by rank; None elsewhere."""
    rank, world = rank_and_world()
    if world == 1:
        return [payload]
    received = [None] * world if rank == 0 else None
    dist.gather_object(payload, received, dst=0)
    return received


def barrier() -> None:
    if rank_and_world()[1] > 1:
        dist.barrier()


def broadcast_from_rank0(value: object) -> object:
    """Rank 0's ``value`` on every process."""
    if rank_and_world()[1] == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_objects(payload: object) -> list[object]:
    """Every process's ``payload`` on every process, by rank."""
    _, world = rank_and_world()
    if world == 1:
        return [payload]
    received: list[object] = [None] * world
    dist.all_gather_object(received, payload)
    return received
