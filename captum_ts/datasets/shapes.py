"""A multi-class, multi-channel dataset whose evidence is one short shape: the "shapes" set."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from .._validation import check_nonnegative_float, check_positive_int
from ._random import dataset_generator

#: the planted shapes, in label order
SHAPES = ("sine", "square", "triangle")


class ShapeSeries(NamedTuple):
    """Series ``(N, T, C)``, labels ``(N,)``, the true saliency mask (shaped like the series),
    and where each shape was planted: its channel ``(N,)`` and first time step ``(N,)``."""

    inputs: Tensor
    labels: Tensor
    saliency: Tensor
    channels: Tensor
    starts: Tensor


def shape_templates(width: int) -> Tensor:
    """``(3, width)`` the shapes of :data:`SHAPES` with peak 1, sampled at the cell centres:
    a half sine, a plateau and a triangle.

    >>> shape_templates(3)
    tensor([[0.5000, 1.0000, 0.5000],
            [1.0000, 1.0000, 1.0000],
            [0.3333, 1.0000, 0.3333]])
    """
    u = (torch.arange(width, dtype=torch.float32) + 0.5) / width
    return torch.stack([torch.sin(math.pi * u), torch.ones_like(u), 1 - (2 * u - 1).abs()])


def shapes(
    n_samples: int = 512,
    length: int = 64,
    n_channels: int = 3,
    width: int = 12,
    amplitude: float = 2.0,
    noise: float = 0.5,
    seed: int | torch.Generator = 0,
) -> ShapeSeries:
    """Gaussian-noise series with one short shape planted at a random time in one random channel.

    The label says which shape of :data:`SHAPES` (``0`` half sine, ``1`` square, ``2``
    triangle, all with peak ``amplitude``) was added; the channel and the start are drawn
    uniformly and independently of the label, so the class can only be read from the
    ``width`` planted cells: they form the true saliency mask. Every other cell is pure
    noise. ``seed`` is an integer or a CPU ``torch.Generator`` to draw from; the global RNG
    is not used.

    >>> data = shapes(n_samples=8, length=32, seed=1)
    >>> data.inputs.shape, data.labels.shape, int(data.saliency[0].sum())
    (torch.Size([8, 32, 3]), torch.Size([8]), 12)
    """
    for value, name in (
        (n_samples, "n_samples"),
        (length, "length"),
        (n_channels, "n_channels"),
        (width, "width"),
    ):
        check_positive_int(value, name)
    if width < 3:
        raise ValueError(f"`width` must be at least 3 so that the shapes differ, got {width}.")
    if width > length:
        raise ValueError(f"`width` ({width}) must not exceed `length` ({length}).")
    check_nonnegative_float(noise, "noise")
    if (
        isinstance(amplitude, bool)
        or not isinstance(amplitude, (int, float))
        or not math.isfinite(amplitude)
        or amplitude == 0
    ):
        raise ValueError(f"`amplitude` must be a finite non-zero number, got {amplitude!r}.")
    g = dataset_generator(seed)
    labels = torch.randint(0, len(SHAPES), (n_samples,), generator=g)
    channels = torch.randint(0, n_channels, (n_samples,), generator=g)
    starts = torch.randint(0, length - width + 1, (n_samples,), generator=g)
    x = noise * torch.randn(n_samples, length, n_channels, generator=g)
    rows = torch.arange(n_samples)[:, None]
    steps = starts[:, None] + torch.arange(width)  # (N, width)
    x[rows, steps, channels[:, None]] += amplitude * shape_templates(width)[labels]
    saliency = torch.zeros_like(x)
    saliency[rows, steps, channels[:, None]] = 1.0
    return ShapeSeries(x, labels, saliency, channels, starts)
