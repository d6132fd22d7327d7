"""LearnedPerturbationMask on the HMM "state" benchmark, against tint's ExtremalMask.

1. Data and model: 800 training and 200 test series of the HMM set, the GRU state
   classifier (hidden 200) trained by this script.
2. Quality: AUP, AUR, information, entropy, AUROC, AUPRC and wall time on the explained
   test series for ours with the paper's settings (500 epochs, batch 100, lr 0.01,
   lambdas 1, the bidirectional-GRU perturbation), ours with its defaults (``attribute(x)``),
   and tint's ``ExtremalMask`` with the paper's settings when ``time-interpret`` is
   importable. The published row (mean of 5 folds) is printed for reference.
3. Speed: the same work for every contender (``--timing-epochs`` epochs, batch 100, the
   paper's network), interleaved rounds, medians of process CPU time on one thread, and
   the ratio to tint. The floor is one forward with graph plus one backward to the input
   per step.

    python benchmarks/bench_learned_perturbation_mask.py            # full size (slow: tens of minutes)
    python benchmarks/bench_learned_perturbation_mask.py --quick    # 60 series, 100 epochs
    python benchmarks/bench_learned_perturbation_mask.py --skip-quality

Install tint in a separate environment to compare (``pip install time-interpret==0.3.0``
after torch and captum, then ``pip install -e . --no-deps``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, table

from captum_ts.attr.learned_perturbation_mask import LearnedPerturbationMask
from captum_ts.datasets.hmm import hmm_state
from captum_ts.metrics.white_box import aup, auprc, aur, auroc, entropy, information
from captum_ts.models import accuracy
from captum_ts.models.state_classifier import StateClassifier, fit_state_classifier

PUBLISHED = ["published ExtremalMask (5 folds)", 0.885, 0.781, 1536.0, 34.1, 0.910, 0.883, "-"]
PAPER = dict(epochs=500, batch_size=100, lr=0.01, lambda_mask=1.0, lambda_perturbation=1.0)
HEADER = ["explainer", "AUP", "AUR", "information", "entropy", "AUROC", "AUPRC", "wall s"]


def tint_available() -> bool:
    try:
        import tint  # noqa: F401
    except ImportError:
        return False
    return True


def tint_extremal_mask(
    model: nn.Module, x: torch.Tensor, epochs: int, batch_size: int, lr: float, seed: int = 0
):
    """tint's ExtremalMask with the paper's perturbation network and a quiet Lightning trainer."""
    from tint.attr import ExtremalMask
    from tint.attr.models import ExtremalMaskNet
    from tint.models import MLP, RNN

    torch.manual_seed(seed)
    f = x.shape[-1]
    net = nn.Sequential(RNN(input_size=f, rnn="gru", hidden_size=f, bidirectional=True), MLP([2 * f, f]))
    mask_net = ExtremalMaskNet(forward_func=model, model=net, lambda_1=1.0, lambda_2=1.0, optim="adam", lr=lr)
    trainer = _quiet_trainer(epochs)
    return ExtremalMask(model).attribute(x, trainer=trainer, mask_net=mask_net, batch_size=batch_size)


def _quiet_trainer(epochs: int):
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


def tint_defaults(model: nn.Module, x: torch.Tensor):
    """tint's ``ExtremalMask(model).attribute(x)``: no perturbation network, lr 1e-3, 100 epochs,
    batch 32 (with a quiet trainer of the same ``max_epochs``)."""
    from tint.attr import ExtremalMask

    trainer = _quiet_trainer(100)
    return ExtremalMask(model).attribute(x, trainer=trainer)


def ours(model: nn.Module, x: torch.Tensor, seed: int = 0, **kwargs) -> torch.Tensor:
    return LearnedPerturbationMask(model).attribute(
        x, generator=torch.Generator().manual_seed(seed), **kwargs
    )


def floor(model: nn.Module, x: torch.Tensor, epochs: int, batch_size: int) -> None:
    """One forward with graph and one backward to the input per optimisation step."""
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            rows = x[start : start + batch_size].clone().requires_grad_()
            torch.autograd.grad(model(rows).square().mean(), rows)


def scores(name: str, mask: torch.Tensor, truth: torch.Tensor, seconds: float) -> list[object]:
    return [name, *(float(fn(mask, truth)) for fn in (aup, aur, information, entropy, auroc, auprc)), seconds]


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
    parser.add_argument("--timing-epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-tint", action="store_true")
    parser.add_argument(
        "--only", default=None, help="run only the quality rows whose name contains this text"
    )
    args = parser.parse_args()
    n_explain = args.explain or (60 if args.quick else 200)
    epochs = args.epochs or (100 if args.quick else PAPER["epochs"])
    use_tint = tint_available() and not args.skip_tint
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    train, test = hmm_state(800, seed=0), hmm_state(200, seed=1)
    torch.manual_seed(0)
    start = time.perf_counter()
    model = fit_state_classifier(StateClassifier(hidden_size=200), train.inputs, train.labels, epochs=5)
    print(
        f"HMM: 800 train / 200 test series, T=200, F=3. GRU state classifier (hidden 200) trained in "
        f"{time.perf_counter() - start:.0f} s, test accuracy {accuracy(model, test.inputs, test.labels):.3f}"
    )
    x, truth = test.inputs[:n_explain], test.saliency[:n_explain]
    print(f"tint (time-interpret) importable: {tint_available()}; explaining {n_explain} test series\n")

    if not args.skip_quality:
        settings = {**PAPER, "epochs": epochs}
        rows = [PUBLISHED]
        runs = [(f"ours, paper settings ({epochs} epochs)", lambda: ours(model, x, **settings))]
        runs.append(("ours, defaults: attribute(x)", lambda: ours(model, x)))
        if use_tint:
            runs.append(("tint ExtremalMask, defaults: attribute(x)", lambda: tint_defaults(model, x)))
            runs.append(
                (
                    f"tint ExtremalMask, paper settings ({epochs} epochs)",
                    lambda: tint_extremal_mask(model, x, epochs, PAPER["batch_size"], PAPER["lr"]),
                )
            )
        for name, run in runs:
            if args.only and args.only not in name:
                continue
            start = time.perf_counter()
            mask = run()
            rows.append(scores(name, mask, truth, time.perf_counter() - start))
            print(table([rows[-1]], HEADER), flush=True)
        print("\nQuality (pooled over the explained series, tint's definitions):")
        print(table(rows, HEADER))

    if args.skip_speed:
        return
    timing_x = x[:200]
    work = dict(epochs=args.timing_epochs, batch_size=PAPER["batch_size"], lr=PAPER["lr"])
    contenders = {
        "ours": lambda: ours(model, timing_x, **work),
        "floor": lambda: floor(model, timing_x, args.timing_epochs, PAPER["batch_size"]),
    }
    if use_tint:
        contenders["tint"] = lambda: tint_extremal_mask(model, timing_x, args.timing_epochs, 100, PAPER["lr"])
    times = compare(contenders, rounds=args.rounds, warmup=1, clock=time.process_time)
    steps = args.timing_epochs * -(-len(timing_x) // PAPER["batch_size"])
    rows = [[name, t, t / steps] for name, t in times.items()]
    print(
        f"\nSpeed: {len(timing_x)} series, {args.timing_epochs} epochs of batch 100 ({steps} steps), "
        f"median CPU seconds of {args.rounds} interleaved rounds, one thread:"
    )
    print(table(rows, ["contender", "seconds", "seconds / step"]))
    if use_tint:
        print(f"ours / tint = {times['ours'] / times['tint']:.3f}  (target <= 0.4)")
    print(f"ours / floor = {times['ours'] / times['floor']:.3f}")


if __name__ == "__main__":
    main()
