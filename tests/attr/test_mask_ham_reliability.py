"""LearnedPerturbationMask and HorizonActivationMap: no gradient no map, non-finite values caught
where they enter, the user's model and perturbation network never changed, thread safety, float16
and bfloat16, and the errors of Captum-style calls."""

import threading

import numpy as np
import pytest
import torch
from captum.attr import NoiseTunnel
from torch import nn

from captum_ts._state import snapshot_parameters
from captum_ts.attr.horizon.horizon_activation_map import HorizonActivationMap
from captum_ts.attr.masks.learned_perturbation_mask import LearnedPerturbationMask
from captum_ts.models.forecasters import MLPForecaster

B, T, F, H = 6, 8, 3, 4
LOW = [torch.float16, torch.bfloat16]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def series(n: int = B, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return (1.5 + torch.rand(n, T, F, generator=gen(seed))).to(dtype)


class SumOfFeature(nn.Module):
    """f(x) = sum_t x[t, 1]: only feature 1 matters."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.scale * x[..., 1].sum(-1, keepdim=True)


class NoGradForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(T * F, H * F)

    @torch.no_grad()
    def forward(self, x):
        return self.lin(x.flatten(1)).view(-1, H, F)


class BatchNormForecaster(nn.Module):
    """(B, T, F) -> (B, H, F) with BatchNorm and Dropout: train mode changes outputs and buffers."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(T * F, 16)
        self.bn = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(16, H * F)

    def forward(self, x):
        return self.head(self.drop(self.bn(self.lin(x.flatten(1))))).view(-1, H, F)


def state(model: nn.Module) -> list:
    """Everything an attributor must leave as it was."""
    return [
        *(t.clone() for t in snapshot_parameters(model)),
        *((p.requires_grad, None if p.grad is None else p.grad.clone()) for p in model.parameters()),
        *(m.training for m in model.modules()),
    ]


def same(a: list, b: list) -> bool:
    def eq(u, v):
        if isinstance(u, torch.Tensor):
            return isinstance(v, torch.Tensor) and torch.equal(u, v)
        if isinstance(u, tuple):
            return len(u) == len(v) and all(eq(x, y) for x, y in zip(u, v))
        return u == v

    return len(a) == len(b) and all(eq(u, v) for u, v in zip(a, b))


def forecast_data(dtype=torch.float64, seed=1):
    g = gen(seed)
    return torch.randn(B, T, F, generator=g).to(dtype), torch.randn(B, H, F, generator=g).to(dtype)


def mlp(dtype=torch.float64) -> nn.Module:
    torch.manual_seed(0)
    return MLPForecaster(T, H, F, hidden=(8,)).to(dtype)


# ---------------------------------------------------------------------------------------------
# 3. no gradient, no map


def test_lpm_refuses_inference_mode():
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        LearnedPerturbationMask(SumOfFeature()).attribute(series(), epochs=2)


@pytest.mark.parametrize("kind", ["decorated", "detached"])
def test_lpm_refuses_an_output_without_graph_at_the_first_step(kind):
    calls = []
    inner = nn.Sequential(nn.Flatten(), nn.Linear(T * F, 2))

    def detached(x):
        calls.append(1)
        return inner(x).detach()

    class Decorated(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        @torch.no_grad()
        def forward(self, x):
            calls.append(1)
            return self.inner(x)

    model = Decorated() if kind == "decorated" else detached
    with pytest.raises(RuntimeError, match="no autograd graph"):
        LearnedPerturbationMask(model, perturbation_net=None).attribute(series(), epochs=50, batch_size=3)
    assert len(calls) == 2 + 1  # two reference chunks, then the first training step refuses


@pytest.mark.parametrize("wrt", ["parameters", "inputs"])
def test_ham_refuses_inference_mode_and_outputs_without_graph(wrt):
    x, y = forecast_data(torch.float32)
    model = MLPForecaster(T, H, F, hidden=(8,))
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        HorizonActivationMap(model).attribute(x, y, wrt=wrt)
    with pytest.raises(RuntimeError, match="no autograd graph"):
        HorizonActivationMap(NoGradForward()).attribute(x, y, wrt=wrt)
    with pytest.raises(RuntimeError, match="no autograd graph"):
        HorizonActivationMap(lambda z: model(z).detach(), model=model).attribute(x, y, wrt=wrt)


def test_ham_loader_refuses_inference_mode():
    x, y = forecast_data(torch.float32)
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        HorizonActivationMap(MLPForecaster(T, H, F, hidden=(8,))).attribute_loader([(x, y)])


# ---------------------------------------------------------------------------------------------
# 4. non-finite values are caught where they enter


def test_lpm_nan_reference_output_is_refused():
    model = SumOfFeature()
    with pytest.raises(ValueError, match=r"model output on `inputs` contains NaN or Inf"):
        LearnedPerturbationMask(lambda v: model(v) * float("nan"), None).attribute(series(), epochs=2)
    with pytest.raises(ValueError, match="baselines"):
        LearnedPerturbationMask(lambda v: model(v).log(), None).attribute(
            series(), mode="deletion", baselines=-1.0, epochs=2
        )


def test_lpm_objective_turning_nan_raises_naming_lr_and_restores_the_model():
    class Sqrt(nn.Module):
        """Finite on the inputs (all > 1.5); NaN on the first perturbed input 0.5 x + 0.5 * 0."""

        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(F)

        def forward(self, x):
            return (self.bn(x.transpose(1, 2)).transpose(1, 2) + x - 1.0).sqrt().sum((1, 2)).unsqueeze(1)

    model = Sqrt().train()
    model.bn.running_mean.fill_(2.0)  # in eval mode bn(x) = x - 2: finite on x, NaN on 0.5 x
    before = state(model)
    with pytest.raises(RuntimeError, match=r"NaN or Inf in epoch 1: .*Lower `lr` \(now 0.5\)") as info:
        LearnedPerturbationMask(model, perturbation_net=None).attribute(series(), lr=0.5, epochs=50)
    assert "float16" not in str(info.value)
    assert same(before, state(model))  # BatchNorm statistics and train mode as they were


def test_lpm_float16_overflow_on_perturbed_inputs_names_the_dtype():
    model = lambda v: (7 * (2.5 - v)).exp().sum((1, 2)).unsqueeze(1) / 1e3  # noqa: E731
    x = series(dtype=torch.float16)  # exp(7 (2.5 - x)) <= 1097 on x, overflows on 0.5 x
    with pytest.raises(RuntimeError, match=r"NaN or Inf in epoch 1.*torch.float16.*float32"):
        LearnedPerturbationMask(model, perturbation_net=None).attribute(x, epochs=5)


@pytest.mark.parametrize("wrt", ["parameters", "inputs"])
def test_ham_nan_error_function_is_refused(wrt):
    x, y = forecast_data()
    with pytest.raises(ValueError, match=r"`error` or its slope is NaN or Inf"):
        HorizonActivationMap(mlp()).attribute(x, y, error=lambda p, t: (p - t).log(), wrt=wrt)


# ---------------------------------------------------------------------------------------------
# 5. the user's model and perturbation network are never changed


def test_lpm_train_mode_batchnorm_model_runs_in_eval_and_is_restored():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(T * F, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2)
    )
    model.train()
    model[1].bias.grad = torch.ones(8)
    model[4].weight.requires_grad_(False)
    before = state(model)
    explainer = LearnedPerturbationMask(model)
    train_mode = explainer.attribute(series(), epochs=3, generator=gen())
    assert same(before, state(model))
    eval_mode = LearnedPerturbationMask(model.eval()).attribute(series(), epochs=3, generator=gen())
    torch.testing.assert_close(train_mode, eval_mode, rtol=0, atol=0)  # dropout off, running stats


def test_lpm_user_perturbation_network_is_never_changed():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(F, F)
            self.bn = nn.BatchNorm1d(F)
            self.frozen = nn.Parameter(torch.ones(F), requires_grad=False)

        def forward(self, x):
            return self.bn(self.lin(x).transpose(1, 2)).transpose(1, 2) * self.frozen

    net = Net().train()
    net.lin.weight.grad = torch.full_like(net.lin.weight, 3.0)
    before = state(net)
    explainer = LearnedPerturbationMask(SumOfFeature(), perturbation_net=net)
    explainer.attribute(series(), epochs=3)
    assert same(before, state(net))
    trained = explainer.perturbation_nets_[0]
    assert trained is not net and not torch.equal(trained.lin.weight, net.lin.weight)


def test_ham_input_mode_honours_model_mode_and_restores_buffers():
    x, y = forecast_data()
    model = BatchNormForecaster().double().train()
    before = state(model)
    ham = HorizonActivationMap(model)
    default = ham.attribute(x, y, wrt="inputs", cutoff=2)
    assert same(before, state(model))
    torch.testing.assert_close(default, ham.attribute(x, y, wrt="inputs", cutoff=2), rtol=0, atol=0)
    torch.testing.assert_close(
        default, HorizonActivationMap(model.eval()).attribute(x, y, wrt="inputs", cutoff=2), rtol=0, atol=0
    )
    model.train()
    modes = []
    model.register_forward_pre_hook(lambda m, a: modes.append(m.drop.training))
    torch.manual_seed(0)
    trained = ham.attribute(x, y, wrt="inputs", cutoff=2, model_mode="train")
    assert modes == [True]  # the paper's setting really runs in train mode
    assert not torch.allclose(trained, default)
    assert same(before, state(model))


def test_ham_model_mode_is_checked_by_the_shared_guard():
    x, y = forecast_data()
    with pytest.raises(ValueError, match="model_mode"):
        HorizonActivationMap(lambda z: z[:, -H:] * 2).attribute(x, y, wrt="inputs", model_mode="test")
    model = BatchNormForecaster().double().train()
    before = state(model)
    with pytest.raises(ValueError, match="model_mode"):
        HorizonActivationMap(model).attribute(x, y, model_mode="test")
    with pytest.raises(RuntimeError, match="boom"):
        HorizonActivationMap(model).attribute(x, y, model_mode="train", error=_boom)
    assert same(before, state(model))


def _boom(pred, target):
    raise RuntimeError("boom")


# ---------------------------------------------------------------------------------------------
# 6. one attributor object, several threads


def _in_threads(fn, args_list):
    results, errors = [None] * len(args_list), []

    def work(i, args):
        try:
            results[i] = fn(*args)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i, a)) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_lpm_concurrent_calls_give_the_serial_results():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(T * F, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).train()
    before = state(model)
    explainer = LearnedPerturbationMask(model)

    def call(seed):
        mask = explainer.attribute(series(seed=seed), epochs=3, batch_size=4, generator=gen(seed))
        return mask, list(explainer.loss_history_)

    serial = [_in_threads(call, [(seed,)])[0] for seed in range(4)]
    parallel = _in_threads(call, [(seed,) for seed in range(4)])
    for (m_s, _), (m_p, _) in zip(serial, parallel):
        torch.testing.assert_close(m_p, m_s, rtol=0, atol=0)
    assert explainer.loss_history_ in [h for _, h in serial]  # one whole call's history, not a mix
    assert same(before, state(model))


