"""Demo section: LearnedPerturbationMask on a small HMM "state" set, scored against the true saliency."""

from __future__ import annotations

import torch

from ..attr.learned_perturbation_mask import LearnedPerturbationMask
from ..datasets.hmm import hmm_state
from ..metrics.white_box import aup, aur
from ..models import accuracy
from ..models.state_classifier import StateClassifier, fit_state_classifier
from ..viz.masks import plot_mask_over_states
from .context import DemoContext

TITLE = "Learned perturbation mask (HMM state data)"


def run(ctx: DemoContext) -> str:
    length = 50
    train = hmm_state(150 if ctx.quick else 250, length, seed=ctx.seed)
    test = hmm_state(8, length, seed=ctx.seed + 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ctx.seed)
        model = StateClassifier(hidden_size=32)
    fit_state_classifier(model, train.inputs, train.labels, epochs=3, seed=ctx.seed)
    acc = accuracy(model, test.inputs, test.labels)

    explainer = LearnedPerturbationMask(model)
    mask = explainer.attribute(test.inputs, generator=torch.Generator().manual_seed(ctx.seed))
    # a mask that ignores the model: the size of each value, for scale
    naive = test.inputs.abs()
    rows = [
        ("LearnedPerturbationMask, defaults", mask),
        ("abs(x), ignores the model", naive),
    ]
    fig = plot_mask_over_states(
        test.inputs[0],
        mask[0],
        saliency=test.saliency[0],
        states=test.states[0],
        title="learned mask (red) over the series; green: the feature that carries the label",
    )
    name = ctx.save(fig, "learned_perturbation_mask")
    table = "\n".join(
        f"| {label} | {float(aup(m, test.saliency)):.3f} | {float(aur(m, test.saliency)):.3f} |"
        for label, m in rows
    )
    return (
        f"A GRU state classifier (hidden 32, per-step logits, test accuracy {acc:.3f}) is trained on "
        f"{len(train.inputs)} HMM series of length {length}; the label of step t depends only on feature "
        f"s_t + 1 of the hidden state s_t. `LearnedPerturbationMask(model).attribute(x)` explains "
        f"{len(test.inputs)} test series with its defaults ({len(explainer.loss_history_)} epochs).\n\n"
        f"![learned mask over the HMM states]({name})\n\n"
        "| explainer | AUP | AUR |\n|---|---|---|\n" + table + "\n"
    )
