"""Figures of horizon-aware attributions over a dataset (``explain_horizons``): a
horizon step x lag heat map per feature, and the importance of each lag over time.

The functions take a result with per-input cubes ``(S, O, T, F)`` (``mean``,
``abs_mean``), ``steps``, ``input_names`` and ``feature_names``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from ._style import integer_ticks, legend_beside, value_scale


def _cube(result: object, statistic: str, input: int | str, output: int) -> tuple[np.ndarray, int]:
    if statistic not in ("mean", "abs_mean"):
        raise ValueError(f"`statistic` must be 'mean' or 'abs_mean', got {statistic!r}.")
    names = list(result.input_names)  # type: ignore[attr-defined]
    k = names.index(input) if isinstance(input, str) and input in names else input
    if not isinstance(k, int) or not 0 <= k < len(names):
        raise ValueError(f"`input` must be one of {names} or an index, got {input!r}.")
    cube = getattr(result, statistic)[k]
    if cube.dim() != 4:
        raise ValueError(f"input {names[k]!r} has no time axis; it has no lag to plot.")
    if not 0 <= output < cube.shape[1]:
        raise ValueError(f"`output` must lie in [0, {cube.shape[1]}), got {output}.")
    return cube[:, output].detach().double().numpy(), k


def plot_horizon_lag_heatmap(
    result: object,
    input: int | str = 0,
    feature: int = 0,
    output: int = 0,
    statistic: str = "abs_mean",
    ax: Axes | None = None,
) -> Axes:
    """Heat map of the attribution of each forecast step (rows) to each input lag
    (columns, ``-T .. -1``) for one feature of one input. Non-negative values
    (``"abs_mean"``) are drawn on a sequential scale from 0, signed ones (``"mean"``)
    on a diverging scale centred at 0.

    >>> import torch
    >>> from types import SimpleNamespace
    >>> res = SimpleNamespace(mean=(torch.randn(3, 1, 5, 2),), abs_mean=(torch.rand(3, 1, 5, 2),),
    ...     steps=(0, 1, 2), input_names=("x",), feature_names=(("a", "b"),))
    >>> plot_horizon_lag_heatmap(res, feature=1).get_ylabel()
    'forecast step'
    """
    values, k = _cube(result, statistic, input, output)
    features = result.feature_names[k]  # type: ignore[attr-defined]
    if not 0 <= feature < values.shape[-1]:
        raise ValueError(f"`feature` must lie in [0, {values.shape[-1]}), got {feature}.")
    ax = ax if ax is not None else plt.subplots(figsize=(6, 3.5), layout="constrained")[1]
    t = values.shape[1]
    steps = list(result.steps)  # type: ignore[attr-defined]
    cmap, norm = value_scale(values[:, :, feature])
    image = ax.imshow(
        values[:, :, feature], aspect="auto", origin="lower", cmap=cmap, norm=norm,
        extent=(-t - 0.5, -0.5, -0.5, len(steps) - 0.5),
    )  # fmt: skip
    ax.set_yticks(range(len(steps)), [str(s) for s in steps])
    ax.set_xlabel("lag")
    ax.set_ylabel("forecast step")
    ax.set_title(f"{result.input_names[k]}: {features[feature]} ({statistic})")  # type: ignore[attr-defined]
    integer_ticks(ax.xaxis)
    ax.figure.colorbar(image, ax=ax, label=statistic)
    return ax


def plot_importance_over_time(
    result: object,
    input: int | str = 0,
    output: int = 0,
    statistic: str = "abs_mean",
    ax: Axes | None = None,
) -> Axes:
    """The importance of each lag (summed over features) for every forecast step, one
    line per step, and their mean in black.

    >>> import torch
    >>> from types import SimpleNamespace
    >>> res = SimpleNamespace(mean=(torch.randn(3, 1, 5, 2),), abs_mean=(torch.rand(3, 1, 5, 2),),
    ...     steps=(0, 1, 2), input_names=("x",), feature_names=(("a", "b"),))
    >>> len(plot_importance_over_time(res).lines)
    4
    """
    values, k = _cube(result, statistic, input, output)
    curves = values.sum(-1)
    lags = np.arange(-curves.shape[1], 0)
    ax = ax if ax is not None else plt.subplots(figsize=(6, 3.5), layout="constrained")[1]
    colors = plt.get_cmap("viridis")(np.linspace(0, 1, curves.shape[0]))
    for step, curve, color in zip(result.steps, curves, colors):  # type: ignore[attr-defined]
        ax.plot(lags, curve, color=color, alpha=0.7, label=f"step {step}")
    ax.plot(lags, curves.mean(0), color="black", lw=2, label="mean")
    ax.set_xlabel("lag")
    ax.set_ylabel(f"importance ({statistic})")
    ax.set_title(str(result.input_names[k]))  # type: ignore[attr-defined]
    integer_ticks(ax.xaxis)
    legend_beside(ax)
    return ax