def test_ham_concurrent_calls_give_the_serial_results_and_leave_no_hooks():
    model = BatchNormForecaster().double().train()
    before = state(model)
    ham = HorizonActivationMap(model)
    data = [forecast_data(seed=s) for s in range(4)]

    def call(x, y):
        return ham.attribute(x, y, per_layer=True).layer_causal, ham.attribute(x, y, wrt="inputs", cutoff=1)

    serial = [_in_threads(call, [d])[0] for d in data]  # one at a time, each in a fresh thread
    parallel = _in_threads(call, data)
    for s, p in zip(serial, parallel):
        torch.testing.assert_close(p[0], s[0], rtol=0, atol=0)
        torch.testing.assert_close(p[1], s[1], rtol=0, atol=0)
    assert same(before, state(model))
    assert not any(m._forward_hooks for m in model.modules())


def test_ham_taps_ignore_forward_calls_of_other_threads():
    torch.manual_seed(0)
    model = MLPForecaster(T, H, F, hidden=(8,)).double()
    x, y = forecast_data()
    expected = HorizonActivationMap(model).attribute(x, y, per_layer=True)
    seen = []

    def foreign():  # another thread uses the shared head while HAM's forward runs
        with torch.enable_grad():
            seen.append(type(model.head(torch.zeros(1, 8, dtype=torch.float64)).grad_fn).__name__)

    hook = model.register_forward_pre_hook(lambda m, a: _join(threading.Thread(target=foreign)))
    res = HorizonActivationMap(model).attribute(x, y, per_layer=True)
    hook.remove()
    assert seen == ["AddmmBackward0"]  # not tapped (a tap would make it AddBackward0)
    assert res.head == expected.head == "head"
    torch.testing.assert_close(res.layer_causal, expected.layer_causal, rtol=0, atol=0)


