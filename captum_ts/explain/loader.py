"""Explain and score a whole dataset: stream a DataLoader, on one process or many."""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from .._compat import NullProgress, progress
from .._distributed import all_reduce_sum, barrier, broadcast_from_rank0, gather_to_rank0, rank_and_world
from .._loaders import index_batches, replay, split_batch
from .._state import find_module
from ._sinks import MemmapSink, MemorySink, result_bytes


def explain_loader(
    attributor: Any,
    loader: DataLoader,
    *,
    out: str | Path | None = None,
    memory_budget: int | None = None,
    resume: bool = False,
    device: torch.device | str | None = None,
    target_in_batch: bool = True,
    seed: int | None = None,
    seed_kwarg: str = "generator",
    show_progress: bool = False,
    **attribute_kwargs: Any,
) -> Tensor | tuple[Tensor, ...] | None:
    """Attribute every batch of ``loader`` and return the attributions in dataset order.

    Batches are ``(inputs, target)`` pairs (the target is passed as ``target=``) or
    ``inputs`` alone (``target_in_batch=False`` treats every item of a batch as an
    input tensor). Each batch is moved to ``device`` (default: the model's device)
    and attributed with ``attributor.attribute(inputs, target=..., **attribute_kwargs)``.

    Results go to preallocated CPU tensors, or to ``.npy`` memmaps when ``out`` is a
    path or when they would exceed ``memory_budget`` bytes (then in a temporary
    folder); the returned tensors are then backed by the files. With ``out`` and
    ``resume=True`` a run interrupted after some batches continues from the first
    unfinished one and produces the same file.

    Under ``torch.distributed`` (``torchrun``, gloo or nccl) each process takes every
    ``world_size``-th batch of the loader; the rows are gathered to rank 0 (in memory)
    or written by each process into the shared ``out`` file. Rank 0 returns the
    result, the other ranks ``None``. Batches are the same as in one process, so
    the results are the same.

    Stochastic attributors get ``seed_kwarg=torch.Generator().manual_seed(seed + b)``
    for batch ``b`` when ``seed`` is given: reproducible, and independent of how the
    batches are spread over processes.

    Example::

        >>> import torch
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> from captum.attr import Saliency
        >>> from captum_ts import explain_loader
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 2))
        >>> data = TensorDataset(torch.randn(10, 10, 2), torch.randint(0, 2, (10,)))
        >>> explain_loader(Saliency(model), DataLoader(data, batch_size=4)).shape
        torch.Size([10, 10, 2])
    """
    rank, world = rank_and_world()
    batches = index_batches(loader)
    if not batches:
        raise ValueError("`loader` yields no batches: the dataset is empty.")
    n_rows = len(loader.dataset)  # type: ignore[arg-type]
    mine = list(range(rank, len(batches), world))
    device = _device(attributor, device)

    def attribute(number: int, batch: object) -> tuple[Tensor, ...]:
        inputs, target = split_batch(batch, target_in_batch)
        kwargs = dict(attribute_kwargs)
        if target is not None:
            kwargs["target"] = _to(target, device)
        if seed is not None:
            kwargs[seed_kwarg] = torch.Generator().manual_seed(seed + number)
        result = attributor.attribute(_to(inputs, device), **kwargs)
        return result if isinstance(result, tuple) else (result,)

    first = (mine[0], attribute(mine[0], _fetch(loader, [batches[mine[0]]]))) if mine else None
    if out is None and memory_budget is not None:
        size = result_bytes(n_rows, first[1]) if first is not None else 0
        temp = None
        if rank == 0 and size > memory_budget:
            temp = Path(tempfile.mkdtemp(prefix="captum_ts_")) / "attributions.npy"
            warnings.warn(
                f"the attributions ({size / 2**20:.1f} MiB) exceed memory_budget; writing them to {temp}",
                stacklevel=2,
            )
        out = broadcast_from_rank0(temp)  # type: ignore[assignment]
    sink: MemorySink | MemmapSink | None = None
    todo = list(mine)
    if out is None:
        sink = MemorySink(n_rows, first[1]) if first is not None else None
    else:
        sink = MemmapSink(Path(out), n_rows, first[1], rank, resume) if first is not None else None
        barrier()  # rank 0 has created the files
        if sink is not None:
            sink.open()
            todo = [b for b in mine if b not in sink.done]
    bar = _bar(show_progress and rank == 0, len(todo), f"{type(attributor).__name__} over the loader")
    if first is not None and first[0] in todo:
        sink.write(first[0], batches[first[0]], first[1])  # type: ignore[union-attr]
        todo.remove(first[0])
        bar.update()
    for number, batch in zip(todo, replay(loader, [batches[b] for b in todo])):
        sink.write(number, batches[number], attribute(number, batch))  # type: ignore[union-attr]
        bar.update()
    bar.close()

    if out is not None:
        barrier()  # every process has flushed its rows
        result = sink.tensors if rank == 0 else None  # type: ignore[union-attr]
    else:
        result = _gather_rows(sink, batches, n_rows)  # type: ignore[arg-type]
    if result is None:
        return None
    return result if len(result) > 1 else result[0]


