"""The one propagation mechanism: relevance flows backwards through autograd.

During an LRP call every ruled layer's output is replaced (by a forward hook) with
the same values wrapped in :class:`RelevanceFunction`, whose backward receives the
relevance of the layer's outputs and returns the relevance of its input, computed by
the layer's rule. Between layers relevance moves like a gradient through shape
operations (views, transposes, slicing, concatenation), which redistribute it
without scaling; :mod:`.functional_ops` refuses anything else.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable

import torch
from torch import Tensor

from .layers import LinearForm
from .rules import Part, Rule, negative, positive

Backward = Callable[..., Tensor]


class RelevanceFunction(torch.autograd.Function):
    """Returns ``outputs`` unchanged; its backward maps their relevances to ``x``'s."""

    @staticmethod
    def forward(ctx, backward: Backward, x: Tensor, *outputs: Tensor):  # type: ignore[override]
        ctx.relevance_backward = backward
        ctx.n_outputs = len(outputs)
        return outputs if len(outputs) > 1 else outputs[0]  # detached by the caller: no copy

    @staticmethod
    def backward(ctx, *relevances: Tensor):  # type: ignore[override]
        return (None, ctx.relevance_backward(*relevances), *([None] * ctx.n_outputs))


def stabilise(z: Tensor, eps: float) -> Tensor:
    """``z + eps * sign(z)`` with ``sign(+0) = 1``: one pass for ``copysign(eps, z)``, one for the sum."""
    return torch.copysign(z.new_full((), eps), z).add_(z) if eps else z


def divide(relevance: Tensor, z: Tensor, eps: float, reuse: bool = False) -> Tensor:
    """``relevance / stab(z)``, 0 where the denominator is 0 (only possible for ``eps = 0``);
    ``reuse=True`` may write the result into ``z`` (a temporary of the caller's)."""
    if eps:
        stab = stabilise(z, eps)
        return torch.div(relevance, stab, out=stab) if stab.shape == relevance.shape else relevance / stab
    if reuse and z.shape == relevance.shape and z.dtype == relevance.dtype:
        return _zero_where_not_finite(torch.div(relevance, z, out=z))
    return _zero_where_not_finite(relevance / z)


def inverse(z: Tensor, eps: float) -> Tensor:
    """``1 / stab(z)``, 0 where the denominator is 0: ``r * inverse(z, eps)`` is ``divide(r, z, eps)``
    up to rounding, for a denominator used many times."""
    if eps:
        return stabilise(z, eps).reciprocal_()
    return _zero_where_not_finite(z.reciprocal())


def _zero_where_not_finite(ratio: Tensor) -> Tensor:
    """``ratio`` with its infinities and NaNs (a zero denominator; in floating point also one so
    small that the ratio overflows) set to 0, in place: one pass, where a ``z == 0`` mask takes
    two slower ones. The explained outputs are checked finite first, so no NaN comes from above."""
    return ratio.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)


def linear_relevance(rule: Rule, form: LinearForm, x: Tensor, relevance: Tensor) -> Tensor:
    """The relevance of a linear layer's input ``x`` under ``rule`` (see :mod:`.rules`)."""
    x = x.detach()
    signs = any(p.inputs in (positive, negative) for t in rule.terms for p in t.parts)
    non_negative = signs and x.numel() > 0 and bool(x.min() >= 0)  # e.g. a ReLU output
    total = None
    for term in rule.terms:
        parts = [
            (xp, None if form.weight is None else part.weight(form.weight), _bias(part, form.bias))
            for part in term.parts
            for xp in (_part_inputs(part, x, non_negative),)
            if xp is not None  # a zero part without bias adds nothing
        ]
        if not parts:
            continue
        r = _term_relevance(form, parts, relevance, rule.epsilon)
        r = r if term.coefficient == 1 else term.coefficient * r
        total = r if total is None else total + r
    return torch.zeros_like(x) if total is None else total


def _part_inputs(part: Part, x: Tensor, non_negative: bool) -> Tensor | None:
    """The part's input; on non-negative ``x`` its positive part is ``x`` and its negative part
    ``None`` (zero), with no pass over ``x``."""
    if non_negative and part.inputs is positive:
        return x
    if non_negative and part.inputs is negative:
        return None if part.bias is None else torch.zeros_like(x)
    return part.inputs(x)


def _bias(part: Part, bias: Tensor | None) -> Tensor | None:
    return None if bias is None or part.bias is None else part.bias(bias)


def _term_relevance(form: LinearForm, parts: list, relevance: Tensor, eps: float) -> Tensor:
    """``sum_parts x' * rho(W)^T (R / stab(z))`` for the parts of one term: every part in one
    call when the layer can stack them, the layer's transpose when it has one, else autograd."""
    if form.transpose is None:
        with torch.enable_grad():
            leaves = [xp.detach().requires_grad_() for xp, _, _ in parts]
            z = _sum([form.fn(xp, w, b) for xp, (_, w, b) in zip(leaves, parts)])
            grads = torch.autograd.grad(z, leaves, divide(relevance, z.detach(), eps))
        return _sum([xp.detach() * g for xp, g in zip(leaves, grads)])
    n = len(parts)
    if n > 1 and form.stack_dim is not None:
        biases = [b for _, _, b in parts if b is not None]
        parts = [
            (
                torch.cat([xp for xp, _, _ in parts], form.stack_dim),
                torch.cat([w for _, w, _ in parts], 1),
                _sum(biases) if biases else None,
            )
        ]
    z = _sum([form.fn(xp, w, b) for xp, w, b in parts])
    s = divide(relevance, z, eps, reuse=True)
    r = _sum([_times(form.transpose(s, xp, w), xp) for xp, w, _ in parts])
    if len(parts) < n:  # stacked: sum the parts' blocks
        dim = form.stack_dim % r.dim()
        r = r.unflatten(dim, (n, -1)).sum(dim)
    return r


def _times(back: Tensor, x: Tensor) -> Tensor:
    """``x * back``, in place in ``back`` (a fresh result of a layer's transpose) where the shapes allow."""
    return back.mul_(x) if back.shape == x.shape and back.dtype == x.dtype else x * back


def _sum(tensors: list[Tensor]) -> Tensor:
    return functools.reduce(operator.add, tensors)


def plain_relevance(rule: Rule, form: LinearForm, output: Tensor, x: Tensor, relevance: Tensor) -> Tensor:
    """LRP-0/epsilon from the layer's recorded output (no second forward): ``x * W^T (R / stab(z))``
    by the layer's transpose, or through its recorded graph ``x -> output``."""
    s = divide(relevance, output.detach(), rule.epsilon)
    if form.transpose is not None:
        return _times(form.transpose(s, x, form.weight), x.detach())
    (grad,) = torch.autograd.grad(output, x, s)
    return x.detach() * grad


def gradient_relevance(output: Tensor, x: Tensor, relevance: Tensor) -> Tensor:
    """Relevance routed by the layer's own gradient (max pooling, reshapes)."""
    (grad,) = torch.autograd.grad(output, x, relevance)
    return grad
