"""Our four attributors and our metrics, held to captum_ts.testing's properties."""

import pytest
import torch
from captum.attr import Saliency

from captum_ts import HorizonActivationMap, LearnedPerturbationMask, SequenceDreaming
from captum_ts.metrics import continuity, rcap, selectivity
from captum_ts.testing import check_attributor

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
# GuidedAbsoluteGrad is run through the kit in test_kit.py


def test_sequence_dreaming_passes_the_kit():
    report = check_attributor(
        SequenceDreaming,
        max_examples=3,
        attribute_kwargs={"steps": 4, "regularizers": ()},
        model_kinds=("mlp", "cnn", "gru"),
        batch_invariant=True,
    )
    assert report.passed, str(report)


def test_learned_perturbation_mask_passes_the_kit():
    report = check_attributor(
        LearnedPerturbationMask,
        max_examples=2,
        attribute_kwargs={"epochs": 3, "batch_size": 2},
        model_kinds=("mlp", "cnn"),
        checks=("output_matches_inputs", "no_mutation", "deterministic", "no_grad", "model_randomization"),
    )
    assert report.passed, str(report)
    assert check_attributor(
        LearnedPerturbationMask,
        max_examples=2,
        task="forecasting",
        attribute_kwargs={"epochs": 2},
        model_kinds=("gru",),
        checks=("output_matches_inputs", "no_mutation"),
    ).passed


def _ham_inputs(attributor, inputs, kwargs):
    """HAM's Captum-style input mode: the masked loss against a fixed ground truth, per cut-off 1."""
    kwargs = {k: v for k, v in kwargs.items() if k != "target"}
    with torch.no_grad():
        out = attributor.forward_func(inputs)
    y_true = torch.linspace(-1, 1, out[0].numel(), dtype=out.dtype).view(out.shape[1:]).expand_as(out)
    return attributor.attribute(inputs, y_true, wrt="inputs", cutoff=1, **kwargs)


def test_horizon_activation_map_input_mode_passes_the_kit():
    report = check_attributor(
        HorizonActivationMap,
        max_examples=3,
        task="forecasting",
        call=_ham_inputs,
        model_kinds=("linear", "mlp", "gru"),
    )
    assert report.passed, str(report)


class _Metric:
    """A metric seen as an attributor: per-example scores of Saliency maps."""

    def __init__(self, forward_func, score):
        self.forward_func, self.score = forward_func, score

    def attribute(self, inputs, target=None):
        return self.score(self.forward_func, inputs, target)


def _saliency(f, x, t):
    # on a copy: Captum's Saliency leaves requires_grad set on its input when it raises
    return Saliency(f).attribute(x.detach().clone(), target=t, abs=True)


METRICS = {
    "selectivity": lambda f, x, t: selectivity(f, x, _saliency(f, x, t), target=t, n_steps=3).curve,
    "rcap": lambda f, x, t: rcap(f, x, _saliency(f, x, t), target=t),
    "continuity": lambda f, x, t: continuity(
        Saliency(f).attribute, x, target=t, n_perturb_samples=3, generator=torch.Generator().manual_seed(0)
    ),
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metrics_keep_the_contracts(name):
    # continuity draws its perturbations for the whole batch: seeded, but not batch invariant
    checks = ("no_mutation", "no_grad", "model_randomization")
    report = check_attributor(
        lambda f: _Metric(f, METRICS[name]),
        max_examples=3,
        model_kinds=("mlp", "cnn"),
        stochastic=False,
        checks=checks if name == "continuity" else (*checks, "batch_invariance"),
    )
    assert report.passed, str(report)
