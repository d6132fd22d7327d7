"""Find operations in a forward that no rule covers, and refuse them.

Ruled layers hide their insides behind :class:`~.propagation.RelevanceFunction`
nodes (layers whose rule follows the gradient, such as max pooling, keep their own
nodes, which the hooks record and this check accepts), so after the forward every
other node of the autograd graph between the output and the inputs is an operation
written in some ``forward`` (``x.mean(-1)``,
``amax``, ``a + b``, ``q @ k.T``). Relevance crosses only those that move values
without scaling or mixing them (reshapes, transposes, slicing, concatenation,
copies); any other would be mis-propagated silently, so it is refused by name.
"""

from __future__ import annotations

import re
from collections.abc import Set

from torch import Tensor

#: autograd nodes (name without ``Backward<n>``) that move relevance unchanged
SHAPE_OPS = frozenset(
    {
        "AccumulateGrad",
        "Alias",
        "Cat",
        "Clone",
        "Expand",
        "Flip",
        "Index",
        "IndexSelect",
        "Permute",
        "Repeat",
        "Reshape",
        "ReshapeAlias",
        "Select",
        "Slice",
        "Split",
        "SplitWithSizes",
        "Squeeze",
        "Stack",
        "T",
        "ToCopy",
        "Transpose",
        "Unbind",
        "Unsqueeze",
        "UnsafeView",
        "View",
        "RelevanceFunction",
    }
)

_HINTS = {
    "mean": "x.mean(-1) -> nn.AdaptiveAvgPool1d(1) on (B, C, T) followed by nn.Flatten()",
    "sum": "a sum over time -> nn.AdaptiveAvgPool1d(1) (relevance is scale-free) then nn.Flatten()",
    "amax": "x.amax(-1) -> nn.AdaptiveMaxPool1d(1) on (B, C, T) followed by nn.Flatten()",
    "max": "x.max(-1) -> nn.AdaptiveMaxPool1d(1) on (B, C, T) followed by nn.Flatten()",
    "add": "a residual a + b has no rule: explain a model without it, or the branches separately",
    "bmm": "a matrix product of two activations (attention) has no rule: explain the layers around it",
    "mm": "a matrix product with a tensor that is not a layer's weight: put it in an nn.Linear",
}


def op_name(node: object) -> str:
    """``MeanBackward1`` -> ``Mean``; custom functions keep their class name."""
    return re.sub(r"Backward\d*$", "", type(node).__name__)


def check_functional_ops(output: Tensor, routed: Set[object] = frozenset()) -> None:
    """Raise a ``ValueError`` naming the first operation between ``output`` and the
    inputs that is neither a ruled layer, a node of a layer whose rule routes relevance
    by its gradient (``routed``), nor a pure shape operation."""
    seen, stack = set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        name = op_name(node)
        if name not in SHAPE_OPS and node not in routed:
            op = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
            hint = _HINTS.get(op, "wrap the operation in a module and give that module a rule")
            raise ValueError(
                f"LRP cannot propagate relevance through `{op}` (autograd node {type(node).__name__}): "
                "an operation in the model's forward outside every layer with a rule, which LRP would "
                f"mis-distribute silently. Fix: {hint}; then pass "
                "`rules={ThatModule: rule}` if it has no default rule."
            )
        stack.extend(nxt for nxt, _ in node.next_functions)
