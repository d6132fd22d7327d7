"""Which dataset rows each batch holds, and which batches this process takes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

import torch
from torch.utils.data import DataLoader, IterableDataset, Sampler

from ._distributed import from_rank0, rank_and_world


class FixedBatches(Sampler[list[int]]):
    """A batch sampler replaying a fixed list of index batches."""

    def __init__(self, batches: Sequence[Sequence[int]]) -> None:
        self.batches = [list(b) for b in batches]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def index_batches(loader: DataLoader) -> list[list[int]]:
    """The dataset indices of every batch the loader would yield, in order.

    Iterating the batch sampler once fixes the order (a shuffling sampler is drawn
    once), so the results can be written to their dataset rows.
    """
    if isinstance(loader.dataset, IterableDataset):
        raise TypeError(
            "`loader` iterates an IterableDataset, which has no dataset rows to place results in or "
            "resume from; use a map-style Dataset (with __len__ and __getitem__)."
        )
    if loader.batch_sampler is None:
        raise ValueError("`loader` must batch its samples (batch_size=None is not supported).")
    return [list(map(int, b)) for b in loader.batch_sampler]


def agreed_batches(loader: DataLoader) -> list[list[int]]:
    """Rank 0's index batches on every process: a shuffling sampler draws one order for all."""
    return from_rank0(lambda: index_batches(loader))


def replay(loader: DataLoader, batches: Sequence[Sequence[int]]) -> DataLoader:
    """A loader over the same dataset, collate function and workers that yields exactly ``batches``."""
    return DataLoader(
        loader.dataset,
        batch_sampler=FixedBatches(batches),
        collate_fn=loader.collate_fn,
        num_workers=loader.num_workers,
        pin_memory=loader.pin_memory,
        worker_init_fn=loader.worker_init_fn,
        generator=loader.generator,
    )


def split_batch(batch: object, with_target: bool) -> tuple[object, object]:
    """``(inputs, target)`` from a collated batch: ``(inputs, target)`` pairs, or inputs alone."""
    if isinstance(batch, Mapping):
        raise TypeError(
            f"a batch of `loader` is a dict (keys {sorted(map(str, batch))}); batches must be `inputs` or "
            "`(inputs, target)`: give the DataLoader a `collate_fn` that returns a tuple."
        )
    if isinstance(batch, (list, tuple)) and not isinstance(batch, torch.Tensor):
        if len(batch) == 2 and with_target:
            return batch[0], batch[1]
        if len(batch) == 1:
            return batch[0], None
        if not with_target:
            return tuple(batch), None
        raise ValueError(
            f"a batch holds {len(batch)} items; expected `inputs` or `(inputs, target)`. "
            "Pass `target_in_batch=False` to treat every item as an input tensor."
        )
    return batch, None


def batches_of_this_process(loader: Iterable, max_batches: int | None = None) -> Iterator[tuple[int, object]]:
    """``(batch number, batch)`` for the batches this process takes: all of them in one process,
    every ``world_size``-th one (starting at its rank) under ``torch.distributed``.

    A ``DataLoader`` over a map-style dataset only loads the batches this process takes,
    in rank 0's order (a shuffling sampler is drawn once for all processes); any other
    iterable is walked in full and the other processes' batches are skipped, so it must
    yield the same batches in the same order on every process.
    """
    rank, world = rank_and_world()
    if (
        world > 1
        and isinstance(loader, DataLoader)
        and loader.batch_sampler is not None
        and not isinstance(loader.dataset, IterableDataset)
    ):
        batches = agreed_batches(loader)[:max_batches]
        numbers = range(rank, len(batches), world)
        yield from zip(numbers, replay(loader, [batches[b] for b in numbers]))
        return
    for number, batch in enumerate(loader):
        if max_batches is not None and number >= max_batches:
            return
        if number % world == rank:
            yield number, batch
