"""Deletion and insertion AUC: the target probability while the top-ranked share
of the series is deleted (set to a baseline) or inserted (over a blurred copy),
as in the Guided AbsoluteGrad paper's evaluation (``xauc_eval``), along time."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from fractions import Fraction

import torch
from captum.log import log_usage
from torch import Tensor

from .._compat import TargetType, TensorOrTupleOfTensorsGeneric, _format_tensor_into_tuples
from .._validation import check_inputs, check_positive_int, per_input
from ._counts import count_of, read_shares
from ._perturbation import (
    as_tuple,
    blur_along_time,
    build_regions,
    cell_positions,
    check_attributions,
    flat_rows,
    masked_copies,
    rank_positions,
    region_scores,
    removal_values,
    score_target_copies,
)

#: the fractions the paper evaluates: 0 %, 10 %, ..., 90 % of the map deleted or inserted
PAPER_FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@log_usage()
def deletion_auc(
    forward_func: Callable,
    inputs: TensorOrTupleOfTensorsGeneric,
    attributions: TensorOrTupleOfTensorsGeneric,
    target: TargetType = None,
    fractions: Sequence[float] = PAPER_FRACTIONS,
    baselines: float | Tensor | tuple | str = 0.0,
    patch_size: int = 1,
    feature_wise: bool = False,
    additional_forward_args: object = None,
    max_examples_per_batch: int | None = None,
    feature_dim: int | tuple[int | None, ...] | None = -1,
    softmax: bool = True,
    blur_sigma: float | None = None,
    return_curve: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Deletion AUC (DAUC, lower is better): delete the most relevant share
    :math:`\varphi_j` of the regions, record the target probability
    :math:`c_j = \mathrm{softmax}(f(x_{\varphi_j}))_c`, and integrate over the
    fractions with the trapezoid rule,
    :math:`\mathrm{AUC} = \sum_j (\varphi_{j+1} - \varphi_j)(c_j + c_{j+1})/2`.

    Regions are ``patch_size`` time steps (all features, or each feature with
    ``feature_wise=True``) ranked by summed attribution; the share
    :math:`\varphi` removes the top :math:`\lceil \varphi L \rceil` of the ``L``
    regions, exactly: a share given in floating point counts as the fraction it
    stands for (``0.3`` in float32 is ``3/10``, see ``captum_ts/metrics/_counts.py``),
    so ``0.3`` of 10 regions is 3. The default fractions ``0, 0.1, ..., 0.9`` and the softmax
    probability reproduce the paper's protocol (``sklearn.metrics.auc`` over
    ``0.1..1.0`` of the same ten values), so the area is at most 0.9; pass
    ``fractions=[k / 10 for k in range(11)]`` to integrate over the whole ``[0, 1]``.

    Args:
        forward_func (Callable): a classifier returning ``(B, C)`` logits (set
            ``softmax=False`` to use the selected output as it is).
        inputs (Tensor or tuple[Tensor, ...]): series, batch first.
        attributions (Tensor or tuple): shaped like ``inputs`` (axes of size 1
            broadcast).
        target (int, Tensor or list, optional): the class; ``None`` uses the class
            the model predicts.
        fractions (sequence of float): increasing shares in ``[0, 1]`` (Python
            numbers, or a 1-D tensor or array in any float dtype).
        baselines (float, Tensor, tuple or ``"blur"``): the deletion value (default
            0, as the paper's images); ``"blur"`` deletes to a blurred copy.
        patch_size (int): time steps per region.
        feature_wise (bool): one region per (time patch, feature).
        additional_forward_args (Any, optional): extra model arguments.
        max_examples_per_batch (int, optional): rows per forward pass.
        feature_dim (int, None or tuple): feature axis (``-1``: ``(B, T, F)``,
            ``1``: ``(B, F, T)``).
        softmax (bool): softmax over the class axis before selecting the target.
        blur_sigma (float, optional): std in time steps of the blur used by
            ``baselines="blur"`` (default ``T / 14``).
        return_curve (bool): also return the ``(B, len(fractions))`` curve.

    Returns:
        ``(B,)`` AUC per example, or ``(auc, curve)``; float32 for float16/bfloat16
        models, else the model output's float dtype. A NaN or Inf model output
        raises a ValueError. A ``torch.nn.Module`` behind ``forward_func`` runs in
        eval mode and is left exactly as it was (``captum_ts._state``).

    Examples::

        >>> import torch
        >>> from captum_ts.metrics import deletion_auc
        >>> model = lambda x: torch.stack([-x[:, :2].sum(1), x[:, :2].sum(1)], 1)
        >>> x = torch.ones(1, 10)
        >>> good = torch.linspace(1, 0, 10).expand(1, 10)   # ranks x[:, :2] first
        >>> deletion_auc(model, x, good, target=1) < deletion_auc(model, x, -good, target=1)
        tensor([True])
    """
    return _fraction_auc(
        forward_func,
        inputs,
        attributions,
        target,
        fractions,
        baselines,
        patch_size,
        feature_wise,
        additional_forward_args,
        max_examples_per_batch,
        feature_dim,
        softmax,
        blur_sigma,
        return_curve,
        insertion=False,
    )


