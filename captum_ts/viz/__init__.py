"""Matplotlib figures for time-series explanations; functions return Axes or Figures
and never call ``plt.show()``."""

from .attribution import plot_attribution, plot_attribution_comparison

__all__ = ["plot_attribution", "plot_attribution_comparison"]
