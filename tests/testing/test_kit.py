"""captum_ts.testing catches what it claims to catch, and passes what is correct."""

import warnings

import pytest
import torch
from captum.attr import FeatureAblation, IntegratedGradients, Saliency
from hypothesis import given, settings

from captum_ts import GuidedAbsoluteGrad
from captum_ts.testing import (
    Case,
    check_attributor,
    check_batch_invariance,
    check_completeness,
    check_deterministic,
    check_model_randomization,
    check_no_mutation,
    check_output_matches_inputs,
    make_model,
)
from captum_ts.testing.strategies import cases, classifiers, forecasters, series, targets

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")


# --- deliberately broken attributors -----------------------------------------------------------


class _Base:
    def __init__(self, forward_func):
        self.forward_func = forward_func
        self.saliency = Saliency(forward_func)

    def grads(self, inputs, target):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.saliency.attribute(inputs, target=target, abs=False)


class ChangesMode(_Base):
    def attribute(self, inputs, target=None):
        self.forward_func.train()
        return self.grads(inputs, target)


class NonContiguous(_Base):
    def attribute(self, inputs, target=None):
        g = self.grads(inputs, target)
        return g.transpose(1, 2).contiguous().transpose(1, 2)


class Transposed(_Base):
    def attribute(self, inputs, target=None):
        return self.grads(inputs, target).transpose(1, 2).contiguous()


class IgnoresSeed(_Base):
    def attribute(self, inputs, target=None, generator=None):
        return self.grads(inputs + 0.1 * torch.randn_like(inputs), target)


class InPlace(_Base):
    def attribute(self, inputs, target=None):
        with torch.no_grad():
            inputs.mul_(0.5)
        return self.grads(inputs, target)


class ModelFree(_Base):
    def attribute(self, inputs, target=None):
        return inputs.abs().contiguous()


@pytest.mark.parametrize(
    "broken,check,message",
    [
        (ChangesMode, "no_mutation", "went from eval to train mode"),
        (NonContiguous, "output_matches_inputs", "contiguity"),
        (Transposed, "output_matches_inputs", "shape"),
        (IgnoresSeed, "deterministic", "generator"),
        (InPlace, "no_mutation", "values changed"),
        (ModelFree, "model_randomization", "does not depend on the model"),
    ],
)
def test_kit_reports_each_broken_attributor_under_the_right_check(broken, check, message):
    checks = (check,) if check == "output_matches_inputs" else ("output_matches_inputs", check)
    report = check_attributor(
        broken,
        max_examples=3,
        model_kinds=("mlp", "cnn"),
        checks=checks,
        raise_on_failure=False,
        shrink_budget=15,
    )
    result = {r.name: r for r in report.results}[check]
    assert not result.passed, str(report)
    assert message in result.message
    assert result.example.startswith("Case(model=")
    text = str(report)
    assert f"[FAIL] {check}" in text and "minimal example" in text
    with pytest.raises(AssertionError, match=check):
        check_attributor(broken, max_examples=4, model_kinds=("mlp", "cnn"), checks=(check,), shrink_budget=5)


# --- correct attributors pass ------------------------------------------------------------------


def test_captum_integrated_gradients_passes_with_completeness():
    # completeness is a quadrature statement: smooth models (tanh MLP, GRU) at 32 steps
    report = check_attributor(
        IntegratedGradients,
        max_examples=4,
        completeness=True,
        attribute_kwargs={"n_steps": 32},
        model_kinds=("linear", "mlp", "gru"),
    )
    assert report.passed and "completeness" in [r.name for r in report.results]


def test_captum_feature_ablation_passes():
    assert check_attributor(FeatureAblation, max_examples=4).passed


def test_captum_saliency_passes_and_its_known_defects_are_caught():
    # Saliency passes every property on models whose input gradient is contiguous...
    report = check_attributor(
        Saliency, max_examples=4, model_kinds=("linear", "mlp"), mutation_on_error=False
    )
    assert report.passed
    # ...but Captum 0.9 leaves requires_grad=True on the input when attribute() raises,
    # and returns the non-contiguous input gradient of a batch-first GRU as it is
    leak = check_attributor(
        Saliency, max_examples=3, model_kinds=("linear",), checks=("no_mutation",), raise_on_failure=False
    )
    assert "requires_grad went False -> True after attribute() raised" in leak.results[0].message
    gru = make_model("gru", 6, 2)
    with pytest.raises(AssertionError, match="contiguity"):
        check_output_matches_inputs(Saliency, Case(gru, torch.randn(2, 6, 2), {"target": 1}))


