"""LayerGradCam: brute-force equality, the time axis, recurrent layers, targets, errors, no mutation."""

import captum.attr as ca
import pytest
import torch
from torch import nn

from captum_ts import LayerGradCam
from captum_ts.models.forecasters import GRUForecaster


def conv_net(n_features=2, channels=3, n_classes=3):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(n_features, channels, 3, padding=1),
        nn.Tanh(),
        nn.Conv1d(channels, channels, 3, padding=1),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(channels * 8, n_classes),
    ).double()


def finite_difference_gradients(score, acts, h=1e-6):
    """dS/dA_k(t) by central differences, one (k, t) at a time (all examples at once)."""
    grads = torch.zeros_like(acts)
    for k in range(acts.shape[1]):
        for t in range(acts.shape[2]):
            e = torch.zeros_like(acts)
            e[:, k, t] = h
            grads[:, k, t] = (score(acts + e) - score(acts - e)) / (2 * h)
    return grads


def brute_grad_cam(tail, acts, target):
    """Grad-CAM of a (B, K, T') activation from finite differences: sum_k mean_t(g_k) A_k(t)."""
    with torch.no_grad():
        g = finite_difference_gradients(lambda a: tail(a)[:, target], acts)
    return (g.mean(-1, keepdim=True) * acts).sum(1, keepdim=True)


def test_equals_brute_force_float64_channels_first():
    net = conv_net()
    x = torch.randn(4, 2, 8, dtype=torch.float64)
    acts = net[:3](x)
    expected = brute_grad_cam(net[3:], acts, 1)
    got = LayerGradCam(net, net[2]).attribute(x, target=1)
    assert got.shape == (4, 1, 8) and got.dtype == torch.float64
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-8)
    # on a channels-first layer Captum is right, and we agree with it
    torch.testing.assert_close(got, ca.LayerGradCam(net, net[2]).attribute(x, target=1), rtol=0, atol=1e-12)


class ChannelsLastNet(nn.Module):
    """(B, T, F) -> Linear per step (B, T, D) -> tanh -> flatten -> Linear."""

    def __init__(self, n_features=2, width=3, steps=8, n_classes=3):
        super().__init__()
        self.embed = nn.Linear(n_features, width)
        self.head = nn.Linear(width * steps, n_classes)

    def forward(self, x):
        return self.head(torch.tanh(self.embed(x)).flatten(1))


def test_channels_last_layer_gets_per_time_maps_where_captum_sums_time():
    torch.manual_seed(1)
    net = ChannelsLastNet().double()
    x = torch.randn(3, 8, 2, dtype=torch.float64)
    acts = net.embed(x).transpose(1, 2)  # (B, D, T)
    expected = brute_grad_cam(lambda a: net.head(torch.tanh(a.transpose(1, 2)).flatten(1)), acts, 2)
    got = LayerGradCam(net, net.embed, layout="channels_last").attribute(x, target=2)
    assert got.shape == (3, 8, 1)
    torch.testing.assert_close(got, expected.transpose(1, 2), rtol=0, atol=1e-8)
    assert torch.equal(got, LayerGradCam(net, net.embed, time_dim=1).attribute(x, target=2))
    # Captum averages the gradient over D and sums over time: one value per feature, not per step
    captum = ca.LayerGradCam(net, net.embed).attribute(x, target=2)
    assert captum.shape == (3, 1, 3)


def test_ambiguous_layer_is_refused_naming_the_argument():
    net = ChannelsLastNet()
    x = torch.randn(2, 8, 2)
    with pytest.raises(ValueError, match=r"layout='channels_first'.*`time_dim`"):
        LayerGradCam(net, net.embed).attribute(x, target=0)


def test_rank2_layer_output_needs_time_dim_1():
    net = conv_net().float()
    x = torch.randn(2, 2, 8)
    with pytest.raises(ValueError, match=r"rank-2 tensor.*`time_dim=1`"):
        LayerGradCam(net, net[4]).attribute(x, target=0)
    with pytest.raises(ValueError, match="rank-2 tensor"):
        LayerGradCam(net, net[4], layout="channels_last").attribute(x, target=0)
    # a (B, T') single-channel activation, said explicitly
    single = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    m = LayerGradCam(single, single[1], time_dim=1).attribute(torch.randn(2, 8), target=1)
    assert m.shape == (2, 8)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"time_dim": 1, "layout": "channels_last"}, ValueError, "either `time_dim` or `layout`"),
        ({"layout": "NTC"}, ValueError, "`layout` must be"),
        ({"time_dim": 0}, ValueError, "batch axis 0 cannot be time"),
        ({"time_dim": 1.0}, TypeError, "`time_dim` must be an int"),
        ({"layout": "channels_last"}, ValueError, "contradicts"),
    ],
)
def test_bad_layout_arguments(kwargs, error, match):
    net = conv_net()
    with pytest.raises(error, match=match):
        LayerGradCam(net, net[2], **kwargs)


