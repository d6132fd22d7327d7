"""LearnedPerturbationMask on the HMM "state" benchmark, against tint's ExtremalMask.

1. Data and model: 800 training and 200 test series of the HMM set, the GRU state
   classifier (hidden 200) trained by this script.
2. Quality: AUP, AUR, information, entropy, AUROC, AUPRC, CPD and CPP (TIMING's cumulative
   scores: 50 single cells removed one at a time, softmax outputs of every step), wall and
   CPU time on the explained test series, for ours with the paper's settings (500 epochs,
   batch 100, lr 0.01, lambdas 1, the bidirectional-GRU perturbation; early stopping off),
   ours with its defaults (``attribute(x)``), with the former ones (``lambda_mask=1``, no
   smoothing) and with ``mask="gated"``, and tint's ``ExtremalMask`` when ``time-interpret``
   is importable. The published row (mean of 5 folds) is printed too.
3. Time to quality (``--time-to-quality``): one paper-settings run of ``--epochs`` epochs
   without early stopping on one batch, scored every 10 epochs, and the epoch, wall time
   and scores at which each candidate early-stopping rule would stop (the rule looks only at
   ``loss_history_``, so one run answers for all of them).
4. Speed: the same work for every contender (``--timing-series`` series, batch 100,
   ``--timing-epochs`` epochs, the paper's network), interleaved rounds, medians of the wall
   clock and of this process's CPU time, one thread. The floor is the perturbation network
   and the classifier with one forward with graph and one backward (to the masks and the
   network's weights) per step, nothing else.

    PYTHONPATH=. python benchmarks/bench_learned_perturbation_mask.py --quick
    PYTHONPATH=. python benchmarks/bench_learned_perturbation_mask.py --time-to-quality --explain 100
    PYTHONPATH=. python benchmarks/bench_learned_perturbation_mask.py --skip-quality

tint lives in its own environment: ``python -m venv /tmp/venv-tint``, a ``.pth`` file naming
this environment's site-packages, ``pip install time-interpret==0.3.0``; then run this script
with that interpreter.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import table

from captum_ts.attr.masks._perturbation_nets import BiGRUPerturbation, reset_parameters
from captum_ts.attr.masks.learned_perturbation_mask import LearnedPerturbationMask
from captum_ts.datasets.hmm import hmm_state
from captum_ts.metrics.cumulative import cpd, cpp
from captum_ts.metrics.white_box import aup, auprc, aur, auroc, entropy, information
from captum_ts.models import accuracy
from captum_ts.models.state_classifier import StateClassifier, fit_state_classifier

PUBLISHED = ["published ExtremalMask (5 folds)", 0.885, 0.781, 1536.0, 34.1, 0.910, 0.883, "-", "-", "-", "-"]
PAPER = dict(epochs=500, batch_size=100, lr=0.01, lambda_mask=1.0, lambda_perturbation=1.0)
HEADER = [
    "explainer",
    "AUP",
    "AUR",
    "information",
    "entropy",
    "AUROC",
    "AUPRC",
    "CPD",
    "CPP",
    "wall s",
    "CPU s",
]
#: early-stopping rules compared by ``--time-to-quality`` (tol, patience)
RULES = [(1e-2, 5), (3e-3, 5), (1e-3, 5), (1e-3, 10), (3e-4, 10), (1e-4, 10), (1e-4, 20)]


def tint_available() -> bool:
    try:
        import tint  # noqa: F401
    except ImportError:
        return False
    return True


def tint_extremal_mask(
    model: nn.Module, x: torch.Tensor, epochs: int, batch_size: int, lr: float, seed: int = 0
) -> torch.Tensor:
    """tint's ExtremalMask with the paper's perturbation network and a quiet Lightning trainer."""
    from tint.attr import ExtremalMask
    from tint.attr.models import ExtremalMaskNet
    from tint.models import MLP, RNN

    torch.manual_seed(seed)
    f = x.shape[-1]
    net = nn.Sequential(RNN(input_size=f, rnn="gru", hidden_size=f, bidirectional=True), MLP([2 * f, f]))
    mask_net = ExtremalMaskNet(forward_func=model, model=net, lambda_1=1.0, lambda_2=1.0, optim="adam", lr=lr)
    trainer = quiet_trainer(epochs)
    return ExtremalMask(model).attribute(x, trainer=trainer, mask_net=mask_net, batch_size=batch_size)


def quiet_trainer(epochs: int):
    """A Lightning trainer for ``epochs`` epochs on the CPU with logging, checkpoints and bars off."""
    from pytorch_lightning import Trainer

    return Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def tint_defaults(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """tint's ``ExtremalMask(model).attribute(x)``: no perturbation network, lr 1e-3, 100 epochs,
    batch 32 (with a quiet trainer of the same ``max_epochs``)."""
    from tint.attr import ExtremalMask

    return ExtremalMask(model).attribute(x, trainer=quiet_trainer(100))


def ours(model: nn.Module, x: torch.Tensor, seed: int = 0, **kwargs) -> torch.Tensor:
    return LearnedPerturbationMask(model).attribute(
        x, generator=torch.Generator().manual_seed(seed), **kwargs
    )


def floor(model: nn.Module, x: torch.Tensor, epochs: int, batch_size: int) -> None:
    """The bare work of a step: perturbation network and classifier, one forward with graph
    and one backward to the masks and the network's weights (model weights frozen)."""
    net = BiGRUPerturbation(x.shape[-1])
    reset_parameters(net, torch.Generator().manual_seed(0))
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        for _ in range(epochs):
            for start in range(0, len(x), batch_size):
                rows = x[start : start + batch_size]
                m = torch.full_like(rows, 0.5, requires_grad=True)
                out = model(rows * m + net(rows) * (1 - m))
                torch.autograd.grad(out.square().mean(), [m, *net.parameters()])
    finally:
        for p in frozen:
            p.requires_grad_(True)


