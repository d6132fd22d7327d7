"""HAM figures: curves, lines of proportionality, twin axis, normalisation, difference plot
with its equivariant point, per-layer view."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from captum_ts.attr.horizon.result import HorizonActivationResult
from captum_ts.viz.horizon import plot_ham_difference, plot_ham_layers, plot_horizon_activation_map


def _result(causal, anti, names=("w",), **kw):
    c = torch.as_tensor(causal, dtype=torch.float64)
    a = torch.as_tensor(anti, dtype=torch.float64)
    if c.dim() == 1:
        c, a = c[:, None, None], a[:, None, None]
    return HorizonActivationResult(c, a, tuple(names), **kw)


A = _result([0.0, 3.0, 3.5, 4.0], [4.0, 2.0, 1.0, 0.0])
B = _result([0.0, 0.5, 1.0, 2.0], [2.0, 1.8, 1.0, 0.0])


def test_curves_lines_and_twin_axis():
    ax = plot_horizon_activation_map({"a": A, "b": B})
    data = [line.get_ydata() for line in ax.lines if len(line.get_xdata())]
    assert len(data) == 8  # 2 models x (2 curves + 2 proportionality lines)
    np.testing.assert_allclose(data[0], [0.0, 3.0, 3.5, 4.0])
    np.testing.assert_allclose(data[1], [0.0, 4.0])  # causal line of proportionality
    assert ax.get_xlim() == (0.0, 3.0)
    assert "Causal" in ax.get_xlabel() and "Gradient norm average" in ax.get_ylabel()
    twin = [c for c in ax.child_axes if "Anti-causal" in c.get_xlabel()]
    assert len(twin) == 1
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "a: causal [0, h)",
        "a: anti-causal [h, H)",
        "b: causal [0, h)",
        "b: anti-causal [h, H)",
        "line of proportionality (dashed, same colour)",
    ]
    plt.close("all")


def test_normalised_models_share_a_scale_and_show_the_divisor():
    ax = plot_horizon_activation_map(
        {"a": A, "b": B}, normalize=True, modes=("causal",), proportionality=False
    )
    curves = [line.get_ydata() for line in ax.lines if len(line.get_xdata())]
    assert [float(np.max(c)) for c in curves] == [1.0, 1.0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a (÷ 4): causal [0, h)", "b (÷ 2): causal [0, h)"]
    assert ax.get_legend().get_title().get_text() == "each model ÷ its max"
    plt.close("all")


def test_relative_axis_for_different_horizons():
    longer = _result(np.linspace(0, 1, 7), np.linspace(1, 0, 7))
    with pytest.raises(ValueError, match="relative=True"):
        plot_horizon_activation_map({"a": A, "c": longer})
    ax = plot_horizon_activation_map({"a": A, "c": longer}, relative=True)
    assert ax.get_xlim() == (0.0, 1.0)
    plt.close("all")


def test_difference_plot_marks_the_equivariant_point():
    res = _result([0.0, 1.0, 3.0, 4.0, 4.0], [4.0, 3.5, 2.0, 1.0, 0.0])
    ax = plot_ham_difference({"m": res})
    uniform = ax.lines[0]
    np.testing.assert_allclose(uniform.get_xdata(), [0, 4])
    np.testing.assert_allclose(uniform.get_ydata(), [-1, 1])
    curve = next(line for line in ax.lines if line.get_label().startswith("m"))
    np.testing.assert_allclose(curve.get_ydata(), np.array([-4.0, -2.5, 1.0, 3.0, 4.0]) / 4)
    assert curve.get_label() == "m (h* = 2)"
    np.testing.assert_allclose(ax.collections[0].get_offsets()[0], [2, 0.25])
    # the two lines of proportionality (0, -1) -> (h*, 0) -> (H, 1)
    assert any(
        list(line.get_xdata()) == [0, 2, 4] and list(line.get_ydata()) == [-1, 0, 1] for line in ax.lines
    )
    plt.close("all")


def test_layer_view():
    c = torch.rand(5, 1, 3, dtype=torch.float64)
    c[0] = 0
    res = HorizonActivationResult(c, c.flip(0), ("a", "b", "c"))
    fig = plot_ham_layers(res)
    assert len(fig.axes) == 2
    first = fig.axes[0]
    assert len(first.lines) == 5  # 3 layers, the mean, its diagonal
    assert max(float(np.max(line.get_ydata())) for line in first.lines[:3]) <= 1.0
    many = HorizonActivationResult(
        torch.rand(5, 1, 12), torch.rand(5, 1, 12), tuple(f"p{i}" for i in range(12))
    )
    fig = plot_ham_layers(many, modes=("causal",), normalize=False)
    assert len(fig.axes) == 2  # the panel and a colour bar instead of a 12-entry legend
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["mean over the layers", "line of proportionality (dashed, same colour)"]
    plt.close("all")


def test_bad_arguments():
    with pytest.raises(TypeError, match="HAM result"):
        plot_horizon_activation_map([1, 2])
    with pytest.raises(ValueError, match="modes"):
        plot_horizon_activation_map(A, modes=("forward",))
    grouped = HorizonActivationResult(torch.rand(4, 2, 1), torch.rand(4, 2, 1), ("w",), variates=((0,), (1,)))
    with pytest.raises(ValueError, match="variate"):
        plot_horizon_activation_map(grouped)
    with pytest.raises(ValueError, match="variate"):
        plot_ham_layers(grouped)
    plot_horizon_activation_map(grouped, variate=1)
    plt.close("all")
