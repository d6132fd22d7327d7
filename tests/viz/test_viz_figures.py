"""Every public figure of ``captum_ts.viz``, found through ``__all__`` (a new plot without a
case here fails), rendered on small input and held to the house rules: the PNG has the
size the figure says, nothing is cut off at the figure's edge, every line is named (in a
legend, or by its axes' y label / tick label), no text is under 8 pt, titles, labels and
legends do not overlap, counts get integer ticks, and signed data is drawn on a diverging
scale centred at 0 while non-negative data starts at 0."""

import io
import itertools
import struct
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

import captum_ts.viz as viz
from captum_ts.attr.horizon.result import HorizonActivationResult
from captum_ts.metrics.rcap import RCAPResult

RNG = np.random.default_rng(0)
X = np.c_[3 * np.sin(np.arange(24) / 3), RNG.normal(size=24) * 0.1]  # (24, 2), very different amplitudes
SIGNED = np.c_[np.cos(np.arange(24) / 3), -np.abs(RNG.normal(size=24))]
BATCH = RNG.normal(size=(4, 24, 2))
CURVES = np.cumsum(-RNG.random((5, 6)), 1)  # (B, S)
HAM = HorizonActivationResult(
    torch.tensor([0.0, 1.0, 1.5, 2.0])[:, None, None].repeat(1, 1, 3) * torch.tensor([1.0, 2.0, 0.5]),
    torch.tensor([2.0, 1.0, 0.5, 0.0])[:, None, None].repeat(1, 1, 3),
    ("0.weight", "0.bias", "2.weight"),
)
RCAP = RCAPResult(
    score=torch.tensor([0.2, 0.6, 0.4]),
    hit_rate=torch.rand(3, 4, generator=torch.Generator().manual_seed(0)),
    probability=torch.rand(3, 4, generator=torch.Generator().manual_seed(1)),
    levels=torch.tensor([0.9, 0.8, 0.7, 0.6]),
    used=torch.ones(3, 4, dtype=torch.bool),
)

HORIZONS = SimpleNamespace(  # what explain_horizons returns: (steps, outputs, lags, features) cubes
    mean=(torch.tensor(RNG.normal(size=(3, 1, 12, 2))),),
    abs_mean=(torch.tensor(RNG.random((3, 1, 12, 2))),),
    steps=(0, 1, 2),
    input_names=("past target",),
    feature_names=(("a", "b"),),
)


def _fig(drawn):
    return drawn if isinstance(drawn, plt.Figure) else np.ravel(drawn)[-1].figure


