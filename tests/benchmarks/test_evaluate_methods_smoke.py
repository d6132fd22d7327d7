import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import _eval_models
import evaluate_methods
from _eval_methods import default_variants, parse_variant
from _eval_models import trained
from _eval_tables import metric_table, verdict, wtl_counts

from captum_ts.datasets import shapes

METHODS = [
    "random",
    "saliency",
    "smoothgrad:nt_samples=4",
    "gag:nt_samples=4",
    "gag:nt_samples=4,guide_quantile=0",
]


@pytest.fixture(scope="module")
def run():
    variants = [parse_variant(m) for m in METHODS]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_eval_models, "MIN_STEPS", 1)  # two epochs, however small the set
        return evaluate_methods.evaluate(
            ["shapes"],
            ["cnn"],
            variants,
            n_test=12,
            epochs=2,
            seeds=[0],
            min_accuracy=0.0,
            log=lambda _: None,
        )


def test_result_structure(run):
    assert run["methods"] == METHODS
    assert set(run["scores"]) == set(run["metrics"])  # a truth set: every metric is scored
    assert {"cpd", "cpp"} <= set(run["metrics"])
    for by_pair in run["scores"].values():
        assert list(by_pair) == ["shapes/cnn"]
        assert all(len(by_pair["shapes/cnn"][m]) == 12 for m in METHODS)
    assert list(run["accuracy"]) == ["shapes/cnn"] and 0 <= run["accuracy"]["shapes/cnn"]["0"] <= 1


def test_known_values_of_the_random_map_and_deterministic_methods(run):
    mean = {
        metric: {m: sum(v) / len(v) for m, v in run["scores"][metric]["shapes/cnn"].items()}
        for metric in run["metrics"]
    }
    assert mean["auroc"]["random"] == pytest.approx(0.5, abs=0.1)
    assert mean["mass"]["random"] == pytest.approx(12 / (64 * 3), abs=0.02)  # the truth's share of cells
    assert mean["seed_corr"]["random"] == pytest.approx(0.0, abs=0.1)
    # deterministic: 1 by definition
    assert run["scores"]["seed_corr"]["shapes/cnn"]["saliency"] == [1.0] * 12
    assert mean["seed_corr"]["gag:nt_samples=4"] < 1.0
    # any gradient map finds the planted shape far better than chance
    assert mean["auroc"]["saliency"] > 0.75


def test_tables_and_from_json_round_trip(run, tmp_path, capsys):
    path = tmp_path / "results.json"
    evaluate_methods.save(run, path)
    assert not list(tmp_path.glob(".*tmp*"))
    text = evaluate_methods.main(["--from", str(path)])
    assert text == evaluate_methods.report(json.loads(path.read_text()))
    assert "wins/ties/losses against smoothgrad:nt_samples=4" in text and "against random" in text
    table = metric_table(run, "auroc").splitlines()
    assert table[0] == "| dataset/model | " + " | ".join(METHODS) + " |"
    assert table[2].startswith("| shapes/cnn |") and table[-1].startswith("| mean rank |")
    ranks = [float(c) for c in table[-1].strip("|").split("|")[1:]]
    assert sorted(ranks) == [1.0, 2.0, 3.0, 4.0, 5.0]
    # one pair: each comparison is exactly one win, tie or loss; a method ties with itself
    assert sum(wtl_counts(run, "saliency", "random", "rcap").values()) == 1
    assert wtl_counts(run, "random", "random", "auroc") == {"win": 0, "tie": 1, "loss": 0}


def test_tie_rule_uses_the_standard_error_of_paired_differences():
    ref = [0.5, 0.5, 0.5, 0.5]
    assert verdict([0.6, 0.4, 0.7, 0.3], ref, True) == "tie"  # mean 0, spread
    assert verdict([0.61, 0.59, 0.6, 0.6], ref, True) == "win"  # +0.1, SE ~0.004
    assert verdict([0.61, 0.59, 0.6, 0.6], ref, False) == "loss"  # lower is better
    assert verdict([0.9, 0.5, 0.5, 0.5], ref, True) == "tie"  # mean 0.1 == SE 0.1
    assert verdict([0.9], [0.1], True) == "tie"  # one example: no evidence


def test_variants_parse_and_refuse_mistakes():
    v = parse_variant("gag:guide_quantile=0,nt_samples=50,stdevs=(0.1,)")
    assert (v.name, v.settings) == ("gag", {"guide_quantile": 0, "nt_samples": 50, "stdevs": (0.1,)})
    assert parse_variant("smoothgrad:stdevs=0.3").settings == {"stdevs": 0.3}
    assert parse_variant("lpm:mode=deletion,epochs=5").settings == {"mode": "deletion", "epochs": 5}
    assert "lpm" not in [d.name for d in default_variants()]  # slow: only when named
    for text, match in [
        ("gagg", "unknown method 'gagg'"),
        ("gag:guide_quantil=0.5", "unexpected keyword argument 'guide_quantil'"),
        ("gag:target=1", "the harness sets target itself"),
        ("saliency:abs=True", "unexpected keyword argument 'abs'"),
        ("gag:0.5", "must read key=value"),
    ]:
        with pytest.raises(ValueError, match=match):
            parse_variant(text)


def test_duplicate_variants_are_refused():
    with pytest.raises(ValueError, match="named once"):
        evaluate_methods.evaluate(["shapes"], ["cnn"], [parse_variant("random")] * 2, 4, 1, [0])


def test_small_sets_get_at_least_min_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(_eval_models, "MIN_STEPS", 20)
    train, test = shapes(64, length=24, width=6, seed=0), shapes(8, length=24, width=6, seed=1)
    trained("s", "cnn", train, test, 3, 1, tmp_path)  # 4 steps per epoch: 5 epochs, not 1
    trained("s", "cnn", train, test, 3, 7, tmp_path)  # 7 epochs: more than the minimum
    assert sorted(p.name.split("-")[3] for p in tmp_path.iterdir()) == ["ep5", "ep7"]


def test_model_cache_reuses_the_trained_model(tmp_path, monkeypatch):
    monkeypatch.setattr(_eval_models, "MIN_STEPS", 1)
    train, test = shapes(64, length=24, width=6, seed=0), shapes(32, length=24, width=6, seed=1)
    first, acc, cached = trained("s", "cnn", train, test, 3, 1, tmp_path)
    second, acc_again, cached_again = trained("s", "cnn", train, test, 3, 1, tmp_path)
    assert (cached, cached_again) == (False, True) and acc == acc_again
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    assert len(list(tmp_path.iterdir())) == 1
    trained("s", "cnn", train, test, 3, 2, tmp_path)  # other epochs: another file
    other = shapes(64, length=24, width=6, seed=5)
    _, _, hit = trained("s", "cnn", other, test, 3, 1, tmp_path)  # other data: not the cached model
    assert not hit and len(list(tmp_path.iterdir())) == 3
    assert not second.training
