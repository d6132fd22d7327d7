"""Every CAM method leaves the model and the inputs as they were, also when it raises."""

import threading

import pytest
import torch
from torch import nn

from captum_ts import CAM, GuidedGradCam, LayerGradCam, LayerGradCamPlusPlus
from captum_ts._state import snapshot_parameters


class TrainModeNet(nn.Module):
    """Conv -> BatchNorm -> ReLU -> Dropout -> GAP -> Linear, left in train mode."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(2, 4, 3, padding=1)
        self.norm = nn.BatchNorm1d(4)
        self.relu = nn.ReLU()
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.drop(self.relu(self.norm(self.conv(x)))).mean(-1))


def make(method, model):
    if method is CAM:
        return CAM(model, model.drop, layout="channels_first")
    return method(model, model.norm)


def call(attributor, x, target):
    if isinstance(attributor, GuidedGradCam):
        return attributor.attribute(x, target=target, input_time_dim=2)
    return attributor.attribute(x, target=target)


def state(model):
    return (
        snapshot_parameters(model),
        [p.requires_grad for p in model.parameters()],
        [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        [m.training for m in model.modules()],
    )


def assert_same(before, after):
    for a, b in zip(before[0], after[0]):
        assert torch.equal(a, b)
    assert before[1] == after[1] and before[3] == after[3]
    for a, b in zip(before[2], after[2]):
        assert (a is None and b is None) or torch.equal(a, b)


@pytest.mark.parametrize("method", [LayerGradCam, LayerGradCamPlusPlus, CAM, GuidedGradCam])
def test_model_and_inputs_untouched_and_eval_mode_inside(method):
    model = TrainModeNet().train()
    model.conv.weight.grad = torch.ones_like(model.conv.weight)
    model.head.bias.requires_grad_(False)
    x = torch.randn(3, 2, 10)
    x_copy = x.clone()
    before = state(model)
    attributor = make(method, model)
    first = call(attributor, x, 1)
    assert_same(before, state(model))
    assert torch.equal(x, x_copy) and not x.requires_grad and x.grad is None
    # eval mode inside: dropout off and running statistics used, so the map is reproducible
    assert torch.equal(first, call(attributor, x, 1))
    for m in model.modules():
        assert not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks)
    with pytest.raises(ValueError, match="out of range"):
        call(attributor, x, 7)
    assert_same(before, state(model))
    for m in model.modules():
        assert not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks)
    assert not torch._C._is_torch_function_mode_enabled()


def test_two_threads_on_one_model_get_the_serial_results():
    model = TrainModeNet()
    xs = [torch.randn(2, 2, 10) for _ in range(4)]
    gc = GuidedGradCam(model, model.norm)
    serial = [gc.attribute(x, target=0, input_time_dim=2) for x in xs]
    results = [None] * 4

    def work(i):
        results[i] = gc.attribute(xs[i], target=0, input_time_dim=2)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(serial, results):
        assert torch.equal(a, b)
    assert model.training
