"""Find and check the linear head of a global-average-pooling network.

CAM is exact only for ``output = head(mean_t A(t))`` with ``head`` an
``nn.Linear``. The head is the given one or the last ``nn.Linear`` the forward pass
calls; the architecture is then verified on the very batch being explained: the
head's input must equal the time average of the layer's activation, and the model's
output the head's output. Anything else (max pooling, a softmax or another layer
after the head) is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import Tensor, nn

NOT_GAP = (
    "CAM needs a network whose output is `head(mean over time of the layer's activation)`, with `head` an "
    "nn.Linear; {what}. Use LayerGradCam for other architectures."
)


@contextmanager
def record_linears(candidates: list[nn.Linear]) -> Iterator[list[tuple[nn.Linear, Tensor, Tensor]]]:
    """Record ``(module, input, output)`` of every call of the candidate heads, in order."""
    calls: list[tuple[nn.Linear, Tensor, Tensor]] = []
    with ExitStack() as stack:
        for m in candidates:
            h = m.register_forward_hook(
                lambda mod, args, out: calls.append((mod, args[0].detach(), out.detach()))
            )
            stack.callback(h.remove)
        yield calls


def head_candidates(module: nn.Module | None, head: nn.Linear | None) -> list[nn.Linear]:
    """``[head]``, or every ``nn.Linear`` of the model when no head is given."""
    if head is not None:
        if not isinstance(head, nn.Linear):
            raise TypeError(f"`head` must be an nn.Linear, got {type(head).__name__}.")
        return [head]
    found = [m for m in module.modules() if isinstance(m, nn.Linear)] if module is not None else []
    if not found:
        raise ValueError(
            "no nn.Linear found in the model behind `forward_func`; pass the classifier layer as `head=`."
        )
    return found


def verify_head(
    calls: list[tuple[nn.Linear, Tensor, Tensor]], acts: Tensor, output: object, head: nn.Linear | None
) -> nn.Linear:
    """The head that produced ``output`` from ``mean_t acts`` (``acts`` as ``(B, K, T')``)."""
    if not calls:
        raise ValueError(NOT_GAP.format(what="the head was not called"))
    if head is not None and len(calls) > 1:
        raise ValueError(NOT_GAP.format(what=f"`head` was called {len(calls)} times"))
    module, z, y = calls[-1]
    gap = acts.mean(-1)
    if z.shape != gap.shape:
        raise ValueError(
            NOT_GAP.format(
                what=f"the head's input has shape {tuple(z.shape)}, the pooled activation {tuple(gap.shape)}"
            )
        )
    tol = 1e4 * torch.finfo(gap.dtype).eps
    scale = float(gap.abs().max()) + 1.0
    if not torch.allclose(z, gap, rtol=tol, atol=tol * scale):
        diff = float((z - gap).abs().max())
        raise ValueError(NOT_GAP.format(what=f"the head's input differs from it by up to {diff:.3g}"))
    if not isinstance(output, Tensor) or output.shape != y.shape or not torch.allclose(output, y):
        raise ValueError(NOT_GAP.format(what="the model's output is not the head's output"))
    return module
