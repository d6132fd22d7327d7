"""RCAP of several explanation methods: the scores as bars and, per percentile
level, the hit rate, the recovered probability and their product."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ._arrays import to_array
from ._style import LEGEND_FONT, legend_beside


def plot_rcap(results: Mapping[str, object], title: str | None = None) -> Figure:
    """Left: mean RCAP per method (horizontal bars) with one standard error, and every
    series' score as a dot. Right (when the results
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
    n_panels = 2 if with_levels else 1
    fig, axes = plt.subplots(
        1, n_panels, figsize=(11 if with_levels else 5, 4), squeeze=False, layout="constrained",
        width_ratios=[1, 1.6][:n_panels],
    )  # fmt: skip
    bar_ax = axes[0, 0]
    means = [s.mean() for s in scores]
    errors = [s.std(ddof=1) / np.sqrt(s.size) if s.size > 1 else 0.0 for s in scores]
    colors = [f"C{i}" for i in range(len(names))]
    slots = np.arange(len(names))
    # horizontal bars: long method names stay readable side by side
    bar_ax.barh(
        slots, means, xerr=errors, color=colors, alpha=0.45, capsize=3, label="mean ± 1 standard error"
    )
    # every series as a dot, so the mean hides neither a spread nor two groups
    jitter = np.concatenate([np.linspace(-0.25, 0.25, s.size) if s.size > 1 else [0.0] for s in scores])
    dots_y = np.repeat(slots, [s.size for s in scores]) + jitter
    bar_ax.scatter(np.concatenate(scores), dots_y, s=8, color="k", alpha=0.6, lw=0, label="one series")
    bar_ax.set_yticks(slots, [f"{n}\nmean {m:.3f}" for n, m in zip(names, means)], fontsize=9)
    bar_ax.invert_yaxis()
    bar_ax.set_xlabel("RCAP (higher is better)")
    top = max(max(float(s.max()) for s in scores), max(m + e for m, e in zip(means, errors)))
    bar_ax.set_xlim(0, max(1e-3, top) * 1.15)
    bar_ax.legend(fontsize=LEGEND_FONT, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
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
            level_ax.plot(
                levels, prod, color=color, marker="o", ms=3, label=f"{name}: hit rate × probability"
            )
            level_ax.plot(levels, hit, color=color, ls="--", lw=1, label=f"{name}: hit rate")
            level_ax.plot(levels, prob, color=color, ls=":", lw=1.3, label=f"{name}: probability")
        level_ax.invert_xaxis()
        level_ax.set_xlabel("percentile level p (the revealed region grows to the right)")
        level_ax.set_ylabel("mean over series")
        level_ax.set_ylim(0, 1.02)
        legend_beside(level_ax)
    if title:
        fig.suptitle(title)
    return fig


def _masked_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean over examples of the levels each example used (NaN where none did)."""
    total = weights.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (values * weights).sum(0) / np.maximum(total, 1), np.nan)
