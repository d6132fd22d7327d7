r"""The masked horizon loss of Horizon Activation Mapping, and its pieces.

For a forecast :math:`\hat y` and ground truth :math:`y` of shape ``(B, H, V)``, a
point-wise error ``err`` and a group of variates :math:`g`, the per-step error is
:math:`e_t = \operatorname{mean}_{b,\,v\in g} \operatorname{err}(\hat y_{btv}, y_{btv})`
and the masked loss of cut-off ``h`` is

.. math::
    L^{(h)}_{\text{causal}} = \frac1H \sum_{t<h} e_t, \qquad
    L^{(h)}_{\text{anti-causal}} = \frac1H \sum_{t\ge h} e_t .

The sum is divided by ``H`` whatever the cut-off, so the causal loss at ``h = H``
and the anti-causal loss at ``h = 0`` are the ordinary full loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

ErrorFn = Callable[[Tensor, Tensor], Tensor]
ERRORS = ("mse", "mae")
MODES = ("causal", "anticausal")


def check_error(error: object) -> None:
    """``error`` must be ``"mse"``, ``"mae"`` or a callable."""
    if callable(error) or error in ERRORS:
        return
    raise ValueError(
        "`error` must be 'mse', 'mae' or a callable (prediction, target) -> point-wise errors, "
        f"got {error!r}."
    )


def point_errors(pred: Tensor, target: Tensor, error: str | ErrorFn) -> Tensor:
    """The point-wise error ``(B, H, V)``, differentiable in ``pred``."""
    if error == "mse":
        return (pred - target).square()
    if error == "mae":
        return (pred - target).abs()
    values = error(pred, target)
    if not isinstance(values, Tensor) or values.shape != pred.shape:
        got = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ValueError(
            f"`error` must be point-wise: return one value per forecast element, shape {tuple(pred.shape)}, "
            f"got {got}."
        )
    return values


def error_slopes(pred: Tensor, target: Tensor, error: str | ErrorFn) -> Tensor:
    """``d err / d pred`` element-wise, detached ``(B, H, V)``; a callable's errors and
    slopes must be finite."""
    pred = pred.detach()
    if error == "mse":
        return 2 * (pred - target)
    if error == "mae":
        return torch.sign(pred - target)
    with torch.enable_grad():
        p = pred.requires_grad_()
        values = check_finite_error(point_errors(p, target, error))
        (slope,) = torch.autograd.grad(values.sum(), p, allow_unused=True, materialize_grads=True)
    return check_finite_error(slope.detach())


def check_finite_error(values: Tensor) -> Tensor:
    """``values`` (errors or their slopes) itself, or a clear error when they hold NaN or Inf."""
    if not bool(torch.isfinite(values).all()):
        raise ValueError(
            "the point-wise `error` or its slope is NaN or Inf for this forecast (e.g. a log or a "
            "division by a forecast of 0); HAM would return NaN curves. Use 'mse' or 'mae', or an "
            "error that is finite and differentiable at every forecast."
        )
    return values


def loss_scale(cotangent: Tensor, dtype: torch.dtype) -> float:
    """A power of two that brings the largest ``|cotangent|`` near 1 for a float16 backward
    pass, else 1. The ``1 / (B H)`` of the loss sends small residuals' gradients below
    float16's range (6e-5) and large ones above it (65504); gradients and their norms are
    linear in the cotangent, so dividing them by the scale afterwards is exact.

    >>> loss_scale(torch.tensor([3e-6, -1e-6]), torch.float16), loss_scale(torch.ones(1), torch.float32)
    (262144.0, 1.0)
    """
    if dtype != torch.float16:
        return 1.0
    peak = float(cotangent.abs().amax()) if cotangent.numel() else 0.0
    if peak == 0 or not math.isfinite(peak):
        return 1.0
    return 2.0 ** max(-60, min(60, -round(math.log2(peak))))


def variate_groups(variates: object, n_variates: int) -> tuple[tuple[int, ...], ...] | None:
    """Parse ``variates``: None (one curve over all variates), ``"each"``, an int,
    or a sequence of ints and/or sequences of ints (groups).

    >>> variate_groups([0, (1, 2)], 3)
    ((0,), (1, 2))
    """
    if variates is None:
        return None
    if isinstance(variates, str):
        if variates != "each":
            raise ValueError(f"`variates` must be None, 'each', an int or a sequence, got {variates!r}.")
        return tuple((v,) for v in range(n_variates))
    items = [variates] if _is_int(variates) else variates
    if not isinstance(items, Sequence) or len(items) == 0:
        raise ValueError(
            f"`variates` must be None, 'each', an int or a non-empty sequence, got {variates!r}."
        )
    groups = []
    for item in items:
        group = (item,) if _is_int(item) else tuple(item) if isinstance(item, Sequence) else None
        if not group or not all(_is_int(v) for v in group):
            raise TypeError(f"`variates` entries must be ints or sequences of ints, got {item!r}.")
        bad = [v for v in group if not 0 <= v < n_variates]
        if bad:
            raise ValueError(f"`variates` index {bad[0]} is out of range for {n_variates} variates.")
        groups.append(tuple(int(v) for v in group))
    return tuple(groups)


def group_weights(groups: tuple[tuple[int, ...], ...] | None, n_variates: int, like: Tensor) -> Tensor:
    """``(G, V)`` weights that average the error over each group's variates."""
    if groups is None:
        return like.new_full((1, n_variates), 1.0 / n_variates)
    w = like.new_zeros(len(groups), n_variates)
    for i, group in enumerate(groups):
        w[i, list(group)] = 1.0 / len(group)
    return w


