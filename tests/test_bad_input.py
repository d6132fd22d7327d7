"""Bad input, tried as a new user would, across the public functions.

Every corruption must give a ValueError or TypeError whose message names the argument;
never a bare torch/numpy error from deep inside, a hang or a silently wrong result.
The table below lists, per public callable, a valid call and which arguments take which
corruptions; one test enumerates all of them, a hypothesis test fuzzes the numbers.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial

import pytest
import torch
from captum.attr import Saliency
from hypothesis import given, settings
from hypothesis import strategies as st

from captum_ts import (
    GuidedAbsoluteGrad,
    HorizonActivationMap,
    LearnedPerturbationMask,
    SequenceDreaming,
    explain_loader,
)
from captum_ts.datasets import bumps, hmm_state, load_ucr
from captum_ts.metrics import (
    aup,
    auprc,
    aur,
    auroc,
    continuity,
    deletion_auc,
    entropy,
    information,
    insertion_auc,
    rcap,
    selectivity,
)
from captum_ts.models import MLPForecaster
from captum_ts.testing import make_model

pytestmark = pytest.mark.filterwarnings("ignore")

B, T, F, C, H = 3, 12, 2, 2, 4
CLASSIFIER = make_model("cnn", T, F, C, seed=0)
FORECASTER = MLPForecaster(lookback=T, horizon=H, n_variates=F, hidden=(8,))
X = torch.randn(B, T, F, generator=torch.Generator().manual_seed(0))
Y = torch.tensor([0, 1, 1])
ATTR = torch.rand(B, T, F, generator=torch.Generator().manual_seed(1))
TRUTH = (ATTR > 0.5).float()
Y_TRUE = torch.randn(B, H, F, generator=torch.Generator().manual_seed(2))
SALIENCY = Saliency(CLASSIFIER).attribute


# corruptions of a valid value -----------------------------------------------------------------
TENSOR = {
    "rank1": lambda v: v.flatten()[: v.shape[1]],
    "int": lambda v: v.long(),
    "complex": lambda v: v.to(torch.complex64),
    "nan": lambda v: torch.where(torch.arange(v.numel()).view(v.shape) == 1, float("nan"), v),
    "inf": lambda v: torch.where(torch.arange(v.numel()).view(v.shape) == 1, float("inf"), v),
    "empty_batch": lambda v: v[:0],
    "zero_length": lambda v: v[:, :0],
}
SECOND_TENSOR = {**TENSOR, "batch_mismatch": lambda v: v[:-1]}
# attribution maps may be integer rankings (compared as floats); complex ones are refused
ATTRIBUTIONS = {k: v for k, v in SECOND_TENSOR.items() if k != "int"}
TARGET = {
    "out_of_range": lambda v: 7,
    "negative_out_of_range": lambda v: -7,
    "wrong_length": lambda v: [0] * (B + 1),
    "float": lambda v: 0.5,
}
COUNT = {"zero": lambda v: 0, "negative": lambda v: -3, "float": lambda v: 2.5}
POSITIVE = {"negative": lambda v: -1.0}


def _white_box(score, **kw):
    return score(**{"attributions": ATTR, "true_saliency": TRUTH, **kw})


# the public callables: (name, call(**overrides), {argument: corruptions}) -----------------------
ENTRIES: list[tuple[str, Callable, dict[str, dict]]] = [
    (
        "GuidedAbsoluteGrad.attribute",
        lambda **kw: GuidedAbsoluteGrad(CLASSIFIER).attribute(
            **{"inputs": X, "target": Y, "nt_samples": 3, "nt_samples_batch_size": 2, "stdevs": 0.1, **kw}
        ),
        {
            "inputs": TENSOR,
            "target": TARGET,
            "nt_samples": COUNT,
            "nt_samples_batch_size": COUNT,
            "stdevs": POSITIVE,
            "noise_level": POSITIVE,
            "guide": {"unknown": lambda v: "smooth"},
            "guide_quantile": POSITIVE,
        },
    ),
    (
        "LearnedPerturbationMask.attribute",
        lambda **kw: LearnedPerturbationMask(CLASSIFIER).attribute(
            **{"inputs": X, "epochs": 2, "batch_size": 2, "lambda_mask": 1.0, **kw}
        ),
        {"inputs": TENSOR, "epochs": COUNT, "batch_size": COUNT, "lambda_mask": POSITIVE, "target": TARGET},
    ),
    (
        "HorizonActivationMap.attribute",
        lambda **kw: HorizonActivationMap(FORECASTER).attribute(
            **{"inputs": X, "y_true": Y_TRUE, "horizon_chunk_size": 2, **kw}
        ),
        {"inputs": TENSOR, "y_true": SECOND_TENSOR, "horizon_chunk_size": COUNT},
    ),
    (
        "SequenceDreaming.attribute",
        lambda **kw: SequenceDreaming(CLASSIFIER).attribute(**{"inputs": X, "target": Y, "steps": 2, **kw}),
        {"inputs": TENSOR, "target": TARGET, "steps": COUNT, "lr": POSITIVE},
    ),
    (
        "selectivity",
        lambda **kw: selectivity(
            CLASSIFIER, **{"inputs": X, "attributions": ATTR, "target": Y, "n_steps": 3, **kw}
        ),
        {
            "inputs": TENSOR,
            "attributions": ATTRIBUTIONS,
            "target": TARGET,
            "n_steps": COUNT,
            "patch_size": COUNT,
        },
    ),
    (
        "continuity",
        lambda **kw: continuity(SALIENCY, **{"inputs": X, "target": Y, "n_perturb_samples": 2, **kw}),
        {"inputs": TENSOR, "n_perturb_samples": COUNT},
    ),
    (
        "rcap",
        lambda **kw: rcap(CLASSIFIER, **{"inputs": X, "attributions": ATTR, "target": Y, **kw}),
        {"inputs": TENSOR, "attributions": ATTRIBUTIONS, "target": TARGET},
    ),
    (
        "deletion_auc",
        lambda **kw: deletion_auc(CLASSIFIER, **{"inputs": X, "attributions": ATTR, "target": Y, **kw}),
        {"inputs": TENSOR, "attributions": ATTRIBUTIONS, "target": TARGET, "patch_size": COUNT},
    ),
    (
        "insertion_auc",
        lambda **kw: insertion_auc(CLASSIFIER, **{"inputs": X, "attributions": ATTR, "target": Y, **kw}),
        {"inputs": TENSOR, "attributions": ATTRIBUTIONS, "target": TARGET},
    ),
    *[
        (
            f.__name__,
            partial(_white_box, f),
            {
                "attributions": {k: v for k, v in TENSOR.items() if k != "int"},
                "true_saliency": {"batch_mismatch": SECOND_TENSOR["batch_mismatch"]},
            },
        )
        for f in (aup, aur, information, entropy, auroc, auprc)
    ],
    (
        "bumps",
        lambda **kw: bumps(**{"n_samples": 4, "length": 16, "n_features": 2, "width": 4, **kw}),
        {"n_samples": COUNT, "length": COUNT, "n_features": COUNT, "width": COUNT},
    ),
    (
        "hmm_state",
        lambda **kw: hmm_state(**{"n_samples": 4, "length": 10, **kw}),
        {"n_samples": COUNT, "length": COUNT},
    ),
    (
        "load_ucr",
        lambda **kw: load_ucr(**{"name": "GunPoint", "split": "train", **kw}),
        {"name": {"unknown": lambda v: "NoSuchSet"}, "split": {"unknown": lambda v: "validation"}},
    ),
    (
        "explain_loader",
        lambda **kw: explain_loader(Saliency(CLASSIFIER), **{"loader": _loader(X), **kw}),
        {"loader": {"empty": lambda v: _loader(X[:0])}},
    ),
]


def _loader(x):
    return torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, torch.zeros(len(x), dtype=torch.long)), batch_size=2
    )


CASES = [(name, arg, kind) for name, _, args in ENTRIES for arg, kinds in args.items() for kind in kinds]
BY_NAME = {name: (call, args) for name, call, args in ENTRIES}


@contextmanager
def time_limit(seconds: int):
    def fail(*_):
        raise TimeoutError(f"no answer within {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def assert_clear_error(name: str, arg: str, value: object) -> None:
    call, _ = BY_NAME[name]
    with time_limit(60), pytest.raises((ValueError, TypeError)) as info:
        call(**{arg: value})
    message = str(info.value)
    assert arg in message, f"{name}({arg}=...): the message does not name `{arg}`: {message!r}"


def test_every_valid_call_works():
    for _, call, _ in ENTRIES:
        with time_limit(60):
            call()


@pytest.mark.parametrize("name,arg,kind", CASES, ids=[f"{n}-{a}-{k}" for n, a, k in CASES])
def test_bad_argument_gets_a_clear_error(name, arg, kind):
    _, args = BY_NAME[name]
    valid = {"inputs": X, "attributions": ATTR, "y_true": Y_TRUE, "true_saliency": TRUTH, "target": Y}.get(
        arg
    )
    assert_clear_error(name, arg, args[arg][kind](valid))


def test_integer_attributions_are_rankings():
    ranks = ATTR.flatten(1).argsort(1).argsort(1).view_as(ATTR)
    torch.testing.assert_close(
        selectivity(CLASSIFIER, X, ranks, target=Y, n_steps=3).curve,
        selectivity(CLASSIFIER, X, ranks.float(), target=Y, n_steps=3).curve,
    )
    torch.testing.assert_close(aup(ranks, TRUTH), aup(ranks.double(), TRUTH))


COUNT_ARGS = [(name, arg) for name, _, args in ENTRIES for arg, kinds in args.items() if kinds is COUNT]


@settings(max_examples=30, deadline=None)
@given(case=st.sampled_from(COUNT_ARGS), value=st.one_of(st.integers(-(10**9), 0), st.floats(allow_nan=True)))
def test_fuzzed_counts_get_a_clear_error(case, value):
    name, arg = case
    assert_clear_error(name, arg, value)


@settings(max_examples=30, deadline=None)
@given(
    case=st.sampled_from([(n, a) for n, _, args in ENTRIES for a, kinds in args.items() if kinds is TARGET]),
    value=st.one_of(st.integers(C, 10**6), st.integers(-(10**6), -C - 1)),
)
def test_fuzzed_out_of_range_targets_get_a_clear_error(case, value):
    name, arg = case
    assert_clear_error(name, arg, value)
