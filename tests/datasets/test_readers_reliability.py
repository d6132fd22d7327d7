"""The dataset readers refuse what cannot be right and return good data exactly.

Damaged ETT files (a broken cell, NaN, Inf, a float32 overflow, dates out of order or
repeated, a missing row, a truncated last line) get an error naming the file and the
line; the windowing (``split_series``, ``ForecastWindows``) refuses bad lengths,
borders, fractions and non-finite data; generated sets take an integer seed or a CPU
``torch.Generator`` and never touch the global RNG.
"""

import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from captum_ts.datasets import (
    ForecastWindows,
    bumps,
    hmm_state,
    load_ett,
    load_series,
    load_ucr,
    seasonal_series,
    split_series,
)
from captum_ts.datasets.ett import ETT_COLUMNS, read_ett_csv
from captum_ts.datasets.series import split_borders

N_ROWS = 48
BORDERS = (24, 32, 48)


def _stamps(n=N_ROWS):
    return np.datetime64("2016-07-01T00:00:00") + np.arange(n) * np.timedelta64(15, "m")


def _values(n=N_ROWS):
    return np.random.default_rng(0).normal(size=(n, 7)).astype(np.float32)


def _lines(stamps=None, values=None):
    stamps = _stamps() if stamps is None else stamps
    values = _values() if values is None else values
    rows = [
        ",".join([str(t).replace("T", " "), *(repr(float(v)) for v in row)]) for t, row in zip(stamps, values)
    ]
    return ["date," + ",".join(ETT_COLUMNS), *rows]


def _write(tmp_path, lines, name="ETTm2.csv", end="\n"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + end)
    return path


def _cell(lines, line, column, text):
    """Replace one cell: ``line`` is 1-based (1 is the header), ``column`` 0 is the date."""
    cells = lines[line - 1].split(",")
    cells[column] = text
    lines[line - 1] = ",".join(cells)
    return lines


def _error(path, line, rest):
    return re.escape(f"{path}, line {line}") + rest


# --- ETT: good files round-trip exactly ------------------------------------------------------------


def test_ett_round_trips_every_value_and_date(tmp_path):
    path = _write(tmp_path, _lines())
    stamps, columns, values = read_ett_csv(path)
    assert columns == ETT_COLUMNS
    assert np.array_equal(stamps, _stamps().astype("datetime64[s]"))
    assert values.dtype == torch.float32 and torch.equal(values, torch.from_numpy(_values()))
    windows = load_ett(path, "test", lookback=8, horizon=4, borders=BORDERS, scale=False)
    assert torch.equal(windows.inputs[0], values[24:32]) and torch.equal(windows.targets[-1], values[44:48])
    assert np.array_equal(windows.timestamps, stamps[24:48])


def test_ett_skips_blank_lines_and_counts_them_in_line_numbers(tmp_path):
    lines = _lines()
    lines.insert(5, "")  # a blank line 6: the next data row is line 7
    _, _, values = read_ett_csv(_write(tmp_path, lines))
    assert torch.equal(values, torch.from_numpy(_values()))
    path = _write(tmp_path, _cell(lines, 8, 3, "x"))  # the 7th data row
    with pytest.raises(ValueError, match=_error(path, 8, r", column 'MUFL': 'x' is not a number\.")):
        read_ett_csv(path)


def test_ett_windows_standardised_and_inverted_back(tmp_path):
    path = _write(tmp_path, _lines())
    w = load_ett(path, "val", lookback=8, horizon=4, borders=BORDERS)
    torch.testing.assert_close(w.inverse(w.targets[0]), torch.from_numpy(_values()[24:28]))
    torch.testing.assert_close(w.inverse(w.inputs[0], targets=False), torch.from_numpy(_values()[16:24]))


# --- ETT: damaged files name the file and the line -------------------------------------------------


