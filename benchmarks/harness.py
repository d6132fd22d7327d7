"""Side-by-side timing for the benchmark scripts.

``compare`` runs every contender in turn, round after round (interleaved, so a
noisy neighbour slows all of them alike), and reports medians; ``paired_ratios``
turns the rounds of ``rounds_of`` into per-round ratios to one contender. ``peak_memory``
measures the peak bytes torch allocates during a call: CUDA's allocator statistics
on a GPU, the profiler's memory events on CPU.
"""

from __future__ import annotations

import ctypes
import gc
import os
import statistics
import time
from collections.abc import Callable, Mapping

import torch


def compare(
    contenders: Mapping[str, Callable[[], object]],
    rounds: int = 7,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median time in seconds of each zero-argument callable, interleaved.

    ``clock=time.process_time`` measures this process's CPU time instead of wall
    time: with one thread it is far less sensitive to other jobs on a shared machine.
    """
    times = rounds_of(contenders, rounds, warmup, clock)
    return {name: statistics.median(ts) for name, ts in times.items()}


def paired_ratios(times: Mapping[str, list[float]], base: str) -> dict[str, float]:
    """Median over rounds of each contender's time over ``base``'s time in the same round:
    a slow phase of the machine that spans a round cancels, where a ratio of medians keeps it."""
    ref = times[base]
    return {
        name: statistics.median(a / b for a, b in zip(ts, ref, strict=True)) for name, ts in times.items()
    }


def rounds_of(
    contenders: Mapping[str, Callable[[], object]],
    rounds: int = 7,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Every round's time in seconds of each contender, run in turn round after round."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return times


def peak_memory(fn: Callable[[], object], device: str = "cpu") -> int:
    """Peak bytes ``fn`` needs on top of what is already allocated.

    CUDA: the allocator's peak statistics. CPU: ``fn`` runs in a forked child that
    resets the kernel's high-water mark (``/proc/self/clear_refs``) and reports the
    growth of its resident set, so earlier calls and cached pages do not blur it.
    """
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        _return_freed_memory_to_the_os()
        gc.collect()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base = _status_kib("VmRSS")
        fn()
        os.write(write, str((_status_kib("VmHWM") - base) * 1024).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        value = f.read()
    os.waitpid(pid, 0)
    return int(value)


def _return_freed_memory_to_the_os() -> None:
    """Make glibc serve large blocks by mmap (freed at once), so RSS tracks live memory."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD: fixed, no dynamic growth
        libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD
    except OSError:  # not glibc: the numbers include allocator caching
        pass


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def table(rows: list[list[object]], header: list[str]) -> str:
    """A plain-text table (markdown pipe syntax) for printing results."""
    cells = [header] + [[f"{c:.4g}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
