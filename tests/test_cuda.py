"""Every method and metric runs on a GPU when the inputs and the model are there (skipped without one)."""

import pytest
import torch
from captum.attr import Saliency
from torch.utils.data import DataLoader, TensorDataset

from captum_ts import (
    GuidedAbsoluteGrad,
    HorizonActivationMap,
    LearnedPerturbationMask,
    SequenceDreaming,
    explain_loader,
)
from captum_ts.metrics import aup, continuity, deletion_auc, insertion_auc, rcap, selectivity
from captum_ts.models import GRUClassifier, MLPForecaster
from captum_ts.testing import make_model

pytestmark = [pytest.mark.cuda, pytest.mark.filterwarnings("ignore")]


def _both(model, x):
    return (model, x), (model.to("cuda"), x.to("cuda"))


def _close(gpu, cpu, tol=1e-4):
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=tol, rtol=tol)


def test_guided_absolute_grad_on_cuda():
    model, x = make_model("cnn", 16, 2, seed=0), torch.randn(4, 16, 2)
    cpu = GuidedAbsoluteGrad(model).attribute(x, target=1, generator=torch.Generator().manual_seed(0))
    gpu = GuidedAbsoluteGrad(model.cuda()).attribute(
        x.cuda(), target=1, generator=torch.Generator().manual_seed(0)
    )
    _close(gpu, cpu)


def test_gru_models_on_cuda_in_eval_mode():
    model = GRUClassifier(2, 2).eval().cuda()
    x = torch.randn(3, 10, 2, device="cuda")
    assert GuidedAbsoluteGrad(model).attribute(x, target=0, nt_samples=3).device.type == "cuda"
    assert SequenceDreaming(model).attribute(x, target=0, steps=3).device.type == "cuda"
    assert LearnedPerturbationMask(model).attribute(x, epochs=2).device.type == "cuda"


def test_horizon_activation_map_on_cuda():
    model = MLPForecaster(lookback=16, horizon=4, n_variates=2, hidden=(8,))
    x, y = torch.randn(4, 16, 2), torch.randn(4, 4, 2)
    cpu = HorizonActivationMap(model).attribute(x, y)
    gpu = HorizonActivationMap(model.cuda()).attribute(x.cuda(), y.cuda())
    _close(gpu.causal, cpu.causal)
    _close(gpu.anticausal, cpu.anticausal)


def test_metrics_on_cuda():
    model, x = make_model("cnn", 16, 2, seed=1), torch.randn(4, 16, 2)
    y = torch.tensor([0, 1, 1, 0])
    attr = Saliency(model).attribute(x, target=y, abs=True)
    cpu = [
        selectivity(model, x, attr, target=y, n_steps=4).curve,
        rcap(model, x, attr, target=y),
        deletion_auc(model, x, attr, target=y),
        insertion_auc(model, x, attr, target=y),
    ]
    model.cuda()
    xg, yg, ag = x.cuda(), y.cuda(), attr.cuda()
    gpu = [
        selectivity(model, xg, ag, target=yg, n_steps=4).curve,
        rcap(model, xg, ag, target=yg),
        deletion_auc(model, xg, ag, target=yg),
        insertion_auc(model, xg, ag, target=yg),
    ]
    for g, c in zip(gpu, cpu):
        _close(g, c)
    assert continuity(Saliency(model).attribute, xg, target=yg, n_perturb_samples=2).device.type == "cuda"
    assert aup(ag, (ag > 0.5).float()).device.type in ("cuda", "cpu")


def test_explain_loader_moves_batches_to_the_model():
    model = make_model("mlp", 16, 2, seed=2)
    x, y = torch.randn(7, 16, 2), torch.randint(0, 2, (7,))
    cpu = explain_loader(Saliency(model), DataLoader(TensorDataset(x, y), batch_size=3))
    gpu = explain_loader(Saliency(model.cuda()), DataLoader(TensorDataset(x, y), batch_size=3))
    torch.testing.assert_close(gpu, cpu, atol=1e-5, rtol=1e-5)