@pytest.mark.parametrize(
    ("line", "column", "text", "message"),
    [
        (5, 2, "0.3.1", r", column 'HULL': '0\.3\.1' is not a number\."),
        (6, 7, "", r", column 'OT': '' is not a number\."),
        (7, 7, "nan", r", column 'OT': 'nan' is not a finite float32 number"),
        (8, 1, "NaN", r", column 'HUFL': 'NaN' is not a finite float32 number"),
        (9, 4, "inf", r", column 'MULL': 'inf' is not a finite float32 number"),
        (10, 5, "-Infinity", r", column 'LUFL': '-Infinity' is not a finite float32 number"),
        (11, 6, "1e40", r", column 'LULL': '1e40' is not a finite float32 number \(NaN, Inf or beyond"),
        (12, 0, "2016-13-01 00:00:00", r": '2016-13-01 00:00:00' is not a date \(expected e\.g\."),
        (13, 0, "NaT", r": 'NaT' is not a date"),
        (14, 0, "", r": '' is not a date"),
    ],
)
def test_ett_damaged_cell(tmp_path, line, column, text, message):
    path = _write(tmp_path, _cell(_lines(), line, column, text))
    with pytest.raises(ValueError, match=_error(path, line, message)):
        load_ett(path, borders=BORDERS)


def test_ett_truncated_last_line(tmp_path):
    lines = _lines()
    lines[-1] = lines[-1][:32]  # the copy stopped in the middle of the last row
    path = _write(tmp_path, lines, end="")
    with pytest.raises(
        ValueError, match=_error(path, N_ROWS + 1, r": 2 fields, but the header has 8; the row")
    ):
        load_ett(path, borders=BORDERS)


def test_ett_row_with_an_extra_field(tmp_path):
    lines = _lines()
    lines[9] += ",1.0"
    path = _write(tmp_path, lines)
    with pytest.raises(
        ValueError, match=_error(path, 10, r": 9 fields, but the header has 8; the row is damaged")
    ):
        read_ett_csv(path)


def test_ett_reversed_dates(tmp_path):
    path = _write(tmp_path, _lines(stamps=_stamps()[::-1]))
    with pytest.raises(
        ValueError,
        match=_error(
            path,
            3,
            re.escape(
                ": the date 2016-07-01 11:30:00 is earlier than the one on line 2 (2016-07-01 11:45:00); "
                "rows must be in strictly increasing time order."
            ),
        ),
    ):
        load_ett(path, borders=BORDERS)


def test_ett_duplicated_timestamp(tmp_path):
    stamps = _stamps()
    stamps[20] = stamps[19]
    path = _write(tmp_path, _lines(stamps=stamps))
    with pytest.raises(
        ValueError, match=_error(path, 22, r": the date 2016-07-01 04:45:00 repeats the one on line 21")
    ):
        load_ett(path, borders=BORDERS)


def test_ett_missing_row(tmp_path):
    lines = _lines()
    del lines[30]  # the row of 07:15 (line 31) is lost: 07:30 follows 07:00
    path = _write(tmp_path, lines)
    with pytest.raises(
        ValueError,
        match=_error(
            path,
            31,
            r": 2016-07-01 07:30:00 is 1800 s after the previous row, but the rows before are 900 s apart",
        ),
    ):
        load_ett(path, borders=BORDERS)


def test_ett_header_problems(tmp_path):
    lines = _lines()
    lines[0] = lines[0].replace("LULL", "OT")
    path = _write(tmp_path, lines)
    with pytest.raises(
        ValueError, match=re.escape(f"{path}: the header names the column(s) ['OT'] more than once.")
    ):
        load_ett(path, borders=BORDERS)
    path = _write(tmp_path, _lines()[:2], name="one_row.csv")
    with pytest.raises(ValueError, match="at least two data rows expected"):
        read_ett_csv(path)


@pytest.mark.parametrize("borders", [(24.0, 32, 48), (24, 32), "24,32,48", (24, True, 48), None.__class__])
def test_ett_borders_must_be_three_integers(tmp_path, borders):
    path = _write(tmp_path, _lines())
    with pytest.raises(
        TypeError, match=r"`borders` must be three integer row counts \(train_end, val_end, test_end\)"
    ):
        load_ett(path, borders=borders)


