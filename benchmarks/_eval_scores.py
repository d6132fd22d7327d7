"""Every score of the evaluation, one value per test example, from captum_ts.metrics.

Ranking metrics see ``|map|`` (a strongly negative gradient is as relevant as a strongly
positive one); the removal value is 0 for every method and metric (the mean of a
z-normalised series; zero-mean noise in the generated sets); insertion starts from a
Gaussian blur of the series along time, as the metric's default. CPD and CPP remove the
top (bottom) ``CUMULATIVE_SHARE`` of the cells one at a time and compare the whole
probability vector, as the paper does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from captum_ts.metrics import (
    auprc,
    auroc,
    cpd,
    cpp,
    deletion_auc,
    insertion_auc,
    rcap,
    selectivity,
)

#: regions of the selectivity curve: the series is cut into about this many time patches
SELECTIVITY_PATCHES = 20
#: CPD and CPP remove this share of the (time, channel) cells, so K scales with the series
CUMULATIVE_SHARE = 0.1


@dataclass(frozen=True)
class Metric:
    title: str
    higher_is_better: bool


METRICS: dict[str, Metric] = {
    "sel_auc": Metric("selectivity MoRF AUC (softmax probability, 20 time patches)", False),
    "sel_aopc": Metric("selectivity MoRF AOPC (softmax probability, 20 time patches)", True),
    "deletion": Metric("deletion AUC (cells, removal value 0)", False),
    "insertion": Metric("insertion AUC (cells, from a blurred series)", True),
    "rcap": Metric("RCAP (levels 0.5..0.9, removal value 0)", True),
    "cpd": Metric(
        f"CPD (top {CUMULATIVE_SHARE:.0%} of cells removed one by one, removal value 0, "
        "L1 change of the probability vector)",
        True,
    ),
    "cpp": Metric(
        f"CPP (bottom {CUMULATIVE_SHARE:.0%} of cells removed one by one, removal value 0, "
        "L1 change of the probability vector)",
        False,
    ),
    "auroc": Metric("AUROC of |map| against the true saliency", True),
    "auprc": Metric("AUPRC of |map| against the true saliency", True),
    "mass": Metric("share of |map| on the true saliency", True),
    "seed_corr": Metric("Pearson correlation of |map| between two generator seeds", True),
}


def score(
    model: nn.Module,
    x: Tensor,
    target: Tensor,
    maps: Tensor,
    maps_again: Tensor | None,
    truth: Tensor | None,
    rows: int,
) -> dict[str, Tensor]:
    """``{metric: (B,) values}``; ``maps_again`` is the map from the second generator seed
    (None for a deterministic method: correlation 1), ``truth`` the true saliency or None."""
    a = maps.detach().abs()
    prob = nn.Sequential(model, nn.Softmax(-1))
    patch = math.ceil(x.shape[1] / SELECTIVITY_PATCHES)
    sel = selectivity(prob, x, a, target=target, n_steps=None, patch_size=patch, max_examples_per_batch=rows)
    out = {
        "sel_auc": sel.auc,
        "sel_aopc": sel.aopc,
        "deletion": deletion_auc(model, x, a, target=target, feature_wise=True, max_examples_per_batch=rows),
        "insertion": insertion_auc(
            model, x, a, target=target, feature_wise=True, max_examples_per_batch=rows
        ),
        "rcap": rcap(model, x, a, target=target, max_examples_per_batch=rows),
        "cpd": cpd(model, x, a, n_steps=CUMULATIVE_SHARE, max_examples_per_batch=rows).score,
        "cpp": cpp(model, x, a, n_steps=CUMULATIVE_SHARE, max_examples_per_batch=rows).score,
        "seed_corr": torch.ones(len(x)) if maps_again is None else pearson(a, maps_again.detach().abs()),
    }
    if truth is not None:
        out["auroc"] = auroc(a, truth, per_example=True)
        out["auprc"] = auprc(a, truth, per_example=True)
        out["mass"] = mass_on(a, truth)
    return {name: value.detach().double().cpu() for name, value in out.items()}


def pearson(a: Tensor, b: Tensor) -> Tensor:
    """Per-example Pearson correlation of two maps; two constant maps score 1 when equal, else 0."""
    a, b = a.reshape(len(a), -1).double(), b.reshape(len(b), -1).double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    norm = a.norm(dim=1) * b.norm(dim=1)
    same = (a == b).all(1).double()
    return torch.where(norm > 0, (a * b).sum(1) / norm.clamp_min(1e-300), same)


def mass_on(a: Tensor, truth: Tensor) -> Tensor:
    """Per-example share of ``a`` (non-negative) on the truth cells; an all-zero map spreads
    evenly, scoring the truth's share of the cells."""
    a, t = a.reshape(len(a), -1).double(), truth.reshape(len(truth), -1).double()
    total = a.sum(1)
    return torch.where(total > 0, (a * t).sum(1) / total.clamp_min(1e-300), t.mean(1))
