"""Horizon Activation Maps for forecasters: ``HorizonActivationMap`` and its result type."""

from .horizon_activation_map import HorizonActivationMap
from .result import HorizonActivationResult

__all__ = ["HorizonActivationMap", "HorizonActivationResult"]
