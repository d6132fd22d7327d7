"""The plots take whatever the methods return (float16, bfloat16, int, bool tensors; tensors
that require grad; non-contiguous tensors), draw exactly those values, never change their
inputs, and refuse what cannot be drawn (complex, text, NaN, Inf, empty batches, zero-length
series, labels or names that do not match) with an error naming the argument, before any
figure is made."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from captum_ts.viz import (
    plot_attribution,
    plot_attribution_comparison,
    plot_border_dreams,
    plot_dream_trajectory,
    plot_dreams,
    plot_horizon_activation_map,
    plot_mask_over_states,
    plot_rcap,
    plot_regularizer_comparison,
    plot_selectivity_curves,
)

VALUES = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # (4, 3)

DTYPES = {
    "float16": lambda t: t.half(),
    "bfloat16": lambda t: t.bfloat16(),
    "int64": lambda t: t.long(),
    "bool": lambda t: t.bool(),
    "grad_non_contiguous": lambda t: t.T.contiguous().T.requires_grad_(),
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _snapshot(value):
    return (value.detach().clone(), value.dtype, value.stride(), value.requires_grad, value.grad)


def _same(value, snap):
    data, dtype, stride, requires_grad, grad = snap
    return (
        torch.equal(value.detach(), data)
        and value.dtype == dtype
        and value.stride() == stride
        and value.requires_grad == requires_grad
        and value.grad is grad
    )


# every plot called on one "kind" of values; returns the y-data it drew, to compare with VALUES
def _attribution(v):
    ax = plot_attribution(v, v)
    return np.stack([line.get_ydata() for line in ax.lines], 1), ax.images[0].get_array().T


def _mask(v):
    fig = plot_mask_over_states(v, v, saliency=v, states=v[:, 0])
    return np.stack([ax.lines[0].get_ydata() for ax in fig.axes[1:4]], 1), None


def _dreams(v):
    fig = plot_dreams(v, labels=[0, 0, 1, 1])
    return np.stack([line.get_ydata() for line in fig.axes[0].lines[:2] + fig.axes[1].lines[:2]]), None


def _trajectory(v):
    ax = plot_dream_trajectory(v, labels=[0, 1, 1])
    return np.stack([line.get_ydata() for line in ax.lines], 1), None


def _border(v):
    fig = plot_border_dreams(
        v,
        v,
        before=v[:, 0],
        after=v[:, 1],
        n_cols=2,
    )
    return np.stack([ax.lines[0].get_ydata() for ax in fig.axes]), None


def _regularizers(v):
    fig = plot_regularizer_comparison({"a": v})
    return np.stack([line.get_ydata() for line in fig.axes[0].lines]), None


def _selectivity(v):
    ax = plot_selectivity_curves({"m": v}, band=False)
    return ax.lines[0].get_ydata()[None], None


PLOTS = {
    "attribution": (_attribution, lambda x: x),
    "mask_over_states": (_mask, lambda x: x),
    "dreams": (_dreams, lambda x: x),
    "dream_trajectory": (_trajectory, lambda x: x.T.T),
    "border_dreams": (_border, lambda x: x),
    "regularizer_comparison": (_regularizers, lambda x: x),
    "selectivity_curves": (_selectivity, lambda x: x.mean(0, keepdims=True)),
}


@pytest.mark.parametrize("kind", sorted(DTYPES))
@pytest.mark.parametrize("plot", sorted(PLOTS))
def test_every_dtype_is_drawn_exactly_and_left_unchanged(plot, kind):
    draw, expected = PLOTS[plot]
    value = DTYPES[kind](VALUES)
    snap = _snapshot(value)
    drawn, image = draw(value)
    if plot == "attribution":  # each band is min-max scaled into [0.1, 0.9] above its bottom
        drawn = (drawn - drawn.min(0)) / 0.8
        np.testing.assert_array_equal(image, VALUES.numpy())
    np.testing.assert_allclose(drawn, expected(VALUES.numpy()), rtol=0, atol=1e-12)
    assert _same(value, snap)


def test_plot_rcap_takes_bfloat16_scores_and_level_tensors():
    from captum_ts.metrics.rcap import RCAPResult

    res = RCAPResult(
        score=torch.tensor([0.25, 0.75]).bfloat16().requires_grad_(),
        hit_rate=torch.ones(2, 3, dtype=torch.float16),
        probability=torch.full((2, 3), 0.5).T.contiguous().T,
        levels=torch.tensor([0.9, 0.7, 0.5]),
        used=torch.tensor([[True, True, False], [True, True, True]]),
    )
    fig = plot_rcap({"m": res, "ints": torch.tensor([1, 0])})
    assert [p.get_width() for p in fig.axes[0].patches] == [0.5, 0.5]
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), [0.5, 0.5, 0.5])


class _FakeHAM:
    horizon = 3

    def __init__(self, causal):
        self.causal = causal

    def curve(self, mode, variate=None, layer=None):
        return self.causal if mode == "causal" else self.causal.flip(0)

    def normalized(self):
        return self


def test_horizon_plots_take_half_precision_and_refuse_nan():
    ax = plot_horizon_activation_map(
        _FakeHAM(torch.tensor([0.0, 1.0, 2.0, 4.0]).bfloat16()), proportionality=False
    )
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [0.0, 1.0, 2.0, 4.0])
    with pytest.raises(
        ValueError, match=re.escape("`results['model'].curve('causal')` holds nan at index (1,)")
    ):
        plot_horizon_activation_map(_FakeHAM(torch.tensor([0.0, float("nan"), 2.0, 4.0])))
    with pytest.raises(
        ValueError, match=r"`modes` must be a non-empty sequence of 'causal'/'anticausal', got 'causal'"
    ):
        plot_horizon_activation_map(_FakeHAM(torch.arange(4.0)), modes="causal")


S = np.sin(np.arange(20) / 3)
BATCH = np.random.default_rng(0).normal(size=(4, 20))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: plot_attribution(S, torch.ones(20, dtype=torch.complex64)),
            TypeError,
            "`attribution` is complex (torch.complex64); plot its `.real`, `.imag` or `.abs()`.",
        ),
        (lambda: plot_attribution(S, np.ones(20) * 1j), TypeError, "`attribution` is complex (complex128)"),
        (
            lambda: plot_attribution(S, ["a"] * 20),
            TypeError,
            "`attribution` must hold numbers, got list of dtype <U1.",
        ),
        (
            lambda: plot_attribution(None, S),
            TypeError,
            "`series` must hold numbers, got NoneType of dtype object.",
        ),
        (
            lambda: plot_attribution(S, [[1.0], [1.0, 2.0]]),
            ValueError,
            "`attribution` is not a regular array of numbers",
        ),
        (
            lambda: plot_attribution(S, np.full(20, np.nan)),
            ValueError,
            "`attribution` holds nan at index (0,); plots need finite values (NaN or Inf cannot be drawn).",
        ),
        (
            lambda: plot_attribution(np.r_[S[:5], np.inf, S[6:]], S),
            ValueError,
            "`series` holds inf at index (5,)",
        ),
        (
            lambda: plot_attribution(np.zeros(0), np.zeros(0)),
            ValueError,
            "`series` has 0 time steps and 1 features; nothing to draw.",
        ),
        (
            lambda: plot_attribution(np.zeros((20, 2)), np.zeros((20, 2)), feature_names=["a"]),
            ValueError,
            "`feature_names` has 1 entries but there are 2 features.",
        ),
        (
            lambda: plot_attribution(np.zeros((20, 2)), np.zeros((20, 2)), feature_names="ab"),
            ValueError,
            "`feature_names` has a string but there are 2 features.",
        ),
        (
            lambda: plot_attribution_comparison(S, [S]),
            TypeError,
            "`attributions` must be a mapping {name: map}, got list.",
        ),
        (
            lambda: plot_mask_over_states(S, S, states=np.zeros(19)),
            ValueError,
            "`states` has 19 steps but the series has 20.",
        ),
        (
            lambda: plot_mask_over_states(S, S, feature_names=["a", "b"]),
            ValueError,
            "`feature_names` has 2 entries but there are 1 features.",
        ),
        (
            lambda: plot_dreams(np.zeros((0, 20))),
            ValueError,
            "`dreams` is an empty batch (shape (0, 20, 1)); nothing to draw.",
        ),
        (
            lambda: plot_dreams(np.zeros((3, 0))),
            ValueError,
            "`dreams` has shape (3, 0, 1) (N, T, F): a zero-length axis; nothing to draw.",
        ),
        (
            lambda: plot_dreams(torch.full((2, 5), float("nan"))),
            ValueError,
            "`dreams` holds nan at index (0, 0)",
        ),
        (
            lambda: plot_dreams(BATCH, labels=[0, 1, 1]),
            ValueError,
            "`labels` has 3 entries but there are 4 series.",
        ),
        (
            lambda: plot_dreams(BATCH, labels=[0, 0.5, 1, 1]),
            ValueError,
            "`labels` must be class indices (integers >= 0), got [0.0, 0.5, 1.0, 1.0].",
        ),
        (
            lambda: plot_dreams(BATCH, labels=[0, -1, 1, 1]),
            ValueError,
            "`labels` must be class indices (integers >= 0)",
        ),
        (
            lambda: plot_dreams(BATCH, labels=[0, 1, 2, 2], class_names=["a", "b"]),
            ValueError,
            "`class_names` has 2 entries but the labels go up to 2.",
        ),
        (
            lambda: plot_dreams(BATCH, feature_names=["a", "b"]),
            ValueError,
            "`feature_names` has 2 entries but there are 1 features.",
        ),
        (
            lambda: plot_dreams(BATCH, reference=(BATCH, [0])),
            ValueError,
            "`reference[1]` has 1 entries but there are 4 series.",
        ),
        (
            lambda: plot_dream_trajectory(np.zeros((0, 3))),
            ValueError,
            "`trajectory` must have shape (steps, B) with steps, B >= 1; got (0, 3).",
        ),
        (
            lambda: plot_dream_trajectory(np.zeros((5, 2)), labels=[0, 1, 1]),
            ValueError,
            "`labels` has 3 entries but there are 2 series.",
        ),
        (
            lambda: plot_dream_trajectory(np.zeros((5, 2)), labels=[0, 3], class_names=["a"]),
            ValueError,
            "`class_names` has 1 entries but the labels go up to 3.",
        ),
        (
            lambda: plot_border_dreams(BATCH, BATCH, before=[0.5] * 4),
            ValueError,
            "pass both `before` and `after`",
        ),
        (
            lambda: plot_border_dreams(BATCH, BATCH, before=[0.5] * 3, after=[0.5] * 4),
            ValueError,
            "`before` has 3 entries but there are 4 series.",
        ),
        (
            lambda: plot_border_dreams(BATCH, BATCH, feature=0.0),
            TypeError,
            "`feature` must be an integer, got 0.0.",
        ),
        (
            lambda: plot_border_dreams(BATCH, BATCH, feature=1),
            ValueError,
            "`feature`=1 is out of range for 1 features.",
        ),
        (
            lambda: plot_border_dreams(BATCH, BATCH, n_cols=0),
            ValueError,
            "`n_cols` must be a positive integer (>= 1), got 0.",
        ),
        (
            lambda: plot_regularizer_comparison([BATCH]),
            TypeError,
            "`dreams` must be a mapping {name: sequences}, got list.",
        ),
        (
            lambda: plot_regularizer_comparison({"a": BATCH, "b": BATCH[:, :, None].repeat(2, 2)}, feature=1),
            ValueError,
            "`feature`=1 is out of range for 1 features in `dreams['a']`.",
        ),
        (
            lambda: plot_selectivity_curves({"m": np.zeros((0, 4))}),
            ValueError,
            "`results['m']` must hold curves (B, S) or (S,) with B >= 1 and S >= 2, got (0, 4).",
        ),
        (
            lambda: plot_selectivity_curves({"m": np.ones(4)}, x_values=[0, 1, 2]),
            ValueError,
            "`x_values` has 3 points but the curves of 'm' have 4.",
        ),
        (
            lambda: plot_selectivity_curves({"m": np.ones(4)}, x_values=[0, 1, np.nan, 3]),
            ValueError,
            "`x_values` holds nan at index (2,)",
        ),
        (
            lambda: plot_selectivity_curves([np.ones(4)]),
            TypeError,
            "`results` must be a mapping {method: curves}, got list.",
        ),
        (
            lambda: plot_rcap({"m": np.zeros(0)}),
            ValueError,
            "`results['m']` holds no scores; nothing to draw.",
        ),
        (
            lambda: plot_rcap({"m": np.array([0.5, np.nan])}),
            ValueError,
            "`results['m']` holds nan at index (1,)",
        ),
    ],
)
def test_refused_before_any_figure_is_made(call, error, message):
    figures = plt.get_fignums()
    with pytest.raises(error, match=re.escape(message)):
        call()
    assert plt.get_fignums() == figures


def test_inputs_are_not_shared_with_the_figure():
    series = np.sin(np.arange(10.0))
    ax = plot_attribution(series, np.abs(series))
    drawn = ax.lines[0].get_ydata().copy()
    series[:] = 0.0  # the caller reuses its buffer: the figure keeps what was drawn
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), drawn)
