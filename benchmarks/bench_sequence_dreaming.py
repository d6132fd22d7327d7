"""SequenceDreaming: K classes x R restarts in one batch against a loop of K*R single runs.

Both do the same thing with the same settings (default regularisers, Adam, the
same steps), on the tutorial's 1-D CNN trained on GunPoint (random weights if aeon
is missing; the timing does not depend on the weights). Prints the median times
of interleaved rounds, the ratio, and the largest difference between the
sequences the two produce (they must agree to rounding).

    python benchmarks/bench_sequence_dreaming.py            # K*R = 8 and 32
    python benchmarks/bench_sequence_dreaming.py --quick    # K*R = 32, fewer steps and rounds
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, table

from captum_ts.attr.sequence_dreaming import SequenceDreaming, random_starts
from captum_ts.models import CNN1dClassifier, fit_classifier


def tutorial_cnn() -> tuple[torch.nn.Module, int, int]:
    """The tutorial's model: a 1-D CNN on z-normalised GunPoint (T=150, 2 classes)."""
    torch.manual_seed(0)
    try:
        from captum_ts.datasets import load_ucr

        data = load_ucr("GunPoint", "train", znormalize=True)
    except ImportError:
        return CNN1dClassifier(1, 2).eval(), 150, 2
    model = CNN1dClassifier(1, 2)
    fit_classifier(model, data.inputs, data.labels, epochs=60, batch_size=16)
    return model.eval(), data.inputs.shape[1], 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, length, n_classes = tutorial_cnn()
    steps = 100 if args.quick else 200
    rounds = 3 if args.quick else 5
    sizes = (32,) if args.quick else (8, 32)
    dreamer = SequenceDreaming(model)
    rows = []
    for total in sizes:
        restarts = total // n_classes
        starts = random_starts(n_classes * restarts, (length, 1), generator=torch.Generator().manual_seed(0))
        targets = torch.arange(n_classes).repeat_interleave(restarts)

        def batched(starts=starts, targets=targets):
            return dreamer.attribute(starts, target=targets, steps=steps)

        def loop(starts=starts, targets=targets):
            return torch.cat(
                [
                    dreamer.attribute(starts[i : i + 1], target=int(targets[i]), steps=steps)
                    for i in range(len(starts))
                ]
            )

        diff = float((batched() - loop()).abs().max())
        times = compare({"batched": batched, "loop": loop}, rounds=rounds)
        rows.append(
            [f"{n_classes} x {restarts}", total, times["batched"], times["loop"],
             times["loop"] / times["batched"], diff]
        )  # fmt: skip
    print(
        f"1-D CNN on GunPoint (T={length}), {steps} Adam steps, default regularisers, 1 thread; "
        f"median of {rounds} interleaved rounds (seconds)"
    )
    print(table(rows, ["K x R", "rows", "batched", "loop of single runs", "loop/batched", "max |diff|"]))


if __name__ == "__main__":
    main()
