"""LayerGradCamPlusPlus: the closed form against a per-channel, per-step loop, and large logits."""

import math

import pytest
import torch
from torch import nn

from captum_ts import LayerGradCam, LayerGradCamPlusPlus


def net(scale=1.0):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv1d(2, 3, 3, padding=1),
        nn.Softplus(),
        nn.Conv1d(3, 3, 3, padding=1),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(3 * 6, 2),
    )
    with torch.no_grad():
        model[5].weight.mul_(scale)
        model[5].bias.mul_(scale)
    return model


def loop_reference(acts, grads, relu):
    """Grad-CAM++ straight from the paper's formula with Y = exp(S), one (b, k, t) at a time:
    a = g^2 / (2 g^2 + sum_t' A_k(t') g^3) (0 where that is 0/0 or the denominator is 0),
    w_k = sum_t a ReLU(g), M(t) = sum_k w_k A_k(t)."""
    b_n, k_n, t_n = acts.shape
    out = torch.zeros(b_n, 1, t_n, dtype=torch.float64)
    for b in range(b_n):
        for k in range(k_n):
            total = sum(float(acts[b, k, s]) for s in range(t_n))
            w = 0.0
            for t in range(t_n):
                g = float(grads[b, k, t])
                den = 2 * g**2 + total * g**3
                a = g**2 / den if den != 0 else 0.0
                w += a * max(g, 0.0)
            for t in range(t_n):
                out[b, 0, t] += w * float(acts[b, k, t])
    return out.clamp(min=0) if relu else out


def acts_and_grads(model, x, target):
    acts = model[:4](x.double()).detach().requires_grad_()
    score = model[4:](acts)[:, target].sum()
    return acts.detach(), torch.autograd.grad(score, acts)[0]


@pytest.mark.parametrize("relu", [False, True])
def test_matches_the_loop_reference_float64(relu):
    model = net().double()
    x = torch.randn(3, 2, 6, dtype=torch.float64)
    acts, grads = acts_and_grads(model, x, 1)
    got = LayerGradCamPlusPlus(model, model[3], layout="channels_first").attribute(
        x, target=1, relu_attributions=relu
    )
    torch.testing.assert_close(got, loop_reference(acts, grads, relu), rtol=1e-12, atol=1e-12)


def test_large_logits_stay_finite_and_exact():
    model = net(scale=1e4)
    x = torch.randn(4, 2, 6)
    logits = model(x)
    assert bool(torch.isinf(torch.exp(logits)).any())  # exp(S) overflows float32 here
    got = LayerGradCamPlusPlus(model, model[3], layout="channels_first").attribute(x, target=0)
    assert bool(torch.isfinite(got).all())
    acts, grads = acts_and_grads(model.double(), x, 0)
    torch.testing.assert_close(got.double(), loop_reference(acts, grads, False), rtol=1e-3, atol=1e-4)


def test_zero_denominator_gives_zero_weight():
    # one channel, S = A(0) + A(1): g = 1 at both steps; with sum_t A = -2 the denominator
    # 2 g^2 + (sum_t A) g^3 is 0, so a = 0 and the map is 0 (not inf or NaN)
    model = nn.Sequential(nn.Identity(), nn.Flatten(), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model[2].weight.fill_(1.0)
    x = torch.tensor([[[3.0, -5.0]]])  # sum A = -2, g = 1: denominator 2 + (-2)(1) = 0
    got = LayerGradCamPlusPlus(model, model[0], layout="channels_first").attribute(x)
    assert torch.equal(got, torch.zeros(1, 1, 2))
    assert bool(torch.isfinite(LayerGradCam(model, model[0], layout="channels_first").attribute(x)).all())


def test_recurrent_layer_and_forecaster_target():
    torch.manual_seed(1)
    gru = nn.GRU(2, 4, batch_first=True).double()
    head = nn.Linear(4, 6).double()

    class Forecaster(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru, self.head = gru, head

        def forward(self, x):
            return self.head(torch.tanh(self.gru(x)[0]).mean(1)).view(-1, 3, 2)

    model = Forecaster()
    x = torch.randn(2, 5, 2, dtype=torch.float64)
    seq = gru(x)[0].detach().requires_grad_()
    score = head(torch.tanh(seq).mean(1)).view(-1, 3, 2)[:, 2, 1].sum()
    grads = torch.autograd.grad(score, seq)[0]
    expected = loop_reference(seq.detach().transpose(1, 2), grads.transpose(1, 2), False).transpose(1, 2)
    got = LayerGradCamPlusPlus(model, gru).attribute(x, target=(2, 1))
    assert got.shape == (2, 5, 1)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert math.isfinite(float(got.sum()))
