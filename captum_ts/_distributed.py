"""The little we need from ``torch.distributed``: who we are, gather to rank 0, sums.

Collectives belong to the loader-level functions only (``explain_loader``,
``evaluate_loader``, ``attribute_loader``), where every process takes part by
contract. Inside ``local_process()`` this process acts alone: ``rank_and_world()``
is ``(0, 1)`` and every helper here is a no-op, so a per-batch call never waits
for another process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

T = TypeVar("T")
_LOCAL: ContextVar[bool] = ContextVar("captum_ts_local_process", default=False)


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside a process group and inside ``local_process()``."""
    if not _LOCAL.get() and dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@contextmanager
def local_process() -> Iterator[None]:
    """Within the block this process works alone: no collective, whatever the process group."""
    token = _LOCAL.set(True)
    try:
        yield
    finally:
        _LOCAL.reset(token)


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


def from_rank0(compute: Callable[[], T]) -> T:
    """Rank 0's ``compute()`` on every process; an exception on rank 0 is raised on every process
    (instead of leaving the others waiting in the next collective)."""
    rank, world = rank_and_world()
    if world == 1:
        return compute()
    value, error = None, None
    if rank == 0:
        try:
            value = compute()
        except Exception as exc:
            error = exc
    value, error = broadcast_from_rank0((value, error))  # type: ignore[misc]
    if error is not None:
        raise error
    return value  # type: ignore[return-value]


def raise_together(error: Exception | None) -> None:
    """Every process raises the first process's error, if any process has one."""
    errors = all_gather_objects(error)
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first  # type: ignore[misc]
