"""Every metric on a real 1-D CNN with Captum attributions: Captum calling style,
(B, T, F) and (B, F, T) layouts, no_grad, no mutation of the model or the data."""

import pytest
import torch
from captum.attr import IntegratedGradients, Saliency
from hypothesis import given
from hypothesis import strategies as st

from captum_ts._state import snapshot_parameters
from captum_ts.metrics import continuity, deletion_auc, insertion_auc, rcap, selectivity
from captum_ts.models import CNN1dClassifier


def make():
    torch.manual_seed(0)
    model = CNN1dClassifier(2, 3, channels=4, kernel_size=3).eval()
    x = torch.randn(4, 16, 2)
    y = torch.tensor([0, 1, 2, 1])
    return model, x, y


def test_all_metrics_accept_captum_attribute_methods_and_leave_everything_unchanged():
    model, x, y = make()
    x0, before = x.clone(), snapshot_parameters(model)
    sal = Saliency(model)
    attr = sal.attribute(x, target=y, abs=True)
    sel = selectivity(model, x, attr, target=y, n_steps=5, patch_size=2)
    rec = selectivity(
        model,
        x,
        explanation_func=sal.attribute,
        target=y,
        n_steps=3,
        patch_size=2,
        recompute=True,
        explanation_kwargs={"abs": True},
    )
    torch.testing.assert_close(rec.curve[:, :2], sel.curve[:, :2])  # the first removal is the same
    cont = continuity(
        sal.attribute, x, target=y, n_perturb_samples=4, generator=torch.Generator().manual_seed(0)
    )
    ig = IntegratedGradients(model)
    cont_ig = continuity(
        ig.attribute, x, target=y, baselines=torch.zeros_like(x), n_steps=8, n_perturb_samples=3
    )
    scores = [
        rcap(model, x, attr, target=y),
        deletion_auc(model, x, attr, target=y),
        insertion_auc(model, x, attr),
    ]
    for s in [sel.auc, sel.aopc, cont, cont_ig, *scores]:
        assert s.shape == (4,) and torch.isfinite(s).all()
    assert torch.equal(x, x0) and not model.training
    assert all(torch.equal(a, b) for a, b in zip(before, snapshot_parameters(model)))
    assert all(p.grad is None for p in model.parameters())


def test_channel_first_models_with_feature_dim_one():
    model, x, y = make()
    first = CNN1dClassifier(2, 3, channels=4, kernel_size=3, channels_last=False).eval()
    first.load_state_dict(model.state_dict())
    xt = x.transpose(1, 2).contiguous()
    attr = Saliency(model).attribute(x, target=y, abs=True)
    at = attr.transpose(1, 2)
    for fw in (False, True):
        a = selectivity(model, x, attr, target=y, n_steps=6, patch_size=3, feature_wise=fw)
        b = selectivity(first, xt, at, target=y, n_steps=6, patch_size=3, feature_wise=fw, feature_dim=1)
        torch.testing.assert_close(a.curve, b.curve)
    da = deletion_auc(model, x, attr, target=y, baselines="blur")
    db = deletion_auc(first, xt, at, target=y, baselines="blur", feature_dim=1)
    torch.testing.assert_close(da, db)


def test_metrics_run_under_no_grad():
    model, x, y = make()
    sal = Saliency(model)
    with torch.no_grad():
        attr = sal.attribute(x, target=y)
        selectivity(model, x, explanation_func=sal.attribute, target=y, n_steps=2, recompute=True)
        continuity(sal.attribute, x, target=y, n_perturb_samples=2)
        rcap(model, x, attr, target=y)
        deletion_auc(model, x, attr, target=y)


@given(st.lists(st.integers(0, 5), min_size=1, max_size=6, unique=True))
def test_an_example_scores_the_same_whatever_else_is_in_the_batch(rows):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(20, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    )
    net = net.double()
    x = torch.randn(6, 10, 2, dtype=torch.float64)
    a = torch.randn(6, 10, 2, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    idx = torch.tensor(rows)
    metrics = [
        lambda x, a, y: selectivity(net, x, a, target=y, n_steps=6, patch_size=2).curve,
        lambda x, a, y: rcap(net, x, a, target=y),
        lambda x, a, y: deletion_auc(net, x, a, target=y),
        lambda x, a, y: insertion_auc(net, x, a, target=y),
    ]
    for metric in metrics:
        torch.testing.assert_close(metric(x[idx], a[idx], y[idx]), metric(x, a, y)[idx])


@pytest.mark.cuda
def test_every_metric_runs_on_cuda():
    model, x, y = make()
    model, x, y = model.cuda(), x.cuda(), y.cuda()
    attr = Saliency(model).attribute(x, target=y, abs=True)
    outs = [
        selectivity(model, x, attr, target=y, n_steps=4).auc,
        continuity(
            Saliency(model).attribute, x, target=y, n_perturb_samples=2, generator=torch.Generator("cuda")
        ),
        rcap(model, x, attr, target=y),
        deletion_auc(model, x, attr, target=y),
        insertion_auc(model, x, attr, target=y),
    ]
    assert all(o.device.type == "cuda" and o.shape == (4,) for o in outs)
