"""Learned perturbation masks: ``LearnedPerturbationMask``."""

from .learned_perturbation_mask import LearnedPerturbationMask

__all__ = ["LearnedPerturbationMask"]
