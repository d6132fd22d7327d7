"""Selectivity curves and RCAP plots: what they draw."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from captum_ts.metrics import rcap, selectivity
from captum_ts.viz.rcap import plot_rcap
from captum_ts.viz.selectivity import plot_selectivity_curves


def results():
    torch.manual_seed(0)
    x = torch.rand(5, 12, 2)
    w = torch.rand(12, 2)
    model = lambda z: torch.stack([-(z * w).flatten(1).sum(1), (z * w).flatten(1).sum(1)], 1)  # noqa: E731
    maps = {"oracle": x * w, "random": torch.rand(5, 12, 2)}
    sel = {k: selectivity(model, x, a, target=1, n_steps=6) for k, a in maps.items()}
    rc = {k: rcap(model, x, a, target=1, return_levels=True) for k, a in maps.items()}
    return sel, rc


def test_selectivity_curves_one_mean_line_and_band_per_method():
    sel, _ = results()
    ax = plot_selectivity_curves(sel, title="t")
    assert len(ax.lines) == 2 and len(ax.collections) == 2
    np.testing.assert_allclose(ax.lines[0].get_ydata(), sel["oracle"].curve.mean(0).numpy(), rtol=1e-6)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("oracle (AUC") and "AOPC" in labels[0]
    plt.close(ax.figure)


def test_selectivity_curves_take_arrays_and_x_values():
    ax = plot_selectivity_curves({"d": np.array([[1.0, 0.5, 0.2]])}, x_values=[0.0, 0.1, 0.2], band=False)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [0.0, 0.1, 0.2])
    assert ax.get_xlabel() == "share removed"
    with pytest.raises(ValueError, match="x_values"):
        plot_selectivity_curves({"d": np.ones((1, 3))}, x_values=[0.0, 1.0])
    with pytest.raises(ValueError, match="empty"):
        plot_selectivity_curves({})
    plt.close("all")


def test_rcap_bars_and_levels():
    _, rc = results()
    fig = plot_rcap(rc, title="RCAP")
    bar_ax, level_ax = fig.axes
    heights = [p.get_width() for p in bar_ax.patches]  # horizontal bars
    np.testing.assert_allclose(heights, [float(r.score.mean()) for r in rc.values()], rtol=1e-6)
    assert len(level_ax.lines) == 3 * len(rc)
    np.testing.assert_allclose(level_ax.lines[0].get_xdata(), rc["oracle"].levels.numpy())
    plt.close(fig)
    fig = plot_rcap({k: r.score for k, r in rc.items()})
    assert len(fig.axes) == 1
    plt.close(fig)
