"""Explainers on the Switch-Feature benchmark (FIT, ContraLSP, TIMING).

Data: ``captum_ts.datasets.switch_feature`` (3 features, 3 hidden states, the state's own
feature carries the label at every step), a per-step GRU state classifier trained by this
script. Each explainer's map is scored against the true saliency (AUP, AUR, information,
entropy: tint's definitions, pooled) and by CPD / CPP (TIMING's cumulative scores: 50
single cells removed one at a time, softmax outputs of every step; CPD higher, CPP lower is
better). Explainers: ours in the preservation and deletion games and with
``mask="gated"``, tint's ``ExtremalMask`` (paper settings) when ``time-interpret`` is
importable, Integrated Gradients and DeepLift (absolute values, explaining the sum over
steps of the logit of each step's predicted class), and a random map.

Seed ``s`` (``--seeds``): training data ``switch_feature(n, seed=2s)``, explained data
``seed=2s+1``, ``torch.manual_seed(s)`` before the classifier, ``fit_state_classifier(...,
seed=s)``, generator seed ``s`` for the masks and the random map. With several seeds a
summary gives each row's mean and worst score and whether it beats both published numbers
on the mean and on every seed.

    PYTHONPATH=. python benchmarks/bench_switch_feature.py --quick   # a few minutes
    PYTHONPATH=. python benchmarks/bench_switch_feature.py --quick --seeds 0 1 2 \
        --only "preservation, defaults" lambda_mask gated Integrated DeepLift random
    PYTHONPATH=. python benchmarks/bench_switch_feature.py           # the papers' sizes (slow)

Published (ContraLSP, arXiv 2401.08552, Table 1, mean of 5 folds, their classifier): best
AUP 0.978 (ExtremalMask), best AUR 0.851 (ContraLSP).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_learned_perturbation_mask import PAPER, tint_available, tint_extremal_mask
from harness import table

from captum_ts.attr.masks.learned_perturbation_mask import LearnedPerturbationMask
from captum_ts.datasets.switch_feature import switch_feature
from captum_ts.metrics.cumulative import cpd, cpp
from captum_ts.metrics.white_box import aup, aur, entropy, information
from captum_ts.models import accuracy
from captum_ts.models.state_classifier import StateClassifier, fit_state_classifier

HEADER = ["explainer", "AUP", "AUR", "information", "entropy", "CPD", "CPP", "epochs", "wall s", "CPU s"]
PUBLISHED = [
    ["published ExtremalMask (ContraLSP Table 1)", 0.978, *["-"] * 8],
    ["published ContraLSP (ContraLSP Table 1)", "-", 0.851, *["-"] * 7],
]
#: goal: both published bests at once
GOAL_AUP, GOAL_AUR = 0.978, 0.851


class PredictedLogitSum(nn.Module):
    """``sum_t logit_t[class_t]`` of a per-step classifier, with ``class_t`` fixed (the
    prediction on the unperturbed series): one scalar per series for gradient methods."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, classes: Tensor) -> Tensor:
        return self.model(x).gather(-1, classes.unsqueeze(-1)).sum((1, 2))


def gradient_map(method: type, model: nn.Module, x: Tensor) -> Tensor:
    """``|attribution|`` of Captum's ``method`` (IntegratedGradients or DeepLift), baseline 0."""
    with torch.no_grad():
        classes = model(x).argmax(-1)
    wrapped = PredictedLogitSum(model).eval()
    return (
        method(wrapped).attribute(x, baselines=torch.zeros_like(x), additional_forward_args=(classes,)).abs()
    )


def evaluate(model: nn.Module, x: Tensor, truth: Tensor, mask: Tensor, cumulative: bool) -> list[object]:
    """AUP, AUR, information, entropy and (if ``cumulative``) mean CPD and CPP, else "-"."""
    white = [float(fn(mask, truth)) for fn in (aup, aur, information, entropy)]
    if not cumulative:
        return [*white, "-", "-"]
    return white + [float(fn(model, x, mask, max_examples_per_batch=510).score.mean()) for fn in (cpd, cpp)]


def beats(aup_: float, aur_: float) -> bool:
    return aup_ >= GOAL_AUP and aur_ >= GOAL_AUR


def summary(results: dict[str, list[list[object]]]) -> list[list[object]]:
    """One row per explainer: mean and worst (over seeds) of AUP, AUR, information (worst:
    lowest) and entropy (worst: highest), the means of CPD, CPP and CPU seconds, and whether
    it beats both published numbers on the mean and on how many seeds."""
    rows = []
    for name, per_seed in results.items():
        cols = list(zip(*per_seed))
        a, r, info, ent, cumulative, cpu = cols[0], cols[1], cols[2], cols[3], cols[4:6], cols[-1]
        mean_beats = beats(statistics.mean(a), statistics.mean(r))
        seeds = sum(beats(p, q) for p, q in zip(a, r))
        rows.append(
            [
                name,
                statistics.mean(a),
                min(a),
                statistics.mean(r),
                min(r),
                statistics.mean(info),
                min(info),
                statistics.mean(ent),
                max(ent),
                *(statistics.mean(c) if "-" not in c else "-" for c in cumulative),
                statistics.mean(cpu),
                "yes" if mean_beats else "no",
                f"{seeds} of {len(a)}",
            ]
        )
    return rows


