"""captum-ts: a Captum extension for explaining time-series models."""

from .attr import GuidedAbsoluteGrad

__version__ = "0.1.0"

__all__ = ["GuidedAbsoluteGrad", "__version__"]
