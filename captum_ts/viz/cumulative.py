"""Cumulative prediction difference / preservation curves of several methods on one axes."""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.axes import Axes

from .selectivity import plot_selectivity_curves


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
    ax = plot_selectivity_curves(
        results, ax=ax, xlabel="points removed", ylabel=ylabel, title=title, band=band
    )
    for line, (name, result) in zip(ax.lines[-len(results) :], results.items()):
        score, metric = getattr(result, "score", None), getattr(result, "metric", None)
        if score is not None and metric is not None:
            line.set_label(f"{name} ({metric.upper()} {float(score.mean()):.3g})")
    ax.legend(fontsize=8)
    return ax
