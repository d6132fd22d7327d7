"""Command line of captum-ts.

python -m captum_ts demo [--out DIR] [--quick] [--seed N] [--threads N]
python -m captum_ts --version
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

DESCRIPTION = (
    "Explain time-series models with Captum's API. The `demo` command trains small models on "
    "built-in data, explains them with every captum-ts method, scores the maps and writes PNG "
    "figures and a markdown report."
)
EPILOG = "example: python -m captum_ts demo --out demo_out/   (then open demo_out/report.md)"


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="python -m captum_ts", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"captum-ts {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="train small models on built-in data, explain them, write figures and a report",
        description="Train small models on built-in data, explain them with every method, score the "
        "maps and write PNG figures and report.md into --out. Prints the elapsed time at the end.",
    )
    demo.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out/)")
    demo.add_argument("--seed", type=int, default=0, help="seed of data, training and methods (default 0)")
    demo.add_argument(
        "--quick", action="store_true", help="smaller data and fewer epochs (a smoke test, a few seconds)"
    )
    demo.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1: fastest for these small models)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    import time

    import matplotlib
    import torch

    matplotlib.use("Agg")
    torch.set_num_threads(max(1, args.threads))
    from ._demo import run_demo

    start = time.perf_counter()
    report = run_demo(args.out, seed=args.seed, quick=args.quick)
    print(f"[demo] report written to {report} in {time.perf_counter() - start:.1f} s")
    return 0
