"""``visualize_timeseries_attr`` against Captum 0.9's own function: same signature, and
every span / line segment gets the colour Captum gives it, for every method and sign.

Captum's function needs ``matplotlib.cm.get_cmap`` (gone from matplotlib); the tests
restore that one name so Captum's code can run as the reference."""

import inspect
import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from captum.attr._utils import visualization as captum_viz
from matplotlib.collections import LineCollection, QuadMesh
from matplotlib.figure import Figure

from captum_ts.viz import visualize_timeseries_attr
from captum_ts.viz.timeseries import normalize_attr

METHODS = ("overlay_individual", "overlay_combined", "colored_graph")
SIGNS = ("absolute_value", "positive", "negative", "all")

T = np.linspace(0, 4, 12)
DATA = np.c_[np.sin(T), 2 + np.cos(T), T]  # (12, 3)
ATTR = np.c_[np.cos(3 * T), -np.sin(T) * 4, T - 2]  # both signs in every channel


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture
def captum_draws(monkeypatch):
    monkeypatch.setattr(captum_viz.cm, "get_cmap", matplotlib.colormaps.get_cmap, raising=False)

    def draw(**kwargs):
        fig = Figure(figsize=(6, 6))
        n = 1 if kwargs["method"] == "overlay_combined" else DATA.shape[1]
        axes = fig.subplots(n, sharex=True)
        return captum_viz.visualize_timeseries_attr(
            ATTR, DATA, plt_fig_axis=(fig, axes), use_pyplot=False, **kwargs
        )

    return draw


def _ours(**kwargs):
    return visualize_timeseries_attr(torch.tensor(ATTR), torch.tensor(DATA), use_pyplot=False, **kwargs)


def test_same_signature_as_captum():
    ours = inspect.signature(visualize_timeseries_attr).parameters
    theirs = inspect.signature(captum_viz.visualize_timeseries_attr).parameters
    assert list(ours) == list(theirs)
    assert [p.default for p in ours.values()] == [p.default for p in theirs.values()]
    assert [p.kind for p in ours.values()] == [p.kind for p in theirs.values()]


@pytest.mark.parametrize("sign", SIGNS)
@pytest.mark.parametrize("outlier_perc", [0, 2, 30])
def test_normalisation_equals_captums(sign, outlier_perc):
    for attr in (ATTR, ATTR.sum(1)):
        expected = captum_viz._normalize_attr(attr, sign, outlier_perc)
        np.testing.assert_allclose(normalize_attr(attr, sign, outlier_perc), expected, rtol=0, atol=1e-15)


@pytest.mark.filterwarnings("ignore:No artists with labels found")  # Captum's legend of unnamed lines
@pytest.mark.parametrize("sign", SIGNS)
@pytest.mark.parametrize("method", ["overlay_individual", "overlay_combined"])
def test_span_colours_equal_captums(captum_draws, method, sign):
    _, theirs = captum_draws(method=method, sign=sign)
    _, ours = _ours(method=method, sign=sign)
    for their_ax, our_ax in zip(np.ravel(theirs), np.ravel(ours)):
        expected = np.array([p.get_facecolor() for p in their_ax.patches])  # one axvspan per step
        (mesh,) = [c for c in our_ax.collections if isinstance(c, QuadMesh)]
        mesh.update_scalarmappable()  # what a draw does
        np.testing.assert_allclose(mesh.get_facecolors(), expected, rtol=0, atol=1e-12)
        # each span covers its step, midpoint to midpoint, the full height, behind the lines
        edges = mesh.get_coordinates()[0, :, 0]
        np.testing.assert_array_equal(edges, np.arange(-0.5, len(T)))  # x_values: 0..T-1
        assert mesh.get_zorder() < min(line.get_zorder() for line in our_ax.lines)
    lines = [line.get_ydata() for ax in np.ravel(ours) for line in ax.lines]
    np.testing.assert_array_equal(np.stack(lines), DATA.T)


@pytest.mark.parametrize("sign", SIGNS)
def test_coloured_graph_colours_equal_captums(captum_draws, sign):
    _, theirs = captum_draws(method="colored_graph", sign=sign)
    _, ours = _ours(method="colored_graph", sign=sign)
    for chan, (their_ax, our_ax) in enumerate(zip(theirs, ours)):
        (their_lc,) = their_ax.collections
        (our_lc,) = [c for c in our_ax.collections if isinstance(c, LineCollection)]
        np.testing.assert_allclose(our_lc.get_array(), their_lc.get_array(), rtol=0, atol=1e-15)
        np.testing.assert_allclose(
            our_lc.to_rgba(our_lc.get_array()), their_lc.to_rgba(their_lc.get_array()), rtol=0, atol=0
        )
        # step t is drawn through its own point, from the midpoint before it to the one after
        segments = our_lc.get_segments()
        assert len(segments) == len(T)  # Captum draws T - 1: the last step had no colour
        np.testing.assert_allclose([seg[1] for seg in segments], np.c_[np.arange(len(T)), DATA[:, chan]])
        lo, hi = our_ax.get_ylim()
        assert lo < DATA[:, chan].min() and hi > DATA[:, chan].max()  # Captum: 1.2 x min, hides data > 0


