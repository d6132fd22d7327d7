"""Attribution methods for time-series models, as Captum ``Attribution`` subclasses."""

from . import decoders, regularizers
from .cam import CAM, GuidedGradCam, LayerGradCam, LayerGradCamPlusPlus
from .guided_absolute_grad import GuidedAbsoluteGrad
from .ham_result import HorizonActivationResult
from .horizon_activation_map import HorizonActivationMap
from .learned_perturbation_mask import LearnedPerturbationMask
from .relevance import LRP, DeepTaylor
from .sequence_dreaming import SequenceDreaming, random_starts

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
