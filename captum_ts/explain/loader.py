"""Explain and score a whole dataset: stream a DataLoader, on one process or many."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from .._compat import NullProgress, progress
from .._distributed import (
    all_gather_objects,
    all_reduce_sum,
    barrier,
    from_rank0,
    gather_to_rank0,
    local_process,
    raise_together,
    rank_and_world,
)
from .._loaders import replay, split_batch
from .._state import find_module
from .._validation import check_positive_int
from ._fields import decide, fields, rebuild, summarize
from ._plan import Plan, make_plan, order_hash
from ._progress import ProgressLog, RunRecord, result_fingerprint
from ._sinks import Layout, MemmapSink, MemorySink, check_fillable


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
    input tensor); a dict batch needs a ``collate_fn`` that returns a tuple. The
    loader must be a ``DataLoader`` over a map-style dataset that visits every row at
    most once. Each batch is moved to ``device`` (default: the model's device) and
    attributed with ``attributor.attribute(inputs, target=..., **attribute_kwargs)``,
    which must return per-example tensors (batch axis first) of a fixed shape and dtype.

    Results go to preallocated CPU tensors, or to ``.npy`` memmaps when ``out`` is a
    path or when they would exceed ``memory_budget`` bytes (then in a temporary
    folder); the returned tensors are then backed by the files (bfloat16 results are
    stored as their ``uint16`` bit patterns). Rows the loader never visits
    (``drop_last=True``, a sampler over a subset) are NaN, with a warning; results
    whose dtype cannot hold NaN are then refused.

    ``resume=True`` continues the run written to ``out``, from its unfinished batches,
    and produces the same files. It is refused (``ValueError`` naming the file and
    what differs) unless the run is the same: dataset size, the loader's batches and
    their order, the attributor and its arguments (tensors by shape and dtype; the
    model's weights are not compared), the result shapes and dtypes, and
    data files whose size and finished rows are as recorded. A shuffling loader needs
    a seeded ``generator`` to resume. With nothing to resume, a new run starts.

    Under ``torch.distributed`` (``torchrun``, gloo or nccl) every process must call
    ``explain_loader`` with the same loader and arguments. Rank 0's draw of the
    batches is used by all; each process takes every ``world_size``-th batch; the rows
    are gathered to rank 0 (in memory) or written by each process into the shared
    ``out`` file. Rank 0 returns the result, the other ranks ``None``. Each
    ``attributor.attribute`` call is local to its process (no collective).

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
    check_positive_int(memory_budget, "memory_budget", allow_none=True)
    if resume and out is None:
        raise ValueError("`resume=True` continues the run written to `out`: pass the same `out=` path.")
    plan = make_plan(loader, resume=resume)
    rank, _ = rank_and_world()
    mine = plan.mine()
    device = _device(attributor, device)
    source = f"{type(attributor).__name__}.attribute"

    def attribute(number: int, batch: object) -> tuple[Tensor, ...]:
        inputs, target = split_batch(batch, target_in_batch)
        kwargs = dict(attribute_kwargs)
        if target is not None:
            kwargs["target"] = _to(target, device)
        if seed is not None:
            kwargs[seed_kwarg] = torch.Generator().manual_seed(seed + number)
        with local_process():
            return Layout.entries(attributor.attribute(_to(inputs, device), **kwargs), source)

    first = (mine[0], attribute(mine[0], _fetch(loader, [plan.batches[mine[0]]]))) if mine else None
    layout = from_rank0(lambda: Layout.of(first[1], len(plan.batches[0]), source))  # type: ignore[index]
    raise_together(_error(lambda: first is None or layout.check(first[0], plan.batches[first[0]], first[1])))
    check_fillable(layout, plan.uncovered)
    if rank == 0:
        _warn_uncovered(plan)
    if out is None and memory_budget is not None and layout.nbytes(plan.n_rows) > memory_budget:
        layout.check_storable()
        out = from_rank0(lambda: _temporary_out(layout.nbytes(plan.n_rows)))

    work = _Work(plan, loader, attribute, layout, first, show_progress and rank == 0, source)
    if out is None:
        sink = MemorySink(plan.n_rows, layout, plan.uncovered)
        work.run(mine, sink.write)
        result = _gather_rows(sink, plan, layout)
    else:
        call = _call_description(attributor, seed, seed_kwarg, target_in_batch, attribute_kwargs)
        result = _run_to_files(work, mine, Path(out), resume, call)
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

    ``metric`` returns a ``(B, ...)`` tensor, a tuple of values, or a dataclass (like
    ``selectivity``'s result), e.g. ``functools.partial(selectivity, model, explanation_func=...)``.
    Tensors with the batch axis first in every batch are per-example; any other field
    (``rcap(..., return_levels=True)``'s ``levels``, a 0-d tensor, a number) must be
    equal in every batch and is returned as it is, otherwise a ``ValueError`` names
    it (a dataclass field can declare ``metadata={"per_example": False}``).

    ``reduce="none"`` returns the per-example values in dataset order (the same
    container as ``metric`` returns; on rank 0 only under ``torch.distributed``; rows
    the loader never visits are NaN, with a warning); ``reduce="mean"`` returns their
    means over the visited rows on every process, from all-reduced sums and counts.
    Loader rules as in ``explain_loader``; each ``metric`` call is local to its process.
    """
    if reduce not in ("none", "mean"):
        raise ValueError(f"`reduce` must be 'none' or 'mean', got {reduce!r}.")
    plan = make_plan(loader)
    rank, _ = rank_and_world()
    mine = plan.mine()
    device = torch.device(device) if device is not None else None
    bar = _bar(show_progress and rank == 0, len(mine), "metric over the loader")
    first: Any = None
    parts: list[tuple[list[int], list[Any]]] = []
    for number, batch in zip(mine, replay(loader, [plan.batches[b] for b in mine])):
        inputs, target = split_batch(batch, target_in_batch)
        kwargs = dict(metric_kwargs)
        if target is not None:
            kwargs["target"] = _to(target, device)
        with local_process():
            value = metric(_to(inputs, device), **kwargs)
        values = [v.detach().cpu() if isinstance(v, Tensor) else v for v in fields(value)[1]]
        first = rebuild(value, values) if first is None else first
        parts.append((plan.batches[number], values))
        bar.update()
    bar.close()

    ref, per_example = decide(all_gather_objects(summarize(parts, first)))
    shared = fields(ref.template)[1]
    if reduce == "mean":
        count = all_reduce_sum(torch.tensor(float(sum(len(rows) for rows, _ in parts))))
        means = [
            all_reduce_sum(_column_sum(parts, i, ref.tails[i][0])) / count if per else shared[i]  # type: ignore[index]
            for i, per in enumerate(per_example)
        ]
        return rebuild(ref.template, means)
    columns = [i for i, per in enumerate(per_example) if per]
    layout = Layout(tuple(ref.tails[i][0] for i in columns), tuple(ref.tails[i][1] for i in columns))  # type: ignore[index]
    check_fillable(layout, plan.uncovered, [ref.names[i] for i in columns])
    gathered = gather_to_rank0([(rows, tuple(vals[i] for i in columns)) for rows, vals in parts])
    if gathered is None:
        return None
    _warn_uncovered(plan)
    sink = MemorySink(plan.n_rows, layout, plan.uncovered)
    for number, (rows, vals) in enumerate(item for per_rank in gathered for item in per_rank):  # type: ignore[union-attr]
        sink.write(number, rows, vals)
    values = list(shared)
    for i, t in zip(columns, sink.tensors):
        values[i] = t
    return rebuild(ref.template, values)


