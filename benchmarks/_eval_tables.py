"""Markdown tables of a results dictionary: accuracies, one table per metric with mean ranks,
and win/tie/loss counts against a reference method.

Win/tie/loss, per (dataset, model) pair and metric: ``d_i = method_i - reference_i`` over
the same test examples; a **tie** when ``|mean(d)| <= SE(d) = std(d) / sqrt(n)`` (the
standard error of the paired difference; always a tie with fewer than 2 examples), else a
**win** when the difference points the metric's good way, a **loss** otherwise.
"""

from __future__ import annotations

import math

import numpy as np
from _eval_scores import METRICS


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _header(cells: list[str]) -> str:
    return _row(cells) + "\n" + _row(["---"] * len(cells))


def pairs_of(results: dict, metric: str) -> list[str]:
    """The (dataset, model) pairs that have scores for ``metric``, in run order."""
    return list(results["scores"].get(metric, {}))


def accuracy_table(results: dict) -> str:
    seeds = [str(s) for s in results["config"]["seeds"]]
    threshold = results["config"]["min_accuracy"]
    lines = [_header(["dataset/model", *(f"seed {s}" for s in seeds), "explained"])]
    for pair, by_seed in results["accuracy"].items():
        accs = [by_seed.get(s) for s in seeds]
        cells = ["-" if a is None else f"{a:.3f}" for a in accs]
        kept = [s for s, a in zip(seeds, accs) if a is not None and a >= threshold]
        note = "all seeds" if len(kept) == len(seeds) else (f"seeds {', '.join(kept)}" if kept else "no")
        lines.append(_row([pair, *cells, note]))
    return "\n".join(lines)


def average_ranks(means: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Rank 1 = best; equal values share the mean of their ranks."""
    v = means if higher_is_better else -means
    better = (v[None, :] > v[:, None]).sum(1)
    equal = (v[None, :] == v[:, None]).sum(1) - 1
    return 1 + better + equal / 2


def metric_table(results: dict, metric: str) -> str:
    """Rows: (dataset, model) pairs; columns: methods (mean over test examples, best in bold);
    last row: each method's mean rank over the pairs."""
    methods = results["methods"]
    good = METRICS[metric].higher_is_better
    lines = [_header(["dataset/model", *methods])]
    ranks = []
    for pair in pairs_of(results, metric):
        means = np.array([np.mean(results["scores"][metric][pair][m]) for m in methods])
        shown = [f"{v:.3f}" for v in means]
        best = f"{means.max() if good else means.min():.3f}"  # every method that shows the best value
        lines.append(_row([pair, *(f"**{v}**" if v == best else v for v in shown)]))
        ranks.append(average_ranks(means, good))
    if ranks:
        lines.append(_row(["mean rank", *(f"{r:.2f}" for r in np.mean(ranks, 0))]))
    return "\n".join(lines)


def verdict(values: list[float], reference: list[float], higher_is_better: bool) -> str:
    """``"win"``, ``"tie"`` or ``"loss"`` of ``values`` against ``reference`` (same examples)."""
    d = np.asarray(values) - np.asarray(reference)
    se = d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else math.inf
    mean = d.mean()
    if abs(mean) <= se:
        return "tie"
    return "win" if (mean > 0) == higher_is_better else "loss"


def wtl_counts(results: dict, method: str, reference: str, metric: str) -> dict[str, int]:
    counts = {"win": 0, "tie": 0, "loss": 0}
    scores = results["scores"].get(metric, {})
    for by_method in scores.values():
        counts[verdict(by_method[method], by_method[reference], METRICS[metric].higher_is_better)] += 1
    return counts


def wtl_table(results: dict, reference: str) -> str:
    """Rows: methods; columns: metrics and the total; cells ``wins/ties/losses`` over the pairs."""
    metrics = [m for m in results["metrics"] if results["scores"].get(m)]
    lines = [_header(["method", *metrics, "total"])]
    for method in results["methods"]:
        if method == reference:
            continue
        cells, total = [], {"win": 0, "tie": 0, "loss": 0}
        for metric in metrics:
            c = wtl_counts(results, method, reference, metric)
            cells.append(f"{c['win']}/{c['tie']}/{c['loss']}")
            total = {k: total[k] + c[k] for k in total}
        lines.append(_row([method, *cells, f"{total['win']}/{total['tie']}/{total['loss']}"]))
    return "\n".join(lines)


def reference_label(results: dict, name: str) -> str | None:
    """The first variant of method ``name`` (e.g. ``smoothgrad``), or None if it did not run."""
    return next((label for label in results["methods"] if label.partition(":")[0] == name), None)


def report(results: dict) -> str:
    """Every table of a results dictionary, as markdown."""
    parts = [
        f"Test accuracy (pairs below {results['config']['min_accuracy']} are not explained)",
        accuracy_table(results),
    ]
    for metric in results["metrics"]:
        if results["scores"].get(metric):
            spec = METRICS[metric]
            arrow = "higher is better" if spec.higher_is_better else "lower is better"
            parts += [f"{metric}: {spec.title}; {arrow}", metric_table(results, metric)]
    for name in ("smoothgrad", "random"):
        ref = reference_label(results, name)
        if ref is not None:
            title = f"wins/ties/losses against {ref} over the (dataset, model) pairs"
            parts += [title, wtl_table(results, ref)]
    return "\n\n".join(parts) + "\n"
