"""Cumulative prediction difference (CPD) and preservation (CPP).

Jang, Kim & Yang, *TIMING: Temporality-Aware Integrated Gradients for Time Series
Explanation*, ICML 2025 (arXiv 2506.05035), section 3. Removing the top-k points all at
once lets points that push the prediction up and points that push it down cancel; CPD
and CPP remove points one at a time and add up every step's change of the output.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch
from captum.log import log_usage
from torch import Tensor

from .._batching import chunks
from .._compat import (
    TensorOrTupleOfTensorsGeneric,
    _format_tensor_into_tuples,
    expand_additional_forward_args,
)
from .._validation import check_inputs, check_positive_int, per_input
from ._counts import count_of, read_shares
from ._guard import guarded
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
    time_axis,
)


@dataclass(frozen=True)
class CumulativeResult:
    """Per-example CPD or CPP and the curves behind it.

    Attributes:
        score: ``(B,)`` the sum of ``steps`` (CPD: higher is better; CPP: lower is better).
        steps: ``(B, K)`` L1 change of the output at every removal,
            ``||F(x_k) - F(x_{k+1})||_1``.
        outputs: ``(B, K + 1, *out)`` the output ``F(x_k)`` after ``k`` removals
            (probabilities with ``softmax=True``); ``outputs[:, 0]`` is ``F(x)``.
        metric: ``"cpd"`` or ``"cpp"``.
        n_regions: number of regions the series was cut into.
    """

    score: Tensor
    steps: Tensor
    outputs: Tensor
    metric: str
    n_regions: int

    @property
    def n_steps(self) -> int:
        return self.steps.shape[1]

    @property
    def curve(self) -> Tensor:
        """``(B, K + 1)`` cumulative sum of ``steps``, starting at 0 (``curve[:, -1] == score``)."""
        return torch.cat([self.steps.new_zeros(self.steps.shape[0], 1), self.steps.cumsum(1)], dim=1)


@log_usage()
def cpd(
    forward_func: Callable,
    inputs: TensorOrTupleOfTensorsGeneric,
    attributions: TensorOrTupleOfTensorsGeneric,
    n_steps: int | float | None = 50,
    baselines: float | Tensor | tuple | str = 0.0,
    patch_size: int = 1,
    feature_wise: bool = True,
    softmax: bool = True,
    additional_forward_args: object = None,
    max_examples_per_batch: int | None = None,
    feature_dim: int | tuple[int | None, ...] | None = -1,
    blur_sigma: float | None = None,
) -> CumulativeResult:
    r"""Cumulative Prediction Difference: remove the points with the **highest**
    :math:`|a|` one at a time and add up the L1 changes of the output,

    .. math:: \mathrm{CPD}(x) = \sum_{k=0}^{K-1} \big\| F(x_{\uparrow k}) - F(x_{\uparrow k+1}) \big\|_1,

    where :math:`x_{\uparrow k}` has its ``k`` top-ranked points replaced by the
    baseline and :math:`F` is the model's **probability vector** (a softmax over the
    last, class axis; the L1 norm runs over all classes, as the paper's
    ``||.||_1`` and its reference code). Higher is better: a faithful map puts the
    points that move the prediction, up or down, first. A point is one
    (time step, feature) cell (``feature_wise=True``, ``patch_size=1``, the paper's
    setting); ``patch_size`` and ``feature_wise=False`` remove time patches instead,
    ranked by the sum of :math:`|a|` over the patch.

    Points are ranked by :math:`|a|` (signed maps such as Integrated Gradients rank
    by magnitude); equal magnitudes go to the earlier region: the earlier time
    step, then the lower feature index (regions of a tuple of inputs: the earlier
    input). Every removed point stays removed.

    All ``K + 1`` masked copies of a chunk of examples go through the model in one
    forward pass under ``torch.no_grad()``, in eval mode, with the model's state
    restored afterwards (``captum_ts._state.guarded_model``).

    Args:
        forward_func (Callable): the model; ``(B, C)`` logits with ``softmax=True``.
        inputs (Tensor or tuple[Tensor, ...]): series, batch first: ``(B, T)``,
            ``(B, T, F)`` or ``(B, F, T)`` (``feature_dim=1``).
        attributions (Tensor or tuple): shaped like ``inputs`` (axes of size 1
            broadcast); signs are ignored.
        n_steps (int, float or None): ``K``, the number of removals: an int in
            ``1..L`` (``L`` regions; more is refused, as sums over different ``K``
            do not compare), a fraction in ``(0, 1]`` of ``L`` (``ceil(f L)``, at
            least 1; a product within a relative ``1e-6`` of an integer counts as
            that integer), or ``None`` for all ``L``. Default 50, as the paper.
        baselines (float, Tensor, tuple or str): the removal value: a number, a
            tensor broadcastable to the input, a tuple (one per input), ``"mean"``
            (each example's per-feature mean over time, the paper's "average"),
            or ``"blur"`` (a Gaussian blur along time).
        patch_size (int): time steps per region.
        feature_wise (bool): one region per (time patch, feature) cell.
        softmax (bool): compare softmax probabilities (default); ``False`` compares
            the raw outputs, e.g. a forecaster's ``(B, H, C)`` values.
        additional_forward_args (Any, optional): extra model arguments; tensors
            with more than one element are per-example (dim 0 is the batch).
        max_examples_per_batch (int, optional): rows per forward pass. A chunk
            holds all ``K + 1`` copies of as many examples as fit, and at least the
            copies of one example; when ``K + 1`` rows exceed the knob the copies of
            one example are split over several forwards.
        feature_dim (int, None or tuple): feature axis of each input.
        blur_sigma (float, optional): std in time steps of ``baselines="blur"``.

    Returns:
        CumulativeResult: ``score`` ``(B,)``, ``steps`` ``(B, K)``, ``curve``
        ``(B, K + 1)``, ``outputs`` ``(B, K + 1, *out)``.

    Examples::

        >>> import torch
        >>> from captum_ts.metrics import cpd
        >>> w = torch.tensor([[2.0, -3.0, 1.0]])
        >>> model = lambda x: (x * w).sum(1)                 # one output per example
        >>> x = torch.ones(1, 3)
        >>> res = cpd(model, x, x * w, n_steps=2, softmax=False)
        >>> res.steps, res.score                             # |-3| first, then |2|
        (tensor([[3., 2.]]), tensor([5.]))
    """
    return _cumulative(
        forward_func,
        inputs,
        attributions,
        n_steps,
        baselines,
        patch_size,
        feature_wise,
        softmax,
        additional_forward_args,
        max_examples_per_batch,
        feature_dim,
        blur_sigma,
        metric="cpd",
    )


@log_usage()
def cpp(
    forward_func: Callable,
    inputs: TensorOrTupleOfTensorsGeneric,
    attributions: TensorOrTupleOfTensorsGeneric,
    n_steps: int | float | None = 50,
    baselines: float | Tensor | tuple | str = 0.0,
    patch_size: int = 1,
    feature_wise: bool = True,
    softmax: bool = True,
    additional_forward_args: object = None,
    max_examples_per_batch: int | None = None,
    feature_dim: int | tuple[int | None, ...] | None = -1,
    blur_sigma: float | None = None,
) -> CumulativeResult:
    r"""Cumulative Prediction Preservation: remove the points with the **lowest**
    :math:`|a|` one at a time and add up the L1 changes of the output,

    .. math:: \mathrm{CPP}(x) = \sum_{k=0}^{K-1} \big\| F(x_{\downarrow k}) - F(x_{\downarrow k+1}) \big\|_1.

    Lower is better: the points a faithful map calls unimportant barely move the
    prediction. Equal magnitudes go to the earlier region here too. Everything
    else as :func:`cpd`.

    Examples::

        >>> import torch
        >>> from captum_ts.metrics import cpp
        >>> w = torch.tensor([[2.0, -3.0, 1.0]])
        >>> model = lambda x: (x * w).sum(1)
        >>> x = torch.ones(1, 3)
        >>> cpp(model, x, x * w, n_steps=2, softmax=False).steps   # |1| first, then |2|
        tensor([[1., 2.]])
    """
    return _cumulative(
        forward_func,
        inputs,
        attributions,
        n_steps,
        baselines,
        patch_size,
        feature_wise,
        softmax,
        additional_forward_args,
        max_examples_per_batch,
        feature_dim,
        blur_sigma,
        metric="cpp",
    )


def _cumulative(
    forward_func: Callable,
    inputs: TensorOrTupleOfTensorsGeneric,
    attributions: TensorOrTupleOfTensorsGeneric,
    n_steps: int | float | None,
    baselines: object,
    patch_size: int,
    feature_wise: bool,
    softmax: bool,
    additional_forward_args: object,
    max_examples_per_batch: int | None,
    feature_dim: object,
    blur_sigma: float | None,
    metric: str,
) -> CumulativeResult:
    xs = tuple(x.detach() for x in _format_tensor_into_tuples(inputs))
    batch = check_inputs(xs)
    attrs = check_attributions(as_tuple(attributions), xs)
    check_positive_int(patch_size, "patch_size")
    check_positive_int(max_examples_per_batch, "max_examples_per_batch", allow_none=True)
    for flag, name in ((feature_wise, "feature_wise"), (softmax, "softmax")):
        if not isinstance(flag, bool):
            raise TypeError(f"`{name}` must be True or False, got {flag!r}.")
    fills = _fills(baselines, xs, feature_dim, blur_sigma)
    regions = build_regions(xs, feature_dim, patch_size, feature_wise)
    k = step_count(n_steps, regions.total)
    magnitude = region_scores(tuple(a.abs() for a in attrs), regions)
    pos = cell_positions(rank_positions(magnitude, "morf" if metric == "cpd" else "lerf"), regions)
    counts = torch.arange(k + 1, device=xs[0].device)
    removed, kept = flat_rows(fills, xs), flat_rows(xs, xs)

    def build(e0: int, e1: int, j0: int, j1: int) -> tuple[Tensor, ...]:
        return masked_copies(
            tuple(p[e0:e1] for p in pos),
            counts[j0:j1],
            tuple(r[e0:e1] for r in removed),
            tuple(r[e0:e1] for r in kept),
            tuple(x[e0:e1] for x in xs),
        )

    with guarded(forward_func), torch.no_grad():
        outputs = _copy_outputs(
            forward_func, build, batch, k + 1, additional_forward_args, max_examples_per_batch, softmax
        )
    flat = outputs.reshape(batch, k + 1, -1).to(torch.promote_types(outputs.dtype, torch.float32))
    steps = (flat[:, 1:] - flat[:, :-1]).abs().sum(-1)
    return CumulativeResult(
        score=steps.sum(1), steps=steps, outputs=outputs, metric=metric, n_regions=regions.total
    )


def step_count(n_steps: object, total: int) -> int:
    """``K`` from an int count, a fraction of ``total`` regions, or None (all).

    >>> import numpy as np
    >>> step_count(np.float32(0.1), 30), step_count(0.5, 7), step_count(None, 7)
    (3, 4, 7)
    """
    if n_steps is None:
        return total
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Real):
        raise TypeError(f"`n_steps` must be an int, a fraction in (0, 1] or None, got {n_steps!r}.")
    if isinstance(n_steps, numbers.Integral):
        k = int(n_steps)
        if not 1 <= k <= total:
            raise ValueError(
                f"`n_steps`={k} but the series has {total} regions; pass 1 <= n_steps <= {total}, "
                "a fraction in (0, 1], or None to remove every region."
            )
        return k
    (share,) = read_shares([n_steps], "n_steps")
    if not 0 < share <= 1:
        raise ValueError(
            f"`n_steps`={float(share)} as a fraction must lie in (0, 1]; pass an int for a count."
        )
    return max(1, min(count_of(share, total), total))


def _fills(
    baselines: object, xs: tuple[Tensor, ...], feature_dim: object, blur_sigma: float | None
) -> tuple[Tensor, ...]:
    """The removal value of every cell: a number/tensor, or each series' time mean or blur."""
    if blur_sigma is not None and baselines != "blur":
        raise ValueError("`blur_sigma` is used only with `baselines='blur'`; drop it or set that baseline.")
    if not isinstance(baselines, str):
        return removal_values(baselines, xs)
    fdims = per_input(feature_dim, len(xs), "feature_dim")
    if baselines == "mean":
        return tuple(x.mean(time_axis(x, d), keepdim=True).expand_as(x) for x, d in zip(xs, fdims))
    if baselines == "blur":
        return tuple(blur_along_time(x, d, blur_sigma) for x, d in zip(xs, fdims))
    raise ValueError(f"`baselines` must be a number, a tensor, 'mean' or 'blur', got {baselines!r}.")


