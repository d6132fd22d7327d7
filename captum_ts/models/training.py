"""A short, seeded training loop for the reference models."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._batching import chunks


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
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=g)
        for start, stop in chunks(len(inputs), batch_size):
            idx = order[start:stop]
            logits = model(inputs[idx])
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[idx].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, inputs: Tensor, labels: Tensor) -> float:
    """Fraction of correct arg-max predictions."""
    return float((model(inputs).argmax(-1) == labels).float().mean())
