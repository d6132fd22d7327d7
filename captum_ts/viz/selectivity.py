"""Selectivity (pixel-flipping) curves of several explanation methods on one axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from ._arrays import to_array


def plot_selectivity_curves(
    results: Mapping[str, object],
    ax: Axes | None = None,
    x_values: Sequence[float] | None = None,
    xlabel: str | None = None,
    ylabel: str = "model output",
    title: str | None = None,
    band: bool = True,
) -> Axes:
    """Mean curve over the examples of every method, with a shaded band of one
    standard error, and the mean AUC / AOPC in the legend.

    ``results`` maps a method name to a :class:`~captum_ts.metrics.SelectivityResult`
    or to a curve array ``(B, S)`` / ``(S,)`` (e.g. the curve of
    :func:`~captum_ts.metrics.deletion_auc` with ``return_curve=True``). The x-axis
    is the number of regions removed unless ``x_values`` (length ``S``) is given.

    >>> import numpy as np
    >>> from captum_ts.viz.selectivity import plot_selectivity_curves
    >>> ax = plot_selectivity_curves({"a": np.array([[1.0, 0.4, 0.1]]), "b": np.array([1.0, 0.8, 0.5])})
    >>> len(ax.lines)
    2
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"`results` must be a mapping {{method: curves}}, got {type(results).__name__}.")
    if not results:
        raise ValueError("`results` is empty; pass at least one method's curves.")
    all_curves = {name: _curves(result, name) for name, result in results.items()}
    xs = None if x_values is None else to_array(x_values, "x_values").reshape(-1)
    for name, curves in all_curves.items():
        if xs is not None and xs.size != curves.shape[1]:
            raise ValueError(
                f"`x_values` has {xs.size} points but the curves of {name!r} have {curves.shape[1]}."
            )
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for name, result in results.items():
        curves = all_curves[name]
        mean = curves.mean(0)
        steps = np.arange(curves.shape[1]) if xs is None else xs
        label = name
        auc, aopc = getattr(result, "auc", None), getattr(result, "aopc", None)
        if auc is not None and aopc is not None:
            label = f"{name} (AUC {float(auc.mean()):.3g}, AOPC {float(aopc.mean()):.3g})"
        (line,) = ax.plot(steps, mean, marker="o", ms=3, lw=1.5, label=label)
        if band and curves.shape[0] > 1:
            sem = curves.std(0, ddof=1) / np.sqrt(curves.shape[0])
            ax.fill_between(steps, mean - sem, mean + sem, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel(xlabel or ("regions removed" if x_values is None else "share removed"))
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    ax.legend(fontsize=8)
    return ax


def _curves(result: object, name: str) -> np.ndarray:
    arr = to_array(getattr(result, "curve", result), f"results[{name!r}]")
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] < 2:
        raise ValueError(
            f"`results[{name!r}]` must hold curves (B, S) or (S,) with B >= 1 and S >= 2, got {arr.shape}."
        )
    return arr
