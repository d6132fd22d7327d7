"""The one propagation mechanism: relevance flows backwards through autograd.

During an LRP call every ruled layer's output is replaced (by a forward hook) with
the same values wrapped in :class:`RelevanceFunction`, whose backward receives the
relevance of the layer's outputs and returns the relevance of its input, computed by
the layer's rule. Between layers relevance moves like a gradient through shape
operations (views, transposes, slicing, concatenation), which redistribute it
without scaling; :mod:`.functional_ops` refuses anything else.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .layers import LinearForm
from .rules import Rule

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
    """``z + eps * sign(z)`` with ``sign(+0) = 1``."""
    return z.abs().add_(eps).copysign_(z) if eps else z


def divide(relevance: Tensor, z: Tensor, eps: float) -> Tensor:
    """``relevance / stab(z)``, 0 where the denominator is 0 (only possible for ``eps = 0``)."""
    if eps:
        return relevance / stabilise(z, eps)
    return (relevance / z).masked_fill_(z == 0, 0)


def linear_relevance(rule: Rule, form: LinearForm, x: Tensor, relevance: Tensor) -> Tensor:
    """The relevance of a linear layer's input ``x`` under ``rule`` (see :mod:`.rules`)."""
    x = x.detach()
    weight, bias = form.weight, form.bias
    weight = None if weight is None else weight.detach()
    bias = None if bias is None else bias.detach()
    total = torch.zeros_like(x)
    with torch.enable_grad():
        for term in rule.terms:
            leaves, z = [], 0
            for part in term.parts:
                xp = part.inputs(x)
                if part.bias is None and not bool(xp.any()):
                    continue  # e.g. the negative part of a ReLU output: contributes nothing
                xp = xp.detach().requires_grad_()
                w = None if weight is None else part.weight(weight)
                b = None if bias is None or part.bias is None else part.bias(bias)
                leaves.append(xp)
                z = z + form.fn(xp, w, b)
            if not leaves:
                continue
            grads = torch.autograd.grad(z, leaves, divide(relevance, z, rule.epsilon))
            total = total + term.coefficient * sum(xp * g for xp, g in zip(leaves, grads))
    return total


def plain_relevance(rule: Rule, output: Tensor, x: Tensor, relevance: Tensor) -> Tensor:
    """LRP-0/epsilon on the layer's recorded graph ``x -> output`` (no second forward)."""
    (grad,) = torch.autograd.grad(output, x, divide(relevance, output.detach(), rule.epsilon))
    return x.detach() * grad


def gradient_relevance(output: Tensor, x: Tensor, relevance: Tensor) -> Tensor:
    """Relevance routed by the layer's own gradient (max pooling, reshapes)."""
    (grad,) = torch.autograd.grad(output, x, relevance)
    return grad
