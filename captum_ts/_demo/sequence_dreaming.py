"""Demo section: Sequence Dreaming of each class of the bumps CNN."""

from __future__ import annotations

import torch

from ..attr.dreaming.regularizers import Clip, default_regularizers
from ..attr.dreaming.sequence_dreaming import SequenceDreaming, random_starts
from ..viz.dreams import plot_dreams
from .context import DemoContext

TITLE = "Sequence Dreaming"

RESTARTS = 4
STEPS = 300


def run(ctx: DemoContext) -> str:
    model, data = ctx.cnn, ctx.train
    x = data.inputs
    n_classes = int(data.labels.max()) + 1
    gen = torch.Generator().manual_seed(ctx.seed)
    starts = random_starts(n_classes * RESTARTS, tuple(x.shape[1:]), scale=float(x.std()), generator=gen)
    targets = torch.arange(n_classes).repeat_interleave(RESTARTS)
    regularizers = (*default_regularizers(), Clip.from_data(x))
    dreams, trajectory = SequenceDreaming(model).attribute(
        starts, target=targets, regularizers=regularizers, steps=STEPS, return_trajectory=True
    )
    with torch.no_grad():
        prob = torch.softmax(model(dreams), -1)[torch.arange(len(targets)), targets]
    names = [f"feature {j}" for j in range(x.shape[-1])]
    fig = plot_dreams(
        dreams, targets, reference=(x, data.labels), feature_names=names,
        suptitle="dreamed series per class (grey: training series of the class)",
    )  # fmt: skip
    name = ctx.save(fig, "sequence_dreaming")
    rows = []
    for c in range(n_classes):
        mine = targets == c
        d = dreams[mine]
        rows.append(
            f"| {c} | {float(prob[mine].min()):.3f} | {float(trajectory[-1, mine].mean()):.1f} | "
            f"{float(d[..., 0].mean()):+.2f} | {float(d[..., 1:].abs().mean()):.2f} |"
        )
    return (
        f"{RESTARTS} restarts of each class of the bumps CNN, dreamed in one batch of "
        f"{n_classes * RESTARTS} ({STEPS} Adam steps, default regularisers plus clipping to the training "
        "range). The label of the bumps set is the sign of a bump in feature 0, and the dreams put the "
        "sign there; they also use the pure-noise features, to which the CNN reacts off the data "
        "distribution.\n\n"
        f"![Sequence Dreaming]({name})\n\n"
        "| class | min probability | mean logit | mean of feature 0 | mean abs. of the other features |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
