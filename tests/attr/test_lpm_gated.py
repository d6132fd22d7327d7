"""LearnedPerturbationMask(mask="gated"): stochastic gates, their expected L0, the
temporal-variation term."""

import math

import pytest
import torch
from torch import nn

from captum_ts.attr.masks._gates import noisy_gate, open_probability, temporal_variation
from captum_ts.attr.masks._objective import MaskShape
from captum_ts.attr.masks.learned_perturbation_mask import LearnedPerturbationMask


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class SumOfFeature(nn.Module):
    def forward(self, x):
        return x[..., 1].sum(-1, keepdim=True)


def test_expected_l0_is_the_erf_formula_and_the_gates_open_rate():
    mu = torch.tensor([-0.6, -0.1, 0.0, 0.3, 1.2], dtype=torch.float64)
    sigma = 0.5
    closed = torch.tensor(
        [0.5 * (1 + math.erf(float(m) / (sigma * math.sqrt(2)))) for m in mu], dtype=torch.float64
    )
    torch.testing.assert_close(open_probability(mu, sigma), closed)
    draws = noisy_gate(mu.expand(200_000, -1), sigma, gen())
    # a gate is open (> 0) with probability Phi(mu / sigma); 200,000 draws: sd < 0.0012
    torch.testing.assert_close((draws > 0).double().mean(0), closed, rtol=0, atol=0.005)
    assert float(draws.min()) == 0.0 and float(draws.max()) == 1.0


def test_gated_size_term_is_the_summed_open_probability():
    raw = torch.tensor([[[0.2], [0.9], [-0.3]]])
    shape = MaskShape("gated", 0.5, 0.0, None)
    torch.testing.assert_close(shape.size(raw, "preservation"), open_probability(raw, 0.5).sum())
    torch.testing.assert_close(shape.size(raw, "deletion"), open_probability(1 - raw, 0.5).sum())
    smooth = MaskShape("clamp", 0.5, 2.0, None)
    # |m| summed, plus 2 x (|0.9 - 0.2| + |0 - 0.9|) on the clamped mask
    assert float(smooth.size(raw, "preservation")) == pytest.approx(1.4 + 2 * 1.6)


def test_temporal_variation_closed_form():
    m = torch.tensor([[[0.0, 1.0], [1.0, 1.0], [0.5, 0.0]]])  # (1, T=3, F=2)
    assert float(temporal_variation(m)) == pytest.approx(1.0 + 0.5 + 0.0 + 1.0)
    assert float(temporal_variation(m[:, :1])) == 0.0


def test_gates_are_noisy_while_fitting_and_the_result_is_deterministic():
    mu = torch.full((3, 4), 0.5)
    assert not torch.equal(noisy_gate(mu, 0.5, gen(1)), noisy_gate(mu, 0.5, gen(2)))
    assert torch.equal(MaskShape("clamp", 0.5, 0.0, None).mask(mu + 1), torch.ones(3, 4))
    x = 1.5 + torch.rand(6, 10, 3, generator=gen(3))
    explainer = LearnedPerturbationMask(SumOfFeature(), perturbation_net=None)
    a = explainer.attribute(x, mask="gated", epochs=30, generator=gen(4))
    b = explainer.attribute(x, mask="gated", epochs=30, generator=gen(4))
    assert torch.equal(a, b)  # the gates' noise comes from the generator


def test_gated_mask_finds_the_salient_feature():
    x = 1.5 + torch.rand(6, 10, 3, generator=gen(5))
    mask = LearnedPerturbationMask(SumOfFeature(), perturbation_net=None).attribute(
        x, mask="gated", lambda_mask=1.0, epochs=60, tol=None, generator=gen(6)
    )
    assert float(mask[..., 1].min()) > 0.9
    assert float(mask[..., [0, 2]].max()) < 0.1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(mask="soft"), ValueError, "`mask` must be one of"),
        (dict(mask="gated", gate_sigma=0.0), ValueError, "`gate_sigma` must be > 0"),
        (dict(gate_sigma=-1.0), ValueError, "gate_sigma"),
        (dict(lambda_smooth=-1.0), ValueError, "lambda_smooth"),
        (dict(lambda_mask="big"), TypeError, "lambda_mask"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        LearnedPerturbationMask(SumOfFeature(), None).attribute(torch.randn(2, 4, 3), **kwargs)
