"""Turn what the methods return (tensors of any dtype, arrays, lists) into float numpy
arrays for plotting, or refuse what cannot be drawn with an error naming the argument.

Every array is a fresh float64 copy: a figure never shares memory with, nor changes,
the caller's data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def to_array(values: object, name: str) -> np.ndarray:
    """``values`` as a new finite float64 array: tensors of any dtype (float16, bfloat16,
    int, bool), device or layout, requiring grad or not; arrays; nested lists."""
    if isinstance(values, torch.Tensor):
        tensor = values.detach()
        if tensor.layout != torch.strided:
            tensor = tensor.to_dense()
        if tensor.is_complex():
            raise TypeError(f"`{name}` is complex ({tensor.dtype}); plot its `.real`, `.imag` or `.abs()`.")
        values = tensor.to(device="cpu", dtype=torch.float64).numpy()
    try:
        raw = np.asarray(values)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"`{name}` is not a regular array of numbers ({err}).") from None
    if raw.dtype.kind == "c":
        raise TypeError(f"`{name}` is complex ({raw.dtype}); plot its `.real`, `.imag` or `abs()`.")
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must hold numbers, got {type(values).__name__} of dtype {raw.dtype}.")
    arr = raw.astype(np.float64)  # always a copy
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        where = tuple(int(i) for i in bad[0])
        raise ValueError(
            f"`{name}` holds {arr[where]} at index {where}; plots need finite values "
            "(NaN or Inf cannot be drawn)."
        )
    return arr


def as_time_by_feature(values: object, name: str, channels_last: bool = True) -> np.ndarray:
    """One series as a float ``(T, F)`` array; accepts ``(T,)``, ``(T, F)`` or ``(F, T)``."""
    arr = to_array(values, name)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(
            f"`{name}` must hold one series, shape (T,), (T, F) or (F, T); got {arr.shape}. "
            "Index the batch first, e.g. `x[0]`."
        )
    arr = arr if channels_last else arr.T
    if 0 in arr.shape:
        raise ValueError(
            f"`{name}` has {arr.shape[0]} time steps and {arr.shape[1]} features; nothing to draw."
        )
    return arr


def as_batch(values: object, name: str, channels_last: bool = True) -> np.ndarray:
    """A batch of series as a float ``(N, T, F)`` array; accepts ``(N, T)``, ``(N, T, F)``
    or ``(N, F, T)`` with ``channels_last=False``."""
    arr = to_array(values, name)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    elif arr.ndim == 3:
        arr = arr if channels_last else arr.transpose(0, 2, 1)
    else:
        raise ValueError(
            f"`{name}` must be a batch of series, shape (N, T) or (N, T, F); got {arr.shape}. "
            "For one series add the batch axis, e.g. `x[None]`."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"`{name}` is an empty batch (shape {arr.shape}); nothing to draw.")
    if 0 in arr.shape:
        raise ValueError(f"`{name}` has shape {arr.shape} (N, T, F): a zero-length axis; nothing to draw.")
    return arr


def check_names(names: Sequence[str] | None, n: int, name: str, what: str) -> list[str] | None:
    """``names`` (one per ``what``) as a list, or None; a wrong count is an error."""
    if names is None:
        return None
    if isinstance(names, str) or len(names) != n:
        count = "a string" if isinstance(names, str) else f"{len(names)} entries"
        raise ValueError(f"`{name}` has {count} but there are {n} {what}.")
    return [str(v) for v in names]


def check_index(value: object, n: int, name: str, what: str) -> int:
    """``value`` must be an integer in ``0..n-1``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer, got {value!r}.")
    if not 0 <= value < n:
        raise ValueError(f"`{name}`={value} is out of range for {n} {what}.")
    return int(value)
