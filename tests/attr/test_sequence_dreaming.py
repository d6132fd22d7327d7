"""SequenceDreaming: the spec's checks, batch invariance, layer objectives, Captum conventions, errors."""

import pytest
import torch
from captum.attr import GradientAttribution, LayerAttribution
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from captum_ts._state import snapshot_parameters
from captum_ts.attr.dreaming.regularizers import (
    L2,
    Clip,
    ExponentialSmoothing,
    GaussianBlur,
    LossTerm,
    Projection,
    TotalVariation,
)
from captum_ts.attr.dreaming.sequence_dreaming import SequenceDreaming, random_starts
from captum_ts.datasets import bumps
from captum_ts.models import CNN1dClassifier, GRUClassifier, fit_classifier
from captum_ts.testing import check_attributor

T = 24


class Linear(nn.Module):
    """f(x) = W x + b on flattened series: the closed-form case."""

    def __init__(self, n_in, n_out, dtype=torch.float64):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.weight = nn.Parameter(torch.randn(n_out, n_in, generator=g, dtype=dtype))
        self.bias = nn.Parameter(torch.randn(n_out, generator=g, dtype=dtype))

    def forward(self, x):
        return x.flatten(1) @ self.weight.T + self.bias


def tanh_mlp(n_in, dtype=torch.float64):
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(n_in, 16), nn.Tanh(), nn.Linear(16, 3)).to(dtype).eval()


def cnn(dtype=torch.float64, n_features=1, n_classes=3):
    torch.manual_seed(2)
    return CNN1dClassifier(n_features, n_classes, channels=6, kernel_size=5).to(dtype).eval()


@pytest.fixture(scope="module")
def trained():
    """A small CNN trained on the bumps set (about a second)."""
    data = bumps(n_samples=160, length=32, n_features=2, seed=0)
    torch.manual_seed(0)
    model = fit_classifier(
        CNN1dClassifier(2, 2, channels=8, kernel_size=5), data.inputs, data.labels, epochs=6
    )
    return model, data


# ----------------------------------------------------------------- spec checks


@pytest.mark.parametrize("shape", [(T,), (T, 1)])
def test_linear_model_with_l2_converges_to_w_over_2_lambda(shape):
    lam = 0.25
    model = Linear(T, 3)
    x0 = torch.randn(3, *shape, dtype=torch.float64)
    targets = torch.tensor([2, 0, 1])  # one class per row, in one batch
    out = SequenceDreaming(model).attribute(
        x0, target=targets, regularizers=(L2(lam),), optimizer="sgd", lr=1.0, steps=60
    )
    expected = (model.weight[targets] / (2 * lam)).detach().reshape(3, *shape)
    assert out.shape == x0.shape
    assert torch.allclose(out, expected, atol=1e-4, rtol=0)


