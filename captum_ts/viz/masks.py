"""A learned mask drawn over the series it explains, next to the true salient cells."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ._arrays import as_time_by_feature, check_names, to_array
from ._style import integer_ticks, legend_below, unique_handles


def plot_mask_over_states(
    series: object,
    mask: object,
    saliency: object | None = None,
    states: object | None = None,
    feature_names: Sequence[str] | None = None,
    title: str | None = None,
    mask_label: str = "mask",
) -> Figure:
    """One panel per feature: the series (black, left axis), the mask as a red area (right
    axis, 0 to 1) and, if given, the truly salient steps shaded green. A first panel shows
    the hidden ``states`` as a step line when they are given. One legend under the panels.

    ``series``, ``mask`` and ``saliency`` are one series each, ``(T, F)`` or ``(T,)``;
    ``states`` is ``(T,)``.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(50, 3))
    >>> fig = plot_mask_over_states(x, np.abs(x) / 3, states=np.arange(50) // 25)
    >>> len(fig.axes)
    7
    """
    x = as_time_by_feature(series, "series")
    m = as_time_by_feature(mask, "mask")
    if m.shape != x.shape:
        raise ValueError(f"`mask` has shape {m.shape} but the series has {x.shape}.")
    truth = None
    if saliency is not None:
        truth = as_time_by_feature(saliency, "saliency")
        if truth.shape != x.shape:
            raise ValueError(f"`saliency` has shape {truth.shape} but the series has {x.shape}.")
    n_time, n_feat = x.shape
    names = check_names(feature_names, n_feat, "feature_names", "features")
    names = names if names is not None else [f"feature {j}" for j in range(n_feat)]
    state_row = states is not None
    if state_row:
        s = to_array(states, "states").reshape(-1)
        if s.shape[0] != n_time:
            raise ValueError(f"`states` has {s.shape[0]} steps but the series has {n_time}.")
    fig, axes = plt.subplots(
        n_feat + state_row,
        1,
        figsize=(9, 1.4 + 1.3 * (n_feat + 0.6 * state_row)),
        sharex=True,
        squeeze=False,
        layout="constrained",
        gridspec_kw={"height_ratios": [0.6] * state_row + [1.0] * n_feat},
    )
    axes = axes[:, 0]
    steps = np.arange(n_time)
    twins = []
    if state_row:
        axes[0].step(steps, s, where="mid", color="tab:blue", lw=1.2, label="hidden state")
        axes[0].set_ylabel("state", rotation=0, ha="right", va="center")
        axes[0].set_yticks(np.unique(s))
    for j, ax in enumerate(axes[state_row:]):
        if truth is not None:
            ax.fill_between(
                steps,
                0,
                1,
                where=truth[:, j] > 0,
                step="mid",
                color="tab:green",
                alpha=0.18,
                transform=ax.get_xaxis_transform(),
                lw=0,
                label="truly salient",
            )
        ax.plot(steps, x[:, j], color="k", lw=0.9, label="series (left axis)")
        ax.set_ylabel(names[j], rotation=0, ha="right", va="center")
        twin = ax.twinx()
        twin.fill_between(
            steps,
            0,
            m[:, j],
            step="mid",
            color="tab:red",
            alpha=0.45,
            lw=0,
            label=f"{mask_label} (right axis)",
        )
        twin.set_ylim(0, 1.05)
        twin.set_yticks([0, 1])
        twins.append(twin)
    legend_below(fig, unique_handles(c for a in (*axes, *twins) for c in a.get_children()))
    axes[-1].set_xlim(-0.5, n_time - 0.5)
    integer_ticks(axes[-1].xaxis)
    axes[-1].set_xlabel("time step")
    if title:
        axes[0].set_title(title, loc="left", fontsize=10)
    return fig
