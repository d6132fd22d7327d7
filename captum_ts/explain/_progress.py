"""The resume protocol of ``explain_loader(out=...)``.

``<out>.run.json`` (the run record, written by rank 0 once the data files exist)
identifies the run: a random run id, the dataset size, a hash of the ordered index
batches, the attributor and its arguments, and every data file's shape, dtype and
size in bytes. ``<out>.progress-<rank>.jsonl`` (one per process) starts with the
run id and gets one line per finished batch, appended after its rows are flushed:
the batch number, a hash of its dataset rows and a checksum of its bytes in every
data file. A resume must match all of it; anything else is refused with a
``ValueError`` naming the file and what differs.
"""

from __future__ import annotations

import glob
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._plan import rows_hash
from ._sinks import Layout, create_files, data_files, numpy_dtype

FORMAT = "captum_ts.explain_loader/2"
_FRESH = "rerun with resume=False to start over"
_WHAT = {
    "rows": "the dataset size",
    "order": "the loader's batches (their order or batch size; a shuffling loader draws a new order)",
    "batches": "the number of batches",
    "call": "the attributor or its arguments",
    "results": "the result shapes or dtypes",
}


class RunRecord:
    """The files of the run written to ``out``."""

    def __init__(self, out: str | Path, layout: Layout) -> None:
        layout.check_storable()
        self.out = Path(out)
        self.layout = layout
        self.files = data_files(self.out, len(layout.shapes))
        self.manifest = Path(f"{self.out}.run.json")

    def progress(self, rank: int) -> Path:
        return Path(f"{self.out}.progress-{rank}.jsonl")

    def prepare(
        self, resume: bool, fingerprint: dict[str, Any], n_rows: int, uncovered: np.ndarray
    ) -> tuple[str, bool]:
        """Rank 0: ``(run id, resumed)``; the files of the recorded run, checked, or new ones."""
        if resume and self.manifest.exists():
            return self._check(fingerprint), True
        logs = self._progress_files()
        if resume and logs:
            raise ValueError(
                f"cannot resume: progress file {logs[0]} has no run record {self.manifest} (written by an "
                f"older version, or not by this run); {_FRESH}."
            )
        for p in logs:  # a progress file must never outlive its run
            p.unlink()
        self.manifest.unlink(missing_ok=True)
        sizes = create_files(self.files, n_rows, self.layout, uncovered)
        run = uuid.uuid4().hex
        results = [
            {"file": p.name, "bytes": s, **r} for p, s, r in zip(self.files, sizes, fingerprint["results"])
        ]
        _write_atomic(self.manifest, {"format": FORMAT, "run": run, **fingerprint, "results": results})
        return run, False

    def _check(self, fingerprint: dict[str, Any]) -> str:
        record = _load_json(self.manifest)
        if (
            not isinstance(record, dict)
            or record.get("format") != FORMAT
            or not isinstance(record.get("run"), str)
        ):
            raise ValueError(f"cannot resume: {self.manifest} is not a run record of this version; {_FRESH}.")
        for key, what in _WHAT.items():
            recorded = record.get(key)
            if key == "results" and isinstance(recorded, list):
                recorded = [
                    {k: r.get(k) for k in ("shape", "dtype")} for r in recorded if isinstance(r, dict)
                ]
            if recorded != fingerprint[key]:
                raise ValueError(
                    f"cannot resume from {self.manifest}: {what} differs "
                    f"({_difference(recorded, fingerprint[key])}); resume with the same loader and "
                    f"arguments, or {_FRESH}."
                )
        for path, entry in zip(self.files, record["results"]):
            _check_data_file(path, entry)
        return record["run"]

    def _progress_files(self) -> list[Path]:
        pattern = glob.escape(str(self.out)) + ".progress-*"
        return sorted(Path(p) for p in glob.glob(pattern))


