"""Explain and score whole datasets: stream DataLoaders, on one process or under ``torch.distributed``."""

from .loader import evaluate_loader, explain_loader

__all__ = ["evaluate_loader", "explain_loader"]