def test_ett_borders_accept_numpy_integers_and_check_the_range(tmp_path):
    path = _write(tmp_path, _lines())
    w = load_ett(path, borders=tuple(np.int64(b) for b in BORDERS), lookback=8, horizon=4)
    assert len(w) == 24 - 12 + 1
    with pytest.raises(
        ValueError,
        match=re.escape("`borders` (24, 32, 49) must be increasing row counts within the series' 48 rows"),
    ):
        load_ett(path, borders=(24, 32, 49))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "the 'test' split has 36 rows (borders (24, 32, 48)), fewer than lookback + horizon = 40"
        ),
    ):
        load_ett(path, "test", lookback=20, horizon=20, borders=BORDERS)


def test_ett_bad_choices(tmp_path):
    path = _write(tmp_path, _lines())
    with pytest.raises(ValueError, match=r"`features` must be one of \('M', 'S', 'MS'\), got \['M'\]"):
        load_ett(path, features=["M"], borders=BORDERS)
    with pytest.raises(ValueError, match=r"`split` must be one of \('train', 'val', 'test'\), got None"):
        load_ett(path, split=None, borders=BORDERS)
    with pytest.raises(TypeError, match=re.escape("`lookback` must be a positive integer, got 8.0")):
        load_ett(path, lookback=8.0, borders=BORDERS)
    with pytest.raises(ValueError, match=r"`horizon` must be a positive integer \(>= 1\), got 0"):
        load_ett(path, horizon=0, borders=BORDERS)


# --- split_series and ForecastWindows --------------------------------------------------------------


@given(
    length=st.integers(12, 80),
    lookback=st.integers(1, 4),
    horizon=st.integers(1, 4),
    fractions=st.tuples(st.floats(0.3, 0.6), st.floats(0.1, 0.2), st.floats(0.1, 0.2)),
)
def test_splits_lose_no_row_and_invert_exactly(length, lookback, horizon, fractions):
    series = torch.randn(length, 2, generator=torch.Generator().manual_seed(length), dtype=torch.float64)
    borders = split_borders(length, fractions)
    parts = {}
    for split in ("train", "val", "test"):
        try:
            parts[split] = split_series(series, split, lookback, horizon, borders)
        except ValueError as err:  # a split too short for one window: said so, never empty
            assert "fewer than lookback + horizon" in str(err)
    for split, w in parts.items():
        start = {"train": 0, "val": borders[0] - lookback, "test": borders[1] - lookback}[split]
        first = w.inverse(w.targets[0])
        torch.testing.assert_close(
            first, series[start + lookback : start + lookback + horizon], rtol=0, atol=1e-12
        )
        end = {"train": borders[0], "val": borders[1], "test": borders[2]}[split]
        torch.testing.assert_close(w.inverse(w.targets[-1]), series[end - horizon : end], rtol=0, atol=1e-12)


def test_windows_are_exact_views():
    series = torch.arange(30.0).reshape(15, 2)
    w = ForecastWindows(series, lookback=3, horizon=2, stride=2, target_columns=[1])
    assert len(w) == 6
    for i in range(len(w)):
        assert torch.equal(w.inputs[i], series[2 * i : 2 * i + 3])
        assert torch.equal(w.targets[i], series[2 * i + 3 : 2 * i + 5, [1]])


@pytest.mark.parametrize(
    ("series", "error", "message"),
    [
        (
            torch.tensor([1.0, float("nan"), 3.0] * 10),
            ValueError,
            r"`series` holds nan at row 1, variate 0; fill",
        ),
        (
            torch.ones(30, 2).index_put_((torch.tensor([7]), torch.tensor([1])), torch.tensor(float("inf"))),
            ValueError,
            r"`series` holds inf at row 7, variate 1",
        ),
        (torch.arange(30), TypeError, r"`series` has dtype torch.int64; convert it with `.float\(\)`"),
        (torch.ones(30, 0), ValueError, r"`series` has shape \(30, 0\): no variates"),
        (
            torch.ones(2, 30, 1),
            ValueError,
            r"`series` must be a \(L, V\) or \(L,\) tensor, time first; got \(2, 30, 1\)",
        ),
    ],
)
def test_bad_series(series, error, message):
    with pytest.raises(error, match=message):
        ForecastWindows(series, lookback=4, horizon=2)
    with pytest.raises(error, match=message):
        split_series(series, "train", lookback=4, horizon=2)


