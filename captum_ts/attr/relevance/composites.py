"""Composites: which rule each layer gets, by type and position, as data.

A :class:`Composite` maps layer types to rules and may give the first weighted layer
(``Linear``/convolution) the input reaches its own rule. Element-wise activations,
dropout, max pooling, ``Flatten`` and constant padding get their only sensible rule in every
composite (:data:`STRUCTURAL`). Constant padding hands each real input the relevance of its
padded position; the relevance the layer above gives the padded constants is dropped, which is
none under the z-rules (a zero input gets none) but not under the flat, w^2 and z^B rules of a
first layer. The named presets:

==================== ==========================================================
``"zero"``            LRP-0 everywhere (Gradient x Input on ReLU networks)
``"epsilon"``         LRP-epsilon, ``eps=1e-9`` (Captum's ``LRP`` default)
``"gamma"``           LRP-gamma (0.25) on convolutions, epsilon on dense layers
``"zplus"``           alpha1-beta0 on convolutions and dense layers
``"alpha2-beta1"``    alpha2-beta1 on convolutions and dense layers
``"epsilon-plus"``    z+ on convolutions, epsilon on dense layers
``"epsilon-plus-flat"`` the same, flat on the first weighted layer
==================== ==========================================================

Average pooling and BatchNorm (when not merged into the layer before it) take the
epsilon rule; ``nn.LSTM``/``nn.GRU`` take :func:`~.rules.recurrent`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from torch import nn

from . import rules
from .layers import AVERAGE_POOLS, BATCH_NORMS, CONVOLUTIONS, LINEAR_LAYERS, WEIGHTED
from .rules import GRADIENT, LINEAR, PASSTHROUGH, RECURRENT, Rule

ELEMENTWISE = (
    nn.ReLU, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Tanh, nn.Sigmoid,
    nn.Softplus, nn.Hardtanh, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.Identity,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout,
)  # fmt: skip
PADDING = (nn.ConstantPad1d, nn.ConstantPad2d, nn.ZeroPad1d, nn.ZeroPad2d)
ROUTING = (
    nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.Unflatten,
    *PADDING,
)  # fmt: skip
RECURRENT_LAYERS = (nn.LSTM, nn.GRU)

#: rules every composite shares
STRUCTURAL: Mapping[type, Rule] = MappingProxyType(
    {**{t: rules.passthrough() for t in ELEMENTWISE}, **{t: rules.gradient() for t in ROUTING}}
)

_KIND_OF = {t: LINEAR for t in LINEAR_LAYERS} | {t: RECURRENT for t in RECURRENT_LAYERS}

Key = type | nn.Module


@dataclass(frozen=True)
class Composite:
    """Rules by layer type, plus an optional rule for the first weighted layer."""

    name: str
    by_type: Mapping[type, Rule] = field(default_factory=dict)
    first: Rule | None = None

    def __repr__(self) -> str:
        return f"Composite({self.name!r})"


def _composite(name: str, dense: Rule, conv: Rule, first: Rule | None = None, eps: float = 1e-9) -> Composite:
    shared = {t: rules.epsilon(eps) for t in (*AVERAGE_POOLS, *BATCH_NORMS)}
    shared |= {t: rules.recurrent(max(eps, 1e-6)) for t in RECURRENT_LAYERS}
    by_type = {nn.Linear: dense, **dict.fromkeys(CONVOLUTIONS, conv), **shared}
    return Composite(name, MappingProxyType(by_type), first)


def zero() -> Composite:
    return _composite("zero", rules.zero(), rules.zero())


def epsilon(eps: float = 1e-9) -> Composite:
    return _composite("epsilon", rules.epsilon(eps), rules.epsilon(eps), eps=eps)


def gamma(gamma: float = 0.25, eps: float = 1e-9) -> Composite:
    return _composite("gamma", rules.epsilon(eps), rules.gamma(gamma, eps), eps=eps)


def alpha_beta(alpha: float = 1.0, beta: float = 0.0) -> Composite:
    ab = rules.alpha_beta(alpha, beta)
    return _composite(f"alpha{alpha:g}-beta{beta:g}", ab, ab)


def epsilon_plus(eps: float = 1e-9) -> Composite:
    return _composite("epsilon-plus", rules.epsilon(eps), rules.alpha_beta(), eps=eps)


def epsilon_plus_flat(eps: float = 1e-9) -> Composite:
    return _composite("epsilon-plus-flat", rules.epsilon(eps), rules.alpha_beta(), rules.flat(), eps)


PRESETS = {
    "zero": zero,
    "epsilon": epsilon,
    "gamma": gamma,
    "zplus": alpha_beta,
    "alpha1-beta0": alpha_beta,
    "alpha2-beta1": lambda: alpha_beta(2.0, 1.0),
    "epsilon-plus": epsilon_plus,
    "epsilon-plus-flat": epsilon_plus_flat,
}


def get_composite(composite: str | Composite) -> Composite:
    """A preset by name, or the composite itself."""
    if isinstance(composite, Composite):
        return composite
    if isinstance(composite, str) and composite in PRESETS:
        return PRESETS[composite]()
    raise ValueError(f"`composite` must be a Composite or one of {sorted(PRESETS)}, got {composite!r}.")


def check_overrides(overrides: Mapping[Key, Rule] | None) -> dict[Key, Rule]:
    """Validate per-layer overrides (keys: module instances or types; values: rules)."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise TypeError(f"`rules` must be a dict {{module or type: rule}}, got {type(overrides).__name__}.")
    for key, rule in overrides.items():
        if not isinstance(key, nn.Module) and not (isinstance(key, type) and issubclass(key, nn.Module)):
            raise TypeError(f"`rules` keys must be nn.Module instances or types, got {key!r}.")
        if not isinstance(rule, Rule):
            raise TypeError(
                f"`rules[{key!r}]` must be a rule from captum_ts.attr.relevance.rules, got {rule!r}."
            )
    return dict(overrides)


def rule_for(
    module: nn.Module, composite: Composite, overrides: Mapping[Key, Rule], first: bool = False
) -> Rule | None:
    """The rule of ``module``: instance override, type override, the composite's
    first-layer rule (when ``first``), its rule for the type, the shared rules."""
    t = type(module)
    rule = (
        overrides.get(module)
        or overrides.get(t)
        or (composite.first if first and isinstance(module, WEIGHTED) else None)
        or composite.by_type.get(t)
        or STRUCTURAL.get(t)
    )
    if rule is not None:
        check_fits(module, rule)
    return rule


def check_fits(module: nn.Module, rule: Rule) -> None:
    """Refuse a rule that cannot apply to the layer (e.g. a linear rule on an LSTM)."""
    kind = _KIND_OF.get(type(module))
    wrong = (
        (rule.kind == LINEAR and kind != LINEAR)
        or (rule.kind == RECURRENT and kind != RECURRENT)
        or (kind is not None and rule.kind not in (kind, PASSTHROUGH, GRADIENT))
        or (rule.modifies_weights and not isinstance(module, (*WEIGHTED, *BATCH_NORMS)))
    )
    if wrong:
        raise ValueError(
            f"rule {rule!r} cannot apply to a {type(module).__name__} layer: linear rules need a Linear, "
            "convolution, average pooling or BatchNorm layer (weight-modifying ones a layer with weights), "
            "recurrent rules an nn.LSTM/nn.GRU."
        )
