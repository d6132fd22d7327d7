"""What every figure shares: colour scales that show the sign of the values, integer
ticks where counts are plotted, and legends that name every line without hiding one."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.collections import Collection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

SEQUENTIAL = "Reds"
DIVERGING = "RdBu_r"
LEGEND_FONT = 8


def value_scale(values: np.ndarray) -> tuple[str, Normalize]:
    """A sequential scale from 0 for non-negative values; a diverging one, symmetric
    and centred at 0, as soon as one value is negative (so no sign is hidden)."""
    top = float(np.abs(values).max()) or 1.0
    if (values < 0).any():
        return DIVERGING, Normalize(-top, top)
    return SEQUENTIAL, Normalize(0.0, top)


def integer_ticks(axis: Axis) -> None:
    """Ticks only at whole numbers (steps, counts, cut-offs)."""
    axis.set_major_locator(MaxNLocator(integer=True))


def unique_handles(artists: Iterable[Artist]) -> list[Artist]:
    """One handle per label, first seen first, of the lines, collections and patches
    among ``artists``; unlabelled ones (``""``, ``_...``) are skipped."""
    seen: dict[str, Artist] = {}
    for artist in artists:
        label = str(artist.get_label())
        drawable = isinstance(artist, (Line2D, Collection, Patch))
        if drawable and label and not label.startswith("_") and label not in seen:
            seen[label] = artist
    return list(seen.values())


def legend_beside(ax: Axes, handles: list[Artist] | None = None, **kwargs: object) -> Legend:
    """The legend right of the axes, outside the data, so it never covers a line."""
    handles = unique_handles(ax.get_children()) if handles is None else handles
    return ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        fontsize=LEGEND_FONT,
        **kwargs,
    )


def legend_below(fig: Figure, handles: list[Artist], **kwargs: object) -> Legend:
    """One legend for the whole figure, under its panels (needs a constrained layout)."""
    return fig.legend(
        handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize=LEGEND_FONT, **kwargs
    )
