"""Constant padding routes relevance; LRP and DeepTaylor run on the library's own FCN."""

import pytest
import torch
from captum.attr import InputXGradient
from torch import nn

from captum_ts import LRP, DeepTaylor
from captum_ts.models import FCNClassifier


def bias_free_fcn(seed=0):
    """FCN whose convolutions, BatchNorms and head have no bias and BatchNorm statistics (0, 1):
    every layer is linear up to ReLU, so LRP-0 is Gradient x Input and relevance is conserved."""
    torch.manual_seed(seed)
    model = FCNClassifier(2, 3, channels=(8, 8), kernel_sizes=(8, 3)).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear, nn.BatchNorm1d)) and m.bias is not None:
                m.bias.zero_()
            if isinstance(m, nn.BatchNorm1d):
                m.weight.uniform_(0.5, 1.5)
    return model


def test_lrp_zero_on_the_fcn_is_gradient_times_input():
    model, x = bias_free_fcn(), torch.randn(4, 30, 2)
    ours = LRP(model, composite="zero").attribute(x, target=1)
    torch.testing.assert_close(ours, InputXGradient(model).attribute(x, target=1), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("composite", ["epsilon", "epsilon-plus"])
def test_relevance_through_padding_is_conserved_under_the_z_rules(composite):
    # the padded zeros get no relevance from a z-rule, so cropping them loses nothing
    model, x = bias_free_fcn(1), torch.randn(4, 30, 2)
    relevance = LRP(model, composite=composite).attribute(x, target=0)
    torch.testing.assert_close(relevance.sum((1, 2)), model(x)[:, 0].detach(), rtol=1e-5, atol=1e-6)


def test_deep_taylor_runs_on_the_fcn_and_keeps_the_input_shape():
    model, x = bias_free_fcn(2), torch.randn(3, 25, 2)
    relevance = DeepTaylor(model).attribute(x, target=2)
    assert relevance.shape == x.shape and bool(torch.isfinite(relevance).all())


def test_padding_hands_back_the_relevance_of_the_real_positions():
    # pad (2, 1) then a 1x1 convolution: LRP-0 relevance of each input is x * w, the pads' share dropped
    model = nn.Sequential(nn.ConstantPad1d((2, 1), 0.0), nn.Conv1d(1, 1, 1, bias=False), nn.Flatten())
    with torch.no_grad():
        model[1].weight.fill_(3.0)
    x = torch.randn(2, 1, 6)
    relevance = LRP(model, composite="zero").attribute(x, target=4)  # output 4 is input position 2
    expected = torch.zeros_like(x)
    expected[:, 0, 2] = 3.0 * x[:, 0, 2]
    torch.testing.assert_close(relevance, expected)
