"""GuidedGradCam: the right composition along time, every ReLU guided, nothing left behind."""

import warnings

import captum.attr as ca
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from captum_ts import GuidedGradCam, LayerGradCam


class Net(nn.Module):
    """(B, T, F) or (B, F, T) -> conv -> ReLU -> conv -> ReLU -> pool by 2 -> flatten -> linear."""

    def __init__(self, channels_last, functional=False, inplace=False):
        super().__init__()
        torch.manual_seed(0)
        self.channels_last, self.functional = channels_last, functional
        self.conv1 = nn.Conv1d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv1d(4, 4, 3, padding=1)
        self.relu1, self.relu2 = nn.ReLU(inplace=inplace), nn.ReLU(inplace=inplace)
        self.pool = nn.AvgPool1d(2)
        self.head = nn.Linear(4 * 6, 2)

    def forward(self, x):
        if self.channels_last:
            x = x.transpose(1, 2)
        if self.functional:
            h = torch.relu(self.conv2(F.relu(self.conv1(x))))
        else:
            h = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.head(self.pool(h).flatten(1))


def captum_guided_backprop(model, x, target):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ca.GuidedBackprop(model).attribute(x, target=target).detach()


def correct_composition(model, x, target, time_dim):
    """Captum's guided backprop times our Grad-CAM, linearly stretched along the input's time axis."""
    cam = LayerGradCam(model, model.pool).attribute(x, target=target, relu_attributions=True)  # (B, 1, 6)
    stretched = F.interpolate(cam, size=x.shape[time_dim], mode="linear", align_corners=False)
    if time_dim == 1:
        stretched = stretched.transpose(1, 2)
    return captum_guided_backprop(model, x, target) * stretched


@pytest.mark.parametrize("channels_last", [True, False])
def test_equals_the_correct_composition(channels_last):
    model = Net(channels_last).double()
    x = torch.randn(3, 12, 3, dtype=torch.float64)
    if not channels_last:
        x = x.transpose(1, 2).contiguous()
    time_dim = 1 if channels_last else 2
    ours = GuidedGradCam(model, model.pool).attribute(x, target=1, input_time_dim=time_dim)
    assert ours.shape == x.shape and ours.is_contiguous()
    torch.testing.assert_close(ours, correct_composition(model, x, 1, time_dim), rtol=0, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        captum = ca.GuidedGradCam(model, model.pool).attribute(x, target=1).detach()
    rel = float((captum - ours).norm() / ours.norm())
    if channels_last:  # Captum stretches the map over the 3 features instead of the 12 steps
        assert rel > 0.5
    else:  # with Captum's 'nearest' the two agree on (B, F, T) inputs
        nearest = GuidedGradCam(model, model.pool).attribute(
            x, target=1, interpolate_mode="nearest", input_time_dim=2
        )
        torch.testing.assert_close(nearest, captum, rtol=0, atol=1e-12)


def test_functional_and_in_place_relus_are_guided_too():
    x = torch.randn(2, 12, 3, dtype=torch.float64)
    reference = Net(True).double()
    ref = GuidedGradCam(reference, reference.pool).attribute(x, target=0, input_time_dim=1)
    for model in (Net(True, functional=True).double(), Net(True, inplace=True).double()):
        got = GuidedGradCam(model, model.pool).attribute(x, target=0, input_time_dim=1)
        torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)
    # Captum's module hooks miss functional ReLUs: its guided backprop is then the plain gradient
    functional = Net(True, functional=True).double()
    plain = captum_guided_backprop(functional, x, 0)
    assert not torch.allclose(plain, captum_guided_backprop(reference, x, 0))


def test_tuple_inputs_with_their_own_time_axes():
    torch.manual_seed(1)
    conv = nn.Conv1d(2, 3, 3, padding=1)
    head = nn.Linear(3, 2)

    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.head = conv, head

        def forward(self, a, b):  # a: (B, T, 1), b: (B, 1, T)
            h = torch.relu(self.conv(torch.cat([a.transpose(1, 2), b], 1)))
            return self.head(h.mean(-1))

    model = TwoInputs()
    a, b = torch.randn(2, 10, 1), torch.randn(2, 1, 10)
    ga, gb = GuidedGradCam(model, model.conv).attribute((a, b), target=1, input_time_dim=(1, 2))
    assert ga.shape == a.shape and gb.shape == b.shape
    with pytest.raises(ValueError, match="`input_time_dim` is needed"):
        GuidedGradCam(model, model.conv).attribute((a, b), target=1)
    with pytest.raises(ValueError, match="`input_time_dim` has 3 entries"):
        GuidedGradCam(model, model.conv).attribute((a, b), target=1, input_time_dim=(1, 2, 2))


def test_multi_tensor_layer_is_refused():
    class Split(nn.Module):
        def forward(self, h):
            return h[:, :2], h[:, 2:]

    model = nn.Sequential(nn.Conv1d(3, 4, 3, padding=1), Split())
    gc = GuidedGradCam(
        lambda x: torch.stack([t.sum((1, 2)) for t in model(x)], 1), model[1], layout="channels_first"
    )
    with pytest.raises(ValueError, match="needs a layer with one tensor"):
        gc.attribute(torch.randn(2, 3, 8), target=0, input_time_dim=2)


def test_nothing_left_behind_also_after_an_error():
    model = Net(True)
    x = torch.randn(2, 12, 3)
    gc = GuidedGradCam(model, model.pool)
    with pytest.raises(ValueError, match="out of range"):
        gc.attribute(x, target=5, input_time_dim=1)
    for m in model.modules():
        assert not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks)
    assert not torch._C._is_torch_function_mode_enabled()
    # after the call, a plain gradient is a plain gradient again
    x.requires_grad_()
    g = torch.autograd.grad(model(x)[:, 0].sum(), x)[0]
    assert x.grad is None and g.shape == x.shape
    plain = captum_guided_backprop(model, x.detach(), 0)
    assert not torch.allclose(g, plain)
