"""Property checks for any attributor: plain functions that raise a readable ``AssertionError``.

Each check takes a *factory* (an ``Attribution`` class or any callable building an
attributor from a forward function) and a :class:`Case` (model, inputs and the
keyword arguments of ``attribute``). None of them needs hypothesis; the runner in
:mod:`captum_ts.testing.runner` feeds them generated cases.

Every check leaves no trace: the global RNGs (torch, numpy, ``random``) and the
``.grad`` of the model's parameters and of the inputs are as before the check, also
when it fails; the kit's own forwards run in eval mode with the buffers restored.

>>> import torch
>>> from captum.attr import Saliency
>>> from captum_ts.testing import Case, check_output_matches_inputs
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
>>> check_output_matches_inputs(Saliency, Case(model, torch.randn(3, 4, 3), {"target": 1}))
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from captum.metrics import sensitivity_max
from torch import Tensor, nn

from .._compat import _format_tensor_into_tuples, _is_tuple
from .._state import find_module, guarded_model
from .._targets import normalize_target, select_target
from ._trace import leaves_no_trace

Factory = Callable[[Callable], Any]
Call = Callable[[Any, Any, dict], Any]


@dataclass
class Case:
    """One attribution problem: the model, the inputs and ``attribute``'s keyword arguments."""

    model: Callable
    inputs: Tensor | tuple[Tensor, ...]
    kwargs: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        xs = _format_tensor_into_tuples(self.inputs)
        shapes = ", ".join(f"{tuple(x.shape)} {str(x.dtype).replace('torch.', '')}" for x in xs)
        kw = ", ".join(f"{k}={_short(v)}" for k, v in self.kwargs.items())
        return f"Case(model={_model_name(self.model)}, inputs=[{shapes}], {kw})"


def default_call(attributor: Any, inputs: Any, kwargs: dict) -> Any:
    """How an attributor is called: ``attributor.attribute(inputs, **kwargs)``."""
    return attributor.attribute(inputs, **kwargs)


@leaves_no_trace
def check_output_matches_inputs(factory: Factory, case: Case, call: Call = default_call) -> None:
    """Same container and shapes as the inputs, contiguous, on the inputs' device and dtype."""
    out = call(factory(case.model), case.inputs, dict(case.kwargs))
    if _is_tuple(case.inputs) != isinstance(out, tuple):
        raise AssertionError(
            f"container: inputs are a {type(case.inputs).__name__}, the attribution a {type(out).__name__}"
        )
    xs, attrs = _format_tensor_into_tuples(case.inputs), _format_tensor_into_tuples(out)
    if len(xs) != len(attrs):
        raise AssertionError(f"container: {len(xs)} input tensors but {len(attrs)} attributions")
    for i, (x, a) in enumerate(zip(xs, attrs)):
        where = f"attribution[{i}]" if len(xs) > 1 else "attribution"
        if not isinstance(a, Tensor):
            raise AssertionError(f"{where} is a {type(a).__name__}, not a Tensor")
        if a.shape != x.shape:
            raise AssertionError(f"shape: {where} has shape {tuple(a.shape)}, the input {tuple(x.shape)}")
        if not a.is_contiguous():
            raise AssertionError(f"contiguity: {where} is not contiguous (strides {a.stride()})")
        if a.device != x.device:
            raise AssertionError(f"device: {where} is on {a.device}, the input on {x.device}")
        if a.dtype != x.dtype:
            raise AssertionError(f"dtype: {where} is {a.dtype}, the input {x.dtype}")
        if not bool(torch.isfinite(a).all()):
            raise AssertionError(f"finite: {where} contains NaN or Inf")


