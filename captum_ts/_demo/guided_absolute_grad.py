"""Demo section: Guided AbsoluteGrad against Saliency and SmoothGrad on the bumps set."""

from __future__ import annotations

import torch
from captum.attr import NoiseTunnel, Saliency

from ..attr import GuidedAbsoluteGrad
from ..viz import plot_attribution_comparison
from .context import DemoContext

TITLE = "Guided AbsoluteGrad"


def _mass_on_truth(attr: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean share of the attribution mass that falls on the true salient cells."""
    a = attr.abs().flatten(1)
    return float(((a * truth.flatten(1)).sum(1) / a.sum(1).clamp_min(1e-12)).mean())


def run(ctx: DemoContext) -> str:
    x, y, truth = ctx.test
    x, y, truth = x[:32], y[:32], truth[:32]
    model = ctx.cnn
    gag = GuidedAbsoluteGrad(model)

    def guided(**settings: object) -> torch.Tensor:
        return gag.attribute(x, target=y, generator=torch.Generator().manual_seed(ctx.seed), **settings)

    # SmoothGrad gets the noise of GuidedAbsoluteGrad's default: 15 % of the (mean) value range
    stdevs = 0.15 * float((x.flatten(1).amax(1) - x.flatten(1).amin(1)).mean())
    torch.manual_seed(ctx.seed)  # NoiseTunnel draws from the global generator
    maps = {
        "Guided AbsoluteGrad (defaults)": guided(),
        "Guided AbsoluteGrad (paper setting)": guided(**GuidedAbsoluteGrad.PAPER_SETTING),
        "AbsoluteGrad (guide=None)": guided(guide=None),
        "Saliency (abs)": Saliency(model).attribute(x.clone().requires_grad_(), target=y, abs=True),
        "SmoothGrad": NoiseTunnel(Saliency(model))
        .attribute(x.clone().requires_grad_(), target=y, nt_type="smoothgrad", nt_samples=20, stdevs=stdevs)
        .abs(),
    }
    fig = plot_attribution_comparison(
        x[0],
        {k: v[0] for k, v in maps.items()},
        saliency=truth[0],
        suptitle=f"class {int(y[0])}: the bump in feature 0 carries the label",
    )
    name = ctx.save(fig, "guided_absolute_grad")
    shares = {k: _mass_on_truth(v, truth) for k, v in maps.items()}
    rows = "\n".join(f"| {k} | {v:.3f} |" for k, v in shares.items())
    text = (
        f"A 1-D CNN trained on the bumps set (test accuracy {ctx.cnn_accuracy:.3f}) is explained on "
        f"{len(x)} test series. The label is carried only by a bump in feature 0 "
        f"({float(truth.mean()):.1%} of the cells). Guided AbsoluteGrad runs at its defaults (50 noise "
        "draws in antithetic pairs, noise std 15 % of each series' value range) and at the paper's setting "
        "(`GuidedAbsoluteGrad.PAPER_SETTING`: the variance guide, 20 independent draws); SmoothGrad takes 20 "
        f"draws of noise with std {stdevs:.3f} (15 % of the mean value range).\n\n"
        f"![Guided AbsoluteGrad vs Saliency and SmoothGrad]({name})\n\n"
        "| method | share of attribution on the true bump |\n|---|---|\n" + rows + "\n"
    )
    if shares["Guided AbsoluteGrad (paper setting)"] < shares["AbsoluteGrad (guide=None)"]:
        text += (
            "\nThe paper's variance guide gives full weight to the time steps whose gradient varies most "
            "under noise. On a max-pooling CNN those are the positions competing for the pooled maximum, "
            "not the bump itself, whose gradient is stable: its map moves away from the evidence. The "
            "default stability guide weighs each step by how consistent its gradient is across the draws "
            "relative to its size, and keeps the bump.\n"
        )
    return text
