"""Vectorised target selection with Captum's semantics and clear errors.

Captum's ``target`` may be ``None``, an ``int``, a tuple of ints (``(h, c)`` for a
``(B, H, C)`` forecaster), a 0-d or 1-d tensor, a list of ints or a list of
tuples. ``normalize_target`` turns the per-example forms into one index tensor
so that expanding and selecting are single tensor operations, never a Python
loop over examples.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._compat import TargetType

#: ``None``, a tuple shared by every example, or a ``(B,)``/``(B, k)`` long tensor
#: of per-example indices.
Target = tuple[int, ...] | Tensor | None


def normalize_target(target: TargetType, batch_size: int, name: str = "target") -> Target:
    """Bring a Captum target into one of three forms: None, shared tuple, per-example tensor."""
    if target is None:
        return None
    if isinstance(target, bool):
        raise TypeError(f"`{name}` must be an int, a tuple of ints, a tensor or a list, got a bool.")
    if isinstance(target, int):
        return (target,)
    if isinstance(target, tuple):
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in target):
            raise TypeError(f"`{name}` tuple must hold ints, got {target!r}.")
        return target
    if isinstance(target, Tensor):
        if target.is_floating_point() or target.is_complex():
            raise TypeError(f"`{name}` tensor must hold integer indices, got dtype {target.dtype}.")
        if target.numel() == 1 and target.dim() <= 1:
            return (int(target.item()),)
        if target.shape[0] != batch_size or target.dim() > 2:
            raise ValueError(
                f"`{name}` tensor has shape {tuple(target.shape)}; expected ({batch_size},) "
                "with one class index per example."
            )
        return target.long()
    if isinstance(target, list):
        if len(target) != batch_size:
            raise ValueError(
                f"`{name}` list has {len(target)} entries but the batch has {batch_size} examples."
            )
        first = target[0]
        if isinstance(first, tuple) and all(isinstance(t, tuple) and len(t) == len(first) for t in target):
            return torch.tensor(target, dtype=torch.long).reshape(batch_size, len(first))
        if all(isinstance(t, int) and not isinstance(t, bool) for t in target):
            return torch.tensor(target, dtype=torch.long)
        raise TypeError(f"`{name}` list must hold only ints or only equal-length tuples of ints.")
    raise TypeError(f"`{name}` has unsupported type {type(target).__name__}.")


def expand_target(target: Target, n: int, interleave: bool = True) -> Target:
    """Repeat per-example targets ``n`` times: sample-major (``repeat_interleave``, as
    Captum's NoiseTunnel and metrics order rows) or, with ``interleave=False``,
    copy-major (the whole batch ``n`` times, as Captum's IG orders rows)."""
    if isinstance(target, Tensor) and n > 1:
        if interleave:
            return target.repeat_interleave(n, dim=0)
        return target.repeat(n, *([1] * (target.dim() - 1)))
    return target


def select_target(output: Tensor, target: Target, name: str = "target") -> Tensor:
    """Pick one scalar per example from a model output, as Captum does; return ``(B,)``.

    Raises a ``ValueError`` when an index is out of range or when the selection does
    not leave exactly one value per example (e.g. an int target on a ``(B, H, C)``
    forecaster, which selects a whole horizon step: use ``(h, c)`` instead).
    """
    if not isinstance(output, Tensor):
        raise TypeError(
            f"the model returned {type(output).__name__}; wrap it so it returns a tensor "
            "(e.g. `lambda *x: model(*x)[0]`)."
        )
    n = output.shape[0] if output.dim() > 0 else 1
    if target is None:
        selected = output
    elif isinstance(target, tuple):
        _check_index_range(output.shape[1:], target, name)
        selected = output[(slice(None), *target)]
    else:
        idx = target.to(output.device)
        if idx.dim() == 1:
            idx = idx[:, None]
        _check_index_range(
            output.shape[1:], tuple(int(v) for v in idx.amax(0)), name, tuple(int(v) for v in idx.amin(0))
        )
        rows = torch.arange(idx.shape[0], device=output.device)
        selected = output[(rows, *idx.unbind(1))]
    if output.dim() == 0 or selected.numel() != n:
        shape = tuple(output.shape)
        raise ValueError(
            f"`{name}`={_describe(target)} selects {tuple(selected.shape)} from the model output of "
            f"shape {shape}; it must select one scalar per example. "
            + (
                "For a (B, H, C) forecaster pass a tuple `(h, c)` or a list of such tuples."
                if len(shape) >= 3
                else "Pass a class index per example."
            )
        )
    return selected.reshape(n)


def _check_index_range(
    dims: torch.Size, high: tuple[int, ...], name: str, low: tuple[int, ...] | None = None
) -> None:
    if len(high) > len(dims):
        raise ValueError(
            f"`{name}` has {len(high)} indices but the model output has only {len(dims)} "
            "dims after the batch."
        )
    low = high if low is None else low
    for d, (lo, hi) in enumerate(zip(low, high)):
        if hi >= dims[d] or lo < -dims[d]:
            raise ValueError(f"`{name}` index out of range for output dim {d + 1} of size {dims[d]}.")


def _describe(target: Target) -> str:
    if isinstance(target, Tensor):
        return f"tensor of shape {tuple(target.shape)}"
    return repr(target[0] if isinstance(target, tuple) and len(target) == 1 else target)
