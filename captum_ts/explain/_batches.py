"""Which dataset rows each batch holds, and which batches this process takes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Sampler


class FixedBatches(Sampler[list[int]]):
    """A batch sampler replaying a fixed list of index batches, from ``start`` on."""

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
    if loader.batch_sampler is None:
        raise ValueError("`loader` must batch its samples (batch_size=None is not supported).")
    return [list(map(int, b)) for b in loader.batch_sampler]


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
