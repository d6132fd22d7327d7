"""The one place that imports Captum's private helpers.

Captum's underscore helpers move between releases (see ``docs/architecture.md``).
Every module of ``captum_ts`` imports them from here, so a Captum upgrade touches
one file.
"""

from __future__ import annotations

from captum._utils.common import (
    ExpansionTypes,
    _expand_additional_forward_args,
    _format_additional_forward_args,
    _format_baseline,
    _format_output,
    _format_tensor_into_tuples,
    _is_tuple,
    _run_forward,
)
from captum._utils.gradient import (
    apply_gradient_requirements,
    compute_gradients,
    undo_gradient_requirements,
)
from captum._utils.progress import NullProgress, progress
from captum._utils.typing import BaselineType, TargetType, TensorOrTupleOfTensorsGeneric

__all__ = [
    "BaselineType",
    "ExpansionTypes",
    "NullProgress",
    "TargetType",
    "TensorOrTupleOfTensorsGeneric",
    "_expand_additional_forward_args",
    "_format_additional_forward_args",
    "_format_baseline",
    "_format_output",
    "_format_tensor_into_tuples",
    "_is_tuple",
    "_run_forward",
    "apply_gradient_requirements",
    "compute_gradients",
    "expand_additional_forward_args",
    "progress",
    "undo_gradient_requirements",
]


def expand_additional_forward_args(additional_forward_args: object, n: int) -> tuple | None:
    """Wrap ``additional_forward_args`` in a tuple and repeat each per-example
    tensor ``n`` times, sample-major (rows ``b*n ... b*n+n-1`` belong to example ``b``),
    as Captum's NoiseTunnel and metrics do."""
    args = _format_additional_forward_args(additional_forward_args)
    if n == 1:
        return args
    return _expand_additional_forward_args(args, n, ExpansionTypes.repeat_interleave)
