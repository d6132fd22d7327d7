"""Scores for explanations of time-series models, in Captum's calling style:
continuity, selectivity (pixel flipping, AUC, AOPC), RCAP, deletion/insertion AUC, and
white-box scores against a true saliency mask (AUP, AUR, information, entropy, AUROC, AUPRC)."""

from .continuity import continuity
from .cumulative import CumulativeResult, cpd, cpp
from .deletion import deletion_auc, insertion_auc
from .perturbations import shift_along_time, time_shift
from .rcap import RCAPResult, rcap
from .selectivity import SelectivityResult, curve_summaries, selectivity
from .white_box import aup, auprc, aur, auroc, entropy, information

__all__ = [
    "CumulativeResult",
    "RCAPResult",
    "SelectivityResult",
    "aup",
    "auprc",
    "aur",
    "auroc",
    "continuity",
    "cpd",
    "cpp",
    "curve_summaries",
    "deletion_auc",
    "entropy",
    "information",
    "insertion_auc",
    "rcap",
    "selectivity",
    "shift_along_time",
    "time_shift",
]
