"""LRP on feed-forward nets: the closed forms of the rules, conservation, Captum parity."""

import copy

import pytest
import torch
from captum.attr import LRP as CaptumLRP
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from captum_ts import LRP, DeepTaylor
from captum_ts.attr.relevance import composites, rules
from captum_ts.attr.relevance.canonizers import merged_form


def grad_x_input(model, x, target):
    x = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(model(x)[:, target].sum(), x)
    return g * x.detach()


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


class ChannelLast(nn.Module):
    """(B, T, F) in: dense over features, a transpose, Conv1d over time, max pooling."""

    def __init__(self, f, bias):
        super().__init__()
        self.embed = nn.Linear(f, 4, bias=bias)
        self.conv = nn.Conv1d(4, 5, 3, bias=bias)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool1d(2)
        self.flat = nn.Flatten()
        self.head = nn.LazyLinear(2, bias=bias)

    def forward(self, x):
        h = self.act(self.conv(self.embed(x).transpose(1, 2)))
        return self.head(self.flat(self.pool(h)))


def channel_first(f, t, bias):
    """(B, F, T) in: Conv1d, ReLU, average pooling, Flatten, dense."""
    return nn.Sequential(
        nn.Conv1d(f, 4, 3, bias=bias),
        nn.ReLU(),
        nn.AvgPool1d(2),
        nn.Conv1d(4, 3, 2, bias=bias),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(2),
        nn.Flatten(),
        nn.Linear(6, 2, bias=bias),
    )


def mlp(f, t, bias):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(f * t, 7, bias=bias), nn.ReLU(), nn.Dropout(0.5), nn.Linear(7, 2, bias=bias)
    )


def make(kind, f, t, bias=False):
    if kind == "channel_last":
        model = ChannelLast(f, bias).double()
        model(torch.zeros(1, t, f, dtype=torch.float64))  # materialise the lazy head
        return model.eval(), (t, f)
    build = channel_first if kind == "channel_first" else mlp
    return build(f, t, bias).double().eval(), ((f, t) if kind == "channel_first" else (t, f))


nets = st.tuples(
    st.sampled_from(["channel_last", "channel_first", "mlp"]),
    st.integers(1, 3),
    st.integers(8, 14),
    st.integers(0, 2**16),
)


@settings(max_examples=12)
@given(nets)
def test_lrp0_equals_gradient_times_input_on_bias_free_relu_nets(net):
    kind, f, t, seed = net
    torch.manual_seed(seed)
    model, shape = make(kind, f, t)
    x = torch.randn(3, *shape, dtype=torch.float64)
    attr = LRP(model, "zero").attribute(x, target=1)
    assert rel_err(attr, grad_x_input(model, x, 1)) < 1e-5


@settings(max_examples=12)
@given(nets, st.sampled_from(["zero", "epsilon", "epsilon-plus-flat"]))
def test_relevance_is_conserved_on_bias_free_nets(net, preset):
    kind, f, t, seed = net
    torch.manual_seed(seed)
    model, shape = make(kind, f, t)
    x = torch.randn(3, *shape, dtype=torch.float64)
    attr, delta = LRP(model, preset).attribute(x, target=0, return_convergence_delta=True)
    out = model(x)[:, 0].detach()
    assert torch.allclose(attr.sum((1, 2)), out - delta)
    assert float((delta.abs() / out.abs()).max()) < 1e-5


def test_alpha_beta_conserves_on_non_negative_inputs():
    torch.manual_seed(0)
    model, shape = make("mlp", 2, 8)
    x = torch.rand(4, *shape, dtype=torch.float64) + 0.1
    _, delta = LRP(model, "alpha2-beta1").attribute(x, target=0, return_convergence_delta=True)
    assert float((delta.abs() / model(x)[:, 0].detach().abs()).max()) < 1e-5


def test_epsilon_tends_to_lrp0():
    torch.manual_seed(1)
    model, shape = make("channel_first", 2, 12, bias=True)
    x = torch.randn(4, *shape, dtype=torch.float64)
    ref = LRP(model, "zero").attribute(x, target=1)
    errs = [
        rel_err(LRP(model, composites.epsilon(e)).attribute(x, target=1), ref) for e in (1e-2, 1e-5, 1e-9)
    ]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-6


def single_layer(weight, bias):
    layer = nn.Linear(weight.shape[1], weight.shape[0]).double()
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer


def ratio(x, w, b):
    """Contribution ratios ``x_j w_kj / z_k`` of every output k, shaped (B, K, J)."""
    return x[:, None] * w / (x @ w.T + b)[..., None]


def gamma_w(w):
    return w + 0.25 * w.clamp(min=0)


def eps_ratio(x, w, b):
    z = x @ w.T + b
    return x[:, None] * w / (z + 0.5 * z.sign())[..., None]


