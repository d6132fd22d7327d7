"""Command line: ``python -m captum_ts demo --out demo_out/``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m captum_ts", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="train small models on built-in data, explain them, write figures + report"
    )
    demo.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out/)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quick", action="store_true", help="smaller data and fewer epochs")
    demo.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1: fastest for these small models)"
    )
    args = parser.parse_args(argv)

    import matplotlib
    import torch

    matplotlib.use("Agg")
    torch.set_num_threads(max(1, args.threads))
    from ._demo import run_demo

    report = run_demo(args.out, seed=args.seed, quick=args.quick)
    print(f"[demo] report written to {report}")
    return 0
