import pytest
import torch

from captum_ts import GuidedAbsoluteGrad
from captum_ts.datasets import bumps
from captum_ts.models import FCNClassifier, TransformerClassifier, accuracy, fit_classifier


def _fcn():
    torch.manual_seed(0)
    return FCNClassifier(3, 4, channels=(8, 6), kernel_sizes=(5, 3))


def _transformer():
    torch.manual_seed(0)
    return TransformerClassifier(3, 4, d_model=8, n_heads=2, n_layers=1, dim_feedforward=16, max_len=40)


@pytest.mark.parametrize("make", [_fcn, _transformer])
@pytest.mark.parametrize("length", [1, 7, 40])
def test_shapes_and_batch_independence_in_eval(make, length):
    model = make().eval()
    x = torch.randn(5, length, 3)
    out = model(x)
    assert out.shape == (5, 4)
    # eval mode: an example's logits do not depend on the rest of the batch
    assert torch.allclose(model(x[2:3]), out[2:3], atol=1e-5)


def test_fcn_channels_first_matches_channels_last():
    last = _fcn().eval()
    first = FCNClassifier(3, 4, channels=(8, 6), kernel_sizes=(5, 3), channels_last=False).eval()
    first.load_state_dict(last.state_dict())
    x = torch.randn(3, 11, 3)
    assert torch.allclose(first(x.transpose(1, 2)), last(x), atol=1e-6)


def test_fcn_is_the_papers_block_structure():
    model = FCNClassifier(2, 3)
    kinds = [type(m).__name__ for m in model.features]
    assert kinds == ["ConstantPad1d", "Conv1d", "BatchNorm1d", "ReLU"] * 3
    assert [m.kernel_size[0] for m in model.features if isinstance(m, torch.nn.Conv1d)] == [8, 5, 3]
    # global average pooling: a shift in time (circular, away from the padded edges) is invisible
    model.eval()
    x = torch.zeros(1, 60, 2)
    x[0, 20:25] = 1.0
    assert torch.allclose(model(x), model(torch.roll(x, 10, dims=1)), atol=1e-5)


def test_fcn_train_mode_updates_batchnorm_but_eval_does_not():
    model = _fcn()
    norm = model.features[2]
    before = norm.running_mean.clone()
    model.eval()(torch.randn(4, 9, 3) + 3)
    assert torch.equal(norm.running_mean, before)
    model.train()(torch.randn(4, 9, 3) + 3)
    assert not torch.equal(norm.running_mean, before)


def test_transformer_sees_order_through_the_positional_embedding():
    model = _transformer().eval()
    x = torch.randn(2, 10, 3)
    assert not torch.allclose(model(x), model(x.flip(1)), atol=1e-4)
    with torch.no_grad():
        model.position.zero_()  # without positions, mean pooling makes it permutation invariant
    assert torch.allclose(model(x), model(x.flip(1)), atol=1e-5)


def test_transformer_no_grad_fast_path_matches_the_autograd_path():
    # metrics run the model under no_grad (PyTorch's fused encoder path), attributors with grad
    model = _transformer().eval()
    x = torch.randn(6, 40, 3)
    with torch.no_grad():
        fast = model(x)
    slow = model(x.clone().requires_grad_())
    assert torch.allclose(fast, slow, atol=1e-5)


@pytest.mark.parametrize("make", [_fcn, _transformer])
def test_input_gradients_are_finite_and_reach_every_step(make):
    model = make().eval()
    x = torch.randn(3, 12, 3)
    attr = GuidedAbsoluteGrad(model).attribute(
        x, target=1, nt_samples=4, generator=torch.Generator().manual_seed(0), normalize=False
    )
    assert attr.shape == x.shape and bool(torch.isfinite(attr).all())
    assert bool((attr.sum(-1) > 0).all())


def test_transformer_refuses_series_longer_than_max_len():
    with pytest.raises(ValueError, match="41 steps but this model was built with `max_len=40`"):
        _transformer()(torch.zeros(1, 41, 3))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: TransformerClassifier(3, 2, d_model=10, n_heads=4), r"`d_model` \(10\) must be a multiple"),
        (lambda: TransformerClassifier(3, 2, max_len=0), "`max_len` must be a positive integer"),
        (lambda: FCNClassifier(3, 2, channels=(8, 8), kernel_sizes=(3,)), "one width and one kernel"),
        (lambda: FCNClassifier(3, 2, channels=(), kernel_sizes=()), "at least one block"),
        (lambda: FCNClassifier(3, 2, channels=(8, 0), kernel_sizes=(3, 3)), r"`channels\[1\]` must be"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    ("make", "epochs", "lr"),
    [
        (lambda: FCNClassifier(3, 2, channels=(8, 8), kernel_sizes=(5, 3)), 3, 1e-2),
        (lambda: TransformerClassifier(3, 2, 16, 2, 1, dim_feedforward=32, max_len=24), 6, 3e-3),
    ],
)
def test_learns_the_bumps_set(make, epochs, lr):
    train, test = bumps(128, length=24, width=6, seed=0), bumps(200, length=24, width=6, seed=1)
    torch.manual_seed(0)
    model = fit_classifier(make(), train.inputs, train.labels, epochs=epochs, lr=lr, batch_size=32)
    assert not model.training
    assert accuracy(model, test.inputs, test.labels) > 0.9