# --- helpers ---------------------------------------------------------------------------------------


@dataclass
class _Work:
    """The batches of a run, how to attribute them, and the first batch already attributed."""

    plan: Plan
    loader: DataLoader
    attribute: Callable[[int, object], tuple[Tensor, ...]]
    layout: Layout
    first: tuple[int, tuple[Tensor, ...]] | None
    show_progress: bool
    source: str

    def run(self, todo: list[int], write: Callable[[int, list[int], tuple[Tensor, ...]], None]) -> None:
        """Attribute the batches ``todo`` and ``write`` each one's rows."""
        batches = self.plan.batches
        bar = _bar(self.show_progress, len(todo), f"{self.source} over the loader")
        if self.first is not None and self.first[0] in todo:
            write(self.first[0], batches[self.first[0]], self.first[1])
            bar.update()
        rest = [b for b in todo if self.first is None or b != self.first[0]]
        for number, batch in zip(rest, replay(self.loader, [batches[b] for b in rest])):
            values = self.attribute(number, batch)
            self.layout.check(number, batches[number], values)
            write(number, batches[number], values)
            bar.update()
        bar.close()


def _run_to_files(
    work: _Work, mine: list[int], out: Path, resume: bool, call: dict[str, str]
) -> tuple[Tensor, ...] | None:
    """Write into ``.npy`` memmaps with a progress log per process; resume a recorded run."""
    rank, _ = rank_and_world()
    plan, layout = work.plan, work.layout
    record = RunRecord(out, layout)
    fingerprint = {
        "rows": plan.n_rows,
        "batches": len(plan.batches),
        "order": order_hash(plan.batches),
        "call": call,
        "results": result_fingerprint(layout, plan.n_rows),
    }
    run, resumed = from_rank0(lambda: record.prepare(resume, fingerprint, plan.n_rows, plan.uncovered))
    log = ProgressLog(record.progress(rank), run, rank)
    opened: list[tuple[MemmapSink, set[int]]] = []

    def open_sink() -> None:
        sink = MemmapSink(record.files, layout)
        opened.append((sink, log.finished(plan.batches, sink.checksums) if resumed else set()))
        log.open()

    raise_together(_error(open_sink))
    sink, done = opened[0]
    try:
        work.run(
            [b for b in mine if b not in done],
            lambda b, rows, vals: log.record(b, rows, sink.write(rows, vals)),
        )
    finally:
        log.close()
    barrier()  # every process has flushed its rows
    return sink.tensors if rank == 0 else None


