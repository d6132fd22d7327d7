"""HorizonActivationMap: the checks of the method's specification (closed forms, endpoints,
complementarity, proportionality, batch averaging, scale, shapes, no side effects, errors)."""

import pytest
import torch
from captum.attr import GradientAttribution
from torch import nn

from captum_ts._state import snapshot_parameters
from captum_ts.attr.horizon.horizon_activation_map import HorizonActivationMap
from captum_ts.models.forecasters import GRUForecaster, MLPForecaster, NLinearForecaster

B, T, H, V = 6, 10, 5, 2


def _mlp(dtype=torch.float64):
    torch.manual_seed(0)
    return MLPForecaster(T, H, V, hidden=(8, 8)).to(dtype)


def _data(dtype=torch.float64, batch=B, horizon=H, n_var=V, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, T, n_var, generator=g, dtype=dtype),
        torch.randn(batch, horizon, n_var, generator=g, dtype=dtype),
    )


def _full_grads(model, x, y):
    loss = (model(x) - y).square().mean()
    return torch.autograd.grad(loss, [p for p in model.parameters()])


def test_is_a_captum_gradient_attribution():
    ham = HorizonActivationMap(_mlp())
    assert isinstance(ham, GradientAttribution)
    assert hasattr(HorizonActivationMap.attribute, "__wrapped__")
    assert ham.get_name() == "Horizon Activation Map"


def test_endpoints_are_zero_and_the_full_loss():
    model = _mlp()
    x, y = _data()
    res = HorizonActivationMap(model).attribute(x, y, per_layer=True)
    full = torch.stack([g.norm() for g in _full_grads(model, x, y)])
    assert torch.equal(res.causal[0], torch.zeros_like(full))
    assert torch.equal(res.anticausal[-1], torch.zeros_like(full))
    torch.testing.assert_close(res.causal[-1], full, rtol=1e-12, atol=0)
    torch.testing.assert_close(res.anticausal[0], full, rtol=1e-12, atol=0)
    model_curve = HorizonActivationMap(model).attribute(x, y)
    torch.testing.assert_close(model_curve.full, full.mean(), rtol=1e-12, atol=0)


def test_complementarity_bounds_per_tensor():
    model = _mlp()
    x, y = _data()
    res = HorizonActivationMap(model).attribute(x, y, per_layer=True)
    c, a, full = res.causal, res.anticausal, res.causal[-1]
    slack = 1e-12 * full.max()
    assert bool(((c - a).abs() <= full + slack).all())
    assert bool((full <= c + a + slack).all())


def test_shared_scalar_model_is_exactly_proportional():
    class Constant(nn.Module):
        def __init__(self):
            super().__init__()
            self.theta = nn.Parameter(torch.tensor(1.7, dtype=torch.float64))

        def forward(self, x):
            return self.theta * torch.ones(x.shape[0], 8, 3, dtype=x.dtype)

    x = torch.randn(4, T, 3, dtype=torch.float64)
    res = HorizonActivationMap(Constant()).attribute(x, torch.zeros(4, 8, 3, dtype=torch.float64))
    for mode in ("causal", "anticausal"):
        torch.testing.assert_close(res.curves(mode), res.line(mode), rtol=0, atol=1e-14)
        assert abs(float(res.signed_area(mode))) < 1e-13
    torch.testing.assert_close(res.causal, res.full * torch.arange(9, dtype=torch.float64) / 8)
    # the full-loss gradient: d/dtheta mean (theta - 0)^2 = 2 theta
    torch.testing.assert_close(res.full, torch.tensor(2 * 1.7, dtype=torch.float64))


def test_linear_closed_form():
    torch.manual_seed(3)
    b, t, h = 7, 9, 6
    model = nn.Linear(t, h).double()
    x = torch.randn(b, t, dtype=torch.float64)
    y = torch.randn(b, h, dtype=torch.float64)
    res = HorizonActivationMap(model).attribute(x, y, per_layer=True)
    resid = (model(x) - y).detach()  # (b, h)
    for cut in range(h + 1):
        for mode, mask in (("causal", torch.arange(h) < cut), ("anticausal", torch.arange(h) >= cut)):
            m = mask.double()
            grad_w = 2 / (b * h) * (resid * m).T @ x  # sum_b sum_t m_t r_bt e_t x_b^T
            grad_b = 2 / (b * h) * (resid * m).sum(0)
            got = res.curves(mode)[cut]
            torch.testing.assert_close(got[0], grad_w.norm(), rtol=1e-6, atol=1e-12)
            torch.testing.assert_close(got[1], grad_b.norm(), rtol=1e-6, atol=1e-12)