def test_bad_window_arguments():
    s = torch.randn(20, 3)
    with pytest.raises(ValueError, match=re.escape("`target_columns` [3] must lie in 0..2 (variates).")):
        ForecastWindows(s, 4, 2, target_columns=[3])
    with pytest.raises(ValueError, match=re.escape("`target_columns` [-1] must lie in 0..2")):
        ForecastWindows(s, 4, 2, target_columns=[-1])
    with pytest.raises(
        TypeError, match=re.escape("`target_columns` must be a non-empty sequence of integers, got [1.0]")
    ):
        ForecastWindows(s, 4, 2, target_columns=[1.0])
    with pytest.raises(TypeError, match="`target_columns` must be a sequence of column indices, got 1"):
        ForecastWindows(s, 4, 2, target_columns=1)
    with pytest.raises(ValueError, match="`columns` has 2 names but the series has 3 variates"):
        ForecastWindows(s, 4, 2, columns=("a", "b"))
    with pytest.raises(ValueError, match="`timestamps` has 19 entries but the series has 20 rows"):
        ForecastWindows(s, 4, 2, timestamps=np.arange(19))
    with pytest.raises(ValueError, match="pass both `mean` and `std`"):
        ForecastWindows(s, 4, 2, mean=torch.zeros(3))
    with pytest.raises(ValueError, match=re.escape("`std` has shape (2,); expected (3,), one per variate")):
        ForecastWindows(s, 4, 2, mean=torch.zeros(3), std=torch.ones(2))
    with pytest.raises(ValueError, match="the series has 20 steps, fewer than lookback \\+ horizon = 21"):
        ForecastWindows(s, 19, 2)
    with pytest.raises(TypeError, match=re.escape("`stride` must be a positive integer, got 1.5")):
        ForecastWindows(s, 4, 2, stride=1.5)


def test_inverse_refuses_values_of_the_wrong_width():
    w = split_series(torch.randn(50, 3), "train", 4, 2, target_columns=[2])
    assert w.inverse(w.targets).shape == w.targets.shape
    with pytest.raises(
        ValueError,
        match=re.escape("`values` has shape (5, 2, 3); its last axis must hold the 1 target variates"),
    ):
        w.inverse(w.inputs[:5, :2])
    with pytest.raises(ValueError, match="its last axis must hold the 3 input variates"):
        w.inverse(w.targets, targets=False)


def test_split_arguments():
    s = torch.randn(40, 1)
    with pytest.raises(TypeError, match=r"`borders` must be three integer row counts"):
        split_series(s, "train", 4, 2, borders=(20.5, 30, 40))
    with pytest.raises(
        ValueError, match=re.escape("the default 70/10/20 % borders (0, 0, 0) must be increasing")
    ):
        split_series(torch.randn(1), "train", 1, 1)
    with pytest.raises(ValueError, match=re.escape("`timestamps` has 3 entries but the series has 40 rows")):
        split_series(s, "train", 4, 2, timestamps=np.arange(3))
    with pytest.raises(ValueError, match="the 'val' split has 8 rows"):
        split_series(s, "val", 4, 5, borders=(20, 24, 40))


@pytest.mark.parametrize(
    "fractions",
    [
        (0.7, 0.1),
        (0.7, 0.1, float("nan")),
        (0.7, -0.1, 0.2),
        (0.8, 0.3, 0.2),
        ("0.7", 0.1, 0.2),
        (0, 0, 0),
        0.7,
    ],
)
def test_bad_fractions(fractions):
    with pytest.raises(
        ValueError, match=r"`fractions` must be three shares in \[0, 1\] summing to at most 1, got"
    ):
        split_borders(100, fractions)


def test_standardising_float16_that_overflows_is_refused():
    series = torch.tensor([1.0, 1.001] * 20).half()[:, None]  # training std 5e-4
    series[-1] = 60000.0
    with pytest.raises(
        ValueError,
        match=re.escape("standardised with the training rows' statistics the series overflows torch.float16"),
    ):
        split_series(series, "test", 2, 1, borders=(20, 30, 40))


# --- real data shipped inside aeon: exact round trip, NaN refused ----------------------------------


