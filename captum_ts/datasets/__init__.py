"""Datasets with ground-truth saliency (generated on the fly), real series shipped inside PyPI
packages, and a reader for the public ETT files."""

from .bumps import LabelledSeries, bumps
from .ett import load_ett
from .hmm import HMMSeries, hmm_state
from .series import ForecastWindows, load_series, seasonal_series, split_series
from .shapes import ShapeSeries, shapes
from .switch_feature import switch_feature
from .ucr import load_ucr

__all__ = [
    "ForecastWindows",
    "HMMSeries",
    "LabelledSeries",
    "ShapeSeries",
    "bumps",
    "hmm_state",
    "load_ett",
    "load_series",
    "load_ucr",
    "seasonal_series",
    "shapes",
    "split_series",
    "switch_feature",
]
