"""explain_horizons: every (step, output) of a forecaster over a dataset, vectorised over
steps, equal to one call per step; aggregated per series; streamed to files; plotted."""

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients, Saliency

from captum_ts import GuidedAbsoluteGrad, explain_horizons
from captum_ts.adapters import AdaptedModel
from captum_ts.models.forecasters import MLPForecaster
from captum_ts.viz import plot_horizon_lag_heatmap, plot_importance_over_time

T, H, V, B = 6, 4, 2, 7


class _Counting(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net, self.calls = MLPForecaster(T, H, V, hidden=(8,)), 0

    def forward(self, x, static):
        self.calls += 1
        return self.net(x) + static[:, None, :].sum(-1, keepdim=True)


def _adapted(model):
    x, static = torch.randn(B, T, V), torch.randn(B, 3)
    return AdaptedModel(
        forward_func=model,
        inputs=(x, static),
        input_names=("past", "static"),
        feature_names=(("a", "b"), ("s0", "s1", "s2")),
        time_stamps=(np.arange(B * T).reshape(B, T), None),
        series_ids=np.array(["u", "v", "u", "v", "u", "v", "w"], dtype=object),
        output_names=("a", "b"),
        y_true=torch.randn(B, H, V),
        horizon=H,
        module=model,
    )


def _direct(model, adapted, method, step, out):
    return method(model).attribute(adapted.inputs, target=(step, out), abs=False)


def test_mean_equals_direct_per_step_attributions_and_uses_one_call_per_batch():
    model = _Counting()
    adapted = _adapted(model)
    res = explain_horizons(Saliency(model), adapted, batch_size=4, abs=False)
    assert model.calls == 2  # two batches, all 8 (step, output) pairs in each call
    assert res.mean[0].shape == (H, V, T, V) and res.mean[1].shape == (H, V, 3)
    for step in range(H):
        for out in range(V):
            direct = _direct(model, adapted, Saliency, step, out)
            torch.testing.assert_close(res.mean[0][step, out], direct[0].mean(0))
            torch.testing.assert_close(res.abs_mean[1][step, out], direct[1].abs().mean(0))
    u = torch.tensor([0, 2, 4])
    direct = _direct(model, adapted, Saliency, 1, 0)
    torch.testing.assert_close(res.per_series["u"][0][1, 0], direct[0][u].mean(0))
    assert set(res.per_series) == {"u", "v", "w"}


def test_vectorised_equals_one_call_per_pair_and_integrated_gradients_is_complete():
    model = _Counting()
    adapted = _adapted(model)
    ig = IntegratedGradients(model)
    kw = {"n_steps": 16, "method": "gausslegendre"}
    fast = explain_horizons(ig, adapted, steps=[0, 3], outputs=[1], **kw)
    slow = explain_horizons(ig, adapted, steps=[0, 3], outputs=[1], vectorize=False, **kw)
    for a, b in zip(fast.mean, slow.mean):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    total = fast.mean[0].sum((-1, -2)) + fast.mean[1].sum(-1)
    with torch.no_grad():
        gap = model(*adapted.inputs) - model(*(torch.zeros_like(x) for x in adapted.inputs))
    torch.testing.assert_close(total[:, 0], gap[:, [0, 3], 1].mean(0), atol=1e-3, rtol=1e-3)


def test_stochastic_methods_stream_to_files_and_resume(tmp_path):
    model = _Counting()
    adapted = _adapted(model)
    gag = GuidedAbsoluteGrad(model)

    def run():
        kw = {"out": tmp_path / "a", "seed": 3, "nt_samples": 4, "resume": True}
        return explain_horizons(gag, adapted, steps=[2], batch_size=3, **kw)

    first = run()
    calls = model.calls
    second = run()  # finished: only the first batch is recomputed (for its shape)
    assert (tmp_path / "a_0.npy").exists() and model.calls - calls == calls // 3
    for a, b in zip(first.abs_mean, second.abs_mean):
        torch.testing.assert_close(a, b)
    frame = first.to_frame("abs_mean")
    past = frame[frame.input == "past"]
    assert len(past) == 1 * V * T * V and set(past.lag) == set(range(-T, 0))
    assert frame[frame.input == "static"].lag.isna().all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"steps": [H]}, r"`steps` must lie in \[0, 4\)"), ({"outputs": []}, "`outputs` must be a non-empty")],
)
def test_bad_steps_and_outputs_are_named(kwargs, match):
    model = _Counting()
    with pytest.raises(ValueError, match=match):
        explain_horizons(Saliency(model), _adapted(model), **kwargs)


def test_plots_show_the_cube():
    model = _Counting()
    res = explain_horizons(Saliency(model), _adapted(model), outputs=[0])
    ax = plot_horizon_lag_heatmap(res, input="past", feature=1)
    np.testing.assert_allclose(ax.images[0].get_array(), res.abs_mean[0][:, 0, :, 1].double().numpy())
    ax = plot_importance_over_time(res)
    np.testing.assert_allclose(
        ax.lines[-1].get_ydata(), res.abs_mean[0][:, 0].sum(-1).mean(0).double().numpy()
    )
    with pytest.raises(ValueError, match="no time axis"):
        plot_horizon_lag_heatmap(res, input="static")
