"""The property checks leave no trace: the caller's global RNGs and ``.grad`` are restored."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from .._compat import _format_tensor_into_tuples
from .._state import find_module

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Restore the global RNGs on exit, also after an exception: torch's (CPU and every
    initialised CUDA device), numpy's and ``random``'s."""
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


@contextmanager
def preserved_grads(tensors: Iterable[Tensor]) -> Iterator[None]:
    """Put back every tensor's ``.grad`` on exit: the same object, with its values
    (a ``.backward()`` accumulates into an existing ``.grad`` in place)."""
    saved = [(t, t.grad, None if t.grad is None else t.grad.detach().clone()) for t in tensors]
    try:
        yield
    finally:
        with torch.no_grad():
            for t, grad, values in saved:
                if grad is not None:
                    grad.copy_(values)
                t.grad = grad


def leaves_no_trace(check: F) -> F:
    """Decorate a property check ``check(factory, case, ...)`` so that the global RNGs and the
    ``.grad`` of the model's parameters and of the (leaf) inputs are as before the check."""

    @functools.wraps(check)
    def wrapper(factory: Any, case: Any, *args: Any, **kwargs: Any) -> Any:
        module = find_module(case.model)
        tensors = [x for x in _format_tensor_into_tuples(case.inputs) if x.is_leaf]
        tensors += list(module.parameters()) if module is not None else []
        with preserved_rng(), preserved_grads(tensors):
            return check(factory, case, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
