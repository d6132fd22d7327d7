"""Noise-averaged gradient methods: ``GuidedAbsoluteGrad``."""

from .guided_absolute_grad import GuidedAbsoluteGrad

__all__ = ["GuidedAbsoluteGrad"]
