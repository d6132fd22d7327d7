"""captum-ts: a Captum extension for explaining time-series models."""

from .attr import GuidedAbsoluteGrad
from .explain import evaluate_loader, explain_loader

__version__ = "0.1.0"

__all__ = ["GuidedAbsoluteGrad", "__version__", "evaluate_loader", "explain_loader"]
