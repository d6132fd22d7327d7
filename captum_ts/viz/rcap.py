"""RCAP of several explanation methods: the scores as bars and, per percentile
level, the hit rate, the recovered probability and their product."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ._arrays import to_array


def plot_rcap(results: Mapping[str, object], title: str | None = None) -> Figure:
    """Left: mean RCAP per method with one standard error. Right (when the results
    carry levels, i.e. ``rcap(..., return_levels=True)``): the mean hit rate
    (dashed), recovered probability (dotted) and their product (solid) per level,
    from the smallest revealed region (highest level) to the largest.

    ``results`` maps a method name to an :class:`~captum_ts.metrics.RCAPResult` or
    to the ``(B,)`` scores.

    >>> import numpy as np
    >>> from captum_ts.viz.rcap import plot_rcap
    >>> fig = plot_rcap({"a": np.array([0.4, 0.5]), "b": np.array([0.2, 0.3])})
    >>> len(fig.axes)
    1
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"`results` must be a mapping {{method: RCAP}}, got {type(results).__name__}.")
    if not results:
        raise ValueError("`results` is empty; pass at least one method's RCAP.")
    names = list(results)
    scores = [
        to_array(getattr(results[n], "score", results[n]), f"results[{n!r}]").reshape(-1) for n in names
    ]
    for n, s in zip(names, scores):
        if s.size == 0:
            raise ValueError(f"`results[{n!r}]` holds no scores; nothing to draw.")
    with_levels = {k: v for k, v in results.items() if hasattr(v, "levels")}
    fig, axes = plt.subplots(
        1, 2 if with_levels else 1, figsize=(10 if with_levels else 5, 3.6), squeeze=False
    )
    bar_ax = axes[0, 0]
    means = [s.mean() for s in scores]
    errors = [s.std(ddof=1) / np.sqrt(s.size) if s.size > 1 else 0.0 for s in scores]
    colors = [f"C{i}" for i in range(len(names))]
    bar_ax.bar(np.arange(len(names)), means, yerr=errors, color=colors, capsize=3)
    bar_ax.set_xticks(np.arange(len(names)), names, rotation=20, ha="right")
    bar_ax.set_ylabel("RCAP (higher is better)")
    bar_ax.set_ylim(0, max(1e-3, max(m + e for m, e in zip(means, errors))) * 1.15)
    for i, (m, e) in enumerate(zip(means, errors)):
        bar_ax.text(i, m + e, f"{m:.3f}", ha="center", va="bottom", fontsize=8)
    if with_levels:
        level_ax = axes[0, 1]
        for name, res in with_levels.items():
            color = colors[names.index(name)]
            where = f"results[{name!r}]"
            levels = to_array(res.levels, f"{where}.levels")
            used = to_array(res.used, f"{where}.used")
            hit_rate = to_array(res.hit_rate, f"{where}.hit_rate")
            probability = to_array(res.probability, f"{where}.probability")
            hit = _masked_mean(hit_rate, used)
            prob = _masked_mean(probability, used)
            prod = _masked_mean(hit_rate * probability, used)
            level_ax.plot(levels, prod, color=color, marker="o", ms=3, label=f"{name}: h x p")
            level_ax.plot(levels, hit, color=color, ls="--", lw=1)
            level_ax.plot(levels, prob, color=color, ls=":", lw=1)
        level_ax.invert_xaxis()
        level_ax.set_xlabel("percentile level p (the revealed region grows to the right)")
        level_ax.set_ylabel("mean over series")
        level_ax.set_title("solid: hit rate x probability, dashed: hit rate, dotted: probability", fontsize=9)
        level_ax.set_ylim(0, 1.02)
        level_ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _masked_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean over examples of the levels each example used (NaN where none did)."""
    total = weights.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (values * weights).sum(0) / np.maximum(total, 1), np.nan)
