"""The ETT CSV reader and the forecasting windows behind it (chronological splits,
training-set standardisation, strided views), on a tiny fixture file."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from captum_ts.datasets.ett import ETT_COLUMNS, ett_borders, load_ett, read_ett_csv
from captum_ts.datasets.series import ForecastWindows, load_series, split_borders, split_series

FIXTURE = Path(__file__).parent / "data" / "ETTm2_tiny.csv"
BORDERS = (24, 32, 48)


def test_read_the_csv():
    stamps, columns, values = read_ett_csv(FIXTURE)
    assert columns == ETT_COLUMNS
    assert values.shape == (48, 7) and values.dtype == torch.float32
    assert stamps[1] - stamps[0] == np.timedelta64(15, "m")
    assert float(values[0, 0]) == pytest.approx(0.063)


def test_split_sizes_and_overlap():
    sizes = {}
    for split in ("train", "val", "test"):
        w = load_ett(FIXTURE, split, lookback=8, horizon=4, borders=BORDERS, scale=False)
        sizes[split] = len(w)
        assert w.inputs.shape == (len(w), 8, 7) and w.targets.shape == (len(w), 4, 7)
    assert sizes == {"train": 24 - 12 + 1, "val": 16 - 12 + 1, "test": 24 - 12 + 1}
    _, _, values = read_ett_csv(FIXTURE)
    val = load_ett(FIXTURE, "val", lookback=8, horizon=4, borders=BORDERS, scale=False)
    torch.testing.assert_close(val.inputs[0], values[16:24])  # starts lookback rows before the border
    torch.testing.assert_close(val.targets[0], values[24:28])
    torch.testing.assert_close(val.targets[-1], values[28:32])


def test_standardised_with_training_statistics_and_inverse():
    _, _, values = read_ett_csv(FIXTURE)
    train = load_ett(FIXTURE, "train", lookback=8, horizon=4, borders=BORDERS)
    torch.testing.assert_close(train.series.mean(0), torch.zeros(7), atol=1e-5, rtol=0)
    torch.testing.assert_close(train.series.std(0, unbiased=False), torch.ones(7), atol=1e-5, rtol=0)
    test = load_ett(FIXTURE, "test", lookback=8, horizon=4, borders=BORDERS)
    torch.testing.assert_close(test.inverse(test.targets[0]), values[32:36], atol=1e-5, rtol=1e-5)


def test_feature_modes():
    s = load_ett(FIXTURE, lookback=8, horizon=4, borders=BORDERS, features="S")
    assert s.inputs.shape[-1] == 1 and s.columns == ("OT",)
    ms = load_ett(FIXTURE, lookback=8, horizon=4, borders=BORDERS, features="MS", target="HULL")
    assert ms.inputs.shape[-1] == 7 and ms.targets.shape[-1] == 1
    torch.testing.assert_close(ms.targets[..., 0], ms.series[8:].unfold(0, 4, 1)[: len(ms), 1])
    assert ms.inverse(ms.targets).shape == ms.targets.shape


def test_windows_are_views_and_load_in_batches():
    w = load_ett(FIXTURE, lookback=8, horizon=4, borders=BORDERS)
    storage = w.series.untyped_storage().data_ptr()
    assert w.inputs.untyped_storage().data_ptr() == storage
    assert w.targets.untyped_storage().data_ptr() == storage
    x, y = next(iter(DataLoader(w, batch_size=5)))
    assert x.shape == (5, 8, 7) and y.shape == (5, 4, 7)
    torch.testing.assert_close(x, w.inputs[:5])


def test_standard_borders_on_a_full_length_hourly_file(tmp_path):
    assert ett_borders(4) == (34560, 46080, 57600)
    n = 14400
    stamps = np.datetime64("2016-07-01T00:00") + np.arange(n) * np.timedelta64(1, "h")
    path = tmp_path / "ETTh1.csv"
    lines = ["date," + ",".join(ETT_COLUMNS)]
    lines += [f"{str(t).replace('T', ' ')}:00," + ",".join([f"{i}"] * 7) for i, t in enumerate(stamps)]
    path.write_text("\n".join(lines) + "\n")
    train = load_ett(path, "train", lookback=96, horizon=24, scale=False)
    test = load_ett(path, "test", lookback=96, horizon=24, scale=False)
    assert len(train) == 8640 - 96 - 24 + 1
    assert float(test.inputs[0, 0, 0]) == 11520 - 96
    assert float(test.targets[-1, -1, 0]) == n - 1
    assert test.timestamps[0] == stamps[11520 - 96]


def test_errors():
    with pytest.raises(FileNotFoundError, match="not shipped"):
        load_ett("no/such/ETTm2.csv")
    with pytest.raises(ValueError, match="borders"):
        load_ett(FIXTURE)  # 48 rows: too short for the standard borders
    with pytest.raises(ValueError, match="features"):
        load_ett(FIXTURE, features="X", borders=BORDERS)
    with pytest.raises(ValueError, match="target"):
        load_ett(FIXTURE, features="S", target="load", borders=BORDERS)
    with pytest.raises(ValueError, match="split"):
        load_ett(FIXTURE, "dev", borders=BORDERS)
    with pytest.raises(ValueError, match="fewer than"):
        load_ett(FIXTURE, "val", lookback=20, horizon=10, borders=BORDERS)


def test_split_series_and_shipped_series():
    assert split_borders(100) == (70, 80, 100)
    s = torch.arange(100.0)
    parts = {k: split_series(s, k, lookback=5, horizon=3, scale=False) for k in ("train", "val", "test")}
    assert [len(p) for p in parts.values()] == [70 - 7, 15 - 7, 25 - 7]
    assert isinstance(parts["test"], ForecastWindows)
    airline = load_series("airline")
    assert airline.shape == (144, 1) and airline.dtype == torch.float32
    with pytest.raises(ValueError, match="name"):
        load_series("ETTm2")
