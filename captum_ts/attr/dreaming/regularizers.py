"""Regularisers for :class:`~captum_ts.attr.dreaming.sequence_dreaming.SequenceDreaming`.

A regulariser is one of two kinds:

* a :class:`LossTerm` is a differentiable penalty subtracted from the objective,
  ``J(x) = S(x) - sum_i penalty_i(x)``, so it shapes every gradient step
  (:class:`L2`, :class:`L1`, :class:`TotalVariation`, :class:`ProjectionPenalty`);
* a :class:`Projection` maps the sequence to a new one after every ``every``-th
  optimisation step (:class:`GaussianBlur`, :class:`ExponentialSmoothing`,
  :class:`Clip`).

Both see the sequences in one layout, ``(B, C, T)``: batch, all non-time axes
flattened into channels, time last (:func:`to_channels_by_time`), and both work
row by row, so a row's result never depends on the other rows of the batch.
Write your own by subclassing either class::

    class Energy(LossTerm):            # penalise the mean square per row
        def penalty(self, x):
            return x.square().mean((1, 2))

    class Flip(Projection):            # mirror the series every 50 steps
        every = 50
        def project(self, x):
            return x.flip(-1)
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor

from ..._validation import check_nonnegative_float, check_positive_int

__all__ = [
    "L1",
    "L2",
    "Clip",
    "ExponentialSmoothing",
    "GaussianBlur",
    "LossTerm",
    "Projection",
    "ProjectionPenalty",
    "TotalVariation",
    "default_regularizers",
    "exponential_smoothing",
    "from_channels_by_time",
    "gaussian_blur",
    "to_channels_by_time",
]


# --------------------------------------------------------------------------- protocol


class LossTerm(ABC):
    """A penalty subtracted from the objective at every step.

    Subclasses implement :meth:`penalty`, which gets ``(B, C, T)`` sequences and
    returns one differentiable value per row, ``(B,)``.
    """

    @abstractmethod
    def penalty(self, x: Tensor) -> Tensor:
        """Per-row penalty ``(B,)`` of sequences ``x`` of shape ``(B, C, T)``."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Projection(ABC):
    """A map applied to the sequences after every ``every``-th optimisation step.

    Subclasses implement :meth:`project` (``(B, C, T)`` in, same shape out, row by
    row) and may set ``every`` (default 1: after every step).
    """

    every: int = 1

    @abstractmethod
    def project(self, x: Tensor) -> Tensor:
        """The projected sequences, shaped like ``x`` ``(B, C, T)``."""

    def due(self, step: int) -> bool:
        """Whether the projection runs after the 0-based optimisation step ``step``."""
        return (step + 1) % self.every == 0

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def to_channels_by_time(x: Tensor, time_dim: int = 1) -> Tensor:
    """View a batch of series as ``(B, C, T)``: time last, the other axes flattened.

    >>> to_channels_by_time(torch.zeros(4, 50, 3)).shape
    torch.Size([4, 3, 50])
    >>> to_channels_by_time(torch.zeros(4, 50)).shape
    torch.Size([4, 1, 50])
    """
    if x.dim() < 2:
        raise ValueError(f"expected a batch of series of rank >= 2, got shape {tuple(x.shape)}.")
    axis = time_dim % x.dim()
    if axis == 0:
        raise ValueError("`time_dim` cannot be the batch axis 0.")
    moved = x.movedim(axis, -1)
    return moved.reshape(x.shape[0], -1, x.shape[axis])


def from_channels_by_time(y: Tensor, shape: torch.Size | tuple[int, ...], time_dim: int = 1) -> Tensor:
    """Inverse of :func:`to_channels_by_time` for a batch of the given ``shape``.

    >>> x = torch.randn(2, 7, 3)
    >>> torch.equal(from_channels_by_time(to_channels_by_time(x), x.shape), x)
    True
    """
    axis = time_dim % len(shape)
    moved = [s for i, s in enumerate(shape) if i != axis] + [shape[axis]]
    return y.reshape(moved).movedim(-1, axis)


# --------------------------------------------------------------------------- loss terms


def _check_weight(weight: float) -> float:
    return check_nonnegative_float(weight, "weight")


class L2(LossTerm):
    r"""``weight * sum(x**2)`` per row: keeps the sequence's energy small.

    With a linear score ``w . x`` and this term only, the optimum is
    ``x* = w / (2 weight)``.

    >>> L2(0.5).penalty(torch.ones(2, 1, 4))
    tensor([2., 2.])
    """

    def __init__(self, weight: float = 1e-3) -> None:
        self.weight = _check_weight(weight)

    def penalty(self, x: Tensor) -> Tensor:
        return self.weight * x.square().sum((1, 2))


