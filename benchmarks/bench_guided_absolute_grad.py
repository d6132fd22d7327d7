"""GuidedAbsoluteGrad against Captum's NoiseTunnel(Saliency) and the floor.

The floor is what any implementation must pay: one batched forward + backward
over the B*N noisy rows. Prints median times, the ratios, and the peak memory at
N=20 and N=200 with the same chunk size (memory must not grow with N).

    python benchmarks/bench_guided_absolute_grad.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from captum.attr import NoiseTunnel, Saliency

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, peak_memory, table

from captum_ts import GuidedAbsoluteGrad
from captum_ts.models import CNN1dClassifier, GRUClassifier

B, T, F, N = 32, 128, 3, 20


def floor(model, x, target):
    """One plain forward + backward over all B*N noisy rows (noise made up front)."""
    rows = (x.repeat_interleave(N, 0) + 0.1 * torch.randn(B * N, *x.shape[1:])).requires_grad_()
    out = model(rows)[torch.arange(B * N), target.repeat_interleave(N)]
    torch.autograd.grad(out.sum(), rows)


def _time_one(model, x, target, clock):
    gag = GuidedAbsoluteGrad(model)
    nt = NoiseTunnel(Saliency(model))
    g = torch.Generator().manual_seed(0)
    return compare(
        {
            "ours": lambda: gag.attribute(x, target=target, nt_samples=N, stdevs=0.15, generator=g),
            "captum": lambda: nt.attribute(
                x, target=target, nt_type="smoothgrad", nt_samples=N, stdevs=0.15, abs=True
            ),
            "floor": lambda: floor(model, x, target),
        },
        rounds=15,
        clock=clock,
    )


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(B, T, F)
    target = torch.randint(0, 2, (B,))
    header = ["model", "ours", "NoiseTunnel(Saliency)", "floor", "ours/captum", "ours/floor"]
    for clock_name, clock in (("wall time", time.perf_counter), ("CPU time", time.process_time)):
        rows = []
        for name, model in (("1-D CNN", CNN1dClassifier(F, 2)), ("GRU", GRUClassifier(F, 2))):
            t = _time_one(model.eval(), x, target, clock)
            ratios = [t["ours"] / t["captum"], t["ours"] / t["floor"]]
            rows.append([name, t["ours"], t["captum"], t["floor"], *ratios])
        print(f"\nB={B}, T={T}, F={F}, N={N}, 1 thread; {clock_name}, median of 15 interleaved rounds (s)")
        print(table(rows, header))

    model = CNN1dClassifier(F, 2).eval()
    gag = GuidedAbsoluteGrad(model)
    mem = {
        n: peak_memory(lambda n=n: gag.attribute(x, target=target, nt_samples=n, nt_samples_batch_size=10))
        for n in (20, 200)
    }
    print(
        f"\npeak memory (1-D CNN, nt_samples_batch_size=10): N=20 {mem[20] / 2**20:.1f} MiB, "
        f"N=200 {mem[200] / 2**20:.1f} MiB, ratio {mem[200] / mem[20]:.3f}"
    )


if __name__ == "__main__":
    main()
