"""Reader for the public ETT (Electricity Transformer Temperature) CSV files.

The ETT benchmark (Zhou et al., Informer, AAAI 2021) ships four CSV files,
``ETTh1.csv``, ``ETTh2.csv`` (hourly) and ``ETTm1.csv``, ``ETTm2.csv`` (every 15
minutes), each with a ``date`` column and seven variates: six load features and
the oil temperature ``OT``. Nothing is downloaded: pass the path of a copy you
have. The standard protocol, used here by default, takes 12 months for training,
the next 4 for validation and the next 4 for testing (months of 30 days),
standardises with the training statistics and slides windows with stride 1.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from .series import ForecastWindows, check_borders, split_series

#: the variates of every ETT file, in file order
ETT_COLUMNS = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")
FEATURES = ("M", "S", "MS")


def ett_borders(rows_per_hour: int) -> tuple[int, int, int]:
    """End rows of the standard train (12 months), val (4) and test (4) parts.

    >>> ett_borders(1), ett_borders(4)
    ((8640, 11520, 14400), (34560, 46080, 57600))
    """
    month = 30 * 24 * rows_per_hour
    return 12 * month, 16 * month, 20 * month


def read_ett_csv(path: str | Path) -> tuple[np.ndarray, tuple[str, ...], torch.Tensor]:
    """The time stamps (``datetime64[s]``), the variate names and the values
    ``(L, V)`` (float32) of an ETT-style CSV file (first column: date).

    Every row must hold a date and one finite float32 number per variate, the dates
    strictly increasing and evenly spaced; otherwise a ``ValueError`` names the file,
    the line (1 is the header) and, for a bad cell, the column. Blank lines are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; the ETT files (e.g. ETTm2.csv) are not shipped, "
            "pass the path of your copy."
        )
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        rows, lines = [], []
        for row in reader:
            if row:
                rows.append(row)
                lines.append(reader.line_num)
    if len(header) < 2 or len(rows) < 2:
        raise ValueError(
            f"{path} is not an ETT-style CSV: a header `date,<variates...>` and at least two "
            "data rows expected."
        )
    columns = tuple(header[1:])
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ValueError(f"{path}: the header names the column(s) {repeated} more than once.")
    widths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    short = np.flatnonzero(widths != len(header))
    if short.size:
        i = int(short[0])
        raise ValueError(
            f"{path}, line {lines[i]}: {widths[i]} fields, but the header has {len(header)}; "
            "the row is damaged or truncated."
        )
    values = _numbers(path, rows, lines, header)
    stamps = _dates(path, rows, lines)
    return stamps, columns, torch.from_numpy(values)


def _numbers(path: Path, rows: list[list[str]], lines: list[int], header: list[str]) -> np.ndarray:
    """The cells after the date as float32 ``(L, V)``; every one a finite float32 number."""
    cells = [r[1:] for r in rows]
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        for row, line in zip(cells, lines):  # only on failure: find the cell to name
            for cell, name in zip(row, header[1:]):
                try:
                    np.float64(cell)
                except ValueError:
                    where = f"{path}, line {line}, column {name!r}"
                    raise ValueError(f"{where}: {cell!r} is not a number.") from None
        raise
    with np.errstate(over="ignore"):
        values = values.astype(np.float32)
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        i, j = (int(k) for k in bad[0])
        raise ValueError(
            f"{path}, line {lines[i]}, column {header[j + 1]!r}: {rows[i][j + 1]!r} is not a finite "
            "float32 number (NaN, Inf or beyond ±3.4e38); repair the row."
        )
    return values


