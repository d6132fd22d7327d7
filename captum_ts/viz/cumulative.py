"""Cumulative prediction difference / preservation curves of several methods on one axes."""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.axes import Axes

from .selectivity import as_curves, draw_curves


def plot_cumulative_curves(
    results: Mapping[str, object],
    ax: Axes | None = None,
    ylabel: str = "cumulative L1 change of the output",
    title: str | None = None,
    band: bool = True,
) -> Axes:
    """Mean cumulative curve over the examples of every method (the running sum of
    the output changes after ``k`` removals, ``k = 0..K``), a shaded band of one
    standard error, and the mean score in the legend (``CPD``: higher is better,
    ``CPP``: lower is better).

    ``results`` maps a method name to a :class:`~captum_ts.metrics.CumulativeResult`
    or to a curve array ``(B, K + 1)`` / ``(K + 1,)``.

    >>> import numpy as np
    >>> from captum_ts.viz.cumulative import plot_cumulative_curves
    >>> ax = plot_cumulative_curves({"a": np.array([[0.0, 0.5, 0.7]]), "b": np.array([0.0, 0.1, 0.3])})
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['a', 'b']
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"`results` must be a mapping {{method: curves}}, got {type(results).__name__}.")
    if not results:
        raise ValueError("`results` is empty; pass at least one method's curves.")
    curves = {name: as_curves(result, name) for name, result in results.items()}
    labels = {}
    for name, result in results.items():
        score, metric = getattr(result, "score", None), getattr(result, "metric", None)
        labels[name] = name if score is None or metric is None else (
            f"{name} ({metric.upper()} {float(score.mean()):.3g})"
        )  # fmt: skip
    ax = draw_curves(curves, labels, ax, None, band)
    ax.set_xlabel("points removed")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return ax