@log_usage()
def insertion_auc(
    forward_func: Callable,
    inputs: TensorOrTupleOfTensorsGeneric,
    attributions: TensorOrTupleOfTensorsGeneric,
    target: TargetType = None,
    fractions: Sequence[float] = PAPER_FRACTIONS,
    baselines: float | Tensor | tuple | str = "blur",
    patch_size: int = 1,
    feature_wise: bool = False,
    additional_forward_args: object = None,
    max_examples_per_batch: int | None = None,
    feature_dim: int | tuple[int | None, ...] | None = -1,
    softmax: bool = True,
    blur_sigma: float | None = None,
    return_curve: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Insertion AUC (IAUC, higher is better): start from a baseline series
    (a Gaussian blur of the input along time by default, as the paper blurs
    images; or a constant/tensor), insert the most relevant share
    :math:`\varphi_j` of the regions from the input, record the target
    probability and integrate over the fractions (trapezoid rule).

    Same arguments as :func:`deletion_auc`; ``baselines`` is the starting series.

    Examples::

        >>> import torch
        >>> from captum_ts.metrics import insertion_auc
        >>> model = lambda x: torch.stack([-x[:, :2].sum(1), x[:, :2].sum(1)], 1)
        >>> x = torch.ones(1, 10)
        >>> good = torch.linspace(1, 0, 10).expand(1, 10)
        >>> insertion_auc(model, x, good, target=1, baselines=0.0) > insertion_auc(
        ...     model, x, -good, target=1, baselines=0.0)
        tensor([True])
    """
    return _fraction_auc(
        forward_func,
        inputs,
        attributions,
        target,
        fractions,
        baselines,
        patch_size,
        feature_wise,
        additional_forward_args,
        max_examples_per_batch,
        feature_dim,
        softmax,
        blur_sigma,
        return_curve,
        insertion=True,
    )


def _fraction_auc(
    forward_func: Callable,
    inputs: TensorOrTupleOfTensorsGeneric,
    attributions: TensorOrTupleOfTensorsGeneric,
    target: TargetType,
    fractions: Sequence[float],
    baselines: object,
    patch_size: int,
    feature_wise: bool,
    additional_forward_args: object,
    max_examples_per_batch: int | None,
    feature_dim: object,
    softmax: bool,
    blur_sigma: float | None,
    return_curve: bool,
    insertion: bool,
) -> Tensor | tuple[Tensor, Tensor]:
    xs = tuple(x.detach() for x in _format_tensor_into_tuples(inputs))
    check_inputs(xs)
    attrs = check_attributions(as_tuple(attributions), xs)
    check_positive_int(patch_size, "patch_size")
    check_positive_int(max_examples_per_batch, "max_examples_per_batch", allow_none=True)
    shares = _check_fractions(fractions)
    if isinstance(baselines, str):
        if baselines != "blur":
            raise ValueError(f"`baselines` must be a number, a tensor or 'blur', got {baselines!r}.")
        fdims = per_input(feature_dim, len(xs), "feature_dim")
        fills = tuple(blur_along_time(x, d, blur_sigma) for x, d in zip(xs, fdims))
    else:
        fills = removal_values(baselines, xs)
    regions = build_regions(xs, feature_dim, patch_size, feature_wise)
    pos = cell_positions(rank_positions(region_scores(attrs, regions), "morf"), regions)
    counts = torch.tensor([count_of(f, regions.total) for f in shares], device=xs[0].device)
    # deletion: the top regions take the baseline; insertion: they come from the input
    ranked, rest = (xs, fills) if insertion else (fills, xs)
    ranked, rest = flat_rows(ranked, xs), flat_rows(rest, xs)

    def build(s0: int, s1: int) -> tuple[Tensor, ...]:
        return masked_copies(pos, counts[s0:s1], ranked, rest, xs)

    curve = score_target_copies(
        forward_func, xs, build, len(shares), target, additional_forward_args, max_examples_per_batch, softmax
    )
    widths = torch.tensor([float(s) for s in shares], dtype=torch.float64).diff()
    widths = widths.to(device=curve.device, dtype=curve.dtype)
    auc = ((curve[:, :-1] + curve[:, 1:]) * widths).sum(1) / 2
    return (auc, curve) if return_curve else auc


def _check_fractions(fractions: Sequence[float]) -> list[Fraction]:
    """The fractions as exact rationals: at least 2, increasing, in [0, 1]."""
    shares = read_shares(fractions, "fractions")
    ok = len(shares) >= 2 and all(0 <= v <= 1 for v in shares)
    ok = ok and all(a < b for a, b in itertools.pairwise(shares))
    if not ok:
        values = [float(v) for v in shares]
        raise ValueError(f"`fractions` must be at least 2 increasing numbers in [0, 1], got {values!r}.")
    return shares
