"""The default learned perturbation: a small bidirectional GRU and a linear read-out."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class BiGRUPerturbation(nn.Module):
    """``(B, T, F) -> (B, T, F)``: a bidirectional GRU with ``F`` hidden units per direction,
    its outputs L2-normalised over the feature axis, then ``Linear(2F -> F)``.

    This is the perturbation network of the ExtremalMask paper: it sees the whole series in
    both directions, so the replacement value at ``t`` can depend on the context.

    >>> BiGRUPerturbation(3)(torch.zeros(2, 10, 3)).shape
    torch.Size([2, 10, 3])
    """

    def __init__(self, n_features: int, hidden_size: int | None = None) -> None:
        super().__init__()
        hidden = hidden_size or n_features
        self.rnn = nn.GRU(n_features, hidden, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(2 * hidden, n_features)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)
        return self.proj(F.normalize(out, dim=-1))


class _Unsqueezed(nn.Module):
    """Run a ``(B, T, 1)`` network on ``(B, T)`` series."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.unsqueeze(-1)).squeeze(-1)


def default_perturbation_net(x: Tensor, where: str = "inputs") -> nn.Module:
    """A ``BiGRUPerturbation`` for series shaped like ``x``: ``(B, T, F)`` or ``(B, T)``."""
    if x.dim() == 3:
        return BiGRUPerturbation(x.shape[-1])
    if x.dim() == 2:
        return _Unsqueezed(BiGRUPerturbation(1))
    raise ValueError(
        f"`{where}` has shape {tuple(x.shape)}: the default perturbation network ('gru') needs "
        "(batch, time, features) or (batch, time) series. Pass your own `perturbation_net` "
        "module, or `perturbation_net=None` to blend with fixed `baselines`."
    )


@torch.no_grad()
def reset_parameters(module: nn.Module, generator: torch.Generator | None) -> None:
    """Re-draw every parameter of the GRU and linear layers from ``generator`` with PyTorch's
    default ranges (uniform in ``+-1/sqrt(fan)``), so the start is reproducible."""
    if generator is None:
        return
    for layer in module.modules():
        if isinstance(layer, nn.RNNBase):
            bound = 1.0 / math.sqrt(layer.hidden_size)
        elif isinstance(layer, nn.Linear):
            bound = 1.0 / math.sqrt(layer.in_features)
        else:
            continue
        for p in layer.parameters(recurse=False):
            draw = torch.rand(p.shape, generator=generator, device=generator.device, dtype=p.dtype)
            p.copy_((2 * draw - 1) * bound)
