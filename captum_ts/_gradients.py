"""Gradients of one selected output per example with respect to the inputs."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ._compat import _format_additional_forward_args
from ._targets import Target, select_target


def forward_selected(
    forward_func: Callable, inputs: tuple[Tensor, ...], target: Target, additional_forward_args: object
) -> Tensor:
    """Run ``forward_func(*inputs, *additional_forward_args)`` and select ``(B,)`` targets."""
    args = _format_additional_forward_args(additional_forward_args)
    output = forward_func(*inputs, *args) if args is not None else forward_func(*inputs)
    return select_target(output, target)


def target_gradients(
    forward_func: Callable,
    inputs: tuple[Tensor, ...],
    target: Target = None,
    additional_forward_args: object = None,
) -> tuple[Tensor, ...]:
    """``d f_target / d inputs`` for every row, in one forward and one backward pass.

    ``inputs`` must be leaf tensors owned by the caller (they get ``requires_grad``).
    Same signature as Captum's ``compute_gradients`` so it can serve as an
    attributor's ``gradient_func``, with a clear error for targets that do not
    select one scalar per example.
    """
    with torch.enable_grad():
        leaves = tuple(x.requires_grad_() for x in inputs)
        out = forward_selected(forward_func, leaves, target, additional_forward_args)
        if not out.requires_grad:  # the output does not depend on the inputs at all
            return tuple(torch.zeros_like(x) for x in leaves)
        return torch.autograd.grad(out.sum(), leaves, allow_unused=True, materialize_grads=True)
