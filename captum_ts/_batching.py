"""The one chunker: how many rows go through the model at once.

Every method and metric bounds its memory by splitting a large, expanded batch
into chunks. ``chunks`` yields the ``(start, stop)`` ranges; ``per_example_chunk``
turns Captum's two knob conventions into a number of repeats per chunk.
"""

from __future__ import annotations

from collections.abc import Iterator


def chunks(total: int, size: int | None) -> Iterator[tuple[int, int]]:
    """Yield ``(start, stop)`` ranges of at most ``size`` items covering ``range(total)``.

    ``size=None`` means one chunk holding everything.

    >>> list(chunks(5, 2))
    [(0, 2), (2, 4), (4, 5)]
    """
    if size is None or size >= total:
        if total > 0:
            yield 0, total
        return
    if size < 1:
        raise ValueError(f"chunk size must be a positive integer, got {size}")
    for start in range(0, total, size):
        yield start, min(start + size, total)


def per_example_chunk(
    n_repeats: int,
    batch_size: int,
    *,
    repeats_per_chunk: int | None = None,
    rows_per_chunk: int | None = None,
) -> int:
    """How many repeats of every example one chunk holds.

    Two Captum conventions exist: ``repeats_per_chunk`` counts repeats per example
    (``nt_samples_batch_size``, ``perturbations_per_eval``), ``rows_per_chunk``
    counts total rows (``max_examples_per_batch``, ``internal_batch_size``).
    A chunk always holds at least one repeat of every example.

    >>> per_example_chunk(20, 4, rows_per_chunk=10)
    2
    """
    if repeats_per_chunk is not None:
        return max(1, min(n_repeats, repeats_per_chunk))
    if rows_per_chunk is not None:
        return max(1, min(n_repeats, rows_per_chunk // max(batch_size, 1)))
    return max(1, n_repeats)
