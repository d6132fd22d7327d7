"""CAM: the exact decomposition of the logit, Grad-CAM = CAM / T', and refusing non-GAP nets."""

import pytest
import torch
from torch import nn

from captum_ts import CAM, LayerGradCam
from captum_ts.models import CNN1dClassifier


def gap_net(pooling="mean", channels_last=True):
    torch.manual_seed(0)
    return CNN1dClassifier(
        3, 4, channels=5, kernel_size=3, channels_last=channels_last, pooling=pooling
    ).double()


@pytest.mark.parametrize("target", [2, [0, 3, 1], torch.tensor([1, 1, 2])])
def test_cam_decomposes_the_logit_exactly(target):
    net = gap_net()
    x = torch.randn(3, 12, 3, dtype=torch.float64)
    m = CAM(net, net.features[3], layout="channels_first").attribute(x, target=target)
    assert m.shape == (3, 1, 12)
    idx = torch.as_tensor(target).expand(3)
    logits = net(x)[torch.arange(3), idx]
    torch.testing.assert_close(m.mean(-1).squeeze(1) + net.head.bias[idx], logits, rtol=0, atol=1e-12)
    # brute force: sum_k w_{c,k} A_k(t)
    acts = net.features(x.transpose(1, 2))
    expected = torch.einsum("bk,bkt->bt", net.head.weight[idx], acts).unsqueeze(1)
    torch.testing.assert_close(m, expected, rtol=0, atol=1e-12)


def test_grad_cam_equals_cam_divided_by_t_prime_on_gap_nets():
    net = gap_net()
    x = torch.randn(4, 10, 3, dtype=torch.float64)
    for relu in (False, True):
        cam = CAM(net, net.features[3], layout="channels_first").attribute(
            x, target=1, relu_attributions=relu
        )
        grad_cam = LayerGradCam(net, net.features[3], layout="channels_first").attribute(
            x, target=1, relu_attributions=relu
        )
        t_prime = cam.shape[-1]
        torch.testing.assert_close(grad_cam * t_prime, cam, rtol=0, atol=1e-12)


def test_given_head_equals_found_head_and_per_channel_terms():
    net = gap_net()
    x = torch.randn(2, 8, 3, dtype=torch.float64)
    found = CAM(net, net.features[3], layout="channels_first").attribute(x, target=0)
    given = CAM(net, net.features[3], layout="channels_first", head=net.head).attribute(x, target=0)
    assert torch.equal(found, given)
    terms = CAM(net, net.features[3], layout="channels_first").attribute(
        x, target=0, attr_dim_summation=False
    )
    assert terms.shape == (2, 5, 8)
    torch.testing.assert_close(terms.sum(1, keepdim=True), found, rtol=0, atol=1e-12)


def test_recurrent_gap_net():
    torch.manual_seed(1)

    class GRUGap(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(2, 4, batch_first=True)
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(self.rnn(x)[0].mean(1))

    model = GRUGap().double()
    x = torch.randn(3, 9, 2, dtype=torch.float64)
    cam = CAM(model, model.rnn).attribute(x, target=2)
    assert cam.shape == (3, 9, 1)
    grad_cam = LayerGradCam(model, model.rnn).attribute(x, target=2)
    torch.testing.assert_close(grad_cam * 9, cam, rtol=0, atol=1e-12)


def test_cam_interpolates_to_the_input():
    torch.manual_seed(2)
    net = nn.Sequential(
        nn.Conv1d(2, 3, 3, padding=1), nn.AvgPool1d(2), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(3, 2)
    )
    x = torch.randn(2, 2, 16)
    m = CAM(net, net[1]).attribute(x, target=1, input_time_dim=2)
    assert m.shape == (2, 1, 16)
    raw = CAM(net, net[1]).attribute(x, target=1)
    # layer step j covers input steps 2j, 2j+1 (centre 2j + 1/2): input step 2j+1 sits at j + 1/4
    torch.testing.assert_close(m[..., 1:-1:2], 0.75 * raw[..., :-1] + 0.25 * raw[..., 1:])
    torch.testing.assert_close(m[..., 0], raw[..., 0])
    with torch.inference_mode():  # no gradient is needed
        assert torch.equal(CAM(net, net[1]).attribute(x, target=1), raw)


def test_not_gap_linear_is_refused():
    x = torch.randn(2, 8, 3, dtype=torch.float64)
    net = gap_net(pooling="max")
    with pytest.raises(ValueError, match=r"CAM needs .*head's input differs"):
        CAM(net, net.features[3], layout="channels_first").attribute(x, target=0)
    soft = gap_net()
    with pytest.raises(ValueError, match="the model's output is not the head's output"):
        CAM(lambda t: soft(t).softmax(-1), soft.features[3], layout="channels_first").attribute(x, target=0)
    with pytest.raises(ValueError, match=r"no nn\.Linear found"):
        CAM(lambda t: t.mean(1), nn.Identity(), layout="channels_last").attribute(x, target=0)
    with pytest.raises(TypeError, match=r"`head` must be an nn\.Linear"):
        CAM(soft, soft.features[3], layout="channels_first", head=soft.features[0]).attribute(x, target=0)
    with pytest.raises(ValueError, match="head was not called"):
        CAM(soft, soft.features[3], layout="channels_first", head=nn.Linear(5, 4)).attribute(x, target=0)


def test_targets_cam_cannot_use():
    net = gap_net()
    x = torch.randn(2, 8, 3, dtype=torch.float64)
    cam = CAM(net, net.features[3], layout="channels_first")
    with pytest.raises(ValueError, match="pass `target`"):
        cam.attribute(x)
    with pytest.raises(ValueError, match="pass one class index"):
        cam.attribute(x, target=(0, 1))
    with pytest.raises(ValueError, match="out of range"):
        cam.attribute(x, target=4)