def test_our_guided_absolute_grad_passes_the_kit():
    kw = dict(attribute_kwargs={"nt_samples": 3}, model_kinds=("mlp", "cnn", "gru"))
    report = check_attributor(GuidedAbsoluteGrad, max_examples=3, **kw)
    assert report.passed and "deterministic" in [r.name for r in report.results]
    assert check_attributor(GuidedAbsoluteGrad, max_examples=2, task="forecasting", **kw).passed
    assert check_attributor(GuidedAbsoluteGrad, max_examples=2, tuple_inputs=True, **kw).passed


def test_a_factory_and_a_custom_call_are_accepted():
    def factory(forward):
        return GuidedAbsoluteGrad(forward)

    def call(attributor, inputs, kwargs):
        return attributor.attribute(inputs, nt_samples=2, guide_quantile=0, **kwargs)

    report = check_attributor(factory, max_examples=3, call=call, stochastic=True, model_kinds=("mlp",))
    assert report.passed
    assert "sensitivity_max" not in [r.name for r in report.results]  # needs attribute() itself


def test_unknown_check_name():
    with pytest.raises(ValueError, match="unknown check"):
        check_attributor(Saliency, checks=("nonsense",))


# --- the checks as plain functions -------------------------------------------------------------


def test_plain_checks_on_a_known_case():
    model = make_model("mlp", 8, 2, seed=3)
    case = Case(model, torch.randn(3, 8, 2), {"target": [0, 1, 1]})
    check_output_matches_inputs(Saliency, case)
    check_no_mutation(IntegratedGradients, case)
    check_batch_invariance(IntegratedGradients, case)
    check_completeness(IntegratedGradients, Case(model, case.inputs, {"target": 1, "n_steps": 64}))
    check_model_randomization(Saliency, case)
    check_deterministic(GuidedAbsoluteGrad, Case(model, case.inputs, {"target": 1, "nt_samples": 2}))
    with pytest.raises(AssertionError, match="completeness"):
        check_completeness(lambda f: IntegratedGradients(f, multiply_by_inputs=False), case)
    assert "inputs=[(3, 8, 2) float32]" in repr(case)


# --- strategies --------------------------------------------------------------------------------


@settings(max_examples=15)
@given(
    x=series(
        batch=(1, 3),
        length=(2, 9),
        features=(1, 4),
        layouts=("btf", "bft", "bt"),
        dtypes=(torch.float32, torch.float64),
        min_value=-1.0,
        max_value=1.0,
    )
)
def test_series_strategy(x):
    assert x.dim() in (2, 3) and 1 <= x.shape[0] <= 3
    assert x.dtype in (torch.float32, torch.float64)
    assert bool(torch.isfinite(x).all()) and float(x.abs().max()) <= 1.0


@settings(max_examples=10)
@given(model=classifiers(7, 2, n_classes=3))
def test_classifier_strategy(model):
    assert model(torch.zeros(2, 7, 2)).shape == (2, 3) and not model.training


@settings(max_examples=10)
@given(model=forecasters(7, 2, horizon=4, n_variates=2))
def test_forecaster_strategy(model):
    assert model(torch.zeros(2, 7, 2)).shape == (2, 4, 2)


@settings(max_examples=20)
@given(case=cases(task="forecasting", layouts=("btf", "bft", "bt")))
def test_cases_have_targets_that_select_one_scalar(case):
    from captum_ts._targets import normalize_target, select_target

    with torch.no_grad():
        out = case.model(case.inputs)
    batch = case.inputs.shape[0]
    assert select_target(out, normalize_target(case.kwargs["target"], batch)).shape == (batch,)


@settings(max_examples=10)
@given(t=targets((3, 4)))
def test_target_strategy_for_classifiers(t):
    from captum_ts._targets import normalize_target, select_target

    assert select_target(torch.zeros(3, 4), normalize_target(t, 3)).shape == (3,)
