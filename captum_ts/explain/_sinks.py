"""Where streamed results go: preallocated tensors in memory, or ``.npy`` memmaps on disk.

Rows no batch visits are NaN (float and complex results; other dtypes are refused
by ``check_fillable``), never uninitialised memory.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class Layout:
    """The per-example results of a run: one ``(n_rows, *shape)`` tensor per entry."""

    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[torch.dtype, ...]

    @staticmethod
    def entries(result: object, source: str) -> tuple[Tensor, ...]:
        """A result as a tuple of tensors, or a TypeError naming what ``source`` returned."""
        values = (result,) if isinstance(result, Tensor) else result
        if not isinstance(values, tuple) or not all(isinstance(v, Tensor) for v in values):
            raise TypeError(
                f"{source} returned {type(result).__name__}; explain_loader stores per-example tensors "
                "(a tensor or a tuple of tensors, batch first). Use evaluate_loader for result objects, "
                "or HorizonActivationMap.attribute_loader for HAM curves."
            )
        return values

    @staticmethod
    def of(values: tuple[Tensor, ...], batch_size: int, source: str) -> Layout:
        """The layout of a batch's results; per-example tensors (batch axis first) only."""
        for i, v in enumerate(values):
            if v.dim() == 0 or v.shape[0] != batch_size:
                raise ValueError(
                    f"{source} returned result {i} of shape {tuple(v.shape)} for a batch of {batch_size}: "
                    "only per-example results (batch axis first) can be placed in dataset rows."
                )
        return Layout(tuple(tuple(v.shape[1:]) for v in values), tuple(v.dtype for v in values))

    def check(self, number: int, rows: list[int], values: tuple[Tensor, ...]) -> None:
        """A later batch's results must have the first batch's shapes and dtypes."""
        got = [(tuple(v.shape), v.dtype) for v in values]
        want = [((len(rows), *s), d) for s, d in zip(self.shapes, self.dtypes)]
        if got != want:
            raise ValueError(
                f"batch {number} gave results {got}, expected {want} like the first batch: per-example "
                "results must keep their shape and dtype across batches."
            )

    def check_storable(self) -> None:
        """Every result dtype has a ``.npy`` dtype (else a TypeError naming it)."""
        for dtype in self.dtypes:
            numpy_dtype(dtype)

    def nbytes(self, n_rows: int) -> int:
        return sum(n_rows * math.prod(s) * d.itemsize for s, d in zip(self.shapes, self.dtypes))


def check_fillable(layout: Layout, uncovered: np.ndarray, names: list[str] | None = None) -> None:
    """Rows no batch visits become NaN: refuse dtypes that cannot hold NaN."""
    if not uncovered.size:
        return
    for i, dtype in enumerate(layout.dtypes):
        if not (dtype.is_floating_point or dtype.is_complex):
            name = names[i] if names else f"result {i}"
            raise ValueError(
                f"`loader` never visits {uncovered.size} dataset rows (e.g. {uncovered[:5].tolist()}: "
                f"drop_last=True or a sampler over a subset), and {name} has dtype {dtype}, which cannot "
                "mark them with NaN: use drop_last=False, or a Subset dataset instead of a subset sampler."
            )


class MemorySink:
    """Rows of each result tensor, preallocated on the CPU; unvisited rows are NaN."""

    def __init__(self, n_rows: int, layout: Layout, uncovered: np.ndarray) -> None:
        self.tensors = tuple(torch.empty((n_rows, *s), dtype=d) for s, d in zip(layout.shapes, layout.dtypes))
        if uncovered.size:
            index = torch.from_numpy(uncovered)
            for t in self.tensors:
                t[index] = float("nan")
        self.done: set[int] = set()

    def write(self, batch_number: int, rows: list[int], values: tuple[Tensor, ...]) -> None:
        index = torch.tensor(rows)
        for t, v in zip(self.tensors, values):
            t[index] = v.detach().cpu()
        self.done.add(batch_number)


class MemmapSink:
    """One ``.npy`` memmap per result tensor; ``write`` returns the written rows' checksums."""

    def __init__(self, files: list[Path], layout: Layout) -> None:
        self.files = files
        self.arrays = [np.load(p, mmap_mode="r+") for p in files]
        self.tensors = tuple(_as_tensor(a, d) for a, d in zip(self.arrays, layout.dtypes))

    def write(self, rows: list[int], values: tuple[Tensor, ...]) -> list[str]:
        index = torch.tensor(rows)
        for t, v in zip(self.tensors, values):
            t[index] = v.detach().cpu()
        for a in self.arrays:
            a.flush()
        return self.checksums(rows)

    def checksums(self, rows: list[int]) -> list[str]:
        """One hash per file of the bytes of ``rows`` (in batch order)."""
        return [hashlib.blake2b(a[rows].tobytes(), digest_size=8).hexdigest() for a in self.arrays]


def create_files(files: list[Path], n_rows: int, layout: Layout, uncovered: np.ndarray) -> list[int]:
    """Create the ``.npy`` files (unvisited rows NaN) and return their sizes in bytes."""
    for p, shape, dtype in zip(files, layout.shapes, layout.dtypes):
        array = np.lib.format.open_memmap(p, mode="w+", dtype=numpy_dtype(dtype), shape=(n_rows, *shape))
        if uncovered.size:
            _as_tensor(array, dtype)[torch.from_numpy(uncovered)] = float("nan")
        array.flush()
        del array
    return [p.stat().st_size for p in files]


def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    """The ``.npy`` dtype of a result; bfloat16 is stored as its 16-bit patterns (``uint16``)."""
    if dtype == torch.bfloat16:
        return np.dtype(np.uint16)
    try:
        return torch.empty(0, dtype=dtype).numpy().dtype
    except TypeError:
        raise TypeError(
            f"results of dtype {dtype} cannot be stored in a .npy file (`out=` or `memory_budget`): "
            "keep them in memory (out=None, no memory_budget) or cast them in the attributor."
        ) from None


def data_files(out: Path, n: int) -> list[Path]:
    """``out`` (with ``.npy``) for one result, ``<stem>_<i>.npy`` for several."""
    path = out if out.suffix == ".npy" else out.with_name(out.name + ".npy")
    if n == 1:
        return [path]
    return [path.with_name(f"{path.stem}_{i}.npy") for i in range(n)]


def _as_tensor(array: np.ndarray, dtype: torch.dtype) -> Tensor:
    t = torch.from_numpy(array)
    return t.view(dtype) if dtype == torch.bfloat16 else t
