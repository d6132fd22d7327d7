"""The darts adapter on tiny TiDE (quantiles, past, future and static covariates),
NLinear and BlockRNN models fitted for one epoch on two generated monthly series: the
forecast equals `predict`, attribution methods run on the tuple of inputs and map back
to names and time stamps, HAM equals its per-cut-off loop."""

import sys
import warnings

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients

pytest.importorskip("darts")
import pandas as pd
from _shared import QUIET, check_gag_and_lpm_on_the_tuple, silence_lightning
from darts import TimeSeries
from darts.models import BlockRNNModel, NLinearModel, RNNModel, TiDEModel
from darts.utils.likelihood_models import GaussianLikelihood, QuantileRegression

from captum_ts import HorizonActivationMap, explain_horizons
from captum_ts.adapters.darts import adapt
from captum_ts.attr.horizon._reference import horizon_norms_loop

H, L, N = 4, 12, 48
CHUNKS = {
    "input_chunk_length": L,
    "output_chunk_length": H,
    "n_epochs": 1,
    "batch_size": 64,
    "random_state": 0,
}


def _series():
    t = np.arange(N + 8)
    stamps = pd.date_range("2000-01-01", periods=N + 8, freq="MS")
    targets = [
        TimeSeries.from_times_and_values(
            stamps[:N],
            10 + np.sin(t[:N] / 3 + phase) + 0.05 * t[:N],
            columns=["y"],
            static_covariates=pd.DataFrame({"level": [phase]}),
        )
        for phase in (0.0, 1.0)
    ]
    past = TimeSeries.from_times_and_values(stamps[:N], np.cos(t[:N] / 5)[:, None], columns=["p"])
    future = TimeSeries.from_times_and_values(
        stamps, np.stack([np.sin(t / 7), t / 60], 1), columns=["f1", "f2"]
    )
    return targets, {"past_covariates": [past, past], "future_covariates": [future, future]}


@pytest.fixture(scope="module")
def fitted():
    """One fit of three tiny models on two generated series; their `predict` of each last window."""
    silence_lightning("darts")
    torch.set_num_threads(1)
    targets, covs = _series()
    models = {
        "tide": (
            TiDEModel(
                hidden_size=8,
                decoder_output_dim=4,
                temporal_decoder_hidden=8,
                likelihood=QuantileRegression([0.1, 0.5, 0.9]),
                pl_trainer_kwargs=QUIET,
                **CHUNKS,
            ),
            covs,
        ),
        "nlinear": (
            NLinearModel(pl_trainer_kwargs=QUIET, **CHUNKS),
            {"future_covariates": covs["future_covariates"]},
        ),
        "blockrnn": (
            BlockRNNModel(model="LSTM", hidden_dim=8, pl_trainer_kwargs=QUIET, **CHUNKS),
            {"past_covariates": covs["past_covariates"]},
        ),
    }
    predicted = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (model, cov) in models.items():
            model.fit(targets, **cov)
            quantiles = model.likelihood is not None
            history = [ts[:-H] for ts in targets]
            predicted[name] = model.predict(
                H, series=history, **cov, predict_likelihood_parameters=quantiles, verbose=False
            )
    return models, targets, predicted


@pytest.mark.parametrize("name", ["tide", "nlinear", "blockrnn"])
def test_the_forecast_of_the_last_window_equals_predict(fitted, name):
    models, targets, predicted = fitted
    model, cov = models[name]
    adapted = adapt(model, targets, last_window=True, **cov)
    with torch.no_grad():
        out = adapted.forward_func(*adapted.inputs, *adapted.additional_forward_args)
    expected = np.stack([p.values() for p in predicted[name]])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5)
    assert adapted.output_names == tuple(c.split("_q")[0] for c in predicted[name][0].components)
    stamps = np.stack([p.time_index.to_numpy() for p in predicted[name]])
    np.testing.assert_array_equal(adapted.forecast_time_stamps, stamps)