def test_rank4_and_batch_first_false_are_refused():
    with pytest.raises(ValueError, match="batch_first=True"):
        LayerGradCam(lambda x: x, nn.GRU(2, 3))
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 4 * 6, 2))
    with pytest.raises(ValueError, match=r"need \(B, K, T'\)"):
        LayerGradCam(net, net[0], time_dim=2).attribute(torch.randn(2, 1, 4, 6), target=0)


class RecurrentClassifier(nn.Module):
    def __init__(self, cell, pool="mean"):
        super().__init__()
        self.rnn = cell(2, 4, batch_first=True)
        self.head = nn.Linear(4, 3)
        self.pool = pool

    def forward(self, x):
        out, state = self.rnn(x)
        if self.pool == "h_n":
            h = state[0] if isinstance(state, tuple) else state
            return self.head(h[-1])
        return self.head(out.mean(1))


@pytest.mark.parametrize("cell", [nn.GRU, nn.LSTM, nn.RNN])
def test_recurrent_layers_use_the_output_sequence(cell):
    torch.manual_seed(2)
    model = RecurrentClassifier(cell).double()
    x = torch.randn(3, 7, 2, dtype=torch.float64)
    seq = model.rnn(x)[0].transpose(1, 2)  # (B, H, T)
    expected = brute_grad_cam(lambda a: model.head(a.mean(-1)), seq.detach(), 1)
    got = LayerGradCam(model, model.rnn).attribute(x, target=1)
    assert got.shape == (3, 7, 1)
    torch.testing.assert_close(got, expected.transpose(1, 2), rtol=0, atol=1e-8)


def test_recurrent_model_reading_h_n_is_refused():
    model = RecurrentClassifier(nn.LSTM, pool="h_n")
    with pytest.raises(ValueError, match="final state h_n"):
        LayerGradCam(model, model.rnn).attribute(torch.randn(2, 5, 2), target=0)


def test_forecaster_targets_h_c_and_lists_of_tuples():
    torch.manual_seed(3)
    f = GRUForecaster(n_variates=2, horizon=3, hidden_size=4).double()
    x = torch.randn(3, 6, 2, dtype=torch.float64)
    seq = f.rnn(x)[0].detach().transpose(1, 2)

    def tail(target):
        return lambda a: f.head(a[:, :, -1]).view(-1, 3, 2)[:, target[0], target[1]]

    cam = LayerGradCam(f, f.rnn)
    for h, c in [(0, 1), (2, 0)]:
        with torch.no_grad():
            g = finite_difference_gradients(tail((h, c)), seq)
        expected = (g.mean(-1, keepdim=True) * seq).sum(1, keepdim=True).transpose(1, 2)
        torch.testing.assert_close(cam.attribute(x, target=(h, c)), expected, rtol=0, atol=1e-8)
    targets = [(0, 1), (2, 0), (1, 1)]
    batched = cam.attribute(x, target=targets)
    single = torch.cat([cam.attribute(x[i : i + 1], target=t) for i, t in enumerate(targets)])
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="one scalar per example"):
        cam.attribute(x, target=1)


class TwoOutputs(nn.Module):
    def forward(self, a):
        return a[:, :2], a[:, 2:]


class TupleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 5, 3, padding=1)
        self.split = TwoOutputs()
        self.head = nn.Linear(5 * 6, 2)

    def forward(self, x):
        a, b = self.split(torch.tanh(self.conv(x)))
        return self.head(torch.cat([a, b * b], 1).flatten(1))


def test_tuple_layer_outputs_give_one_map_per_tensor():
    torch.manual_seed(4)
    net = TupleNet().double()
    x = torch.randn(2, 2, 6, dtype=torch.float64)
    maps = LayerGradCam(net, net.split, layout="channels_first").attribute(x, target=0)
    assert isinstance(maps, tuple) and [m.shape for m in maps] == [(2, 1, 6), (2, 1, 6)]
    acts = torch.tanh(net.conv(x)).detach()

    def score(a):
        return net.head(torch.cat([a[:, :2], a[:, 2:] ** 2], 1).flatten(1))[:, 0]

    with torch.no_grad():
        g = finite_difference_gradients(score, acts)
    terms = g.mean(-1, keepdim=True) * acts
    torch.testing.assert_close(maps[0], terms[:, :2].sum(1, keepdim=True), rtol=0, atol=1e-8)
    torch.testing.assert_close(maps[1], terms[:, 2:].sum(1, keepdim=True), rtol=0, atol=1e-8)


