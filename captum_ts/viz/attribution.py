"""Attribution maps drawn over the series they explain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._arrays import as_time_by_feature, check_names
from ._style import integer_ticks, value_scale


def plot_attribution(
    series: object,
    attribution: object,
    ax: Axes | None = None,
    title: str | None = None,
    feature_names: Sequence[str] | None = None,
    channels_last: bool = True,
    cmap: str | None = None,
    colorbar: bool = True,
) -> Axes:
    """Draw each feature of one series as a line in its own band, over a heat map of
    its attribution, with a colour bar.

    A map with a negative value is drawn on a diverging scale symmetric around 0
    (``RdBu_r``: red positive, blue negative, white 0); a non-negative map on a
    sequential scale from 0 (``Reds``). ``cmap`` replaces the colours, not the scale.
    Each band shows its feature min-max scaled; the tick label gives that range, so
    the amplitude of every feature stays readable.

    ``series`` is ``(T,)`` or ``(T, F)`` (``(F, T)`` with ``channels_last=False``);
    ``attribution`` the same shape, or ``(T, 1)`` to shade all bands alike. Tensors of any
    dtype are accepted; NaN, Inf and empty series are refused.

    >>> import numpy as np
    >>> ax = plot_attribution(np.sin(np.arange(50) / 5), np.linspace(-1, 1, 50))
    >>> len(ax.lines), ax.images[0].norm.vmin, ax.images[0].norm.vmax
    (1, -1.0, 1.0)
    """
    x = as_time_by_feature(series, "series", channels_last)
    a = as_time_by_feature(attribution, "attribution", channels_last)
    if a.shape[0] != x.shape[0] or a.shape[1] not in (1, x.shape[1]):
        raise ValueError(f"`attribution` has shape {a.shape}, not compatible with the series {x.shape}.")
    a = np.broadcast_to(a, x.shape)
    n_time, n_feat = x.shape
    names = check_names(feature_names, n_feat, "feature_names", "features")
    names = names if names is not None else [f"feature {j}" for j in range(n_feat)]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 1.3 + 0.8 * n_feat), layout="constrained")
    default_cmap, norm = value_scale(a)
    # row 0 of the image is the top band: feature 0 is drawn at the top
    image = ax.imshow(
        a.T,
        aspect="auto",
        cmap=cmap or default_cmap,
        norm=norm,
        alpha=0.75,
        extent=(-0.5, n_time - 0.5, 0.0, float(n_feat)),
        interpolation="nearest",
    )
    low, high = x.min(0), x.max(0)
    span = np.where(high > low, high - low, 1.0)
    bottoms = n_feat - 1 - np.arange(n_feat)
    ax.plot(np.arange(n_time), bottoms + 0.1 + 0.8 * (x - low) / span, color="k", lw=1, label=names)
    ranges = [f"{name}\n[{lo:.3g}, {hi:.3g}]" for name, lo, hi in zip(names, low, high)]
    ax.set_yticks(np.arange(n_feat) + 0.5, ranges[::-1], fontsize=8)
    ax.set_xlim(-0.5, n_time - 0.5)
    ax.set_ylim(0, n_feat)
    integer_ticks(ax.xaxis)
    ax.set_xlabel("time step")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, pad=0.01, fraction=0.05, label="attribution")
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return ax


def plot_attribution_comparison(
    series: object,
    attributions: Mapping[str, object],
    saliency: object | None = None,
    feature_names: Sequence[str] | None = None,
    channels_last: bool = True,
    suptitle: str | None = None,
) -> Figure:
    """One row per method (and a first row with the true saliency, if given), all
    over the same series, sharing the time axis; each row has its own colour bar
    (methods differ in scale) and sign-aware scale (see :func:`plot_attribution`)."""
    if not isinstance(attributions, Mapping):
        raise TypeError(f"`attributions` must be a mapping {{name: map}}, got {type(attributions).__name__}.")
    rows: list[tuple[str, object]] = []
    if saliency is not None:
        rows.append(("true saliency", saliency))
    rows.extend(attributions.items())
    if not rows:
        raise ValueError("`attributions` is empty; pass at least one method's map.")
    n_feat = as_time_by_feature(series, "series", channels_last).shape[1]
    fig, axes = plt.subplots(
        len(rows), 1, figsize=(8, 0.4 + (0.9 + 0.55 * n_feat) * len(rows)), sharex=True, squeeze=False,
        layout="constrained",
    )  # fmt: skip
    for ax, (name, attr) in zip(axes[:, 0], rows):
        plot_attribution(
            series, attr, ax=ax, title=name, feature_names=feature_names, channels_last=channels_last
        )
        ax.set_xlabel("")
    axes[-1, 0].set_xlabel("time step")
    if suptitle:
        fig.suptitle(suptitle)
    return fig
