"""Datasets with ground-truth saliency, generated on the fly (nothing is downloaded)."""

from .bumps import LabelledSeries, bumps

__all__ = ["LabelledSeries", "bumps"]