@leaves_no_trace
def check_no_mutation(
    factory: Factory,
    case: Case,
    call: Call = default_call,
    bad_kwargs: dict | None = None,
    on_error: bool = True,
) -> None:
    """The model (parameters, ``.grad``, ``requires_grad``, train/eval mode) and the inputs
    (values, ``requires_grad``, ``.grad``) are unchanged after ``attribute``, and, with
    ``on_error``, also after a call that raises (made with ``bad_kwargs``, by default an
    out-of-range target)."""
    module = find_module(case.model)
    if module is not None:
        for p in module.parameters():  # a known .grad to compare against
            if p.grad is None:
                p.grad = torch.full_like(p, 0.25)
    xs = _format_tensor_into_tuples(case.inputs)
    before = _snapshot(module, xs)
    call(factory(case.model), case.inputs, dict(case.kwargs))
    _compare(before, _snapshot(module, xs), "after attribute()")
    if not on_error:
        return
    bad = dict(case.kwargs)
    bad.update(bad_kwargs if bad_kwargs is not None else {"target": _out_of_range_target(case)})
    try:
        call(factory(case.model), case.inputs, bad)
    except Exception:  # any error: the state must still be intact
        _compare(before, _snapshot(module, xs), f"after attribute() raised (called with {_short(bad)})")


@leaves_no_trace
def check_deterministic(
    factory: Factory, case: Case, call: Call = default_call, seed_kwarg: str = "generator"
) -> None:
    """Two calls with generators seeded alike give identical results, whatever the global RNG."""

    def run(global_seed: int) -> Any:
        torch.manual_seed(global_seed)
        kw = dict(case.kwargs)
        kw[seed_kwarg] = torch.Generator().manual_seed(1234)
        return call(factory(case.model), case.inputs, kw)

    a, b = _tuple(run(0)), _tuple(run(1))
    for i, (x, y) in enumerate(zip(a, b)):
        if not torch.equal(x, y):
            raise AssertionError(
                f"determinism: two calls with `{seed_kwarg}` seeded alike differ "
                f"(attribution[{i}], max |diff| {float((x - y).abs().max()):.3g}); "
                "is the global RNG used instead of the generator?"
            )


@leaves_no_trace
def check_batch_invariance(
    factory: Factory, case: Case, call: Call = default_call, atol: float = 1e-5, rtol: float = 1e-4
) -> None:
    """Attributing a batch equals attributing its examples one by one."""
    xs = _format_tensor_into_tuples(case.inputs)
    whole = _tuple(call(factory(case.model), case.inputs, dict(case.kwargs)))
    for b in range(xs[0].shape[0]):
        one_inputs = tuple(x[b : b + 1] for x in xs) if _is_tuple(case.inputs) else xs[0][b : b + 1]
        kw = {k: _slice_example(v, b, xs[0].shape[0]) for k, v in case.kwargs.items()}
        single = _tuple(call(factory(case.model), one_inputs, kw))
        for i, (w, s) in enumerate(zip(whole, single)):
            if not torch.allclose(w[b : b + 1], s, atol=atol, rtol=rtol):
                diff = float((w[b : b + 1] - s).abs().max())
                raise AssertionError(
                    f"batch invariance: example {b} attributed alone differs from its row in the batch "
                    f"(attribution[{i}], max |diff| {diff:.3g})"
                )


@leaves_no_trace
def check_no_grad(
    factory: Factory, case: Case, call: Call = default_call, seed_kwarg: str | None = None
) -> None:
    """Works under ``torch.no_grad()`` and gives the same result as without it."""

    def run() -> tuple[Tensor, ...]:
        kw = dict(case.kwargs)
        if seed_kwarg is not None:
            kw[seed_kwarg] = torch.Generator().manual_seed(1234)
        return _tuple(call(factory(case.model), case.inputs, kw))

    free = run()
    try:
        with torch.no_grad():
            under = run()
    except Exception as err:
        raise AssertionError(
            f"no_grad: attribute() fails under torch.no_grad(): {type(err).__name__}: {err}"
        ) from err
    for i, (a, b) in enumerate(zip(free, under)):
        if not torch.allclose(a, b, atol=1e-6, rtol=1e-5):
            raise AssertionError(f"no_grad: attribution[{i}] differs under torch.no_grad()")


