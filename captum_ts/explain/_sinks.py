"""Where streamed results go: preallocated tensors in memory, or ``.npy`` memmaps on disk
with a progress file so an interrupted run can resume."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

_NP = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64, torch.int64: np.int64}


class MemorySink:
    """Rows of each result tensor, preallocated on the CPU."""

    def __init__(self, n_rows: int, examples: tuple[Tensor, ...]) -> None:
        self.tensors = tuple(torch.empty((n_rows, *e.shape[1:]), dtype=e.dtype) for e in examples)
        self.done: set[int] = set()

    def write(self, batch_number: int, rows: list[int], values: tuple[Tensor, ...]) -> None:
        index = torch.tensor(rows)
        for t, v in zip(self.tensors, values):
            t[index] = v.detach().to("cpu", t.dtype)
        self.done.add(batch_number)


class MemmapSink:
    """One ``.npy`` memmap per result tensor next to ``path``, plus ``<path>.progress-<rank>.json``
    listing the finished batches. Rows are flushed before a batch is marked finished."""

    def __init__(
        self, path: Path, n_rows: int, examples: tuple[Tensor, ...], rank: int, resume: bool
    ) -> None:
        self.paths = _file_names(Path(path), len(examples))
        self.progress = Path(f"{path}.progress-{rank}.json")
        shapes = [(n_rows, *e.shape[1:]) for e in examples]
        dtypes = [_NP[e.dtype] for e in examples]
        if resume and self.progress.exists() and all(p.exists() for p in self.paths):
            self.arrays = [np.load(p, mmap_mode="r+") for p in self.paths]
            for a, shape, dtype in zip(self.arrays, shapes, dtypes):
                if a.shape != shape or a.dtype != dtype:
                    raise ValueError(
                        f"`out` file holds {a.shape} {a.dtype}, this run makes {shape} {np.dtype(dtype)}: "
                        "resume with the same loader and arguments, or choose another `out`."
                    )
            self.done = set(json.loads(self.progress.read_text())["done"])
        else:
            if rank == 0:
                for p, shape, dtype in zip(self.paths, shapes, dtypes):
                    np.lib.format.open_memmap(p, mode="w+", dtype=dtype, shape=shape).flush()
            self.arrays = []  # opened by `open`, once rank 0 has created the files
            self.done = set()
        self._shapes = shapes

    def open(self) -> None:
        if not self.arrays:
            self.arrays = [np.load(p, mmap_mode="r+") for p in self.paths]

    def write(self, batch_number: int, rows: list[int], values: tuple[Tensor, ...]) -> None:
        for a, v in zip(self.arrays, values):
            a[rows] = v.detach().cpu().numpy()
            a.flush()
        self.done.add(batch_number)
        tmp = self.progress.with_suffix(".tmp")
        tmp.write_text(json.dumps({"done": sorted(self.done)}))
        os.replace(tmp, self.progress)  # atomic: the progress file never lists unflushed rows

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        """Tensors backed by the files (no copy)."""
        return tuple(torch.from_numpy(np.load(p, mmap_mode="r+")) for p in self.paths)


def result_bytes(n_rows: int, examples: tuple[Tensor, ...]) -> int:
    return sum(n_rows * math.prod(e.shape[1:]) * e.element_size() for e in examples)


def _file_names(path: Path, n: int) -> list[Path]:
    if path.suffix != ".npy":
        path = path.with_name(path.name + ".npy")
    if n == 1:
        return [path]
    return [path.with_name(f"{path.stem}_{i}.npy") for i in range(n)]
