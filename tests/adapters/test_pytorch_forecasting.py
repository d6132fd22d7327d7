"""The pytorch-forecasting adapter on a tiny TemporalFusionTransformer (QuantileLoss,
static and known categoricals) and NHiTS (MAE) fitted for two batches on a generated
two-series TimeSeriesDataSet: the forecast equals `predict`, attribution methods run on
the continuous inputs with the categoricals passed through and map back to names and
time indices, HAM equals its per-cut-off loop."""

import sys
import warnings

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients

pytest.importorskip("pytorch_forecasting")
import lightning.pytorch as pl
import pandas as pd
from _shared import check_gag_and_lpm_on_the_tuple, silence_lightning
from pytorch_forecasting import DeepAR, NHiTS, TemporalFusionTransformer, TimeSeriesDataSet
from pytorch_forecasting.data import GroupNormalizer
from pytorch_forecasting.metrics import MAE, NormalDistributionLoss, QuantileLoss

from captum_ts import HorizonActivationMap, explain_horizons
from captum_ts.adapters.pytorch_forecasting import adapt
from captum_ts.attr.horizon._reference import horizon_norms_loop

H, L, N = 4, 8, 40
REALS = ("time_idx", "trend", "y", "x")


def _frame():
    t = np.arange(N)
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "series": name,
                    "time_idx": t,
                    "y": 10 + np.sin(t / 3 + k) + 0.05 * t * (k + 1),
                    "x": np.cos(t / 5 + k),
                    "trend": np.sin(t / 7),
                    "month": (t % 12).astype(str),
                    "kind": name,
                }
            )
            for k, name in enumerate(["a", "b"])
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def fitted():
    """One short fit of TFT and NHiTS; the test dataset of every window; their `predict`."""
    silence_lightning()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    df = _frame()
    train = TimeSeriesDataSet(
        df[df.time_idx < 32],
        time_idx="time_idx",
        target="y",
        group_ids=["series"],
        max_encoder_length=L,
        max_prediction_length=H,
        static_categoricals=["kind"],
        time_varying_known_categoricals=["month"],
        # two known reals: with one, TFT's decoder variable selection layer-normalises two
        # values, a sign function of the inputs, so no path method can be complete across it
        time_varying_known_reals=["time_idx", "trend"],
        time_varying_unknown_reals=["y", "x"],
        target_normalizer=GroupNormalizer(groups=["series"]),
    )
    models = {
        "tft": TemporalFusionTransformer.from_dataset(
            train,
            hidden_size=8,
            attention_head_size=1,
            hidden_continuous_size=4,
            loss=QuantileLoss([0.1, 0.5, 0.9]),
        ),
        "nhits": NHiTS.from_dataset(train, hidden_size=8, loss=MAE()),
    }
    test = TimeSeriesDataSet.from_dataset(train, df, stop_randomization=True)
    predicted = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, model in models.items():
            trainer = pl.Trainer(
                max_epochs=1,
                limit_train_batches=2,
                enable_progress_bar=False,
                logger=False,
                enable_model_summary=False,
                enable_checkpointing=False,
                accelerator="cpu",
            )
            trainer.fit(model, train_dataloaders=train.to_dataloader(train=True, batch_size=16))
            mode = "quantiles" if name == "tft" else "prediction"
            predicted[name] = model.predict(
                test.to_dataloader(train=False, batch_size=64),
                mode=mode,
                trainer_kwargs={"logger": False, "enable_progress_bar": False, "accelerator": "cpu"},
            )
    return models, train, test, df, predicted


@pytest.mark.parametrize("name", ["tft", "nhits"])
def test_the_forecast_equals_predict(fitted, name):
    models, _, test, _, predicted = fitted
    adapted = adapt(models[name], test)
    with torch.no_grad():
        out = adapted.forward_func(*adapted.inputs, *adapted.additional_forward_args)
    expected = predicted[name] if name == "tft" else predicted[name].unsqueeze(-1)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-5)
    assert adapted.output_quantiles == ((0.1, 0.5, 0.9) if name == "tft" else (None,))


def test_inputs_names_and_time_stamps_follow_the_dataset(fitted):
    models, _, test, df, _ = fitted
    adapted = adapt(models["tft"], test.to_dataloader(train=False, batch_size=7))
    n = len(test)
    assert n == 2 * (N - L - H + 1) and len(adapted.series_ids) == n
    assert adapted.input_names == ("encoder_cont", "decoder_cont") and adapted.feature_names == (REALS, REALS)
    assert [tuple(x.shape) for x in adapted.inputs] == [(n, L, 4), (n, H, 4)]
    assert [a.dtype for a in adapted.additional_forward_args[:4]] == [torch.int64] * 4
    last = adapted.series_ids == "b"
    assert int(last.sum()) == n // 2 and adapted.series_ids[-1] == "b"
    np.testing.assert_array_equal(adapted.time_stamps[0][-1], np.arange(N - L - H, N - H))
    np.testing.assert_array_equal(adapted.forecast_time_stamps[-1], np.arange(N - H, N))
    truth = df[df.series == "b"].y.to_numpy()[-H:]
    torch.testing.assert_close(adapted.y_true[-1, :, 0], torch.tensor(truth, dtype=torch.float32))


