"""A run's plan: the loader's index batches (the same on every process), the dataset rows
they never visit, and the hashes that identify the batches in a progress record."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import (
    DataLoader,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

from .._distributed import rank_and_world
from .._loaders import agreed_batches, index_batches

_RANDOM_SAMPLERS = (RandomSampler, SubsetRandomSampler, WeightedRandomSampler)


@dataclass(frozen=True)
class Plan:
    """The index batches of a run, and the rows no batch visits (sorted)."""

    batches: list[list[int]]
    n_rows: int
    uncovered: np.ndarray

    def mine(self) -> list[int]:
        """The batch numbers this process takes: every ``world_size``-th, from its rank."""
        rank, world = rank_and_world()
        return list(range(rank, len(self.batches), world))


def make_plan(loader: Any, *, resume: bool = False) -> Plan:
    """Check ``loader`` and fix its batches (rank 0's draw, on every process)."""
    _check_loader(loader, resume)
    n_rows = len(loader.dataset)
    batches = agreed_batches(loader)
    if not batches or n_rows == 0:
        raise ValueError("`loader` yields no batches: the dataset is empty.")
    return Plan(batches, n_rows, _uncovered(batches, n_rows))


def order_hash(batches: list[list[int]]) -> str:
    """Identifies the ordered list of index batches (order and batch boundaries)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(np.array([len(b) for b in batches], dtype=np.int64).tobytes())
    for b in batches:
        h.update(np.asarray(b, dtype=np.int64).tobytes())
    return h.hexdigest()


def rows_hash(rows: list[int]) -> str:
    """Identifies the dataset rows of one batch."""
    return hashlib.blake2b(np.asarray(rows, dtype=np.int64).tobytes(), digest_size=8).hexdigest()


def _check_loader(loader: Any, resume: bool) -> None:
    if not isinstance(loader, DataLoader):
        raise TypeError(f"`loader` must be a torch.utils.data.DataLoader, got {type(loader).__name__}.")
    if isinstance(loader.dataset, IterableDataset):
        index_batches(loader)  # its error names the IterableDataset
    try:
        len(loader.dataset)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"`loader`'s dataset ({type(loader.dataset).__name__}) has no length: results are placed by "
            "dataset row, so it must be a map-style Dataset with __len__ and __getitem__."
        ) from None
    if rank_and_world()[1] > 1 and isinstance(loader.sampler, DistributedSampler):
        raise ValueError(
            "`loader` uses a DistributedSampler, but the batches are already shared out between the "
            "processes: pass the same plain (or seeded shuffling) loader on every process."
        )
    sampler = loader.sampler
    unseeded = isinstance(sampler, _RANDOM_SAMPLERS) and getattr(sampler, "generator", None) is None
    if resume and unseeded:
        raise ValueError(
            f"`resume=True` with a shuffling loader ({type(sampler).__name__} without a generator): every "
            "run draws a new order, so a run cannot be continued. Pass "
            "`generator=torch.Generator().manual_seed(...)` to the DataLoader, or shuffle=False."
        )


def _uncovered(batches: list[list[int]], n_rows: int) -> np.ndarray:
    flat = np.concatenate([np.asarray(b, dtype=np.int64) for b in batches])
    if flat.size and (flat.min() < 0 or flat.max() >= n_rows):
        bad = int(flat[(flat < 0) | (flat >= n_rows)][0])
        raise ValueError(f"`loader` yields index {bad}, outside the dataset's {n_rows} rows.")
    counts = np.bincount(flat, minlength=n_rows)
    if counts.max(initial=0) > 1:
        row = int(np.argmax(counts))
        raise ValueError(
            f"`loader` visits dataset row {row} {int(counts[row])} times; results are one per dataset row, "
            "so every row may be visited once: use a sampler without replacement."
        )
    return np.flatnonzero(counts == 0)
