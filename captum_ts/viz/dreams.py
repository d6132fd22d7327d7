"""Figures for Sequence Dreaming: dreamed sequences per class, objective
trajectories, dreams started from real series, and regularisers side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["plot_border_dreams", "plot_dream_trajectory", "plot_dreams", "plot_regularizer_comparison"]


def _as_batch(values: object, name: str, channels_last: bool = True) -> np.ndarray:
    """A batch of series as a float ``(N, T, F)`` array; accepts ``(N, T)``, ``(N, T, F)``
    or ``(N, F, T)`` with ``channels_last=False``."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 2:
        return arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(
            f"`{name}` must be a batch of series, shape (N, T) or (N, T, F); got {arr.shape}. "
            "For one series add the batch axis, e.g. `x[None]`."
        )
    return arr if channels_last else arr.transpose(0, 2, 1)


def _as_labels(labels: object, n: int, name: str = "labels") -> np.ndarray:
    if labels is None:
        return np.zeros(n, dtype=int)
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"`{name}` has {arr.shape[0]} entries but there are {n} series.")
    return arr.astype(int)


def _class_name(c: int, class_names: Sequence[str] | None) -> str:
    return class_names[c] if class_names is not None and c < len(class_names) else f"class {c}"


def plot_dreams(
    dreams: object,
    labels: object = None,
    reference: tuple[object, object] | None = None,
    class_names: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
    channels_last: bool = True,
    suptitle: str | None = None,
) -> Figure:
    """The dreamed sequences of every class: one column per class (one row per
    feature), every restart as a thin line and their mean as a thick one.

    ``reference=(series, labels)`` shades each class's real data behind the dreams
    (mean plus and minus one standard deviation), so a dream can be compared with
    what the class looks like.

    >>> import numpy as np
    >>> fig = plot_dreams(np.random.randn(6, 40), labels=[0, 0, 0, 1, 1, 1])
    >>> len(fig.axes), len(fig.axes[0].lines)
    (2, 4)
    """
    x = _as_batch(dreams, "dreams", channels_last)
    y = _as_labels(labels, len(x))
    classes = np.unique(y)
    ref = None
    if reference is not None:
        rx = _as_batch(reference[0], "reference", channels_last)
        ry = _as_labels(reference[1], len(rx), "reference labels")
        if rx.shape[1:] != x.shape[1:]:
            raise ValueError(f"`reference` series have shape {rx.shape[1:]}, the dreams {x.shape[1:]}.")
        ref = (rx, ry)
    n_feat = x.shape[2]
    fig, axes = plt.subplots(
        n_feat, len(classes), figsize=(3.6 * len(classes), 2.2 * n_feat + 0.6),
        sharex=True, sharey="row", squeeze=False,
    )  # fmt: skip
    steps = np.arange(x.shape[1])
    for col, c in enumerate(classes):
        color = f"C{col % 10}"
        rows = x[y == c]
        for f in range(n_feat):
            ax = axes[f, col]
            if ref is not None and (ref[1] == c).any():
                real = ref[0][ref[1] == c, :, f]
                mean, std = real.mean(0), real.std(0)
                ax.fill_between(steps, mean - std, mean + std, color="0.85", label="real data (mean ± std)")
                ax.plot(steps, mean, color="0.55", lw=1, ls="--")
            for row in rows[:, :, f]:
                ax.plot(steps, row, color=color, lw=0.7, alpha=0.45)
            ax.plot(steps, rows[:, :, f].mean(0), color=color, lw=2.2, label="mean dream")
            if f == 0:
                ax.set_title(f"{_class_name(int(c), class_names)} ({len(rows)} dreams)", fontsize=10)
            if col == 0 and n_feat > 1:
                ax.set_ylabel(feature_names[f] if feature_names is not None else f"feature {f}")
        axes[-1, col].set_xlabel("time step")
    if ref is not None:
        axes[0, 0].legend(loc="best", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
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
    ``(steps, B)`` trajectory of ``return_trajectory=True``), one colour per class.

    >>> import numpy as np
    >>> ax = plot_dream_trajectory(np.cumsum(np.ones((50, 4)), 0), labels=[0, 1, 0, 1])
    >>> len(ax.lines)
    4
    """
    if isinstance(trajectory, torch.Tensor):
        trajectory = trajectory.detach().cpu().numpy()
    traj = np.asarray(trajectory, dtype=float)
    if traj.ndim == 1:
        traj = traj[:, None]
    if traj.ndim != 2:
        raise ValueError(f"`trajectory` must have shape (steps, B); got {traj.shape}.")
    y = _as_labels(labels, traj.shape[1])
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    steps = np.arange(1, traj.shape[0] + 1)
    seen: set[int] = set()
    classes = list(np.unique(y))
    for b in range(traj.shape[1]):
        c = int(y[b])
        name = _class_name(c, class_names) if c not in seen else None
        seen.add(c)
        ax.plot(steps, traj[:, b], color=f"C{classes.index(c) % 10}", lw=1, alpha=0.7, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if len(classes) > 1 or class_names is not None:
        ax.legend(fontsize=8)
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
    and the dream (colour), the change between them shaded. ``before``/``after``
    (e.g. the class probability of the start and of the dream) go into the titles.

    >>> import numpy as np
    >>> x = np.random.randn(4, 30)
    >>> fig = plot_border_dreams(x, x + 0.1, before=[0.9] * 4, after=[0.5] * 4, n_cols=2)
    >>> len(fig.axes), fig.axes[0].get_title()
    (4, 'p 0.90 -> 0.50')
    """
    x0 = _as_batch(starts, "starts", channels_last)
    x1 = _as_batch(dreams, "dreams", channels_last)
    if x0.shape != x1.shape:
        raise ValueError(f"`starts` {x0.shape} and `dreams` {x1.shape} must have the same shape.")
    if not 0 <= feature < x0.shape[2]:
        raise ValueError(f"`feature`={feature} is out of range for {x0.shape[2]} features.")
    n = len(x0)
    p0 = None if before is None else np.asarray(before, dtype=float).reshape(-1)
    p1 = None if after is None else np.asarray(after, dtype=float).reshape(-1)
    n_cols = max(1, min(n_cols, n))
    n_rows = -(-n // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.8 * n_cols, 2.4 * n_rows), sharex=True, squeeze=False)
    steps = np.arange(x0.shape[1])
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_visible(False)
            continue
        a, b = x0[i, :, feature], x1[i, :, feature]
        ax.fill_between(steps, a, b, color="C3", alpha=0.2, lw=0)
        ax.plot(steps, a, color="0.5", lw=1.2, label="start")
        ax.plot(steps, b, color="C3", lw=1.4, label="dream")
        if p0 is not None and p1 is not None:
            ax.set_title(f"p {p0[i]:.2f} -> {p1[i]:.2f}", fontsize=10)
    axes.flat[0].legend(fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time step")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


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
    The title of each panel gives the mean total variation and L2 norm of its rows.

    >>> import numpy as np
    >>> fig = plot_regularizer_comparison({"none": np.random.randn(2, 30), "blur": np.zeros((2, 30))})
    >>> [ax.get_title().split(":")[0] for ax in fig.axes]
    ['none', 'blur']
    """
    if not dreams:
        raise ValueError("`dreams` is empty; pass at least one {name: sequences} entry.")
    batches = {name: _as_batch(v, f"dreams[{name!r}]", channels_last) for name, v in dreams.items()}
    n = len(batches)
    n_cols = n if n_cols is None else max(1, min(n_cols, n))
    n_rows = -(-n // n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.4 * n_cols, 2.5 * n_rows), sharex=True, sharey=sharey, squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_visible(False)
            continue
        name, x = list(batches.items())[i]
        if not 0 <= feature < x.shape[2]:
            raise ValueError(f"`feature`={feature} is out of range for {x.shape[2]} features.")
        series = x[:, :, feature]
        steps = np.arange(series.shape[1])
        for j, row in enumerate(series):
            ax.plot(steps, row, color=f"C{j % 10}", lw=1, alpha=0.8)
        tv = np.abs(np.diff(x, axis=1)).sum((1, 2)).mean()
        norm = np.sqrt((x**2).sum((1, 2))).mean()
        ax.set_title(f"{name}: TV {tv:.3g}, L2 {norm:.3g}", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("time step")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
