"""Which horizon step each output column of a forecaster's head feeds.

Most forecasters end in a layer whose output is the forecast up to a reshape, a
transpose, or a per-element shift and scale (N-Linear's last value, RevIN's
de-normalisation). For such a *step-local* head every masked loss keeps whole
columns of the head's signal, which is what makes the cheap prefix-sum path
exact. Two checks decide whether a tapped layer is such a head:

* ``only_through``: no trainable tensor reaches the forecast except through the
  head's output (walk of the autograd graph, exact);
* ``column_steps``: a few vector-Jacobian products with random weights find the
  step of every element of the head's output and verify that it feeds that step
  only; the step must not depend on the row (batch, variate).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def only_through(output: Tensor, node: object, leaves: list[Tensor]) -> bool:
    """True when no tensor of ``leaves`` reaches ``output``'s graph except through
    the autograd node ``node``."""
    if output.grad_fn is None:
        return True
    forbidden = {id(t) for t in leaves}
    seen = {id(node)}
    stack = [output.grad_fn]
    keep = [node]  # keep node wrappers alive so ids stay unique during the walk
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        keep.append(fn)
        variable = getattr(fn, "variable", None)
        if variable is not None and id(variable) in forbidden:
            return False
        for nxt, _ in fn.next_functions:
            if nxt is not None and id(nxt) not in seen:
                stack.append(nxt)
    return True


def column_steps(vjp: Callable[[Tensor], Tensor], forecast: Tensor, n_columns: int) -> Tensor | None:
    """The horizon step ``(n_columns,)`` each output column of a head feeds, or None.

    ``vjp(cotangents (M, B, H, V)) -> (M, N, n_columns)`` maps forecast cotangents
    to the head's output signal rows. Columns that feed nothing get step 0 (their
    signal is zero at every cut-off).
    """
    batch, horizon, n_var = forecast.shape
    dtype, device = forecast.dtype, forecast.device
    gen = torch.Generator().manual_seed(0)
    weights = (1 + torch.rand(batch, horizon, n_var, generator=gen, dtype=torch.float64)).to(dtype)
    signs = (torch.randint(0, 2, (3, 1, horizon, 1), generator=gen) * 2 - 1).to(dtype)
    code = torch.arange(1, horizon + 1, dtype=dtype).view(1, horizon, 1)
    probes = torch.cat([weights[None], (weights * code)[None], weights * signs]).to(device)
    a, coded, *signed = vjp(probes).unbind(0)  # each (N, n_columns)

    silent = a == 0
    ratio = coded / torch.where(silent, torch.ones_like(a), a)
    step = ratio.round()
    eps = torch.finfo(dtype).eps
    if bool(((ratio - step).abs() > 0.25).masked_select(~silent).any()):
        return None
    step = (step - 1).clamp(0, horizon - 1).long()
    scale = a.abs().amax() if a.numel() else a.new_zeros(())
    tol = 1e3 * eps * a.abs() + 1e2 * eps * scale
    signs_at = signs.view(3, horizon).to(device)[:, step]  # (3, N, n_columns)
    for s, g in zip(signs_at, signed):
        if bool(((g - s * a).abs() > tol).any()):
            return None
    if bool((silent & (coded != 0)).any()):
        return None
    # one step per column, whatever the row
    filled = torch.where(silent, torch.full_like(step, -1), step)
    column = filled.amax(0)
    if bool(((filled != column) & ~silent).any()):
        return None
    return column.clamp_min(0)
