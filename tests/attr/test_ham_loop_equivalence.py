"""The batched HAM equals the straightforward loop (one backward pass per cut-off and mode)
on MLP, linear, recurrent and convolutional forecasters, for any H, B, V and chunk size."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from captum_ts.attr.horizon._reference import horizon_norms_loop
from captum_ts.attr.horizon.horizon_activation_map import HorizonActivationMap
from captum_ts.models.forecasters import GRUForecaster, LinearForecaster, MLPForecaster, NLinearForecaster

T = 7


class ConvForecaster(nn.Module):
    """Strided Conv1d, LayerNorm (a generic parameter) and a linear head."""

    def __init__(self, n_var, horizon):
        super().__init__()
        self.horizon, self.n_var = horizon, n_var
        self.conv = nn.Conv1d(n_var, 3, kernel_size=3, stride=2, padding=1, dilation=1)
        self.norm = nn.LayerNorm(3)
        self.head = nn.Linear(3 * 4, horizon * n_var)

    def forward(self, x):
        h = self.conv(x.transpose(1, 2)).relu()
        h = self.norm(h.transpose(1, 2))
        return self.head(h.flatten(1)).view(-1, self.horizon, self.n_var)


class SkipForecaster(nn.Module):
    """A trainable path around the head (no step-local shortcut) and a shared Linear
    called once per variate."""

    def __init__(self, n_var, horizon):
        super().__init__()
        self.body = nn.Linear(T, 5)
        self.head = nn.Linear(5, horizon)
        self.skip = nn.Linear(T, horizon, bias=False)

    def forward(self, x):
        outs = [self.head(self.body(x[..., v]).tanh()) + self.skip(x[..., v]) for v in range(x.shape[-1])]
        return torch.stack(outs, -1)


class CumulativeForecaster(nn.Module):
    """Every head output feeds all later steps (not step-local)."""

    def __init__(self, n_var, horizon):
        super().__init__()
        self.mlp = MLPForecaster(T, horizon, n_var, hidden=(4,))

    def forward(self, x):
        return self.mlp(x).cumsum(1)


BUILDERS = {
    "mlp": lambda v, h: MLPForecaster(T, h, v, hidden=(6, 5)),
    "linear": lambda v, h: LinearForecaster(T, h),
    "nlinear": lambda v, h: NLinearForecaster(T, h),
    "gru": lambda v, h: GRUForecaster(v, h, hidden_size=4),
    "conv": ConvForecaster,
    "skip": SkipForecaster,
    "cumulative": CumulativeForecaster,
}


def _relative_gap(ours, loop_c, loop_a):
    scale = max(float(loop_c.abs().max()), 1e-30)
    return (
        max(
            float((ours.layer_causal - loop_c).abs().max()),
            float((ours.layer_anticausal - loop_a).abs().max()),
        )
        / scale
    )


@pytest.mark.parametrize("name", ["mlp", "linear", "gru"])
@given(
    horizon=st.integers(1, 6),
    batch=st.integers(1, 4),
    n_var=st.integers(1, 3),
    chunk=st.one_of(st.none(), st.integers(1, 4)),
    per_variate=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_batched_equals_the_loop(name, horizon, batch, n_var, chunk, per_variate, seed):
    torch.manual_seed(seed)
    model = BUILDERS[name](n_var, horizon).double()
    x = torch.randn(batch, T, n_var, dtype=torch.float64)
    y = torch.randn(batch, horizon, n_var, dtype=torch.float64)
    variates = "each" if per_variate else None
    res = HorizonActivationMap(model).attribute(x, y, variates=variates, horizon_chunk_size=chunk)
    groups = tuple((v,) for v in range(n_var)) if per_variate else None
    loop_c, loop_a, names = horizon_norms_loop(model, x, y, groups=groups)
    assert res.layer_names == tuple(names)
    assert _relative_gap(res, loop_c, loop_a) < 1e-5


@pytest.mark.parametrize("name", ["nlinear", "conv", "skip", "cumulative"])
@pytest.mark.parametrize("chunk", [None, 2])
def test_other_architectures_equal_the_loop(name, chunk):
    torch.manual_seed(0)
    horizon, n_var = 5, 2
    model = BUILDERS[name](n_var, horizon).double()
    x = torch.randn(3, T, n_var, dtype=torch.float64)
    y = torch.randn(3, horizon, n_var, dtype=torch.float64)
    res = HorizonActivationMap(model).attribute(x, y, variates=[0, (0, 1)], horizon_chunk_size=chunk)
    loop_c, loop_a, _ = horizon_norms_loop(model, x, y, groups=((0,), (0, 1)))
    assert _relative_gap(res, loop_c, loop_a) < 1e-10
    expected_head = {"nlinear": "linear", "conv": "head", "skip": None, "cumulative": None}[name]
    assert res.head == expected_head


def test_float32_agrees_with_the_float64_loop():
    torch.manual_seed(0)
    model = MLPForecaster(T, 24, 2, hidden=(16, 16))
    x, y = torch.randn(8, T, 2), torch.randn(8, 24, 2)
    res = HorizonActivationMap(model).attribute(x, y, per_layer=True, horizon_chunk_size=5)
    loop_c, loop_a, _ = horizon_norms_loop(model.double(), x.double(), y.double())
    assert _relative_gap(res, loop_c.float(), loop_a.float()) < 1e-5


class _NoVmap(torch.autograd.Function):
    """Identity whose backward reads a Python number, which vmap cannot batch."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float(grad.sum() * 0 + 1)


def test_models_that_cannot_be_vectorised_fall_back_to_the_sequential_path():
    class Opaque(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(T, 4)
            self.scale = nn.Parameter(torch.ones(4, dtype=torch.float64))
            self.head = nn.Linear(4, 5)

        def forward(self, x):
            return self.head(_NoVmap.apply(self.body(x[..., 0]).tanh() * self.scale))

    torch.manual_seed(0)
    model = Opaque().double()
    x, y = torch.randn(3, T, 1, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    res = HorizonActivationMap(model).attribute(x, y, horizon_chunk_size=3)
    loop_c, loop_a, _ = horizon_norms_loop(model, x, y)
    assert res.backend == "sequential"
    assert _relative_gap(res, loop_c, loop_a) < 1e-10


def test_a_layer_used_outside_its_forward_is_handled_by_autograd():
    class Reused(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(T, T)
            self.head = nn.Linear(T, 4)

        def forward(self, x):
            z = self.body(x[..., 0]).tanh()
            z = z + nn.functional.linear(z, self.body.weight)  # invisible to the forward hook
            return self.head(z)

    torch.manual_seed(0)
    model = Reused().double()
    x, y = torch.randn(3, T, 1, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    res = HorizonActivationMap(model).attribute(x, y)
    loop_c, loop_a, _ = horizon_norms_loop(model, x, y)
    assert _relative_gap(res, loop_c, loop_a) < 1e-10
