"""The straightforward HAM computation: one backward pass per cut-off and mode.

This is how the method was first computed (``2 (H + 1)`` backward passes of the
masked loss per batch, the norm of every parameter's gradient after each). It is
slow by design and kept as the oracle that the batched computation is tested and
benchmarked against.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..._compat import _format_additional_forward_args, _format_tensor_into_tuples
from ..._state import preserved_model_state
from ._loss import MODES, ErrorFn, align_forecast, group_weights, masked_loss, point_errors


def horizon_norms_loop(
    model: nn.Module,
    inputs: Tensor | tuple[Tensor, ...],
    y_true: Tensor,
    additional_forward_args: object = None,
    error: str | ErrorFn = "mse",
    groups: tuple[tuple[int, ...], ...] | None = None,
    model_mode: str | None = "eval",
    forward_func: Callable | None = None,
) -> tuple[Tensor, Tensor, list[str]]:
    """Per-layer norms ``(H+1, G, L)`` for causal and anti-causal masks, and the
    parameter names, by ``2 (H + 1) G`` calls of ``torch.autograd.grad``."""
    forward_func = forward_func or model
    xs = _format_tensor_into_tuples(inputs)
    args = _format_additional_forward_args(additional_forward_args) or ()
    y = y_true if y_true.dim() == 3 else y_true.unsqueeze(-1)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    horizon = y.shape[1]
    with preserved_model_state(model, model_mode), torch.enable_grad():
        pred = align_forecast(forward_func(*xs, *args), y)
        errors = point_errors(pred, y.to(pred.dtype), error)
        weights = group_weights(groups, y.shape[2], pred)
        out = {mode: pred.new_zeros(horizon + 1, weights.shape[0], len(params)) for mode in MODES}
        for mode in MODES:
            for g, w in enumerate(weights):
                for h in range(horizon + 1):
                    loss = masked_loss(errors, w, h, mode)
                    grads = torch.autograd.grad(
                        loss, params, retain_graph=True, allow_unused=True, materialize_grads=True
                    )
                    out[mode][h, g] = torch.stack([gr.detach().norm() for gr in grads])
    return out["causal"], out["anticausal"], [n for n, _ in named]
