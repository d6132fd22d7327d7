"""HorizonActivationMap on neuralforecast models against the per-cut-off loop (one backward
pass per cut-off and mode, 2 (H + 1) passes per batch).

NHITS, NBEATS, PatchTST, TSMixer, MLP and LSTM with neuralforecast's default sizes, fitted
for a few steps on the AirPassengers panel (h = 12, input_size = 24; training length does
not change the cost), adapted with ``captum_ts.adapters.neuralforecast.adapt`` (every
window: 218 examples, one batch). Prints median wall-clock times of interleaved rounds, the
speed-up, the largest difference between the two sets of curves (relative to the curves'
maximum), the step-local head HAM found and the backward path it took.

    python benchmarks/bench_ham_neuralforecast.py [--quick]
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_horizon_activation_map import ham_against_loop
from harness import table

from captum_ts.adapters.neuralforecast import adapt

H, L = 12, 24
QUIET = {
    "max_steps": 5,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "logger": False,
    "enable_checkpointing": False,
    "accelerator": "cpu",
}


def _fit():
    from neuralforecast import NeuralForecast
    from neuralforecast.models import LSTM, MLP, NBEATS, NHITS, PatchTST, TSMixer
    from neuralforecast.utils import AirPassengersPanel

    for name in ("lightning", "lightning.pytorch", "pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    df = AirPassengersPanel[["unique_id", "ds", "y"]].copy()
    models = [
        NHITS(h=H, input_size=L, **QUIET),
        NBEATS(h=H, input_size=L, **QUIET),
        PatchTST(h=H, input_size=L, **QUIET),
        TSMixer(h=H, input_size=L, n_series=2, **QUIET),
        MLP(h=H, input_size=L, **QUIET),
        LSTM(h=H, input_size=L, **QUIET),
    ]
    nf = NeuralForecast(models=models, freq="ME")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nf.fit(df)
    return nf, df


def main(quick: bool = False) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    nf, df = _fit()
    rounds = 5
    rows = []
    for index, model in enumerate(nf.models):
        adapted = adapt(nf, df, model=index, step_size=4 if quick else 1)
        n_params = sum(p.numel() for p in adapted.module.parameters() if p.requires_grad)
        times, gap, res = ham_against_loop(
            adapted.forward_func, adapted.module, adapted.inputs, adapted.y_true, rounds
        )
        rows.append(
            [
                type(model).__name__,
                n_params,
                len(res.layer_names),
                times["loop"],
                times["ours"],
                times["loop"] / times["ours"],
                f"{gap:.1e}",
                res.head or "-",
                res.backend,
            ]
        )
        print(f"  done: {type(model).__name__}", flush=True)
    batch = len(adapted.series_ids)
    print(
        f"\nAirPassengers (2 series), h={H}, input_size={L}, B={batch}, 1 thread, float32; median of "
        f"{rounds} interleaved rounds, wall clock (seconds); loop = 2(H+1) backward passes"
    )
    print(
        table(
            rows,
            ["model", "params", "tensors", "loop", "ours", "loop/ours", "max rel. diff", "head", "backend"],
        )
    )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