@leaves_no_trace
def check_sensitivity_max(factory: Factory, case: Case, seed_kwarg: str | None = None) -> None:
    """Usable as the explanation function of ``captum.metrics.sensitivity_max``."""
    attributor = factory(case.model)
    kw = dict(case.kwargs)
    if seed_kwarg is not None:
        kw[seed_kwarg] = torch.Generator().manual_seed(1234)
    try:
        sens = sensitivity_max(attributor.attribute, case.inputs, n_perturb_samples=2, **kw)
    except Exception as err:
        raise AssertionError(f"sensitivity_max: fails with {type(err).__name__}: {err}") from err
    batch = _format_tensor_into_tuples(case.inputs)[0].shape[0]
    if sens.shape != (batch,) or not bool(torch.isfinite(sens).all()):
        raise AssertionError(f"sensitivity_max: expected {batch} finite values, got {sens}")


@leaves_no_trace
def check_model_randomization(
    factory: Factory, case: Case, call: Call = default_call, seed_kwarg: str | None = None
) -> None:
    """The explanation changes when the model's weights are re-drawn (Adebayo et al. 2018).

    The model is deep-copied and every parameter re-drawn from a normal distribution
    scaled like the original; the user's model is not touched. The inputs are the
    case's shapes filled with seeded standard-normal values, so that a degenerate
    input (all zeros, where many methods return zeros for any model) cannot hide
    or fake a dependence on the weights.
    """
    module = find_module(case.model)
    if module is None:
        raise AssertionError("model randomisation: the forward function is not an nn.Module")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(99)
        xs = tuple(torch.randn_like(x) for x in _format_tensor_into_tuples(case.inputs))
        randomized = copy.deepcopy(module)
        with torch.no_grad():
            for p in randomized.parameters():
                p.copy_(torch.randn_like(p) * (float(p.std()) if p.numel() > 1 else 1.0) + 0.1)
    inputs = xs if _is_tuple(case.inputs) else xs[0]

    def run(model: nn.Module) -> tuple[Tensor, ...]:
        kw = dict(case.kwargs)
        if seed_kwarg is not None:
            kw[seed_kwarg] = torch.Generator().manual_seed(1234)
        forward = model if case.model is module else getattr(model, case.model.__name__)
        return _tuple(call(factory(forward), inputs, kw))

    original, shuffled = run(module), run(randomized)
    if all(torch.allclose(a, b, atol=1e-6, rtol=1e-4) for a, b in zip(original, shuffled)):
        raise AssertionError(
            "model randomisation: the attribution did not change when every weight of the model was "
            "re-drawn; it does not depend on the model"
        )


@leaves_no_trace
def check_completeness(
    factory: Factory,
    case: Case,
    call: Call = default_call,
    baselines: float = 0.0,
    atol: float = 1e-4,
    rtol: float = 1e-2,
) -> None:
    """``sum(attribution) = f(x) - f(baseline)`` per example, for methods that claim it
    (IG, DeepLift...), within ``atol + rtol * |f(x) - f(baseline)|`` (IG is a quadrature).
    ``f`` runs in eval mode, as the methods run the model."""
    kw = dict(case.kwargs)
    kw.setdefault("baselines", baselines)
    attrs = _tuple(call(factory(case.model), case.inputs, kw))
    xs = _format_tensor_into_tuples(case.inputs)
    base = tuple(torch.full_like(x, baselines) for x in xs)
    args = kw.get("additional_forward_args") or ()
    args = args if isinstance(args, tuple) else (args,)
    with guarded_model(case.model), torch.no_grad():
        target = kw.get("target")
        f_x, f_b = case.model(*xs, *args), case.model(*base, *args)
        if target is not None:
            t = normalize_target(target, xs[0].shape[0])
            f_x, f_b = select_target(f_x, t), select_target(f_b, t)
    total = sum(a.flatten(1).sum(1) for a in attrs)
    delta = (f_x - f_b).reshape(-1)
    gap = (total - delta).abs()
    if bool((gap > atol + rtol * delta.abs()).any()):
        raise AssertionError(
            f"completeness: sum of attributions misses f(x) - f(baseline) by {float(gap.max()):.3g}"
        )


