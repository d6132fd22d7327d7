import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import evaluate_methods
from _eval_scores import CUMULATIVE_SHARE, METRICS, score

from captum_ts.metrics import cpd, cpp

#: the metrics of a results file written before CPD and CPP were scored
OLD_METRICS = ["sel_auc", "sel_aopc", "deletion", "insertion", "rcap", "auroc", "auprc", "mass", "seed_corr"]


def _tiny_case():
    """Two series of 5 steps x 5 channels (25 cells: K = ceil(2.5) = 3), a 3-class linear
    model in float64, and signed maps ``x * sum_c |w_c|`` (each cell's reach on the logits)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(25, 3)).double()
    x = torch.randn(2, 5, 5, dtype=torch.float64)
    maps = x * model[1].weight.abs().sum(0).reshape(5, 5)  # signed: cells are ranked by |map|
    return model, x, maps


def _by_hand(model, x, maps, k, highest_first):
    """Remove the cells one at a time, from a loop over examples and steps."""
    scores = []
    for xi, ai in zip(x, maps):
        order = ai.abs().flatten().argsort(descending=highest_first, stable=True)
        series, total = xi.clone().flatten(), 0.0
        prob = torch.softmax(model(series.reshape(1, *xi.shape)), -1)
        for cell in order[:k]:
            series[cell] = 0.0
            after = torch.softmax(model(series.reshape(1, *xi.shape)), -1)
            total += float((after - prob).abs().sum())
            prob = after
        scores.append(total)
    return torch.tensor(scores, dtype=torch.float64)


@pytest.mark.parametrize("rows", [1, 3, 256])
def test_cpd_and_cpp_columns_equal_the_metrics_on_the_top_tenth_of_cells(rows):
    model, x, maps = _tiny_case()
    target = torch.tensor([0, 2])
    with torch.no_grad():
        values = score(model, x, target, maps, None, None, rows)
        assert CUMULATIVE_SHARE == 0.1
        for name, metric, first in (("cpd", cpd, True), ("cpp", cpp, False)):
            direct = metric(model, x, maps.abs(), n_steps=0.1, max_examples_per_batch=rows).score
            assert torch.equal(values[name], direct)  # the same call: equal values
            assert values[name].shape == (2,) and values[name].dtype == torch.float64
            torch.testing.assert_close(values[name], _by_hand(model, x, maps, 3, first), rtol=0, atol=1e-12)
    # the cells of most reach move the probabilities more than those of least reach
    assert (values["cpp"] > 0).all() and (values["cpd"] > values["cpp"]).all()


def test_directions_and_titles_of_the_cumulative_scores():
    assert METRICS["cpd"].higher_is_better and not METRICS["cpp"].higher_is_better
    assert METRICS["cpd"].title.startswith("CPD (top 10% of cells removed one by one, removal value 0")
    assert METRICS["cpp"].title.startswith("CPP (bottom 10% of cells")


def _old_results() -> dict:
    """A results file as written before CPD and CPP existed: 2 methods, 1 pair, 3 examples."""
    scores = {
        metric: {"shapes/cnn": {"random": [0.1, 0.2, 0.3], "saliency": [0.5 + i / 10, 0.6, 0.71]}}
        for i, metric in enumerate(OLD_METRICS)
    }
    return {
        "config": {
            "datasets": ["shapes"],
            "models": ["cnn"],
            "n_test": 3,
            "epochs": 1,
            "seeds": [0],
            "min_accuracy": 0.7,
            "map_seeds": [0, 1],
            "torch": "2.13.0",
        },
        "methods": ["random", "saliency"],
        "metrics": OLD_METRICS,
        "accuracy": {"shapes/cnn": {"0": 0.9}},
        "scores": scores,
        "seconds": {"train": 1.0, "score": 1.0, "explain": {"random": 0.1, "saliency": 0.1}, "total": 2.0},
    }


def test_results_without_cumulative_scores_still_print(tmp_path, capsys):
    path = tmp_path / "old.json"
    path.write_text(json.dumps(_old_results()))
    text = evaluate_methods.main(["--from", str(path)])
    assert capsys.readouterr().out == text + "\n"
    assert "cpd" not in text and "CPP" not in text
    titles = [line for line in text.splitlines() if ": " in line and "is better" in line]
    assert [t.partition(":")[0] for t in titles] == OLD_METRICS
    assert "| method | " + " | ".join(OLD_METRICS) + " | total |" in text
    # saliency is higher on every example of every metric: a win where higher is better
    wtl = "0/0/1 | 1/0/0 | 0/0/1 | 1/0/0 | 1/0/0 | 1/0/0 | 1/0/0 | 1/0/0 | 1/0/0 | 7/0/2"
    assert f"| saliency | {wtl} |" in text
    assert "| shapes/cnn | 0.200 | **0.637** |" in text  # sel_aopc: mean of 0.6, 0.6, 0.71


def test_results_with_cumulative_scores_print_their_tables(tmp_path):
    results = _old_results()
    results["metrics"] = list(METRICS)
    results["scores"]["cpd"] = {"shapes/cnn": {"random": [0.2, 0.2, 0.2], "saliency": [0.9, 1.0, 1.1]}}
    results["scores"]["cpp"] = {"shapes/cnn": {"random": [0.2, 0.2, 0.2], "saliency": [0.1, 0.0, 0.2]}}
    path = tmp_path / "new.json"
    path.write_text(json.dumps(results))
    text = evaluate_methods.main(["--from", str(path)])
    assert f"cpd: {METRICS['cpd'].title}; higher is better" in text
    assert f"cpp: {METRICS['cpp'].title}; lower is better" in text
    assert "| shapes/cnn | 0.200 | **1.000** |" in text and "| shapes/cnn | 0.200 | **0.100** |" in text
    header = "| method | sel_auc | sel_aopc | deletion | insertion | rcap | cpd | cpp | auroc |"
    assert header in text
