"""Sequence Dreaming figures: panels, lines, shared axes, the numbers they show, clear errors."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from captum_ts.viz.dreams import (
    plot_border_dreams,
    plot_dream_trajectory,
    plot_dreams,
    plot_regularizer_comparison,
)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_plot_dreams_one_column_per_class_every_restart_and_no_mean():
    dreams = torch.arange(6 * 20, dtype=torch.float32).reshape(6, 20, 1)
    fig = plot_dreams(dreams, labels=torch.tensor([1, 0, 1, 0, 1, 2]), class_names=["a", "b", "c"])
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["a (2 dreams)", "b (3 dreams)", "c (1 dreams)"]
    drawn = np.stack([line.get_ydata() for line in fig.axes[1].lines])  # class 1: rows 0, 2, 4, no mean
    np.testing.assert_array_equal(drawn, dreams[[0, 2, 4], :, 0].numpy())


def test_opposite_restarts_stay_visible():
    # a mean of these two dreams would be a flat line at 0: the figure must show both bumps
    bump = np.zeros(30)
    bump[15] = 1.0
    fig = plot_dreams(np.stack([bump, -bump]), labels=[0, 0])
    assert [float(line.get_ydata()[15]) for line in fig.axes[0].lines] == [1.0, -1.0]


def test_plot_dreams_several_features_and_reference():
    dreams = np.random.randn(4, 30, 2)
    real = np.random.randn(10, 30, 2)
    fig = plot_dreams(dreams, [0, 0, 1, 1], reference=(real, [0] * 5 + [1] * 5), feature_names=["x", "y"])
    assert len(fig.axes) == 4  # 2 features x 2 classes
    assert fig.axes[2].get_ylabel() == "y"
    # the first n_reference real series of the class, in grey, behind the two dreams
    lines = fig.axes[0].lines
    assert len(lines) == 5 + 2 and all(line.get_color() == "0.6" for line in lines[:5])
    np.testing.assert_array_equal(lines[4].get_ydata(), real[4, :, 0])
    fig = plot_dreams(dreams, [0, 0, 1, 1], reference=(real, [0] * 5 + [1] * 5), n_reference=2)
    assert len(fig.axes[3].lines) == 2 + 2
    np.testing.assert_array_equal(fig.axes[3].lines[1].get_ydata(), real[6, :, 1])
    with pytest.raises(ValueError, match="reference"):
        plot_dreams(dreams, [0, 0, 1, 1], reference=(np.zeros((3, 31, 2)), [0, 1, 1]))
    with pytest.raises(ValueError, match="labels"):
        plot_dreams(dreams, [0, 1])
    with pytest.raises(ValueError, match="dreams"):
        plot_dreams(np.zeros(30))


def test_plot_dream_trajectory_colours_by_class():
    traj = torch.stack([torch.arange(10.0), -torch.arange(10.0), torch.ones(10)], dim=1)  # (steps, B)
    ax = plot_dream_trajectory(traj, labels=[0, 1, 0], ylabel="logit")
    assert len(ax.lines) == 3 and ax.get_ylabel() == "logit"
    assert ax.lines[0].get_color() == ax.lines[2].get_color() != ax.lines[1].get_color()
    assert np.array_equal(ax.lines[1].get_ydata(), -np.arange(10.0))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class 0", "class 1"]
    with pytest.raises(ValueError, match="trajectory"):
        plot_dream_trajectory(np.zeros((2, 3, 4)))


def test_plot_border_dreams_titles_and_panels():
    x = np.random.randn(5, 25)
    fig = plot_border_dreams(x, x * 0.5, before=np.linspace(0.9, 1.0, 5), after=[0.5] * 5, n_cols=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(fig.axes) == 6 and len(visible) == 5
    assert visible[0].get_title() == "p 0.90 -> 0.50"
    assert np.allclose(visible[3].lines[1].get_ydata(), x[3] * 0.5)
    with pytest.raises(ValueError, match="same shape"):
        plot_border_dreams(x, x[:, :10])
    with pytest.raises(ValueError, match="feature"):
        plot_border_dreams(x, x, feature=1)


def test_plot_regularizer_comparison_shares_y_and_reports_tv_and_norm():
    flat = np.zeros((2, 10))
    saw = np.tile([1.0, -1.0], (2, 5))
    fig = plot_regularizer_comparison({"smooth": flat, "rough": saw})
    assert [ax.get_title() for ax in fig.axes] == ["smooth: mean TV 0, L2 0", "rough: mean TV 18, L2 3.16"]
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()
    with pytest.raises(ValueError, match="empty"):
        plot_regularizer_comparison({})
