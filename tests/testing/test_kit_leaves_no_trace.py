"""The testing kit leaves no trace on the caller: every property check and ``check_attributor``
restore the global RNGs (torch, numpy, ``random``) and the ``.grad`` of the model's parameters
and of the inputs, also when the attributor under test dirties them and the check fails; the
kit's own forwards run in eval mode and leave a train-mode model's buffers alone."""

import random
import warnings
from contextlib import suppress

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients, Saliency
from torch import nn

from captum_ts._state import guarded_model
from captum_ts._targets import normalize_target, select_target
from captum_ts.testing import (
    Case,
    check_attributor,
    check_batch_invariance,
    check_completeness,
    check_deterministic,
    check_model_randomization,
    check_no_grad,
    check_no_mutation,
    check_output_matches_inputs,
    check_sensitivity_max,
    make_model,
)

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")

CHECKS = [
    check_output_matches_inputs,
    check_no_mutation,
    check_deterministic,
    check_batch_invariance,
    check_no_grad,
    check_sensitivity_max,
    check_model_randomization,
    check_completeness,
]


class Dirty:
    """Draws from every global RNG, calls ``.backward()`` (``.grad`` on the parameters) and
    sets the inputs' ``.grad`` when they require grad."""

    def __init__(self, forward_func):
        self.forward_func = forward_func

    def attribute(self, inputs, target=None, **kwargs):
        np.random.rand(3), random.random()
        if inputs.is_leaf and inputs.requires_grad:
            inputs.grad = torch.ones_like(inputs)
        with torch.enable_grad():
            x = inputs.detach().requires_grad_()
            out = self.forward_func(x)
            select_target(out, normalize_target(target, len(x))).sum().backward()
        return x.grad + 0.1 * torch.randn(x.shape)  # ignores any generator


class Guarded:
    """Integrated gradients with the model in eval mode and its state restored."""

    def __init__(self, forward_func):
        self.forward_func = forward_func

    def attribute(self, inputs, **kwargs):
        with guarded_model(self.forward_func):
            return IntegratedGradients(self.forward_func).attribute(inputs, **kwargs)


def _seed_everything():
    torch.manual_seed(7)
    np.random.seed(7)
    random.seed(7)
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _assert_rng_is(states):
    torch_state, np_state, py_state = states
    assert torch.equal(torch.get_rng_state(), torch_state), "torch's global RNG moved"
    now = np.random.get_state()
    assert np.array_equal(now[1], np_state[1]) and now[2:] == np_state[2:], "numpy's global RNG moved"
    assert random.getstate() == py_state, "random's global RNG moved"


def _case(requires_grad):
    model = make_model("mlp", 6, 2, 3, seed=0)
    first = next(model.parameters())
    first.grad = torch.full_like(first, 0.5)  # a .grad the user had before
    x = torch.randn(3, 6, 2, generator=torch.Generator().manual_seed(0)).requires_grad_(requires_grad)
    if requires_grad:
        x.grad = torch.full_like(x, -1.0)
    return Case(model, x, {"target": 1})


def _grads(case):
    tensors = [case.inputs, *case.model.parameters()]
    return [(t.grad, None if t.grad is None else t.grad.clone()) for t in tensors]


def _assert_grads_are(case, before):
    for t, (obj, values) in zip([case.inputs, *case.model.parameters()], before):
        assert t.grad is obj, "a .grad was replaced or left behind"
        if values is not None:
            assert torch.equal(t.grad, values), ".grad values changed"


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_every_check_restores_rng_and_grads_around_a_dirty_attributor(check, requires_grad):
    case = _case(requires_grad)
    before = _grads(case)
    states = _seed_everything()
    with suppress(AssertionError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(Dirty, case)
    _assert_rng_is(states)
    _assert_grads_are(case, before)


def test_no_mutation_takes_back_its_own_reference_grads():
    case = Case(make_model("cnn", 8, 2, 2, seed=1), torch.randn(2, 8, 2), {"target": 0})
    check_no_mutation(Saliency, case, on_error=False)
    assert all(p.grad is None for p in case.model.parameters())


def test_no_mutation_still_sees_the_dirty_grads():
    with pytest.raises(
        AssertionError, match=r"no mutation: parameter '1.weight' .grad changed after attribute\(\)"
    ):
        check_no_mutation(Dirty, _case(False))


def test_deterministic_does_not_reseed_the_caller():
    case = Case(make_model("linear", 5, 1, 2, seed=0), torch.randn(2, 5, 1), {"target": 0})
    states = _seed_everything()

    class Seeded(Saliency):
        def attribute(self, inputs, target=None, generator=None):
            noise = torch.randn(inputs.shape, generator=generator)
            return super().attribute(inputs + 0.01 * noise, target=target, abs=False)

    check_deterministic(Seeded, case)
    _assert_rng_is(states)


def test_check_attributor_restores_the_rng():
    states = _seed_everything()
    report = check_attributor(
        Dirty,
        max_examples=2,
        model_kinds=("linear",),
        checks=["output_matches_inputs", "deterministic"],
        stochastic=True,
        shrink_budget=1,
        raise_on_failure=False,
    )
    assert "deterministic" in report.failed and len(report.results) == 2
    _assert_rng_is(states)


def test_kit_forwards_leave_a_train_mode_batchnorm_model_alone():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.BatchNorm1d(4)).train()
    stats = [b.clone() for b in model.buffers()]
    check_no_mutation(Guarded, Case(model, torch.randn(5, 6, 2), {"target": 1}))
    assert model.training and model[2].training
    assert all(torch.equal(a, b) for a, b in zip(stats, model.buffers()))


def test_completeness_reads_the_model_in_eval_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Dropout(0.5), nn.Linear(8, 2)).train()
    check_completeness(Guarded, Case(model, torch.randn(4, 6, 2), {"target": 1, "n_steps": 200}))
    assert model.training
