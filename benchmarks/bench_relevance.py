"""LRP and DeepTaylor against Captum's LRP, zennit (where installed) and the floor.

The floor is one forward + one backward to the inputs of the same batch (what
Gradient x Input costs). Captum's LRP runs on a model it accepts (Conv2d with
1 x k kernels over a (B, F, 1, T) series, ReLU, max pooling, Linear), with its
epsilon rules set by hand before every call (Captum deletes them after one).
zennit (LGPL; never a dependency of the package: imported here only if present)
runs the same rules on the same CNN: epsilon everywhere, its EpsilonPlusFlat, and
z^B/z+ without biases (our DeepTaylor). The GRU classifier is ours only: neither
has a rule for recurrent layers.

    python benchmarks/bench_relevance.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from captum.attr import LRP as CaptumLRP
from captum.attr._utils.lrp_rules import EpsilonRule
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, table

from captum_ts import LRP, DeepTaylor
from captum_ts.models import GRUClassifier

try:
    import zennit
except ImportError:  # optional: the zennit rows are left out
    zennit = None

B, T, F = 32, 128, 3
ROUNDS = 21


class Conv2dSeries(nn.Module):
    """A 1-D CNN written with Conv2d (1 x k kernels) so that Captum's LRP accepts it."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.conv1, self.relu1 = nn.Conv2d(F, channels, (1, 7)), nn.ReLU()
        self.conv2, self.relu2 = nn.Conv2d(channels, channels, (1, 7)), nn.ReLU()
        self.pool = nn.MaxPool2d((1, 4))
        self.fc1, self.relu3, self.fc2 = nn.Linear(channels * 29, 64), nn.ReLU(), nn.Linear(64, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(self.relu2(self.conv2(self.relu1(self.conv1(x)))))
        return self.fc2(self.relu3(self.fc1(h.flatten(1))))


def floor(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> None:
    """One plain forward + backward to the inputs."""
    rows = x.clone().requires_grad_()
    out = model(rows)[torch.arange(len(x)), target]
    torch.autograd.grad(out.sum(), rows)


def captum_lrp(model: Conv2dSeries, x: torch.Tensor, target: torch.Tensor) -> None:
    for layer in (model.conv1, model.conv2, model.pool, model.fc1, model.fc2):
        layer.rule = EpsilonRule()
    CaptumLRP(model).attribute(x, target=target)


def zennit_contenders(cnn: nn.Module, x: torch.Tensor, target: torch.Tensor) -> dict:
    """zennit's attributions of the same explained outputs (the seed is the output itself)."""
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonPlusFlat, LayerMapComposite, SpecialFirstLayerMapComposite
    from zennit.rules import Epsilon, Pass, ZBox, ZPlus
    from zennit.types import Activation, Convolution, Linear

    onehot = nn.functional.one_hot(target, 2).to(x.dtype)
    composites = {
        "zennit_eps": lambda: LayerMapComposite(
            [(Activation, Pass()), (Convolution, Epsilon(1e-9)), (nn.Linear, Epsilon(1e-9))]
        ),
        "zennit_epf": EpsilonPlusFlat,
        "zennit_dtd": lambda: SpecialFirstLayerMapComposite(
            [
                (Activation, Pass()),
                (Convolution, ZPlus(zero_params="bias")),
                (nn.Linear, ZPlus(zero_params="bias")),
            ],
            [(Linear, ZBox(0.0, 1.0, zero_params="bias"))],
        ),
    }

    def run(make):
        with Gradient(model=cnn, composite=make()) as attributor:
            return attributor(x, lambda out: out * onehot)[1]

    return {name: (lambda make=make: run(make)) for name, make in composites.items()}


def row(t: dict, ours: dict, label: str, key: str, captum: bool = True) -> list:
    """A table row: time, and ratios to the floor, Captum's LRP and zennit's same rules."""
    zen = next((z for z, m in ours.items() if m == key and z in t), None)
    return [
        label,
        t[key],
        t[key] / t["floor_cnn"],
        t[key] / t["captum_cnn"] if captum else float("nan"),
        t[key] / t[zen] if zen else float("nan"),
    ]


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    target = torch.randint(0, 2, (B,))
    cnn = Conv2dSeries().eval()
    x_cnn = torch.rand(B, F, 1, T)
    gru = GRUClassifier(F, 2).eval()
    x_gru = torch.randn(B, T, F)
    lrp_cnn, dtd, lrp_gru = LRP(cnn), DeepTaylor(cnn), LRP(gru)
    epf = LRP(cnn, "epsilon-plus-flat")
    a = lrp_cnn.attribute(x_cnn, target=target)
    cnn_copy = Conv2dSeries().eval()
    cnn_copy.load_state_dict(cnn.state_dict())
    for layer in (cnn_copy.conv1, cnn_copy.conv2, cnn_copy.pool, cnn_copy.fc1, cnn_copy.fc2):
        layer.rule = EpsilonRule()
    c = CaptumLRP(cnn_copy).attribute(x_cnn, target=target).detach()
    diff, scale = float((a - c).abs().max()), float(a.abs().max())
    print(f"max |ours - Captum| on the CNN: {diff:.2e} (max |attr| {scale:.2e})")
    contenders = {
        "lrp_cnn": lambda: lrp_cnn.attribute(x_cnn, target=target),
        "captum_cnn": lambda: captum_lrp(cnn_copy, x_cnn, target),
        "epf_cnn": lambda: epf.attribute(x_cnn, target=target),
        "dtd_cnn": lambda: dtd.attribute(x_cnn, target=target, bounds=(0.0, 1.0)),
        "floor_cnn": lambda: floor(cnn, x_cnn, target),
        "lrp_gru": lambda: lrp_gru.attribute(x_gru, target=target),
        "floor_gru": lambda: floor(gru, x_gru, target),
    }
    ours = {"zennit_eps": "lrp_cnn", "zennit_epf": "epf_cnn", "zennit_dtd": "dtd_cnn"}
    if zennit is None:
        print("zennit is not installed: its rows are left out")
    else:
        contenders |= zennit_contenders(cnn, x_cnn, target)
        for name, mine in ours.items():
            theirs, own = contenders[name](), contenders[mine]()
            print(f"max |ours - zennit| ({mine}): {float((own - theirs).abs().max()):.2e}")
    for clock_name, clock in (("wall time", time.perf_counter), ("CPU time", time.process_time)):
        t = compare(contenders, rounds=ROUNDS, clock=clock)
        rows = [
            row(t, ours, "LRP (epsilon), CNN", "lrp_cnn"),
            row(t, ours, "Captum LRP, CNN", "captum_cnn"),
            row(t, ours, "LRP (epsilon-plus-flat), CNN", "epf_cnn", captum=False),
            row(t, ours, "DeepTaylor (z^B, z+), CNN", "dtd_cnn", captum=False),
            *[row(t, ours, f"zennit {name[7:]}, CNN", name, captum=False) for name in ours if name in t],
            ["LRP (recurrent), GRU", t["lrp_gru"], t["lrp_gru"] / t["floor_gru"], float("nan"), float("nan")],
        ]
        print(f"\nB={B}, T={T}, F={F}, 1 thread; {clock_name}, median of {ROUNDS} interleaved rounds (s)")
        print(table(rows, ["method", "time", "/ floor (fwd+bwd)", "/ Captum LRP", "/ zennit"]))
        print(f"floor: CNN {t['floor_cnn']:.4g} s, GRU {t['floor_gru']:.4g} s")


if __name__ == "__main__":
    main()
