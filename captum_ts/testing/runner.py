"""``check_attributor``: run every applicable property over hypothesis-generated cases."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from hypothesis import HealthCheck, given, settings

from . import properties as P
from ._trace import preserved_rng
from .strategies import cases

#: check name -> (function, what it needs)
CHECKS: dict[str, Callable[..., None]] = {
    "output_matches_inputs": P.check_output_matches_inputs,
    "no_mutation": P.check_no_mutation,
    "deterministic": P.check_deterministic,
    "batch_invariance": P.check_batch_invariance,
    "no_grad": P.check_no_grad,
    "sensitivity_max": P.check_sensitivity_max,
    "model_randomization": P.check_model_randomization,
    "completeness": P.check_completeness,
}


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str = ""
    example: str = ""


@dataclass
class Report:
    """What ``check_attributor`` found: one result per property."""

    attributor: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[str]:
        return [r.name for r in self.results if not r.passed]

    def __str__(self) -> str:
        n_ok = sum(r.passed for r in self.results)
        lines = [f"check_attributor({self.attributor}): {n_ok}/{len(self.results)} passed"]
        for r in self.results:
            lines.append(f"  [{'ok' if r.passed else 'FAIL'}] {r.name}")
            if not r.passed:
                lines.append(f"         {r.message}")
                if r.example:
                    lines.append(f"         minimal example: {r.example}")
        return "\n".join(lines)


def check_attributor(
    attributor: Callable[[Callable], Any],
    max_examples: int = 10,
    *,
    task: str = "classification",
    model_kinds: Sequence[str] = ("linear", "mlp", "cnn", "gru"),
    layouts: Sequence[str] = ("btf",),
    dtypes: Sequence[torch.dtype] = (torch.float32,),
    tuple_inputs: bool = False,
    attribute_kwargs: dict | None = None,
    call: Callable[[Any, Any, dict], Any] | None = None,
    stochastic: bool | None = None,
    seed_kwarg: str = "generator",
    batch_invariant: bool | None = None,
    completeness: bool = False,
    mutation_on_error: bool = True,
    checks: Sequence[str] | None = None,
    shrink_budget: int = 40,
    raise_on_failure: bool = True,
) -> Report:
    """Property-test an attributor over generated series, models and targets.

    Args:
        attributor: an ``Attribution`` class or any callable ``forward_func -> attributor``.
        max_examples: hypothesis examples per property.
        task: ``"classification"`` (``(B, C)`` outputs) or ``"forecasting"`` (``(B, H, C)``).
        model_kinds, layouts, dtypes, tuple_inputs: what the generated cases look like.
        attribute_kwargs: extra keyword arguments for every ``attribute`` call.
        call: how to call the attributor, ``call(attributor, inputs, kwargs)``; default
            ``attributor.attribute(inputs, **kwargs)``.
        stochastic: the method takes a random generator under ``seed_kwarg``; ``None``
            detects it from ``attribute``'s signature. Stochastic methods get the
            determinism check and are not held to batch invariance by default.
        batch_invariant: apply the batch-invariance check (default: not stochastic).
        completeness: apply the completeness check (for IG-like methods).
        mutation_on_error: the no-mutation check also makes a call that raises (an
            out-of-range target) and checks the state afterwards.
        checks: run only these properties (names in :data:`CHECKS`).
        shrink_budget: how many candidate cases hypothesis may try while shrinking a
            failure towards a minimal example.
        raise_on_failure: raise an ``AssertionError`` holding the report if any property fails.

    Returns:
        a :class:`Report`; ``print(report)`` lists every property and, for a failure, the
        message and the minimal example hypothesis found.

    The caller's global RNGs (torch, numpy, ``random``) are as before the call.
    """
    extra = dict(attribute_kwargs or {})
    if stochastic is None:
        stochastic = _takes(attributor, seed_kwarg)
    if batch_invariant is None:
        batch_invariant = not stochastic
    seed = seed_kwarg if stochastic else None
    run_call = call or P.default_call

    def bound(name: str) -> Callable[[P.Case], None] | None:
        if name == "output_matches_inputs":
            return lambda c: P.check_output_matches_inputs(attributor, c, run_call)
        if name == "no_mutation":
            return lambda c: P.check_no_mutation(attributor, c, run_call, on_error=mutation_on_error)
        if name == "deterministic":
            return (
                (lambda c: P.check_deterministic(attributor, c, run_call, seed_kwarg)) if stochastic else None
            )
        if name == "batch_invariance":
            return (lambda c: P.check_batch_invariance(attributor, c, run_call)) if batch_invariant else None
        if name == "no_grad":
            return lambda c: P.check_no_grad(attributor, c, run_call, seed)
        if name == "sensitivity_max":
            return (lambda c: P.check_sensitivity_max(attributor, c, seed)) if call is None else None
        if name == "model_randomization":
            return lambda c: P.check_model_randomization(attributor, c, run_call, seed)
        if name == "completeness":
            return (lambda c: P.check_completeness(attributor, c, run_call)) if completeness else None
        raise ValueError(f"unknown check {name!r}; choose from {sorted(CHECKS)}")

    strategy = cases(task=task, kinds=model_kinds, layouts=layouts, dtypes=dtypes, tuple_inputs=tuple_inputs)
    if extra:
        strategy = strategy.map(lambda c: P.Case(c.model, c.inputs, {**c.kwargs, **extra}))
    report = Report(getattr(attributor, "__name__", repr(attributor)))
    with preserved_rng():
        for name in checks or list(CHECKS):
            check = bound(name)
            if check is None:
                continue
            report.results.append(_run(name, check, strategy, max_examples, shrink_budget))
    if raise_on_failure and not report.passed:
        raise AssertionError(str(report))
    return report


def _run(
    name: str, check: Callable[[P.Case], None], strategy: Any, max_examples: int, shrink_budget: int
) -> CheckResult:
    failing: list[str] = []
    tried_after_failure = 0

    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def test(case: P.Case) -> None:
        nonlocal tried_after_failure
        key = repr(case)
        if failing:
            # shrinking: after the budget only cases already seen failing are checked again,
            # so hypothesis settles on the smallest failing case found so far
            if key not in failing and tried_after_failure >= shrink_budget:
                return
            tried_after_failure += 1
        try:
            check(case)
        except Exception:
            failing.append(key)  # hypothesis replays the minimal failing case last
            raise

    try:
        test()
    except Exception as err:  # report any failure, assertion or crash
        return CheckResult(name, False, _message(err), failing[-1] if failing else "")
    return CheckResult(name, True)


def _message(err: BaseException) -> str:
    """First line of the error; for several distinct failures, the first of each."""
    group = getattr(err, "exceptions", None)  # an ExceptionGroup: several distinct failures
    if group:
        return " | ".join(_message(e) for e in group)
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text if isinstance(err, AssertionError) else f"crashed: {type(err).__name__}: {text}"


def _takes(attributor: Callable, kwarg: str) -> bool:
    method = getattr(attributor, "attribute", None)
    if method is None:
        return False
    try:
        return kwarg in inspect.signature(inspect.unwrap(method)).parameters
    except (TypeError, ValueError):
        return False