class ProgressLog:
    """One process's finished batches: a header line with the run id, then one line per batch."""

    def __init__(self, path: Path, run: str, rank: int) -> None:
        self.path, self.run, self.rank = path, run, rank
        self._file: Any = None

    def finished(self, batches: list[list[int]], checksums: Callable[[list[int]], list[str]]) -> set[int]:
        """The batches recorded by this run, checked against their rows and bytes; drops a torn last line."""
        if not self.path.exists():
            return set()
        raw = self.path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]  # a line cut by a kill is not a finished batch
        if len(complete) != len(raw):
            with open(self.path, "r+b") as f:
                f.truncate(len(complete))
        lines = complete.decode("utf-8", errors="replace").splitlines()
        if not lines:
            return set()
        header = _parse(self.path, 1, lines[0])
        if header.get("format") != FORMAT or header.get("run") != self.run:
            raise ValueError(
                f"cannot resume: progress file {self.path} belongs to run {header.get('run')!r}, the run "
                f"record to {self.run!r} (a file of another run); {_FRESH}."
            )
        done: set[int] = set()
        for number, line in enumerate(lines[1:], start=2):
            entry = _parse(self.path, number, line)
            b = entry.get("batch")
            if not isinstance(b, int) or not 0 <= b < len(batches):
                raise ValueError(
                    f"cannot resume: {self.path} line {number} names no batch of this run; {_FRESH}."
                )
            if entry.get("rows") != rows_hash(batches[b]):
                raise ValueError(
                    f"cannot resume: {self.path} line {number}: batch {b} held other dataset rows; {_FRESH}."
                )
            if entry.get("sums") != checksums(batches[b]):
                raise ValueError(
                    f"cannot resume: the rows of batch {b} in the data files changed after {self.path} "
                    f"recorded them (an edited or overwritten file); {_FRESH}."
                )
            done.add(b)
        return done

    def open(self) -> None:
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by `close`
        if fresh:
            self._append({"format": FORMAT, "run": self.run, "rank": self.rank})

    def record(self, batch: int, rows: list[int], sums: list[str]) -> None:
        """Called after the batch's rows are flushed: the log never lists unwritten rows."""
        self._append({"batch": batch, "rows": rows_hash(rows), "sums": sums})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _append(self, entry: dict[str, Any]) -> None:
        self._file.write(json.dumps(entry) + "\n")
        self._file.flush()


def result_fingerprint(layout: Layout, n_rows: int) -> list[dict[str, Any]]:
    return [
        {"shape": [n_rows, *s], "dtype": str(d).removeprefix("torch.")}
        for s, d in zip(layout.shapes, layout.dtypes)
    ]


def _check_data_file(path: Path, entry: dict[str, Any]) -> None:
    if not path.exists():
        raise ValueError(f"cannot resume: data file {path} is missing; {_FRESH}.")
    size = path.stat().st_size
    if size != entry.get("bytes"):
        raise ValueError(
            f"cannot resume: data file {path} has {size} bytes, the run record says {entry.get('bytes')} "
            f"(a truncated or edited file); {_FRESH}."
        )
    try:
        array = np.load(path, mmap_mode="r")
    except ValueError as exc:
        raise ValueError(
            f"cannot resume: data file {path} is not a readable .npy file ({exc}); {_FRESH}."
        ) from None
    want = (tuple(entry["shape"]), numpy_dtype(getattr(torch, entry["dtype"])))
    if (array.shape, array.dtype) != want:
        raise ValueError(
            f"cannot resume: data file {path} holds {array.shape} {array.dtype}, the run record says "
            f"{want[0]} {want[1]} (an edited file); {_FRESH}."
        )


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"cannot resume: {path} is damaged (not valid JSON); {_FRESH}.") from None


def _parse(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        entry = None
    if not isinstance(entry, dict):
        raise ValueError(f"cannot resume: progress file {path} is damaged at line {number}; {_FRESH}.")
    return entry


def _write_atomic(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, path)


def _difference(recorded: Any, expected: Any) -> str:
    if isinstance(recorded, dict) and isinstance(expected, dict):
        keys = [k for k in sorted(set(recorded) | set(expected)) if recorded.get(k) != expected.get(k)]
        return "; ".join(
            f"{k}: recorded {_short(recorded.get(k, 'absent'))}, this run {_short(expected.get(k, 'absent'))}"
            for k in keys
        )
    return f"recorded {_short(recorded)}, this run {_short(expected)}"


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."