def _join(thread: threading.Thread) -> None:
    thread.start()
    thread.join()


# ---------------------------------------------------------------------------------------------
# 7. float16 and bfloat16


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("net", ["gru", None])
def test_lpm_low_precision_finds_the_salient_feature(dtype, net):
    x = series(8, dtype=dtype)
    mask = LearnedPerturbationMask(SumOfFeature().to(dtype), perturbation_net=net).attribute(
        x, epochs=40, lr=0.1, generator=gen()
    )
    assert mask.dtype == dtype and mask.shape == x.shape and mask.is_contiguous()
    assert bool(torch.isfinite(mask).all()) and bool(((mask >= 0) & (mask <= 1)).all())
    assert mask[..., 1].min() > 0.9 and mask[..., [0, 2]].max() < 0.1


def _forecaster(kind: str) -> nn.Module:
    torch.manual_seed(0)
    if kind == "mlp":
        return MLPForecaster(T, H, F, hidden=(16,))
    linear = [nn.Linear(T * F, 16, bias=False), nn.Tanh(), nn.Linear(16, H * F, bias=False)]
    return nn.Sequential(nn.Flatten(), *linear, nn.Unflatten(1, (H, F)))


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float16, 2e-3), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize(
    ("kind", "x_scale", "residual"),
    [
        ("mlp", 1.0, 1.0),
        ("mlp", 1.0, 1e4),  # squared norms above 65504: Inf in a float16 accumulation
        ("no_bias", 1e-3, 0.5),  # gradients of 1e-3 residuals / (B H): below float16's range
    ],
)
def test_ham_low_precision_matches_float64_of_the_same_weights(dtype, tol, kind, x_scale, residual):
    low, ref = _forecaster(kind).to(dtype), _forecaster(kind)
    ref.load_state_dict(low.state_dict())
    ref.double()
    x = (x_scale * torch.randn(32, T, F, generator=gen(2))).to(dtype)
    with torch.no_grad():
        pred = low(x).double()
        noise = torch.randn(32, H, F, generator=gen(3)).clamp(-3, 3)
        y = (pred + residual * noise * (pred.abs().mean() if kind == "no_bias" else 1)).to(dtype)
    got = HorizonActivationMap(low).attribute(x, y, per_layer=True)
    want = HorizonActivationMap(ref).attribute(x.double(), y.double(), per_layer=True)
    assert got.layer_causal.dtype == torch.float32  # norms accumulated and returned in float32
    peak = want.layer_causal.amax(0)
    for mode in ("layer_causal", "layer_anticausal"):
        error = (getattr(got, mode).double() - getattr(want, mode)).abs() / peak
        assert float(error.max()) < tol, mode
    attr = HorizonActivationMap(low).attribute(x, y, wrt="inputs", cutoff=2)
    expected = HorizonActivationMap(ref).attribute(x.double(), y.double(), wrt="inputs", cutoff=2)
    assert attr.dtype == dtype and bool(torch.isfinite(attr).all())
    assert float((attr.double() - expected).abs().max() / expected.abs().max()) < 5 * tol


# ---------------------------------------------------------------------------------------------
# 10. generators, and Captum-style calls without the ground truth


@pytest.mark.parametrize("bad", [0, np.random.default_rng(0), "seed"])
def test_lpm_generator_of_the_wrong_type(bad):
    with pytest.raises(TypeError, match=r"`generator` must be a torch.Generator"):
        LearnedPerturbationMask(SumOfFeature()).attribute(series(), epochs=1, generator=bad)


def test_ham_without_y_true_says_what_to_pass():
    x, _ = forecast_data()
    ham = HorizonActivationMap(mlp())
    with pytest.raises(TypeError, match=r"pass `y_true`, a tensor \(B, H\) or \(B, H, V\)"):
        ham.attribute(x)
    with pytest.raises(TypeError, match="y_true=y"):
        NoiseTunnel(ham).attribute(x, nt_type="smoothgrad", nt_samples=2, wrt="inputs")
