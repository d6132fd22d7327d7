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
    "expand_additional_forward_args",
    "progress",
]


def expand_additional_forward_args(
    additional_forward_args: object, n: int, interleave: bool = True
) -> tuple | None:
    """Wrap ``additional_forward_args`` in a tuple and repeat each per-example tensor
    ``n`` times: sample-major (rows ``b*n ... b*n+n-1`` belong to example ``b``, as in
    Captum's NoiseTunnel and metrics) or, with ``interleave=False``, copy-major (rows
    ``k*B ... k*B+B-1`` are the k-th copy of the batch, as in Captum's IG)."""
    args = _format_additional_forward_args(additional_forward_args)
    if n == 1:
        return args
    kind = ExpansionTypes.repeat_interleave if interleave else ExpansionTypes.repeat
    return _expand_additional_forward_args(args, n, kind)
