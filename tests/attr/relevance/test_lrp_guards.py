"""LRP refuses what it cannot propagate and leaves the model exactly as it was."""

import threading

import pytest
import torch
from torch import nn

from captum_ts import LRP
from captum_ts.attr.relevance import rules


class Functional(nn.Module):
    def __init__(self, op):
        super().__init__()
        self.conv, self.head, self.op = nn.Conv1d(2, 3, 3), nn.Linear(3, 2), op

    def forward(self, x):
        h = self.conv(x)
        if self.op == "mean":
            h = h.mean(-1)
        elif self.op == "amax":
            h = h.amax(-1)
        elif self.op == "add":
            h = (h + self.conv(x))[..., 0]  # a residual sum
        else:  # attention-like product
            h = (h @ h.transpose(1, 2))[..., 0]
        return self.head(h)


@pytest.mark.parametrize(
    ("op", "message"),
    [
        ("mean", r"through `mean` .*nn\.AdaptiveAvgPool1d\(1\)"),
        ("amax", r"through `amax` .*nn\.AdaptiveMaxPool1d\(1\)"),
        ("add", r"through `add` .*a residual a \+ b has no rule"),
        ("matmul", r"through `bmm` .*attention"),
    ],
)
def test_functional_operations_are_refused_by_name(op, message):
    model = Functional(op)
    with pytest.raises(ValueError, match=message):
        LRP(model).attribute(torch.randn(2, 2, 8), target=0)
    assert not model.conv._forward_hooks and not model.head._forward_hooks


def test_the_fix_for_functional_pooling_works():
    model = Functional("amax")
    fixed = nn.Sequential(model.conv, nn.AdaptiveMaxPool1d(1), nn.Flatten(), model.head)
    x = torch.randn(2, 2, 8)
    attr, delta = LRP(fixed).attribute(x, target=0, return_convergence_delta=True)
    assert attr.shape == (2, 2, 8) and torch.allclose(attr.sum((1, 2)) + delta, fixed(x)[:, 0].detach())


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            nn.LayerNorm(4),
            r"no rule for layer `1` \(LayerNorm\).*LayerNorm divides.*rules=\{nn\.LayerNorm: rule\}",
        ),
        (nn.Softmax(-1), r"no rule for layer `1` \(Softmax\).*get_submodule\('1'\)"),
    ],
)
def test_unknown_layers_are_refused_with_the_fix(layer, message):
    model = nn.Sequential(nn.Linear(3, 4), layer, nn.Linear(4, 2))
    with pytest.raises(ValueError, match=message):
        LRP(model).attribute(torch.randn(2, 3), target=0)
    assert all(not m._forward_hooks for m in model.modules())
    attr = LRP(model, rules={type(layer): rules.passthrough()}).attribute(torch.randn(2, 3), target=0)
    assert attr.shape == (2, 3)


def test_user_defined_layer_error_names_its_class():
    class Scale(nn.Module):
        def forward(self, x):
            return 2 * x

    with pytest.raises(ValueError, match=r"no rule for layer `0` \(Scale\).*rules=\{Scale: rule\}"):
        LRP(nn.Sequential(Scale(), nn.Linear(3, 1))).attribute(torch.randn(2, 3), target=0)


def test_weight_rule_on_a_layer_without_weights_is_refused():
    model = nn.Sequential(nn.AvgPool1d(2), nn.Flatten(), nn.Linear(6, 1))
    with pytest.raises(ValueError, match=r"rule gamma\(0.25\) cannot apply to a AvgPool1d layer"):
        LRP(model, rules={nn.AvgPool1d: rules.gamma()}).attribute(torch.randn(2, 2, 6), target=0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="`composite` must be a Composite or one of"):
        LRP(nn.Linear(2, 1), "eps")
    with pytest.raises(TypeError, match=r"`rules\[.*\]` must be a rule"):
        LRP(nn.Linear(2, 1), rules={nn.Linear: 0.1})
    with pytest.raises(TypeError, match=r"`model` must be an nn\.Module"):
        LRP(lambda x: x)
    with pytest.raises(ValueError, match="alpha - beta == 1"):
        rules.alpha_beta(2.0, 0.5)