def test_inputs_names_and_time_stamps_follow_the_model(fitted):
    models, targets, _ = fitted
    model, cov = models["tide"]
    adapted = adapt(model, targets, step_size=8, **cov)
    assert adapted.input_names == ("past_target", "past_covariates", "future_covariates")
    assert adapted.feature_names == (("y",), ("p",), ("f1", "f2"))
    n = len(adapted.series_ids)
    assert n == 2 * (1 + (N - L - H) // 8)
    assert [tuple(x.shape) for x in adapted.inputs] == [(n, L, 1), (n, L, 1), (n, L + H, 2)]
    assert adapted.series_ids.tolist() == [0] * (n // 2) + [1] * (n // 2)
    np.testing.assert_array_equal(adapted.time_stamps[0][n // 2 - 1], targets[0].time_index[-L - H : -H])
    torch.testing.assert_close(adapted.y_true[-1, :, 0], torch.tensor(targets[1].values()[-H:, 0]))
    torch.testing.assert_close(
        adapted.inputs[2][0], torch.tensor(cov["future_covariates"][0].values()[: L + H])
    )
    static = adapted.additional_forward_args[0]
    assert tuple(static.shape) == (n, 1, 1) and static[:, 0, 0].tolist() == [0.0] * (n // 2) + [1.0] * (
        n // 2
    )


def test_integrated_gradients_is_complete_through_the_adapter(fitted):
    models, targets, _ = fitted
    model, cov = models["tide"]
    adapted = adapt(model, targets, step_size=12, **cov)
    target = adapted.target(step=H - 1, quantile=0.9)
    baselines = tuple(0.8 * x for x in adapted.inputs)
    ig = IntegratedGradients(adapted.forward_func)
    static = adapted.additional_forward_args
    attr = ig.attribute(
        adapted.inputs, baselines=baselines, target=target, additional_forward_args=static, n_steps=64
    )
    with torch.no_grad():
        gap = adapted.forward_func(*adapted.inputs, *static) - adapted.forward_func(*baselines, *static)
    total = sum(a.sum((1, 2)) for a in attr)
    torch.testing.assert_close(total, gap[:, H - 1, target[1]], rtol=2e-3, atol=1e-3)
    frame = adapted.to_frame(attr, step=H - 1)
    row = frame[(frame.input == "future_covariates") & (frame.example == 0) & (frame.lag == -1)]
    assert row.time.iloc[1] == adapted.forecast_time_stamps[0, -1] and row.feature.iloc[1] == "f2"
    assert row.value.iloc[1] == pytest.approx(float(attr[2][0, -1, 1]))


def test_quantile_targets_are_selectable_and_ambiguity_is_an_error(fitted):
    models, targets, _ = fitted
    model, cov = models["tide"]
    adapted = adapt(model, targets, last_window=True, **cov)
    assert adapted.output_quantiles == (0.1, 0.5, 0.9)
    assert adapted.target(2, quantile=0.5) == (2, 1)
    with pytest.raises(ValueError, match=r"pass `quantile=` to choose one"):
        adapted.target(2)
    with pytest.raises(ValueError, match=r"`step` must be an int in \[0, 4\)"):
        adapted.target(H)


def test_guided_absolute_grad_and_learned_mask_run_on_the_tuple_of_inputs(fitted):
    models, targets, _ = fitted
    model, cov = models["tide"]
    adapted = adapt(model, targets, step_size=12, **cov)
    target, static = adapted.target(0, quantile=0.5), adapted.additional_forward_args
    check_gag_and_lpm_on_the_tuple(adapted, target, static)


@pytest.mark.parametrize("name", ["nlinear", "blockrnn"])
def test_ham_equals_the_per_cutoff_loop(fitted, name):
    models, targets, _ = fitted
    model, cov = models[name]
    adapted = adapt(model, targets, step_size=12, **cov)
    args = adapted.additional_forward_args
    res = HorizonActivationMap(adapted.forward_func).attribute(adapted.inputs, adapted.y_true, args)
    loop_c, loop_a, names = horizon_norms_loop(
        adapted.module, adapted.inputs, adapted.y_true, args, forward_func=adapted.forward_func
    )
    assert res.layer_names == tuple(names)
    scale = float(loop_c.abs().max())
    assert float((res.layer_causal - loop_c).abs().max()) < 1e-4 * scale
    assert float((res.layer_anticausal - loop_a).abs().max()) < 1e-4 * scale


def test_explain_horizons_on_a_fitted_model_maps_back_to_names(fitted):
    models, targets, _ = fitted
    model, cov = models["tide"]
    adapted = adapt(model, targets, step_size=12, **cov)
    ig = IntegratedGradients(adapted.forward_func)
    res = explain_horizons(ig, adapted, steps=[0, H - 1], outputs=[1], n_steps=8)
    assert res.mean[2].shape == (2, 1, L + H, 2)
    direct = ig.attribute(
        adapted.inputs,
        target=adapted.target(H - 1, quantile=0.5),
        additional_forward_args=adapted.additional_forward_args,
        n_steps=8,
    )
    torch.testing.assert_close(res.mean[0][1, 0], direct[0].mean(0), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(res.per_series[1][1][1, 0], direct[1][adapted.series_ids == 1].mean(0))
    frame = res.to_frame()
    assert set(frame.input) == {"past_target", "past_covariates", "future_covariates"}
    assert set(frame.step) == {0, H - 1}


def test_unusable_models_and_data_get_clear_errors(fitted):
    models, targets, _ = fitted
    model, cov = models["tide"]
    with pytest.raises(ValueError, match="GaussianLikelihood: its forecast is sampled"):
        adapt(TiDEModel(L, H, likelihood=GaussianLikelihood()), targets)
    with pytest.raises(ValueError, match="use BlockRNNModel"):
        adapt(RNNModel(L), targets)
    with pytest.raises(ValueError, match="`add_encoders`"):
        adapt(TiDEModel(L, H, add_encoders={"cyclic": {"future": ["month"]}}), targets)
    with pytest.raises(ValueError, match="must be fitted"):
        adapt(TiDEModel(L, H), targets)
    with pytest.raises(TypeError, match="must be a darts TorchForecastingModel"):
        adapt(object(), targets)
    with pytest.raises(ValueError, match="fitted with `past_covariates`; pass them"):
        adapt(model, targets, future_covariates=cov["future_covariates"])
    with pytest.raises(ValueError, match="do not cover the target's time stamps"):
        adapt(
            model,
            targets,
            past_covariates=[c[5:] for c in cov["past_covariates"]],
            future_covariates=cov["future_covariates"],
        )
    with pytest.raises(ValueError, match="no series has 16 steps"):
        adapt(model, [ts[:10] for ts in targets], **cov)
    broken = targets[0].with_values(
        np.where(np.arange(N)[:, None, None] == 30, np.nan, targets[0].all_values())
    )
    with pytest.raises(ValueError, match="NaN or Inf"):
        adapt(model, [broken, targets[1]], **cov)
    with pytest.raises(ValueError, match="`step_size` must be a positive int"):
        adapt(model, targets, step_size=0, **cov)


def test_without_the_library_adapt_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "darts", None)
    with pytest.raises(ImportError, match=r"pip install captum-ts\[darts\]"):
        adapt(None, None)
