"""LearnedPerturbationMask: the early-stopping rule and quality on a small Switch-Feature case."""

import inspect

import pytest
import torch
from torch import nn

from captum_ts.attr.masks._objective import DEFAULT_PATIENCE, DEFAULT_TOL, EarlyStop
from captum_ts.attr.masks.learned_perturbation_mask import LearnedPerturbationMask
from captum_ts.datasets.switch_feature import switch_feature
from captum_ts.metrics.white_box import aup, aur
from captum_ts.models.state_classifier import StateClassifier, fit_state_classifier


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x):
        return self.lin(x)


def test_the_rule_stops_after_patience_epochs_without_relative_improvement():
    stop = EarlyStop(tol=0.1, patience=2)
    # 10 -> 8.9 improves by more than 10 %; 8.1 and 8.05 do not beat 8.9 by 10 % -> stop
    assert [stop(v) for v in (10.0, 8.9, 8.1, 8.05)] == [False, False, False, True]
    stop = EarlyStop(tol=0.1, patience=2)
    # an improvement resets the count
    assert [stop(v) for v in (10.0, 9.5, 8.0, 7.9, 7.8)] == [False, False, False, False, True]
    assert not any(EarlyStop(None, 1)(v) for v in (1.0, 1.0, 1.0))


def test_early_stopping_is_on_by_default_with_the_documented_values():
    params = inspect.signature(LearnedPerturbationMask.attribute).parameters
    assert params["tol"].default == DEFAULT_TOL == 1e-3
    assert params["patience"].default == DEFAULT_PATIENCE == 10
    x = torch.randn(4, 6, 3, generator=gen(1))
    explainer = LearnedPerturbationMask(Linear(), perturbation_net=None)
    explainer.attribute(x, epochs=1000, lr=0.05)
    assert DEFAULT_PATIENCE < len(explainer.loss_history_) < 1000


def test_an_early_stop_only_truncates_the_run():
    x = torch.randn(6, 8, 3, generator=gen(2))
    model = Linear()
    stopped = LearnedPerturbationMask(model, perturbation_net=None)
    early = stopped.attribute(x, epochs=1000, batch_size=4, lr=0.05)
    assert len(stopped.loss_history_) < 1000
    k = len(stopped.loss_history_)
    full = LearnedPerturbationMask(model, perturbation_net=None)
    same = full.attribute(x, epochs=k, batch_size=4, lr=0.05, tol=None)
    assert torch.equal(early, same)
    assert full.loss_history_ == stopped.loss_history_


def test_tol_none_runs_every_epoch():
    explainer = LearnedPerturbationMask(Linear(), perturbation_net=None)
    explainer.attribute(torch.randn(3, 5, 3, generator=gen(3)), epochs=37, tol=None)
    assert len(explainer.loss_history_) == 37


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_patience_must_be_a_positive_int(bad):
    with pytest.raises((ValueError, TypeError), match="patience"):
        LearnedPerturbationMask(Linear()).attribute(torch.randn(2, 4, 3), patience=bad)


def test_switch_feature_default_masks_reach_fixed_aup_and_aur():
    # a tiny per-step GRU classifier; the defaults (early stopping on) must find the
    # state's feature: a random map gets AUP ~0.5, AUR ~0.5 here
    torch.manual_seed(0)
    train, test = switch_feature(300, length=50, seed=0), switch_feature(16, length=50, seed=1)
    model = fit_state_classifier(
        StateClassifier(hidden_size=16, dropout=0.0), train.inputs, train.labels, epochs=5, lr=1e-2
    )
    explainer = LearnedPerturbationMask(model)
    mask = explainer.attribute(test.inputs, generator=gen())
    assert float(aup(mask, test.saliency)) > 0.95
    assert float(aur(mask, test.saliency)) > 0.70
    random = torch.rand(test.inputs.shape, generator=gen(1))
    assert float(aup(random, test.saliency)) < 0.6
