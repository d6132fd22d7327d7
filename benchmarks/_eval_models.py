"""The model families of the evaluation and their seeded, cached training.

A trained model is cached as ``{dataset}-{model}-seed{seed}-ep{epochs}-{key}.pt`` (its
state dict and test accuracy), where ``key`` hashes everything that shapes the training
(family settings, the training data, epochs, seed, torch version), so a changed setting
never reuses a stale file.
Files are written to a temporary name and renamed, so an interrupted run leaves no half file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from captum_ts.datasets import LabelledSeries
from captum_ts.models import (
    CNN1dClassifier,
    FCNClassifier,
    GRUClassifier,
    TransformerClassifier,
    accuracy,
    fit_classifier,
)

#: Adam mini-batch size: small, so that the real sets with 20 to 70 training series still
#: get a few optimiser steps per epoch
BATCH_SIZE = 16
#: small training sets get more epochs: at least this many optimiser steps in all
MIN_STEPS = 200


@dataclass(frozen=True)
class ModelSpec:
    """``build(n_features, n_classes, length)`` and the training settings of one family."""

    build: Callable[[int, int, int], nn.Module]
    lr: float
    settings: dict = field(default_factory=dict)  # for the cache key


MODELS: dict[str, ModelSpec] = {
    "cnn": ModelSpec(
        lambda f, c, t: CNN1dClassifier(f, c, channels=16, kernel_size=7, pooling="max"),
        1e-2,
        {"channels": 16, "kernel_size": 7, "pooling": "max"},
    ),
    "fcn": ModelSpec(lambda f, c, t: FCNClassifier(f, c), 1e-2, {"channels": (32, 64, 32)}),
    "gru": ModelSpec(lambda f, c, t: GRUClassifier(f, c, hidden_size=32), 1e-2, {"hidden_size": 32}),
    "transformer": ModelSpec(
        lambda f, c, t: TransformerClassifier(f, c, max_len=t),
        3e-3,
        {"d_model": 32, "n_heads": 4, "n_layers": 2},
    ),
}


def trained(
    dataset: str,
    model: str,
    train: LabelledSeries,
    test: LabelledSeries,
    seed: int,
    epochs: int,
    cache: Path | None,
) -> tuple[nn.Module, float, bool]:
    """The model trained on ``train`` with ``seed`` (initial weights, batch order, dropout),
    in eval mode, its accuracy on the whole ``test`` split, and whether it came from the cache.

    Training runs ``epochs`` epochs, or more on a small set: enough for :data:`MIN_STEPS`
    optimiser steps."""
    spec = MODELS[model]
    epochs = max(epochs, math.ceil(MIN_STEPS / math.ceil(len(train.inputs) / BATCH_SIZE)))
    n_features, n_classes = train.inputs.shape[-1], int(train.labels.max()) + 1
    length = train.inputs.shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = spec.build(n_features, n_classes, length)
        path = _cache_path(cache, dataset, model, spec, train, seed, epochs)
        if path is not None and path.exists():
            saved = torch.load(path, weights_only=True)
            net.load_state_dict(saved["state_dict"])
            return net.eval(), float(saved["accuracy"]), True
        fit_classifier(
            net, train.inputs, train.labels, epochs=epochs, lr=spec.lr, batch_size=BATCH_SIZE, seed=seed
        )
    acc = accuracy(net, test.inputs, test.labels)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"state_dict": net.state_dict(), "accuracy": acc}, tmp)
        os.replace(tmp, path)
    return net, acc, False


def _cache_path(
    cache: Path | None,
    dataset: str,
    model: str,
    spec: ModelSpec,
    train: LabelledSeries,
    seed: int,
    epochs: int,
) -> Path | None:
    if cache is None:
        return None
    described = {
        "settings": spec.settings,
        "lr": spec.lr,
        "batch_size": BATCH_SIZE,
        "train": list(train.inputs.shape),
        "data": hashlib.sha1(train.inputs.numpy().tobytes() + train.labels.numpy().tobytes()).hexdigest(),
        "epochs": epochs,
        "seed": seed,
        "torch": torch.__version__,
    }
    key = hashlib.sha1(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return Path(cache) / f"{dataset}-{model}-seed{seed}-ep{epochs}-{key}.pt"
