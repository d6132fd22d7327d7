"""Read a layer's activation during one forward pass, through a hook removed on exit.

The activation is the layer's output (or, with ``use_input``, its positional
inputs): a tensor, a tuple of tensors, or, for ``nn.RNN``/``nn.GRU``/``nn.LSTM``,
the output sequence (the first element of the returned tuple; the final states are
left alone). With ``as_leaves`` the hook hands the rest of the network a copy that
hangs off a fresh leaf, so ``d score / d activation`` needs neither input gradients
nor unfrozen parameters and in-place operations after the layer stay legal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn


@dataclass
class Capture:
    """What the hook saw: one tuple of activations per call of the layer."""

    calls: list[tuple[Tensor, ...]] = field(default_factory=list)
    grad_enabled: bool = True

    def single(self, layer_name: str) -> tuple[Tensor, ...]:
        """The activations of the one call, or a clear error for zero or several calls."""
        if not self.calls:
            raise ValueError(
                f"{layer_name} was not called by the forward function; pass a layer of this model."
            )
        if len(self.calls) > 1:
            raise ValueError(
                f"{layer_name} was called {len(self.calls)} times in one forward pass (a layer reused "
                "across steps, or replicas of a DataParallel model); its activation is ambiguous. Pass a "
                "layer that runs once per forward, on one device (e.g. `model.module`'s layer)."
            )
        return self.calls[0]


def layer_tensors(layer: nn.Module, value: object, where: str) -> tuple[Tensor, ...]:
    """The tensors of a layer's output or input value (the sequence for recurrent layers)."""
    if isinstance(layer, nn.RNNBase) and isinstance(value, (tuple, list)):
        value = value[0]
        if not isinstance(value, Tensor):
            raise TypeError(
                f"{where} is a {type(value).__name__}; the CAM methods need a padded tensor sequence "
                "(no PackedSequence)."
            )
    if isinstance(value, Tensor):
        return (value,)
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, Tensor) for v in value):
        return tuple(value)
    raise TypeError(
        f"{where} is a {type(value).__name__} that is not a tensor or a tuple of tensors; wrap the layer "
        "so it returns tensors, or choose another `layer`."
    )


def _rebuild(layer: nn.Module, value: object, new: tuple[Tensor, ...]) -> object:
    if isinstance(layer, nn.RNNBase) and isinstance(value, (tuple, list)):
        return (new[0], *value[1:])
    if isinstance(value, Tensor):
        return new[0]
    return type(value)(new)


@contextmanager
def capture_layer(layer: nn.Module, use_input: bool, as_leaves: bool) -> Iterator[Capture]:
    """Record ``layer``'s activation on every call inside the block; see the module docstring."""
    cap = Capture()
    where = f"the {'input' if use_input else 'output'} of `layer` ({type(layer).__name__})"

    def swap(value: object) -> object:
        tensors = layer_tensors(layer, value, where)
        if not as_leaves or not torch.is_grad_enabled():
            cap.grad_enabled = cap.grad_enabled and torch.is_grad_enabled()
            cap.calls.append(tuple(t.detach() for t in tensors))
            return None
        leaves = tuple(t.detach().requires_grad_() for t in tensors)
        cap.calls.append(leaves)
        return _rebuild(layer, value, tuple(leaf.clone() for leaf in leaves))

    if use_input:
        handle = layer.register_forward_pre_hook(lambda _m, args: swap(args))
    else:
        handle = layer.register_forward_hook(lambda _m, _args, out: swap(out))
    try:
        yield cap
    finally:
        handle.remove()
