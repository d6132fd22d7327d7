"""Forecasting windows over a long series, and real series shipped inside ``aeon``.

``ForecastWindows`` slides a look-back window and the horizon that follows it
over a ``(L, V)`` series. ``inputs`` and ``targets`` are strided *views* of the
series (no copy, whatever the number of windows); indexing or a ``DataLoader``
gathers one batch at a time.

``split_series`` cuts a series chronologically into train/val/test the way the
long-horizon forecasting benchmarks do (each later split starts ``lookback``
steps early so its first window's input overlaps the previous split, and the
series is standardised with the training part's statistics).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .._validation import check_nonnegative_float, check_positive_int
from ._random import dataset_generator

SPLITS = ("train", "val", "test")

#: real series shipped inside aeon's wheel (nothing is downloaded), with their aeon loader
SHIPPED_SERIES = {
    # arterial blood pressure of a pig (UCR anomaly archive 135, InternalBleeding16):
    # 7501 steps, cycles of about 183 steps
    "internal_bleeding": "load_kdd_tsad_135",
    # monthly international airline passengers 1949-1960: 144 steps
    "airline": "load_airline",
    # half-hourly solar generation estimates for Great Britain (Sheffield Solar PV_Live): 289 steps
    "solar": "load_solar",
    # 9 accelerometer channels of the Daphnet freezing-of-gait recording S06R02E0: 7040 steps
    "daphnet": "load_daphnet_s06r02e0",
}


class ForecastWindows(Dataset):
    """Sliding ``(lookback, horizon)`` windows over a ``(L, V)`` series.

    Args:
        series (Tensor): ``(L, V)`` (or ``(L,)``) values, time first.
        lookback (int): input length ``T``.
        horizon (int): forecast length ``H``.
        target_columns (sequence of int, optional): the variates to forecast
            (default: all); inputs always hold every variate.
        stride (int): steps between consecutive windows.
        columns (sequence of str): variate names.
        mean, std (Tensor, optional): the standardisation applied to ``series``
            (per variate), for ``inverse``.
        timestamps (array, optional): one time stamp per row of ``series``.

    >>> import torch
    >>> w = ForecastWindows(torch.arange(10.0), lookback=4, horizon=2)
    >>> len(w), w.inputs.shape, w.targets.shape
    (5, torch.Size([5, 4, 1]), torch.Size([5, 2, 1]))
    >>> x, y = w[1]
    >>> x[:, 0].tolist(), y[:, 0].tolist()
    ([1.0, 2.0, 3.0, 4.0], [5.0, 6.0])
    """

    def __init__(
        self,
        series: Tensor,
        lookback: int,
        horizon: int,
        target_columns: Sequence[int] | None = None,
        stride: int = 1,
        columns: Sequence[str] = (),
        mean: Tensor | None = None,
        std: Tensor | None = None,
        timestamps: np.ndarray | None = None,
    ) -> None:
        for value, name in ((lookback, "lookback"), (horizon, "horizon"), (stride, "stride")):
            check_positive_int(value, name)
        series = as_series(series)
        length, n_var = series.shape
        if length < lookback + horizon:
            raise ValueError(
                f"the series has {length} steps, fewer than lookback + horizon = {lookback + horizon}."
            )
        self.series = series.contiguous()
        self.lookback, self.horizon, self.stride = lookback, horizon, stride
        self.target_columns = _target_columns(target_columns, n_var)
        self._target_series = (
            self.series
            if self.target_columns is None
            else self.series[:, list(self.target_columns)].contiguous()
        )
        self.columns = tuple(columns)
        if self.columns and len(self.columns) != n_var:
            raise ValueError(f"`columns` has {len(self.columns)} names but the series has {n_var} variates.")
        if (mean is None) != (std is None):
            raise ValueError("pass both `mean` and `std` (the standardisation applied) or neither.")
        for value, name in ((mean, "mean"), (std, "std")):
            if value is not None and tuple(value.shape) != (n_var,):
                raise ValueError(
                    f"`{name}` has shape {tuple(value.shape)}; expected ({n_var},), one per variate."
                )
        self.mean, self.std = mean, std
        _check_timestamps(timestamps, length)
        self.timestamps = timestamps
        self._n = (length - lookback - horizon) // stride + 1

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.inputs[index], self.targets[index]

    @property
    def inputs(self) -> Tensor:
        """All input windows ``(N, T, V)``, a strided view of the series."""
        return self.series.unfold(0, self.lookback, self.stride)[: self._n].transpose(1, 2)

    @property
    def targets(self) -> Tensor:
        """All target windows ``(N, H, V_target)``, a strided view of the series."""
        return (
            self._target_series[self.lookback :]
            .unfold(0, self.horizon, self.stride)[: self._n]
            .transpose(1, 2)
        )

    def inverse(self, values: Tensor, targets: bool = True) -> Tensor:
        """Undo the standardisation of forecast (``targets=True``) or input values
        (last axis: the variates of the targets, or of the inputs)."""
        if self.mean is None or self.std is None:
            return values
        mean, std = self.mean, self.std
        if targets and self.target_columns is not None:
            mean, std = mean[list(self.target_columns)], std[list(self.target_columns)]
        if values.dim() == 0 or values.shape[-1] != mean.shape[0]:
            raise ValueError(
                f"`values` has shape {tuple(values.shape)}; its last axis must hold the "
                f"{mean.shape[0]} {'target' if targets else 'input'} variates."
            )
        return values * std.to(values) + mean.to(values)


def as_series(series: object, name: str = "series") -> Tensor:
    """``series`` as a finite floating point ``(L, V)`` tensor (``(L,)`` gets one variate)."""
    series = torch.as_tensor(series)
    if series.dim() == 1:
        series = series[:, None]
    if series.dim() != 2:
        raise ValueError(f"`{name}` must be a (L, V) or (L,) tensor, time first; got {tuple(series.shape)}.")
    if not series.is_floating_point():
        raise TypeError(f"`{name}` has dtype {series.dtype}; convert it with `.float()`.")
    if series.shape[1] == 0:
        raise ValueError(f"`{name}` has shape {tuple(series.shape)}: no variates.")
    bad = ~torch.isfinite(series)
    if bool(bad.any()):
        row, col = (int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"`{name}` holds {float(series[row, col])} at row {row}, variate {col}; "
            "fill or cut the non-finite values first."
        )
    return series


def _target_columns(columns: Sequence[int] | None, n_var: int) -> tuple[int, ...] | None:
    if columns is None:
        return None
    if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence):
        raise TypeError(f"`target_columns` must be a sequence of column indices, got {columns!r}.")
    if not columns or any(isinstance(c, bool) or not isinstance(c, Integral) for c in columns):
        raise TypeError(f"`target_columns` must be a non-empty sequence of integers, got {columns!r}.")
    if any(not 0 <= c < n_var for c in columns):
        raise ValueError(f"`target_columns` {list(columns)} must lie in 0..{n_var - 1} (variates).")
    return tuple(int(c) for c in columns)


def _check_timestamps(timestamps: np.ndarray | None, length: int) -> None:
    if timestamps is not None and len(timestamps) != length:
        raise ValueError(f"`timestamps` has {len(timestamps)} entries but the series has {length} rows.")


def seasonal_series(
    length: int = 3000,
    periods: Sequence[float] = (24.0, 168.0),
    n_variates: int = 1,
    noise: float = 0.3,
    seed: int | torch.Generator = 0,
) -> Tensor:
    """A generated ``(length, n_variates)`` float32 series shaped like hourly load data:
    one sinusoid per period (random phases, amplitudes 1, 1/2, 1/3, ...), a slow
    random-walk level and AR(1) noise (coefficient 0.8) of standard deviation ``noise``.
    ``seed`` is an integer or a CPU ``torch.Generator``; the global RNG is not used.

    >>> import torch
    >>> s = seasonal_series(500, n_variates=2)
    >>> s.shape, s.dtype
    (torch.Size([500, 2]), torch.float32)
    """
    check_positive_int(length, "length")
    check_positive_int(n_variates, "n_variates")
    check_nonnegative_float(noise, "noise")
    if any(isinstance(p, bool) or not isinstance(p, Real) or not 0 < p < math.inf for p in periods):
        raise ValueError(f"`periods` must be finite positive numbers, got {list(periods)}.")
    g = dataset_generator(seed)
    t = torch.arange(length, dtype=torch.float64)[:, None]
    values = torch.zeros(length, n_variates, dtype=torch.float64)
    for i, period in enumerate(periods):
        phase = 2 * torch.pi * torch.rand(1, n_variates, generator=g, dtype=torch.float64)
        values += torch.sin(2 * torch.pi * t / period + phase) / (i + 1)
    values += 0.02 * torch.randn(length, n_variates, generator=g, dtype=torch.float64).cumsum(0)
    shocks = noise * 0.6 * torch.randn(length, n_variates, generator=g, dtype=torch.float64)
    decay = 0.8 ** torch.arange(64, dtype=torch.float64)  # AR(1) as a truncated moving average
    ar = torch.nn.functional.conv1d(
        torch.nn.functional.pad(shocks.T[:, None], (63, 0)), decay.flip(0)[None, None]
    )[:, 0].T
    return (values + ar).float()


def load_series(name: str) -> Tensor:
    """A real series shipped inside ``aeon`` as float32 ``(L, V)``: one of
    ``SHIPPED_SERIES`` (``"internal_bleeding"``, ``"airline"``, ``"solar"``, ``"daphnet"``).

    >>> sorted(SHIPPED_SERIES)
    ['airline', 'daphnet', 'internal_bleeding', 'solar']
    """
    if not isinstance(name, str) or name not in SHIPPED_SERIES:
        raise ValueError(f"`name` must be one of {sorted(SHIPPED_SERIES)}, got {name!r}.")
    try:
        import aeon.datasets as aeon_datasets
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("load_series needs aeon: pip install 'captum-ts[tutorials]'") from err
    loaded = getattr(aeon_datasets, SHIPPED_SERIES[name])()
    values = loaded[0] if isinstance(loaded, tuple) else loaded
    values = np.asarray(values, dtype=np.float32)
    series = torch.from_numpy(np.ascontiguousarray(values.reshape(values.shape[0], -1)))
    return as_series(series, f"load_series({name!r})")


def split_borders(length: int, fractions: Sequence[float] = (0.7, 0.1, 0.2)) -> tuple[int, int, int]:
    """End rows of the train, val and test parts for chronological ``fractions``.

    >>> split_borders(1000)
    (700, 800, 1000)
    """
    if (
        isinstance(fractions, (str, bytes))
        or not isinstance(fractions, Sequence)
        or len(fractions) != 3
        or any(isinstance(f, bool) or not isinstance(f, Real) or not 0 <= f <= 1 for f in fractions)
        or not 0 < sum(fractions) <= 1 + 1e-9
    ):
        raise ValueError(
            f"`fractions` must be three shares in [0, 1] summing to at most 1, got {fractions!r}."
        )
    train = int(length * fractions[0])
    val = train + int(length * fractions[1])
    test = min(length, val + round(length * fractions[2]))
    return train, val, test


def check_borders(borders: object) -> None:
    """``borders`` must be three integers ``(train_end, val_end, test_end)``."""
    if (
        isinstance(borders, (str, bytes))
        or not isinstance(borders, Sequence)
        or len(borders) != 3
        or any(isinstance(b, bool) or not isinstance(b, Integral) for b in borders)
    ):
        raise TypeError(
            f"`borders` must be three integer row counts (train_end, val_end, test_end), got {borders!r}."
        )


def split_series(
    series: Tensor,
    split: str,
    lookback: int,
    horizon: int,
    borders: tuple[int, int, int] | None = None,
    scale: bool = True,
    target_columns: Sequence[int] | None = None,
    stride: int = 1,
    columns: Sequence[str] = (),
    timestamps: np.ndarray | None = None,
) -> ForecastWindows:
    """The windows of one chronological split of ``series (L, V)``.

    ``borders`` are the end rows of train, val and test (default 70/10/20 %). The
    val and test parts start ``lookback`` rows before their border, as in the
    long-horizon benchmarks. With ``scale`` every variate is standardised by the
    mean and standard deviation of the training rows.

    >>> import torch
    >>> s = torch.arange(100.0)
    >>> test = split_series(s, "test", lookback=5, horizon=3, scale=False)
    >>> test.inputs[0, 0, 0].item(), len(test)
    (75.0, 18)
    """
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}.")
    for value, name in ((lookback, "lookback"), (horizon, "horizon")):
        check_positive_int(value, name)
    series = as_series(series)
    _check_timestamps(timestamps, series.shape[0])
    if borders is None:
        borders, where = split_borders(series.shape[0]), "the default 70/10/20 % borders"
    else:
        where = "`borders`"
        check_borders(borders)
    train_end, val_end, test_end = borders
    if not 0 < train_end <= val_end <= test_end <= series.shape[0]:
        raise ValueError(
            f"{where} {tuple(borders)} must be increasing row counts within the series' "
            f"{series.shape[0]} rows, with a non-empty training part."
        )
    starts = {"train": 0, "val": max(0, train_end - lookback), "test": max(0, val_end - lookback)}
    ends = {"train": train_end, "val": val_end, "test": test_end}
    mean = std = None
    if scale:
        train = series[:train_end].double()
        mean, std = train.mean(0), train.std(0, unbiased=False)
        std = torch.where(std > 0, std, torch.ones_like(std))
        series = ((series.double() - mean) / std).to(series.dtype)
        mean, std = mean.to(series.dtype), std.to(series.dtype)
        if not bool(torch.isfinite(series).all()):
            raise ValueError(
                f"standardised with the training rows' statistics the series overflows {series.dtype}; "
                "pass the series as float32 or float64."
            )
    rows = slice(starts[split], ends[split])
    if rows.stop - rows.start < lookback + horizon:
        raise ValueError(
            f"the {split!r} split has {rows.stop - rows.start} rows (borders {tuple(borders)}), "
            f"fewer than lookback + horizon = {lookback + horizon}; shorten the windows or move the borders."
        )
    stamps = None if timestamps is None else timestamps[rows]
    return ForecastWindows(
        series[rows], lookback, horizon, target_columns, stride, columns, mean, std, stamps
    )
