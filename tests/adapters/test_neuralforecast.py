"""The neuralforecast adapter on tiny NHITS (with exogenous columns), MLP (quantiles),
LSTM and TSMixer (multivariate) models fitted for a few steps on AirPassengers: the
forecast equals `predict`, attribution methods run on the tuple of inputs and map back
to names and time stamps, HAM equals its per-cut-off loop."""

import sys
import warnings

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients

pytest.importorskip("neuralforecast")
from _shared import QUIET as TRAINER_QUIET
from _shared import check_gag_and_lpm_on_the_tuple, silence_lightning
from neuralforecast import NeuralForecast
from neuralforecast.losses.pytorch import MQLoss
from neuralforecast.models import LSTM, MLP, NHITS, TSMixer
from neuralforecast.utils import AirPassengersPanel

from captum_ts import HorizonActivationMap, explain_horizons
from captum_ts.adapters.neuralforecast import adapt
from captum_ts.attr.horizon._reference import horizon_norms_loop

H, L = 4, 12
QUIET = {**TRAINER_QUIET, "max_steps": 3}


@pytest.fixture(scope="module")
def fitted():
    """One fit of four tiny models on the two-series AirPassengers panel."""
    silence_lightning()
    torch.manual_seed(0)
    df = AirPassengersPanel[["unique_id", "ds", "y", "trend", "y_[lag12]"]].copy()
    models = [
        NHITS(h=H, input_size=L, futr_exog_list=["trend"], hist_exog_list=["y_[lag12]"], **QUIET),
        MLP(h=H, input_size=L, loss=MQLoss(level=[80]), hidden_size=16, num_layers=1, **QUIET),
        LSTM(h=H, input_size=L, encoder_hidden_size=8, decoder_hidden_size=8, **QUIET),
        TSMixer(h=H, input_size=L, n_series=2, n_block=1, ff_dim=8, **QUIET),
    ]
    nf = NeuralForecast(models=models, freq="ME")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nf.fit(df)
        history, future = df.groupby("unique_id").head(-H), df.groupby("unique_id").tail(H)
        predicted = nf.predict(df=history, futr_df=future.drop(columns=["y", "y_[lag12]"]))
    return nf, df, predicted


@pytest.mark.parametrize(("index", "column"), [(0, "NHITS"), (1, "MLP-hi-80"), (2, "LSTM"), (3, "TSMixer")])
def test_the_forecast_of_the_last_window_equals_predict(fitted, index, column):
    nf, df, predicted = fitted
    adapted = adapt(nf, df, model=index, last_window=True)
    with torch.no_grad():
        out = adapted.forward_func(*adapted.inputs, *adapted.additional_forward_args)
    if index == 3:  # multivariate: one window, one output column per series
        values = out[0].T.reshape(-1)
    else:
        values = out[:, :, adapted.output_index(0, 0.9 if index == 1 else None)].reshape(-1)
    np.testing.assert_allclose(values.numpy(), predicted[column].to_numpy(), rtol=1e-5)
    stamps = predicted.ds.to_numpy().reshape(2, H) if index != 3 else None
    if stamps is not None:
        np.testing.assert_array_equal(adapted.forecast_time_stamps, stamps)


