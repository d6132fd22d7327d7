"""Small seeded models for property tests: classifiers ``(B, C)`` and forecasters ``(B, H, C)``.

Every builder is deterministic in its ``seed`` and leaves the global RNG alone.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..models import CNN1dClassifier, GRUClassifier

MODEL_KINDS = ("linear", "mlp", "cnn", "gru")


class _ChannelsLast(nn.Module):
    """Feed a ``(B, F, T)`` series to a model that expects ``(B, T, F)``."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor) -> Tensor:
        return self.inner(x.transpose(1, 2))


class _Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(len(x), *self.shape)


def _body(kind: str, length: int, n_features: int, n_out: int, channels_last: bool) -> nn.Module:
    if kind == "linear":
        return nn.Sequential(nn.Flatten(), nn.Linear(length * n_features, n_out))
    if kind == "mlp":
        return nn.Sequential(
            nn.Flatten(), nn.Linear(length * n_features, 16), nn.Tanh(), nn.Linear(16, n_out)
        )
    if kind == "cnn":
        return CNN1dClassifier(n_features, n_out, channels=4, kernel_size=3, channels_last=channels_last)
    if kind == "gru":
        gru = GRUClassifier(n_features, n_out, hidden_size=8)
        return gru if channels_last else _ChannelsLast(gru)
    raise ValueError(f"`kind` must be one of {MODEL_KINDS}, got {kind!r}.")


def make_model(
    kind: str,
    length: int,
    n_features: int,
    n_classes: int = 2,
    horizon: int | None = None,
    channels_last: bool = True,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> nn.Module:
    """A small model in ``eval()`` mode: a classifier ``(B, n_classes)``, or with ``horizon``
    a forecaster ``(B, horizon, n_classes)``.

    >>> make_model("gru", length=10, n_features=3, horizon=4)(torch.zeros(2, 10, 3)).shape
    torch.Size([2, 4, 2])
    """
    n_out = n_classes * (horizon or 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        body = _body(kind, length, n_features, n_out, channels_last)
    model = body if horizon is None else nn.Sequential(body, _Reshape(horizon, n_classes))
    return model.to(dtype).eval()


class TwoInputModel(nn.Module):
    """``f(x1, x2, scale)``: a series ``(B, T, F)``, static covariates ``(B, S)`` and a per-example
    output scale passed through ``additional_forward_args``."""

    def __init__(
        self, length: int, n_features: int, n_static: int, n_classes: int = 2, seed: int = 0
    ) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.series = nn.Linear(length * n_features, n_classes)
            self.static = nn.Linear(n_static, n_classes)

    def forward(self, x1: Tensor, x2: Tensor, scale: Tensor) -> Tensor:
        return torch.tanh(self.series(x1.flatten(1)) + self.static(x2) ** 2) * scale[:, None]
