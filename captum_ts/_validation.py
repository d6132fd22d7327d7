"""Argument checks shared by every method and metric.

Each check raises a ``ValueError`` or ``TypeError`` whose message names the
argument and says how to fix it, instead of letting a bare torch error surface
from deep inside a computation.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor


def check_inputs(inputs: tuple[Tensor, ...], name: str = "inputs", *, min_dim: int = 2) -> int:
    """Check a tuple of attributed tensors and return the shared batch size.

    Every tensor must be floating point, finite, of rank >= ``min_dim`` and share
    a non-empty dim 0.
    """
    if len(inputs) == 0:
        raise ValueError(f"`{name}` is an empty tuple; pass at least one tensor.")
    batch = None
    for i, x in enumerate(inputs):
        where = name if len(inputs) == 1 else f"{name}[{i}]"
        if not isinstance(x, Tensor):
            raise TypeError(f"`{where}` must be a torch.Tensor, got {type(x).__name__}.")
        if not x.is_floating_point():
            raise TypeError(
                f"`{where}` has dtype {x.dtype}; attributions need a floating point "
                "tensor (convert with `.float()`)."
            )
        if x.dim() < min_dim:
            raise ValueError(
                f"`{where}` has shape {tuple(x.shape)}; expected at least {min_dim} dims "
                "with the batch first, e.g. (batch, time) or (batch, time, features)."
            )
        if x.shape[0] == 0:
            raise ValueError(f"`{where}` is an empty batch (dim 0 has size 0).")
        if any(s == 0 for s in x.shape[1:]):
            raise ValueError(f"`{where}` has shape {tuple(x.shape)}: a zero-length axis.")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"`{where}` contains NaN or Inf values.")
        if batch is None:
            batch = x.shape[0]
        elif x.shape[0] != batch:
            raise ValueError(
                f"`{name}` tensors disagree on the batch size (dim 0): {[int(t.shape[0]) for t in inputs]}."
            )
    assert batch is not None
    return int(batch)


def check_positive_int(value: object, name: str, *, allow_none: bool = False) -> None:
    """``value`` must be an integer >= 1 (or None when ``allow_none``)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be a positive integer, got {value!r}.")
    if value < 1:
        raise ValueError(f"`{name}` must be a positive integer (>= 1), got {value}.")


def check_nonnegative_float(value: object, name: str) -> float:
    """``value`` must be a finite real number >= 0; return it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a non-negative number, got {value!r}.")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0, got {value}.")
    return float(value)


def per_input(value: object, n_inputs: int, name: str) -> tuple:
    """Broadcast a scalar option to one value per input tensor, or check a tuple's length."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n_inputs:
            raise ValueError(f"`{name}` has {len(value)} entries but there are {n_inputs} input tensors.")
        return tuple(value)
    return (value,) * n_inputs


def check_generator(generator: object, name: str = "generator") -> torch.Generator | None:
    """``generator`` must be ``None`` or a ``torch.Generator`` (not a seed or a numpy RNG)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    raise TypeError(
        f"`{name}` must be a torch.Generator or None, got {type(generator).__name__}; "
        "for a seed pass `torch.Generator().manual_seed(seed)`."
    )
