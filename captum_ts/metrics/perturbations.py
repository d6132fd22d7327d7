"""Perturbation functions for the continuity metric (Captum's ``perturb_func``
protocol: they take the repeated inputs and return perturbed ones, so they also
work with ``captum.metrics.sensitivity_max``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .._validation import check_generator, check_positive_int, per_input
from ._perturbation import time_axis

SHIFT_MODES = ("edge", "roll", "zero")


def time_shift(
    max_shift: int = 1,
    feature_dim: int | tuple[int | None, ...] | None = -1,
    mode: str = "edge",
    generator: torch.Generator | None = None,
) -> Callable:
    """A ``perturb_func`` that shifts every row along time by a random non-zero
    number of steps in ``[-max_shift, max_shift]``: the time-series analogue of the
    image translations of Montavon et al.'s continuity experiment.

    ``mode`` fills the steps shifted in: ``"edge"`` repeats the first/last value,
    ``"roll"`` wraps around, ``"zero"`` puts zeros. All tensors of a tuple input
    are shifted by the same amount per row.

    >>> import torch
    >>> from captum_ts.metrics import time_shift
    >>> shift = time_shift(1, generator=torch.Generator().manual_seed(0))
    >>> x = torch.arange(5.0).view(1, 5)
    >>> shift(x)
    tensor([[0., 0., 1., 2., 3.]])
    """
    check_positive_int(max_shift, "max_shift")
    check_generator(generator)
    if mode not in SHIFT_MODES:
        raise ValueError(f"`mode` must be one of {SHIFT_MODES}, got {mode!r}.")

    def perturb(inputs: Tensor | tuple[Tensor, ...]) -> Tensor | tuple[Tensor, ...]:
        xs = inputs if isinstance(inputs, tuple) else (inputs,)
        rows = xs[0].shape[0]
        device = generator.device if generator is not None else xs[0].device
        magnitude = torch.randint(1, max_shift + 1, (rows,), generator=generator, device=device)
        sign = torch.randint(0, 2, (rows,), generator=generator, device=device) * 2 - 1
        shifts = (magnitude * sign).to(xs[0].device)
        out = tuple(
            shift_along_time(x, shifts, fdim, mode)
            for x, fdim in zip(xs, per_input(feature_dim, len(xs), "feature_dim"))
        )
        return out if isinstance(inputs, tuple) else out[0]

    return perturb


def shift_along_time(x: Tensor, shifts: Tensor, feature_dim: int | None = -1, mode: str = "edge") -> Tensor:
    """Shift row ``i`` of ``x`` by ``shifts[i]`` steps along time (positive: later).

    >>> import torch
    >>> from captum_ts.metrics import shift_along_time
    >>> shift_along_time(torch.arange(4.0).view(1, 4), torch.tensor([-1]), None, "roll")
    tensor([[1., 2., 3., 0.]])
    """
    t_axis = time_axis(x, feature_dim)
    n_time = x.shape[t_axis]
    source = torch.arange(n_time, device=x.device).view(1, -1) - shifts.view(-1, 1)  # (B, T)
    outside = (source < 0) | (source >= n_time)
    source = source % n_time if mode == "roll" else source.clamp(0, n_time - 1)
    view = [1] * x.dim()
    view[0], view[t_axis] = x.shape[0], n_time
    index = source.view(view).expand(x.shape)
    out = x.gather(t_axis, index)
    if mode == "zero":
        out = out.masked_fill(outside.view(view).expand(x.shape), 0.0)
    return out
