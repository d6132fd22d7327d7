"""Figures for Sequence Dreaming: dreamed sequences per class, objective
trajectories, dreams started from real series, and regularisers side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .._validation import check_positive_int
from ._arrays import as_batch, check_index, check_names, to_array
from ._style import integer_ticks, legend_below, legend_beside, unique_handles

__all__ = ["plot_border_dreams", "plot_dream_trajectory", "plot_dreams", "plot_regularizer_comparison"]


DREAM_LABEL = "dream, one line per restart (colour: class)"


def _as_labels(labels: object, n: int, name: str = "labels") -> np.ndarray:
    """One non-negative integer class per series (all 0 when ``labels`` is None)."""
    if labels is None:
        return np.zeros(n, dtype=int)
    arr = to_array(labels, name).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"`{name}` has {arr.shape[0]} entries but there are {n} series.")
    if (arr != np.round(arr)).any() or (arr < 0).any():
        raise ValueError(f"`{name}` must be class indices (integers >= 0), got {arr.tolist()}.")
    return arr.astype(int)


def _check_class_names(class_names: Sequence[str] | None, labels: np.ndarray) -> None:
    if class_names is not None and len(class_names) <= labels.max():
        raise ValueError(
            f"`class_names` has {len(class_names)} entries but the labels go up to {int(labels.max())}."
        )


def _class_name(c: int, class_names: Sequence[str] | None) -> str:
    return class_names[c] if class_names is not None else f"class {c}"


def plot_dreams(
    dreams: object,
    labels: object = None,
    reference: tuple[object, object] | None = None,
    class_names: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
    channels_last: bool = True,
    suptitle: str | None = None,
    n_reference: int = 5,
) -> Figure:
    """The dreamed sequences of every class: one column per class (one row per
    feature), every restart as its own line. No mean is drawn: restarts that find
    different patterns (a bump early or late, up or down) would average to nothing.

    ``reference=(series, labels)`` draws the first ``n_reference`` real series of each
    class as thin grey lines behind the dreams, so a dream can be compared with what the
    class looks like (a mean of real series would, again, blur patterns that move).

    >>> import numpy as np
    >>> fig = plot_dreams(np.random.randn(6, 40), labels=[0, 0, 0, 1, 1, 1])
    >>> len(fig.axes), len(fig.axes[0].lines)
    (2, 3)
    """
    x = as_batch(dreams, "dreams", channels_last)
    y = _as_labels(labels, len(x))
    _check_class_names(class_names, y)
    classes = np.unique(y)
    ref = None
    if reference is not None:
        rx = as_batch(reference[0], "reference[0]", channels_last)
        ry = _as_labels(reference[1], len(rx), "reference[1]")
        if rx.shape[1:] != x.shape[1:]:
            raise ValueError(f"`reference` series have shape {rx.shape[1:]}, the dreams {x.shape[1:]}.")
        ref = (rx, ry)
    check_positive_int(n_reference, "n_reference")
    n_feat = x.shape[2]
    feature_names = check_names(feature_names, n_feat, "feature_names", "features")
    fig, axes = plt.subplots(
        n_feat, len(classes), figsize=(3.6 * len(classes) + 0.6, 2.2 * n_feat + 1.2),
        sharex=True, sharey="row", squeeze=False, layout="constrained",
    )  # fmt: skip
    steps = np.arange(x.shape[1])
    real_label = f"real series of the class (up to {n_reference})"
    for col, c in enumerate(classes):
        color = f"C{col % 10}"
        rows = x[y == c]
        for f in range(n_feat):
            ax = axes[f, col]
            if ref is not None:
                real = ref[0][ref[1] == c][:n_reference, :, f]
                ax.plot(steps, real.T, color="0.6", lw=0.8, label=real_label)
            ax.plot(steps, rows[:, :, f].T, color=color, lw=1.1, alpha=0.8, label=DREAM_LABEL)
            if f == 0:
                ax.set_title(f"{_class_name(int(c), class_names)} ({len(rows)} dreams)", fontsize=10)
            if col == 0 and n_feat > 1:
                ax.set_ylabel(feature_names[f] if feature_names is not None else f"feature {f}")
        axes[-1, col].set_xlabel("time step")
        integer_ticks(axes[-1, col].xaxis)
    handles = [Line2D([], [], color="C0", lw=1.1, label=DREAM_LABEL)]
    if ref is not None:
        handles.append(Line2D([], [], color="0.6", lw=0.8, label=real_label))
    legend_below(fig, handles)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_dream_trajectory(
    trajectory: object,
    labels: object = None,
    ax: Axes | None = None,
    class_names: Sequence[str] | None = None,
    ylabel: str = "objective",
    title: str | None = None,
) -> Axes:
    """The objective of every dreamed row against the optimisation step (the
    ``(steps, B)`` trajectory of ``return_trajectory=True``), one colour per class,
    named in a legend beside the axes.

    >>> import numpy as np
    >>> ax = plot_dream_trajectory(np.cumsum(np.ones((50, 4)), 0), labels=[0, 1, 0, 1])
    >>> len(ax.lines)
    4
    """
    traj = to_array(trajectory, "trajectory")
    if traj.ndim == 1:
        traj = traj[:, None]
    if traj.ndim != 2 or 0 in traj.shape:
        raise ValueError(f"`trajectory` must have shape (steps, B) with steps, B >= 1; got {traj.shape}.")
    y = _as_labels(labels, traj.shape[1])
    _check_class_names(class_names, y)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    steps = np.arange(1, traj.shape[0] + 1)
    classes = list(np.unique(y))
    for b in range(traj.shape[1]):
        c = int(y[b])
        ax.plot(
            steps,
            traj[:, b],
            color=f"C{classes.index(c) % 10}",
            lw=1,
            alpha=0.7,
            label=_class_name(c, class_names),
        )
    ax.set_xlabel("step")
    integer_ticks(ax.xaxis)
    ax.set_ylabel(ylabel)
    legend_beside(ax, unique_handles(ax.get_lines()), title="one line per dreamed row", title_fontsize=8)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return ax


def plot_border_dreams(
    starts: object,
    dreams: object,
    before: object | None = None,
    after: object | None = None,
    feature: int = 0,
    channels_last: bool = True,
    n_cols: int = 3,
    suptitle: str | None = None,
) -> Figure:
    """Dreams started from real series: one panel per series with the start (grey)
    and the dream (colour), the change between them shaded; one legend under the panels. ``before``/``after``
    (e.g. the class probability of the start and of the dream) go into the titles.

    >>> import numpy as np
    >>> x = np.random.randn(4, 30)
    >>> fig = plot_border_dreams(x, x + 0.1, before=[0.9] * 4, after=[0.5] * 4, n_cols=2)
    >>> len(fig.axes), fig.axes[0].get_title()
    (4, 'p 0.90 -> 0.50')
    """
    x0 = as_batch(starts, "starts", channels_last)
    x1 = as_batch(dreams, "dreams", channels_last)
    if x0.shape != x1.shape:
        raise ValueError(f"`starts` {x0.shape} and `dreams` {x1.shape} must have the same shape.")
    feature = check_index(feature, x0.shape[2], "feature", "features")
    check_positive_int(n_cols, "n_cols")
    n = len(x0)
    if (before is None) != (after is None):
        raise ValueError("pass both `before` and `after` (they go into the titles together) or neither.")
    p0 = None if before is None else _per_series(before, n, "before")
    p1 = None if after is None else _per_series(after, n, "after")
    n_cols = min(n_cols, n)
    n_rows = -(-n // n_cols)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(3.8 * n_cols, 2.4 * n_rows + 0.6),
        sharex=True,
        squeeze=False,
        layout="constrained",
    )
    steps = np.arange(x0.shape[1])
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_visible(False)
            continue
        a, b = x0[i, :, feature], x1[i, :, feature]
        ax.fill_between(steps, a, b, color="C3", alpha=0.2, lw=0, label="change (shaded)")
        ax.plot(steps, a, color="0.5", lw=1.2, label="start (real series)")
        ax.plot(steps, b, color="C3", lw=1.4, label="dream")
        if p0 is not None and p1 is not None:
            ax.set_title(f"p {p0[i]:.2f} -> {p1[i]:.2f}", fontsize=10)
    legend_below(fig, unique_handles(axes.flat[0].get_children()))
    for ax in axes[-1]:
        ax.set_xlabel("time step")
        integer_ticks(ax.xaxis)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def _per_series(values: object, n: int, name: str) -> np.ndarray:
    arr = to_array(values, name).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"`{name}` has {arr.shape[0]} entries but there are {n} series.")
    return arr


def plot_regularizer_comparison(
    dreams: Mapping[str, object],
    feature: int = 0,
    channels_last: bool = True,
    n_cols: int | None = None,
    sharey: bool = True,
    suptitle: str | None = None,
) -> Figure:
    """The same dreaming run under different regularisers, side by side: one panel
    per setting (``{name: dreams}``), every dreamed row as a line, shared y-axis.
    The title of each panel gives the mean total variation and L2 norm of its rows;
    row ``j`` has the same colour in every panel.

    >>> import numpy as np
    >>> fig = plot_regularizer_comparison({"none": np.random.randn(2, 30), "blur": np.zeros((2, 30))})
    >>> [ax.get_title().split(":")[0] for ax in fig.axes]
    ['none', 'blur']
    """
    if not isinstance(dreams, Mapping):
        raise TypeError(f"`dreams` must be a mapping {{name: sequences}}, got {type(dreams).__name__}.")
    if not dreams:
        raise ValueError("`dreams` is empty; pass at least one {name: sequences} entry.")
    batches = {name: as_batch(v, f"dreams[{name!r}]", channels_last) for name, v in dreams.items()}
    for name, x in batches.items():
        check_index(feature, x.shape[2], "feature", f"features in `dreams[{name!r}]`")
    check_positive_int(n_cols, "n_cols", allow_none=True)
    n = len(batches)
    n_cols = n if n_cols is None else min(n_cols, n)
    n_rows = -(-n // n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.4 * n_cols, 2.5 * n_rows + 0.6), sharex=True, sharey=sharey, squeeze=False,
        layout="constrained",
    )  # fmt: skip
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_visible(False)
            continue
        name, x = list(batches.items())[i]
        series = x[:, :, feature]
        steps = np.arange(series.shape[1])
        for j, row in enumerate(series):
            ax.plot(steps, row, color=f"C{j % 10}", lw=1, alpha=0.8, label=f"row {j}")
        tv = np.abs(np.diff(x, axis=1)).sum((1, 2)).mean()
        norm = np.sqrt((x**2).sum((1, 2))).mean()
        ax.set_title(f"{name}: mean TV {tv:.3g}, L2 {norm:.3g}", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("time step")
        integer_ticks(ax.xaxis)
    longest = max(batches.values(), key=len)
    handles = [Line2D([], [], color=f"C{j % 10}", lw=1, label=f"row {j}") for j in range(len(longest))]
    legend_below(fig, handles, title="dreamed row", title_fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    return fig