def test_parameters_grads_flags_and_mode_unchanged():
    model = _mlp().train()
    model.head.bias.requires_grad_(False)
    before = snapshot_parameters(model)
    stale = torch.ones_like(model.head.weight)
    model.head.weight.grad = stale
    x, y = _data()
    res = HorizonActivationMap(model).attribute(x, y, per_layer=True, model_mode="eval")
    assert "head.bias" not in res.layer_names  # frozen parameters are not attributed
    assert all(torch.equal(a, b) for a, b in zip(before, snapshot_parameters(model)))
    assert model.head.weight.grad is stale
    assert all(p.grad is None for n, p in model.named_parameters() if n != "head.weight")
    assert model.training and all(m.training for m in model.modules())
    assert not model.head.bias.requires_grad and model.head.weight.requires_grad


def test_model_restored_after_an_exception():
    model = _mlp().train()
    before = snapshot_parameters(model)
    x, y = _data()

    def failing(pred, target):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        HorizonActivationMap(model).attribute(x, y, error=failing)
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(a, b) for a, b in zip(before, snapshot_parameters(model)))
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert not any(m._forward_hooks for m in model.modules())


def test_train_mode_runs_train_and_restores_batchnorm_statistics():
    model = nn.Sequential(nn.Flatten(), nn.Linear(T * V, 8), nn.BatchNorm1d(8), nn.Linear(8, H * V)).double()
    model.eval()
    x, y = _data()
    before = snapshot_parameters(model)
    HorizonActivationMap(model).attribute(x, y.flatten(1), model_mode="train")
    assert all(torch.equal(a, b) for a, b in zip(before, snapshot_parameters(model)))
    assert not model.training


def test_mean_of_norms_over_two_batches_whose_gradients_cancel():
    class Scalar(nn.Module):
        def __init__(self):
            super().__init__()
            self.theta = nn.Parameter(torch.tensor(2.0, dtype=torch.float64))

        def forward(self, x):
            return self.theta * x

    x = torch.ones(3, 4, 1, dtype=torch.float64)
    first = (x, torch.zeros_like(x))  # residual +theta
    second = (x, 4 * x)  # residual theta - 4 = -theta: the gradients cancel
    ham = HorizonActivationMap(Scalar())
    res = ham.attribute_loader([first, second])
    each = [ham.attribute(*batch) for batch in (first, second)]
    torch.testing.assert_close(res.causal, (each[0].causal + each[1].causal) / 2)
    torch.testing.assert_close(res.causal, each[0].causal)  # equal norms, opposite gradients
    assert float(res.full) > 1.0  # the norm of the mean gradient would be 0
    assert res.n_batches == 2


def test_scaling_the_loss_scales_every_curve_and_not_the_normalised_one():
    model = _mlp()
    x, y = _data()
    ham = HorizonActivationMap(model)
    base = ham.attribute(x, y, per_layer=True)
    scaled = ham.attribute(x, y, per_layer=True, error=lambda p, t: 3.0 * (p - t).square())
    torch.testing.assert_close(scaled.causal, 3.0 * base.causal)
    torch.testing.assert_close(scaled.anticausal, 3.0 * base.anticausal)
    torch.testing.assert_close(scaled.normalized().causal, base.normalized().causal)
    torch.testing.assert_close(scaled.normalized().scale, 3.0 * base.normalized().scale)


def test_mae_error_matches_its_closed_form_on_a_linear_model():
    torch.manual_seed(0)
    model = nn.Linear(T, H).double()
    x, y = _data(n_var=1)
    x, y = x[..., 0], y[..., 0]
    res = HorizonActivationMap(model).attribute(x, y, error="mae", per_layer=True)
    sign = torch.sign(model(x) - y).detach()
    grad_w = (sign * (torch.arange(H) < 2)).T @ x / (B * H)
    torch.testing.assert_close(res.causal[2, 0], grad_w.norm())


def test_shapes():
    model = _mlp()
    x, y = _data()
    ham = HorizonActivationMap(model)
    n_layers = len(list(model.parameters()))
    assert ham.attribute(x, y).causal.shape == (H + 1,)
    assert ham.attribute(x, y, per_layer=True).causal.shape == (H + 1, n_layers)
    assert ham.attribute(x, y, variates="each").anticausal.shape == (H + 1, V)
    res = ham.attribute(x, y, variates=[0, (0, 1)], per_layer=True)
    assert res.causal.shape == (H + 1, 2, n_layers)
    assert res.cutoffs.tolist() == list(range(H + 1))
    assert res.layer_names == tuple(n for n, _ in model.named_parameters())
    assert res.variates == ((0,), (0, 1))


