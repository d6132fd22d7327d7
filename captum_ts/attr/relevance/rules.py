r"""Relevance rules as data.

Every rule for a linear layer (``Linear``, convolutions, average pooling, BatchNorm)
is one formula with different ingredients. For output relevances :math:`R_k`,

.. math::
    R_j = \sum_{\text{terms}} c \sum_{\text{parts}} x'_j \sum_k
          \frac{\rho(w_{jk})\, R_k}{\operatorname{stab}_\varepsilon\big(z_k\big)},
    \qquad z_k = \sum_{\text{parts}} \Big(\sum_j x'_j \rho(w_{jk}) + \rho(b_k)\Big)

where each *part* modifies the layer's input (:math:`x' = m(x)`), weight and bias, a
*term* sums its parts over one shared denominator and is scaled by :math:`c`, and
:math:`\operatorname{stab}_\varepsilon(z) = z + \varepsilon\,\operatorname{sign}(z)`
(a zero denominator sends no relevance). LRP-0, epsilon, gamma, alpha-beta, z+, flat,
w^2 and the z^B box rule below are a few lines of data each; the propagation that
uses them lives in :mod:`.propagation`.

Layers that are not linear get one of three other kinds: ``passthrough`` (element-wise
activations, dropout: relevance unchanged), ``gradient`` (max pooling: winner takes
all; ``Flatten``: a reshape) and ``recurrent`` (``nn.LSTM``/``nn.GRU``, Arras et al.
2017, in :mod:`.recurrent`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

Modifier = Callable[[Tensor], Tensor]

LINEAR, PASSTHROUGH, GRADIENT, RECURRENT = "linear", "passthrough", "gradient", "recurrent"


def _same(t: Tensor) -> Tensor:
    return t


def positive(t: Tensor) -> Tensor:
    """``t^+``."""
    return t.clamp(min=0)


def negative(t: Tensor) -> Tensor:
    """``t^-`` (non-positive)."""
    return t.clamp(max=0)


def _ones(t: Tensor) -> Tensor:
    return torch.ones_like(t)


def _square(t: Tensor) -> Tensor:
    return t * t


@dataclass(frozen=True)
class Part:
    """One contribution ``f(inputs(x), weight(W), bias(b))`` of a term; ``bias=None``
    leaves the bias out of this part."""

    inputs: Modifier = _same
    weight: Modifier = _same
    bias: Modifier | None = _same

    @property
    def is_plain(self) -> bool:
        """True when the part is the layer itself (no modification)."""
        return self.inputs is _same and self.weight is _same and self.bias is _same


@dataclass(frozen=True)
class Term:
    """Parts sharing one denominator, scaled by ``coefficient``."""

    parts: tuple[Part, ...]
    coefficient: float = 1.0


@dataclass(frozen=True, repr=False)
class Rule:
    """A relevance rule: its ``kind``, and for linear layers its terms and epsilon."""

    name: str
    kind: str
    terms: tuple[Term, ...] = ()
    epsilon: float = 0.0

    def __repr__(self) -> str:
        return self.name

    @property
    def modifies_weights(self) -> bool:
        """True when some part changes the weights (then the layer must have weights)."""
        return any(p.weight is not _same for t in self.terms for p in t.parts)

    @property
    def is_plain(self) -> bool:
        """True for LRP-0/epsilon: one unmodified part."""
        return len(self.terms) == 1 and len(self.terms[0].parts) == 1 and self.terms[0].parts[0].is_plain


def _check_nonnegative(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"`{name}` must be a non-negative number, got {value!r}.")
    return float(value)


def zero() -> Rule:
    """LRP-0: ``R_j = sum_k a_j w_jk / z_k R_k``; equals Gradient x Input on
    piecewise-linear networks."""
    return Rule("LRP-0", LINEAR, (Term((Part(),)),))


def epsilon(eps: float = 1e-9) -> Rule:
    """LRP-epsilon: LRP-0 with ``eps * sign(z_k)`` added to the denominator, which
    absorbs weak or contradictory contributions (``eps`` as in Captum's ``EpsilonRule``)."""
    eps = _check_nonnegative(eps, "eps")
    return Rule(f"epsilon({eps:g})", LINEAR, (Term((Part(),)),), eps)


def gamma(gamma: float = 0.25, eps: float = 1e-9) -> Rule:
    """LRP-gamma: weights ``w + gamma * w^+`` (favours positive evidence)."""
    g = _check_nonnegative(gamma, "gamma")
    eps = _check_nonnegative(eps, "eps")

    def weight(w: Tensor) -> Tensor:
        return w + g * w.clamp(min=0)

    return Rule(f"gamma({g:g})", LINEAR, (Term((Part(weight=weight, bias=weight),)),), eps)


def alpha_beta(alpha: float = 1.0, beta: float = 0.0) -> Rule:
    """Alpha-beta: ``alpha`` times the positive contributions (``x^+ w^+``, ``x^- w^-``,
    ``b^+``) over their sum, minus ``beta`` times the negative ones over theirs;
    ``alpha - beta`` must be 1."""
    a, b = _check_nonnegative(alpha, "alpha"), _check_nonnegative(beta, "beta")
    if abs(a - b - 1) > 1e-12:
        raise ValueError(f"alpha-beta needs `alpha - beta == 1`, got alpha={alpha}, beta={beta}.")
    plus = Term((Part(positive, positive, positive), Part(negative, negative, None)), a)
    minus = Term((Part(positive, negative, negative), Part(negative, positive, None)), -b)
    terms = (plus,) if b == 0 else (plus, minus)
    return Rule(f"alpha{a:g}-beta{b:g}", LINEAR, terms)


def zplus() -> Rule:
    """z+ (deep Taylor, Montavon et al. 2017): ``x_j w_jk^+`` over its sum, no bias;
    for the non-negative inputs of a ReLU network, alpha1-beta0 without the bias."""
    return Rule("z+", LINEAR, (Term((Part(positive, positive, None), Part(negative, negative, None))),))


def flat() -> Rule:
    """Flat: inputs and weights set to 1, no bias: relevance spread evenly over each
    output's receptive field (first layer)."""
    return Rule("flat", LINEAR, (Term((Part(_ones, _ones, None),)),))


def wsquare() -> Rule:
    """w^2 (deep Taylor): ``w_jk^2`` over its sum, inputs ignored; the root-point rule
    for an unbounded real first layer."""
    return Rule("w^2", LINEAR, (Term((Part(_ones, _square, None),)),))


def zbox(low: float | Tensor, high: float | Tensor) -> Rule:
    """z^B (deep Taylor): ``z_jk = x_j w_jk - l_j w_jk^+ - h_j w_jk^-`` for inputs known
    to lie in ``[low, high]`` (scalars or tensors broadcastable to the layer's input).
    Relevance is non-negative when the output relevance is, and zero where ``x_j``
    sits at the bound that its weights' sign points to. Computed as the equal sum
    ``(x_j - l_j) w_jk^+ + (x_j - h_j) w_jk^-`` of two non-negative parts, which keeps
    both properties exact in floating point."""

    def minus(bound: float | Tensor) -> Modifier:
        def modifier(x: Tensor) -> Tensor:
            return x - torch.broadcast_to(torch.as_tensor(bound, dtype=x.dtype, device=x.device), x.shape)

        return modifier

    def above_low(x: Tensor) -> Tensor:
        lo, hi = minus(low)(x), minus(high)(x)
        if lo.numel() and not (bool(lo.min() >= 0) and bool(hi.max() <= 0)):  # NaN fails too
            raise ValueError(
                "the z^B rule needs the first layer's inputs inside `bounds`=(low, high), but some lie "
                "outside; widen the bounds, or use the w^2 rule for unbounded inputs (bounds=None)."
            )
        return lo

    return Rule("z^B", LINEAR, (Term((Part(above_low, positive, None), Part(minus(high), negative, None))),))


def passthrough() -> Rule:
    """Relevance passes unchanged (element-wise activations, dropout in eval mode)."""
    return Rule("passthrough", PASSTHROUGH)


def gradient() -> Rule:
    """Relevance follows the layer's gradient: winner takes all for max pooling, a
    reshape for ``Flatten``. Only for layers whose gradient routes without scaling."""
    return Rule("gradient", GRADIENT)


def recurrent(eps: float = 1e-6) -> Rule:
    """Arras et al. (2017) for ``nn.LSTM``/``nn.GRU``: gates pass no relevance, sums
    are split by LRP-epsilon with this ``eps``."""
    eps = _check_nonnegative(eps, "eps")
    return Rule(f"recurrent-epsilon({eps:g})", RECURRENT, epsilon=eps)
