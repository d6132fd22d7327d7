"""SequenceDreaming: K classes x R restarts in one batch against a loop of K*R single runs.

Both do the same thing with the same settings (default regularisers, Adam, the
same steps), on the tutorial's 1-D CNN trained on GunPoint (random weights if aeon
is missing; the timing does not depend on the weights). Prints the median wall
and CPU times of interleaved rounds, their ratios, and the largest difference
between the sequences the two produce, in float32 and in float64.

In float64 the two agree to the last bits. In float32 a batched convolution rounds
differently from a single-row one (~1e-7), and total variation's kink (the sign of
``x[t+1] - x[t]`` near 0) can turn that into a different Adam step for a few
elements, so a few restarts end up ~1e-2 apart after hundreds of steps: the same
computation, not the same rounding.

    python benchmarks/bench_sequence_dreaming.py            # K*R = 8 and 32
    python benchmarks/bench_sequence_dreaming.py --quick    # K*R = 32, fewer steps and rounds
    python benchmarks/bench_sequence_dreaming.py --defaults # the rows behind the border default

``--defaults`` dreams 6 border series (real GunPoint series the model is sure
about, each towards its own class's border) with the default settings, once with
the general default regularisers (blur and smoothing every 10 steps) and once with
the border default (loss terms only), and prints how far each ends from the asked
probability.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, table

from captum_ts.attr.dreaming.regularizers import default_regularizers
from captum_ts.attr.dreaming.sequence_dreaming import SequenceDreaming, random_starts
from captum_ts.models import CNN1dClassifier, fit_classifier


def tutorial_cnn() -> tuple[torch.nn.Module, int, int]:
    """The tutorial's model: a 1-D CNN on GunPoint (T=150, 2 classes)."""
    torch.manual_seed(0)
    model = CNN1dClassifier(n_features=1, n_classes=2, channels=16, kernel_size=9)
    try:
        from captum_ts.datasets import load_ucr

        data = load_ucr("GunPoint", "train")
    except ImportError:
        return model.eval(), 150, 2
    fit_classifier(model, data.inputs, data.labels, epochs=60, lr=1e-2, batch_size=16)
    return model.eval(), data.inputs.shape[1], 2


def run_both(model, starts, targets, steps):
    """The batched call and the loop of single-row calls, as zero-argument functions."""
    dreamer = SequenceDreaming(model)

    def batched():
        return dreamer.attribute(starts, target=targets, steps=steps)

    def loop():
        rows = [
            dreamer.attribute(starts[i : i + 1], target=int(targets[i]), steps=steps)
            for i in range(len(starts))
        ]
        return torch.cat(rows)

    return batched, loop


def border_rows(model) -> None:
    """End probabilities of 6 border dreams under both regulariser defaults."""
    from captum_ts.datasets import load_ucr

    data = load_ucr("GunPoint", "train")
    with torch.no_grad():
        prob = torch.softmax(model(data.inputs), -1)
    sure = (prob.amax(-1) > 0.95).nonzero()[:6, 0]
    x0, cls = data.inputs[sure], prob[sure].argmax(-1)
    rows = []
    settings = (("blur + smoothing (general default)", default_regularizers()), ("loss terms only", None))
    for tau in (0.5, 0.8):
        for name, regs in settings:
            out = SequenceDreaming(model).attribute(
                x0, target=cls, objective="border", border_probability=tau, regularizers=regs
            )
            with torch.no_grad():
                p = torch.softmax(model(out), -1)[torch.arange(len(cls)), cls]
            ends = " ".join(f"{v:.3f}" for v in p.tolist())
            rows.append([tau, name, ends, f"{float((p - tau).abs().max()):.3f}"])
    print("6 border dreams from real GunPoint series, default lr and steps")
    print(table(rows, ["tau", "regularizers", "end probabilities", "max |p - tau|"]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--defaults", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, length, n_classes = tutorial_cnn()
    if args.defaults:
        border_rows(model)
        return
    steps = 100 if args.quick else 200
    rounds = 3 if args.quick else 5
    sizes = (32,) if args.quick else (8, 32)
    rows = []
    for total in sizes:
        restarts = total // n_classes
        starts = random_starts(total, (length, 1), scale=1.0, generator=torch.Generator().manual_seed(0))
        targets = torch.arange(n_classes).repeat_interleave(restarts)
        batched, loop = run_both(model, starts, targets, steps)
        diff32 = float((batched() - loop()).abs().max())
        b64, l64 = run_both(copy.deepcopy(model).double(), starts.double(), targets, steps)
        diff64 = float((b64() - l64()).abs().max())
        wall = compare({"batched": batched, "loop": loop}, rounds=rounds)
        cpu = compare({"batched": batched, "loop": loop}, rounds=rounds, clock=time.process_time)
        ratios = [wall["loop"] / wall["batched"], cpu["loop"] / cpu["batched"]]
        rows.append(
            [
                f"{n_classes} x {restarts}",
                total,
                wall["batched"],
                wall["loop"],
                *ratios,
                f"{diff32:.1e}",
                f"{diff64:.1e}",
            ]
        )
    print(
        f"1-D CNN on GunPoint (T={length}), {steps} Adam steps, default regularisers, 1 thread; "
        f"median of {rounds} interleaved rounds (seconds)"
    )
    header = ["K x R", "rows", "batched", "loop of single runs", "loop/batched (wall)", "loop/batched (CPU)",
              "max |diff| f32", "max |diff| f64"]  # fmt: skip
    print(table(rows, header))


if __name__ == "__main__":
    main()
