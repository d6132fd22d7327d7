"""LRP on the package's reference CNN (pooling as modules), and float16/bfloat16 models."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from captum_ts import LRP, DeepTaylor
from captum_ts.models import CNN1dClassifier, GRUClassifier

KEYS = [
    "features.0.weight",
    "features.0.bias",
    "features.2.weight",
    "features.2.bias",
    "head.weight",
    "head.bias",
]


def functional_pooling(model, x):
    """The classifier's forward as it was written before: pooling by ``amax``/``mean``."""
    h = model.features(x.transpose(1, 2) if model.channels_last else x)
    return model.head(h.amax(-1) if model.pooling == "max" else h.mean(-1))


@settings(max_examples=10)
@given(
    st.sampled_from(["max", "mean"]),
    st.booleans(),
    st.integers(1, 40),
    st.sampled_from([torch.float32, torch.float64]),
    st.integers(0, 2**16),
)
def test_pooling_modules_give_bit_identical_outputs_and_the_same_state_dict(pooling, last, t, dtype, seed):
    torch.manual_seed(seed)
    model = CNN1dClassifier(3, 2, channels=5, kernel_size=3, channels_last=last, pooling=pooling).to(dtype)
    assert list(model.state_dict()) == KEYS
    x = torch.randn(4, *((t, 3) if last else (3, t)), dtype=dtype)
    assert torch.equal(model(x), functional_pooling(model, x))


def bias_free_cnn(pooling, seed):
    torch.manual_seed(seed)
    model = CNN1dClassifier(2, 3, channels=4, kernel_size=3, pooling=pooling).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
    return model


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_lrp0_on_the_bias_free_reference_cnn_equals_gradient_times_input(pooling):
    model = bias_free_cnn(pooling, 0)
    x = torch.randn(5, 11, 2, dtype=torch.float64)
    attr = LRP(model, "zero").attribute(x, target=2)
    leaf = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(model(leaf)[:, 2].sum(), leaf)
    expected = grad * x  # average pooling keeps its epsilon (1e-9) in every composite
    assert float((attr - expected).abs().max()) < 1e-6 * float(expected.abs().max())


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_default_lrp_and_deep_taylor_run_on_the_reference_cnn(pooling):
    torch.manual_seed(1)
    model = CNN1dClassifier(2, 3, channels=4, kernel_size=3, pooling=pooling).double().eval()
    x = torch.rand(4, 9, 2, dtype=torch.float64)
    attr, delta = LRP(model).attribute(x, target=1, return_convergence_delta=True)
    assert attr.shape == x.shape and attr.dtype == torch.float64
    assert torch.allclose(attr.sum((1, 2)) + delta, model(x)[:, 1].detach())
    dtd = DeepTaylor(model).attribute(x, target=1, bounds=(0.0, 1.0))
    assert dtd.shape == x.shape and bool(torch.isfinite(dtd).all())


def conv_net():
    """Bias-free: an all-zero example makes every denominator exactly 0."""
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Conv1d(2, 4, 3, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(24, 2, bias=False)
    ).eval()


METHODS = {
    "epsilon": lambda m, x: LRP(m).attribute(x, target=0),
    "epsilon-plus-flat": lambda m, x: LRP(m, "epsilon-plus-flat").attribute(x, target=0),
    "deep-taylor": lambda m, x: DeepTaylor(m).attribute(x, target=0, bounds=(0.0, 1.0)),
}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_low_precision_models_get_finite_relevance_in_their_dtype(dtype, method):
    """float16 cannot hold eps = 1e-9: relevance is computed in float32 and returned in the input's dtype."""
    model = conv_net()
    x = torch.rand(3, 2, 8)
    x[0] = 0.0  # z = 0 everywhere: 0 / stab(0) must be 0, not 0 / 0
    low = METHODS[method](model.to(dtype), x.to(dtype))
    assert low.dtype == dtype and bool(torch.isfinite(low).all())
    assert torch.equal(low[0].float(), torch.zeros(2, 8))
    ref = METHODS[method](model.float(), x.to(dtype).float())
    assert float((low.float() - ref).abs().max()) <= 0.05 * float(ref.abs().max())


class LSTMLastStep(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn, self.head = nn.LSTM(2, 4, batch_first=True), nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


@pytest.mark.parametrize(
    "make", [lambda: GRUClassifier(2, 2, hidden_size=4), LSTMLastStep], ids=["GRU", "LSTM"]
)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_recurrent_model_gets_finite_relevance(dtype, make):
    torch.manual_seed(3)
    model = make().eval().to(dtype)
    x = torch.randn(3, 6, 2).to(dtype)
    low = LRP(model).attribute(x, target=1)
    ref = LRP(model.float()).attribute(x.float(), target=1)  # the same (rounded) weights in float32
    assert low.dtype == dtype and bool(torch.isfinite(low).all())
    # the forward itself runs in low precision (bfloat16: 8 bits), so agreement is that of its outputs
    tolerance = {torch.float16: 0.02, torch.bfloat16: 0.25}[dtype]
    assert float((low.float() - ref).abs().max()) <= tolerance * float(ref.abs().max())
