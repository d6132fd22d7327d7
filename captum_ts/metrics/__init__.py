"""Scores for explanations of time-series models, in Captum's calling style:
continuity, selectivity (pixel flipping, AUC, AOPC), RCAP and deletion/insertion AUC."""

from .continuity import continuity
from .deletion import deletion_auc, insertion_auc
from .perturbations import shift_along_time, time_shift
from .rcap import RCAPResult, rcap
from .selectivity import SelectivityResult, curve_summaries, selectivity

__all__ = [
    "RCAPResult",
    "SelectivityResult",
    "continuity",
    "curve_summaries",
    "deletion_auc",
    "insertion_auc",
    "rcap",
    "selectivity",
    "shift_along_time",
    "time_shift",
]
