"""captum_ts.metrics against the forward floor and, when it is importable, Quantus.

On a 1-D CNN (B=64, F in {1, 3}, T in {128, 256}, channel-first so that Quantus
takes the same tensors), with maps drawn uniformly at random (no ties, see below;
the cost does not depend on the map):

* selectivity over time patches of 8 steps (all features), every patch removed,
  against ``quantus.Selectivity(patch_size=8)``;
* pixel flipping cell by cell (``feature_wise=True, patch_size=1``, every cell),
  against ``quantus.PixelFlipping(features_in_step=1)``;
* continuity (20 Gaussian draws, Saliency), RCAP (5 levels), deletion and
  insertion AUC (10 fractions) against their floors.

The floor is what any implementation pays: the model's forward over all perturbed
rows (copies built before the clock starts), in the same chunks as ours; for
continuity, Saliency over all perturbed rows in those chunks. The chunk
(``max_examples_per_batch``) is the number of rows, among 64, 128, 256 and 512,
at which this model's forward costs least per row on this machine (on a CPU,
bigger batches leave the cache and get slower per row). Quantus runs one forward
of B rows per step. Both Quantus metrics are
called with ``softmax=False``, ``perturb_baseline=0``, ``normalise=False``,
``abs=False``: then they compute our curves without the first point ``f(x)``.
Regions with equal scores are ordered differently (Quantus: numpy's unstable
argsort; ours: earlier region first), so values are compared on the examples
whose region scores have no ties, and the number of examples with ties is shown.
Quantus Continuity is not timed: on a 1-D model it fails (it hands a
``(B, C, 1, T)`` tensor to the model); the script prints its error.

    python benchmarks/bench_metrics.py            # CPU time of this process, 1 thread
    python benchmarks/bench_metrics.py --wall     # wall-clock time
    python benchmarks/bench_metrics.py --quick    # one small configuration
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from captum.attr import Saliency

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, table

from captum_ts._batching import chunks, per_example_chunk
from captum_ts.metrics import continuity, deletion_auc, insertion_auc, rcap, selectivity
from captum_ts.models import CNN1dClassifier

try:
    import quantus
except ImportError:  # the comparison is optional
    quantus = None

B = 64
PATCH = 8


def setup(n_features: int, length: int):
    torch.manual_seed(0)
    model = CNN1dClassifier(n_features, 2, channels_last=False).eval()
    x = torch.randn(B, n_features, length)
    y = torch.randint(0, 2, (B,))
    attr = torch.rand(B, n_features, length)
    return model, x, y, attr


def forward_floor(model, x, y, copies: int, chunk: int | None = None):
    """A callable running the model over ``B * copies`` rows, split into the same
    chunks as ours (``chunk`` rows at most), the rows built before the clock starts."""
    per_chunk = per_example_chunk(copies, B, rows_per_chunk=chunk)
    parts = [
        (x.repeat_interleave(stop - start, 0), y.repeat_interleave(stop - start))
        for start, stop in chunks(copies, per_chunk)
    ]

    def run():
        with torch.no_grad():
            for rows, ys in parts:
                model(rows)[torch.arange(len(ys)), ys]

    return run


def fastest_chunk(model, x) -> int:
    """Rows per forward (64..512) with the lowest time per row for this model and shape."""
    cost = {}
    with torch.no_grad():
        for rows in (64, 128, 256, 512):
            batch = x.repeat_interleave(rows // B, 0)
            model(batch)
            times = []
            for _ in range(5):
                start = time.process_time()
                for _ in range(512 // rows):
                    model(batch)
                times.append(time.process_time() - start)
            cost[rows] = sorted(times)[2]
    return min(cost, key=cost.get)


def ties(attr: torch.Tensor, patch: int, feature_wise: bool) -> np.ndarray:
    """Examples whose region scores contain equal values."""
    b, f, t = attr.shape
    scores = attr.reshape(b, -1) if feature_wise else attr.view(b, f, t // patch, patch).sum((1, 3))
    s = scores.sort(1).values
    return (s[:, 1:] == s[:, :-1]).any(1).numpy()


def quantus_curves(metric, model, x, y, attr) -> np.ndarray:
    return np.asarray(
        metric(
            model,
            x.numpy(),
            y.numpy(),
            a_batch=attr.numpy(),
            channel_first=True,
            softmax=False,
            batch_size=B,
            device="cpu",
        )
    )


def compare_selectivity(model, x, y, attr, feature_wise: bool, chunk: int, rounds: int, clock):
    f, t = x.shape[1:]
    patch = 1 if feature_wise else PATCH
    n_regions = f * t if feature_wise else t // PATCH
    kw = dict(target=y, n_steps=None, patch_size=patch, feature_wise=feature_wise, feature_dim=1)
    contenders = {
        "ours": lambda: selectivity(model, x, attr, max_examples_per_batch=chunk, **kw),
        "floor": forward_floor(model, x, y, n_regions + 1, chunk),
    }
    qmetric = None
    if quantus is not None:
        common = dict(perturb_baseline=0.0, normalise=False, abs=False, disable_warnings=True)
        if feature_wise:
            qmetric = quantus.PixelFlipping(features_in_step=1, **common)
        else:
            qmetric = quantus.Selectivity(patch_size=PATCH, **common)
        contenders["quantus"] = lambda: quantus_curves(qmetric, model, x, y, attr)
    times = compare(contenders, rounds=rounds, clock=clock)
    diff, n_ties = None, None
    if qmetric is not None:
        ours = selectivity(model, x, attr, max_examples_per_batch=chunk, **kw).curve[:, 1:].numpy()
        theirs = quantus_curves(qmetric, model, x, y, attr)
        tied = ties(attr, patch, feature_wise)
        diff = float(np.abs(ours - theirs)[~tied].max()) if (~tied).any() else float("nan")
        n_ties = int(tied.sum())
    return times, diff, n_ties


def compare_against_floor(model, x, y, attr, chunk: int, rounds: int, clock) -> list[list[object]]:
    """Continuity, RCAP, deletion and insertion AUC: ours / floor."""
    sal = Saliency(model)
    n = 20
    per_chunk = per_example_chunk(n, B, rows_per_chunk=chunk)
    noisy = [
        (
            x.repeat_interleave(stop - start, 0) + 0.01 * torch.randn(B * (stop - start), *x.shape[1:]),
            y.repeat_interleave(stop - start),
        )
        for start, stop in chunks(n, per_chunk)
    ]
    g = torch.Generator().manual_seed(0)
    kw = dict(target=y, max_examples_per_batch=chunk)
    cases = {
        "continuity (20 draws)": (
            lambda: continuity(sal.attribute, x, n_perturb_samples=n, generator=g, **kw),
            lambda: [sal.attribute(rows, target=ys) for rows, ys in noisy],
        ),
        "RCAP (5 levels)": (lambda: rcap(model, x, attr, **kw), forward_floor(model, x, y, 5, chunk)),
        "deletion AUC (10)": (
            lambda: deletion_auc(model, x, attr, feature_dim=1, **kw),
            forward_floor(model, x, y, 10, chunk),
        ),
        "insertion AUC (10)": (
            lambda: insertion_auc(model, x, attr, feature_dim=1, **kw),
            forward_floor(model, x, y, 10, chunk),
        ),
    }
    rows = []
    for name, (ours, floor) in cases.items():
        t = compare({"ours": ours, "floor": floor}, rounds=rounds, clock=clock)
        rows.append([name, t["ours"], t["floor"], t["ours"] / t["floor"]])
    return rows


def quantus_continuity_error(model, x, y) -> str:
    def explain(model, inputs, targets, **kwargs):
        t = torch.as_tensor(inputs)
        return Saliency(model).attribute(t, target=torch.as_tensor(targets), abs=True).numpy()

    try:
        quantus.Continuity(nr_steps=4, disable_warnings=True)(
            model, x[:4].numpy(), y[:4].numpy(), channel_first=True, explain_func=explain, device="cpu"
        )
    except Exception as err:  # the point is to show what happens
        return f"{type(err).__name__}: {err}"
    return "ran without error"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wall", action="store_true", help="wall-clock instead of CPU time")
    parser.add_argument("--quick", action="store_true", help="only F=1, T=128, fewer rounds")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    clock, clock_name = (time.perf_counter, "wall") if args.wall else (time.process_time, "CPU")
    configs = [(1, 128)] if args.quick else [(f, t) for f in (1, 3) for t in (128, 256)]
    rounds = 3 if args.quick else 7
    version = (
        f"quantus {quantus.__version__}, numpy {np.__version__}" if quantus else "quantus not importable"
    )
    print(f"B={B}, 1 thread, {clock_name} time, medians of interleaved rounds; {version}")
    sel_rows, floor_rows = [], []
    for f, t in configs:
        model, x, y, attr = setup(f, t)
        chunk = fastest_chunk(model, x)
        config = f"F={f} T={t}, {chunk} rows"
        for feature_wise, label in ((False, f"selectivity, patch {PATCH}"), (True, "pixel flipping, cells")):
            n_rounds = 3 if feature_wise else rounds
            times, diff, n_ties = compare_selectivity(model, x, y, attr, feature_wise, chunk, n_rounds, clock)
            q = times.get("quantus")
            ours, floor = times["ours"], times["floor"]
            quantus_cols = ["-", "-"] if q is None else [q, q / ours]
            check = ["-", "-"] if diff is None else [f"{diff:.1e}", n_ties]
            sel_rows.append([config, label, ours, floor, ours / floor, *quantus_cols, *check])
        rows = compare_against_floor(model, x, y, attr, chunk, rounds, clock)
        floor_rows += [[config, *row] for row in rows]
    header = ["config, chunk", "metric", "ours", "floor", "ours/floor", "quantus", "quantus/ours"]
    print("\nselectivity curves (all regions removed), seconds per call")
    print(table(sel_rows, [*header, "max |diff|", "tied examples"]))
    print("\nother metrics, seconds per call")
    print(table(floor_rows, header[:5]))
    if quantus is not None:
        model, x, y, _ = setup(1, 128)
        print(f"\nquantus.Continuity on the 1-D CNN: {quantus_continuity_error(model, x, y)}")


if __name__ == "__main__":
    main()