def cutoff_mask(horizon: int, cutoffs: Tensor, mode: str) -> Tensor:
    """``(K, H)`` masks: ``t < h`` (causal) or ``t >= h`` (anti-causal) for each cut-off."""
    steps = torch.arange(horizon, device=cutoffs.device)
    return steps < cutoffs[:, None] if mode == "causal" else steps >= cutoffs[:, None]


def masked_loss(errors: Tensor, weights: Tensor, cutoff: int, mode: str, per_example: bool = False) -> Tensor:
    """``L^(h)`` of one group (``weights (V,)``) from point-wise ``errors (B, H, V)``:
    the batch mean, or one value per example with ``per_example``."""
    horizon = errors.shape[1]
    mask = cutoff_mask(horizon, torch.tensor([cutoff], device=errors.device), mode)[0]
    per_example_loss = ((errors * weights).sum(-1) * mask).sum(-1) / horizon
    return per_example_loss if per_example else per_example_loss.mean()


def align_forecast(output: object, y_true: Tensor) -> Tensor:
    """The model output as ``(B, H, V)`` matching ``y_true (B, H, V)``; a longer
    output (decoder models) is cut to its last ``H`` steps."""
    if not isinstance(output, Tensor):
        raise TypeError(
            f"the model returned {type(output).__name__}; HAM needs one tensor (B, H) or (B, H, V). "
            "Wrap the model, e.g. `lambda x: model(x)[0]`."
        )
    if output.dim() not in (2, 3) or not output.is_floating_point():
        raise ValueError(
            f"the model output has shape {tuple(output.shape)} and dtype {output.dtype}; HAM needs a "
            "floating point forecast (B, H) or (B, H, V)."
        )
    pred = output if output.dim() == 3 else output.unsqueeze(-1)
    batch, horizon, n_var = y_true.shape
    if pred.shape[0] != batch or pred.shape[2] != n_var or pred.shape[1] < horizon:
        raise ValueError(
            f"the model output has shape {tuple(output.shape)} but `y_true` has shape "
            f"{(batch, horizon, n_var)}: they must agree as (B, H[, V]) (a longer output is cut to its "
            "last H steps)."
        )
    if pred.shape[1] > horizon:
        pred = pred[:, -horizon:]
    if not bool(torch.isfinite(pred).all()):
        raise ValueError("the model output contains NaN or Inf values.")
    return pred


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
