"""Maps interpolated to the input length stay aligned in time, for (B, T, F) and (B, F, T) inputs."""

import captum.attr as ca
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from captum_ts import GuidedGradCam, LayerGradCam, LayerGradCamPlusPlus

STRIDE = 4


class BumpDetector(nn.Module):
    """Conv (bump energy) -> ReLU -> AvgPool by 4 -> GAP -> Linear; class 1 = 'a bump'."""

    def __init__(self, channels_last):
        super().__init__()
        self.channels_last = channels_last
        self.conv = nn.Conv1d(2, 3, 5, padding=2, bias=False)
        self.relu = nn.ReLU()
        self.pool = nn.AvgPool1d(STRIDE)
        self.head = nn.Linear(3, 2)
        with torch.no_grad():
            self.conv.weight.fill_(0.2)
            self.head.weight.copy_(torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]))
            self.head.bias.zero_()

    def forward(self, x):
        if self.channels_last:
            x = x.transpose(1, 2)
        return self.head(self.pool(self.relu(self.conv(x))).mean(-1))


def peak_distance(m, t0):
    """Distance from t0 to the nearest maximiser of a 1-d map (at the ends linear
    interpolation holds the first/last block's value, a plateau of maxima)."""
    m = m.detach().flatten()
    tops = torch.nonzero(m >= m.max() - 1e-6 * m.abs().max()).flatten()
    return int((tops - t0).abs().min())


def bump_series(length, t0, channels_last):
    t = torch.arange(length, dtype=torch.float32)
    x = torch.zeros(1, 2, length)
    x[0, 0] = torch.exp(-0.5 * ((t - t0) / 1.5) ** 2)
    return x.transpose(1, 2).contiguous() if channels_last else x


@given(st.integers(3, 12), st.data(), st.booleans())
def test_peak_of_the_interpolated_map_is_on_the_bump(blocks, data, channels_last):
    length = STRIDE * blocks
    t0 = data.draw(st.integers(0, length - 1))
    model = BumpDetector(channels_last)
    x = bump_series(length, t0, channels_last)
    time_dim = 1 if channels_last else 2
    for method in (LayerGradCam, LayerGradCamPlusPlus):
        m = method(model, model.pool).attribute(x, target=1, input_time_dim=time_dim, relu_attributions=True)
        assert m.shape[time_dim] == length and m.numel() == length
        assert peak_distance(m, t0) <= 2
    guided = GuidedGradCam(model, model.pool).attribute(x, target=1, input_time_dim=time_dim)
    assert guided.shape == x.shape
    assert peak_distance(guided.abs().sum(3 - time_dim), t0) <= 2


@pytest.mark.filterwarnings("ignore::UserWarning:captum")
def test_captum_guided_grad_cam_loses_the_bump_on_channels_last_inputs():
    model = BumpDetector(channels_last=True)
    x = bump_series(48, 30, channels_last=True)
    ours = GuidedGradCam(model, model.pool).attribute(x, target=1, input_time_dim=1)
    captum = ca.GuidedGradCam(model, model.pool).attribute(x, target=1)
    # Captum stretches the (B, 1, 12) map to the 2 features: the peak is no longer the map's
    rel = float((captum.detach() - ours).norm() / ours.norm())
    assert rel > 0.9  # 0.93 measured
    assert abs(int(captum.detach().abs().sum(2).argmax()) - 30) > 10  # Captum's peak: step 9
    assert peak_distance(ours.abs().sum(2), 30) <= 2


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "area"])
def test_other_modes_keep_the_length(mode):
    model = BumpDetector(channels_last=False)
    x = bump_series(24, 10, channels_last=False)
    m = LayerGradCam(model, model.pool).attribute(x, target=1, input_time_dim=-1, interpolate_mode=mode)
    assert m.shape == (1, 1, 24)
    # every input step of a pooled block gets that block's value
    raw = LayerGradCam(model, model.pool).attribute(x, target=1)
    if mode != "area":
        torch.testing.assert_close(m, raw.repeat_interleave(STRIDE, -1))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"input_time_dim": 0}, ValueError, "not a time axis"),
        ({"input_time_dim": 3}, ValueError, "not a time axis"),
        ({"input_time_dim": "T"}, TypeError, "`input_time_dim` must be an int"),
        ({"input_time_dim": 2, "interpolate_mode": "bilinear"}, ValueError, "`interpolate_mode` must be"),
        ({"input_time_dim": 2, "attr_dim_summation": False}, ValueError, "attr_dim_summation=True"),
    ],
)
def test_bad_interpolation_arguments(kwargs, error, match):
    model = BumpDetector(channels_last=False)
    with pytest.raises(error, match=match):
        LayerGradCam(model, model.pool).attribute(torch.randn(1, 2, 16), target=1, **kwargs)
