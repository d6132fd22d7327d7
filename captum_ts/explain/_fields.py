"""Which fields of a metric's result are per-example and which are shared by every batch.

A field is per-example when it is a tensor whose first axis is the batch in every
batch of the run (or when its dataclass field says ``metadata={"per_example": True}``);
its rows go to dataset rows. Any other field (``rcap``'s ``levels``, a 0-d tensor, a
plain number) must be equal in every batch and is returned as it is; a field that
differs between batches cannot be placed in dataset rows and is refused.
``metadata={"per_example": False}`` marks a field as shared even when its length
happens to equal the batch size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


@dataclass
class Summary:
    """One process's view of its batches' results."""

    template: Any
    names: list[str]
    declared: list[bool | None]
    fits: list[bool]
    same: list[bool]
    tails: list[tuple[tuple[int, ...], torch.dtype] | None]


def fields(value: Any) -> tuple[list[str], list[Any], list[bool | None]]:
    """``(names, values, declared per-example flags)`` of a metric's result."""
    if isinstance(value, Tensor):
        return ["the result"], [value], [None]
    if isinstance(value, tuple):
        return [f"result {i}" for i in range(len(value))], list(value), [None] * len(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fs = dataclasses.fields(value)
        return (
            [f"field `{f.name}`" for f in fs],
            [getattr(value, f.name) for f in fs],
            [f.metadata.get("per_example") for f in fs],
        )
    raise TypeError(
        f"`metric` must return a tensor, a tuple or a dataclass of tensors, got {type(value).__name__}."
    )


def summarize(parts: list[tuple[list[int], list[Any]]], first: Any) -> Summary | None:
    """What this process's batches say about every field (None without batches)."""
    if not parts:
        return None
    names, _, declared = fields(first)
    n = len(names)
    fits = [all(_fits(vals[i], len(rows)) for rows, vals in parts) for i in range(n)]
    same = [all(equal(vals[i], parts[0][1][i]) for _, vals in parts[1:]) for i in range(n)]
    tails = [(tuple(parts[0][1][i].shape[1:]), parts[0][1][i].dtype) if fits[i] else None for i in range(n)]
    return Summary(first, names, declared, fits, same, tails)


def decide(summaries: list[Summary | None]) -> tuple[Summary, list[bool]]:
    """A summary with batches and the per-example flag of every field, over all processes."""
    present = [s for s in summaries if s is not None]
    if not present:
        raise ValueError("`loader` yields no batches: the dataset is empty.")
    ref = present[0]
    if any(s.names != ref.names for s in present):
        raise ValueError("`metric` returned different result types in different batches.")
    _, ref_values, _ = fields(ref.template)
    flags = []
    for i, name in enumerate(ref.names):
        fits = all(s.fits[i] for s in present)
        per_example = ref.declared[i] if ref.declared[i] is not None else fits
        if per_example and not fits:
            raise ValueError(
                f"`metric`'s {name} is declared per-example but has no batch axis in some batch."
            )
        if per_example and any(s.tails[i] != ref.tails[i] for s in present):
            raise ValueError(f"`metric`'s {name} changes shape or dtype between batches.")
        if not per_example:
            _, values, _ = zip(*(fields(s.template) for s in present))
            if not all(s.same[i] for s in present) or not all(equal(v[i], ref_values[i]) for v in values):
                raise ValueError(
                    f"`metric`'s {name} is not per-example (no batch axis in every batch, e.g. a 0-d tensor "
                    "or a grid like rcap's `levels`) and differs between batches, so it cannot be placed in "
                    "dataset rows: return one value per example."
                )
        flags.append(per_example)
    return ref, flags


def rebuild(template: Any, values: list[Any]) -> Any:
    """A result like ``template`` holding ``values``."""
    if isinstance(template, Tensor):
        return values[0]
    if isinstance(template, tuple):
        return tuple(values)
    names = [f.name for f in dataclasses.fields(template)]
    return dataclasses.replace(template, **dict(zip(names, values)))


def equal(a: Any, b: Any) -> bool:
    """Same value (tensors: shape, dtype and elements, NaN equal to NaN)."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        if not (isinstance(a, Tensor) and isinstance(b, Tensor)) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        a, b = a.detach().cpu(), b.detach().cpu()
        if a.is_floating_point():
            return torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0))
        return torch.equal(a, b)
    try:
        return bool(a == b)
    except Exception:
        return False


def _fits(value: Any, batch_size: int) -> bool:
    return isinstance(value, Tensor) and value.dim() >= 1 and value.shape[0] == batch_size