FORMULAS = [
    (rules.epsilon(0.5), eps_ratio),
    (rules.gamma(0.25), lambda x, w, b: ratio(x, gamma_w(w), gamma_w(b))),
    (rules.flat(), lambda x, w, b: torch.ones_like(x[:, None] * w) / w.shape[1]),
    (rules.wsquare(), lambda x, w, b: (w**2 / (w**2).sum(1, keepdim=True)).expand(len(x), -1, -1)),
]


@pytest.mark.parametrize(("rule", "formula"), FORMULAS)
def test_rules_match_their_formula_on_one_layer(rule, formula):
    """R_j = sum_k c_jk R_k with the rule's contribution ratios c_jk, for R_k = z_k at target k."""
    torch.manual_seed(2)
    w, b, x = torch.randn(3, 5).double(), torch.randn(3).double(), torch.randn(4, 5).double()
    layer = single_layer(w, b)
    attr = LRP(layer, rules={nn.Linear: rule}).attribute(x, target=2)
    expected = formula(x, w, b)[:, 2] * layer(x)[:, 2:3].detach()
    assert torch.allclose(attr, expected)


def test_alpha_beta_matches_its_formula_on_one_layer():
    torch.manual_seed(3)
    w, b, x = torch.randn(3, 5).double(), torch.randn(3).double(), torch.randn(4, 5).double()
    layer = single_layer(w, b)
    attr = LRP(layer, "alpha2-beta1").attribute(x, target=0)
    z = x * w[0]
    pos, neg = z.clamp(min=0), z.clamp(max=0)
    ratio = 2 * pos / (pos.sum(1, keepdim=True) + b[0].clamp(min=0)) - neg / (
        neg.sum(1, keepdim=True) + b[0].clamp(max=0)
    )
    assert torch.allclose(attr, ratio * layer(x)[:, :1].detach())


def test_max_pooling_is_winner_take_all():
    model = nn.Sequential(nn.MaxPool1d(3), nn.Flatten())
    x = torch.tensor([[[1.0, 5.0, 2.0, -1.0, 0.5, 0.0]]])
    attr = LRP(model).attribute(x, target=1)
    assert torch.equal(attr, torch.tensor([[[0.0, 0.0, 0.0, 0.0, 0.5, 0.0]]]))


def test_batch_norm_canonized_output_and_relevance_equal_the_merged_model():
    torch.manual_seed(4)
    conv, bn = nn.Conv1d(2, 3, 3), nn.BatchNorm1d(3)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-1, 1)
    model = nn.Sequential(conv, bn, nn.ReLU(), nn.Flatten(), nn.Linear(3 * 8, 2)).double().eval()
    x = torch.randn(5, 2, 10, dtype=torch.float64)
    form = merged_form(model[0], model[1])
    assert torch.allclose(form.fn(x, form.weight, form.bias), model[1](model[0](x)), atol=1e-12)
    merged = copy.deepcopy(model)
    with torch.no_grad():
        merged[0].weight.copy_(form.weight), merged[0].bias.copy_(form.bias)
    merged[1] = nn.Identity()
    for preset in ("zero", "epsilon-plus-flat", "gamma"):
        ours = LRP(model, preset).attribute(x, target=1)
        assert torch.allclose(ours, LRP(merged, preset).attribute(x, target=1), atol=1e-12)


def test_batch_norm_that_cannot_merge_is_its_own_linear_layer():
    torch.manual_seed(5)
    model = nn.Sequential(nn.BatchNorm1d(3), nn.Flatten(), nn.Linear(18, 2, bias=False)).double().eval()
    with torch.no_grad():
        model[0].running_var.uniform_(0.5, 2)
    x = torch.randn(4, 3, 6, dtype=torch.float64)
    scale = model[0].running_var.add(model[0].eps).rsqrt()[:, None]
    shift = (-model[0].running_mean)[:, None] * scale
    r_out = model[2].weight[1].reshape(3, 6) * model[0](x)
    expected = x * scale / (x * scale + shift) * r_out
    assert torch.allclose(LRP(model, "zero").attribute(x, target=1), expected.detach())


def test_forecaster_targets_h_c_select_one_output():
    torch.manual_seed(6)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8, bias=False), nn.Unflatten(1, (4, 2))).double()
    x = torch.randn(3, 6, 2, dtype=torch.float64)
    attr = LRP(model, "zero").attribute(x, target=(2, 1))
    assert torch.allclose(attr.sum((1, 2)), model(x)[:, 2, 1])
    per_example = LRP(model, "zero").attribute(x, target=[(2, 1), (0, 0), (3, 1)])
    assert torch.allclose(per_example[0], attr[0])
    with pytest.raises(ValueError, match=r"\(h, c\)"):
        LRP(model).attribute(x, target=1)