def _copy_outputs(
    forward_func: Callable,
    build: Callable[[int, int, int, int], tuple[Tensor, ...]],
    batch: int,
    n_copies: int,
    additional_forward_args: object,
    max_rows: int | None,
    softmax: bool,
) -> Tensor:
    """``(B, n_copies, *out)`` outputs of every copy: chunks of whole examples (all
    their copies in one forward), or chunks of one example's copies when ``n_copies``
    rows exceed ``max_rows``."""
    per_example = n_copies if max_rows is None else max(1, min(n_copies, max_rows))
    examples = batch if max_rows is None else max(1, max_rows // n_copies)
    args = expand_additional_forward_args(additional_forward_args, 1)
    outputs: Tensor | None = None
    for e0, e1 in chunks(batch, examples):
        rows_args = _example_rows(args, e0, e1, batch)
        for j0, j1 in chunks(n_copies, per_example):
            out = _forward_rows(forward_func, build(e0, e1, j0, j1), rows_args, j1 - j0, softmax)
            out = out.reshape(e1 - e0, j1 - j0, *out.shape[1:])
            if outputs is None:
                outputs = out.new_empty(batch, n_copies, *out.shape[2:])
            elif out.shape[2:] != outputs.shape[2:]:
                raise RuntimeError(
                    f"`forward_func` returned shape {tuple(out.shape[2:])} per example, earlier "
                    f"{tuple(outputs.shape[2:])}; the output must not depend on the batch size."
                )
            outputs[e0:e1, j0:j1] = out
    assert outputs is not None
    return outputs


def _example_rows(args: tuple | None, e0: int, e1: int, batch: int) -> tuple | None:
    """Examples ``e0..e1-1`` of every per-example tensor (more than one element)."""
    if args is None:
        return None
    out = []
    for i, arg in enumerate(args):
        if isinstance(arg, Tensor) and arg.numel() > 1:
            if arg.dim() == 0 or arg.shape[0] != batch:
                raise ValueError(
                    f"`additional_forward_args[{i}]` has shape {tuple(arg.shape)}; a tensor argument "
                    f"with more than one element must have one row per example ({batch})."
                )
            arg = arg[e0:e1]
        out.append(arg)
    return tuple(out)


def _forward_rows(
    forward_func: Callable, rows: tuple[Tensor, ...], args: tuple | None, n: int, softmax: bool
) -> Tensor:
    """One forward of ``rows`` (``n`` copies of each example, sample-major), checked."""
    expanded = expand_additional_forward_args(args, n)
    out = forward_func(*rows, *expanded) if expanded is not None else forward_func(*rows)
    n_rows = rows[0].shape[0]
    if not isinstance(out, Tensor) or out.dim() == 0 or out.shape[0] != n_rows:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(
            f"`forward_func` must return a tensor with one row per input row ({n_rows}), got {got}."
        )
    if softmax:
        if out.dim() < 2:
            raise ValueError(
                f"`softmax=True` needs class scores of shape (B, C), got {tuple(out.shape)}; "
                "pass `softmax=False` to compare the raw outputs."
            )
        out = torch.softmax(out, dim=-1)
    if not bool(torch.isfinite(out).all()):
        raise RuntimeError("`forward_func` returned NaN or Inf on a perturbed series; no sum can be formed.")
    return out