# --- helpers ---------------------------------------------------------------------------------------


def _tuple(out: Any) -> tuple[Tensor, ...]:
    return out if isinstance(out, tuple) else (out,)


def _snapshot(module: nn.Module | None, xs: tuple[Tensor, ...]) -> dict:
    tensors = [(f"input {i}", x) for i, x in enumerate(xs)]
    if module is not None:
        tensors += [(f"parameter {n!r}", p) for n, p in module.named_parameters()]
    snap: dict = {
        "tensors": [(what, t.detach().clone(), t.requires_grad, _clone(t.grad)) for what, t in tensors]
    }
    if module is not None:
        snap["buffers"] = [(n, b.detach().clone()) for n, b in module.named_buffers()]
        snap["modes"] = [(n, m.training) for n, m in module.named_modules()]
    return snap


def _clone(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.detach().clone()


def _same(a: Tensor | None, b: Tensor | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and torch.equal(a, b)


def _compare(before: dict, after: dict, when: str) -> None:
    for (what, v0, r0, g0), (_, v1, r1, g1) in zip(before["tensors"], after["tensors"]):
        if not torch.equal(v0, v1):
            raise AssertionError(f"no mutation: {what} values changed {when}")
        if r0 != r1:
            raise AssertionError(f"no mutation: {what} requires_grad went {r0} -> {r1} {when}")
        if not _same(g0, g1):
            raise AssertionError(f"no mutation: {what} .grad changed {when}")
    for (name, b0), (_, b1) in zip(before.get("buffers", []), after.get("buffers", [])):
        if not torch.equal(b0, b1):
            raise AssertionError(f"no mutation: buffer {name!r} changed {when}")
    for (name, m0), (_, m1) in zip(before.get("modes", []), after.get("modes", [])):
        if m0 != m1:
            mode = {True: "train", False: "eval"}
            raise AssertionError(
                f"no mutation: module {name or '<root>'!r} went from {mode[m0]} to {mode[m1]} mode {when}"
            )


def _out_of_range_target(case: Case) -> Any:
    xs = _format_tensor_into_tuples(case.inputs)
    args = case.kwargs.get("additional_forward_args") or ()
    args = args if isinstance(args, tuple) else (args,)
    with guarded_model(case.model), torch.no_grad():
        out = case.model(*xs, *args)
    return tuple(int(s) + 3 for s in out.shape[1:]) if out.dim() > 2 else int(out.shape[-1]) + 3


def _slice_example(value: Any, b: int, batch: int) -> Any:
    """The part of a per-example keyword argument that belongs to example ``b``."""
    if isinstance(value, Tensor) and value.dim() > 0 and value.shape[0] == batch:
        return value[b : b + 1]
    if isinstance(value, list) and len(value) == batch:
        return value[b : b + 1]
    if isinstance(value, tuple) and any(isinstance(v, Tensor) for v in value):
        return tuple(_slice_example(v, b, batch) for v in value)
    return value


def _short(value: Any) -> str:
    if isinstance(value, Tensor):
        if value.numel() <= 6:
            return f"tensor({value.tolist()})"
        return f"tensor(shape={tuple(value.shape)})"
    if isinstance(value, torch.Generator):
        return "Generator"
    if isinstance(value, tuple):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return repr(value)


def _model_name(model: Callable) -> str:
    module = find_module(model)
    if module is None:
        return getattr(model, "__name__", type(model).__name__)
    return getattr(module, "kit_name", type(module).__name__)
