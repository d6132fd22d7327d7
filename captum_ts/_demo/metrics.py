"""Demo section: scoring Guided AbsoluteGrad, Saliency and SmoothGrad with the metrics."""

from __future__ import annotations

import warnings

import torch
from captum.attr import NoiseTunnel, Saliency

from ..attr import GuidedAbsoluteGrad
from ..metrics import continuity, deletion_auc, insertion_auc, rcap, selectivity
from ..viz.rcap import plot_rcap
from ..viz.selectivity import plot_selectivity_curves
from .context import DemoContext

TITLE = "Scoring explanations: selectivity, continuity, RCAP"


def run(ctx: DemoContext) -> str:
    x, y, _ = ctx.test
    x, y = x[:32], y[:32]
    model = ctx.cnn
    gag = GuidedAbsoluteGrad(model)
    sal = Saliency(model)
    smooth = NoiseTunnel(sal)

    def seeded() -> torch.Generator:
        return torch.Generator().manual_seed(ctx.seed)

    # SmoothGrad gets Guided AbsoluteGrad's default noise: 15 % of the (mean) value range
    stdevs = 0.15 * float((x.flatten(1).amax(1) - x.flatten(1).amin(1)).mean())

    def smoothgrad(z: torch.Tensor, **kw: object) -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(ctx.seed)  # the same draws on every call, as `seeded()` gives GAG
            return smooth.attribute(z, nt_type="smoothgrad", nt_samples=20, stdevs=stdevs, **kw)

    # every map on the same scale, |map| min-max normalised per series, so continuity compares like with like
    explainers = {
        "Guided AbsoluteGrad": lambda z, **kw: _unit(gag.attribute(z, generator=seeded(), **kw)),
        "Saliency (abs)": lambda z, **kw: _unit(sal.attribute(z, abs=True, **kw)),
        "SmoothGrad (abs)": lambda z, **kw: _unit(smoothgrad(z, **kw)),
    }
    draws = 3
    curves, rcaps, rows = {}, {}, []
    scores: dict[str, dict[str, float]] = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Input Tensor")  # Captum's note on requires_grad
        for name, explain in explainers.items():
            attr = explain(x, target=y)
            sel = selectivity(model, x, attr, target=y, n_steps=16, patch_size=4)
            # one copy of every series per call: the noisy methods draw the original's noise again
            cont = continuity(explain, x, draws, target=y, generator=seeded(), max_examples_per_batch=len(x))
            rc = rcap(model, x, attr, target=y, return_levels=True)
            dauc = deletion_auc(model, x, attr, target=y)
            iauc = insertion_auc(model, x, attr, target=y)
            curves[name], rcaps[name] = sel, rc
            scores[name] = {
                "selectivity AUC": float(sel.auc.mean()),
                "continuity": float(cont.nanmean()),
                "RCAP": -float(rc.score.mean()),
                "deletion AUC": float(dauc.mean()),
                "insertion AUC": -float(iauc.mean()),
            }  # lower is better in every entry
            rows.append(
                f"| {name} | {float(sel.auc.mean()):.3f} | {float(sel.aopc.mean()):.3f} | "
                f"{float(cont.nanmean()):.3g} | {float(rc.score.mean()):.3f} | {float(dauc.mean()):.3f} | "
                f"{float(iauc.mean()):.3f} |"
            )
    ax = plot_selectivity_curves(
        curves, ylabel="target logit", title="MoRF: 4-step patches removed (set to 0), mean of 32 series"
    )
    sel_name = ctx.save(ax.figure, "metrics_selectivity")
    rcap_name = ctx.save(plot_rcap(rcaps, title="RCAP per method and level"), "metrics_rcap")
    return (
        f"The CNN of the previous section, {len(x)} test series, each method's map for the true class, "
        "as |map| min-max normalised to [0, 1] per series (so every column, continuity included, compares "
        "maps on the same scale). "
        "Selectivity removes the most relevant 4-step patches (all features) one by one: a steep fall, "
        "low AUC and high AOPC mean the map found what the model uses. Continuity is the largest explanation "
        f"change per unit of input change over {draws} Gaussian perturbations (lower is smoother); the noisy "
        "methods explain every perturbed series with the noise draws of the original, so the score measures "
        "the map, not its sampling noise. Guided AbsoluteGrad runs at its defaults, SmoothGrad with 20 draws "
        "of the same noise size. "
        "RCAP reveals the top 10-50 % of the map over zeros (higher is better); deletion AUC (lower) and "
        "insertion AUC over a blurred series (higher) follow the Guided AbsoluteGrad paper.\n\n"
        f"![selectivity curves]({sel_name})\n\n![RCAP]({rcap_name})\n\n"
        "| method | selectivity AUC (lower) | AOPC (higher) | continuity (lower) | RCAP (higher) "
        "| deletion AUC (lower) | insertion AUC (higher) |\n|---|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\n"
        + _best_per_score(scores)
    )


def _best_per_score(scores: dict[str, dict[str, float]]) -> str:
    """One sentence per score naming the best method (ties within 0.5 % named together)."""
    lines = []
    for metric in next(iter(scores.values())):
        values = {name: s[metric] for name, s in scores.items()}
        best = min(values.values())
        leaders = [n for n, v in values.items() if abs(v - best) <= 0.005 * abs(best)]
        names = leaders[0] if len(leaders) == 1 else f"{', '.join(leaders[:-1])} and {leaders[-1]} (tied)"
        lines.append(f"* {metric}: {names}, {abs(best):.3f}")
    return "Best per score on this model:\n\n" + "\n".join(lines) + "\n"


def _unit(a: torch.Tensor | tuple) -> torch.Tensor | tuple:
    """|a| min-max normalised to [0, 1] per series (a tuple when a metric passes one)."""
    if isinstance(a, tuple):
        return tuple(_unit(t) for t in a)
    flat = a.abs().flatten(1)
    lo, hi = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view(a.shape)
