"""RCAP, "ReCover And Predict" (Huang & Liu, Canadian AI 2024, arXiv:2404.15564),
for time series: reveal the top of the saliency map over a baseline and ask the
model whether it still sees the class."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import torch
from captum.log import log_usage
from torch import Tensor

from .._compat import TargetType, TensorOrTupleOfTensorsGeneric, _format_tensor_into_tuples
from .._validation import check_inputs, check_positive_int
from ._counts import count_of, read_shares
from ._perturbation import (
    accumulation_dtype,
    as_tuple,
    check_attributions,
    flat_rows,
    removal_values,
    score_target_copies,
)


@dataclass(frozen=True)
class RCAPResult:
    """RCAP and its parts, levels sorted from the highest (smallest revealed region)
    down, so the revealed region grows along the last axis.

    Attributes:
        score: ``(B,)`` RCAP, the mean of ``hit_rate * probability`` over the levels used.
        hit_rate: ``(B, K)`` share of the saliency mass inside the revealed region.
        probability: ``(B, K)`` target probability of the recovered series.
        levels: ``(K,)`` the percentile levels, descending.
        used: ``(B, K)`` False where a level was dropped (see :func:`rcap`).
    """

    score: Tensor
    hit_rate: Tensor
    probability: Tensor
    levels: Tensor = field(metadata={"per_example": False})
    used: Tensor


@log_usage()
def rcap(
    forward_func: Callable,
    inputs: TensorOrTupleOfTensorsGeneric,
    attributions: TensorOrTupleOfTensorsGeneric,
    target: TargetType = None,
    levels: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9),
    baselines: float | Tensor | tuple = 0.0,
    additional_forward_args: object = None,
    max_examples_per_batch: int | None = None,
    softmax: bool = True,
    return_levels: bool = False,
) -> Tensor | RCAPResult:
    r"""RCAP: localisation and noise level of a saliency map in one score in ``[0, 1]``.

    The map is min-max normalised per example to :math:`S \in [0, 1]` (jointly over
    all input tensors; a constant map becomes all ones). For every level
    :math:`p_k` the threshold is :math:`q_k = \mathrm{sort}(S)[\lfloor n p_k\rfloor - 1]`
    over the ``n`` cells, the recovered series keeps the input where
    :math:`S > q_k` and takes ``baselines`` elsewhere, and

    .. math::
        h_k = \frac{\sum_{S > q_k} S}{\sum S}, \qquad
        \pi_k = \mathrm{softmax}\big(f(I_k)\big)_c, \qquad
        \mathrm{RCAP} = \frac{1}{K}\sum_k h_k\,\pi_k .

    :math:`h_k` rewards a concentrated (low-noise) map, :math:`\pi_k` a map whose top
    alone carries the prediction. Higher is better. :math:`\lfloor n p_k\rfloor` is
    exact: a level given in floating point counts as the fraction it stands for
    (``0.7`` is ``7/10``, see ``captum_ts/metrics/_counts.py``). As in the authors' code, when
    the highest threshold equals the map maximum (nothing would be revealed) and
    all thresholds are distinct, that level is dropped. All levels of all examples
    go through the model in batched forwards.

    Args:
        forward_func (Callable): a classifier returning ``(B, C)`` scores (logits
            by default; set ``softmax=False`` if it already returns probabilities).
        inputs (Tensor or tuple[Tensor, ...]): series, batch first.
        attributions (Tensor or tuple): saliency maps shaped like ``inputs`` (axes
            of size 1 broadcast). Ranking is by value: pass ``.abs()`` to rank by
            magnitude.
        target (int, Tensor or list, optional): the class ``c``; ``None`` uses the
            class the model predicts for ``inputs``.
        levels (sequence of float): percentile levels in ``(0, 1)``; the paper's
            default is ``0.5, 0.6, ..., 0.9``.
        baselines (float, Tensor or tuple): value of the cells not recovered
            (default 0), a number or a tensor broadcastable to the input.
        additional_forward_args (Any, optional): extra model arguments.
        max_examples_per_batch (int, optional): rows per forward pass.
        softmax (bool): apply a softmax over the last (class) axis before selecting
            the target.
        return_levels (bool): return an :class:`RCAPResult` with the per-level
            hit rates and probabilities instead of the ``(B,)`` scores.

    Returns:
        *Tensor* ``(B,)`` of RCAP scores, or an :class:`RCAPResult`; float32 for
        float16/bfloat16 models and maps, else their float dtype. A NaN or Inf model
        output raises a ValueError. A ``torch.nn.Module`` behind ``forward_func`` runs
        in eval mode and is left exactly as it was (``captum_ts._state``).

    Examples::

        >>> import torch
        >>> from captum_ts.metrics import rcap
        >>> model = lambda x: torch.stack([-x[:, :4].sum(1), x[:, :4].sum(1)], 1)  # reads x[:, :4]
        >>> x = torch.ones(2, 20)
        >>> oracle = torch.zeros(2, 20); oracle[:, :4] = 1
        >>> elsewhere = torch.zeros(2, 20); elsewhere[:, -4:] = 1
        >>> rcap(model, x, oracle, target=1), rcap(model, x, elsewhere, target=1)
        (tensor([0.7997, 0.7997]), tensor([0.4000, 0.4000]))
    """
    xs = tuple(x.detach() for x in _format_tensor_into_tuples(inputs))
    batch = check_inputs(xs)
    attrs = check_attributions(as_tuple(attributions), xs)
    check_positive_int(max_examples_per_batch, "max_examples_per_batch", allow_none=True)
    shares = _check_levels(levels)
    fills = removal_values(baselines, xs)

    flat = torch.cat([a.reshape(batch, -1) for a in attrs], dim=1)
    sal = _minmax(flat.to(accumulation_dtype(flat.dtype)))  # (B, n)
    n_cells = sal.shape[1]
    ranks = [min(max(count_of(p, n_cells, "floor") - 1, 0), n_cells - 1) for p in shares]  # (K,)
    thresholds = sal.sort(dim=1).values[:, ranks]  # (B, K), decreasing along K
    used = _used_levels(thresholds, sal.amax(1))
    revealed = sal.unsqueeze(1) > thresholds.unsqueeze(2)  # (B, K, n)
    hit = (sal.unsqueeze(1) * revealed).sum(2) / sal.sum(1, keepdim=True)
    sizes = [x[0].numel() for x in xs]
    kept, removed = flat_rows(xs, xs), flat_rows(fills, xs)

    def build(s0: int, s1: int) -> tuple[Tensor, ...]:
        parts = revealed[:, s0:s1].split(sizes, dim=2)
        return tuple(
            torch.where(m, keep, fill).view(-1, *x.shape[1:])
            for m, keep, fill, x in zip(parts, kept, removed, xs)
        )

    prob = score_target_copies(
        forward_func, xs, build, len(shares), target, additional_forward_args, max_examples_per_batch, softmax
    )
    result_dtype = torch.promote_types(sal.dtype, prob.dtype)
    hit, prob = hit.to(result_dtype), prob.to(result_dtype)
    weights = used.to(result_dtype)
    score = (hit * prob * weights).sum(1) / weights.sum(1)
    if return_levels:
        level_t = torch.tensor([float(p) for p in shares], dtype=result_dtype, device=score.device)
        return RCAPResult(score=score, hit_rate=hit, probability=prob, levels=level_t, used=used)
    return score


def _check_levels(levels: Sequence[float]) -> list[Fraction]:
    """Levels as exact rationals, descending; each in (0, 1), no duplicates."""
    shares = sorted(read_shares(levels, "levels"), reverse=True)
    if not shares or any(not 0 < v < 1 for v in shares) or len(set(shares)) != len(shares):
        raise ValueError(f"`levels` must be distinct numbers in (0, 1), got {list(levels)!r}.")
    return shares


def _minmax(sal: Tensor) -> Tensor:
    """Per-row min-max scaling to [0, 1]; a constant row becomes ones."""
    lo = sal.amin(1, keepdim=True)
    span = sal.amax(1, keepdim=True) - lo
    scaled = (sal - lo) / torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, scaled, torch.ones_like(sal))


def _used_levels(thresholds: Tensor, peak: Tensor) -> Tensor:
    """Drop the highest level when its threshold is the map maximum and all
    thresholds are distinct (the reference code's rule)."""
    used = torch.ones_like(thresholds, dtype=torch.bool)
    if thresholds.shape[1] < 2:
        return used
    distinct = (thresholds[:, :-1] != thresholds[:, 1:]).all(1)  # sorted, so neighbours suffice
    used[:, 0] = ~(distinct & (thresholds[:, 0] == peak))
    return used
