"""Attach rules to a model for the duration of one call, and detach them after.

:func:`attached_rules` walks the model from the top: a module with a rule gets a
forward hook that wraps its output in a :class:`~.propagation.RelevanceFunction`
(its insides are then covered by the rule), a container without one is searched
further, and a leaf without one gets a hook that refuses to run, naming the layer
and how to give it a rule. The hooks are removed in ``finally``; the rules
themselves live in the attributor, so nothing is written into the model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from torch import Tensor, nn

from . import recurrent
from .canonizers import can_merge, merged_form
from .composites import Composite, Key, rule_for
from .layers import BATCH_NORMS, LOW_PRECISION, WEIGHTED, LinearForm, in_float32, linear_form
from .propagation import RelevanceFunction, gradient_relevance, linear_relevance, plain_relevance
from .rules import LINEAR, PASSTHROUGH, RECURRENT, Rule


class _Plan:
    """What a hooked module does during one call: its rules (a weighted layer may have a
    different one when it is the first called) and, lazily, its functional form."""

    __slots__ = ("_form", "first_rule", "module", "rule")

    def __init__(self, module: nn.Module, rule: Rule | None, first_rule: Rule | None) -> None:
        self.module, self.rule, self.first_rule, self._form = module, rule, first_rule, None

    def form(self) -> LinearForm:
        if self._form is None:
            self._form = linear_form(self.module)
        return self._form


@dataclass
class _LinearCall:
    """One call of a linear layer: what its backward needs, and a BatchNorm merged into it."""

    plan: _Plan
    rule: Rule
    x: Tensor
    output: Tensor
    merged: nn.Module | None = None

    def backward(self, relevance: Tensor) -> Tensor:
        form = self.plan.form() if self.merged is None else merged_form(self.plan.module, self.merged)
        if self.x.dtype in LOW_PRECISION:  # float32 inside; autograd casts the result back
            return linear_relevance(self.rule, in_float32(form), self.x.float(), relevance.float())
        if self.merged is None and self.rule.is_plain:
            return plain_relevance(self.rule, form, self.output, self.x, relevance)
        return linear_relevance(self.rule, form, self.x, relevance)


@dataclass
class _CallState:
    first_done: bool = False
    linear_outputs: dict[int, tuple[Tensor, _LinearCall]] = field(default_factory=dict)
    routed: set = field(default_factory=set)


@contextmanager
def attached_rules(
    model: nn.Module, composite: Composite, overrides: Mapping[Key, Rule], verbose: bool = False
) -> Iterator[set]:
    """Hooks that make the next forward of ``model`` propagate relevance; removed on exit.

    Yields the set of autograd nodes of layers whose rule follows the gradient, which
    :func:`~.functional_ops.check_functional_ops` accepts."""
    state = _CallState()
    handles = []
    try:
        for name, module, rule, first_rule in _walk(model, composite, overrides):
            if rule is None and first_rule is None:
                handles.append(module.register_forward_hook(_refuse(name)))
                continue
            if verbose:
                shown = rule or first_rule
                print(f"Applied {shown!r} on layer {name or '<model>'} ({type(module).__name__})")
            hook = _hook(_Plan(module, rule, first_rule), state, name)
            handles.append(module.register_forward_hook(hook))
        yield state.routed
    finally:
        for handle in handles:
            handle.remove()


def _walk(model: nn.Module, composite: Composite, overrides: Mapping[Key, Rule]) -> Iterator:
    """``(name, module, rule, first_rule)`` for every module that gets a hook; ``first_rule``
    (a weighted layer's rule when it is the first called) is ``None`` for other layers."""
    seen: set[int] = set()
    stack = [("", model)]
    while stack:
        name, module = stack.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        rule = rule_for(module, composite, overrides)
        weighted = isinstance(module, WEIGHTED)
        first_rule = rule_for(module, composite, overrides, first=True) if weighted else None
        children = module._modules
        if rule is not None or first_rule is not None or not children:
            yield name, module, rule, first_rule
            continue
        named = [(f"{name}.{child}" if name else child, m) for child, m in children.items() if m is not None]
        stack.extend(reversed(named))


def _hook(plan: _Plan, state: _CallState, name: str):
    weighted = plan.first_rule is not None

    def hook(module: nn.Module, args: tuple, output: object) -> object:
        rule = plan.rule
        if weighted:
            if not state.first_done:
                rule, state.first_done = plan.first_rule, True
            elif rule is None:
                _refuse(name)(module, args, output)
        x = args[0]
        kind = rule.kind
        if kind == RECURRENT:
            return _recurrent(module, rule, args, output)
        if not isinstance(x, Tensor) or not isinstance(output, Tensor) or not x.requires_grad:
            return output
        if kind == LINEAR:
            return _linear(plan, rule, x, output, state)
        if kind == PASSTHROUGH:
            if output.shape != x.shape:
                raise ValueError(
                    f"the passthrough rule needs a layer that keeps its input's shape, but "
                    f"{type(module).__name__} maps {tuple(x.shape)} to {tuple(output.shape)}."
                )
            return RelevanceFunction.apply(_identity, x, output.detach())
        nodes = _own_nodes(output, x) if len(args) == 1 else None
        if nodes is not None:  # autograd routes the relevance through the layer's own nodes
            state.routed.update(nodes)
            return output
        return RelevanceFunction.apply(lambda r: gradient_relevance(output, x, r), x, output.detach())

    return hook


#: a layer routed by its own autograd nodes adds at most this many (max pooling adds one)
_MAX_OWN_NODES = 8


def _own_nodes(output: Tensor, x: Tensor) -> set | None:
    """The autograd nodes a one-input layer added between ``x`` and ``output``, when every
    path from ``output`` ends at ``x`` within a few nodes; else ``None``."""
    nodes: set = set()
    stack = [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node is x.grad_fn or node in nodes:
            continue
        variable = getattr(node, "variable", None)  # a leaf's AccumulateGrad
        if variable is x:
            continue
        if variable is not None or len(nodes) == _MAX_OWN_NODES:
            return None
        nodes.add(node)
        stack.extend(n for n, _ in node.next_functions)
    return nodes


def _identity(relevance: Tensor) -> Tensor:
    return relevance


def _linear(plan: _Plan, rule: Rule, x: Tensor, output: Tensor, state: _CallState) -> Tensor:
    module = plan.module
    if isinstance(module, BATCH_NORMS):
        tensor, before = state.linear_outputs.get(id(x), (None, None))
        if tensor is x and before.merged is None and can_merge(before.plan.module, x, module):
            before.merged = module  # canonized: the layer before takes this BatchNorm in
            return RelevanceFunction.apply(_identity, x, output.detach())
    call = _LinearCall(plan, rule, x, output)
    wrapped = RelevanceFunction.apply(call.backward, x, output.detach())
    state.linear_outputs[id(wrapped)] = (wrapped, call)
    return wrapped


def _recurrent(module: nn.Module, rule: Rule, args: tuple, output: tuple) -> tuple:
    recurrent.check_recurrent_call(module, args)
    x, hx = args[0], (args[1] if len(args) > 1 else None)
    if not x.requires_grad:
        return output
    seq, states = output
    lstm = isinstance(states, tuple)
    finals = states if lstm else (states,)

    def backward(r_out: Tensor, r_hn: Tensor, r_cn: Tensor | None = None) -> Tensor:
        return recurrent.relevance(module, x, hx, r_out, r_hn, r_cn, rule.epsilon, seq.detach())

    outs = RelevanceFunction.apply(backward, x, seq.detach(), *(s.detach() for s in finals))
    return (outs[0], (outs[1], outs[2])) if lstm else (outs[0], outs[1])


def _refuse(name: str):
    def hook(module: nn.Module, args: tuple, output: object) -> None:
        kind = type(module).__name__
        qualified = ("nn." if type(module).__module__.startswith("torch.nn") else "") + kind
        extra = (
            " LayerNorm divides by a statistic of its own input, which no default rule covers."
            if isinstance(module, nn.LayerNorm)
            else ""
        )
        raise ValueError(
            f"LRP has no rule for layer `{name or '<model>'}` ({kind}), which the forward calls.{extra} "
            f"Give it one: `LRP(model, rules={{{qualified}: rule}})` (or "
            f"`rules={{model.get_submodule('{name}'): rule}}` for this instance) with a rule from "
            "captum_ts.attr.relevance.rules, e.g. rules.passthrough() for an element-wise layer, "
            "rules.epsilon() for a linear one."
        )

    return hook
