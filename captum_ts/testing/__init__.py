"""Property-test any attributor.

* :func:`check_attributor` runs every applicable property over generated cases and
  reports which one failed on which minimal example (needs hypothesis: install the
  ``testing`` extra);
* the property checks (``check_output_matches_inputs``, ``check_no_mutation``, ...)
  are plain functions usable in any test;
* :mod:`captum_ts.testing.strategies` has the hypothesis strategies
  (``series``, ``classifiers``, ``forecasters``, ``targets``, ``cases``).

Hypothesis is imported only when a strategy or ``check_attributor`` is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from .models import MODEL_KINDS, TwoInputModel, make_model
from .properties import (
    Case,
    check_batch_invariance,
    check_completeness,
    check_deterministic,
    check_model_randomization,
    check_no_grad,
    check_no_mutation,
    check_output_matches_inputs,
    check_sensitivity_max,
    default_call,
)

_LAZY = {
    "check_attributor": "runner",
    "Report": "runner",
    "CHECKS": "runner",
    "strategies": None,
    "series": "strategies",
    "classifiers": "strategies",
    "forecasters": "strategies",
    "targets": "strategies",
    "cases": "strategies",
}

__all__ = [
    "MODEL_KINDS",
    "Case",
    "TwoInputModel",
    "check_batch_invariance",
    "check_completeness",
    "check_deterministic",
    "check_model_randomization",
    "check_no_grad",
    "check_no_mutation",
    "check_output_matches_inputs",
    "check_sensitivity_max",
    "default_call",
    "make_model",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'captum_ts.testing' has no attribute {name!r}")
    try:
        module = importlib.import_module(f".{_LAZY[name] or name}", __name__)
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"captum_ts.testing.{name} needs hypothesis: pip install 'captum-ts[testing]'"
        ) from err
    return module if _LAZY[name] is None else getattr(module, name)
