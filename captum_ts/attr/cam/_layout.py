"""Where the time axis of a layer's activation lies, never guessed.

The CAM family works on one activation ``A`` of shape ``(B, K, T')`` (channels
``k``, layer time steps ``t``). A layer's tensor is ``(B, K, T')``
(``layout="channels_first"``, ``time_dim=2``), ``(B, T', K)``
(``layout="channels_last"``, ``time_dim=1``) or, with ``time_dim=1`` only,
``(B, T')`` (one channel). The layout is read from the module when its type fixes
it (``Conv1d``, 1-d pooling and normalisation: channels first; batch-first
``RNN``/``GRU``/``LSTM`` and transformer layers: channels last); every other
layer must be told.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

LAYOUTS = {"channels_first": 2, "channels_last": 1}

_CHANNELS_FIRST = (
    nn.Conv1d,
    nn.ConvTranspose1d,
    nn.MaxPool1d,
    nn.AvgPool1d,
    nn.LPPool1d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveMaxPool1d,
    nn.BatchNorm1d,
    nn.InstanceNorm1d,
)
_SEQUENCE_FIRST = (nn.RNNBase, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


@dataclass(frozen=True)
class TimeLayout:
    """The time axis (1 or 2) and rank (2 or 3) of a batch-first layer tensor."""

    time_dim: int
    rank: int

    def to_bkt(self, t: Tensor) -> Tensor:
        """``(B, K, T')`` view of a layer tensor."""
        if self.rank == 2:
            return t.unsqueeze(1)
        return t if self.time_dim == 2 else t.transpose(1, 2)

    def from_bkt(self, m: Tensor) -> Tensor:
        """A ``(B, K or 1, T')`` map back in the layer's own layout, contiguous."""
        if self.rank == 2:
            return m.squeeze(1).contiguous()
        return (m if self.time_dim == 2 else m.transpose(1, 2)).contiguous()


def module_layout(layer: nn.Module) -> str | None:
    """The layout a module's type fixes for its (batch-first) tensors, or None."""
    if isinstance(layer, _CHANNELS_FIRST):
        return "channels_first"
    if isinstance(layer, _SEQUENCE_FIRST):
        attention = getattr(layer, "self_attn", layer)  # transformer layers keep the flag there
        if not getattr(attention, "batch_first", False):
            raise ValueError(
                f"`layer` is a {type(layer).__name__} with batch_first=False: its tensors are "
                "(T, B, H), but the batch must come first; build it with batch_first=True."
            )
        return "channels_last"
    return None


def check_layout_args(layer: nn.Module, time_dim: int | None, layout: str | None) -> int | str | None:
    """Validate the ``time_dim``/``layout`` pair against ``layer``; return the requested
    ``time_dim``, else the layout name (given or fixed by the module), else None."""
    if time_dim is not None and layout is not None:
        raise ValueError("pass either `time_dim` or `layout`, not both.")
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"`layout` must be 'channels_first' or 'channels_last', got {layout!r}.")
    if time_dim is not None and (isinstance(time_dim, bool) or not isinstance(time_dim, int)):
        raise TypeError(f"`time_dim` must be an int, got {time_dim!r}.")
    if time_dim is not None and time_dim not in (1, 2, -1, -2):
        raise ValueError(
            f"`time_dim`={time_dim}: the time axis of a (B, K, T') or (B, T', K) layer tensor is 1 or 2 "
            "(or -1/-2); the batch axis 0 cannot be time."
        )
    requested = LAYOUTS[layout] if layout is not None else time_dim
    known = module_layout(layer)
    if known is not None and requested is not None and requested % 3 != LAYOUTS[known]:
        raise ValueError(
            f"`layer` is a {type(layer).__name__}, whose tensors are {known} "
            f"{'(B, K, T)' if known == 'channels_first' else '(B, T, K)'}; the requested time axis "
            f"{requested} contradicts it. Leave `time_dim` and `layout` unset for this layer."
        )
    if time_dim is not None:
        return time_dim
    return layout if layout is not None else known


def resolve_layout(axis: int | str | None, t: Tensor, batch: int, where: str) -> TimeLayout:
    """The ``TimeLayout`` of tensor ``t`` (called ``where`` in messages), or a clear error."""
    shape = tuple(t.shape)
    if t.dim() == 2:
        if isinstance(axis, str) or axis not in (1, -1):
            raise ValueError(
                f"{where} has shape {shape}: a rank-2 tensor is either (B, K) with no time axis (take a "
                "layer before the pooling) or (B, T') with one channel; only `time_dim=1` says the latter."
            )
        layout = TimeLayout(1, 2)
    elif t.dim() == 3:
        if axis is None:
            raise ValueError(
                f"{where} has shape {shape}; cannot tell which axis is time. Pass "
                "`layout='channels_first'` for (B, K, T'), `layout='channels_last'` for (B, T', K), "
                "or `time_dim`."
            )
        layout = TimeLayout(LAYOUTS[axis] if isinstance(axis, str) else axis % 3, 3)
    else:
        raise ValueError(
            f"{where} has shape {shape}; the CAM methods need (B, K, T'), (B, T', K) or (B, T') layer "
            "tensors. Choose another `layer`, or wrap this one so it returns such a tensor."
        )
    if shape[0] != batch:
        raise ValueError(
            f"{where} has {shape[0]} rows but the batch has {batch} examples: the layer must see the "
            "batch on axis 0 (one row per example); choose another `layer`."
        )
    return layout
