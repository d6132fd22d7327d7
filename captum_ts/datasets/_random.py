"""The one random source of a generated dataset: an integer seed or a ``torch.Generator``."""

from __future__ import annotations

from numbers import Integral

import torch


def dataset_generator(seed: object, name: str = "seed") -> torch.Generator:
    """A CPU generator seeded with ``seed``, or ``seed`` itself when it is a ``torch.Generator``
    (the draws then continue its stream, e.g. a training and a test set from one generator).

    >>> dataset_generator(3).initial_seed()
    3
    """
    if isinstance(seed, torch.Generator):
        if seed.device.type != "cpu":
            raise ValueError(
                f"`{name}` is a generator on {seed.device}; datasets are drawn on the CPU, "
                "pass a CPU generator (`torch.Generator()`)."
            )
        return seed
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise TypeError(f"`{name}` must be an integer seed or a torch.Generator, got {type(seed).__name__}.")
    if not -(2**63) <= int(seed) < 2**64:
        raise ValueError(f"`{name}` must lie in [-2**63, 2**64), got {seed}.")
    return torch.Generator().manual_seed(int(seed))
