"""Hold the models a metric runs for the whole call, by the policy of ``captum_ts._state``:
eval mode, one call per model at a time, and everything restored afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from .._state import find_module, guarded_model


@contextmanager
def guarded(*funcs: Callable | None) -> Iterator[None]:
    """Hold every distinct model behind ``funcs`` with :func:`captum_ts._state.guarded_model`
    (parameters keep ``requires_grad``, so an explanation function can still take
    gradients). Models are taken in a fixed order, so two calls sharing two models
    cannot deadlock."""
    found = (find_module(f) for f in funcs if f is not None)
    modules = {id(m): m for m in found if m is not None}
    with ExitStack() as stack:
        for key in sorted(modules):
            stack.enter_context(guarded_model(modules[key]))
        yield
