"""Taps on ``nn.Linear`` and ``nn.Conv1d`` calls: each layer's input and output signal.

A forward hook adds a zero leaf tensor (the *tap*) to the output of every call of
a tapped layer and keeps the layer's input. The gradient of any loss with respect
to the tap is the backprop signal ``delta = dL/d output`` of that call, and the
layer's weight gradient is ``sum_rows delta_row^T x_row`` over the rows of all its
calls (time steps, variates, batch): Horizon Activation Mapping never needs the
weight gradients themselves, only norms of them, which the rows give directly
(see ``_ghost_norms``).

A layer is tapped only when its weight is trainable and owned by it alone (not
tied to another module), so the rows account for every use the hooks can see;
the caller checks the full gradient against autograd's to catch uses they cannot.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class TappedCall:
    """One call of a tapped layer: its graph-connected input, the zero tap added to
    its output, the autograd node of the tapped output (taken at once, before any
    in-place change) and the call's position among all tapped calls."""

    input: Tensor
    tap: Tensor
    node: object
    order: int


@dataclass
class TappedLayer:
    """A tapped ``nn.Linear``/``nn.Conv1d`` and the calls recorded during one forward."""

    name: str
    module: nn.Module
    calls: list[TappedCall] = field(default_factory=list)

    @property
    def is_linear(self) -> bool:
        return isinstance(self.module, nn.Linear)

    @property
    def out_features(self) -> int:
        return int(self.module.weight.shape[0])

    def input_rows(self) -> Tensor:
        """The layer inputs of all calls as rows ``(N, fan_in)``, detached.

        For ``Conv1d`` a row is one (example, output position) pair holding the
        receptive field ``(in_channels * kernel_size)``, in the weight's layout."""
        rows = [self._rows(c.input.detach()) for c in self.calls]
        return rows[0] if len(rows) == 1 else torch.cat(rows)

    def signal_rows(self, signals: list[Tensor]) -> Tensor:
        """Per-call tap gradients ``(M, *output.shape)`` as rows ``(M, N, out)``."""
        rows = []
        for s in signals:
            m = s.shape[0]
            if not self.is_linear:  # (M, [B,] O, L) -> (M, [B,] L, O)
                s = s.movedim(-2, -1)
            rows.append(s.reshape(m, -1, self.out_features))
        return rows[0] if len(rows) == 1 else torch.cat(rows, dim=1)

    def _rows(self, x: Tensor) -> Tensor:
        if self.is_linear:
            return x.reshape(-1, x.shape[-1])
        conv = self.module
        if x.dim() == 2:  # unbatched (C, L)
            x = x.unsqueeze(0)
        (k,), (s,), (d,), (p,) = conv.kernel_size, conv.stride, conv.dilation, conv.padding
        x = F.pad(x, (p, p))
        span = (k - 1) * d + 1
        patches = x.unfold(-1, span, s)[..., ::d]  # (B, C, L_out, k)
        return patches.permute(0, 2, 1, 3).reshape(-1, x.shape[1] * k)


def tappable_layers(
    model: nn.Module, trainable: set[int], excluded: frozenset[str] = frozenset()
) -> dict[str, nn.Module]:
    """The ``nn.Linear`` and plain ``nn.Conv1d`` layers whose weight is trainable and
    not shared with another module, by qualified name."""
    owners: dict[int, int] = {}
    for m in model.modules():
        for p in m._parameters.values():
            if p is not None:
                owners[id(p)] = owners.get(id(p), 0) + 1
    layers = {}
    for name, m in model.named_modules():
        if name in excluded or not _is_plain_layer(m):
            continue
        params = [p for p in m._parameters.values() if p is not None]
        weight = m._parameters.get("weight")
        if weight is None or id(weight) not in trainable:
            continue
        if all(owners[id(p)] == 1 for p in params):
            layers[name] = m
    return layers


def _is_plain_layer(m: nn.Module) -> bool:
    if type(m) is nn.Linear:
        return True
    return (
        type(m) is nn.Conv1d
        and m.groups == 1
        and m.padding_mode == "zeros"
        and not isinstance(m.padding, str)
    )


@contextmanager
def tapped(layers: dict[str, nn.Module]) -> Iterator[dict[str, TappedLayer]]:
    """Record every call of ``layers`` made inside the block by this thread (hooks removed
    on exit). Calls from other threads, e.g. the user's own forward passes on a shared
    model, are neither recorded nor changed."""
    record = {name: TappedLayer(name, m) for name, m in layers.items()}
    counter = itertools.count()
    handles = []
    owner = threading.get_ident()

    def make_hook(entry: TappedLayer):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: object) -> Tensor | None:
            if threading.get_ident() != owner:
                return None
            if not torch.is_grad_enabled() or not isinstance(output, Tensor):
                return None
            x = args[0] if args else kwargs.get("input")
            if not isinstance(x, Tensor):
                return None
            tap = torch.zeros_like(output, requires_grad=True)
            out = output + tap
            entry.calls.append(TappedCall(input=x, tap=tap, node=out.grad_fn, order=next(counter)))
            return out

        return hook

    try:
        for entry in record.values():
            handles.append(entry.module.register_forward_hook(make_hook(entry), with_kwargs=True))
        yield record
    finally:
        for h in handles:
            h.remove()
