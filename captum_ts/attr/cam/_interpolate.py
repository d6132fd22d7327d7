"""Stretch a layer-time map to an input's length, along the input's time axis.

Linear interpolation with ``align_corners=False`` puts layer step ``t`` at input
position ``(t + 1/2) T / T' - 1/2``: the centre of the block of ``s = T / T'``
input steps it summarises after a stride or pooling by ``s`` with 'same' padding.
That alignment is exact when ``T`` is a multiple of ``s``; 'valid' convolutions
shift their outputs by up to ``(kernel - 1) / 2`` steps at the ends.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

MODES = ("linear", "nearest", "nearest-exact", "area")


def check_input_time_dim(value: object, x: Tensor, name: str = "input_time_dim") -> int:
    """The input's time axis as a positive int, or a clear error; ``None`` is accepted
    only for rank-2 ``(B, T)`` inputs, whose time axis is 1."""
    if value is None:
        if x.dim() == 2:
            return 1
        raise ValueError(
            f"`{name}` is needed: the input has shape {tuple(x.shape)}; pass `{name}=1` for (B, T, F) "
            f"or `{name}=2` (or -1) for (B, F, T)."
        )
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an int, got {value!r}.")
    if not -x.dim() <= value < x.dim() or value % x.dim() == 0:
        raise ValueError(
            f"`{name}`={value} is not a time axis of the input of shape {tuple(x.shape)} "
            "(axis 0 is the batch)."
        )
    return value % x.dim()


def check_mode(mode: object) -> str:
    """``interpolate_mode`` must be one of :data:`MODES`."""
    if mode not in MODES:
        raise ValueError(f"`interpolate_mode` must be one of {MODES}, got {mode!r}.")
    return str(mode)


def interpolate_time(maps: Tensor, length: int, mode: str) -> Tensor:
    """``(B, K, T')`` maps resampled to ``(B, K, length)`` along the last axis."""
    if maps.shape[-1] == length:
        return maps
    if mode == "linear":
        return F.interpolate(maps, size=length, mode="linear", align_corners=False)
    return F.interpolate(maps, size=length, mode=mode)


def like_input(m: Tensor, x: Tensor, time_dim: int) -> Tensor:
    """A ``(B, 1, T)`` map shaped to broadcast against ``x`` whose time axis is
    ``time_dim``: size 1 on every axis but the batch and time."""
    shape = [1] * x.dim()
    shape[0], shape[time_dim] = m.shape[0], m.shape[-1]
    return m.reshape(shape).contiguous()


def summed_time_dim(input_time_dim: object, attr_dim_summation: bool, x: Tensor) -> int | None:
    """``input_time_dim`` checked against ``x``; ``None`` keeps the layer's time axis. Only a
    channel-summed map can be stretched to the input."""
    if input_time_dim is None:
        return None
    time_dim = check_input_time_dim(input_time_dim, x)
    if not attr_dim_summation:
        raise ValueError(
            "`input_time_dim` interpolates the channel-summed map; it needs `attr_dim_summation=True`."
        )
    return time_dim


def on_input_time(m: Tensor, x: Tensor, time_dim: int, mode: str) -> Tensor:
    """A ``(B, 1, T')`` map stretched to ``x``'s length along ``time_dim``, shaped to broadcast
    against ``x``."""
    return like_input(interpolate_time(m, x.shape[time_dim], mode), x, time_dim)
