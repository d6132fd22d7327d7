"""Datasets with ground-truth saliency (generated on the fly) and real UCR sets shipped in PyPI packages."""

from .bumps import LabelledSeries, bumps
from .ucr import load_ucr

__all__ = ["LabelledSeries", "bumps", "load_ucr"]
