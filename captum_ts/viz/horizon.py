"""Horizon Activation Mapping figures: the HAM curves with their lines of
proportionality, the causal-minus-anti-causal difference with its equivariant
point, and a per-layer view.

The functions take HAM results (anything with ``curve(mode, variate, layer)``,
``horizon`` and ``normalized()``, as returned by ``HorizonActivationMap``), one
or several (a mapping from a label to a result, drawn in one colour each).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._arrays import check_index, to_array
from ._style import LEGEND_FONT, integer_ticks, legend_beside, unique_handles

MODE_STYLE = {"causal": "-", "anticausal": "-."}
MODE_LABEL = {"causal": "causal [0, h)", "anticausal": "anti-causal [h, H)"}
PROP_LABEL = "line of proportionality (dashed, same colour)"
PROP_H_LABEL = "lines of proportionality through h*"
POINT_LABEL = "equivariant point h* = argmin |d|"


def plot_horizon_activation_map(
    results: object,
    ax: Axes | None = None,
    modes: Sequence[str] = ("causal", "anticausal"),
    normalize: bool = False,
    proportionality: bool = True,
    relative: bool = False,
    colors: Sequence[str] | None = None,
    variate: int | None = None,
    layer: str | int | None = None,
    title: str | None = None,
) -> Axes:
    """The HAM figure: gradient norm average against the cut-off ``h``.

    The bottom axis reads the causal sub-series ``0 -> h``; a twin top axis reads
    the anti-causal sub-series ``h -> H`` by its length ``H - h``. Causal curves are
    solid, anti-causal dash-dotted, each with its dashed line of proportionality
    (uniform contribution of every step) in the same colour. Several models share
    the axes, one colour each; ``normalize`` divides every model's curves by their
    maximum over both modes and all cut-offs (the legend shows the divisor,
    ``name (÷ max)``) so that their shapes compare. The legend sits beside the axes.

    Args:
        results: one HAM result, or a mapping ``{label: result}``.
        ax: axes to draw on (a new figure if None).
        modes: which curves to draw.
        normalize: rescale each model by ``1 / max`` of its curves.
        proportionality: draw the lines of proportionality.
        relative: x in ``h / H`` (to compare different horizons).
        colors: one matplotlib colour per model (default: the colour cycle).
        variate, layer: which curve of a per-variate or per-layer result.
        title: axes title.

    >>> import torch
    >>> from captum_ts.attr.horizon.horizon_activation_map import HorizonActivationMap
    >>> res = HorizonActivationMap(torch.nn.Linear(6, 4)).attribute(torch.randn(8, 6), torch.randn(8, 4))
    >>> ax = plot_horizon_activation_map({"linear": res})
    >>> len(ax.lines)  # two curves, two lines of proportionality
    4
    """
    items = _as_items(results)
    _check_modes(modes)
    horizons = {res.horizon for _, res in items}
    if len(horizons) > 1 and not relative:
        raise ValueError(f"the results have different horizons {sorted(horizons)}; pass `relative=True`.")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
    palette = _colors(colors, len(items))
    for (label, res), color in zip(items, palette):
        shown = res.normalized() if normalize else res
        x = _x(res.horizon, relative)
        if normalize:
            scale = max(
                to_array(res.curve(m, variate, layer), f"results[{label!r}].curve({m!r})").max()
                for m in ("causal", "anticausal")
            )
            label = f"{label} (÷ {scale:.3g})"
        for mode in modes:
            y = to_array(shown.curve(mode, variate, layer), f"results[{label!r}].curve({mode!r})")
            ax.plot(x, y, MODE_STYLE[mode], color=color, lw=1.8, label=f"{label}: {MODE_LABEL[mode]}")
            if proportionality:
                ax.plot([x[0], x[-1]], [y[0], y[-1]], "--", color=color, lw=1.0, alpha=0.7, label=PROP_LABEL)
    handles = [h for h in unique_handles(ax.get_lines()) if h.get_label() != PROP_LABEL]
    if proportionality:
        handles.append(Line2D([], [], ls="--", color="0.3", lw=1.0, label=PROP_LABEL))
    legend_beside(
        ax, handles, title="each model ÷ its max" if normalize else None, title_fontsize=LEGEND_FONT
    )
    horizon = max(horizons)
    top = 1.0 if relative else float(horizon)
    ax.set_xlim(0, top)
    ax.set_xlabel("Causal sub-series 0 → h" + (" (h / H)" if relative else ""))
    twin = ax.secondary_xaxis("top", functions=(lambda h: top - h, lambda h: top - h))
    twin.set_xlabel("Anti-causal sub-series h → H (length H − h" + (", relative)" if relative else ")"))
    ax.set_ylabel("Gradient norm average ÷ model's max" if normalize else "Gradient norm average")
    if not relative:
        integer_ticks(ax.xaxis)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_ham_difference(
    results: object,
    ax: Axes | None = None,
    colors: Sequence[str] | None = None,
    variate: int | None = None,
    layer: str | int | None = None,
    title: str | None = None,
) -> Axes:
    """The difference plot: ``d(h) = (causal - anti-causal) / max``, running from
    about -1 to 1, against the uniform-differences line from ``(0, -1)`` to
    ``(H, 1)``. The equivariant point ``h* = argmin |d|`` is marked, with the two
    lines of proportionality ``(0, -1) -> (h*, 0)`` and ``(h*, 0) -> (H, 1)``. An
    ``h*`` left of ``H / 2`` means the early steps move the parameters as much as
    the (longer) rest of the horizon.

    >>> import torch
    >>> from captum_ts.attr.horizon.horizon_activation_map import HorizonActivationMap
    >>> res = HorizonActivationMap(torch.nn.Linear(6, 4)).attribute(torch.randn(8, 6), torch.randn(8, 4))
    >>> ax = plot_ham_difference(res)
    >>> len(ax.lines)  # uniform line, zero line, curve, the lines of proportionality through h*
    4
    """
    items = _as_items(results)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
    horizon = max(res.horizon for _, res in items)
    ax.plot([0, horizon], [-1, 1], ":", color="0.5", lw=1.2, label="uniform differences")
    ax.axhline(0.0, color="0.8", lw=0.8)
    for (label, res), color in zip(items, _colors(colors, len(items))):
        causal, anti = (
            to_array(res.curve(m, variate, layer), f"results[{label!r}].curve({m!r})")
            for m in ("causal", "anticausal")
        )
        d = causal - anti
        top = d.max()
        d = d / top if top > 0 else d
        h_star = int(np.abs(d).argmin())
        x = np.arange(res.horizon + 1)
        shown = f"{label} (h* = {h_star})" + ("" if top > 0 else ", not divided: its max is <= 0")
        ax.plot(x, d, "-", color=color, lw=1.8, label=shown)
        ax.plot(
            [0, h_star, res.horizon], [-1, 0, 1], "--", color=color, lw=1.0, alpha=0.7, label=PROP_H_LABEL
        )
        ax.scatter([h_star], [d[h_star]], color=color, zorder=3, s=30, label=POINT_LABEL)
    handles = [
        _grey_proxy(h) if h.get_label() in (PROP_H_LABEL, POINT_LABEL) else h
        for h in unique_handles([*ax.get_lines(), *ax.collections])
    ]
    ax.set_xlim(0, horizon)
    integer_ticks(ax.xaxis)
    ax.set_xlabel("Cut-off h")
    ax.set_ylabel("d(h) = (causal − anti-causal) / its max over h")
    legend_beside(ax, handles)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_ham_layers(
    result: object,
    modes: Sequence[str] = ("causal", "anticausal"),
    normalize: bool = True,
    variate: int | None = None,
    cmap: str = "viridis",
    max_legend: int = 8,
) -> Figure:
    """One panel per mode with a curve per parameter tensor, coloured from the
    first layer to the last, and the model-level mean in black. With ``normalize``
    each layer's curves are divided by their maximum, so layers of very different
    gradient scales compare by shape: a layer above the dashed diagonal is driven
    mostly by the early horizon steps (causal panel).

    >>> import torch
    >>> from captum_ts.attr.horizon.horizon_activation_map import HorizonActivationMap
    >>> net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4))
    >>> res = HorizonActivationMap(net).attribute(torch.randn(8, 6), torch.randn(8, 4))
    >>> fig = plot_ham_layers(res)
    >>> len(fig.axes[0].lines)  # 4 parameter tensors, the mean, the diagonal
    6
    """
    _check_modes(modes)
    names = list(result.layer_names)
    group = 0
    if result.variates is not None:
        if variate is None and len(result.variates) > 1:
            raise ValueError(f"the result has {len(result.variates)} groups of variates; pass `variate=`.")
        group = 0 if variate is None else check_index(variate, len(result.variates), "variate", "groups")
    causal = to_array(result.layer_causal[:, group], "result.layer_causal")  # (H+1, L)
    anti = to_array(result.layer_anticausal[:, group], "result.layer_anticausal")
    curves = {"causal": causal, "anticausal": anti}
    if normalize:
        top = np.maximum(causal.max(0), anti.max(0))
        top = np.where(top > 0, top, 1.0)
        curves = {k: v / top for k, v in curves.items()}
    active = (causal.max(0) > 0) | (anti.max(0) > 0)
    fig, axes = plt.subplots(
        1, len(modes), figsize=(5.5 * len(modes) + 2, 4), squeeze=False, sharey=True, layout="constrained"
    )
    colours = plt.get_cmap(cmap)(np.linspace(0, 0.9, max(len(names), 1)))
    x = np.arange(causal.shape[0])
    for ax, mode in zip(axes[0], modes):
        values = curves[mode]
        for i, name in enumerate(names):
            ax.plot(x, values[:, i], MODE_STYLE[mode], color=colours[i], lw=1.2, label=name)
        mean = values[:, active].mean(1) if active.any() else np.zeros_like(x, dtype=float)
        ax.plot(x, mean, "-", color="k", lw=2.2, label="mean over the layers")
        ax.plot([x[0], x[-1]], [mean[0], mean[-1]], "--", color="k", lw=1.0, alpha=0.7, label=PROP_LABEL)
        ax.set_title(MODE_LABEL[mode], fontsize=10)
        ax.set_xlabel("Cut-off h")
        ax.set_xlim(0, x[-1])
        integer_ticks(ax.xaxis)
    axes[0, 0].set_ylabel(
        "Gradient norm ÷ the layer's max (both modes)" if normalize else "Gradient norm average"
    )
    if len(names) <= max_legend:
        legend_beside(axes[0, -1])
    else:
        bar = fig.colorbar(plt.cm.ScalarMappable(cmap=cmap), ax=axes[0].tolist(), ticks=[0, 0.9])
        bar.ax.set_yticklabels([names[0], names[-1]], fontsize=LEGEND_FONT)
        bar.set_label("parameter tensor, first to last")
        legend_beside(axes[0, 0], unique_handles(axes[0, 0].get_lines()[len(names) :]))
    return fig


# ----------------------------------------------------------------------------- helpers
def _as_items(results: object) -> list[tuple[str, object]]:
    if isinstance(results, Mapping):
        items = list(results.items())
    elif hasattr(results, "curve"):
        items = [("model", results)]
    else:
        raise TypeError("`results` must be a HAM result or a mapping {label: result}.")
    if not items:
        raise ValueError("`results` is empty.")
    for label, res in items:
        if not hasattr(res, "curve"):
            raise TypeError(f"`results[{label!r}]` is not a HAM result (no `curve` method).")
    return items


def _grey_proxy(artist: object) -> Line2D:
    """A grey legend entry for lines drawn once per model in the model's colour."""
    if isinstance(artist, Line2D):
        return Line2D([], [], ls="--", color="0.3", lw=1.0, label=artist.get_label())
    return Line2D([], [], ls="", marker="o", color="0.3", label=artist.get_label())


def _colors(colors: Sequence[str] | None, n: int) -> list:
    if colors is not None:
        if len(colors) < n:
            raise ValueError(f"`colors` has {len(colors)} entries for {n} results.")
        return list(colors)
    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    return [cycle[i % len(cycle)] for i in range(n)]


def _x(horizon: int, relative: bool) -> np.ndarray:
    x = np.arange(horizon + 1, dtype=float)
    return x / max(horizon, 1) if relative else x


def _check_modes(modes: Sequence[str]) -> None:
    if isinstance(modes, str) or not modes:
        raise ValueError(f"`modes` must be a non-empty sequence of 'causal'/'anticausal', got {modes!r}.")
    for mode in modes:
        if mode not in MODE_STYLE:
            raise ValueError(f"`modes` entries must be 'causal' or 'anticausal', got {mode!r}.")
