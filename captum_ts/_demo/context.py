"""What every demo section shares: the output folder, a seed and a trained classifier."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import nn

from ..datasets import LabelledSeries, bumps
from ..models import CNN1dClassifier, accuracy, fit_classifier


@dataclass
class DemoContext:
    """Output folder and lazily built shared data/models for the demo sections."""

    out: Path
    seed: int = 0
    quick: bool = False

    @cached_property
    def train(self) -> LabelledSeries:
        return bumps(n_samples=256 if self.quick else 384, seed=self.seed)

    @cached_property
    def test(self) -> LabelledSeries:
        return bumps(n_samples=64 if self.quick else 256, seed=self.seed + 1)

    @cached_property
    def cnn(self) -> nn.Module:
        """A 1-D CNN trained on the bumps set (a couple of seconds on a laptop CPU)."""
        torch.manual_seed(self.seed)
        model = CNN1dClassifier(self.train.inputs.shape[-1], 2)
        return fit_classifier(model, self.train.inputs, self.train.labels, epochs=8 if self.quick else 10)

    @cached_property
    def cnn_accuracy(self) -> float:
        return accuracy(self.cnn, self.test.inputs, self.test.labels)

    def save(self, fig: Figure, name: str) -> str:
        """Write ``fig`` as ``<out>/<name>.png``, close it and return the file name."""
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        return path.name