def test_load_ucr_round_trips_aeon_exactly():
    import aeon.datasets

    x, y = aeon.datasets.load_italy_power_demand(split="test")
    data = load_ucr("ItalyPowerDemand", "test")
    assert torch.equal(data.inputs, torch.from_numpy(x.astype(np.float32).transpose(0, 2, 1)))
    classes = sorted(set(y))
    assert data.labels.tolist() == [classes.index(v) for v in y]


def test_load_ucr_and_load_series_refuse_non_finite_data(monkeypatch):
    import aeon.datasets

    x, y = aeon.datasets.load_gunpoint(split="train")
    x = x.copy()
    x[3, 0, 10] = np.nan
    monkeypatch.setattr(aeon.datasets, "load_gunpoint", lambda split: (x, y))
    with pytest.raises(
        ValueError, match=re.escape("GunPoint (train) holds NaN or Inf values, first in series 3.")
    ):
        load_ucr("GunPoint", "train")
    monkeypatch.setattr(aeon.datasets, "load_airline", lambda: np.array([1.0, np.inf, 3.0]))
    with pytest.raises(ValueError, match=re.escape("`load_series('airline')` holds inf at row 1, variate 0")):
        load_series("airline")


def test_load_series_round_trips_aeon_exactly():
    import aeon.datasets

    assert torch.equal(
        load_series("airline")[:, 0],
        torch.from_numpy(np.asarray(aeon.datasets.load_airline(), dtype=np.float32)),
    )


@pytest.mark.parametrize("name", [["GunPoint"], None, "gunpoint"])
def test_unknown_names(name):
    with pytest.raises(ValueError, match=r"`name` must be one of \["):
        load_ucr(name)
    with pytest.raises(ValueError, match=r"`name` must be one of \["):
        load_series(name)


# --- generated sets: seeds and generators ----------------------------------------------------------

GENERATED = {
    "bumps": lambda seed: bumps(n_samples=6, length=16, n_features=2, width=4, seed=seed),
    "hmm_state": lambda seed: hmm_state(n_samples=3, length=12, seed=seed),
    "seasonal_series": lambda seed: (seasonal_series(50, n_variates=2, seed=seed),),
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_seed_or_generator_same_draws_global_rng_untouched(name):
    make = GENERATED[name]
    torch.manual_seed(123)
    state = torch.get_rng_state()
    by_seed = make(5)
    assert torch.equal(torch.get_rng_state(), state)
    g = torch.Generator().manual_seed(5)
    for a, b in zip(by_seed, make(g)):
        assert torch.equal(a, b)
    for a, b in zip(by_seed, make(np.int64(5))):
        assert torch.equal(a, b)
    second = make(g)  # the generator's stream continues: a different set
    assert not torch.equal(second[0], by_seed[0])
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("name", sorted(GENERATED))
@pytest.mark.parametrize(
    ("seed", "message"),
    [
        (2.5, "got float"),
        (True, "got bool"),
        ("0", "got str"),
        (np.random.default_rng(0), "got Generator"),
        (None, "got NoneType"),
    ],
)
def test_bad_seed(name, seed, message):
    with pytest.raises(TypeError, match=f"`seed` must be an integer seed or a torch.Generator, {message}"):
        GENERATED[name](seed)


def test_seed_out_of_range():
    with pytest.raises(
        ValueError, match=re.escape("`seed` must lie in [-2**63, 2**64), got 18446744073709551616")
    ):
        bumps(n_samples=2, seed=2**64)


@pytest.mark.cuda
def test_cuda_generator_is_refused():
    with pytest.raises(ValueError, match="`seed` is a generator on cuda:0; datasets are drawn on the CPU"):
        bumps(n_samples=2, seed=torch.Generator(device="cuda"))


def test_bad_generated_set_options():
    with pytest.raises(ValueError, match=r"`noise` must be a finite number >= 0, got -1"):
        bumps(n_samples=2, noise=-1.0)
    with pytest.raises(ValueError, match=r"`amplitude` must be a finite number, got nan"):
        bumps(n_samples=2, amplitude=float("nan"))
    with pytest.raises(ValueError, match=r"`periods` must be finite positive numbers, got \[24.0, 0.0\]"):
        seasonal_series(50, periods=(24.0, 0.0))
    with pytest.raises(ValueError, match=r"`noise` must be a finite number >= 0, got inf"):
        seasonal_series(50, noise=float("inf"))
