"""The learned mask's objective apart from the fit: how a mask parameter becomes a mask and a
size (clamped or gated, with its temporal variation), the ``"auto"`` size weights, early
stopping, and the warning for masks that did not move."""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor

from ..._validation import check_nonnegative_float
from ._gates import noisy_gate, open_probability, temporal_variation

#: ``"clamp"``: ExtremalMask's mask clamped to [0, 1]; ``"gated"``: stochastic gates with an
#: expected-L0 size (Yamada et al. 2020, as ContraLSP uses them)
MASKS = ("clamp", "gated")
#: ``lambda_mask="auto"`` is ``min(1, AUTO_LAMBDA * L0)`` with ``L0`` a batch's fit loss at
#: the start, masks at 0.5 (docs/learned_perturbation_mask.md, "Defaults at every scale")
AUTO_LAMBDA = 2.0
#: the least ``"auto"`` weight, so cells the model ignores still shrink when the fit loss is ~0
AUTO_FLOOR = 0.01
#: ``lambda_smooth="auto"`` with ``lambda_mask="auto"`` (0 with a numeric ``lambda_mask``)
AUTO_SMOOTH = 0.5
#: a series whose mask moved less than this from its start (0.5) everywhere gets a warning
UNMOVED = 0.05
#: early stopping by default: stop once the epoch objective has not improved on its best by
#: more than this fraction for ``DEFAULT_PATIENCE`` epochs (docs/learned_perturbation_mask.md)
DEFAULT_TOL = 1e-3
DEFAULT_PATIENCE = 10


class MaskShape:
    """How a mask parameter becomes the mask the fit sees and how its size is counted:
    ``"clamp"`` (the raw mask's ``|m|``, unclamped as tint does) or ``"gated"`` (a noisy
    gate, the expected L0); plus the temporal variation term."""

    def __init__(self, kind: str, sigma: float, smooth: float, generator: torch.Generator | None) -> None:
        self.kind, self.sigma, self.smooth, self.generator = kind, sigma, smooth, generator

    def mask(self, raw: Tensor) -> Tensor:
        return noisy_gate(raw, self.sigma, self.generator) if self.kind == "gated" else raw.clamp(0, 1)

    def size(self, raw: Tensor, mode: str) -> Tensor:
        """The summed size term of one input's raw mask (before the element mean)."""
        kept = raw if mode == "preservation" else 1 - raw
        total = open_probability(kept, self.sigma).sum() if self.kind == "gated" else kept.abs().sum()
        if self.smooth:
            total = total + self.smooth * temporal_variation(raw.clamp(0, 1))
        return total


def size_weight(value: object, name: str) -> float | None:
    """A size weight: a number >= 0, or ``None`` for ``"auto"``."""
    return None if isinstance(value, str) and value == "auto" else check_nonnegative_float(value, name)


def size_weights(lam_m: float | None, lam_p: float | None, first_fit: float) -> tuple[float, float]:
    """The size weights of one batch: ``"auto"`` (None) is ``AUTO_LAMBDA * first_fit`` clipped
    to ``[AUTO_FLOOR, 1]``,
    the batch's fit loss at the start (masks at 0.5); an ``"auto"`` ``lambda_perturbation``
    next to a numeric ``lambda_mask`` takes its value."""
    auto = min(1.0, max(AUTO_FLOOR, AUTO_LAMBDA * first_fit)) if math.isfinite(first_fit) else 1.0
    lam_m = auto if lam_m is None else lam_m
    return lam_m, lam_m if lam_p is None else lam_p


def warn_unmoved(masks: tuple[Tensor, ...], lr: float, epochs: int) -> None:
    """Warn when some series' mask stayed within ``UNMOVED`` of its start everywhere."""
    for i, m in enumerate(masks):
        stuck = int(((m - 0.5).abs().flatten(1).amax(1) < UNMOVED).sum())
        if stuck:
            where = "" if len(masks) == 1 else f" of input {i}"
            warnings.warn(
                f"the masks{where} of {stuck} of {len(m)} series stayed within {UNMOVED} of their start "
                f"(0.5) after {epochs} epochs at lr={lr}: they say nothing. Raise `lr` or `epochs`, "
                "or check that the model's output depends on these inputs.",
                UserWarning,
                stacklevel=3,
            )


class EarlyStop:
    """``True`` once the epoch objective has not improved on its best by more than ``tol``
    (relative) for ``patience`` epochs in a row; never with ``tol=None``."""

    def __init__(self, tol: float | None, patience: int) -> None:
        self.tol, self.patience = tol, patience
        self.best, self.stale = math.inf, 0

    def __call__(self, value: float) -> bool:
        if self.tol is None:
            return False
        if not math.isfinite(self.best) or value < self.best - self.tol * abs(self.best):
            self.best, self.stale = value, 0
            return False
        self.stale += 1
        return self.stale >= self.patience