def compare_clocks(
    contenders: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 1
) -> dict[str, tuple[float, float]]:
    """Median (wall seconds, CPU seconds of this process) of each contender, interleaved."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            w, c = time.perf_counter(), time.process_time()
            fn()
            walls[name].append(time.perf_counter() - w)
            cpus[name].append(time.process_time() - c)
    return {name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in contenders}


def scores(model: nn.Module, x: torch.Tensor, mask: torch.Tensor, truth: torch.Tensor) -> list[float]:
    """The white-box scores against ``truth`` and mean CPD / CPP on ``x``."""
    white = [float(fn(mask, truth)) for fn in (aup, aur, information, entropy, auroc, auprc)]
    cumulative = [float(fn(model, x, mask, max_examples_per_batch=510).score.mean()) for fn in (cpd, cpp)]
    return white + cumulative


class MaskRecorder:
    """Scores the (single-batch) mask every ``every`` optimiser steps and notes the wall time."""

    def __init__(self, truth: torch.Tensor, every: int) -> None:
        self.truth, self.every, self.steps, self.start = truth, every, 0, time.perf_counter()
        self.rows: dict[int, tuple[float, float, float]] = {}

    def __call__(self, optimiser: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        self.steps += 1
        if self.steps % self.every == 0:
            seconds = time.perf_counter() - self.start
            mask = optimiser.param_groups[0]["params"][0].detach().clamp(0, 1)
            self.rows[self.steps] = (seconds, float(aup(mask, self.truth)), float(aur(mask, self.truth)))


def stop_epoch(history: list[float], tol: float, patience: int) -> int:
    """The epoch after which the rule ``(tol, patience)`` stops (as ``attribute`` applies it)."""
    best, stale = float("inf"), 0
    for epoch, value in enumerate(history, start=1):
        if best == float("inf") or value < best - tol * abs(best):
            best, stale = value, 0
        else:
            stale += 1
            if stale >= patience:
                return epoch
    return len(history)


def time_to_quality(model: nn.Module, x: torch.Tensor, truth: torch.Tensor, epochs: int) -> None:
    """One paper-settings run on one batch, scored every 10 epochs; where each rule stops."""
    recorder = MaskRecorder(truth, every=10)
    handle = register_optimizer_step_post_hook(recorder)
    explainer = LearnedPerturbationMask(model)
    try:
        mask = explainer.attribute(
            x,
            generator=torch.Generator().manual_seed(0),
            tol=None,
            **{**PAPER, "epochs": epochs, "batch_size": len(x)},
        )
    finally:
        handle.remove()
    history = explainer.loss_history_
    final = (float(aup(mask, truth)), float(aur(mask, truth)))
    seconds = recorder.rows[max(recorder.rows)][0]
    print(
        f"\nTime to quality: {len(x)} series, one batch, paper settings, "
        f"{epochs} epochs in {seconds:.0f} s wall"
    )
    print(table([[e, *recorder.rows[e]] for e in sorted(recorder.rows)], ["epoch", "wall s", "AUP", "AUR"]))
    rows = []
    for tol, patience in RULES:
        stop = stop_epoch(history, tol, patience)
        at = min(recorder.rows, key=lambda e: abs(e - stop) if e >= stop else float("inf"))
        s, p, r = recorder.rows[at]
        ok = abs(p - final[0]) <= 0.01 and abs(r - final[1]) <= 0.01 and stop <= epochs // 2
        rows.append([f"tol={tol:g}, patience={patience}", stop, at, s, p, r, "yes" if ok else "no"])
    print(f"\nfinal ({epochs} epochs): AUP {final[0]:.4f}, AUR {final[1]:.4f}")
    print(
        table(
            rows,
            ["rule", "stops after epoch", "scored at epoch", "wall s", "AUP", "AUR", "within 0.01, <= half"],
        )
    )


def trained_classifier(inputs: torch.Tensor, labels: torch.Tensor, cache: str | None) -> nn.Module:
    """The GRU state classifier (hidden 200, 5 epochs), its weights read from ``cache`` if present."""
    model = StateClassifier(hidden_size=200)
    if cache and Path(cache).exists():
        model.load_state_dict(torch.load(cache))
        return model.eval()
    fit_state_classifier(model, inputs, labels, epochs=5)
    if cache:
        torch.save(model.state_dict(), cache)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="60 explained series, 100 epochs for the paper runs"
    )
    parser.add_argument(
        "--explain", type=int, default=None, help="number of test series explained (default 200)"
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs of the paper-settings runs (default 500)"
    )
    parser.add_argument("--timing-series", type=int, default=50)
    parser.add_argument("--timing-epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-tint", action="store_true")
    parser.add_argument("--time-to-quality", action="store_true", help="the early-stopping study only")
    parser.add_argument("--model-cache", default=None, help="a file for the classifier's weights (reused)")
    parser.add_argument(
        "--only", nargs="+", default=None, help="run only the quality rows whose name contains one of these"
    )
    args = parser.parse_args()
    n_explain = args.explain or (60 if args.quick else 200)
    epochs = args.epochs or (100 if args.quick else PAPER["epochs"])
    use_tint = tint_available() and not args.skip_tint
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    print(f"load average at start (1, 5, 15 min): {os.getloadavg()}, {os.cpu_count()} cores")

    train, test = hmm_state(800, seed=0), hmm_state(200, seed=1)
    torch.manual_seed(0)
    start = time.perf_counter()
    model = trained_classifier(train.inputs, train.labels, args.model_cache)
    print(
        f"HMM: 800 train / 200 test series, T=200, F=3. GRU state classifier (hidden 200) trained in "
        f"{time.perf_counter() - start:.0f} s, test accuracy {accuracy(model, test.inputs, test.labels):.3f}"
    )
    x, truth = test.inputs[:n_explain], test.saliency[:n_explain]
    print(f"tint (time-interpret) importable: {tint_available()}; explaining {n_explain} test series\n")

    if args.time_to_quality:
        time_to_quality(model, x, truth, epochs)
        return
    if not args.skip_quality:
        rows = [PUBLISHED]
        runs = [
            (
                f"ours, paper settings ({epochs} epochs)",
                lambda: ours(model, x, tol=None, **{**PAPER, "epochs": epochs}),
            )
        ]
        runs.append(("ours, defaults: attribute(x)", lambda: ours(model, x)))
        runs.append(
            (
                "ours, the former defaults: lambda_mask=1, no smoothing",
                lambda: ours(model, x, lambda_mask=1.0, lambda_perturbation=1.0),
            )
        )
        runs.append(
            ('ours, mask="gated" (other options at their defaults)', lambda: ours(model, x, mask="gated"))
        )
        if use_tint:
            runs.append(("tint ExtremalMask, defaults: attribute(x)", lambda: tint_defaults(model, x)))
            runs.append(
                (
                    f"tint ExtremalMask, paper settings ({epochs} epochs)",
                    lambda: tint_extremal_mask(model, x, epochs, PAPER["batch_size"], PAPER["lr"]),
                )
            )
        runs.append(("random map", lambda: torch.rand(x.shape, generator=torch.Generator().manual_seed(0))))
        for name, run in runs:
            if args.only and not any(text in name for text in args.only):
                continue
            wall, cpu = time.perf_counter(), time.process_time()
            mask = run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rows.append([name, *scores(model, x, mask, truth), wall, cpu])
            print(table([rows[-1]], HEADER), flush=True)
        print(
            "\nQuality (pooled over the explained series, tint's definitions; "
            "CPD higher, CPP lower is better):"
        )
        print(table(rows, HEADER))

    if args.skip_speed:
        return
    timing_x = test.inputs[: args.timing_series]
    work = dict(epochs=args.timing_epochs, batch_size=PAPER["batch_size"], lr=PAPER["lr"], tol=None)
    contenders = {
        "ours": lambda: ours(model, timing_x, **work),
        "floor": lambda: floor(model, timing_x, args.timing_epochs, PAPER["batch_size"]),
    }
    if use_tint:
        contenders["tint"] = lambda: tint_extremal_mask(model, timing_x, args.timing_epochs, 100, PAPER["lr"])
    load = os.getloadavg()
    times = compare_clocks(contenders, rounds=args.rounds)
    steps = args.timing_epochs * -(-len(timing_x) // PAPER["batch_size"])
    print(
        f"\nSpeed: {len(timing_x)} series, {args.timing_epochs} epochs of batch 100 ({steps} steps), "
        f"medians of {args.rounds} interleaved rounds, one thread; load average before/after "
        f"{load[0]:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:"
    )
    rows = [[name, w, c, w / times["floor"][0], c / times["floor"][1]] for name, (w, c) in times.items()]
    print(table(rows, ["contender", "wall s", "CPU s", "wall / floor", "CPU / floor"]))
    if use_tint:
        print(
            f"ours / tint: wall {times['ours'][0] / times['tint'][0]:.3f}, "
            f"CPU {times['ours'][1] / times['tint'][1]:.3f}"
        )


if __name__ == "__main__":
    main()
