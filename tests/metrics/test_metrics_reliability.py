"""What every metric promises: exact shares-to-counts, the user's model left as it was
(train-mode BatchNorm/Dropout included, also when the call raises), clear errors for
NaN/Inf outputs and bad generators, thread safety, and float16/bfloat16 support."""

import copy
import threading
from fractions import Fraction

import numpy as np
import pytest
import torch
from captum.attr import Saliency
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn

from captum_ts.metrics import (
    aup,
    auprc,
    aur,
    auroc,
    continuity,
    curve_summaries,
    deletion_auc,
    entropy,
    information,
    insertion_auc,
    rcap,
    selectivity,
    time_shift,
)
from captum_ts.metrics._counts import as_rational, count_of, read_shares

FLOATS = (torch.float32, torch.float64)
HALF = (torch.float16, torch.bfloat16)


def counting_model(x: torch.Tensor) -> torch.Tensor:
    """Class 1 scores the number of zero cells (removed regions, with 1-valued inputs
    and a 0 baseline), class 0 the number of non-zero cells."""
    zeros = (x == 0).flatten(1).sum(1).to(x.dtype)
    return torch.stack([x[0].numel() - zeros, zeros], 1)


# ----------------------------------------------------------------------------- shares to counts

fraction = st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


def with_length(kn: tuple[int, int]) -> st.SearchStrategy:
    """``(k, n)`` and a length in 1..500, half of the time a multiple of ``n`` (where
    ``k/n`` of the length is a whole number, the case rounding errors break)."""
    multiple = st.integers(1, 500 // kn[1]).map(lambda m: m * kn[1])
    return st.tuples(st.just(kn), st.one_of(multiple, st.integers(1, 500)))


@settings(max_examples=100)
@given(fraction.flatmap(with_length), st.sampled_from(FLOATS), st.booleans())
def test_count_of_is_the_exact_rational_count(case, dtype, from_linspace):
    (k, n), total = case
    grid = torch.linspace(0, 1, n + 1, dtype=dtype) if from_linspace else torch.tensor([k / n], dtype=dtype)
    value = float(grid[k if from_linspace else 0])
    assert as_rational(value, dtype) == Fraction(k, n)
    assert count_of(value, total, "ceil", dtype) == -(-k * total // n)
    assert count_of(value, total, "floor", dtype) == k * total // n


def test_shares_keep_the_precision_they_were_given_in():
    f32 = torch.tensor([0.3, 0.7], dtype=torch.float32)
    assert read_shares(f32, "f") == [Fraction(3, 10), Fraction(7, 10)]
    assert read_shares(np.array([0.3, 0.7], dtype=np.float32), "f") == [Fraction(3, 10), Fraction(7, 10)]
    assert read_shares([0.1, 1 / 3, 1, f32[0]], "f") == [Fraction(1, 10), Fraction(1, 3), 1, Fraction(3, 10)]
    with pytest.raises(ValueError, match="`fractions` must hold finite numbers"):
        deletion_auc(
            counting_model, torch.ones(1, 4), torch.rand(1, 4), target=1, fractions=[0, float("nan")]
        )
    with pytest.raises(TypeError, match="`levels` must be a sequence of numbers"):
        rcap(counting_model, torch.ones(1, 4), torch.rand(1, 4), target=1, levels="0.5")


@settings(max_examples=40)
@given(fraction.flatmap(with_length), st.sampled_from(["list", *FLOATS]), st.booleans())
@example(((3, 10), 10), torch.float32, False)  # float32 0.3 of 10 regions: 3, not 4
@example(((7, 10), 100), torch.float32, True)
def test_deletion_and_insertion_remove_exactly_ceil_of_the_share(case, kind, insertion):
    (k, n), length = case
    exact = [Fraction(0), Fraction(k, n), Fraction(1)] if 0 < k < n else [Fraction(0), Fraction(1)]
    shares = [float(s) for s in exact]
    fractions = shares if kind == "list" else torch.tensor(shares, dtype=kind)
    x, attr = torch.ones(1, length), torch.randn(1, length)
    metric = insertion_auc if insertion else deletion_auc
    kw = dict(target=0 if insertion else 1, softmax=False, return_curve=True, baselines=0.0)
    auc, curve = metric(counting_model, x, attr, fractions=fractions, **kw)
    counts = [-(-s.numerator * length // s.denominator) for s in exact]  # ceil(s L), exactly
    assert curve[0].tolist() == counts
    area = sum((b - a) * (ca + cb) / 2 for a, b, ca, cb in zip(exact, exact[1:], counts, counts[1:]))
    assert auc.item() == pytest.approx(float(area), rel=1e-6)


@pytest.mark.parametrize("length", [10, 100])
@pytest.mark.parametrize("fractions", ["paper", "linspace"])
def test_float32_series_of_length_10_and_100_remove_one_tenth_per_step(length, fractions):
    x, attr = torch.ones(1, length), torch.randn(1, length)
    kw = {} if fractions == "paper" else {"fractions": torch.linspace(0, 0.9, 10)}
    auc, curve = deletion_auc(counting_model, x, attr, target=1, softmax=False, return_curve=True, **kw)
    assert curve[0].tolist() == [j * length / 10 for j in range(10)]
    # trapezoid over 0, 0.1, ..., 0.9 of c_j = j L / 10: 0.1 * L / 10 * 81 / 2
    assert auc.item() == pytest.approx(0.405 * length, rel=1e-6)


@settings(max_examples=40)
@given(fraction.filter(lambda kn: 0 < kn[0] < kn[1]).flatmap(with_length), st.sampled_from(["list", *FLOATS]))
@example(((7, 12), 108), "list")  # floor(7/12 * 108) = 63, not 62 as in float32 arithmetic
@example(((3, 19), 323), torch.float32)
def test_rcap_reveals_exactly_the_cells_above_the_floor_rank(case, kind):
    (k, n), n_cells = case
    levels = [k / n] if kind == "list" else torch.tensor([k / n], dtype=kind)
    attr = torch.randperm(n_cells).view(1, -1).float()  # distinct values: no ties
    res = rcap(
        counting_model,
        torch.ones(1, n_cells),
        attr,
        target=0,
        levels=levels,
        softmax=False,
        return_levels=True,
    )
    rank = min(max(k * n_cells // n - 1, 0), n_cells - 1)
    assert res.probability[0].tolist() == [n_cells - rank - 1]


# ----------------------------------------------------------------------------- the user's model


class BatchNormNet(nn.Module):
    """(B, 8, 2) -> (B, 3) logits through BatchNorm and Dropout; optionally NaN on any zero input."""

    def __init__(self, nan_on_zero: bool = False):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 3)
        )
        self.nan_on_zero = nan_on_zero

    def forward(self, x):
        out = self.net(x)
        if self.nan_on_zero:
            out = torch.where((x == 0).flatten(1).any(1, keepdim=True), torch.nan, out)
        return out


def trained_model(nan_on_zero: bool = False) -> BatchNormNet:
    torch.manual_seed(0)
    model = BatchNormNet(nan_on_zero)
    with torch.no_grad():  # non-trivial running statistics, then back to train mode
        model.train()(torch.randn(32, 8, 2) * 2 + 1)
    model.net[1].weight.grad = torch.ones_like(model.net[1].weight)
    model.net[-1].bias.requires_grad_(False)
    return model.train()


def model_state(model: nn.Module) -> list:
    return [
        *(p.detach().clone() for p in model.parameters()),
        *(b.clone() for b in model.buffers()),
        *(m.training for m in model.modules()),
        *(p.requires_grad for p in model.parameters()),
        *(None if p.grad is None else p.grad.clone() for p in model.parameters()),
    ]


def assert_same_state(before: list, after: list) -> None:
    assert len(before) == len(after)
    for a, b in zip(before, after):
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b


X = torch.randn(4, 8, 2)
Y = torch.tensor([0, 1, 2, 1])
ATTR = torch.randn(4, 8, 2)

CALLS = {
    "selectivity": lambda m: selectivity(m, X, ATTR, target=Y, n_steps=4, patch_size=2).curve,
    "selectivity recompute": lambda m: (
        selectivity(
            m, X, explanation_func=Saliency(m).attribute, target=Y, n_steps=3, patch_size=2, recompute=True
        ).curve
    ),
    "deletion": lambda m: deletion_auc(m, X, ATTR, target=Y, return_curve=True)[1],
    "insertion": lambda m: insertion_auc(m, X, ATTR, return_curve=True)[1],
    "rcap": lambda m: rcap(m, X, ATTR, return_levels=True).probability,
    "continuity": lambda m: continuity(
        Saliency(m).attribute, X, n_perturb_samples=3, target=Y, generator=torch.Generator().manual_seed(1)
    ),
    "continuity closure": lambda m: continuity(
        lambda x, target: Saliency(m.forward).attribute(x, target=target) * 1.0,
        X,
        n_perturb_samples=3,
        target=Y,
        generator=torch.Generator().manual_seed(1),
    ),
}


@pytest.mark.parametrize("name", CALLS)
def test_train_mode_batchnorm_dropout_model_is_untouched_and_scored_in_eval_mode(name):
    model = trained_model()
    before = model_state(model)
    result = CALLS[name](model)
    assert_same_state(before, model_state(model))
    reference = copy.deepcopy(model).eval()
    assert torch.equal(result, CALLS[name](reference))
    assert torch.isfinite(result).all()


@pytest.mark.parametrize("name", ["selectivity", "selectivity recompute", "deletion", "rcap"])
def test_nan_output_raises_a_clear_error_and_leaves_the_model_untouched(name):
    model = trained_model(nan_on_zero=True)
    before = model_state(model)
    with pytest.raises(ValueError, match=r"`forward_func` returned NaN or Inf"):
        CALLS[name](model)
    assert_same_state(before, model_state(model))


def test_nan_or_inf_output_raises_in_every_metric_that_runs_a_model():
    x, a = torch.ones(2, 6), torch.randn(2, 6)
    inf_logits = lambda z: torch.stack([z.sum(1), torch.full_like(z[:, 0], torch.inf)], 1)  # noqa: E731
    nan_scalar = lambda z: z.sum(1) * torch.nan  # noqa: E731
    message = r"`forward_func` returned NaN or Inf"
    for call in (
        lambda: selectivity(nan_scalar, x, a, n_steps=2),
        lambda: selectivity(nan_scalar, x, explanation_func=lambda z, **kw: z, recompute=True, n_steps=2),
        lambda: deletion_auc(inf_logits, x, a, target=0),  # softmax of an Inf logit is NaN
        lambda: insertion_auc(inf_logits, x, a, target=1, softmax=False),
        lambda: rcap(inf_logits, x, a, target=0),
    ):
        with pytest.raises(ValueError, match=message):
            call()
    for metric in (deletion_auc, rcap):
        with pytest.raises(ValueError, match=r"predicted class.*NaN or Inf"):
            metric(lambda z: torch.stack([z.sum(1), z.sum(1)], 1) * torch.nan, x, a)
    with pytest.raises(ValueError, match=r"`explanation_func` returned NaN or Inf"):
        continuity(lambda z: z * torch.nan, x, n_perturb_samples=2)


def test_concurrent_calls_on_one_model_give_the_serial_values():
    model = trained_model()
    before = model_state(model)
    serial = {name: call(model) for name, call in CALLS.items()}
    assert_same_state(before, model_state(model))
    barrier, errors, results = threading.Barrier(4), [], []

    def worker():
        try:
            barrier.wait()
            for _ in range(2):
                results.append({name: call(model) for name, call in CALLS.items()})
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 8
    for got in results:
        for name, value in got.items():
            assert torch.equal(value, serial[name]), name
    assert_same_state(before, model_state(model))


# ----------------------------------------------------------------------------- generators


def test_generators_of_the_wrong_type_get_a_clear_error():
    with pytest.raises(TypeError, match=r"`generator` must be a torch.Generator or None, got int"):
        continuity(lambda z: z, torch.randn(2, 5), generator=0)
    with pytest.raises(TypeError, match=r"`generator` must be a torch.Generator or None, got Generator"):
        time_shift(2, generator=np.random.default_rng(0))


# ----------------------------------------------------------------------------- float16 / bfloat16


@pytest.mark.parametrize("dtype", HALF)
def test_half_precision_maps_are_ranked_in_float32(dtype):
    """Region sums of 2 x 60000 overflow float16; in float32 they rank correctly."""
    attr = torch.tensor([[50000.0, 50000.0, 60000.0, 60000.0]], dtype=dtype)
    w = torch.tensor([1.0, 1.0, 2.0, 2.0], dtype=dtype)
    res = selectivity(lambda z: (z * w).sum(1), torch.ones(1, 4, dtype=dtype), attr, patch_size=2, n_steps=2)
    assert res.curve.dtype == torch.float32
    assert res.curve.tolist() == [[6.0, 2.0, 0.0]]  # the (60000, 60000) region goes first
    auc, aopc = curve_summaries(res.curve.double())
    assert res.auc.item() == pytest.approx(auc.item()) and res.aopc.item() == pytest.approx(aopc.item())


@pytest.mark.parametrize("dtype", HALF)
def test_half_precision_models_give_finite_scores_in_range(dtype):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(40, 3)).to(dtype).eval()
    with torch.no_grad():
        model[1].weight.mul_(50)  # large logits: softmax in float16 would saturate
    x, a = torch.randn(3, 20, 2, dtype=dtype), torch.randn(3, 20, 2, dtype=dtype)
    sel = selectivity(model, x, a, target=0, n_steps=None)
    assert sel.curve.dtype == torch.float32 and torch.isfinite(sel.curve).all()
    for metric in (deletion_auc, insertion_auc):
        auc, curve = metric(model, x, a, return_curve=True)
        assert auc.dtype == torch.float32 and ((auc >= 0) & (auc <= 0.9)).all()
        assert ((curve >= 0) & (curve <= 1)).all()
    score = rcap(model, x, a)
    assert score.dtype == torch.float32 and ((score >= 0) & (score <= 1)).all()


@pytest.mark.parametrize("dtype", HALF)
def test_rcap_on_a_long_half_precision_map_sums_in_float32(dtype):
    """150000 cells: the saliency mass overflows float16; RCAP stays the float32 value."""
    torch.manual_seed(0)
    a = torch.rand(1, 150000).to(dtype)
    model = lambda z: torch.stack([z[:, :10].sum(1), -z[:, :10].sum(1)], 1)  # noqa: E731
    half = rcap(model, torch.ones(1, 150000, dtype=dtype), a, target=0, return_levels=True)
    full = rcap(model, torch.ones(1, 150000), a.float(), target=0, return_levels=True)
    assert half.score.dtype == torch.float32
    torch.testing.assert_close(half.hit_rate, full.hit_rate)
    torch.testing.assert_close(half.score, full.score, atol=1e-3, rtol=0)


@pytest.mark.parametrize("dtype", HALF)
def test_half_precision_continuity_matches_the_float64_ratio_of_the_same_values(dtype):
    """Steps of 1e-5 square to 0 in float16; the ratio is computed in float32."""
    x = torch.tensor([[1e-3, 2e-3, -1e-3, 5e-3]], dtype=dtype)
    explain = lambda z: z * 2  # noqa: E731
    perturb = lambda z: z + 1e-5  # noqa: E731
    got = continuity(explain, x, perturb_func=perturb, n_perturb_samples=1)
    moved = perturb(x)
    want = (explain(moved).double() - explain(x).double()).abs().sum() / (moved.double() - x.double()).norm()
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(want.item(), rel=1e-6)


@pytest.mark.parametrize("dtype", HALF)
def test_white_box_scores_of_half_maps_equal_the_float64_scores_of_the_same_values(dtype):
    torch.manual_seed(0)
    a = torch.rand(3, 40).to(dtype)  # float16/bfloat16 values: many ties
    truth = (torch.rand(3, 40) > 0.6).long()
    for score in (aup, aur, information, entropy, auroc, auprc):
        for per_example in (False, True):
            got = score(a, truth, per_example=per_example)
            want = score(a.double(), truth, per_example=per_example)
            assert torch.equal(got, want) and torch.isfinite(got).all()
