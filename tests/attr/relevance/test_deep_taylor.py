"""Deep Taylor decomposition: the z^B box, w^2, z+ and conservation (Montavon et al. 2017)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from captum_ts import DeepTaylor


def relu_net(seed, f=2, t=6, hidden=6):
    """Bias-free ReLU net over (B, F, T) with a positive output layer (the explained score)."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv1d(f, hidden, 3, bias=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(hidden * (t - 2), 4, bias=False),
        nn.ReLU(),
        nn.Linear(4, 1, bias=False),
    ).double()
    with torch.no_grad():
        model[5].weight.abs_()
    return model


@settings(max_examples=15)
@given(st.integers(0, 2**16))
def test_zbox_relevance_is_non_negative_and_conserved_inside_the_box(seed):
    model = relu_net(seed)
    x = torch.rand(5, 2, 6, dtype=torch.float64) * 2 - 1
    attr, delta = DeepTaylor(model).attribute(x, target=0, bounds=(-1.0, 1.0), return_convergence_delta=True)
    out = model(x)[:, 0].detach()
    assert bool((attr >= -1e-12).all())
    assert torch.allclose(
        delta[out > 0], torch.zeros_like(delta[out > 0]), atol=1e-10 * float(out.max()) + 1e-12
    )


def test_zbox_gives_no_relevance_at_the_bound_its_weights_point_to():
    model = relu_net(1)
    with torch.no_grad():
        model[0].weight[:, 0].abs_()  # every weight out of feature 0 positive
        model[0].weight[:, 1].abs_().neg_()  # every weight out of feature 1 negative
    x = torch.rand(4, 2, 6, dtype=torch.float64)
    x[:, 0, 2] = 0.0  # feature 0 at its lower bound
    x[:, 1, 4] = 1.0  # feature 1 at its upper bound
    attr = DeepTaylor(model).attribute(x, target=0, bounds=(0.0, 1.0))
    assert torch.equal(attr[:, 0, 2], torch.zeros(4, dtype=torch.float64))
    assert torch.equal(attr[:, 1, 4], torch.zeros(4, dtype=torch.float64))
    assert bool((attr.sum((1, 2)) > 0).any())


def test_inputs_outside_the_box_are_refused():
    with pytest.raises(ValueError, match=r"inside `bounds`=\(low, high\)"):
        DeepTaylor(relu_net(2)).attribute(
            torch.full((2, 2, 6), 2.0, dtype=torch.float64), target=0, bounds=(0, 1)
        )
    with pytest.raises(ValueError, match="`bounds` must be a pair"):
        DeepTaylor(relu_net(2)).attribute(torch.zeros(2, 2, 6, dtype=torch.float64), target=0, bounds=1.0)


def test_wsquare_first_layer_matches_its_formula():
    torch.manual_seed(3)
    w = torch.randn(3, 5, dtype=torch.float64)
    model = nn.Sequential(nn.Linear(5, 3, bias=False), nn.ReLU(), nn.Linear(3, 1, bias=False)).double()
    with torch.no_grad():
        model[0].weight.copy_(w)
        model[2].weight.fill_(1.0)
    x = torch.randn(4, 5, dtype=torch.float64)
    attr = DeepTaylor(model).attribute(x, target=0)
    hidden = model[1](model[0](x)).detach()  # z+ on the top layer with unit weights: R_k = h_k
    expected = hidden @ (w**2 / (w**2).sum(1, keepdim=True))
    assert torch.allclose(attr, expected)
    flat = DeepTaylor(model).attribute(x, target=0, unbounded_rule="flat")
    assert torch.allclose(flat, hidden.sum(1, keepdim=True).expand(-1, 5) / 5)


def test_upper_layers_use_zplus():
    """z+ on the top layer: R_k = h_k w_k^+ / sum_k' h_k' w_k'^+ * f(x), negative weights ignored."""
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(5, 3, bias=False), nn.ReLU(), nn.Linear(3, 1, bias=False)).double()
    with torch.no_grad():
        model[2].weight.copy_(torch.tensor([[1.0, -2.0, 0.5]]))
    x = torch.randn(6, 5, dtype=torch.float64)
    hidden = model[1](model[0](x)).detach()
    contrib = hidden * model[2].weight[0].clamp(min=0).detach()
    r_hidden = contrib / contrib.sum(1, keepdim=True) * model(x).detach()
    w = model[0].weight.detach()
    expected = torch.nan_to_num(r_hidden) @ (w**2 / (w**2).sum(1, keepdim=True))
    assert torch.allclose(DeepTaylor(model).attribute(x, target=0), expected)


def test_unknown_rule_name_and_recurrent_layers_are_refused():
    with pytest.raises(ValueError, match="`unbounded_rule` must be 'wsquare' or 'flat'"):
        DeepTaylor(relu_net(0)).attribute(
            torch.rand(2, 2, 6, dtype=torch.float64), target=0, unbounded_rule="z"
        )

    class Rec(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = nn.GRU(2, 3, batch_first=True), nn.Linear(3, 1)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    with pytest.raises(ValueError, match=r"no rule for layer `rnn` \(GRU\)"):
        DeepTaylor(Rec()).attribute(torch.rand(2, 5, 2), target=0)
