"""A two-class dataset whose evidence sits in a known window: the "bumps" set."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from .._validation import check_nonnegative_float, check_positive_int
from ._random import dataset_generator


class LabelledSeries(NamedTuple):
    """Series ``(N, T, F)``, labels and the true saliency mask (shaped like the series)."""

    inputs: Tensor
    labels: Tensor
    saliency: Tensor


def bumps(
    n_samples: int = 512,
    length: int = 64,
    n_features: int = 3,
    width: int = 8,
    amplitude: float = 2.0,
    noise: float = 0.5,
    seed: int | torch.Generator = 0,
) -> LabelledSeries:
    """Gaussian-noise series with one bump in feature 0 at a random position.

    The bump points up for class 1 and down for class 0, so the class can only be
    read from the ``width`` time steps under the bump: those cells of feature 0
    form the true saliency mask. Every other cell is pure noise. ``seed`` is an
    integer or a CPU ``torch.Generator`` to draw from; the global RNG is not used.

    >>> data = bumps(n_samples=8, length=32, seed=1)
    >>> data.inputs.shape, data.labels.shape, int(data.saliency[0].sum())
    (torch.Size([8, 32, 3]), torch.Size([8]), 8)
    """
    for value, name in (
        (n_samples, "n_samples"),
        (length, "length"),
        (n_features, "n_features"),
        (width, "width"),
    ):
        check_positive_int(value, name)
    if width > length:
        raise ValueError(f"`width` ({width}) must not exceed `length` ({length}).")
    check_nonnegative_float(noise, "noise")
    if isinstance(amplitude, bool) or not isinstance(amplitude, (int, float)) or not math.isfinite(amplitude):
        raise ValueError(f"`amplitude` must be a finite number, got {amplitude!r}.")
    g = dataset_generator(seed)
    labels = torch.randint(0, 2, (n_samples,), generator=g)
    start = torch.randint(0, length - width + 1, (n_samples,), generator=g)
    steps = torch.arange(length)
    inside = (steps >= start[:, None]) & (steps < (start + width)[:, None])  # (N, T)
    centre = start[:, None] + (width - 1) / 2
    shape = torch.exp(-0.5 * ((steps - centre) / (width / 4)) ** 2) * inside
    sign = labels.float() * 2 - 1
    x = noise * torch.randn(n_samples, length, n_features, generator=g)
    x[..., 0] += amplitude * sign[:, None] * shape
    saliency = torch.zeros_like(x)
    saliency[..., 0] = inside.float()
    return LabelledSeries(x, labels, saliency)