# name -> (draw, what it is given: "signed", "non-negative" or None for maps without a colour scale)
CASES = {
    "plot_attribution": (lambda: viz.plot_attribution(X, SIGNED, title="a map"), "signed"),
    "plot_attribution_comparison": (
        lambda: viz.plot_attribution_comparison(
            X, {"signed": SIGNED, "abs": np.abs(SIGNED)}, saliency=np.abs(SIGNED) > 0.5, suptitle="suptitle"
        ),
        "mixed",
    ),
    "plot_border_dreams": (
        lambda: viz.plot_border_dreams(BATCH, BATCH * 0.5, before=[0.9] * 4, after=[0.4] * 4, suptitle="s"),
        None,
    ),
    "plot_cumulative_curves": (
        lambda: viz.plot_cumulative_curves({"a": -CURVES, "b": -CURVES[:, ::-1]}),
        None,
    ),
    "plot_dream_trajectory": (
        lambda: viz.plot_dream_trajectory(CURVES.T, labels=[0, 1, 1, 0, 1], title="t"),
        None,
    ),
    "plot_dreams": (
        lambda: viz.plot_dreams(BATCH, [0, 1, 0, 1], reference=(BATCH, [1, 1, 0, 0]), suptitle="dreams"),
        None,
    ),
    "plot_ham_difference": (lambda: viz.plot_ham_difference({"a": HAM, "b": HAM}, title="difference"), None),
    "plot_ham_layers": (lambda: viz.plot_ham_layers(HAM), None),
    "plot_horizon_activation_map": (
        lambda: viz.plot_horizon_activation_map({"a": HAM, "b": HAM}, normalize=True, title="HAM"),
        None,
    ),
    "plot_mask_over_states": (
        lambda: viz.plot_mask_over_states(
            X, np.abs(SIGNED) / 2, saliency=np.abs(SIGNED) > 1, states=np.arange(24) // 12, title="mask"
        ),
        None,
    ),
    "plot_rcap": (
        lambda: viz.plot_rcap(
            {"Guided AbsoluteGrad": RCAP, "Saliency (abs)": RCAP, "SmoothGrad": RCAP}, title="RCAP"
        ),
        None,
    ),
    "plot_regularizer_comparison": (
        lambda: viz.plot_regularizer_comparison(
            {"a": BATCH, "b": BATCH / 2}, n_cols=1, suptitle="regularisers"
        ),
        None,
    ),
    "plot_selectivity_curves": (lambda: viz.plot_selectivity_curves({"a": CURVES, "b": CURVES[:3]}), None),
    "plot_horizon_lag_heatmap": (lambda: viz.plot_horizon_lag_heatmap(HORIZONS, statistic="mean"), "signed"),
    "plot_importance_over_time": (lambda: viz.plot_importance_over_time(HORIZONS), None),
    "visualize_timeseries_attr": (
        lambda: visualize_all(
            method="overlay_individual", show_colorbar=True, title="t", channel_labels=["a", "b"]
        ),
        "signed",
    ),
}
EXTRA = {  # the other methods of visualize_timeseries_attr, under the same rules
    "visualize_timeseries_attr[overlay_combined]": (
        lambda: visualize_all(method="overlay_combined", show_colorbar=True, title="t"),
        "signed",
    ),
    "visualize_timeseries_attr[colored_graph]": (
        lambda: visualize_all(method="colored_graph", show_colorbar=True, title="t"),
        "signed",
    ),
    "plot_attribution[non-negative]": (lambda: viz.plot_attribution(X, np.abs(SIGNED)), "non-negative"),
}
INTEGER_X = {  # axes whose x-axis counts something (steps, regions, points, cut-offs)
    "plot_attribution",
    "plot_attribution_comparison",
    "plot_border_dreams",
    "plot_cumulative_curves",
    "plot_dream_trajectory",
    "plot_dreams",
    "plot_ham_difference",
    "plot_ham_layers",
    "plot_horizon_activation_map",
    "plot_mask_over_states",
    "plot_regularizer_comparison",
    "plot_selectivity_curves",
    "plot_horizon_lag_heatmap",
    "plot_importance_over_time",
    "visualize_timeseries_attr",
}


def visualize_all(**kwargs):
    return viz.visualize_timeseries_attr(SIGNED, X, sign="all", use_pyplot=False, fig_size=(6, 4), **kwargs)[
        0
    ]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_every_public_plot_has_a_case():
    assert sorted(CASES) == sorted(viz.__all__)


def _render(name):
    draw, _ = {**CASES, **EXTRA}[name]
    fig = _fig(draw())
    if not isinstance(fig.canvas, FigureCanvasAgg):  # a figure made without pyplot
        FigureCanvasAgg(fig)
    dpi = 40
    fig.set_dpi(dpi)  # one draw, at the saving dpi, serves every measurement
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    width, height = struct.unpack(">II", buffer.getvalue()[16:24])
    return fig, (width, height), dpi


def _texts(fig):
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _boxes(fig, renderer):
    """Titles, suptitle, axis labels, x tick labels and legends: what must not overlap."""
    items = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for part in (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label):
            if part.get_visible() and part.get_text():
                items.append((part.get_text(), part.get_window_extent(renderer)))
        lo, hi = sorted(ax.get_xlim())
        for tick in ax.xaxis.get_major_ticks():
            label = tick.label1
            if lo <= tick.get_loc() <= hi and label.get_visible() and label.get_text():
                items.append((label.get_text(), label.get_window_extent(renderer)))
        for child in ax.child_axes:
            if child.xaxis.label.get_text():
                items.append((child.xaxis.label.get_text(), child.xaxis.label.get_window_extent(renderer)))
    if fig._suptitle is not None:
        items.append((fig._suptitle.get_text(), fig._suptitle.get_window_extent(renderer)))
    for legend in fig.findobj(Legend):
        items.append(("legend", legend.get_window_extent(renderer)))
    return items


