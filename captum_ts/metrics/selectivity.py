"""Explanation selectivity (pixel flipping) over time patches, with AUC and AOPC.

Montavon, Samek & Müller, *Methods for interpreting and understanding deep neural
networks*, Digital Signal Processing 2018 (section 7.2); AOPC from Samek et al.,
*Evaluating the visualization of what a deep neural network has learned*, IEEE
TNNLS 2017.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from captum.log import log_usage
from torch import Tensor

from .._compat import TargetType, TensorOrTupleOfTensorsGeneric, _format_tensor_into_tuples, _is_tuple
from .._targets import normalize_target
from .._validation import check_inputs, check_positive_int
from ._guard import guarded
from ._perturbation import (
    accumulation_dtype,
    as_container,
    as_tuple,
    build_regions,
    cell_positions,
    check_attributions,
    check_order,
    flat_rows,
    forward,
    masked_copies,
    rank_positions,
    region_scores,
    removal_values,
    score_copies,
)


@dataclass(frozen=True)
class SelectivityResult:
    """A pixel-flipping curve per example and its two summaries.

    Attributes:
        curve: ``(B, n_steps + 1)`` model output after removing ``k`` regions,
            ``k = 0..n_steps``; ``curve[:, 0]`` is ``f(x)``.
        auc: ``(B,)`` normalised trapezoid area under the curve over ``k / n_steps``
            in ``[0, 1]`` (lower is better for ``order="morf"``).
        aopc: ``(B,)`` mean of ``f(x) - curve[:, k]`` over ``k = 0..n_steps``
            (higher is better for ``order="morf"``).
        n_regions: number of regions the series was cut into.
    """

    curve: Tensor
    auc: Tensor
    aopc: Tensor
    n_regions: int

    @property
    def n_steps(self) -> int:
        return self.curve.shape[1] - 1


def curve_summaries(curve: Tensor) -> tuple[Tensor, Tensor]:
    """Normalised trapezoid AUC over ``k / L`` and AOPC of ``(B, L + 1)`` curves,
    summed in float32 at least (float16/bfloat16 curves give float32 summaries).

    >>> import torch
    >>> from captum_ts.metrics import curve_summaries
    >>> auc, aopc = curve_summaries(torch.tensor([[1.0, 0.5, 0.0]]))
    >>> float(auc[0]), float(aopc[0])
    (0.5, 0.5)
    """
    n = curve.shape[1] - 1
    if n < 1:
        raise ValueError("a selectivity curve needs at least 2 points (n_steps >= 1).")
    curve = curve.to(accumulation_dtype(curve.dtype))
    auc = (curve[:, :-1] + curve[:, 1:]).sum(1) / (2 * n)
    aopc = curve[:, 0] - curve.mean(1)
    return auc, aopc


@log_usage()
def selectivity(
    forward_func: Callable,
    inputs: TensorOrTupleOfTensorsGeneric,
    attributions: TensorOrTupleOfTensorsGeneric | None = None,
    explanation_func: Callable | None = None,
    target: TargetType = None,
    n_steps: int | None = 20,
    patch_size: int = 1,
    feature_wise: bool = False,
    baselines: float | Tensor | tuple = 0.0,
    recompute: bool = False,
    order: str = "morf",
    max_examples_per_batch: int | None = None,
    additional_forward_args: object = None,
    feature_dim: int | tuple[int | None, ...] | None = -1,
    explanation_kwargs: dict | None = None,
) -> SelectivityResult:
    r"""Explanation selectivity: remove the most relevant regions one by one and
    record how fast the model output falls (pixel flipping over time patches).

    The series is cut into regions of ``patch_size`` consecutive time steps (all
    features at once, or each (time, feature) cell with ``feature_wise=True``;
    a last patch shorter when ``T`` is not a multiple of ``patch_size``). Regions
    are ranked by their summed attribution; step ``k`` replaces the ``k``-th
    ranked region by ``baselines``. Removed regions stay removed and no region is
    removed twice. The curve :math:`c_k = f(x^{(k)})`, ``k = 0..L`` with
    ``L = n_steps``, gives

    .. math::
        \mathrm{AUC} = \frac{1}{L}\sum_{k=0}^{L-1}\frac{c_k + c_{k+1}}{2}, \qquad
        \mathrm{AOPC} = \frac{1}{L+1}\sum_{k=0}^{L}\big(c_0 - c_k\big).

    With ``order="morf"`` (most relevant first) a good explanation has a low AUC
    and a high AOPC; ``"lerf"`` removes the least relevant first (high AUC is good).

    ``recompute=False`` ranks once from ``attributions`` (or one call of
    ``explanation_func``) and scores all ``n_steps + 1`` copies of every example
    in batched forwards. ``recompute=True`` follows the paper: after every removal
    the explanation is recomputed on the modified series and the best remaining
    region is removed (one ``explanation_func`` call per step, batched over the
    examples).

    Args:
        forward_func (Callable): the model or any function returning its output.
        inputs (Tensor or tuple[Tensor, ...]): series, batch first: ``(B, T)``,
            ``(B, T, F)`` or ``(B, F, T)`` (set ``feature_dim=1``).
        attributions (Tensor or tuple, optional): shaped like ``inputs`` (axes of
            size 1 broadcast, e.g. ``(B, T, 1)``). Required unless
            ``explanation_func`` is given.
        explanation_func (Callable, optional): ``explanation_func(inputs, target=...,
            additional_forward_args=..., **explanation_kwargs)``, e.g. a Captum
            ``attribute`` method; needed for ``recompute=True``.
        target (int, tuple, Tensor or list, optional): Captum's target; it must
            select one scalar per example. Passed to ``explanation_func`` too.
        n_steps (int or None): number of regions removed, one per step. Clamped to
            the number of regions ``L``; ``None`` removes all ``L`` regions.
        patch_size (int): time steps per region.
        feature_wise (bool): one region per (time patch, feature) instead of per
            time patch.
        baselines (float, Tensor or tuple): the removal value: a number, or a
            tensor broadcastable to the input (``(T, F)`` per-position values,
            ``(B, T, F)`` per example). Default 0.
        recompute (bool): recompute the explanation after every removal.
        order (str): ``"morf"`` or ``"lerf"``.
        max_examples_per_batch (int, optional): rows per forward pass (Captum's
            meaning); at least one copy of every example goes in each forward.
        additional_forward_args (Any, optional): extra model arguments; per-example
            tensors are repeated with the copies.
        feature_dim (int, None or tuple): the feature axis of each input (``-1`` for
            ``(B, T, F)``, ``1`` for ``(B, F, T)``); the other non-batch axis is time.
        explanation_kwargs (dict, optional): further keyword arguments for
            ``explanation_func`` (e.g. its own ``baselines``).

    Returns:
        SelectivityResult: ``curve`` ``(B, n_steps + 1)``, ``auc`` ``(B,)``,
        ``aopc`` ``(B,)``, on the inputs' device; float32 for float16/bfloat16
        models, else the model output's float dtype. A NaN or Inf model output
        raises a ValueError. A ``torch.nn.Module`` behind ``forward_func`` (and
        behind ``explanation_func``, e.g. ``Saliency(model).attribute``) runs in eval
        mode and is left exactly as it was (``captum_ts._state``); the explanation
        function can still take gradients.

    Examples::

        >>> import torch
        >>> from captum_ts.metrics import selectivity
        >>> w = torch.tensor([3.0, 1.0, 2.0])
        >>> model = lambda x: (x * w).sum(1)          # additive model, one output
        >>> x = torch.ones(1, 3)
        >>> res = selectivity(model, x, attributions=x * w, n_steps=3)
        >>> res.curve
        tensor([[6., 3., 1., 0.]])
        >>> round(float(res.aopc[0]), 4)
        3.5
    """
    is_tuple = _is_tuple(inputs)
    xs = tuple(x.detach() for x in _format_tensor_into_tuples(inputs))
    batch = check_inputs(xs)
    check_positive_int(patch_size, "patch_size")
    check_positive_int(n_steps, "n_steps", allow_none=True)
    check_positive_int(max_examples_per_batch, "max_examples_per_batch", allow_none=True)
    check_order(order)
    if attributions is None and explanation_func is None:
        raise ValueError("pass `attributions`, or an `explanation_func` to compute them.")
    if recompute and explanation_func is None:
        raise ValueError("`recompute=True` needs an `explanation_func` to recompute the explanation.")
    regions = build_regions(xs, feature_dim, patch_size, feature_wise)
    n = regions.total if n_steps is None else min(n_steps, regions.total)
    fills = removal_values(baselines, xs)
    tgt = normalize_target(target, batch)
    explain_kw = dict(explanation_kwargs or {})

    def explain(current: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        out = explanation_func(
            as_container(current, is_tuple),
            target=target,
            additional_forward_args=additional_forward_args,
            **explain_kw,
        )
        return check_attributions(as_tuple(out), xs, "explanation_func output")

    with guarded(forward_func, explanation_func):
        first = check_attributions(as_tuple(attributions), xs) if attributions is not None else explain(xs)
        if recompute:
            curve = _recomputed_curve(
                forward_func, xs, first, explain, regions, fills, n, order, tgt, additional_forward_args
            )
        else:
            pos = cell_positions(rank_positions(region_scores(first, regions), order), regions)
            counts = torch.arange(n + 1, device=xs[0].device)
            removed, kept = flat_rows(fills, xs), flat_rows(xs, xs)
            curve = score_copies(
                forward_func,
                lambda s0, s1: masked_copies(pos, counts[s0:s1], removed, kept, xs),
                n + 1,
                batch,
                tgt,
                additional_forward_args,
                max_examples_per_batch,
            )
    auc, aopc = curve_summaries(curve)
    return SelectivityResult(curve=curve, auc=auc, aopc=aopc, n_regions=regions.total)


def _recomputed_curve(
    forward_func: Callable,
    xs: tuple[Tensor, ...],
    first: tuple[Tensor, ...],
    explain: Callable[[tuple[Tensor, ...]], tuple[Tensor, ...]],
    regions,
    fills: tuple[Tensor, ...],
    n: int,
    order: str,
    target,
    additional_forward_args: object,
) -> Tensor:
    """Remove one region per step, re-explaining the modified series each time."""
    batch = xs[0].shape[0]
    current = tuple(x.clone() for x in xs)
    removed = torch.zeros(batch, regions.total, dtype=torch.bool, device=xs[0].device)
    exclude = float("-inf") if order == "morf" else float("inf")
    with torch.no_grad():
        values = [forward(forward_func, current, target, additional_forward_args)]
    attrs = first
    for step in range(n):
        if step > 0:
            attrs = explain(current)
        scores = region_scores(attrs, regions).masked_fill(removed, exclude)
        pick = scores.argmax(1) if order == "morf" else scores.argmin(1)
        removed[torch.arange(batch, device=pick.device), pick] = True
        current = tuple(
            torch.where((ids == pick[:, None]).view(batch, *x.shape[1:]), fill, x)
            for x, ids, fill in zip(current, regions.ids, fills)
        )
        with torch.no_grad():
            values.append(forward(forward_func, current, target, additional_forward_args))
    return torch.stack(values, dim=1)
