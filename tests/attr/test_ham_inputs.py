"""HAM's input mode: a Captum-style attribution of one cut-off's masked loss."""

import pytest
import torch
from captum.attr import NoiseTunnel
from captum.metrics import sensitivity_max

from captum_ts._state import snapshot_parameters
from captum_ts.attr.horizon.horizon_activation_map import HorizonActivationMap
from captum_ts.models.forecasters import GRUForecaster, MLPForecaster

B, T, H, V = 4, 8, 6, 2


def _setup():
    torch.manual_seed(0)
    model = MLPForecaster(T, H, V, hidden=(8,)).double()
    x = torch.randn(B, T, V, dtype=torch.float64)
    y = torch.randn(B, H, V, dtype=torch.float64)
    return model, x, y


@pytest.mark.parametrize(
    ("cutoff", "mode"), [(0, "causal"), (3, "causal"), (3, "anticausal"), (6, "anticausal")]
)
def test_gradient_of_each_examples_masked_loss(cutoff, mode):
    model, x, y = _setup()
    attr = HorizonActivationMap(model).attribute(x, y, wrt="inputs", cutoff=cutoff, mode=mode)
    xr = x.clone().requires_grad_()
    mask = (torch.arange(H) < cutoff) if mode == "causal" else (torch.arange(H) >= cutoff)
    per_example = ((model(xr) - y).square().mean(-1) * mask).sum(-1) / H
    (expected,) = torch.autograd.grad(per_example.sum(), xr)
    torch.testing.assert_close(attr, expected)
    assert attr.shape == x.shape and attr.is_contiguous()


def test_causal_plus_anticausal_is_the_full_loss_and_default_is_full():
    model, x, y = _setup()
    ham = HorizonActivationMap(model)
    full = ham.attribute(x, y, wrt="inputs")
    parts = ham.attribute(x, y, wrt="inputs", cutoff=2) + ham.attribute(
        x, y, wrt="inputs", cutoff=2, mode="anticausal"
    )
    torch.testing.assert_close(parts, full)
    torch.testing.assert_close(ham.attribute(x, y, wrt="inputs", mode="anticausal"), full)


def test_tuple_inputs_and_model_untouched():
    model, x, y = _setup()
    before = snapshot_parameters(model)
    wrapped = HorizonActivationMap(lambda a, b: model(a + b), model=model)
    attr = wrapped.attribute((x, torch.zeros_like(x)), y, wrt="inputs", cutoff=4)
    assert isinstance(attr, tuple) and len(attr) == 2
    torch.testing.assert_close(attr[0], attr[1])
    assert all(torch.equal(a, b) for a, b in zip(before, snapshot_parameters(model)))
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    assert not x.requires_grad


def test_captum_wrappers_repeat_y_true_with_the_inputs():
    model, x, y = _setup()
    ham = HorizonActivationMap(model)
    smooth = NoiseTunnel(ham).attribute(
        x, nt_type="smoothgrad", nt_samples=3, stdevs=0.0, y_true=y, wrt="inputs", cutoff=3
    )
    torch.testing.assert_close(smooth, ham.attribute(x, y, wrt="inputs", cutoff=3))
    sens = sensitivity_max(ham.attribute, x, y_true=y, wrt="inputs", cutoff=3, n_perturb_samples=2)
    assert sens.shape == (B,) and bool(torch.isfinite(sens).all())


def test_plain_function_and_recurrent_model():
    _, x, y = _setup()
    attr = HorizonActivationMap(lambda z: z[:, -H:] * 2).attribute(x, y, wrt="inputs", cutoff=H)
    expected = torch.zeros_like(x)
    expected[:, -H:] = 2 * 2 * (2 * x[:, -H:] - y) / (V * H)
    torch.testing.assert_close(attr, expected)
    gru = GRUForecaster(V, H, hidden_size=4).double()
    assert HorizonActivationMap(gru).attribute(x, y, wrt="inputs", cutoff=1, variates=1).shape == x.shape


def test_input_mode_errors():
    model, x, y = _setup()
    ham = HorizonActivationMap(model)
    with pytest.raises(ValueError, match="cutoff"):
        ham.attribute(x, y, wrt="inputs", cutoff=H + 1)
    with pytest.raises(ValueError, match="mode"):
        ham.attribute(x, y, wrt="inputs", mode="backward")
    with pytest.raises(ValueError, match="batch"):
        ham.attribute(x, y[:3], wrt="inputs")
    with pytest.raises(ValueError, match="one group"):
        ham.attribute(x, y, wrt="inputs", variates="each")
    with pytest.raises(ValueError, match="wrt='inputs'"):
        ham.attribute(x, y, cutoff=2)