class L1(LossTerm):
    r"""``weight * sum(|x|)`` per row: pushes small values to exactly zero.

    >>> L1(0.5).penalty(-torch.ones(2, 1, 4))
    tensor([2., 2.])
    """

    def __init__(self, weight: float = 0.0) -> None:
        self.weight = _check_weight(weight)

    def penalty(self, x: Tensor) -> Tensor:
        return self.weight * x.abs().sum((1, 2))


class TotalVariation(LossTerm):
    r"""``weight * sum_t |x[t+1] - x[t]|`` per row (summed over channels): favours
    piecewise-constant sequences.

    >>> TotalVariation(1.0).penalty(torch.tensor([[[0.0, 1.0, -1.0]]]))
    tensor([3.])
    """

    def __init__(self, weight: float = 1e-2) -> None:
        self.weight = _check_weight(weight)

    def penalty(self, x: Tensor) -> Tensor:
        return self.weight * x.diff(dim=-1).abs().sum((1, 2))


class ProjectionPenalty(LossTerm):
    r"""Turn a projection into a loss term: ``weight * sum (x - P(x))**2`` per row.

    This is the "loss" reading of a smoothing regulariser: instead of replacing
    the sequence by its smoothed version every few steps, every step is pulled
    towards it. ``P`` must be differentiable (blur and smoothing are).

    >>> term = ProjectionPenalty(GaussianBlur(sigma=1.0), weight=1.0)
    >>> term.penalty(torch.ones(1, 1, 20)) < 1e-9  # a constant is its own blur
    tensor([True])
    """

    def __init__(self, projection: Projection, weight: float = 1.0) -> None:
        if not isinstance(projection, Projection):
            raise TypeError(f"`projection` must be a Projection, got {type(projection).__name__}.")
        self.projection = projection
        self.weight = _check_weight(weight)

    def penalty(self, x: Tensor) -> Tensor:
        return self.weight * (x - self.projection.project(x)).square().sum((1, 2))


# --------------------------------------------------------------------------- projections


def gaussian_blur(x: Tensor, sigma: float, truncate: float = 4.0) -> Tensor:
    """Blur ``(B, C, T)`` sequences along time with a normalised Gaussian kernel.

    The kernel has radius ``ceil(truncate * sigma)``; the ends are padded by
    repeating the edge values, so a constant sequence stays constant. ``sigma=0``
    returns ``x`` unchanged.

    >>> gaussian_blur(torch.ones(1, 1, 5), sigma=2.0)
    tensor([[[1., 1., 1., 1., 1.]]])
    """
    radius = math.ceil(truncate * sigma)
    if sigma == 0 or radius == 0:
        return x
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    b, c, t = x.shape
    flat = F.pad(x.reshape(b * c, 1, t), (radius, radius), mode="replicate")
    return F.conv1d(flat, kernel).reshape(b, c, t)


class GaussianBlur(Projection):
    r"""Every ``every`` steps, blur the sequence along time with a Gaussian of
    standard deviation ``sigma`` time steps (a projection; see
    :func:`gaussian_blur`). Identity for ``sigma -> 0``.

    >>> blur = GaussianBlur(sigma=1.0, every=10)
    >>> blur.project(torch.tensor([[[0.0, 0.0, 3.0, 0.0, 0.0]]])).round(decimals=2)
    tensor([[[0.1600, 0.7300, 1.2000, 0.7300, 0.1600]]])
    """

    def __init__(self, sigma: float = 1.0, every: int = 10, truncate: float = 4.0) -> None:
        self.sigma = check_nonnegative_float(sigma, "sigma")
        check_positive_int(every, "every")
        self.every = every
        self.truncate = check_nonnegative_float(truncate, "truncate")

    def project(self, x: Tensor) -> Tensor:
        return gaussian_blur(x, self.sigma, self.truncate)


def _smoothing_matrix(n: int, decay: Tensor) -> Tensor:
    """``M[j, i] = decay**(j - i)`` for ``i <= j``, 0 above the diagonal (``n x n``)."""
    steps = torch.arange(n, device=decay.device)
    lag = steps[:, None] - steps[None, :]
    powers = decay.pow(lag.clamp_min(0).to(decay.dtype))
    return torch.where(lag >= 0, powers, torch.zeros_like(powers))


