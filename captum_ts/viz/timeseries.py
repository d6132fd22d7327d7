"""Captum's ``visualize_timeseries_attr`` for current matplotlib: the same arguments,
defaults and colours, with the input checks and the fixes listed in its docstring."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection, QuadMesh
from matplotlib.colors import Colormap, LinearSegmentedColormap, Normalize
from matplotlib.figure import Figure

from ._arrays import as_time_by_feature, check_names, to_array
from ._style import LEGEND_FONT, integer_ticks

METHODS = ("overlay_individual", "overlay_combined", "colored_graph")
SIGNS = {  # Captum's default colour map and range for each sign
    "absolute_value": ("Blues", 0.0, 1.0),
    "positive": ("Greens", 0.0, 1.0),
    "negative": ("Reds", 0.0, 1.0),
    "all": (LinearSegmentedColormap.from_list("RdWhGn", ["red", "white", "green"]), -1.0, 1.0),
}
SIGN_TEXT = {
    "absolute_value": "|attribution|",
    "positive": "positive attribution",
    "negative": "−(negative attribution)",
    "all": "attribution",
}


def normalize_attr(attr: np.ndarray, sign: str, outlier_perc: float) -> np.ndarray:
    """Captum's normalisation: keep the values of ``sign``, divide by the magnitude below
    which ``100 - outlier_perc`` % of the total magnitude lies, clip to [-1, 1]. Values of
    ``sign="negative"`` come out in [0, 1] (larger = more negative), as in Captum."""
    kept = {
        "all": attr,
        "positive": np.maximum(attr, 0.0),
        "negative": np.minimum(attr, 0.0),
        "absolute_value": np.abs(attr),
    }[sign]
    magnitude = np.sort(np.abs(kept).ravel())
    cumulative = np.cumsum(magnitude)
    if cumulative[-1] == 0:
        warnings.warn(
            f"`attr` has no {SIGN_TEXT[sign]} values to show (sign={sign!r}); the overlay is blank.",
            stacklevel=3,
        )
        return np.zeros_like(kept)
    first = np.searchsorted(cumulative, cumulative[-1] * 0.01 * (100.0 - outlier_perc), side="left")
    threshold = magnitude[min(first, magnitude.size - 1)]
    return np.clip(kept / (-threshold if sign == "negative" else threshold), -1.0, 1.0)


def visualize_timeseries_attr(
    attr: object,
    data: object,
    x_values: object | None = None,
    method: str = "overlay_individual",
    sign: str = "absolute_value",
    channel_labels: Sequence[str] | None = None,
    channels_last: bool = True,
    plt_fig_axis: tuple[Figure, Axes | Sequence[Axes] | np.ndarray] | None = None,
    outlier_perc: float = 2,
    cmap: str | Colormap | None = None,
    alpha_overlay: float = 0.7,
    show_colorbar: bool = False,
    title: str | None = None,
    fig_size: tuple[float, float] = (6, 6),
    use_pyplot: bool = True,
    **pyplot_kwargs: Any,
) -> tuple[Figure, Axes | np.ndarray]:
    """Drop-in for ``captum.attr.visualization.visualize_timeseries_attr`` (Captum 0.9).

    ``attr`` and ``data`` are one series, ``(T, C)`` (``(C, T)`` with ``channels_last=False``)
    or ``(T,)``, as numpy arrays or tensors of any dtype. ``method``:
    ``"overlay_individual"`` (a panel per channel, its attribution as coloured spans behind
    it), ``"overlay_combined"`` (all channels in one panel, the channel-summed attribution
    behind them) or ``"colored_graph"`` (each channel's line coloured by its attribution).
    ``sign``, ``outlier_perc``, ``cmap``, ``alpha_overlay`` and the default colour maps are
    Captum's (see :func:`normalize_attr`); ``pyplot_kwargs`` go to ``Axes.plot`` (to the
    ``LineCollection`` for ``colored_graph``). Returns ``(figure, axis)`` like Captum;
    ``use_pyplot=True`` (the default, as in Captum) makes the figure with pyplot and calls
    ``plt.show()``; ``use_pyplot=False`` returns a figure pyplot does not know.

    Differences from Captum, all in how it is drawn, never in the colours: it runs on
    matplotlib 3.9+, where ``cm.get_cmap`` is gone; it changes only its own figure (Captum's
    ``plt.xlim``/``plt.subplots_adjust`` act on pyplot's current figure); spans sit behind
    the lines and each covers its step from midpoint to midpoint (also for uneven
    ``x_values``); in ``colored_graph`` every step, the last one too, gets the colour of
    its own attribution, and the y-range fits the data; ``overlay_combined`` labels
    unnamed channels ``channel c`` (in the legend, or as
    the panel's y label); the colour bar is labelled. Mismatched shapes, bad
    names or arguments raise ``ValueError``/``TypeError`` naming the argument, and a map
    with no value of the requested sign draws a blank overlay with a warning instead of
    Captum's ``AssertionError``.

    >>> import numpy as np
    >>> t = np.linspace(0, 6, 40)
    >>> fig, axes = visualize_timeseries_attr(
    ...     np.c_[np.cos(t), -np.sin(t)], np.c_[np.sin(t), np.cos(t)], sign="all", use_pyplot=False
    ... )
    >>> len(axes), axes[0].collections[0].get_array().shape
    (2, (40,))
    """
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}, got {method!r}.")
    if sign not in SIGNS:
        raise ValueError(f"`sign` must be one of {tuple(SIGNS)}, got {sign!r}.")
    if not 0 <= outlier_perc < 100:
        raise ValueError(f"`outlier_perc` must be in [0, 100), got {outlier_perc!r}.")
    if not 0 <= alpha_overlay <= 1:
        raise ValueError(f"`alpha_overlay` must be in [0, 1], got {alpha_overlay!r}.")
    values = as_time_by_feature(data, "data", channels_last).T  # (C, T)
    a = as_time_by_feature(attr, "attr", channels_last).T
    if a.shape != values.shape:
        raise ValueError(
            f"`attr` has {a.shape[0]} channels x {a.shape[1]} steps but `data` has "
            f"{values.shape[0]} x {values.shape[1]}; they must match (check `channels_last`)."
        )
    n_chan, n_time = values.shape
    if n_chan > n_time:
        warnings.warn(
            f"Number of channels ({n_chan}) greater than time series length ({n_time}), "
            "please verify input format",
            stacklevel=2,
        )
    labels = check_names(channel_labels, n_chan, "channel_labels", "channels")
    x = _x_values(x_values, n_time)
    combined = method == "overlay_combined"
    norm_attr = normalize_attr(a.sum(0, keepdims=True) if combined else a, sign, outlier_perc)
    default_cmap, vmin, vmax = SIGNS[sign]
    colormap = matplotlib.colormaps.get_cmap(default_cmap if cmap is None else cmap)
    norm = Normalize(vmin, vmax)
    n_panels = 1 if combined else n_chan
    fig, axis, panels = _figure(plt_fig_axis, use_pyplot, fig_size, n_panels)

    if combined:
        panels[0].set_prop_cycle(color=matplotlib.colormaps["Dark2"].colors)
        for c in range(n_chan):
            label = labels[c] if labels else f"channel {c}"
            panels[0].plot(x, values[c], label=label, **pyplot_kwargs)
        _spans(panels[0], x, norm_attr[0], colormap, norm, alpha_overlay)
        panels[0].legend(loc="best", fontsize=LEGEND_FONT)
    for c, ax in enumerate(panels if not combined else []):
        if method == "overlay_individual":
            ax.plot(x, values[c], **{"label": labels[c] if labels else f"channel {c}", **pyplot_kwargs})
            _spans(ax, x, norm_attr[c], colormap, norm, alpha_overlay)
        else:
            _colored_line(ax, x, values[c], norm_attr[c], colormap, norm, pyplot_kwargs)
        ax.set_ylabel(labels[c] if labels else f"channel {c}")
    edges = _edges(x)
    for ax in panels:
        ax.set_xlim(edges[0], edges[-1])
        if x_values is None:
            integer_ticks(ax.xaxis)
    if show_colorbar:
        fig.colorbar(
            ScalarMappable(norm, colormap),
            ax=list(panels),
            location="bottom",
            alpha=1.0 if method == "colored_graph" else alpha_overlay,
            label=f"{SIGN_TEXT[sign]}, normalised" + (" (summed over channels)" if combined else ""),
        )
    if title:
        panels[0].set_title(title)
    if use_pyplot:
        plt.show()
    return fig, axis


def _x_values(x_values: object | None, n_time: int) -> np.ndarray:
    if x_values is None:
        return np.arange(n_time, dtype=float)
    x = to_array(x_values, "x_values").reshape(-1)
    if x.size != n_time:
        raise ValueError(f"`x_values` has {x.size} points but the series has {n_time} steps.")
    if (np.diff(x) <= 0).any():
        raise ValueError("`x_values` must be strictly increasing.")
    return x


def _edges(x: np.ndarray) -> np.ndarray:
    """Where each step's span starts and ends: midpoints, half a gap beyond the ends."""
    if x.size == 1:
        return np.array([x[0] - 0.5, x[0] + 0.5])
    mid = (x[:-1] + x[1:]) / 2
    return np.concatenate([[2 * x[0] - mid[0]], mid, [2 * x[-1] - mid[-1]]])


def _figure(
    plt_fig_axis: tuple[Figure, Any] | None, use_pyplot: bool, fig_size: tuple[float, float], n_panels: int
) -> tuple[Figure, Any, list[Axes]]:
    if plt_fig_axis is None:
        if use_pyplot:
            fig, axis = plt.subplots(n_panels, figsize=fig_size, sharex=True, layout="constrained")
        else:
            fig = Figure(figsize=fig_size, layout="constrained")
            axis = fig.subplots(n_panels, sharex=True)
    else:
        if not isinstance(plt_fig_axis, tuple) or len(plt_fig_axis) != 2:
            raise TypeError("`plt_fig_axis` must be a tuple (figure, axis or axes).")
        fig, axis = plt_fig_axis
    panels = list(np.ravel(np.asarray(axis, dtype=object)))
    if len(panels) != n_panels or not all(isinstance(ax, Axes) for ax in panels):
        raise ValueError(f"`plt_fig_axis` must hold {n_panels} axes for this method, got {len(panels)}.")
    return fig, axis, panels


def _spans(
    ax: Axes, x: np.ndarray, values: np.ndarray, cmap: Colormap, norm: Normalize, alpha: float
) -> None:
    """One span per step, full height, behind the lines, coloured ``cmap(norm(value))``;
    the spans do not change the data limits."""
    edges = _edges(x)
    corners = np.stack(np.meshgrid(edges, [0.0, 1.0]), -1)  # (2, T + 1, 2)
    mesh = QuadMesh(
        corners, cmap=cmap, norm=norm, alpha=alpha, transform=ax.get_xaxis_transform(), zorder=0.5
    )
    mesh.set_array(values)
    ax.add_collection(mesh, autolim=False)


def _colored_line(
    ax: Axes, x: np.ndarray, y: np.ndarray, values: np.ndarray, cmap: Colormap, norm: Normalize, kwargs: dict
) -> None:
    """The line through the points, step ``t`` drawn from the midpoint before it to the
    one after it in the colour of its value."""
    mid_x, mid_y = (x[:-1] + x[1:]) / 2, (y[:-1] + y[1:]) / 2
    left = np.stack([np.r_[x[:1], mid_x], np.r_[y[:1], mid_y]], -1)
    right = np.stack([np.r_[mid_x, x[-1:]], np.r_[mid_y, y[-1:]]], -1)
    segments = np.stack([left, np.stack([x, y], -1), right], 1)  # (T, 3, 2)
    lines = LineCollection(segments, cmap=cmap, norm=norm, **kwargs)
    lines.set_array(values)
    ax.add_collection(lines)
    ax.autoscale_view()
