"""Selectivity (pixel-flipping) curves of several explanation methods on one axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from ._arrays import to_array
from ._style import integer_ticks, legend_beside, unique_handles


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
    standard error, and the mean AUC / AOPC in the legend (beside the axes, so it
    covers no line).

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
    all_curves = {name: as_curves(result, name) for name, result in results.items()}
    xs = None if x_values is None else to_array(x_values, "x_values").reshape(-1)
    for name, curves in all_curves.items():
        if xs is not None and xs.size != curves.shape[1]:
            raise ValueError(
                f"`x_values` has {xs.size} points but the curves of {name!r} have {curves.shape[1]}."
            )
    labels = {}
    for name, result in results.items():
        auc, aopc = getattr(result, "auc", None), getattr(result, "aopc", None)
        labels[name] = name if auc is None or aopc is None else (
            f"{name} (AUC {float(auc.mean()):.3g}, AOPC {float(aopc.mean()):.3g})"
        )  # fmt: skip
    ax = draw_curves(all_curves, labels, ax, xs, band)
    ax.set_xlabel(xlabel or ("regions removed" if x_values is None else "share removed"))
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return ax


def draw_curves(
    curves: Mapping[str, np.ndarray],
    labels: Mapping[str, str],
    ax: Axes | None,
    xs: np.ndarray | None,
    band: bool,
) -> Axes:
    """The mean curve of every method (``(B, S)`` arrays), its band of one standard
    error when ``B > 1``, integer x ticks when ``xs`` is None (a count), and a legend
    beside the axes that also says what the band is."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4), layout="constrained")
    banded = []
    for name, c in curves.items():
        steps = np.arange(c.shape[1]) if xs is None else xs
        (line,) = ax.plot(steps, c.mean(0), marker="o", ms=3, lw=1.5, label=labels[name])
        if band and c.shape[0] > 1:
            sem = c.std(0, ddof=1) / np.sqrt(c.shape[0])
            ax.fill_between(steps, c.mean(0) - sem, c.mean(0) + sem, color=line.get_color(), alpha=0.2, lw=0)
            banded.append(c.shape[0])
    if xs is None:
        integer_ticks(ax.xaxis)
    handles = unique_handles(ax.get_lines())
    if banded:
        counts = "/".join(str(n) for n in sorted(set(banded)))
        handles.append(Patch(color="0.6", alpha=0.4, label=f"mean ± 1 standard error ({counts} series)"))
    legend_beside(ax, handles)
    return ax


def as_curves(result: object, name: str) -> np.ndarray:
    arr = to_array(getattr(result, "curve", result), f"results[{name!r}]")
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] < 2:
        raise ValueError(
            f"`results[{name!r}]` must hold curves (B, S) or (S,) with B >= 1 and S >= 2, got {arr.shape}."
        )
    return arr