def _causal_smoothing(x: Tensor, alpha: float) -> Tensor:
    """``s_0 = x_0``, ``s_t = alpha x_t + (1 - alpha) s_{t-1}`` along the last axis.

    The recursion is a linear filter: ``s_t = (1-alpha)^t x_0 + sum_{k=1}^t
    alpha (1-alpha)^(t-k) x_k``. It is applied as a two-level blocked scan: the
    series ``x_1 .. x_{T-1}`` is cut into blocks of ``L ~ sqrt(T)`` steps, every
    block is filtered at once with an ``L x L`` lower-triangular matrix, and the
    carries between blocks (the state entering each block) come from a second,
    ``n_blocks x n_blocks`` matrix. Every weight is a power of ``1 - alpha`` in
    ``[0, 1]``, so nothing over- or underflows however long the series is (the
    cumulative-sum formulation needs ``(1-alpha)^-t`` and overflows), and the
    cost is ``O(T sqrt(T))`` with no loop over time.
    """
    t = x.shape[-1]
    if t == 1 or alpha == 1.0:
        return x
    lead = x.shape[:-1]
    rest = x[..., 1:].reshape(-1, t - 1)  # (R, T-1)
    start = x[..., 0].reshape(-1, 1)  # s_0 = x_0
    block = max(1, math.isqrt(t - 1))
    n_blocks = -(-(t - 1) // block)
    rest = F.pad(rest, (0, n_blocks * block - (t - 1)))  # zeros after the end change nothing before it
    blocks = rest.reshape(-1, n_blocks, block)  # (R, n, L)
    decay = torch.tensor(1.0 - alpha, device=x.device, dtype=x.dtype)
    within = _smoothing_matrix(block, decay)  # (L, L)
    local = alpha * blocks @ within.T  # block-local filter, zero state entering the block
    # state leaving block j: local[..., -1] + decay^L * (state entering block j)
    decay_block = decay.pow(block)
    between = _smoothing_matrix(n_blocks, decay_block)  # (n, n)
    # entering block j = sum_{i<j} decay_block^(j-1-i) local_end_i + decay_block^j s_0
    leaving = local[..., -1] @ between.T + start * decay_block.pow(
        torch.arange(1, n_blocks + 1, device=x.device, dtype=x.dtype)
    )  # (R, n): state leaving each block
    entering = torch.cat((start, leaving[:, :-1]), dim=1)  # (R, n)
    ramp = decay.pow(torch.arange(1, block + 1, device=x.device, dtype=x.dtype))  # (L,)
    smoothed = local + entering[..., None] * ramp
    out = torch.cat((start, smoothed.reshape(-1, n_blocks * block)[:, : t - 1]), dim=1)
    return out.reshape(*lead, t)


def exponential_smoothing(x: Tensor, alpha: float, zero_phase: bool = True) -> Tensor:
    """Exponential smoothing of ``(..., T)`` sequences along the last axis.

    ``s_0 = x_0``, ``s_t = alpha x_t + (1 - alpha) s_{t-1}``. With ``zero_phase``
    the smoothed series is smoothed again backwards in time (forward-backward
    filtering), which removes the lag of the one-sided filter. ``alpha=1`` is the
    identity.

    >>> exponential_smoothing(torch.tensor([1.0, 0.0, 0.0]), alpha=0.5, zero_phase=False)
    tensor([1.0000, 0.5000, 0.2500])
    """
    out = _causal_smoothing(x, alpha)
    if zero_phase:
        out = _causal_smoothing(out.flip(-1), alpha).flip(-1)
    return out


class ExponentialSmoothing(Projection):
    r"""Every ``every`` steps, replace the sequence by its exponential smoothing
    with factor ``alpha`` in ``(0, 1]`` (a projection; see
    :func:`exponential_smoothing`). ``zero_phase=True`` filters forwards and
    backwards so peaks do not shift in time. Identity for ``alpha = 1``.

    >>> ExponentialSmoothing(alpha=1.0).project(torch.tensor([[[1.0, -2.0, 3.0]]]))
    tensor([[[ 1., -2.,  3.]]])
    """

    def __init__(self, alpha: float = 0.3, every: int = 10, zero_phase: bool = True) -> None:
        alpha = check_nonnegative_float(alpha, "alpha")
        if not 0 < alpha <= 1:
            raise ValueError(f"`alpha` must lie in (0, 1], got {alpha}.")
        check_positive_int(every, "every")
        self.alpha = alpha
        self.every = every
        self.zero_phase = bool(zero_phase)

    def project(self, x: Tensor) -> Tensor:
        return exponential_smoothing(x, self.alpha, self.zero_phase)


class Clip(Projection):
    r"""After every step, clamp the sequence to ``[min, max]`` (a projection),
    e.g. to the range of the training data (:meth:`from_data`). Tensor bounds are
    broadcast against the ``(B, C, T)`` view: per-channel bounds have shape
    ``(C, 1)``. Identity for ``min=-inf, max=inf``.

    >>> Clip(-1.0, 1.0).project(torch.tensor([[[-3.0, 0.5, 2.0]]]))
    tensor([[[-1.0000,  0.5000,  1.0000]]])
    """

    def __init__(
        self, min: float | Tensor = -math.inf, max: float | Tensor = math.inf, every: int = 1
    ) -> None:
        for value, name in ((min, "min"), (max, "max")):
            _check_bound(value, name)
        try:
            above = bool(torch.as_tensor(min > max).any())
        except RuntimeError as err:  # tensor bounds whose shapes do not broadcast
            raise ValueError(f"`min` and `max` must broadcast against each other: {err}") from None
        if above:
            raise ValueError(f"`min` ({min}) must not exceed `max` ({max}).")
        check_positive_int(every, "every")
        self.min = min
        self.max = max
        self.every = every

    @classmethod
    def from_data(cls, data: Tensor, time_dim: int = 1, per_channel: bool = False) -> Clip:
        """Bounds from the range of a data set ``(N, ...)`` (one pair, or one per
        channel of the ``(B, C, T)`` view with ``per_channel``). The data must be a
        non-empty, finite tensor: a NaN would make a NaN bound.

        >>> Clip.from_data(torch.tensor([[0.0, 2.0], [-1.0, 1.0]]))
        Clip(min=-1.0, max=2.0, every=1)
        """
        if not isinstance(data, Tensor):
            raise TypeError(f"`data` must be a torch.Tensor, got {type(data).__name__}.")
        if data.numel() == 0:
            raise ValueError(f"`data` is empty (shape {tuple(data.shape)}); it has no range.")
        if not bool(torch.isfinite(data).all()):
            raise ValueError("`data` contains NaN or Inf values; drop or fill them before taking its range.")
        view = to_channels_by_time(data.detach(), time_dim)
        if per_channel:
            return cls(view.amin((0, 2))[:, None], view.amax((0, 2))[:, None])
        return cls(float(view.min()), float(view.max()))

    def project(self, x: Tensor) -> Tensor:
        lo = self.min.to(x) if isinstance(self.min, Tensor) else self.min
        hi = self.max.to(x) if isinstance(self.max, Tensor) else self.max
        if not isinstance(lo, Tensor) and not isinstance(hi, Tensor):
            return x.clamp(lo, hi)
        lo = torch.as_tensor(lo, dtype=x.dtype, device=x.device)
        hi = torch.as_tensor(hi, dtype=x.dtype, device=x.device)
        return torch.minimum(torch.maximum(x, lo), hi)


def _check_bound(value: object, name: str) -> None:
    """A clip bound must be a number or a tensor, and not NaN (+-inf means no bound)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Tensor)):
        raise TypeError(f"`{name}` must be a number or a tensor, got {value!r}.")
    if bool(torch.isnan(torch.as_tensor(value)).any()):
        raise ValueError(
            f"`{name}` contains NaN; pass a number, or {'-' if name == 'min' else ''}inf for no bound."
        )


def default_regularizers(objective: str | None = None) -> tuple[LossTerm | Projection, ...]:
    """The defaults: ``L2(1e-3)``, ``TotalVariation(1e-2)``, ``GaussianBlur(sigma=1,
    every=10)`` and ``ExponentialSmoothing(alpha=0.3, every=10)`` (no L1, no
    clipping); for ``objective="border"`` the two loss terms only, since projections
    keep moving the series off the border (see ``docs/sequence_dreaming.md``).

    >>> [type(r).__name__ for r in default_regularizers()]
    ['L2', 'TotalVariation', 'GaussianBlur', 'ExponentialSmoothing']
    >>> [type(r).__name__ for r in default_regularizers("border")]
    ['L2', 'TotalVariation']
    """
    if objective == "border":
        return (L2(1e-3), TotalVariation(1e-2))
    return (L2(1e-3), TotalVariation(1e-2), GaussianBlur(1.0, every=10), ExponentialSmoothing(0.3, every=10))
