r"""Norms of layer weight gradients from the layer's input rows and output signals.

A ``Linear`` (or unfolded ``Conv1d``) weight gradient is a sum of outer products
over rows, :math:`\nabla W = \Delta^\top X` with output signals
:math:`\Delta \in \mathbb R^{N\times o}` and inputs :math:`X \in \mathbb R^{N\times i}`.
Its squared Frobenius norm only needs the Gram matrix of the inputs,

.. math::
    \|\Delta^\top X\|_F^2 = \operatorname{tr}(\Delta^\top X X^\top \Delta) = \|F \Delta\|_F^2
    \quad\text{for any } F \text{ with } F^\top F = X X^\top,

so the norm for many signals (one per horizon cut-off) never forms a weight
gradient ("ghost norms"). ``F`` is ``X^T`` itself when the rows outnumber the
inputs, else the ``N x N`` triangular factor ``R`` of a QR decomposition of
``X^T`` (no squared condition number): a signal costs :math:`\min(N, i)\,N\,o`
instead of :math:`N o i`, and the anti-causal norm, of ``F (Delta_full - Delta)``,
reuses the same product.

A *step-local* layer, whose output column ``j`` feeds horizon step ``t_j`` only
(a forecaster's head), needs no signal per cut-off at all: the masked loss keeps
whole rows of the full weight gradient, so every cut-off's squared norm is a
prefix sum over steps of squared row norms (``column_local_norms_sq``).
"""

from __future__ import annotations

import torch
from torch import Tensor

#: dtypes whose norms are accumulated in float32 (squares of norms above 256 overflow float16)
LOW_PRECISION = (torch.float16, torch.bfloat16)


def norm_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype gradient norms of a ``dtype`` model are accumulated in."""
    return torch.float32 if dtype in LOW_PRECISION else dtype


class LayerNorms:
    """Squared gradient norms of one layer's weight and bias for batches of signals.

    Args:
        rows: layer inputs as rows ``(N, i)``.
        full_signal: the signal of the full (unmasked) loss, ``(G, N, o)``: the
            anti-causal signal of a cut-off is ``full - causal``.
        has_bias: whether the layer's bias is trained.

    >>> import torch
    >>> x, d = torch.randn(5, 7, dtype=torch.float64), torch.randn(1, 5, 3, dtype=torch.float64)
    >>> w_c, w_a, _, _ = LayerNorms(x, d, has_bias=False).causal_anti_sq(0.25 * d[None])
    >>> grad = d[0].T @ x  # the full weight gradient
    >>> torch.allclose(w_c, (0.25 * grad).square().sum()), torch.allclose(w_a, (0.75 * grad).square().sum())
    (True, True)
    """

    def __init__(self, rows: Tensor, full_signal: Tensor, has_bias: bool) -> None:
        wide = norm_dtype(rows.dtype)
        rows, full_signal = rows.to(wide), full_signal.to(wide)
        self.has_bias = has_bias
        self.full_signal = full_signal
        self.full_weight_grad = torch.einsum("gno,ni->goi", full_signal, rows)
        self.factor = gram_factor(rows)
        self.full_projection = self.factor @ full_signal  # (G, r, o)

    def causal_anti_sq(self, signal: Tensor) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Squared norms for signals ``(K, G, N, o)``: weight causal, weight anti-causal,
        bias causal, bias anti-causal, each ``(K, G)`` (bias entries None without bias)."""
        signal = signal.to(self.factor.dtype)
        projection = self.factor @ signal  # (K, G, r, o)
        w_c = sum_sq(projection, 2)
        w_a = sum_sq(self.full_projection - projection, 2)
        if not self.has_bias:
            return w_c, w_a, None, None
        bias = signal.sum(-2)
        return w_c, w_a, sum_sq(bias, 1), sum_sq(self.full_signal.sum(-2) - bias, 1)


def sum_sq(x: Tensor, n_dims: int) -> Tensor:
    """Sum of squares over the last ``n_dims`` axes, without a squared copy of ``x``
    (accumulated in float32 for float16/bfloat16)."""
    wide = norm_dtype(x.dtype)
    return torch.linalg.vector_norm(
        x, dim=tuple(range(-n_dims, 0)), dtype=None if wide == x.dtype else wide
    ).square()


def gram_factor(rows: Tensor) -> Tensor:
    """A factor ``F (r, N)``, ``r = min(N, i)``, with ``F^T F = rows rows^T``.

    >>> import torch
    >>> x = torch.randn(4, 9, dtype=torch.float64)
    >>> f = gram_factor(x)
    >>> f.shape, torch.allclose(f.T @ f, x @ x.T)
    (torch.Size([4, 4]), True)
    """
    n, fan_in = rows.shape
    if n >= fan_in:
        return rows.T
    work = rows if rows.dtype in (torch.float32, torch.float64) else rows.float()
    return torch.linalg.qr(work.T, mode="r").R.to(rows.dtype)


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
