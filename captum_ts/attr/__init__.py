"""Attribution methods for time-series models, as Captum ``Attribution`` subclasses."""

from .guided_absolute_grad import GuidedAbsoluteGrad

__all__ = ["GuidedAbsoluteGrad"]