def test_returns_the_given_figure_and_axes_and_shows_only_with_pyplot(monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(True))
    fig = Figure()
    axes = fig.subplots(3)
    assert _ours(plt_fig_axis=(fig, axes)) == (fig, axes)
    figures = plt.get_fignums()
    fig, ax = _ours(method="overlay_combined", title="t", show_colorbar=True)
    assert shown == [] and plt.get_fignums() == figures  # nothing in pyplot, nothing shown
    assert ax.get_title() == "t" and len(fig.axes) == 2
    assert fig.axes[1].get_xlabel() == "|attribution|, normalised (summed over channels)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["channel 0", "channel 1", "channel 2"]
    fig, axes = visualize_timeseries_attr(ATTR, DATA, channel_labels=["a", "b", "c"], fig_size=(4, 3))
    assert shown == [True] and plt.fignum_exists(fig.number) and tuple(fig.get_size_inches()) == (4, 3)
    assert [ax.get_ylabel() for ax in axes] == ["a", "b", "c"]


def test_channels_first_x_values_and_kwargs():
    x = np.r_[0.0, 1.0, 3.0, 7.0]
    _, axes = visualize_timeseries_attr(
        ATTR[:4].T, DATA[:4].T, x_values=x, channels_last=False, use_pyplot=False, linewidth=3
    )
    line = axes[1].lines[0]
    np.testing.assert_array_equal(line.get_xdata(), x)
    np.testing.assert_array_equal(line.get_ydata(), DATA[:4, 1])
    assert line.get_linewidth() == 3
    (mesh,) = axes[1].collections
    np.testing.assert_allclose(mesh.get_coordinates()[0, :, 0], [-0.5, 0.5, 2.0, 5.0, 9.0])
    assert axes[1].get_xlim() == (-0.5, 9.0)


def test_no_value_of_the_sign_draws_a_blank_overlay_with_a_warning():
    with pytest.warns(UserWarning, match=re.escape("`attr` has no positive attribution values to show")):
        _, ax = visualize_timeseries_attr(-np.abs(ATTR), DATA, sign="positive", use_pyplot=False)
    np.testing.assert_array_equal(ax[0].collections[0].get_array(), 0.0)


def test_one_step_series():
    with pytest.warns(UserWarning, match="Number of channels"):
        _, axes = visualize_timeseries_attr(np.ones((1, 2)), np.ones((1, 2)), use_pyplot=False)
    assert axes[0].get_xlim() == (-0.5, 0.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"method": "heat_map"}, ValueError, "`method` must be one of ('overlay_individual', "),
        (
            {"sign": "abs"},
            ValueError,
            "`sign` must be one of ('absolute_value', 'positive', 'negative', 'all')",
        ),
        ({"outlier_perc": 100}, ValueError, "`outlier_perc` must be in [0, 100), got 100."),
        ({"alpha_overlay": 1.5}, ValueError, "`alpha_overlay` must be in [0, 1], got 1.5."),
        ({"attr": ATTR[:, :2]}, ValueError, "`attr` has 2 channels x 12 steps but `data` has 3 x 12"),
        ({"attr": ATTR[None].repeat(2, 0)}, ValueError, "`attr` must hold one series, shape (T,), (T, F)"),
        ({"data": np.full((12, 3), np.nan)}, ValueError, "`data` holds nan at index (0, 0)"),
        ({"x_values": np.arange(11)}, ValueError, "`x_values` has 11 points but the series has 12 steps."),
        ({"x_values": np.arange(12)[::-1]}, ValueError, "`x_values` must be strictly increasing."),
        ({"channel_labels": ["a"]}, ValueError, "`channel_labels` has 1 entries but there are 3 channels."),
        (
            {"plt_fig_axis": (Figure(), None)},
            ValueError,
            "`plt_fig_axis` must hold 3 axes for this method, got 1.",
        ),
        ({"plt_fig_axis": Figure()}, TypeError, "`plt_fig_axis` must be a tuple (figure, axis or axes)."),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, message):
    call = {"attr": ATTR, "data": DATA, "use_pyplot": False, **kwargs}
    with pytest.raises(error, match=re.escape(message)):
        visualize_timeseries_attr(**call)


def test_more_channels_than_steps_warns_like_captum():
    with pytest.warns(UserWarning, match=r"Number of channels \(3\) greater than time series length \(2\)"):
        visualize_timeseries_attr(ATTR[:2], DATA[:2], use_pyplot=False)