def test_the_group_of_all_variates_is_the_default_curve():
    model = _mlp()
    x, y = _data()
    ham = HorizonActivationMap(model)
    torch.testing.assert_close(
        ham.attribute(x, y, variates=[(0, 1)]).causal[:, 0], ham.attribute(x, y).causal
    )


def test_one_variate_curve_is_the_loss_of_that_variate():
    model = _mlp()
    x, y = _data()
    res = HorizonActivationMap(model).attribute(x, y, variates=1, per_layer=True)
    loss = (model(x)[..., 1] - y[..., 1]).square().mean()  # mean over batch and steps (1/H)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    torch.testing.assert_close(res.causal[-1, 0], torch.stack([g.norm() for g in grads]))


def test_two_dim_forecasts_and_longer_outputs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(T * V, 12)).double()
    x, _ = _data()
    y2 = torch.randn(B, 7, dtype=torch.float64)
    res = HorizonActivationMap(model).attribute(x, y2)  # output (B, 12) is cut to its last 7 steps
    ref = HorizonActivationMap(lambda z: model(z)[:, -7:], model=model).attribute(x, y2)
    torch.testing.assert_close(res.causal, ref.causal)
    assert res.horizon == 7


def test_float32_and_gru():
    torch.manual_seed(0)
    model = GRUForecaster(V, H, hidden_size=6)
    x, y = _data(torch.float32)
    res = HorizonActivationMap(model).attribute(x, y)
    assert res.causal.dtype == torch.float32 and res.head == "head"
    assert bool((res.causal[1:] > 0).all())


def test_works_under_no_grad_and_is_deterministic():
    model = _mlp()
    x, y = _data()
    ham = HorizonActivationMap(model)
    with torch.no_grad():
        a = ham.attribute(x, y)
    b = ham.attribute(x, y)
    assert torch.equal(a.causal, b.causal) and torch.equal(a.anticausal, b.anticausal)


def test_nlinear_forecaster_uses_the_head_shortcut():
    torch.manual_seed(0)
    model = NLinearForecaster(T, H).double()
    x, y = _data()
    res = HorizonActivationMap(model).attribute(x, y)
    assert res.head == "linear" and res.backend == "batched"


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (torch.zeros(B, H, V + 1, dtype=torch.float64), "y_true"),
        (torch.zeros(B + 1, H, V, dtype=torch.float64), "batch"),
        (torch.zeros(B, H + 1, V, dtype=torch.float64), "model output"),
        (torch.zeros(B, 0, V, dtype=torch.float64), "H = 0"),
        (torch.full((B, H, V), float("nan"), dtype=torch.float64), "NaN"),
        (torch.zeros(B, H, V, 2, dtype=torch.float64), "shape"),
    ],
)
def test_bad_targets_raise_clear_errors(y, match):
    with pytest.raises(ValueError, match=match):
        HorizonActivationMap(_mlp()).attribute(_data()[0], y)


def test_integer_targets_and_bad_options_raise():
    model = _mlp()
    x, y = _data()
    ham = HorizonActivationMap(model)
    with pytest.raises(TypeError, match="floating point"):
        ham.attribute(x, y.long())
    with pytest.raises(ValueError, match="error"):
        ham.attribute(x, y, error="rmse")
    with pytest.raises(ValueError, match="model_mode"):
        ham.attribute(x, y, model_mode="test")
    with pytest.raises(ValueError, match="horizon_chunk_size"):
        ham.attribute(x, y, horizon_chunk_size=0)
    with pytest.raises(ValueError, match="wrt"):
        ham.attribute(x, y, wrt="weights")
    with pytest.raises(ValueError, match="variates"):
        ham.attribute(x, y, variates=[V])
    with pytest.raises(ValueError, match="point-wise"):
        ham.attribute(x, y, error=lambda p, t: (p - t).square().mean())
    with pytest.raises(ValueError, match="NaN"):
        ham.attribute(x * float("nan"), y)


def test_models_without_parameters_raise():
    x, y = _data()
    with pytest.raises(ValueError, match=r"nn\.Module"):
        HorizonActivationMap(lambda z: z[:, -H:]).attribute(x, y)
    frozen = _mlp().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        HorizonActivationMap(frozen).attribute(x, y)
    with pytest.raises(ValueError, match="no trainable parameters"):
        HorizonActivationMap(nn.Identity()).attribute(x[:, -H:], y)
    model = _mlp()
    with pytest.raises(RuntimeError, match="no autograd graph back to the model's trainable parameters"):
        HorizonActivationMap(lambda z: model(z).detach(), model=model).attribute(x, y)