def evaluate_loader(
    metric: Callable[..., Any],
    loader: DataLoader,
    *,
    reduce: str = "none",
    device: torch.device | str | None = None,
    target_in_batch: bool = True,
    show_progress: bool = False,
    **metric_kwargs: Any,
) -> Any:
    """Score every batch of ``loader`` with ``metric(inputs, target=..., **metric_kwargs)``.

    ``metric`` returns per-example values: a ``(B, ...)`` tensor, a tuple of them, or
    a dataclass of them (like ``selectivity``'s result), e.g.
    ``functools.partial(selectivity, model, explanation_func=...)``.

    ``reduce="none"`` returns the per-example values in dataset order (the same
    container as ``metric`` returns; on rank 0 only under ``torch.distributed``);
    ``reduce="mean"`` returns their dataset means on every process, from all-reduced
    sums and counts.
    """
    if reduce not in ("none", "mean"):
        raise ValueError(f"`reduce` must be 'none' or 'mean', got {reduce!r}.")
    rank, world = rank_and_world()
    batches = index_batches(loader)
    if not batches:
        raise ValueError("`loader` yields no batches: the dataset is empty.")
    mine = list(range(rank, len(batches), world))
    device = torch.device(device) if device is not None else None
    bar = _bar(show_progress and rank == 0, len(mine), "metric over the loader")
    template: Any = None
    parts: list[tuple[list[int], tuple[Tensor, ...]]] = []
    for number, batch in zip(mine, replay(loader, [batches[b] for b in mine])):
        inputs, target = split_batch(batch, target_in_batch)
        kwargs = dict(metric_kwargs)
        if target is not None:
            kwargs["target"] = _to(target, device)
        value = metric(_to(inputs, device), **kwargs)
        template = value if template is None else template
        parts.append((batches[number], _fields(value)))
        bar.update()
    bar.close()

    if reduce == "mean":
        count = all_reduce_sum(torch.tensor(float(sum(len(p[1][0]) for p in parts))))
        means = tuple(
            all_reduce_sum(torch.cat([p[1][i].detach().double().cpu() for p in parts]).sum(0)) / count
            for i in range(len(parts[0][1]))
        )
        return _rebuild(template, means)
    gathered = gather_to_rank0([(rows, tuple(v.detach().cpu() for v in vals)) for rows, vals in parts])
    if gathered is None:
        return None
    n_rows = len(loader.dataset)  # type: ignore[arg-type]
    flat = [item for per_rank in gathered for item in per_rank]  # type: ignore[union-attr]
    sink = MemorySink(n_rows, flat[0][1])
    for i, (rows, vals) in enumerate(flat):
        sink.write(i, rows, vals)
    return _rebuild(template, sink.tensors)


# --- helpers ---------------------------------------------------------------------------------------


def _gather_rows(sink: MemorySink | None, batches: list[list[int]], n_rows: int) -> tuple[Tensor, ...] | None:
    """Rank 0 collects every process's rows into one set of tensors."""
    _, world = rank_and_world()
    if world == 1:
        return sink.tensors if sink is not None else None
    rows = [r for b in sorted(sink.done) for r in batches[b]] if sink is not None else []
    payload = (rows, tuple(t[torch.tensor(rows)] for t in sink.tensors) if sink is not None else ())
    received = gather_to_rank0(payload)
    if received is None:
        return None
    full = MemorySink(n_rows, received[0][1])  # type: ignore[index]
    for i, (r, vals) in enumerate(received):  # type: ignore[misc]
        if r:
            full.write(i, r, vals)
    return full.tensors


def _device(attributor: Any, device: torch.device | str | None) -> torch.device | None:
    if device is not None:
        return torch.device(device)
    module = find_module(getattr(attributor, "forward_func", None))
    if module is None:
        return None
    first = next(iter(module.parameters()), None)
    return first.device if first is not None else None


def _to(value: Any, device: torch.device | None) -> Any:
    if device is None:
        return value
    if isinstance(value, Tensor):
        return value.to(device)
    if isinstance(value, tuple):
        return tuple(_to(v, device) for v in value)
    return value


def _fetch(loader: DataLoader, batches: list[list[int]]) -> object:
    return next(iter(replay(loader, batches)))


def _fields(value: Any) -> tuple[Tensor, ...]:
    """The per-example tensors of a metric's result (other dataclass fields are kept as they are)."""
    if isinstance(value, Tensor):
        return (value,)
    if isinstance(value, tuple):
        return tuple(value)
    if dataclasses.is_dataclass(value):
        return tuple(getattr(value, name) for name in _tensor_fields(value))
    raise TypeError(
        f"`metric` must return a tensor, a tuple or a dataclass of tensors, got {type(value).__name__}."
    )


def _tensor_fields(value: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(value) if isinstance(getattr(value, f.name), Tensor)]


def _rebuild(template: Any, values: tuple[Tensor, ...]) -> Any:
    if isinstance(template, Tensor):
        return values[0]
    if isinstance(template, tuple):
        return tuple(values)
    return dataclasses.replace(template, **dict(zip(_tensor_fields(template), values)))


def _bar(enabled: bool, total: int, desc: str) -> Any:
    return progress(desc=desc, total=total) if enabled else NullProgress()