ALL = sorted({**CASES, **EXTRA})


@pytest.mark.parametrize("name", ALL)
def test_figure_follows_the_house_rules(name):
    fig, (width, height), dpi = _render(name)
    inches = fig.get_size_inches()
    assert (width, height) == (round(inches[0] * dpi), round(inches[1] * dpi))
    renderer = fig.canvas.get_renderer()
    small = {t.get_text(): t.get_fontsize() for t in _texts(fig) if t.get_fontsize() < 8}
    assert small == {}, f"text under 8 pt: {small}"
    boxes = _boxes(fig, renderer)
    inside = fig.bbox.padded(1)
    cut = [
        label
        for label, box in boxes
        if not (inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1))
    ]
    assert cut == [], f"cut off at the figure's edge: {cut}"
    clashes = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]
    assert clashes == [], f"overlapping: {clashes}"
    assert _unnamed_lines(fig) == []
    if name.split("[")[0] in INTEGER_X:
        _check_integer_ticks(fig)
    kind = {**CASES, **EXTRA}[name][1]
    if kind is not None:
        _check_colour_scales(fig)


def _unnamed_lines(fig):
    """Lines named neither in a legend nor by their axes' y label or tick labels."""
    legend_texts = {t.get_text() for legend in fig.findobj(Legend) for t in legend.get_texts()}
    unnamed = []
    for ax in fig.axes:
        ticks = " ".join(t.get_text() for t in ax.get_yticklabels())
        for line in ax.get_lines():
            if not line.get_visible() or line.get_linestyle() in ("None", "none", ""):
                continue  # error-bar caps, markers only
            if line.get_transform() != ax.transData:
                continue  # axhline / axvline guides
            label = str(line.get_label())
            named = not label.startswith("_") and (
                label in legend_texts or label == ax.get_ylabel() or label in ticks
            )
            if not named:
                unnamed.append(label)
    return unnamed


def _check_integer_ticks(fig):
    for ax in fig.axes:
        if ax.get_visible() and ax.get_xlabel() and ax.get_label() != "<colorbar>":
            locator = ax.xaxis.get_major_locator()
            assert isinstance(locator, MaxNLocator) and locator._integer, ax.get_xlabel()


def _check_colour_scales(fig):
    mappables = [m for ax in fig.axes for m in (*ax.images, *ax.collections) if _has_array(m)]
    assert mappables
    for m in mappables:
        values = np.asarray(m.get_array())
        if (values < 0).any():  # signed: diverging, symmetric, 0 in the middle, a neutral colour at 0
            assert m.norm.vmin == -m.norm.vmax and m.norm(0.0) == 0.5
            r, g, b, _ = m.cmap(0.5)
            assert min(r, g, b) > 0.9, "the centre of a diverging scale is near white"
        else:
            assert m.norm.vmin == 0.0


def _has_array(artist):
    return (not isinstance(artist, Collection) or artist.get_array() is not None) and hasattr(artist, "norm")


def test_the_rules_catch_what_they_are_for():
    """The checks fail on the faults they exist for: an unnamed line, a title on a title."""
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="named")
    ax.plot([0, 1], [1, 0])
    ax.legend()
    assert _unnamed_lines(fig) == ["_child1"]
    fig.suptitle("one", y=0.9)
    ax.set_title("two")
    fig.canvas.draw()
    texts = [label for label, _ in _boxes(fig, fig.canvas.get_renderer())]
    boxes = dict(_boxes(fig, fig.canvas.get_renderer()))
    assert "one" in texts and boxes["one"].overlaps(boxes["two"])
