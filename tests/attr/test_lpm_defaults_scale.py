"""LearnedPerturbationMask defaults at small scale: the "auto" weights, the smoothness term
and the warning for masks that did not move."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from captum_ts.attr.masks._objective import AUTO_FLOOR, AUTO_LAMBDA, AUTO_SMOOTH, size_weights
from captum_ts.attr.masks.learned_perturbation_mask import LearnedPerturbationMask
from captum_ts.datasets.hmm import hmm_state
from captum_ts.metrics.white_box import aup, aur
from captum_ts.models.state_classifier import StateClassifier, fit_state_classifier


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_auto_weight_is_a_clipped_multiple_of_the_first_fit_loss():
    assert (AUTO_LAMBDA, AUTO_FLOOR, AUTO_SMOOTH) == (2.0, 0.01, 0.5)
    assert size_weights(None, None, 0.1) == pytest.approx((0.2, 0.2))
    assert size_weights(None, None, 10.0) == (1.0, 1.0)  # the paper's weight at most
    assert size_weights(None, None, 0.0) == (AUTO_FLOOR, AUTO_FLOOR)
    # an "auto" perturbation weight follows a numeric mask weight
    assert size_weights(0.3, None, 5.0) == (0.3, 0.3)
    assert size_weights(0.3, 2.0, 5.0) == (0.3, 2.0)
    assert size_weights(None, 0.7, float("nan")) == (1.0, 0.7)


def test_auto_equals_the_explicit_weights_it_computes():
    # one batch, no network: "auto" is 2 * mse(f(x / 2), f(x)) with smoothing 0.5
    x = torch.randn(4, 9, 3, generator=gen(1))
    model = nn.Sequential(nn.Linear(3, 2)).eval()
    with torch.no_grad():
        first = float(F.mse_loss(model(0.5 * x), model(x)))
    lam = min(1.0, max(AUTO_FLOOR, AUTO_LAMBDA * first))
    assert lam < 1.0  # the clipping does not hide the scaling in this case
    explainer = LearnedPerturbationMask(model, perturbation_net=None)
    auto = explainer.attribute(x, epochs=12, tol=None)
    explicit = explainer.attribute(x, lambda_mask=lam, lambda_smooth=AUTO_SMOOTH, epochs=12, tol=None)
    torch.testing.assert_close(auto, explicit, rtol=0, atol=1e-6)


def test_numeric_lambda_mask_means_no_smoothing_term():
    x = torch.randn(3, 8, 3, generator=gen(2))
    explainer = LearnedPerturbationMask(nn.Linear(3, 2).eval(), perturbation_net=None)
    plain = explainer.attribute(x, lambda_mask=0.4, epochs=6, tol=None)
    zero = explainer.attribute(x, lambda_mask=0.4, lambda_smooth=0.0, epochs=6, tol=None)
    smooth = explainer.attribute(x, lambda_mask=0.4, lambda_smooth=2.0, epochs=6, tol=None)
    assert torch.equal(plain, zero) and not torch.equal(plain, smooth)


def test_a_mask_that_barely_moved_is_reported():
    x = torch.randn(5, 6, 3, generator=gen(3))
    explainer = LearnedPerturbationMask(nn.Linear(3, 2).eval(), perturbation_net=None)
    with pytest.warns(
        UserWarning, match=r"masks of 5 of 5 series stayed within 0.05 .* after 3 epochs at lr=0.001"
    ):
        explainer.attribute(x, epochs=3, lr=1e-3)


def test_the_readme_case_beats_abs_x_and_a_random_map():
    # the README example (200 x 40 training series, 8 explained, hidden 16, 3 epochs) on a
    # fixed seed; with the former default lambda_mask=1 the size term empties the masks of
    # this small model (AUR below the random map's)
    torch.manual_seed(2)
    train, test = hmm_state(200, 40, seed=4), hmm_state(8, 40, seed=5)
    model = fit_state_classifier(
        StateClassifier(hidden_size=16), train.inputs, train.labels, epochs=3, seed=2
    )
    x, truth = test.inputs, test.saliency
    mask = LearnedPerturbationMask(model).attribute(x, generator=gen(2))
    old = LearnedPerturbationMask(model).attribute(x, lambda_mask=1.0, generator=gen(2))
    random = torch.rand(x.shape, generator=gen(2))
    scores = {
        name: (float(aup(m, truth)), float(aur(m, truth)))
        for name, m in (("mask", mask), ("old", old), ("abs", x.abs()), ("random", random))
    }
    assert scores["mask"][0] > scores["abs"][0] > scores["random"][0]
    assert scores["mask"][1] > scores["random"][1] > scores["abs"][1]
    assert scores["old"][1] < scores["random"][1]
