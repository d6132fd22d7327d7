r"""Norms of layer weight gradients from the layer's input rows and output signals.

A ``Linear`` (or unfolded ``Conv1d``) weight gradient is a sum of outer products
over rows, :math:`\nabla W = \Delta^\top X` with output signals
:math:`\Delta \in \mathbb R^{N\times o}` and inputs :math:`X \in \mathbb R^{N\times i}`.
Its squared Frobenius norm is a contraction of two ``N x N`` Gram matrices,

.. math::
    \|\Delta^\top X\|_F^2 = \sum_{n,m} (\Delta\Delta^\top)_{nm} (XX^\top)_{nm},

so the norm for many signals (one per horizon cut-off) costs :math:`N^2 o` each
instead of :math:`N o i` for the outer products ("ghost norms"). ``LayerNorms``
picks the cheaper of the two per layer.

A *step-local* layer, whose output column ``j`` feeds horizon step ``t_j`` only
(a forecaster's head), needs no signal per cut-off at all: the masked loss keeps
whole rows of the full weight gradient, so every cut-off's squared norm is a
prefix sum over steps of squared row norms (``column_local_norms_sq``).
"""

from __future__ import annotations

import torch
from torch import Tensor


class LayerNorms:
    """Squared gradient norms of one layer's weight and bias for batches of signals.

    Args:
        rows: layer inputs as rows ``(N, i)``.
        full_signal: the signal of the full (unmasked) loss, ``(G, N, o)``: the
            anti-causal signal of a cut-off is ``full - causal``.
        has_bias: whether the layer's bias is trained.
    """

    def __init__(self, rows: Tensor, full_signal: Tensor, has_bias: bool) -> None:
        n, fan_in = rows.shape
        self.rows = rows
        self.full_signal = full_signal
        self.has_bias = has_bias
        self.full_weight_grad = torch.einsum("gno,ni->goi", full_signal, rows)
        # ghost: two Gram products of N^2 o per signal; outer products: N o i
        self.ghost = 2 * n < fan_in
        self.gram = rows @ rows.T if self.ghost else None

    def causal_anti_sq(self, signal: Tensor) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Squared norms for signals ``(K, G, N, o)``: weight causal, weight anti-causal,
        bias causal, bias anti-causal, each ``(K, G)`` (bias entries None without bias)."""
        anti = self.full_signal.unsqueeze(0) - signal
        if self.ghost:
            w_c, w_a = _ghost_sq(signal, self.gram), _ghost_sq(anti, self.gram)
        else:
            grad = torch.einsum("kgno,ni->kgoi", signal, self.rows)
            w_c = grad.square().sum((-1, -2))
            w_a = (self.full_weight_grad.unsqueeze(0) - grad).square().sum((-1, -2))
        if not self.has_bias:
            return w_c, w_a, None, None
        return w_c, w_a, signal.sum(-2).square().sum(-1), anti.sum(-2).square().sum(-1)


def _ghost_sq(signal: Tensor, gram: Tensor) -> Tensor:
    """``||signal^T X||_F^2`` for ``signal (..., N, o)`` given ``gram = X X^T``."""
    return (signal @ signal.transpose(-1, -2) * gram).sum((-1, -2)).clamp_min(0)


def column_local_norms_sq(column_sq: Tensor, steps: Tensor, horizon: int) -> tuple[Tensor, Tensor]:
    """Causal and anti-causal squared norms ``(G, H+1)`` of a step-local parameter.

    ``column_sq (G, o)`` holds the squared norm of each output column's slice of
    the full gradient (a weight row, a bias entry); ``steps (o,)`` the horizon step
    each column feeds. Cut-off ``h`` keeps the columns with ``steps < h`` (causal)
    or ``steps >= h`` (anti-causal).

    >>> c, a = column_local_norms_sq(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([0, 1, 1]), 2)
    >>> c.tolist(), a.tolist()
    ([[0.0, 1.0, 6.0]], [[6.0, 5.0, 0.0]])
    """
    per_step = column_sq.new_zeros(column_sq.shape[0], horizon).index_add_(1, steps, column_sq)
    zero = per_step.new_zeros(per_step.shape[0], 1)
    causal = torch.cat([zero, per_step.cumsum(1)], 1)
    anti = torch.cat([per_step.flip(1).cumsum(1).flip(1), zero], 1)
    return causal, anti
