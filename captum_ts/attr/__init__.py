"""Attribution methods for time-series models, as Captum ``Attribution`` subclasses.

One sub-package per method family: ``gradients`` (Guided AbsoluteGrad), ``masks`` (learned
perturbation masks), ``horizon`` (Horizon Activation Maps), ``dreaming`` (activation maximisation),
``relevance`` (LRP, deep Taylor) and ``cam`` (the CAM family).
"""

from .cam import CAM, GuidedGradCam, LayerGradCam, LayerGradCamPlusPlus
from .dreaming import SequenceDreaming, decoders, random_starts, regularizers
from .gradients import GuidedAbsoluteGrad
from .horizon import HorizonActivationMap, HorizonActivationResult
from .masks import LearnedPerturbationMask
from .relevance import LRP, DeepTaylor

__all__ = [
    "CAM",
    "LRP",
    "DeepTaylor",
    "GuidedAbsoluteGrad",
    "GuidedGradCam",
    "HorizonActivationMap",
    "HorizonActivationResult",
    "LayerGradCam",
    "LayerGradCamPlusPlus",
    "LearnedPerturbationMask",
    "SequenceDreaming",
    "decoders",
    "random_starts",
    "regularizers",
]
