"""The datasets of the evaluation: real UCR/UEA sets shipped inside ``aeon`` and generated sets
with true saliency. Every loader returns a train and a test :class:`LabelledSeries`; generated
sets carry a true saliency mask, real ones an all-zero one (``truth=False``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from captum_ts.datasets import LabelledSeries, bumps, hmm_state, load_ucr, shapes
from captum_ts.datasets.ucr import SHIPPED

#: sets in aeon's data folder that ``load_ucr`` does not list, with their file stems
#: (the ``_eq`` files are aeon's equal-length versions)
AEON_FILES = {
    "JapaneseVowels": "JapaneseVowels/JapaneseVowels_eq",
    "UnitTest": "UnitTest/UnitTest",
    "PickupGestureWiimoteZ": "PickupGestureWiimoteZ/PickupGestureWiimoteZ_eq",
    "OSULeaf": "OSULeaf/OSULeaf",
}

#: series drawn for every generated set: training, and at least this many for the test split
#: (drawn with another seed), on which the accuracy is measured
GENERATED_TRAIN = 400
GENERATED_TEST = 256


@dataclass(frozen=True)
class Split:
    train: LabelledSeries
    test: LabelledSeries
    truth: bool


def _real(name: str) -> Split:
    """Z-normalised (per series and channel) train and test splits of a real set."""
    if name in SHIPPED:
        return Split(load_ucr(name, "train", True), load_ucr(name, "test", True), truth=False)
    return Split(_aeon_file(name, "TRAIN"), _aeon_file(name, "TEST"), truth=False)


def _aeon_file(name: str, split: str) -> LabelledSeries:
    """Read a ``.ts`` file from aeon's data folder (nothing is downloaded), as ``load_ucr`` does."""
    import aeon.datasets as aeon_datasets
    from aeon.datasets import load_from_ts_file

    path = Path(aeon_datasets.__file__).parent / "data" / f"{AEON_FILES[name]}_{split}.ts"
    x, y = load_from_ts_file(str(path))
    x = np.asarray(x, dtype=np.float32).transpose(0, 2, 1)  # aeon: (N, C, T)
    if not np.isfinite(x).all():
        raise ValueError(f"{path} holds NaN or Inf values.")
    x = (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-8)
    # train and test files list the same classes; sorted names give the same codes in both
    labels = torch.from_numpy(np.searchsorted(np.unique(y), y)).long()
    inputs = torch.from_numpy(np.ascontiguousarray(x))
    return LabelledSeries(inputs, labels, torch.zeros_like(inputs))


def _generated(draw: Callable[[int, int], LabelledSeries], n_test: int) -> Split:
    return Split(draw(GENERATED_TRAIN, 0), draw(max(n_test, GENERATED_TEST), 1), truth=True)


def _hmm(n: int, seed: int) -> LabelledSeries:
    """HMM "state" series of 51 steps; the class is the majority of the 51 per-step labels."""
    data = hmm_state(n_samples=n, length=51, seed=seed)
    majority = (data.labels.float().mean(1) > 0.5).long()
    return LabelledSeries(data.inputs, majority, data.saliency)


def _shapes(n: int, seed: int) -> LabelledSeries:
    data = shapes(n_samples=n, length=64, n_channels=3, width=12, seed=seed)
    return LabelledSeries(data.inputs, data.labels, data.saliency)


REAL = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", *AEON_FILES)
GENERATED: dict[str, Callable[[int, int], LabelledSeries]] = {
    "bumps": lambda n, seed: bumps(n_samples=n, length=64, n_features=3, width=8, seed=seed),
    "hmm": _hmm,
    "shapes": _shapes,
}
NAMES = (*REAL, *GENERATED)


def load(name: str, n_test: int) -> Split:
    """The splits of ``name``; a generated test split has at least ``n_test`` series."""
    if name in GENERATED:
        return _generated(GENERATED[name], n_test)
    if name in REAL:
        return _real(name)
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(NAMES)}.")