def model_state(model):
    return (
        [p.detach().clone() for p in model.parameters()],
        [b.detach().clone() for b in model.buffers()],
        [p.requires_grad for p in model.parameters()],
        [m.training for m in model.modules()],
        [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in model.modules()],
        [sorted(vars(m)) for m in model.modules()],
    )


def bn_net():
    model = nn.Sequential(
        nn.Conv1d(2, 3, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(), nn.Linear(18, 2)
    )
    model.train()  # the call runs in eval mode and restores train mode
    model[5].register_forward_hook(lambda m, i, o: None)
    return model


def equal(a, b):
    return all(
        torch.equal(u, v) if isinstance(u, torch.Tensor) else u == v
        for xs, ys in zip(a, b)
        for u, v in zip(xs, ys)
    )


def test_model_is_unchanged_and_rules_survive_two_calls():
    model = bn_net()
    before = model_state(model)
    lrp = LRP(model, "epsilon-plus-flat", rules={nn.Linear: rules.epsilon(0.01)})
    x = torch.randn(4, 2, 8)
    first = lrp.attribute(x, target=1)
    second = lrp.attribute(x, target=1)
    assert torch.equal(first, second)
    assert list(lrp.rules) == [nn.Linear] and repr(lrp.rules[nn.Linear]) == "epsilon(0.01)"
    assert equal(model_state(model), before)
    assert model.training and not hasattr(model[0], "rule")


def test_model_is_unchanged_after_an_error():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.BatchNorm1d(4), nn.Linear(4, 2)).train()
    before = model_state(model)
    with pytest.raises(ValueError, match="LayerNorm"):
        LRP(model).attribute(torch.randn(3, 3), target=0)
    assert equal(model_state(model), before)


def test_works_under_no_grad_and_refuses_inference_mode():
    model = nn.Sequential(nn.Linear(3, 2))
    x = torch.randn(2, 3)
    with torch.no_grad():
        attr = LRP(model, "zero").attribute(x, target=0)
    assert torch.allclose(attr, (x * model[0].weight[0]).detach())  # LRP-0 on one layer: x_j w_j
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        LRP(model).attribute(x, target=0)


def test_threads_sharing_one_model_get_the_single_thread_answer():
    torch.manual_seed(0)
    model = bn_net().eval()
    x = torch.randn(3, 2, 8)
    expected = LRP(model).attribute(x, target=0)
    results, errors = [], []

    def run():
        try:
            LRP(model, "zplus").attribute(x, target=0)
            results.append(LRP(model).attribute(x, target=0))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 4 and all(torch.equal(r, expected) for r in results)


def test_non_finite_explained_output_is_refused_naming_the_examples():
    class Log(nn.Module):
        def forward(self, x):
            return x.log()  # NaN for a negative input

    lin = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]))
    x = torch.ones(3, 4)
    x[1, 0] = -1.0
    with pytest.raises(ValueError, match=r"not finite for example\(s\) \[1\]"):
        LRP(nn.Sequential(lin, Log()), rules={Log: rules.passthrough()}).attribute(x, target=0)


def test_zero_denominators_send_no_relevance_under_lrp_zero():
    # z+ on a non-negative input whose second output unit gets no positive contribution:
    # z_k = 0 there, and relevance must come out finite, from the other unit only
    lin = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0], [-1.0, 0.0]]))
    x = torch.tensor([[0.0, 3.0]])
    attr = LRP(lin, "zplus").attribute(x, target=0)
    torch.testing.assert_close(attr, torch.tensor([[0.0, 6.0]]))
    attr = LRP(lin, "zplus").attribute(x, target=1)  # z+ of unit 1 is 0: nothing to split
    torch.testing.assert_close(attr, torch.zeros(1, 2))
