"""Further classifier families for comparing attributions across architectures, taking
``(B, T, F)`` inputs: a fully convolutional net and a small Transformer encoder.

The CNN with global max pooling is :class:`~captum_ts.models.CNN1dClassifier`, the
recurrent one :class:`~captum_ts.models.GRUClassifier`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._validation import check_positive_int


class FCNClassifier(nn.Module):
    """The fully convolutional network of Wang, Yan & Oates (IJCNN 2017): blocks of
    ``Conv1d -> BatchNorm1d -> ReLU`` ("same" zero padding), global average pooling over time and
    a linear head.

    The paper uses ``channels=(128, 256, 128)`` with kernels ``(8, 5, 3)``; the default widths
    here are a quarter of that so the net trains in seconds on a CPU. Inputs are channel-last
    ``(B, T, F)``; pass ``channels_last=False`` for ``(B, F, T)``.

    >>> FCNClassifier(3, 2)(torch.zeros(4, 50, 3)).shape
    torch.Size([4, 2])
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        channels: Sequence[int] = (32, 64, 32),
        kernel_sizes: Sequence[int] = (8, 5, 3),
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int(n_features, "n_features")
        check_positive_int(n_classes, "n_classes")
        if len(channels) == 0 or len(channels) != len(kernel_sizes):
            raise ValueError(
                f"`channels` ({len(channels)}) and `kernel_sizes` ({len(kernel_sizes)}) must give one "
                "width and one kernel per block, at least one block."
            )
        blocks: list[nn.Module] = []
        width = n_features
        for i, (out, kernel) in enumerate(zip(channels, kernel_sizes)):
            check_positive_int(out, f"channels[{i}]")
            check_positive_int(kernel, f"kernel_sizes[{i}]")
            blocks += [
                nn.ConstantPad1d(((kernel - 1) // 2, kernel // 2), 0.0),  # "same", also for even kernels
                nn.Conv1d(width, out, kernel),
                nn.BatchNorm1d(out),
                nn.ReLU(),
            ]
            width = out
        self.channels_last = channels_last
        self.features = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten())  # modules: LRP and CAM see them
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last:
            x = x.transpose(1, 2)
        return self.head(self.pool(self.features(x)))


class TransformerClassifier(nn.Module):
    """A small Transformer encoder over time: a linear embedding of every step plus a learned
    positional embedding, ``n_layers`` encoder layers (pre-norm), mean pooling over time and a
    linear head. Series may be at most ``max_len`` steps long.

    >>> TransformerClassifier(3, 2, max_len=50)(torch.zeros(4, 50, 3)).shape
    torch.Size([4, 2])
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        d_model: int = 32,
        n_heads: int = 4,
        n_layers: int = 2,
        dim_feedforward: int = 64,
        dropout: float = 0.1,
        max_len: int = 512,
    ) -> None:
        super().__init__()
        for value, name in (
            (n_features, "n_features"),
            (n_classes, "n_classes"),
            (d_model, "d_model"),
            (n_heads, "n_heads"),
            (n_layers, "n_layers"),
            (dim_feedforward, "dim_feedforward"),
            (max_len, "max_len"),
        ):
            check_positive_int(value, name)
        if d_model % n_heads:
            raise ValueError(f"`d_model` ({d_model}) must be a multiple of `n_heads` ({n_heads}).")
        self.max_len = max_len
        self.embed = nn.Linear(n_features, d_model)
        self.position = nn.Parameter(0.02 * torch.randn(max_len, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, dim_feedforward, dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        steps = x.shape[1]
        if steps > self.max_len:
            raise ValueError(
                f"the series have {steps} steps but this model was built with `max_len={self.max_len}`; "
                "build it with a larger `max_len`."
            )
        h = self.encoder(self.embed(x) + self.position[:steps])
        return self.head(self.norm(h.mean(1)))