SUMMARY_HEADER = [
    "explainer",
    "AUP mean",
    "AUP worst",
    "AUR mean",
    "AUR worst",
    "info mean",
    "info worst",
    "entropy mean",
    "entropy worst",
    "CPD mean",
    "CPP mean",
    "CPU s mean",
    "beats both (mean)",
    "beats both (seeds)",
]


def runs_for(model: nn.Module, x: Tensor, seed: int, epochs: int, use_tint: bool) -> list[tuple[str, object]]:
    """(name, zero-argument call returning (map, epochs run)) for every explainer."""
    from captum.attr import DeepLift, IntegratedGradients

    paper = {**PAPER, "epochs": epochs, "tol": None}

    def lpm(**kwargs: object) -> tuple[Tensor, int]:
        explainer = LearnedPerturbationMask(model)
        mask = explainer.attribute(x, generator=torch.Generator().manual_seed(seed), **kwargs)
        return mask, len(explainer.loss_history_)

    runs: list[tuple[str, object]] = [
        ("ours, preservation, defaults", lambda: lpm()),
        (f"ours, preservation, paper settings ({epochs} epochs)", lambda: lpm(**paper)),
        ("ours, deletion, defaults", lambda: lpm(mode="deletion")),
        (
            "ours, preservation, lambda_mask=0.5, lambda_smooth=1",
            lambda: lpm(lambda_mask=0.5, lambda_perturbation=0.5, lambda_smooth=1.0),
        ),
        ('ours, mask="gated", defaults', lambda: lpm(mask="gated")),
        ('ours, mask="gated", lambda_smooth=1', lambda: lpm(mask="gated", lambda_smooth=1.0)),
        (
            'ours, mask="gated", lambda_mask=1.5, lambda_smooth=0.5',
            lambda: lpm(mask="gated", lambda_mask=1.5, lambda_perturbation=1.5, lambda_smooth=0.5),
        ),
        (
            'ours, mask="gated", lambda_mask=1.5, lambda_smooth=1',
            lambda: lpm(mask="gated", lambda_mask=1.5, lambda_perturbation=1.5, lambda_smooth=1.0),
        ),
    ]
    if use_tint:
        runs.append(
            (
                f"tint ExtremalMask, paper settings ({epochs} epochs)",
                lambda: (tint_extremal_mask(model, x, epochs, PAPER["batch_size"], PAPER["lr"]), epochs),
            )
        )
    generator = torch.Generator().manual_seed(seed)
    runs += [
        ("|Integrated Gradients|", lambda: (gradient_map(IntegratedGradients, model, x), "-")),
        ("|DeepLift|", lambda: (gradient_map(DeepLift, model, x), "-")),
        ("random map", lambda: (torch.rand(x.shape, generator=generator), "-")),
    ]
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small classifier, 50 series explained")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the paper-settings runs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of data, model and masks")
    parser.add_argument(
        "--only", nargs="+", default=None, help="run only the rows whose name contains one of these texts"
    )
    parser.add_argument("--skip-cumulative", action="store_true", help="no CPD / CPP (faster)")
    parser.add_argument("--skip-tint", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    n_train, n_explain, hidden, fit_epochs = (600, 50, 64, 10) if args.quick else (800, 200, 200, 10)
    epochs = args.epochs or (100 if args.quick else PAPER["epochs"])
    use_tint = tint_available() and not args.skip_tint
    print(f"load average at start (1, 5, 15 min): {os.getloadavg()}, {os.cpu_count()} cores")

    results: dict[str, list[list[object]]] = {}
    for seed in args.seeds:
        train, test = switch_feature(n_train, seed=2 * seed), switch_feature(n_explain, seed=2 * seed + 1)
        torch.manual_seed(seed)
        start = time.perf_counter()
        model = fit_state_classifier(
            StateClassifier(hidden_size=hidden), train.inputs, train.labels, epochs=fit_epochs, seed=seed
        )
        seconds, acc = time.perf_counter() - start, accuracy(model, test.inputs, test.labels)
        print(
            f"\nseed {seed}. Switch-Feature: {n_train} train / {n_explain} explained series, T=100, F=3. "
            f"GRU state classifier (hidden {hidden}, {fit_epochs} epochs) trained in {seconds:.0f} s, "
            f"test accuracy {acc:.3f} (labels are Bernoulli draws)",
            flush=True,
        )
        x, truth = test.inputs, test.saliency
        rows: list[list[object]] = [*PUBLISHED]
        for name, run in runs_for(model, x, seed, epochs, use_tint):
            if args.only and not any(w in name for w in args.only):
                continue
            wall, cpu = time.perf_counter(), time.process_time()
            mask, ran = run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rows.append([name, *evaluate(model, x, truth, mask, not args.skip_cumulative), ran, wall, cpu])
            results.setdefault(name, []).append([*rows[-1][1:7], cpu])
            print(table([rows[-1]], HEADER), flush=True)
        print(
            f"\nSwitch-Feature ({'quick' if args.quick else 'full'}), seed {seed}, "
            f"load average now {os.getloadavg()[0]:.1f}:"
        )
        print(table(rows, HEADER))
        both = [r[0] for r in rows[2:] if beats(r[1], r[2])]
        print(f"beats AUP {GOAL_AUP} and AUR {GOAL_AUR} at once: {', '.join(both) if both else 'none'}")
    if len(args.seeds) > 1:
        print(f"\nSummary over seeds {args.seeds} (worst: lowest AUP/AUR/information, highest entropy):")
        print(table(summary(results), SUMMARY_HEADER))


if __name__ == "__main__":
    main()
