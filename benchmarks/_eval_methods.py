"""The methods the evaluation compares: a registry of named factories taking keyword settings.

A factory is called as ``factory(model, rows, **settings)`` and returns an *explainer*
``explain(inputs, target, generator) -> map`` shaped like ``inputs``. ``rows`` is the
harness's budget of rows per forward pass, to be turned into the method's own batch-size
knob. A variant on the command line is ``name`` or ``name:key=value,key=value``; values are
Python literals (``0.85``, ``20``, ``None``, ``(1, 2)``), anything else is kept as a string
(``gag:guide=stability``). Adding a method is one decorated function::

    @register("lrp", deterministic=True)
    def _lrp(model, rows, **settings):
        method = LRP(model)
        return lambda x, target, generator: method.attribute(x, target=target, **settings)
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from captum.attr import InputXGradient, IntegratedGradients, NoiseTunnel, Saliency
from torch import Tensor, nn

from captum_ts import GuidedAbsoluteGrad, LearnedPerturbationMask

Explainer = Callable[[Tensor, Tensor, torch.Generator], Tensor]
Factory = Callable[..., Explainer]


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its factory, whether two generator seeds give the same map, and
    whether it is too slow for the default list (then it runs only when named)."""

    factory: Factory
    deterministic: bool
    slow: bool
    summary: str
    takes: Callable | None  # for ``**settings`` factories: the callable the settings go to


@dataclass(frozen=True)
class Variant:
    """One column of the tables: a registered method with settings, labelled as typed."""

    label: str
    name: str
    settings: dict = field(default_factory=dict)

    @property
    def spec(self) -> MethodSpec:
        return METHODS[self.name]

    def build(self, model: nn.Module, rows: int) -> Explainer:
        return self.spec.factory(model, rows, **self.settings)


METHODS: dict[str, MethodSpec] = {}

#: arguments the harness passes to every method, never settings of a variant
RESERVED = frozenset({"inputs", "target", "generator", "additional_forward_args"})


def register(
    name: str, *, deterministic: bool, slow: bool = False, takes: Callable | None = None
) -> Callable[[Factory], Factory]:
    """Register ``factory(model, rows, **settings) -> explainer`` under ``name``; a factory that
    forwards ``**settings`` names the callable receiving them in ``takes``, so that a misspelt
    setting is refused when the command line is read."""

    def add(factory: Factory) -> Factory:
        if name in METHODS:
            raise ValueError(f"a method named {name!r} is already registered.")
        summary = (inspect.getdoc(factory) or "").split("\n")[0]
        METHODS[name] = MethodSpec(factory, deterministic, slow, summary, takes)
        return factory

    return add


def default_variants() -> list[Variant]:
    """Every registered method that is not slow, at its default settings."""
    return [Variant(name, name) for name, spec in METHODS.items() if not spec.slow]


def parse_variant(text: str) -> Variant:
    """``"gag:guide_quantile=0,nt_samples=50"`` -> ``Variant("gag:...", "gag", {...})``.

    Unknown methods and settings the factory does not take are refused here, before any
    model is trained.
    """
    name, _, rest = text.partition(":")
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r} in {text!r}; registered: {', '.join(METHODS)}.")
    settings = {}
    for item in filter(None, re.split(r",(?=\s*\w+=)", rest)):  # commas inside values stay
        key, eq, value = item.partition("=")
        if not eq or not key.isidentifier():
            raise ValueError(f"setting {item!r} in {text!r} must read key=value.")
        settings[key] = _literal(value)
    reserved = sorted(RESERVED.intersection(settings))
    if reserved:
        raise ValueError(f"{text!r}: the harness sets {', '.join(reserved)} itself.")
    spec = METHODS[name]
    try:
        inspect.signature(spec.factory).bind(None, 1, **settings)
        if spec.takes is not None:
            inspect.signature(spec.takes).bind_partial(**settings)
    except TypeError as err:
        raise ValueError(f"{text!r}: {err}") from None
    return Variant(text, name, settings)


def _literal(value: str) -> object:
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def _leaf(x: Tensor) -> Tensor:
    """A copy that requires grad, as Captum's gradient methods want their inputs."""
    return x.detach().clone().requires_grad_()


def _seed_from(generator: torch.Generator) -> int:
    """A seed for Captum's methods, which draw from the global RNG."""
    return int(torch.randint(2**62, (1,), generator=generator))


def _batch_range(x: Tensor) -> float:
    """Mean over the examples of each example's value range."""
    flat = x.reshape(len(x), -1)
    return float((flat.amax(1) - flat.amin(1)).mean())


@register("random", deterministic=False)
def _random(model: nn.Module, rows: int) -> Explainer:
    """Uniform noise, the floor every method must beat."""
    return lambda x, target, generator: torch.rand(x.shape, generator=generator, dtype=x.dtype)


@register("saliency", deterministic=True)
def _saliency(model: nn.Module, rows: int) -> Explainer:
    """Captum's Saliency: the gradient of the target."""
    method = Saliency(model)
    return lambda x, target, generator: method.attribute(_leaf(x), target=target, abs=False)


@register("smoothgrad", deterministic=False)
def _smoothgrad(model: nn.Module, rows: int, nt_samples: int = 20, stdevs: float = 0.15) -> Explainer:
    """Captum's NoiseTunnel(Saliency), mean gradient; noise std = stdevs x mean example range."""
    method = NoiseTunnel(Saliency(model))

    def explain(x: Tensor, target: Tensor, generator: torch.Generator) -> Tensor:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_seed_from(generator))
            return method.attribute(
                _leaf(x),
                nt_type="smoothgrad",
                nt_samples=nt_samples,
                nt_samples_batch_size=max(1, rows // len(x)),
                stdevs=stdevs * _batch_range(x),
                target=target,
                abs=False,
            )

    return explain


@register("ig", deterministic=True)
def _integrated_gradients(model: nn.Module, rows: int, n_steps: int = 32, baseline: float = 0.0) -> Explainer:
    """Captum's IntegratedGradients from a constant baseline (default 0, the removal value)."""
    method = IntegratedGradients(model)
    return lambda x, target, generator: method.attribute(
        _leaf(x), baselines=baseline, target=target, n_steps=n_steps, internal_batch_size=rows
    )


@register("ixg", deterministic=True)
def _input_x_gradient(model: nn.Module, rows: int) -> Explainer:
    """Captum's InputXGradient."""
    method = InputXGradient(model)
    return lambda x, target, generator: method.attribute(_leaf(x), target=target)


@register("gag", deterministic=False, takes=GuidedAbsoluteGrad.attribute)
def _guided_absolute_grad(model: nn.Module, rows: int, **settings: object) -> Explainer:
    """captum_ts.GuidedAbsoluteGrad; any keyword of its ``attribute`` is a setting."""
    method = GuidedAbsoluteGrad(model)

    def explain(x: Tensor, target: Tensor, generator: torch.Generator) -> Tensor:
        knobs = {"nt_samples_batch_size": max(1, rows // len(x)), **settings}
        return method.attribute(x, target=target, generator=generator, **knobs)

    return explain


@register("lpm", deterministic=False, slow=True, takes=LearnedPerturbationMask.attribute)
def _learned_perturbation_mask(model: nn.Module, rows: int, **settings: object) -> Explainer:
    """captum_ts.LearnedPerturbationMask (trains a mask per example: slow); any ``attribute`` keyword."""
    method = LearnedPerturbationMask(model)
    return lambda x, target, generator: method.attribute(
        x, target=target, generator=generator, **{"batch_size": rows, **settings}
    )
