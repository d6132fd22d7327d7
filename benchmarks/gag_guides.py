"""Which guide for GuidedAbsoluteGrad: the paper's variance guide, the stability guide, none.

Trains small classifiers (seeded) on the bumps set (true saliency known) and on GunPoint,
explains the predicted class of the test series with every method at the same absolute noise
std (``stdevs`` = 0.15 x the mean value range of the explained series, the same number for
SmoothGrad and for every GuidedAbsoluteGrad variant; the last variant instead uses the default
``noise_level=0.15``, 15 % of each series' own range) and prints, per method and ``nt_samples``:

* ``mass``: share of ``|map|`` on the true saliency (bumps only; higher is better);
* ``auroc``: AUROC of ``|map|`` against the true saliency (bumps only; higher);
* ``sel``: selectivity MoRF AUC of the softmax probability, 20 time patches set to 0 (lower);
* ``corr``: Pearson correlation of the maps from two noise seeds, mean over series (higher).

    PYTHONPATH=. python benchmarks/gag_guides.py             # the table in docs/guided_absolute_grad.md
    PYTHONPATH=. python benchmarks/gag_guides.py --n-test 16 --samples 20   # a quick look
"""

from __future__ import annotations

import argparse
import math
import warnings
from collections.abc import Callable

import torch
from captum.attr import NoiseTunnel, Saliency
from torch import Tensor, nn

from captum_ts import GuidedAbsoluteGrad
from captum_ts.datasets import bumps, load_ucr
from captum_ts.metrics import auroc, selectivity
from captum_ts.models import CNN1dClassifier, GRUClassifier, accuracy, fit_classifier

Explainer = Callable[[Tensor, Tensor, int, int], Tensor]  # (x, target, nt_samples, seed) -> map


class BatchNormCNN(nn.Module):
    """Two convolutions with BatchNorm, global average pooling over time, a linear head."""

    def __init__(self, n_features: int, n_classes: int, channels: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.features = nn.Sequential(
            nn.Conv1d(n_features, channels, kernel_size, padding=pad),
            nn.BatchNorm1d(channels),
            nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size, padding=pad),
            nn.BatchNorm1d(channels),
            nn.ReLU(),
        )
        self.head = nn.Linear(channels, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x.transpose(1, 2)).mean(-1))


MODELS: dict[str, Callable[[int, int], nn.Module]] = {
    "CNN max-pool": lambda f, c: CNN1dClassifier(f, c, pooling="max"),
    "CNN mean-pool": lambda f, c: CNN1dClassifier(f, c, pooling="mean"),
    "BatchNorm CNN": BatchNormCNN,
    "GRU": lambda f, c: GRUClassifier(f, c, hidden_size=32),
}
CASES = (
    ("bumps", "CNN max-pool"),
    ("bumps", "CNN mean-pool"),
    ("bumps", "BatchNorm CNN"),
    ("bumps", "GRU"),
    ("GunPoint", "CNN max-pool"),
    ("GunPoint", "CNN mean-pool"),
)


def data(name: str, n_test: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
    """Train inputs and labels, test inputs and labels, true saliency (None for real data)."""
    if name == "bumps":
        train, test = bumps(n_samples=512, seed=0), bumps(n_samples=n_test, seed=1)
        return train.inputs, train.labels, test.inputs, test.labels, test.saliency
    train, test = load_ucr(name, "train", znormalize=True), load_ucr(name, "test", znormalize=True)
    return train.inputs, train.labels, test.inputs[:n_test], test.labels[:n_test], None


def explainers(model: nn.Module, stdevs: float) -> dict[str, Explainer]:
    gag = GuidedAbsoluteGrad(model)
    smooth = NoiseTunnel(Saliency(model))

    def smoothgrad(x: Tensor, t: Tensor, n: int, seed: int) -> Tensor:
        torch.manual_seed(seed)
        return smooth.attribute(x, target=t, nt_type="smoothgrad", nt_samples=n, stdevs=stdevs).abs()

    def gag_with(guide: str | None) -> Explainer:
        def explain(x: Tensor, t: Tensor, n: int, seed: int) -> Tensor:
            g = torch.Generator().manual_seed(seed)
            return gag.attribute(x, target=t, nt_samples=n, stdevs=stdevs, guide=guide, generator=g)

        return explain

    def defaults(x: Tensor, t: Tensor, n: int, seed: int) -> Tensor:
        return gag.attribute(x, target=t, nt_samples=n, generator=torch.Generator().manual_seed(seed))

    def random_map(x: Tensor, t: Tensor, n: int, seed: int) -> Tensor:
        return torch.rand(x.shape, generator=torch.Generator().manual_seed(seed))

    return {
        "random": random_map,
        "SmoothGrad": smoothgrad,
        "AbsoluteGrad (guide=None)": gag_with(None),
        "GAG variance (paper)": gag_with("variance"),
        "GAG stability": gag_with("stability"),
        "GAG stability, noise_level=0.15": defaults,
    }


def pearson(a: Tensor, b: Tensor) -> Tensor:
    a, b = a.flatten(1).double(), b.flatten(1).double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-300)


def scores(model: nn.Module, x: Tensor, t: Tensor, m: Tensor, again: Tensor, truth: Tensor | None) -> dict:
    prob = nn.Sequential(model, nn.Softmax(-1))
    patch = math.ceil(x.shape[1] / 20)
    sel = selectivity(prob, x, m, target=t, n_steps=None, patch_size=patch)
    out = {"sel": float(sel.auc.mean()), "corr": float(pearson(m, again).mean())}
    if truth is not None:
        a = m.flatten(1).double()
        out["mass"] = float(((a * truth.flatten(1)).sum(1) / a.sum(1).clamp_min(1e-300)).mean())
        out["auroc"] = float(auroc(m, truth, per_example=True).mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-test", type=int, default=64)
    parser.add_argument("--samples", type=int, nargs="+", default=[20, 50])
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Input Tensor")
    print("| data | model (test acc.) | method | N | mass | AUROC | sel. AUC | seed corr. |")
    print("|---|---|---|---|---|---|---|---|")
    for name, family in CASES:
        xtr, ytr, x, y, truth = data(name, args.n_test)
        torch.manual_seed(0)
        model = MODELS[family](x.shape[-1], int(ytr.max()) + 1)
        epochs = 15 if name == "bumps" else 60
        fit_classifier(model, xtr, ytr, epochs=epochs, lr=1e-2, batch_size=16 if name != "bumps" else 64)
        acc = accuracy(model, x, y)
        with torch.no_grad():
            target = model(x).argmax(-1)
        stdevs = 0.15 * float((x.flatten(1).amax(1) - x.flatten(1).amin(1)).mean())
        for method, explain in explainers(model, stdevs).items():
            for n in args.samples:
                m, again = explain(x, target, n, 0), explain(x, target, n, 1)
                s = scores(model, x, target, m, again, truth)
                mass = f"{s['mass']:.3f}" if "mass" in s else "-"
                roc = f"{s['auroc']:.3f}" if "auroc" in s else "-"
                print(
                    f"| {name} | {family} ({acc:.2f}) | {method} | {n} | {mass} | {roc} | "
                    f"{s['sel']:.3f} | {s['corr']:.3f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
