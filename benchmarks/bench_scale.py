"""Throughput of explaining a whole dataset: streaming vs one big call, 1 vs 2 processes.

    python benchmarks/bench_scale.py

Series per second for GuidedAbsoluteGrad (N=8) on a 1-D CNN over 512 series of
length 128 with 3 features: one call on the whole tensor, ``explain_loader``
streaming batches of 64, and ``explain_loader`` under ``torchrun`` with 1 and 2
processes (gloo, one thread each), launched from this script.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, table

from captum_ts import GuidedAbsoluteGrad
from captum_ts.explain import explain_loader
from captum_ts.models import CNN1dClassifier

N_SERIES, T, F, BATCH, NT = 512, 128, 3, 64, 8


def setup():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(N_SERIES, T, F, generator=g), torch.randint(0, 2, (N_SERIES,), generator=g)
    torch.manual_seed(0)
    return CNN1dClassifier(F, 2).eval(), x, y


def worker(out: str) -> None:
    """Run under torchrun: time explain_loader over the sharded batches."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    model, x, y = setup()
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH)
    gag = GuidedAbsoluteGrad(model)
    explain_loader(gag, loader, seed=0, nt_samples=NT)  # warm-up
    times = []
    for _ in range(3):
        dist.barrier()
        start = time.perf_counter()
        explain_loader(gag, loader, seed=0, nt_samples=NT)
        dist.barrier()
        times.append(time.perf_counter() - start)
    if dist.get_rank() == 0:
        Path(out).write_text(str(sorted(times)[1]))
    dist.destroy_process_group()


def run_torchrun(n_proc: int) -> float:
    out = Path(f"/tmp/captum_ts_bench_scale_{n_proc}.txt")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={n_proc}",
        __file__,
        "--worker",
        str(out),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=900)
    return float(out.read_text())


def main() -> None:
    torch.set_num_threads(1)
    model, x, y = setup()
    gag = GuidedAbsoluteGrad(model)
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH)
    t = compare(
        {
            "one call": lambda: gag.attribute(
                x,
                target=y,
                nt_samples=NT,
                nt_samples_batch_size=1,
                generator=torch.Generator().manual_seed(0),
            ),
            "streaming": lambda: explain_loader(gag, loader, seed=0, nt_samples=NT),
        },
        rounds=3,
    )
    one, two = run_torchrun(1), run_torchrun(2)
    rows = [
        ["one call on the whole tensor", t["one call"], N_SERIES / t["one call"]],
        [f"explain_loader, batches of {BATCH}", t["streaming"], N_SERIES / t["streaming"]],
        ["explain_loader under torchrun, 1 process", one, N_SERIES / one],
        ["explain_loader under torchrun, 2 processes", two, N_SERIES / two],
    ]
    print(f"GuidedAbsoluteGrad (N={NT}) on a 1-D CNN, {N_SERIES} series of {T} x {F}, one thread per process")
    print(table(rows, ["setting", "seconds (median)", "series / s"]))
    ratio = t["streaming"] / t["one call"]
    print(f"\nstreaming / one call: {ratio:.3f}; 2 processes speed-up: {one / two:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        main()