def _gather_rows(sink: MemorySink, plan: Plan, layout: Layout) -> tuple[Tensor, ...] | None:
    """Rank 0 collects every process's rows into one set of tensors."""
    _, world = rank_and_world()
    if world == 1:
        return sink.tensors
    rows = [r for b in sorted(sink.done) for r in plan.batches[b]]
    index = torch.tensor(rows, dtype=torch.long)
    received = gather_to_rank0((rows, tuple(t[index] for t in sink.tensors)))
    if received is None:
        return None
    full = MemorySink(plan.n_rows, layout, plan.uncovered)
    for number, (r, vals) in enumerate(received):  # type: ignore[misc]
        if r:
            full.write(number, r, vals)
    return full.tensors


def _column_sum(parts: list[tuple[list[int], list[Any]]], i: int, tail: tuple[int, ...]) -> Tensor:
    total = torch.zeros(tail, dtype=torch.float64)
    for _, vals in parts:
        total += vals[i].double().sum(0)
    return total


def _warn_uncovered(plan: Plan) -> None:
    if plan.uncovered.size:
        warnings.warn(
            f"`loader` never visits {plan.uncovered.size} of {plan.n_rows} dataset rows (e.g. "
            f"{plan.uncovered[:5].tolist()}: drop_last=True or a sampler over a subset); their results "
            "are NaN.",
            stacklevel=3,
        )


def _temporary_out(size: int) -> Path:
    path = Path(tempfile.mkdtemp(prefix="captum_ts_")) / "attributions.npy"
    warnings.warn(
        f"the attributions ({size / 2**20:.1f} MiB) exceed memory_budget; writing them to {path}",
        stacklevel=5,
    )
    return path


def _call_description(
    attributor: Any, seed, seed_kwarg, target_in_batch, kwargs: dict[str, Any]
) -> dict[str, str]:
    """The attributor and its arguments, as a resume must repeat them (tensors by shape and dtype)."""
    model = find_module(getattr(attributor, "forward_func", None))
    call = {
        "attributor": type(attributor).__qualname__,
        "model": type(model).__qualname__ if model is not None else "?",
        "seed": repr(seed),
        "seed_kwarg": repr(seed_kwarg),
        "target_in_batch": repr(target_in_batch),
    }
    return {**call, **{k: _describe(v) for k, v in kwargs.items()}}


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"Tensor{tuple(value.shape)}:{str(value.dtype).removeprefix('torch.')}"
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__}({', '.join(_describe(v) for v in value)})"
    return type(value).__qualname__


def _error(action: Callable[[], object]) -> Exception | None:
    """The ValueError/TypeError/OSError ``action`` raises, to be raised on every process."""
    try:
        action()
    except (ValueError, TypeError, OSError) as exc:
        return exc
    return None


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


def _bar(enabled: bool, total: int, desc: str) -> Any:
    return progress(desc=desc, total=total) if enabled else NullProgress()
