"""Side-by-side timing for the benchmark scripts.

``compare`` runs every contender in turn, round after round (interleaved, so a
noisy neighbour slows all of them alike), and reports medians. ``peak_memory``
measures the peak bytes torch allocates during a call: CUDA's allocator statistics
on a GPU, the profiler's memory events on CPU.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

import torch


def compare(
    contenders: Mapping[str, Callable[[], object]], rounds: int = 7, warmup: int = 1
) -> dict[str, float]:
    """Median wall time in seconds of each zero-argument callable, interleaved."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def peak_memory(fn: Callable[[], object], device: str = "cpu") -> int:
    """Peak bytes allocated by torch while ``fn`` runs (CPU: profiler memory events)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    current = peak = 0
    events = sorted(
        (e for e in prof.events() if getattr(e, "cpu_memory_usage", 0)), key=lambda e: e.time_range.start
    )
    for e in events:
        current += e.cpu_memory_usage
        peak = max(peak, current)
    return peak


def table(rows: list[list[object]], header: list[str]) -> str:
    """A plain-text table (markdown pipe syntax) for printing results."""
    cells = [header] + [[f"{c:.4g}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
