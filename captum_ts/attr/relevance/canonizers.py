"""Canonizers: rewrite the model into an equivalent one the rules handle better.

BatchNorm right after a ``Linear`` or convolution is merged into it,
``W' = W * gamma / sqrt(var + eps)``, ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``,
so the pair is one linear layer and its rule sees the normalised output. The merge is
never written into the model: the merged parameters only feed the rule's modified
forward during propagation, so "undoing" it afterwards is nothing to do and the
user's modules are never touched.
"""

from __future__ import annotations

from dataclasses import replace

from torch import Tensor, nn

from .layers import BATCH_NORMS, CONVOLUTIONS, LinearForm, batch_norm_affine, linear_form


def can_merge(layer: nn.Module, layer_output: Tensor, bn: nn.Module) -> bool:
    """True when ``bn`` normalises ``layer``'s output channels (dim 1): a convolution, or a
    ``Linear`` with ``(B, C)`` output. Other pairs keep BatchNorm as its own layer."""
    if not isinstance(bn, BATCH_NORMS):
        return False
    channels = layer.out_channels if isinstance(layer, CONVOLUTIONS) else getattr(layer, "out_features", -1)
    if isinstance(layer, nn.Linear) and layer_output.dim() != 2:
        return False
    return isinstance(layer, (nn.Linear, *CONVOLUTIONS)) and bn.num_features == channels


def merged_form(layer: nn.Module, bn: nn.Module) -> LinearForm:
    """The functional form of ``bn(layer(x))`` as one linear layer."""
    form = linear_form(layer)
    scale, shift = batch_norm_affine(bn)
    weight = form.weight * scale.reshape((-1,) + (1,) * (form.weight.dim() - 1))
    bias = shift if form.bias is None else form.bias * scale + shift
    return replace(form, weight=weight, bias=bias)