def test_objective_is_non_decreasing_without_regularizers():
    model = tanh_mlp(T)
    x0 = random_starts(5, (T,), scale=0.5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sd = SequenceDreaming(model)
    targets = torch.tensor([0, 1, 2, 0, 1])
    out, traj = sd.attribute(
        x0, target=targets, regularizers=(), optimizer="sgd", lr=0.1, steps=80, return_trajectory=True
    )
    assert traj.shape == (80, 5)
    start = model(x0)[torch.arange(5), targets]
    assert (traj[0] >= start).all()
    assert (traj.diff(dim=0) >= -1e-12).all()
    assert (traj[-1] > start + 0.3).all()  # and it does climb
    assert torch.allclose(traj[-1], model(out)[torch.arange(5), targets])  # last row = returned sequences


def test_neutral_projections_are_the_identity():
    model = cnn()
    x0 = random_starts(4, (T, 1), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    sd = SequenceDreaming(model)
    kw = dict(target=torch.tensor([0, 1, 2, 0]), steps=25, lr=0.05)
    plain = sd.attribute(x0, regularizers=(), **kw)
    neutral = (ExponentialSmoothing(alpha=1.0, every=1), GaussianBlur(sigma=1e-4, every=1), Clip())
    assert torch.equal(sd.attribute(x0, regularizers=neutral, **kw), plain)
    assert torch.equal(sd.attribute(x0, regularizers=(GaussianBlur(sigma=0.0, every=1),), **kw), plain)


def total_variation(x):
    return x.diff(dim=1).abs().sum((1, 2))


def test_more_total_variation_gives_lower_total_variation():
    # Adam chatters at the scale of lr around TV's kinks: keep the weights above that floor
    model = cnn()
    x0 = random_starts(4, (T, 1), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    sd = SequenceDreaming(model)
    tvs = [
        total_variation(
            sd.attribute(x0, target=1, regularizers=(L2(1e-2), TotalVariation(w)), lr=0.01, steps=100)
        )
        for w in (0.0, 0.01, 0.1)
    ]
    assert (tvs[0] > 1.3 * tvs[1]).all() and (tvs[1] > 1.3 * tvs[2]).all()


def test_more_l2_gives_lower_norm():
    model = cnn()
    x0 = random_starts(3, (T, 1), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    sd = SequenceDreaming(model)
    norms = [
        sd.attribute(x0, target=2, regularizers=(L2(w),), steps=100, lr=0.05).flatten(1).norm(dim=1)
        for w in (1e-3, 1e-2, 1e-1)
    ]
    assert (norms[0] > norms[1]).all() and (norms[1] > norms[2]).all()


@pytest.mark.parametrize("tau", [0.5, 0.8])
def test_border_mode_ends_at_the_asked_probability(trained, tau):
    model, data = trained
    with torch.no_grad():
        prob = torch.softmax(model(data.inputs), -1)
    # real samples the model is sure about, each pushed towards its own class's border
    sure = (prob.amax(-1) > 0.95).nonzero()[:6, 0]
    x0, cls = data.inputs[sure], prob[sure].argmax(-1)
    out, traj = SequenceDreaming(model).attribute(
        x0,
        target=cls,
        objective="border",
        border_probability=tau,
        regularizers=(TotalVariation(1e-2),),
        steps=150,
        return_trajectory=True,
    )
    with torch.no_grad():
        p = torch.softmax(model(out), -1)[torch.arange(len(cls)), cls]
    assert (p - tau).abs().max() < 0.02
    assert torch.allclose(traj[-1], -((p - tau) ** 2), atol=1e-6)
    assert (out - x0).abs().max() > 0  # it moved from the real sample


def test_probability_objective_raises_the_probability(trained):
    model, data = trained
    x0 = data.inputs[:4]
    with torch.no_grad():
        other = 1 - model(x0).argmax(-1)  # dream each real sample into the other class
        before = torch.softmax(model(x0), -1)[torch.arange(4), other]
    out = SequenceDreaming(model).attribute(
        x0, target=other, objective="probability", regularizers=(L2(1e-3),), steps=100
    )
    with torch.no_grad():
        after = torch.softmax(model(out), -1)[torch.arange(4), other]
    assert (before < 0.5).all() and (after > 0.9).all()


def test_single_logit_probability_is_a_sigmoid():
    model = nn.Sequential(nn.Flatten(), nn.Linear(T, 1)).double()
    x0 = torch.zeros(2, T, dtype=torch.float64)
    out, traj = SequenceDreaming(model).attribute(
        x0, objective="probability", regularizers=(), steps=5, return_trajectory=True
    )
    assert torch.allclose(traj[-1], torch.sigmoid(model(out)[:, 0]))


# ----------------------------------------------------------------- batch invariance


def test_batched_dreaming_equals_one_by_one():
    model = cnn(n_classes=3)
    x0 = random_starts(6, (T, 1), generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    targets = torch.tensor([0, 1, 2, 2, 1, 0])
    sd = SequenceDreaming(model)
    kw = dict(steps=40, lr=0.05, regularizers=None)  # the defaults: L2, TV, blur, smoothing
    batched, traj = sd.attribute(x0, target=targets, return_trajectory=True, **kw)
    singles = [
        sd.attribute(x0[i : i + 1], target=int(targets[i]), return_trajectory=True, **kw) for i in range(6)
    ]
    assert torch.allclose(batched, torch.cat([s for s, _ in singles]), atol=1e-12, rtol=0)
    assert torch.allclose(traj, torch.cat([t for _, t in singles], dim=1), atol=1e-12, rtol=0)
    chunked = sd.attribute(x0, target=targets, internal_batch_size=4, **kw)
    assert torch.allclose(chunked, batched, atol=1e-12, rtol=0)


def test_batched_equals_one_by_one_in_float32_for_a_few_steps():
    model = cnn(torch.float32)
    x0 = random_starts(4, (T, 1), generator=torch.Generator().manual_seed(5))
    sd = SequenceDreaming(model)
    batched = sd.attribute(x0, target=[0, 1, 2, 0], steps=10)
    singles = torch.cat([sd.attribute(x0[i : i + 1], target=t, steps=10) for i, t in enumerate([0, 1, 2, 0])])
    assert torch.allclose(batched, singles, atol=1e-5)


# ----------------------------------------------------------------- contracts


@settings(max_examples=10)
@given(
    batch=st.integers(1, 3),
    length=st.integers(8, 20),
    features=st.integers(1, 3),
    rank3=st.booleans(),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_shapes_dtype_no_mutation_and_model_untouched(batch, length, features, rank3, dtype):
    features = features if rank3 else 1
    model = CNN1dClassifier(features, 2, channels=4, kernel_size=3).to(dtype).eval()
    model.head.weight.grad = torch.ones_like(model.head.weight)
    before = snapshot_parameters(model)
    shape = (batch, length, features) if rank3 else (batch, length)
    x0 = torch.randn(shape, dtype=dtype)
    keep = x0.clone()
    forward = model if rank3 else (lambda x: model(x.unsqueeze(-1)))
    out, traj = SequenceDreaming(forward).attribute(x0, target=1, steps=6, return_trajectory=True)
    assert out.shape == x0.shape and out.dtype == dtype and out.is_contiguous()
    assert traj.shape == (6, batch) and traj.dtype == dtype
    assert torch.equal(x0, keep) and not x0.requires_grad
    assert all(torch.equal(a, b) for a, b in zip(before, snapshot_parameters(model)))
    assert torch.equal(model.head.weight.grad, torch.ones_like(model.head.weight))
    assert all(p.requires_grad for p in model.parameters())
    assert not out.requires_grad


def test_works_under_no_grad_and_keeps_train_mode():
    model = cnn().train()
    x0 = torch.randn(2, T, 1, dtype=torch.float64)
    with torch.no_grad():
        out = SequenceDreaming(model).attribute(x0, target=0, steps=5)
    assert model.training and out.shape == x0.shape and (out != x0).any()


def test_model_is_restored_when_an_error_is_raised():
    model = cnn()
    with pytest.raises(ValueError, match="target"):
        SequenceDreaming(model).attribute(torch.randn(2, T, 1, dtype=torch.float64), target=7, steps=3)
    assert all(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())


def test_start_noise_is_reproducible_with_a_generator():
    model = cnn()
    x0 = torch.zeros(3, T, 1, dtype=torch.float64)
    sd = SequenceDreaming(model)

    def run(seed):
        gen = torch.Generator().manual_seed(seed)
        return sd.attribute(x0, target=0, steps=5, start_noise=0.1, generator=gen)

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))
    assert not torch.equal(run(0)[0], run(0)[1])  # copies of one start become distinct restarts
    assert torch.equal(sd.attribute(x0, target=0, steps=5), sd.attribute(x0, target=0, steps=5))


def test_random_starts():
    g = torch.Generator().manual_seed(0)
    many = random_starts(32, (50, 2), scale=0.1, generator=g)
    few = random_starts(8, (50, 2), scale=0.1, generator=torch.Generator().manual_seed(0))
    assert many.shape == (32, 50, 2) and torch.equal(many[:8], few)
    assert 0.08 < float(many.std()) < 0.12
    assert SequenceDreaming.random_starts is random_starts


def test_captum_conventions_tuple_inputs_and_forward_args():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(T, 2).double()
            self.b = nn.Linear(T, 2).double()

        def forward(self, x, y, scale):
            return scale * (self.a(x) + self.b(y))

    model = TwoInputs()
    x, y = torch.zeros(2, T, dtype=torch.float64), torch.zeros(2, T, dtype=torch.float64)
    sd = SequenceDreaming(model)
    assert isinstance(sd, GradientAttribution) and isinstance(sd, LayerAttribution)
    assert hasattr(SequenceDreaming.attribute, "__wrapped__")  # log_usage
    out = sd.attribute(
        (x, y),
        target=1,
        additional_forward_args=(2.0,),
        regularizers=(L2(0.5),),
        optimizer="sgd",
        lr=0.5,
        steps=60,
    )
    assert isinstance(out, tuple) and len(out) == 2
    assert torch.allclose(out[0], (2.0 * model.a.weight[1] / 1.0).detach().expand(2, T), atol=1e-6)
    assert torch.allclose(out[1], (2.0 * model.b.weight[1] / 1.0).detach().expand(2, T), atol=1e-6)
    # a per-example forward argument is cut with the rows
    scale = torch.tensor([[1.0], [3.0]], dtype=torch.float64)
    whole = sd.attribute((x, y), target=0, additional_forward_args=(scale,), steps=5)
    parts = sd.attribute((x, y), target=0, additional_forward_args=(scale,), steps=5, internal_batch_size=1)
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(whole, parts))


def test_optimizer_class_and_kwargs():
    model = cnn()
    x0 = torch.randn(2, T, 1, dtype=torch.float64)
    sd = SequenceDreaming(model)
    by_name = sd.attribute(x0, target=0, optimizer="sgd", steps=10)
    by_class = sd.attribute(x0, target=0, optimizer=torch.optim.SGD, steps=10)
    assert torch.equal(by_name, by_class)
    momentum = sd.attribute(x0, target=0, optimizer="sgd", optimizer_kwargs={"momentum": 0.9}, steps=10)
    assert not torch.equal(momentum, by_name)


def test_custom_regularizers():
    class FirstHalfZero(Projection):
        every = 1

        def project(self, x):
            return torch.cat([torch.zeros_like(x[..., : x.shape[-1] // 2]), x[..., x.shape[-1] // 2 :]], -1)

    class PullTo(LossTerm):
        def __init__(self, value):
            self.value = value

        def penalty(self, x):
            return (x - self.value).square().sum((1, 2))

    model = Linear(T, 2)
    out = SequenceDreaming(model).attribute(
        torch.zeros(1, T, 1, dtype=torch.float64), target=0, optimizer="sgd", lr=0.2, steps=300,
        regularizers=(PullTo(1.0), FirstHalfZero()),
    )  # fmt: skip
    assert torch.equal(out[0, : T // 2], torch.zeros(T // 2, 1, dtype=torch.float64))
    # maximise w.x - |x - 1|^2 on the second half: x = 1 + w / 2
    expected = 1 + model.weight[0, T // 2 :].detach() / 2
    assert torch.allclose(out[0, T // 2 :, 0], expected, atol=1e-6)


# ----------------------------------------------------------------- layer objectives


def test_channel_objective_matches_a_callable_and_raises_the_channel():
    model = cnn()
    layer = model.features[2]  # the second convolution: output (B, C, T)
    sd = SequenceDreaming(model, layer=layer)
    x0 = random_starts(3, (T, 1), generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    channel, traj = sd.attribute(x0, neuron_selector=4, steps=40, return_trajectory=True)
    by_callable = sd.attribute(
        x0, objective="neuron", neuron_selector=lambda out: out[:, 4].mean(-1), steps=40
    )
    assert torch.allclose(channel, by_callable, atol=1e-12)
    acts = {}
    handle = layer.register_forward_hook(lambda m, i, o: acts.__setitem__("out", o))
    try:
        model(x0)
        start = acts["out"][:, 4].mean(-1)
        model(channel)
        end = acts["out"][:, 4].mean(-1)
    finally:
        handle.remove()
    assert (end > start).all()
    assert torch.allclose(traj[-1], end)
    assert not layer._forward_hooks


def test_neuron_objective_and_per_row_channels_in_one_batch():
    model = cnn()
    sd = SequenceDreaming(model, layer=model.features[0])
    x0 = random_starts(3, (T, 1), generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    mixed = sd.attribute(x0, objective="channel", neuron_selector=[0, 3, 5], steps=20)
    one = [sd.attribute(x0[i : i + 1], neuron_selector=c, steps=20) for i, c in enumerate([0, 3, 5])]
    assert torch.allclose(mixed, torch.cat(one), atol=1e-12)
    _, traj = sd.attribute(x0, objective="neuron", neuron_selector=(2, 10), steps=20, return_trajectory=True)
    assert traj.shape == (20, 3) and (traj[-1] > traj[0]).all()


def test_layer_with_tuple_output():
    torch.manual_seed(0)
    model = GRUClassifier(1, 2, hidden_size=5).double().eval()
    sd = SequenceDreaming(model, layer=model.rnn)  # nn.GRU returns (output, h_n)
    x0 = torch.zeros(2, 12, 1, dtype=torch.float64)
    out, traj = sd.attribute(
        x0, objective="neuron", neuron_selector=(11, 3), steps=15, return_trajectory=True
    )
    assert out.shape == x0.shape and (traj[-1] > traj[0]).all()
    hidden = sd.attribute(x0, objective="neuron", neuron_selector=lambda o: o[1][0, :, 3], steps=15)
    assert torch.allclose(hidden, out, atol=1e-10)  # last step of the output is h_n
    assert not model.rnn._forward_hooks


def test_hooks_are_removed_after_an_error():
    model = cnn()
    layer = model.features[2]
    with pytest.raises(ValueError, match="neuron_selector"):
        SequenceDreaming(model, layer=layer).attribute(
            torch.randn(2, T, 1, dtype=torch.float64), neuron_selector=99
        )
    assert not layer._forward_hooks
    with pytest.raises(ValueError, match="neuron_selector"):
        SequenceDreaming(model, layer=layer).attribute(
            torch.randn(2, T, 1, dtype=torch.float64), objective="neuron", neuron_selector=lambda o: o[:, 0]
        )
    assert not layer._forward_hooks


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"objective": "loss"}, ValueError, "objective"),
        ({"objective": "channel"}, ValueError, "layer"),
        ({"target": 5}, ValueError, "target"),
        ({"target": [0, 9]}, ValueError, "target"),
        ({"target": [0, 1, 2]}, ValueError, "target"),
        ({"target": None}, ValueError, "target"),
        ({"steps": 0}, ValueError, "steps"),
        ({"steps": -3}, ValueError, "steps"),
        ({"steps": 2.5}, TypeError, "steps"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"lr": -0.1}, ValueError, "lr"),
        ({"optimizer": "lbfgs"}, ValueError, "optimizer"),
        ({"border_probability": 1.0, "objective": "border"}, ValueError, "border_probability"),
        ({"regularizers": (lambda x: x,)}, TypeError, "regularizers"),
        ({"time_dim": 0}, ValueError, "time_dim"),
        ({"neuron_selector": 1}, ValueError, "neuron_selector"),
        ({"start_noise": -1.0}, ValueError, "start_noise"),
        ({"internal_batch_size": 0}, ValueError, "internal_batch_size"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    model = cnn()
    args = {"target": 0, "steps": 2, **kwargs}
    with pytest.raises(error, match=match):
        SequenceDreaming(model).attribute(torch.randn(2, T, 1, dtype=torch.float64), **args)


def test_bad_inputs_and_layers():
    model = cnn()
    with pytest.raises(TypeError, match="inputs"):
        SequenceDreaming(model).attribute(torch.zeros(2, T, 1, dtype=torch.long), target=0)
    with pytest.raises(ValueError, match="NaN"):
        SequenceDreaming(model).attribute(torch.full((2, T, 1), float("nan")), target=0)
    with pytest.raises(ValueError, match="layer"):
        SequenceDreaming(model, layer=nn.Conv1d(1, 2, 3))  # not part of the model
    with pytest.raises(TypeError, match="layer"):
        SequenceDreaming(model, layer="features.0")
    other = nn.Linear(3, 3)
    with pytest.raises(ValueError, match="layer"):  # a plain function: found out at the first forward
        SequenceDreaming(lambda x: model(x), layer=other).attribute(
            torch.randn(2, T, 1, dtype=torch.float64), neuron_selector=0, steps=2
        )
    with pytest.raises(ValueError, match="target"):
        SequenceDreaming(model, layer=model.features[0]).attribute(
            torch.randn(2, T, 1, dtype=torch.float64), target=1, neuron_selector=0
        )
    with pytest.raises(ValueError, match="with a `layer`"):
        SequenceDreaming(model, layer=model.features[0]).attribute(
            torch.randn(2, T, 1, dtype=torch.float64), objective="logit", target=0
        )


def test_property_kit_contracts():
    report = check_attributor(
        SequenceDreaming,
        max_examples=4,
        attribute_kwargs={"steps": 4, "start_noise": 0.05},
        layouts=("btf", "bt"),
        checks=("output_matches_inputs", "no_mutation", "deterministic", "no_grad"),
    )
    assert report.passed
    tuples = check_attributor(
        SequenceDreaming,
        max_examples=4,
        attribute_kwargs={"steps": 4},
        tuple_inputs=True,
        batch_invariant=True,
        checks=("output_matches_inputs", "batch_invariance"),
    )
    assert tuples.passed
