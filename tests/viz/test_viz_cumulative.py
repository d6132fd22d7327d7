"""Cumulative (CPD/CPP) curves: what they draw."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from captum_ts.metrics import cpd, cpp
from captum_ts.viz import plot_cumulative_curves


def results():
    g = torch.Generator().manual_seed(0)
    x, w = torch.rand(5, 8, 2, generator=g), torch.randn(8, 2, generator=g)
    model = lambda z: torch.stack([-(z * w).flatten(1).sum(1), (z * w).flatten(1).sum(1)], 1)  # noqa: E731
    maps = {"oracle": x * w, "random": torch.rand(5, 8, 2, generator=g)}
    return {k: cpd(model, x, a, n_steps=6) for k, a in maps.items()}, cpp(model, x, x * w, n_steps=6)


def test_one_mean_cumulative_line_and_band_per_method_with_the_score():
    high, low = results()
    ax = plot_cumulative_curves({**high, "oracle (cpp)": low}, title="t")
    assert len(ax.lines) == 3 and len(ax.collections) == 3
    np.testing.assert_allclose(ax.lines[0].get_ydata(), high["oracle"].curve.mean(0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), np.arange(7))
    assert ax.lines[0].get_ydata()[-1] == pytest.approx(float(high["oracle"].score.mean()), rel=1e-6)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == f"oracle (CPD {float(high['oracle'].score.mean()):.3g})"
    assert labels[2].startswith("oracle (cpp) (CPP ")
    assert ax.get_xlabel() == "points removed" and ax.get_title(loc="left") == "t"
    plt.close(ax.figure)


def test_adds_to_an_existing_axes_and_takes_arrays():
    _, ax = plt.subplots()
    ax.plot([0, 1], [0, 0], label="reference")
    plot_cumulative_curves({"a": np.array([[0.0, 0.5, 0.7], [0.0, 0.1, 0.2]])}, ax=ax, band=False)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["reference", "a"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.0, 0.3, 0.45])
    with pytest.raises(ValueError, match="empty"):
        plot_cumulative_curves({})
    plt.close("all")
