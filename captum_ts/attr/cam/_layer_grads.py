"""One forward and one backward pass: a layer's activations and the gradients of the
explained score with respect to them, both as ``(B, K, T')``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..._compat import _format_additional_forward_args
from ..._gradients import NO_GRAPH, forward_selected
from ..._targets import Target
from ._capture import capture_layer
from ._layout import TimeLayout, resolve_layout

NOT_ON_PATH = (
    "the explained score does not depend on the activation of `layer`: the layer is not on the path "
    "to the output, or (recurrent layers) the model reads the final state h_n instead of the output "
    "sequence; choose a layer the score is computed from."
)


def layer_name(layer: nn.Module, use_input: bool) -> str:
    """How messages call the activation."""
    return f"the {'input' if use_input else 'output'} of `layer` ({type(layer).__name__})"


def layer_activations(
    forward_func: Callable,
    layer: nn.Module,
    inputs: tuple[Tensor, ...],
    additional_forward_args: object,
    use_input: bool,
    axis: int | str | None,
) -> tuple[tuple[Tensor, ...], tuple[TimeLayout, ...], Any]:
    """The layer's activations as ``(B, K, T')`` (no graph), their layouts and the model
    output, from one forward pass under ``torch.no_grad()``."""
    with capture_layer(layer, use_input, as_leaves=False) as cap, torch.no_grad():
        output = run_forward(forward_func, inputs, additional_forward_args)
    acts = cap.single(f"`layer` ({type(layer).__name__})")
    layouts = _layouts(acts, axis, inputs[0].shape[0], layer_name(layer, use_input))
    return tuple(lay.to_bkt(a) for lay, a in zip(layouts, acts)), layouts, output


def layer_gradients(
    forward_func: Callable,
    layer: nn.Module,
    inputs: tuple[Tensor, ...],
    target: Target,
    additional_forward_args: object,
    use_input: bool,
    axis: int | str | None,
    grad_kwargs: dict[str, Any] | None,
) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...], tuple[TimeLayout, ...]]:
    """``(activations, d score / d activations, layouts)``, activations and gradients as
    ``(B, K, T')``; the score of each example is its target output."""
    with capture_layer(layer, use_input, as_leaves=True) as cap, torch.enable_grad():
        scores = forward_selected(forward_func, inputs, target, additional_forward_args)
    leaves = cap.single(f"`layer` ({type(layer).__name__})")
    if not cap.grad_enabled:
        raise RuntimeError(NO_GRAPH)
    if not scores.requires_grad:
        if _reaches_inputs(forward_func, inputs, target, additional_forward_args):
            raise ValueError(NOT_ON_PATH)
        raise RuntimeError(NO_GRAPH)
    layouts = _layouts(leaves, axis, inputs[0].shape[0], layer_name(layer, use_input))
    kwargs = {**(grad_kwargs or {}), "allow_unused": True}
    with torch.enable_grad():
        grads = torch.autograd.grad(scores.sum(), leaves, **kwargs)
    if all(g is None for g in grads):
        raise ValueError(NOT_ON_PATH)
    grads = tuple(torch.zeros_like(a) if g is None else g for a, g in zip(leaves, grads))
    acts = tuple(lay.to_bkt(a.detach()) for lay, a in zip(layouts, leaves))
    return acts, tuple(lay.to_bkt(g) for lay, g in zip(layouts, grads)), layouts


def _reaches_inputs(forward_func: Callable, inputs: tuple[Tensor, ...], target: Target, afa: object) -> bool:
    """Whether the score has a graph back to the (floating) inputs: tells a layer off the
    path from a forward that builds no graph at all (only run on that error path)."""
    leaves = tuple(x.detach().requires_grad_() if x.is_floating_point() else x for x in inputs)
    with torch.enable_grad():
        return bool(forward_selected(forward_func, leaves, target, afa).requires_grad)


def run_forward(forward_func: Callable, inputs: tuple[Tensor, ...], afa: object) -> Any:
    """The raw model output ``forward_func(*inputs, *additional_forward_args)``."""
    args = _format_additional_forward_args(afa)
    return forward_func(*inputs, *args) if args is not None else forward_func(*inputs)


def _layouts(
    tensors: tuple[Tensor, ...], axis: int | str | None, batch: int, name: str
) -> tuple[TimeLayout, ...]:
    return tuple(
        resolve_layout(axis, t, batch, name if len(tensors) == 1 else f"{name}[{i}]")
        for i, t in enumerate(tensors)
    )


def check_batch(inputs: tuple[Tensor, ...]) -> int:
    """Every input is a tensor with the same non-empty dim 0; floating inputs are finite.
    Return the batch size (integer inputs, e.g. token ids, are allowed: no input
    gradient is taken)."""
    if not inputs:
        raise ValueError("`inputs` is an empty tuple; pass at least one tensor.")
    for i, x in enumerate(inputs):
        where = "inputs" if len(inputs) == 1 else f"inputs[{i}]"
        if not isinstance(x, Tensor):
            raise TypeError(f"`{where}` must be a torch.Tensor, got {type(x).__name__}.")
        if x.dim() == 0 or x.shape[0] == 0:
            raise ValueError(f"`{where}` has shape {tuple(x.shape)}: it needs a non-empty batch axis 0.")
        if x.shape[0] != inputs[0].shape[0]:
            raise ValueError(
                f"`inputs` tensors disagree on the batch size (dim 0): {[int(t.shape[0]) for t in inputs]}."
            )
        if x.is_floating_point() and not bool(torch.isfinite(x).all()):
            raise ValueError(f"`{where}` contains NaN or Inf values.")
    return int(inputs[0].shape[0])
