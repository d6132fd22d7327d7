"""LRP and DeepTaylor against Captum's LRP, zennit (where installed) and the floor.

The floor is one forward + one backward to the inputs of the same batch (what
Gradient x Input costs). Four models: a CNN with BatchNorm, max and average pooling,
a deeper CNN (four convolutions), a GRU and an LSTM classifier. The CNNs are written
with Conv2d (1 x k kernels over a (B, F, 1, T) series), which Captum's LRP accepts;
its epsilon rules are set by hand before every call (Captum deletes them after one).
zennit (LGPL; never a dependency of the package: imported here only if present) runs
the same rules on the same CNNs, BatchNorm merged by its SequentialMergeBatchNorm
canonizer as ours merges it: epsilon everywhere, EpsilonPlusFlat, and z^B/z+ without
biases (our DeepTaylor). Neither has a rule for recurrent layers, and DeepTaylor
refuses them.

    python benchmarks/bench_relevance.py              # B = 32 series
    python benchmarks/bench_relevance.py --batch 128  # the fixed cost per call shrinks with the batch
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from captum.attr import LRP as CaptumLRP
from captum.attr._utils.lrp_rules import EpsilonRule
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import paired_ratios, rounds_of, table

from captum_ts import LRP, DeepTaylor
from captum_ts.models import GRUClassifier

try:
    import zennit
except ImportError:  # optional: the zennit columns are left out
    zennit = None

B, T, F = 32, 128, 3  # B: --batch
ROUNDS = 31
NA = float("nan")


class SeriesCNN(nn.Module):
    """Conv2d (1 x k) features in a Sequential, then a dense head on their flattened output."""

    def __init__(self, features: list[nn.Module], flat: int) -> None:
        super().__init__()
        self.features = nn.Sequential(*features)
        self.head = nn.Sequential(nn.Linear(flat, 64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def bn_cnn() -> SeriesCNN:
    """Two convolutions with BatchNorm, max pooling between, average pooling at the end."""
    layers = [nn.Conv2d(F, 32, (1, 7)), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d((1, 2))]
    layers += [nn.Conv2d(32, 32, (1, 7)), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 8))]
    model = SeriesCNN(layers, 32 * 8)
    with torch.no_grad():  # running statistics a trained model would have
        for bn in (model.features[1], model.features[5]):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.1, 0.1)
    return model.eval()


def deep_cnn() -> SeriesCNN:
    """Four convolutions (32, 32, 64, 64 channels), max pooling after every two."""
    layers: list[nn.Module] = []
    for c_in, c_out, pool in ((F, 32, False), (32, 32, True), (32, 64, False), (64, 64, True)):
        layers += [nn.Conv2d(c_in, c_out, (1, 5)), nn.ReLU()] + ([nn.MaxPool2d((1, 2))] if pool else [])
    return SeriesCNN(layers, 64 * 26).eval()


class LSTMClassifier(nn.Module):
    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.rnn, self.head = nn.LSTM(F, hidden, batch_first=True), nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


def floor(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> None:
    """One plain forward + backward to the inputs."""
    rows = x.clone().requires_grad_()
    out = model(rows)[torch.arange(len(x)), target]
    torch.autograd.grad(out.sum(), rows)


def captum_lrp(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Captum's LRP with epsilon rules set by hand on every layer that takes one."""
    for layer in model.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d)):
            layer.rule = EpsilonRule()
    return CaptumLRP(model).attribute(x, target=target).detach()


def zennit_contenders(cnn: nn.Module, x: torch.Tensor, target: torch.Tensor) -> dict:
    """zennit's attributions of the same explained outputs (the seed is the output itself)."""
    from zennit.attribution import Gradient
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import EpsilonPlusFlat, LayerMapComposite, SpecialFirstLayerMapComposite
    from zennit.rules import Epsilon, Pass, ZBox, ZPlus
    from zennit.types import Activation, AvgPool, Convolution, Linear

    onehot = nn.functional.one_hot(target, 2).to(x.dtype)
    canon = [SequentialMergeBatchNorm()]
    composites = {
        "LRP epsilon": lambda: LayerMapComposite(
            [
                (Activation, Pass()),
                (AvgPool, Epsilon(1e-9)),
                (Convolution, Epsilon(1e-9)),
                (nn.Linear, Epsilon(1e-9)),
            ],
            canonizers=canon,
        ),
        "LRP epsilon-plus-flat": lambda: EpsilonPlusFlat(canonizers=canon),
        "DeepTaylor": lambda: SpecialFirstLayerMapComposite(
            [
                (Activation, Pass()),
                (AvgPool, Epsilon(1e-9)),
                (Convolution, ZPlus(zero_params="bias")),
                (nn.Linear, ZPlus(zero_params="bias")),
            ],
            [(Linear, ZBox(0.0, 1.0, zero_params="bias"))],
            canonizers=canon,
        ),
    }

    def run(make):
        with Gradient(model=cnn, composite=make()) as attributor:
            return attributor(x, lambda out: out * onehot)[1]

    return {name: (lambda make=make: run(make)) for name, make in composites.items()}


