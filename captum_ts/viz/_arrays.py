"""Turn tensors or arrays of one series into ``(T, F)`` numpy arrays for plotting."""

from __future__ import annotations

import numpy as np
import torch


def as_time_by_feature(values: object, name: str, channels_last: bool = True) -> np.ndarray:
    """One series as a float ``(T, F)`` array; accepts ``(T,)``, ``(T, F)`` or ``(F, T)``."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(
            f"`{name}` must hold one series, shape (T,), (T, F) or (F, T); got {arr.shape}. "
            "Index the batch first, e.g. `x[0]`."
        )
    return arr if channels_last else arr.T