def test_per_channel_terms_relu_and_layer_input():
    net = conv_net()
    x = torch.randn(3, 2, 8, dtype=torch.float64)
    cam = LayerGradCam(net, net[2])
    summed = cam.attribute(x, target=0)
    terms = cam.attribute(x, target=0, attr_dim_summation=False)
    assert terms.shape == (3, 3, 8)
    torch.testing.assert_close(terms.sum(1, keepdim=True), summed, rtol=0, atol=1e-12)
    assert torch.equal(cam.attribute(x, target=0, relu_attributions=True), summed.clamp(min=0))
    # the input of conv 2 is the output of the first tanh
    via_input = cam.attribute(x, target=0, attribute_to_layer_input=True)
    of_tanh = LayerGradCam(net, net[1], layout="channels_first").attribute(x, target=0)
    torch.testing.assert_close(via_input, of_tanh, rtol=0, atol=1e-12)


def test_in_place_operation_after_the_layer_is_fine():
    torch.manual_seed(5)
    net = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(24, 2))
    x = torch.randn(2, 2, 8)
    ours = LayerGradCam(net, net[0]).attribute(x, target=1)
    torch.testing.assert_close(ours, ca.LayerGradCam(net, net[0]).attribute(x, target=1))


def test_layer_called_twice_is_refused():
    conv = nn.Conv1d(2, 2, 3, padding=1)
    net = nn.Sequential(conv, conv, nn.Flatten(), nn.Linear(16, 2))
    with pytest.raises(ValueError, match="called 2 times"):
        LayerGradCam(net, conv).attribute(torch.randn(2, 2, 8), target=0)
    with pytest.raises(ValueError, match="was not called"):
        LayerGradCam(net, nn.Conv1d(2, 2, 3)).attribute(torch.randn(2, 2, 8), target=0)


def test_inference_mode_and_missing_graphs_raise_clearly():
    net = conv_net().float()
    x = torch.randn(2, 2, 8)
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        LayerGradCam(net, net[2]).attribute(x, target=0)
    with pytest.raises(RuntimeError, match="no autograd graph"):
        LayerGradCam(lambda t: net(t).detach(), net[2]).attribute(x, target=0)
    with pytest.raises(RuntimeError, match="no autograd graph"):
        LayerGradCam(torch.no_grad()(net), net[2]).attribute(x, target=0)
    # torch.no_grad() around the call is fine
    with torch.no_grad():
        m = LayerGradCam(net, net[2]).attribute(x, target=0)
    torch.testing.assert_close(m, LayerGradCam(net, net[2]).attribute(x, target=0))


def test_inputs_are_checked():
    net = conv_net().float()
    with pytest.raises(ValueError, match="NaN or Inf"):
        LayerGradCam(net, net[2]).attribute(torch.full((2, 2, 8), float("nan")), target=0)
    with pytest.raises(ValueError, match="disagree on the batch size"):
        LayerGradCam(lambda a, b: net(a + b), net[2]).attribute((torch.randn(2, 2, 8), torch.randn(3, 2, 8)))


def test_bfloat16_close_to_float32():
    net = conv_net().float()
    x = torch.randn(4, 2, 8)
    ref = LayerGradCam(net, net[2]).attribute(x, target=1)
    low = LayerGradCam(net.to(torch.bfloat16), net[2]).attribute(x.to(torch.bfloat16), target=1)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), ref, rtol=0.1, atol=0.05 * float(ref.abs().max()))


def test_transformer_layer_layout_is_read_from_the_module():
    torch.manual_seed(6)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0, batch_first=True)
    head = nn.Linear(4, 2)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer, self.head = layer, head

        def forward(self, x):
            return self.head(self.layer(x).mean(1))

    model = Encoder()
    m = LayerGradCam(model, layer).attribute(torch.randn(2, 5, 4), target=1)
    assert m.shape == (2, 5, 1)
    with pytest.raises(ValueError, match="batch_first=True"):
        LayerGradCam(model, nn.TransformerEncoderLayer(4, 2))
