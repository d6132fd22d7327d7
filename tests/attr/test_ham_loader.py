"""HorizonActivationMap.attribute_loader: a mean of per-batch norms over a data loader."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from captum_ts.attr.horizon.horizon_activation_map import HorizonActivationMap
from captum_ts.models.forecasters import MLPForecaster

T, H, V = 8, 4, 2


def _setup(n=10):
    torch.manual_seed(0)
    model = MLPForecaster(T, H, V, hidden=(6,)).double()
    x = torch.randn(n, T, V, dtype=torch.float64)
    y = torch.randn(n, H, V, dtype=torch.float64)
    return model, x, y


def test_mean_of_per_batch_norms_over_a_dataloader():
    model, x, y = _setup()
    ham = HorizonActivationMap(model)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)  # batches of 4, 4, 2
    res = ham.attribute_loader(loader, per_layer=True, horizon_chunk_size=2)
    each = [ham.attribute(x[i : i + 4], y[i : i + 4], per_layer=True) for i in (0, 4, 8)]
    torch.testing.assert_close(res.causal, sum(r.causal for r in each) / 3)
    torch.testing.assert_close(res.anticausal, sum(r.anticausal for r in each) / 3)
    assert res.n_batches == 3


def test_unpack_max_batches_progress_and_extra_arguments():
    model, x, y = _setup()
    ham = HorizonActivationMap(lambda inp, scale: model(inp * scale), model=model)
    batches = [{"x": x[:5], "y": y[:5]}, {"x": x[5:], "y": y[5:]}]
    res = ham.attribute_loader(
        batches, unpack=lambda b: (b["x"], b["y"], 2.0), max_batches=1, show_progress=True, variates="each"
    )
    ref = HorizonActivationMap(lambda inp: model(2.0 * inp), model=model).attribute(
        x[:5], y[:5], variates="each"
    )
    torch.testing.assert_close(res.causal, ref.causal)
    assert res.n_batches == 1
    tuples = ham.attribute_loader([(x[:5], y[:5], 2.0)])  # extra tuple entries are forward arguments
    plain = HorizonActivationMap(lambda inp: model(2.0 * inp), model=model).attribute(x[:5], y[:5])
    torch.testing.assert_close(tuples.causal, plain.causal)


def test_loader_errors():
    model, x, y = _setup()
    ham = HorizonActivationMap(model)
    with pytest.raises(ValueError, match="no batch"):
        ham.attribute_loader([])
    with pytest.raises(ValueError, match="unpack"):
        ham.attribute_loader([x])
    with pytest.raises(ValueError, match="horizon"):
        ham.attribute_loader([(x, y), (x, torch.randn(10, H + 1, V, dtype=torch.float64))])
