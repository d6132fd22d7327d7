"""The model-state guard: what a call switches is restored exactly, and nothing else is touched."""

import pytest
import torch
from torch import nn

from captum_ts._state import frozen_model, preserved_model_state


class CountingTrain(nn.Sequential):
    """Counts calls of ``train`` (``eval`` calls it too), as a module with its own override would run."""

    calls = 0

    def train(self, mode: bool = True):
        CountingTrain.calls += 1
        return super().train(mode)


def mixed_model() -> nn.Module:
    model = CountingTrain(nn.Linear(3, 4), nn.Dropout(0.5), nn.BatchNorm1d(4)).eval()
    model[1].train()  # one child in train mode under an eval parent
    model[0].weight.requires_grad_(False)  # one frozen parameter
    model[2].bias.grad = torch.ones(4)  # one parameter with a gradient
    return model


def state(model: nn.Module) -> tuple:
    return (
        [m.training for m in model.modules()],
        [p.requires_grad for p in model.parameters()],
        [p.grad for p in model.parameters()],
        [b.clone() for b in model.buffers()],
    )


@pytest.mark.parametrize("mode", ["eval", "train", None])
def test_mixed_modes_flags_and_grads_come_back_exactly(mode):
    model = mixed_model()
    before = state(model)
    grad = model[2].bias.grad
    with frozen_model(model, mode):
        inside = [m.training for m in model.modules()]
        assert not any(p.requires_grad for p in model.parameters())
        model(torch.randn(5, 3)).sum()  # a train-mode forward updates BatchNorm's statistics
    expected = {"eval": [False] * 4, "train": [True] * 4, None: before[0]}[mode]
    assert inside == expected
    after = state(model)
    assert after[:2] == before[:2]
    assert model[2].bias.grad is grad and after[2][0] is None
    assert all(torch.equal(a, b) for a, b in zip(after[3], before[3]))


def test_a_model_already_in_the_requested_mode_is_not_switched():
    model = CountingTrain(nn.Linear(3, 2)).eval()
    CountingTrain.calls = 0
    with preserved_model_state(model, "eval"):
        pass
    assert CountingTrain.calls == 0
    model[0].train()  # one module differs: the whole model is switched once
    with preserved_model_state(model, "eval"):
        assert not model[0].training
    assert CountingTrain.calls == 1 and model[0].training and not model.training


def test_state_comes_back_after_an_exception():
    model = mixed_model()
    before = state(model)
    with pytest.raises(RuntimeError, match="boom"), frozen_model(model, "train"):
        raise RuntimeError("boom")
    after = state(model)
    assert after[:2] == before[:2]
