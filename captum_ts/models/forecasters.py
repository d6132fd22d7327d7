"""Small reference forecasters mapping a look-back window ``(B, T, V)`` to a forecast ``(B, H, V)``."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from torch import Tensor, nn

from .._validation import check_positive_int


class LinearForecaster(nn.Module):
    """One linear map from the ``lookback`` window to the ``horizon``, shared by all
    variates (channel-independent), as the "Linear" baseline of LTSF-Linear.

    >>> import torch
    >>> LinearForecaster(lookback=48, horizon=12)(torch.zeros(4, 48, 3)).shape
    torch.Size([4, 12, 3])
    """

    def __init__(self, lookback: int, horizon: int) -> None:
        super().__init__()
        check_positive_int(lookback, "lookback")
        check_positive_int(horizon, "horizon")
        self.linear = nn.Linear(lookback, horizon)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.transpose(1, 2)).transpose(1, 2)


class NLinearForecaster(LinearForecaster):
    """N-Linear: subtract the window's last value from every step, map linearly,
    add it back (robust to level shifts between training and test data).

    >>> import torch
    >>> model = NLinearForecaster(lookback=48, horizon=12)
    >>> x = torch.zeros(4, 48, 3) + 5.0
    >>> torch.allclose(model(x) - model.linear.bias[:, None], torch.full((4, 12, 3), 5.0))
    True
    """

    def forward(self, x: Tensor) -> Tensor:
        last = x[:, -1:, :]
        return super().forward(x - last) + last


class MLPForecaster(nn.Module):
    """The flattened window through fully connected ReLU layers to ``horizon * n_variates``
    outputs, reshaped to ``(B, H, V)``.

    >>> import torch
    >>> MLPForecaster(lookback=48, horizon=12, n_variates=3, hidden=(32,))(torch.zeros(4, 48, 3)).shape
    torch.Size([4, 12, 3])
    """

    def __init__(
        self,
        lookback: int,
        horizon: int,
        n_variates: int = 1,
        hidden: Sequence[int] = (512, 512),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        for value, name in ((lookback, "lookback"), (horizon, "horizon"), (n_variates, "n_variates")):
            check_positive_int(value, name)
        self.horizon, self.n_variates = horizon, n_variates
        sizes = [lookback * n_variates, *hidden]
        layers: list[nn.Module] = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(sizes[-1], horizon * n_variates)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x.flatten(1))).view(-1, self.horizon, self.n_variates)


class GRUForecaster(nn.Module):
    """A batch-first GRU reads the window; its last hidden state goes through a
    linear head to the whole horizon at once (a direct multi-step forecaster).

    >>> import torch
    >>> GRUForecaster(n_variates=3, horizon=12, hidden_size=8)(torch.zeros(4, 48, 3)).shape
    torch.Size([4, 12, 3])
    """

    def __init__(self, n_variates: int, horizon: int, hidden_size: int = 32, num_layers: int = 1) -> None:
        super().__init__()
        for value, name in ((n_variates, "n_variates"), (horizon, "horizon"), (hidden_size, "hidden_size")):
            check_positive_int(value, name)
        self.horizon, self.n_variates = horizon, n_variates
        self.rnn = nn.GRU(n_variates, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, horizon * n_variates)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1]).view(-1, self.horizon, self.n_variates)
