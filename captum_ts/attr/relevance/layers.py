"""Linear layers as functions of (input, weight, bias), so rules can swap the parameters.

A :class:`LinearForm` runs a layer with modified parameters without touching the
module (no parameter is ever assigned): ``Linear`` and convolutions through their
functional forms, average pooling (no parameters) through its own forward, and
BatchNorm in eval mode as the per-channel affine map it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
AVERAGE_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
WEIGHTED = (nn.Linear, *CONVOLUTIONS)
LINEAR_LAYERS = (*WEIGHTED, *AVERAGE_POOLS, *BATCH_NORMS)


@dataclass(frozen=True)
class LinearForm:
    """``fn(x, weight, bias)`` is the layer's output; ``weight``/``bias`` the values it uses."""

    fn: Callable[[Tensor, Tensor | None, Tensor | None], Tensor]
    weight: Tensor | None
    bias: Tensor | None


def linear_form(module: nn.Module) -> LinearForm:
    """The functional form of a linear layer (one of ``LINEAR_LAYERS``)."""
    if isinstance(module, nn.Linear):
        return LinearForm(lambda x, w, b: F.linear(x, w, b), module.weight, module.bias)
    if isinstance(module, CONVOLUTIONS):
        return LinearForm(module._conv_forward, module.weight, module.bias)
    if isinstance(module, BATCH_NORMS):
        scale, shift = batch_norm_affine(module)
        return LinearForm(_channel_affine, scale, shift)
    return LinearForm(lambda x, w, b: type(module).forward(module, x), None, None)


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
