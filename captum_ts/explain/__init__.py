"""Explain and score whole datasets: stream DataLoaders, on one process or under ``torch.distributed``."""

from .horizons import explain_horizons
from .loader import evaluate_loader, explain_loader

__all__ = ["evaluate_loader", "explain_horizons", "explain_loader"]
