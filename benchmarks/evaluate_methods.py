"""Evaluate attribution methods on real and generated sets and several model families.

For every dataset, model family and training seed: train (or load from ``--cache``) a small
classifier, skip it if its test accuracy is below ``--min-accuracy``, explain the class it
predicts for ``--n-test`` test series with every method, and score each map with
captum_ts.metrics. Prints one table per metric, mean ranks and wins/ties/losses against
SmoothGrad and against a random map. See docs/evaluation.md.

    python benchmarks/evaluate_methods.py --quick --cache .eval-cache --out quick.json
    python benchmarks/evaluate_methods.py --cache .eval-cache --out full.json
    python benchmarks/evaluate_methods.py --methods gag gag:guide_quantile=0 smoothgrad random \\
        --datasets shapes bumps --models cnn fcn
    python benchmarks/evaluate_methods.py --from full.json       # re-print, nothing recomputed
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's captum_ts
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the private modules next to this file
from _eval_data import NAMES, REAL, load
from _eval_methods import METHODS, Variant, default_variants, parse_variant
from _eval_models import MODELS, trained
from _eval_scores import METRICS, score
from _eval_tables import report

#: generator seeds of the two maps whose correlation is ``seed_corr``
MAP_SEEDS = (0, 1)

FULL = {
    "datasets": [*REAL[:6], "bumps", "hmm", "shapes"],
    "models": list(MODELS),
    "n_test": 64,
    "epochs": 30,
    "seeds": [0],
}
QUICK = {
    "datasets": ["GunPoint", "BasicMotions", "bumps", "shapes"],
    "models": ["cnn", "fcn"],
    "n_test": 16,
    "epochs": 15,
    "seeds": [0],
}


def evaluate(
    datasets: Sequence[str],
    models: Sequence[str],
    variants: Sequence[Variant],
    n_test: int,
    epochs: int,
    seeds: Sequence[int],
    cache: Path | None = None,
    min_accuracy: float = 0.7,
    rows: int = 256,
    log=print,
) -> dict:
    """Run the evaluation and return the results dictionary (JSON-ready; per-example values)."""
    labels = [v.label for v in variants]
    if len(set(labels)) != len(labels):
        raise ValueError(f"each method variant must be named once, got {labels}.")
    results = {
        "config": {
            "datasets": list(datasets),
            "models": list(models),
            "n_test": n_test,
            "epochs": epochs,
            "seeds": list(seeds),
            "min_accuracy": min_accuracy,
            "map_seeds": list(MAP_SEEDS),
            "torch": torch.__version__,
        },
        "methods": labels,
        "metrics": list(METRICS),
        "accuracy": {},
        "scores": {},
        "seconds": {"train": 0.0, "score": 0.0, "explain": dict.fromkeys(labels, 0.0)},
    }
    start, cpu_start = time.perf_counter(), time.process_time()
    for dataset in datasets:
        split = load(dataset, n_test)
        pick = torch.randperm(len(split.test.inputs), generator=torch.Generator().manual_seed(0))[:n_test]
        x, truth = split.test.inputs[pick], split.test.saliency[pick] if split.truth else None
        for model_name in models:
            pair = f"{dataset}/{model_name}"
            results["accuracy"][pair] = {}
            for seed in seeds:
                tick = time.perf_counter()
                model, acc, cached = trained(
                    dataset, model_name, split.train, split.test, seed, epochs, cache
                )
                results["seconds"]["train"] += time.perf_counter() - tick
                results["accuracy"][pair][str(seed)] = acc
                log(f"{pair} seed {seed}: accuracy {acc:.3f}{' (cached)' if cached else ''}")
                if acc < min_accuracy:
                    continue
                _explain_and_score(results, pair, model, x, truth, variants, rows)
    results["seconds"]["total"] = time.perf_counter() - start
    # this process's CPU time: with one thread, the wall time on an idle core
    results["seconds"]["cpu_total"] = time.process_time() - cpu_start
    return results


def _explain_and_score(results, pair, model, x, truth, variants, rows) -> None:
    with torch.no_grad():
        target = model(x).argmax(-1)
    for variant in variants:
        explain = variant.build(model, rows)
        tick = time.perf_counter()
        maps = explain(x, target, _generator(MAP_SEEDS[0]))
        again = None if variant.spec.deterministic else explain(x, target, _generator(MAP_SEEDS[1]))
        results["seconds"]["explain"][variant.label] += time.perf_counter() - tick
        tick = time.perf_counter()
        values = score(model, x, target, maps, again, truth, rows)
        results["seconds"]["score"] += time.perf_counter() - tick
        for metric, per_example in values.items():
            bucket = results["scores"].setdefault(metric, {}).setdefault(pair, {})
            bucket.setdefault(variant.label, []).extend(round(float(v), 6) for v in per_example)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def save(results: dict, path: Path) -> None:
    """Write ``results`` as JSON through a temporary file, so a crash never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(results))
    os.replace(tmp, path)


def _parser() -> argparse.ArgumentParser:
    methods = "\n".join(f"  {name:12s}{spec.summary}" for name, spec in METHODS.items())
    p = argparse.ArgumentParser(
        description=__doc__,
        epilog=f"methods:\n{methods}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--datasets", nargs="+", choices=NAMES, metavar="NAME", help=f"of {', '.join(NAMES)}")
    p.add_argument(
        "--models", nargs="+", choices=list(MODELS), metavar="NAME", help=f"of {', '.join(MODELS)}"
    )
    p.add_argument(
        "--methods",
        nargs="+",
        metavar="NAME[:KEY=VALUE,...]",
        help=f"variants of {', '.join(METHODS)} (default: all but the slow ones)",
    )
    p.add_argument("--slow", action="store_true", help="add the slow methods to the default list")
    p.add_argument("--n-test", type=int, help="test series explained per dataset")
    p.add_argument("--epochs", type=int, help="training epochs")
    p.add_argument("--seeds", nargs="+", type=int, help="training seeds (examples are pooled over seeds)")
    p.add_argument("--quick", action="store_true", help="a small configuration that runs in a few minutes")
    p.add_argument(
        "--min-accuracy", type=float, default=0.7, help="explain only models at least this accurate"
    )
    p.add_argument("--rows", type=int, default=256, help="rows per forward pass in methods and metrics")
    p.add_argument("--cache", type=Path, help="folder of trained models, reused across runs")
    p.add_argument("--out", type=Path, help="write the results (per-example scores) to this JSON file")
    p.add_argument("--from", dest="source", type=Path, help="print the tables of a results file and stop")
    return p


def main(argv: Sequence[str] | None = None) -> str:
    args = _parser().parse_args(argv)
    if args.source is not None:
        text = report(json.loads(args.source.read_text()))
        print(text)
        return text
    torch.set_num_threads(1)
    base = QUICK if args.quick else FULL
    variants = [parse_variant(m) for m in args.methods] if args.methods else default_variants()
    if args.slow and not args.methods:
        variants += [Variant(n, n) for n, spec in METHODS.items() if spec.slow]
    results = evaluate(
        args.datasets or base["datasets"],
        args.models or base["models"],
        variants,
        args.n_test or base["n_test"],
        args.epochs or base["epochs"],
        args.seeds if args.seeds is not None else base["seeds"],
        cache=args.cache,
        min_accuracy=args.min_accuracy,
        rows=args.rows,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    if args.out is not None:
        save(results, args.out)
    text = report(results)
    print(text)
    return text


if __name__ == "__main__":
    torch.set_num_interop_threads(1)  # only possible before any parallel work
    main()
