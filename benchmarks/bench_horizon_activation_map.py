"""HorizonActivationMap against the per-cut-off loop (one backward pass per cut-off and
mode, 2 (H + 1) passes per batch, the way the method was first computed).

Forecasters of the paper's setting: an MLP (336 -> 512 -> 512 -> H, one variate) and an
N-Linear model (336 -> H, the 7 variates of ETTm2), batch 32, H = 96, 192, 336, 720;
plus a small GRU. Prints median times of interleaved rounds, the ratio, the largest
difference between the two results (relative to the curve's maximum), and the peak
memory of one MLP run for several ``horizon_chunk_size``.

    python benchmarks/bench_horizon_activation_map.py [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, peak_memory, table

from captum_ts.attr.horizon._reference import horizon_norms_loop
from captum_ts.attr.horizon.horizon_activation_map import HorizonActivationMap
from captum_ts.models.forecasters import GRUForecaster, MLPForecaster, NLinearForecaster

B, T = 32, 336


def ham_against_loop(forward_func, module, inputs, y, rounds):
    """Interleaved times of HAM and the per-cut-off loop, the largest gap between their
    per-layer curves relative to the curves' maximum, and HAM's result."""
    ham = HorizonActivationMap(forward_func)
    out = {}

    def ours():
        out["ours"] = ham.attribute(inputs, y, per_layer=True)

    def loop():
        out["loop"] = horizon_norms_loop(module, inputs, y, forward_func=forward_func)

    times = compare({"ours": ours, "loop": loop}, rounds=rounds, warmup=1)
    c, a, _ = out["loop"]
    res = out["ours"]
    gap = max(float((res.layer_causal - c).abs().max()), float((res.layer_anticausal - a).abs().max()))
    return times, gap / float(c.abs().max()), res


def _case(model, n_var, horizon, lookback=T, rounds=3):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, lookback, n_var, generator=g)
    y = torch.randn(B, horizon, n_var, generator=g)
    return ham_against_loop(model, model, x, y, rounds)


def main(quick: bool = False) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    horizons = (96, 192) if quick else (96, 192, 336, 720)
    rows = []
    for horizon in horizons:
        for name, model, n_var in (
            ("MLP 336-512-512-H", MLPForecaster(T, horizon, 1, hidden=(512, 512)).eval(), 1),
            ("N-Linear, 7 variates", NLinearForecaster(T, horizon).eval(), 7),
        ):
            times, gap, res = _case(model, n_var, horizon)
            rows.append(
                [
                    name,
                    horizon,
                    times["loop"],
                    times["ours"],
                    times["loop"] / times["ours"],
                    f"{gap:.1e}",
                    res.head,
                ]
            )
            print(f"  done: {name}, H={horizon}", flush=True)
    gru = GRUForecaster(1, 96, hidden_size=32).eval()
    times, gap, res = _case(gru, 1, 96, lookback=96)
    rows.append(
        [
            "GRU(32), T=96",
            96,
            times["loop"],
            times["ours"],
            times["loop"] / times["ours"],
            f"{gap:.1e}",
            res.head,
        ]
    )
    print(
        f"\nB={B}, 1 thread, float32; median of 3 interleaved rounds (seconds); loop = 2(H+1) backward passes"
    )
    print(table(rows, ["model", "H", "loop", "ours", "loop/ours", "max rel. diff", "step-local head"]))

    horizon = 192 if quick else 336
    model = MLPForecaster(T, horizon, 1, hidden=(512, 512)).eval()
    x, y = torch.randn(B, T, 1), torch.randn(B, horizon, 1)
    ham = HorizonActivationMap(model)
    mem = []
    for chunk in (4, 16, 64, horizon - 1):
        bytes_ = peak_memory(lambda chunk=chunk: ham.attribute(x, y, horizon_chunk_size=chunk))
        mem.append([chunk, bytes_ / 2**20])
    loop_bytes = peak_memory(lambda: horizon_norms_loop(model, x, y))
    mem.append(["loop", loop_bytes / 2**20])
    print(f"\npeak memory, MLP, H={horizon} (MiB above the resident set before the call)")
    print(table(mem, ["horizon_chunk_size", "peak MiB"]))


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