def test_inputs_names_and_time_stamps_follow_the_model(fitted):
    nf, df, _ = fitted
    adapted = adapt(nf, df, model=0, step_size=12)
    assert adapted.input_names == ("insample_y", "hist_exog", "futr_exog")
    assert adapted.feature_names == (("y",), ("y_[lag12]",), ("trend",))
    n = len(adapted.series_ids)
    assert [tuple(x.shape) for x in adapted.inputs] == [(n, L, 1), (n, L, 1), (n, L + H, 1)]
    first = df[df.unique_id == "Airline1"]
    np.testing.assert_array_equal(adapted.time_stamps[0][-1 - n // 2], first.ds.to_numpy()[-L - H : -H])
    torch.testing.assert_close(adapted.y_true[n // 2 - 1, :, 0], torch.tensor(first.y.to_numpy()[-H:]))


def test_integrated_gradients_is_complete_through_the_adapter(fitted):
    nf, df, _ = fitted
    adapted = adapt(nf, df, model=0, step_size=24)
    target = adapted.target(step=H - 1)
    baselines = tuple(0.8 * x for x in adapted.inputs)
    ig = IntegratedGradients(adapted.forward_func)
    attr, delta = ig.attribute(
        adapted.inputs, baselines=baselines, target=target, n_steps=64, return_convergence_delta=True
    )
    with torch.no_grad():
        gap = adapted.forward_func(*adapted.inputs) - adapted.forward_func(*baselines)
    total = sum(a.sum((1, 2)) for a in attr)
    torch.testing.assert_close(total, gap[:, H - 1, 0], rtol=2e-3, atol=1e-2)
    assert float(delta.abs().max()) < 1e-2 * float(gap.abs().max())
    frame = adapted.to_frame(attr, step=H - 1)
    row = frame[(frame.input == "futr_exog") & (frame.example == 0) & (frame.lag == -1)]
    assert row.time.iloc[0] == adapted.forecast_time_stamps[0, -1]
    assert row.value.iloc[0] == pytest.approx(float(attr[2][0, -1, 0]))


def test_quantile_targets_are_selectable_and_ambiguity_is_an_error(fitted):
    nf, df, _ = fitted
    adapted = adapt(nf, df, model=1, last_window=True)
    assert adapted.output_quantiles[adapted.target(2, quantile=0.1)[1]] == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"pass `quantile=` to choose one"):
        adapted.target(2)
    with pytest.raises(ValueError, match=r"`quantile`=0.3 is not one of"):
        adapted.target(2, quantile=0.3)
    with pytest.raises(ValueError, match=r"`step` must be an int in \[0, 4\)"):
        adapted.target(H)


def test_guided_absolute_grad_and_learned_mask_run_on_the_tuple_of_inputs(fitted):
    nf, df, _ = fitted
    adapted = adapt(nf, df, model=0, step_size=24)
    target = adapted.target(0)
    check_gag_and_lpm_on_the_tuple(adapted, target)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_ham_on_nhits_mlp_and_lstm_equals_the_per_cutoff_loop(fitted, index):
    nf, df, _ = fitted
    adapted = adapt(nf, df, model=index, step_size=36)
    y_true = adapted.y_true.expand(-1, -1, len(adapted.output_names))
    res = HorizonActivationMap(adapted.forward_func).attribute(adapted.inputs, y_true)
    loop_c, loop_a, names = horizon_norms_loop(
        adapted.module, adapted.inputs, y_true, forward_func=adapted.forward_func
    )
    assert res.layer_names == tuple(names)
    scale = float(loop_c.abs().max())
    assert float((res.layer_causal - loop_c).abs().max()) < 1e-4 * scale
    assert float((res.layer_anticausal - loop_a).abs().max()) < 1e-4 * scale


def test_explain_horizons_on_a_fitted_model_maps_back_to_names(fitted):
    nf, df, _ = fitted
    adapted = adapt(nf, df, model=0, step_size=24)
    ig = IntegratedGradients(adapted.forward_func)
    res = explain_horizons(ig, adapted, steps=[0, H - 1], n_steps=8)
    assert res.mean[2].shape == (2, 1, L + H, 1)
    direct = ig.attribute(adapted.inputs, target=adapted.target(H - 1), n_steps=8)
    torch.testing.assert_close(res.mean[0][1, 0], direct[0].mean(0), rtol=1e-4, atol=1e-4)
    assert set(res.per_series) == {"Airline1", "Airline2"}
    frame = res.to_frame()
    assert set(frame.input) == {"insample_y", "hist_exog", "futr_exog"} and set(frame.step) == {0, H - 1}


def test_unusable_models_and_data_get_clear_errors(fitted):
    nf, df, _ = fitted
    with pytest.raises(ValueError, match=r"`model`='Prophet' is not one of"):
        adapt(nf, df, model="Prophet")
    with pytest.raises(ValueError, match=r"lacks the columns \['trend'\]"):
        adapt(nf, df.drop(columns=["trend"]), model=0)
    with pytest.raises(ValueError, match="no series has 16 rows"):
        adapt(nf, df.groupby("unique_id").head(10), model=0)
    with pytest.raises(ValueError, match="NaN or Inf"):
        adapt(nf, df.assign(y=df.y.where(df.index != 30)), model=0)


def test_without_the_library_adapt_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "neuralforecast", None)
    with pytest.raises(ImportError, match=r"pip install captum-ts\[neuralforecast\]"):
        adapt(None, None)
