"""One short, seeded training loop for the reference models."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .._batching import chunks
from .._validation import check_positive_int


def fit(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    loss: Callable[[Tensor, Tensor], Tensor],
    epochs: int = 20,
    lr: float = 1e-2,
    batch_size: int = 64,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> nn.Module:
    """Train ``model`` on ``loss(model(inputs[batch]), targets[batch])`` with Adam; return it in
    ``eval()`` mode. The batch order of every epoch comes from a generator seeded by ``seed``;
    batches are gathered with ``index_select`` (also for strided window views)."""
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    if len(inputs) != len(targets):
        raise ValueError(f"`inputs` has {len(inputs)} rows but the targets have {len(targets)}.")
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=g)
        for start, stop in chunks(len(inputs), batch_size):
            idx = order[start:stop]
            value = loss(model(inputs.index_select(0, idx)), targets.index_select(0, idx))
            opt.zero_grad()
            value.backward()
            opt.step()
    return model.eval()


def _cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


def fit_classifier(
    model: nn.Module,
    inputs: Tensor,
    labels: Tensor,
    epochs: int = 20,
    lr: float = 1e-2,
    batch_size: int = 64,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> nn.Module:
    """Train ``model`` with cross-entropy and Adam; return it in ``eval()`` mode.

    ``labels`` is ``(N,)`` for one label per series or ``(N, T)`` for models that
    emit logits at every step (``(N, T, C)`` outputs).
    """
    return fit(model, inputs, labels, _cross_entropy, epochs, lr, batch_size, weight_decay, seed)


@torch.no_grad()
def accuracy(model: nn.Module, inputs: Tensor, labels: Tensor) -> float:
    """Fraction of correct arg-max predictions."""
    return float((model(inputs).argmax(-1) == labels).float().mean())
