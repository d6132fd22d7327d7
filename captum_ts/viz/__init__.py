"""Matplotlib figures for time-series explanations; functions return Axes or Figures
and never call ``plt.show()``, except :func:`visualize_timeseries_attr` with
``use_pyplot=True`` (Captum's default for that function)."""

from .attribution import plot_attribution, plot_attribution_comparison
from .cumulative import plot_cumulative_curves
from .dreams import plot_border_dreams, plot_dream_trajectory, plot_dreams, plot_regularizer_comparison
from .horizon import plot_ham_difference, plot_ham_layers, plot_horizon_activation_map
from .horizons_heatmap import plot_horizon_lag_heatmap, plot_importance_over_time
from .masks import plot_mask_over_states
from .rcap import plot_rcap
from .selectivity import plot_selectivity_curves
from .timeseries import visualize_timeseries_attr

__all__ = [
    "plot_attribution",
    "plot_attribution_comparison",
    "plot_border_dreams",
    "plot_cumulative_curves",
    "plot_dream_trajectory",
    "plot_dreams",
    "plot_ham_difference",
    "plot_ham_layers",
    "plot_horizon_activation_map",
    "plot_horizon_lag_heatmap",
    "plot_importance_over_time",
    "plot_mask_over_states",
    "plot_rcap",
    "plot_regularizer_comparison",
    "plot_selectivity_curves",
    "visualize_timeseries_attr",
]