def cases() -> dict:
    """``{model: (contenders {(method, who): callable}, floor callable)}``."""
    torch.manual_seed(0)
    target = torch.randint(0, 2, (B,))
    x_cnn, x_rnn = torch.rand(B, F, 1, T), torch.randn(B, T, F)
    out = {}
    for name, model in (("CNN + BatchNorm", bn_cnn()), ("deep CNN", deep_cnn())):
        lrp, epf, dtd = LRP(model), LRP(model, "epsilon-plus-flat"), DeepTaylor(model)
        copy = _clone(model)
        runs = {
            ("LRP epsilon", "ours"): lambda lrp=lrp, x=x_cnn: lrp.attribute(x, target=target),
            ("LRP epsilon-plus-flat", "ours"): lambda epf=epf, x=x_cnn: epf.attribute(x, target=target),
            ("DeepTaylor", "ours"): lambda dtd=dtd, x=x_cnn: dtd.attribute(
                x, target=target, bounds=(0.0, 1.0)
            ),
            ("LRP epsilon", "captum"): lambda copy=copy, x=x_cnn: captum_lrp(copy, x, target),
        }
        if zennit is not None:
            zen = zennit_contenders(_clone(model), x_cnn, target)
            runs |= {(method, "zennit"): fn for method, fn in zen.items()}
        out[name] = (runs, lambda model=model, x=x_cnn: floor(model, x, target))
    for name, model in (("GRU", GRUClassifier(F, 2).eval()), ("LSTM", LSTMClassifier().eval())):
        lrp, epf = LRP(model), LRP(model, "epsilon-plus-flat")
        runs = {
            ("LRP epsilon", "ours"): lambda lrp=lrp: lrp.attribute(x_rnn, target=target),
            ("LRP epsilon-plus-flat", "ours"): lambda epf=epf: epf.attribute(x_rnn, target=target),
        }
        out[name] = (runs, lambda model=model: floor(model, x_rnn, target))
    return out


def _clone(model: nn.Module) -> nn.Module:
    """A separate model with the same weights (Captum and zennit write into the model)."""
    twin = bn_cnn() if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) else deep_cnn()
    twin.load_state_dict(model.state_dict())
    return twin.eval()


def agreement(all_cases: dict) -> None:
    """How far Captum's and zennit's attributions are from ours, on each CNN."""
    for name, (runs, _) in all_cases.items():
        for (method, who), fn in runs.items():
            if who != "ours" and (method, "ours") in runs:
                ours, theirs = runs[(method, "ours")](), fn()
                diff, scale = float((ours - theirs).abs().max()), float(ours.abs().max())
                print(f"{name}, {method}: max |ours - {who}| = {diff:.2e} (max |attr| {scale:.2e})")


def main() -> None:
    global B
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=B, help="series per call (default 32)")
    B = parser.parse_args().batch
    torch.set_num_threads(1)
    all_cases = cases()
    if zennit is None:
        print("zennit is not installed: its columns are left out")
    agreement(all_cases)
    contenders = {}
    for name, (runs, floor_fn) in all_cases.items():
        contenders[(name, "floor", "")] = floor_fn
        contenders |= {(name, method, who): fn for (method, who), fn in runs.items()}
    for clock_name, clock in (("wall time", time.perf_counter), ("CPU time", time.process_time)):
        times = rounds_of(contenders, rounds=ROUNDS, clock=clock)
        rows = []
        for name, (runs, _) in all_cases.items():
            base = (name, "floor", "")
            ratio = paired_ratios({k: t for k, t in times.items() if k[0] == name}, base)
            floor_ms = f"{statistics.median(times[base]) * 1e3:.2f}"
            for method in dict.fromkeys(m for m, _ in runs):
                ours, captum, zen = (ratio.get((name, method, w), NA) for w in ("ours", "captum", "zennit"))
                rows.append([name, method, ours, captum, zen, ours / captum, floor_ms])
        print(
            f"\nB={B}, T={T}, F={F}, 1 thread; {clock_name}, median over {ROUNDS} interleaved rounds of each "
            "round's ratio to the floor"
        )
        header = [
            "model",
            "method",
            "ours / floor",
            "Captum / floor",
            "zennit / floor",
            "ours / Captum",
            "floor (ms)",
        ]
        print(table(rows, header))


if __name__ == "__main__":
    main()
