"""A short, seeded training loop for the reference forecasters (MSE, Adam)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._batching import chunks
from .training import fit


def fit_forecaster(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    epochs: int = 20,
    lr: float = 1e-3,
    batch_size: int = 64,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> nn.Module:
    """Train ``model`` to map ``inputs (N, T, V)`` to ``targets (N, H, V)`` with the
    mean squared error and Adam; return it in ``eval()`` mode.

    Windows are shuffled every epoch with a generator seeded by ``seed``; strided
    window views (``ForecastWindows.inputs``) are gathered one batch at a time
    (see :func:`captum_ts.models.training.fit`).

    >>> import torch
    >>> from captum_ts.models.forecasters import LinearForecaster
    >>> x = torch.randn(64, 8, 1); y = x[:, -2:] * 2
    >>> model = fit_forecaster(LinearForecaster(8, 2), x, y, epochs=30, lr=0.05, batch_size=16)
    >>> forecast_mse(model, x, y) < 0.05 * float(y.square().mean())
    True
    """
    return fit(model, inputs, targets, nn.functional.mse_loss, epochs, lr, batch_size, weight_decay, seed)


@torch.no_grad()
def forecast_mse(model: nn.Module, inputs: Tensor, targets: Tensor, batch_size: int = 512) -> float:
    """Mean squared error of ``model`` over all windows, in batches."""
    total = 0.0
    for start, stop in chunks(len(inputs), batch_size):
        pred = model(inputs[start:stop])
        total += float((pred - targets[start:stop]).square().sum())
    return total / targets.numel()
