"""Small reference classifiers for time series, taking ``(B, T, F)`` inputs."""

from __future__ import annotations

from torch import Tensor, nn


class CNN1dClassifier(nn.Module):
    """Two 1-D convolutions, global pooling over time (``"max"`` or ``"mean"``), a
    linear head.

    Inputs are channel-last ``(B, T, F)``; pass ``channels_last=False`` for ``(B, F, T)``.
    The pooling is a module (``nn.AdaptiveMaxPool1d(1)``/``nn.AdaptiveAvgPool1d(1)`` then
    ``nn.Flatten()``), so methods that work layer by layer (LRP, CAM) see it.

    >>> import torch
    >>> CNN1dClassifier(3, 2)(torch.zeros(4, 50, 3)).shape
    torch.Size([4, 2])
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        channels: int = 16,
        kernel_size: int = 7,
        channels_last: bool = True,
        pooling: str = "max",
    ) -> None:
        super().__init__()
        if pooling not in ("max", "mean"):
            raise ValueError(f"`pooling` must be 'max' or 'mean', got {pooling!r}.")
        self.channels_last = channels_last
        self.pooling = pooling
        pad = kernel_size // 2
        self.features = nn.Sequential(
            nn.Conv1d(n_features, channels, kernel_size, padding=pad),
            nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size, padding=pad),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveMaxPool1d(1) if pooling == "max" else nn.AdaptiveAvgPool1d(1)
        self.flatten = nn.Flatten()
        self.head = nn.Linear(channels, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last:
            x = x.transpose(1, 2)
        return self.head(self.flatten(self.pool(self.features(x))))


class GRUClassifier(nn.Module):
    """A batch-first GRU whose last hidden state (or every step with ``per_step=True``)
    feeds a linear head.

    >>> import torch
    >>> GRUClassifier(3, 2, per_step=True)(torch.zeros(4, 50, 3)).shape
    torch.Size([4, 50, 2])
    """

    def __init__(
        self, n_features: int, n_classes: int, hidden_size: int = 32, per_step: bool = False
    ) -> None:
        super().__init__()
        self.per_step = per_step
        self.rnn = nn.GRU(n_features, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)
        return self.head(out if self.per_step else out[:, -1])