def test_integrated_gradients_is_complete_through_the_adapter(fitted):
    models, _, test, _, _ = fitted
    adapted = adapt(models["tft"], test)
    target = adapted.target(step=H - 1, quantile=0.9)
    args = adapted.additional_forward_args
    baselines = tuple(0.8 * x for x in adapted.inputs)
    ig = IntegratedGradients(adapted.forward_func)
    attr = ig.attribute(
        adapted.inputs, baselines=baselines, target=target, additional_forward_args=args, n_steps=64
    )
    with torch.no_grad():
        gap = adapted.forward_func(*adapted.inputs, *args) - adapted.forward_func(*baselines, *args)
    total = sum(a.double().sum((1, 2)) for a in attr)
    torch.testing.assert_close(total, gap[:, H - 1, 2].double(), rtol=1e-2, atol=1e-3)
    frame = adapted.to_frame(attr, step=H - 1)
    row = frame[(frame.input == "decoder_cont") & (frame.example == 0) & (frame.feature == "time_idx")]
    assert row.time.tolist() == list(range(L, L + H))
    assert row.value.iloc[-1] == pytest.approx(float(attr[1][0, -1, 0]))


def test_quantile_targets_are_selectable_and_ambiguity_is_an_error(fitted):
    models, _, test, _, _ = fitted
    adapted = adapt(models["tft"], test)
    assert adapted.target(1, quantile=0.5) == (1, 1)
    with pytest.raises(ValueError, match=r"pass `quantile=` to choose one"):
        adapted.target(1)


def test_guided_absolute_grad_and_learned_mask_run_on_the_tuple_of_inputs(fitted):
    models, _, test, _, _ = fitted
    adapted = adapt(models["tft"], test)
    target, args = adapted.target(0, quantile=0.5), adapted.additional_forward_args
    check_gag_and_lpm_on_the_tuple(adapted, target, args)


@pytest.mark.parametrize("name", ["tft", "nhits"])
def test_ham_equals_the_per_cutoff_loop(fitted, name):
    models, _, test, _, _ = fitted
    adapted = adapt(models[name], test)
    y_true = adapted.y_true.expand(-1, -1, len(adapted.output_names))
    args = adapted.additional_forward_args
    res = HorizonActivationMap(adapted.forward_func).attribute(adapted.inputs, y_true, args)
    loop_c, loop_a, names = horizon_norms_loop(
        adapted.module, adapted.inputs, y_true, args, forward_func=adapted.forward_func
    )
    assert res.layer_names == tuple(names)
    scale = float(loop_c.abs().max())
    assert float((res.layer_causal - loop_c).abs().max()) < 1e-4 * scale
    assert float((res.layer_anticausal - loop_a).abs().max()) < 1e-4 * scale


def test_explain_horizons_on_a_fitted_model_maps_back_to_names(fitted):
    models, _, test, _, _ = fitted
    adapted = adapt(models["tft"], test)
    ig = IntegratedGradients(adapted.forward_func)
    res = explain_horizons(ig, adapted, steps=[0, H - 1], outputs=[1], n_steps=8)
    assert res.mean[1].shape == (2, 1, H, 4)
    direct = ig.attribute(
        adapted.inputs,
        target=adapted.target(H - 1, quantile=0.5),
        additional_forward_args=adapted.additional_forward_args,
        n_steps=8,
    )
    torch.testing.assert_close(res.mean[0][1, 0], direct[0].mean(0), rtol=1e-4, atol=1e-5)
    assert set(res.per_series) == {"a", "b"}
    assert set(res.to_frame().feature) == set(REALS)


def test_unusable_models_and_data_get_clear_errors(fitted):
    models, train, test, df, _ = fitted
    target_only = TimeSeriesDataSet(
        df,
        time_idx="time_idx",
        target="y",
        group_ids=["series"],
        max_encoder_length=L,
        max_prediction_length=H,
        time_varying_unknown_reals=["y"],
    )
    with pytest.raises(ValueError, match="decodes autoregressively"):
        adapt(DeepAR.from_dataset(target_only, hidden_size=4), target_only)
    with pytest.raises(ValueError, match=r"distribution loss \(NormalDistributionLoss\)"):
        adapt(NHiTS.from_dataset(train, hidden_size=4, loss=NormalDistributionLoss()), test)
    with pytest.raises(TypeError, match="must be a pytorch-forecasting model"):
        adapt(torch.nn.Linear(2, 2), test)
    with pytest.raises(TypeError, match="must be a TimeSeriesDataSet or its dataloader"):
        adapt(models["tft"], df)
    short = TimeSeriesDataSet.from_dataset(train, df, min_encoder_length=2, stop_randomization=True)
    with pytest.raises(ValueError, match="min_encoder_length=max_encoder_length"):
        adapt(models["tft"], short)
    with pytest.raises(ValueError, match="drops its last batch"):
        adapt(models["tft"], test.to_dataloader(train=True, batch_size=8))


def test_without_the_library_adapt_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytorch_forecasting", None)
    with pytest.raises(ImportError, match=r"pip install captum-ts\[pytorch-forecasting\]"):
        adapt(None, None)
