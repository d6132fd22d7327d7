"""Linear layers as functions of (input, weight, bias), so rules can swap the parameters.

A :class:`LinearForm` runs a layer with modified parameters without touching the
module (no parameter is ever assigned): ``Linear`` and convolutions through their
functional forms, average pooling (no parameters) through its own forward, and
BatchNorm in eval mode as the per-channel affine map it is. Where it can, the form
also knows the layer's transpose (``W^T s``, the gradient with respect to the input)
as one call, and the axis along which several modified inputs can be stacked into a
single call (the input-channel axis of ``Linear`` and ungrouped convolutions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
AVERAGE_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
WEIGHTED = (nn.Linear, *CONVOLUTIONS)
LINEAR_LAYERS = (*WEIGHTED, *AVERAGE_POOLS, *BATCH_NORMS)


Transpose = Callable[[Tensor, Tensor, Tensor | None], Tensor]


@dataclass(frozen=True)
class LinearForm:
    """``fn(x, weight, bias)`` is the layer's output; ``weight``/``bias`` the values it uses.

    ``transpose(s, x, weight)``, when known, is ``W^T s`` shaped like ``x`` (else autograd
    computes it); ``stack_dim``, when not None, is the input axis along which inputs
    concatenate, with the weights concatenated along their dim 1, into one call.
    """

    fn: Callable[[Tensor, Tensor | None, Tensor | None], Tensor]
    weight: Tensor | None
    bias: Tensor | None
    transpose: Transpose | None = None
    stack_dim: int | None = None


#: dtypes whose relevance is computed in float32 (``eps`` and ratios underflow in float16)
LOW_PRECISION = (torch.float16, torch.bfloat16)


def in_float32(form: LinearForm) -> LinearForm:
    """The same layer computing in float32 (for float16/bfloat16 models)."""
    weight = None if form.weight is None else form.weight.float()
    return replace(form, weight=weight, bias=None if form.bias is None else form.bias.float())


def linear_form(module: nn.Module) -> LinearForm:
    """The functional form of a linear layer (one of ``LINEAR_LAYERS``)."""
    if isinstance(module, nn.Linear):
        return LinearForm(F.linear, module.weight.detach(), _detached(module.bias), _linear_transpose, -1)
    if isinstance(module, CONVOLUTIONS):
        plain = module.padding_mode == "zeros" and not isinstance(module.padding, str)
        transpose = _conv_transpose(module) if plain else None
        stack = 1 if module.groups == 1 else None
        weight, bias = module.weight.detach(), _detached(module.bias)
        return LinearForm(module._conv_forward, weight, bias, transpose, stack)
    if isinstance(module, BATCH_NORMS):
        scale, shift = batch_norm_affine(module)
        return LinearForm(_channel_affine, scale, shift, _channel_transpose)
    return LinearForm(lambda x, w, b: type(module).forward(module, x), None, None)


def _detached(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.detach()


def _linear_transpose(s: Tensor, x: Tensor, w: Tensor | None) -> Tensor:
    return s @ w


def _conv_transpose(conv: nn.Module) -> Transpose:
    """The input gradient of ``conv`` with weight ``w``: one ``convolution_backward`` call."""
    n = conv.weight.dim() - 2

    def transpose(s: Tensor, x: Tensor, w: Tensor | None) -> Tensor:
        return torch.ops.aten.convolution_backward(
            s, x, w, None, conv.stride, conv.padding, conv.dilation, False, (0,) * n, conv.groups,
            (True, False, False),
        )[0]  # fmt: skip

    return transpose


def _channel_transpose(s: Tensor, x: Tensor, scale: Tensor | None) -> Tensor:
    return s * scale.reshape((1, -1) + (1,) * (s.dim() - 2))


def batch_norm_affine(bn: nn.Module) -> tuple[Tensor, Tensor]:
    """Eval-mode BatchNorm as ``x * scale + shift`` per channel."""
    if bn.running_var is None or bn.running_mean is None:
        raise ValueError(
            f"{type(bn).__name__} without running statistics (track_running_stats=False) normalises "
            "by the batch's own statistics, which no relevance rule covers; give the layer a rule "
            "explicitly or use running statistics."
        )
    scale = (bn.running_var + bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale.detach(), shift.detach()


def _channel_affine(x: Tensor, scale: Tensor | None, shift: Tensor | None) -> Tensor:
    shape = (1, -1) + (1,) * (x.dim() - 2)
    out = x * scale.reshape(shape)
    return out if shift is None else out + shift.reshape(shape)
