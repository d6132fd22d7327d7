"""Gradients of one selected output per example with respect to the inputs."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ._compat import _format_additional_forward_args
from ._targets import Target, select_target

NO_GRAPH = (
    "the forward function returned an output with no autograd graph back to the inputs: it runs "
    "under torch.no_grad()/torch.inference_mode() (a decorator or a block inside the model) or "
    "detaches its output (.detach(), .item(), numpy). Gradient methods need that graph; remove the "
    "decorator or the detach, or use a perturbation method (e.g. captum.attr.FeatureAblation)."
)


def check_grad_mode(method: str) -> None:
    """Refuse to run a gradient method under ``torch.inference_mode()``, where no graph
    can be built (``torch.no_grad()`` is fine: methods enable gradients inside)."""
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            f"{method} needs gradients, but it was called under torch.inference_mode(), which "
            "cannot be undone inside; call it outside the inference_mode block "
            "(torch.no_grad() is fine)."
        )


def check_graph(output: Tensor) -> Tensor:
    """``output`` itself, or a clear error when it carries no autograd graph."""
    if not output.requires_grad:
        raise RuntimeError(NO_GRAPH)
    return output


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
    select one scalar per example and for outputs with no graph back to the inputs
    (inference mode, ``@torch.no_grad`` forwards, detached outputs). An input the
    output does not use gets a zero gradient.
    """
    check_grad_mode("the gradient")
    with torch.enable_grad():
        leaves = tuple(x.requires_grad_() for x in inputs)
        out = check_graph(forward_selected(forward_func, leaves, target, additional_forward_args))
        return torch.autograd.grad(out.sum(), leaves, allow_unused=True, materialize_grads=True)
