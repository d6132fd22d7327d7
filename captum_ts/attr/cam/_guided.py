"""Guided backpropagation: input gradients in which every ReLU passes back only
positive gradient, and only where its input was positive.

The rule is installed for one forward pass by a ``TorchFunctionMode`` that routes
every ReLU call to a custom autograd function: ``nn.ReLU`` modules, ``F.relu``,
``torch.relu`` and ``Tensor.relu`` alike (module hooks, as in Captum's
``GuidedBackprop``, miss the functional forms). The mode is thread-local and
removed on exit, also on errors; nothing is registered on the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from ..._gradients import target_gradients
from ..._targets import Target

_RELU = {F.relu, torch.relu, Tensor.relu}
_RELU_INPLACE = {F.relu_, torch.relu_, Tensor.relu_}


class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, inplace: bool) -> Tensor:
        if inplace:
            out = x.clamp_(min=0)
            ctx.mark_dirty(x)
        else:
            out = x.clamp(min=0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (out,) = ctx.saved_tensors
        return grad.clamp(min=0) * (out > 0), None


class GuidedReLUMode(TorchFunctionMode):
    """Inside this mode every ReLU backpropagates with the guided rule."""

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _RELU:
            inplace = kwargs.get("inplace", args[1] if len(args) > 1 else False)
            return _GuidedReLU.apply(args[0], bool(inplace))
        if func in _RELU_INPLACE:
            return _GuidedReLU.apply(args[0], True)
        return func(*args, **kwargs)


def guided_gradients(
    forward_func: Callable, inputs: tuple[Tensor, ...], target: Target, additional_forward_args: object
) -> tuple[Tensor, ...]:
    """Guided-backpropagation gradients of the target score with respect to ``inputs``."""
    leaves = tuple(x.detach().clone() for x in inputs)
    with GuidedReLUMode():
        return target_gradients(forward_func, leaves, target, additional_forward_args)
