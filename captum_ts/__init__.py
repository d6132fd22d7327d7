"""captum-ts: a Captum extension for explaining time-series models."""

from . import metrics
from .attr import GuidedAbsoluteGrad, HorizonActivationMap, LearnedPerturbationMask, SequenceDreaming
from .attr.cam import CAM, GuidedGradCam, LayerGradCam, LayerGradCamPlusPlus
from .attr.relevance import LRP, DeepTaylor
from .explain import evaluate_loader, explain_horizons, explain_loader

__version__ = "0.1.0"

__all__ = [
    "CAM",
    "LRP",
    "DeepTaylor",
    "GuidedAbsoluteGrad",
    "GuidedGradCam",
    "HorizonActivationMap",
    "LayerGradCam",
    "LayerGradCamPlusPlus",
    "LearnedPerturbationMask",
    "SequenceDreaming",
    "__version__",
    "evaluate_loader",
    "explain_horizons",
    "explain_loader",
    "metrics",
]