@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
def test_matches_captum_lrp_on_a_model_captum_accepts():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.relu, self.pool = nn.Conv2d(1, 3, (1, 3)), nn.ReLU(), nn.MaxPool2d((1, 2))
            self.fc1, self.relu2, self.fc2 = nn.Linear(3 * 2 * 5, 6), nn.ReLU(), nn.Linear(6, 2)

        def forward(self, x):
            h = self.pool(self.relu(self.conv(x))).flatten(1)
            return self.fc2(self.relu2(self.fc1(h)))

    torch.manual_seed(7)
    model = Net().eval()
    x = torch.randn(4, 1, 2, 12)
    ours, delta = LRP(model).attribute(x, target=1, return_convergence_delta=True)
    theirs, their_delta = CaptumLRP(copy.deepcopy(model)).attribute(
        x, target=1, return_convergence_delta=True
    )
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert torch.allclose(delta, their_delta.detach(), atol=1e-5)


def test_tuple_inputs_and_additional_forward_args():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2, bias=False), nn.Linear(2, 2, bias=False)

        def forward(self, x, y, pick):
            return torch.cat([self.a(x), self.b(y)], 1)[:, pick]

    torch.manual_seed(8)
    model = TwoInputs().double()
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    ax, ay = LRP(model, "zero").attribute((x, y), target=0, additional_forward_args=([3, 0],))
    assert torch.allclose(ax, torch.zeros_like(ax)) and torch.allclose(ay, y * model.b.weight[1])


@pytest.mark.parametrize("preset", ["zero", "gamma", "epsilon-plus-flat", "alpha2-beta1"])
def test_one_call_transposes_equal_autograd_through_the_layer(preset):
    """padding=1 takes the convolution's transpose (parts stacked into one call); padding='same' (the
    same layer for kernel 3) goes through autograd: the relevances agree."""

    def net(padding):
        torch.manual_seed(9)
        return nn.Sequential(
            nn.Conv1d(2, 3, 3, padding=padding), nn.ReLU(), nn.Conv1d(3, 3, 3, padding=padding), nn.ReLU(),
            nn.Flatten(), nn.Linear(30, 2),
        ).double()  # fmt: skip

    x = torch.randn(4, 2, 10, dtype=torch.float64)
    fast = LRP(net(1), preset).attribute(x, target=1)
    reference = LRP(net("same"), preset).attribute(x, target=1)
    assert torch.allclose(fast, reference, rtol=1e-10, atol=1e-14)


class TwoArgPool(nn.MaxPool1d):
    """Max pooling called with an extra argument: routed through the layer's gradient inside
    the relevance function, not by its own autograd nodes."""

    def forward(self, x, unused=None):
        return super().forward(x)


class PoolNet(nn.Module):
    def __init__(self, pool):
        super().__init__()
        self.conv, self.relu, self.pool, self.head = nn.Conv1d(2, 4, 3), nn.ReLU(), pool, nn.Linear(32, 2)

    def forward(self, x):
        h = self.relu(self.conv(x))
        h = self.pool(h, None) if isinstance(self.pool, TwoArgPool) else self.pool(h)
        return self.head(h.flatten(1))


def test_gradient_routed_layers_give_the_same_relevance_by_either_route():
    torch.manual_seed(6)
    own, wrapped = PoolNet(nn.MaxPool1d(2)), PoolNet(TwoArgPool(2))
    wrapped.load_state_dict(own.state_dict())
    x = torch.randn(5, 2, 18)
    rules_by_type = {TwoArgPool: rules.gradient()}
    for preset in ("epsilon", "epsilon-plus-flat"):
        a = LRP(own, preset).attribute(x, target=1)
        b = LRP(wrapped, preset, rules=rules_by_type).attribute(x, target=1)
        assert torch.equal(a, b)


@pytest.mark.parametrize("edit", ["no_grad", "data", "load_state_dict"])
def test_weights_and_statistics_changed_in_place_are_seen_by_the_next_call(edit):
    torch.manual_seed(7)
    model = nn.Sequential(
        nn.Conv1d(2, 4, 3), nn.BatchNorm1d(4), nn.ReLU(), nn.Flatten(), nn.Linear(32, 2)
    ).eval()
    x = torch.rand(3, 2, 10)
    attributors = [LRP(model), LRP(model, "epsilon-plus-flat"), DeepTaylor(model)]
    before = [_explain(a, x) for a in attributors]
    new = {k: v * 1.5 + 0.1 for k, v in model.state_dict().items() if v.is_floating_point()}
    if edit == "load_state_dict":
        model.load_state_dict(new, strict=False)
    else:
        for name, t in (*model.named_parameters(), *model.named_buffers()):
            if name in new and edit == "data":
                t.data.copy_(new[name])  # does not bump the tensor's version counter
            elif name in new:
                _copy(t, new[name])
    fresh = copy.deepcopy(model)
    for a, old, again in zip(
        attributors, before, [LRP(fresh), LRP(fresh, "epsilon-plus-flat"), DeepTaylor(fresh)]
    ):
        now, expected = _explain(a, x), _explain(again, x)
        assert torch.equal(now, expected) and not torch.equal(now, old)


def _copy(t, value):
    with torch.no_grad():
        t.copy_(value)


def _explain(attributor, x):
    if isinstance(attributor, DeepTaylor):
        return attributor.attribute(x, target=0, bounds=(0.0, 1.0))
    return attributor.attribute(x, target=0)