def _dates(path: Path, rows: list[list[str]], lines: list[int]) -> np.ndarray:
    """The first column as ``datetime64[s]``: valid dates, strictly increasing, evenly spaced."""
    texts = [r[0] for r in rows]
    try:
        stamps = np.array(texts, dtype="datetime64[s]")
        undated = np.flatnonzero(np.isnat(stamps))
    except ValueError:  # only on failure: find the row to name
        undated = np.array([i for i, t in enumerate(texts) if not _is_date(t)])
    if undated.size:
        i = int(undated[0])
        raise ValueError(
            f"{path}, line {lines[i]}: {texts[i]!r} is not a date (expected e.g. 2016-07-01 00:00:00)."
        )
    steps = np.diff(stamps).astype(np.int64)
    back = np.flatnonzero(steps <= 0)
    if back.size:
        i = int(back[0]) + 1
        what = "repeats" if steps[i - 1] == 0 else "is earlier than"
        raise ValueError(
            f"{path}, line {lines[i]}: the date {texts[i]} {what} the one on line {lines[i - 1]} "
            f"({texts[i - 1]}); rows must be in strictly increasing time order."
        )
    uneven = np.flatnonzero(steps != steps[0])
    if uneven.size:
        i = int(uneven[0]) + 1
        raise ValueError(
            f"{path}, line {lines[i]}: {texts[i]} is {int(steps[i - 1])} s after the previous row, "
            f"but the rows before are {int(steps[0])} s apart; rows must be evenly spaced "
            "(a missing or extra row shifts every window after it)."
        )
    return stamps


def _is_date(text: str) -> bool:
    try:
        return not np.isnat(np.datetime64(text, "s"))
    except ValueError:
        return False


def load_ett(
    path: str | Path,
    split: str = "train",
    lookback: int = 336,
    horizon: int = 96,
    features: str = "M",
    target: str = "OT",
    scale: bool = True,
    borders: tuple[int, int, int] | None = None,
    stride: int = 1,
) -> ForecastWindows:
    """Windows of one split of an ETT CSV file (``ETTh1``, ``ETTh2``, ``ETTm1``, ``ETTm2``).

    Args:
        path: the CSV file.
        split: ``"train"``, ``"val"`` or ``"test"``.
        lookback, horizon: window lengths (the paper: 336 and 96/192/336/720).
        features: ``"M"`` every variate in and out, ``"S"`` the ``target`` only,
            ``"MS"`` every variate in, the ``target`` out.
        target: the variate forecast with ``"S"``/``"MS"``.
        scale: standardise every variate with the training rows' statistics.
        borders: end rows of train, val and test; default the standard 12/4/4
            months for the file's sampling rate (read from its time stamps).
        stride: steps between consecutive windows.

    Returns:
        ``ForecastWindows`` with ``inputs (N, lookback, V)``, ``targets (N, horizon,
        V_out)``, ``columns``, ``timestamps`` and ``mean``/``std`` for ``inverse``.

    >>> from pathlib import Path
    >>> w = load_ett(Path("ETTm2.csv"), "test", lookback=336, horizon=96)  # doctest: +SKIP
    >>> w.inputs.shape, w.targets.shape  # doctest: +SKIP
    (torch.Size([11425, 336, 7]), torch.Size([11425, 96, 7]))
    """
    if not isinstance(features, str) or features not in FEATURES:
        raise ValueError(f"`features` must be one of {FEATURES}, got {features!r}.")
    if borders is not None:
        check_borders(borders)
    stamps, columns, values = read_ett_csv(path)
    if features in ("S", "MS") and target not in columns:
        raise ValueError(f"`target` {target!r} is not a column of {path}; columns: {list(columns)}.")
    if borders is None:
        borders = ett_borders(_rows_per_hour(stamps, path))
        if borders[2] > len(values):
            raise ValueError(
                f"{path} has {len(values)} rows but the standard ETT borders need {borders[2]} "
                "(12/4/4 months); pass `borders=(train_end, val_end, test_end)` for a shorter file."
            )
    if features == "S":
        values, columns = values[:, [columns.index(target)]], (target,)
    target_columns = [columns.index(target)] if features == "MS" else None
    return split_series(
        values, split, lookback, horizon, borders, scale, target_columns, stride, columns, stamps
    )


def _rows_per_hour(stamps: np.ndarray, path: object) -> int:
    step = int((stamps[1] - stamps[0]).astype("timedelta64[s]").astype(np.int64))
    if step <= 0 or 3600 % step:
        raise ValueError(
            f"{path}: rows are {step} s apart; the standard borders need hourly or sub-hourly data "
            "(pass `borders=`)."
        )
    return 3600 // step
