"""Selectivity: closed forms on additive models, orderings, invariances, layouts, chunking."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from captum_ts.metrics.selectivity import SelectivityResult, curve_summaries, selectivity

D = torch.float64


def additive(w):
    """f(x) = sum_i w_i x_i over all non-batch cells: one scalar per example."""
    return lambda x: (x * w).flatten(1).sum(1)


def expected_curve(contrib, n):
    """f(x) minus the cumulative sum of the sorted (descending) region contributions."""
    total = contrib.sum(1, keepdim=True)
    top = contrib.sort(1, descending=True).values[:, :n].cumsum(1)
    return torch.cat([total, total - top], dim=1)


@st.composite
def additive_case(draw):
    b = draw(st.integers(1, 3))
    t = draw(st.integers(1, 12))
    f = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, t, f, generator=g, dtype=D)
    w = torch.rand(t, f, generator=g, dtype=D)
    return x, w


@given(additive_case(), st.integers(1, 5), st.booleans())
def test_oracle_curve_is_f_minus_cumulative_sorted_contributions(case, patch, feature_wise):
    x, w = case
    b, t, f = x.shape
    cell = x * w  # Grad x Input = the exact contributions
    n_patch = -(-t // patch)
    pad = n_patch * patch - t
    padded = torch.nn.functional.pad(cell, (0, 0, 0, pad)).view(b, n_patch, patch, f).sum(2)  # (B, P, F)
    contrib = padded.reshape(b, -1) if feature_wise else padded.sum(2)
    res = selectivity(additive(w), x, cell, n_steps=None, patch_size=patch, feature_wise=feature_wise)
    assert isinstance(res, SelectivityResult)
    assert res.n_regions == contrib.shape[1]
    torch.testing.assert_close(res.curve, expected_curve(contrib, contrib.shape[1]), rtol=0, atol=1e-12)
    # the curve starts at f(x), ends at f(baseline) = 0, and has n_steps + 1 points
    torch.testing.assert_close(res.curve[:, 0], additive(w)(x))
    torch.testing.assert_close(res.curve[:, -1], torch.zeros(b, dtype=D), rtol=0, atol=1e-12)


@given(additive_case(), st.integers(0, 2**16))
def test_oracle_le_random_le_reverse(case, seed):
    x, w = case
    cell = x * w
    rand = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed), dtype=D)
    kw = dict(n_steps=None, feature_wise=True)
    oracle = selectivity(additive(w), x, cell, **kw)
    random = selectivity(additive(w), x, rand, **kw)
    reverse = selectivity(additive(w), x, -cell, **kw)
    eps = 1e-12
    # pointwise: removing the k largest contributions gives the lowest curve
    assert (oracle.curve <= random.curve + eps).all() and (random.curve <= reverse.curve + eps).all()
    assert (oracle.auc <= random.auc + eps).all() and (random.auc <= reverse.auc + eps).all()
    assert (oracle.aopc >= random.aopc - eps).all() and (random.aopc >= reverse.aopc - eps).all()


def test_auc_and_aopc_closed_form():
    curve = torch.tensor([[4.0, 2.0, 1.0, 1.0]], dtype=D)
    auc, aopc = curve_summaries(curve)
    assert float(auc) == pytest.approx(((4 + 2) / 2 + (2 + 1) / 2 + (1 + 1) / 2) / 3)
    assert float(aopc) == pytest.approx((0 + 2 + 3 + 3) / 4)
    assert float(aopc) == pytest.approx(float(curve[0, 0] - curve.mean()))


def test_removed_regions_stay_removed_and_are_never_removed_twice():
    # the model counts the cells that hold the removal value: k regions of p*F cells after k steps
    x = torch.rand(3, 20, 2, dtype=D)
    attr = torch.randn(3, 20, 2, dtype=D)
    count = lambda z: (z == 7.0).flatten(1).sum(1).to(D)  # noqa: E731
    res = selectivity(count, x, attr, n_steps=None, patch_size=4, baselines=7.0)
    assert res.curve.shape == (3, 6)
    torch.testing.assert_close(res.curve, torch.arange(6, dtype=D).mul(8).expand(3, 6))
    # T = 22 is not a multiple of 4: the last patch is shorter, all 44 cells go exactly once
    x = torch.rand(3, 22, 2, dtype=D)
    res = selectivity(count, x, torch.randn(3, 22, 2, dtype=D), n_steps=None, patch_size=4, baselines=7.0)
    steps = res.curve.diff(dim=1)
    assert res.n_regions == 6 and ((steps == 8) | (steps == 4)).all() and (res.curve[:, -1] == 44).all()


def test_n_steps_is_clamped_to_the_number_of_regions():
    x = torch.rand(2, 10, dtype=D)
    w = torch.rand(10, dtype=D)
    assert selectivity(additive(w), x, x * w, n_steps=50, patch_size=3).curve.shape == (2, 5)
    assert selectivity(additive(w), x, x * w, n_steps=2).curve.shape == (2, 3)


TRANSFORMS = {"exp": torch.exp, "cube": lambda a: a**3, "atan": torch.atan, "affine": lambda a: 3 * a + 2}


@given(additive_case(), st.sampled_from(sorted(TRANSFORMS)))
def test_invariant_to_strictly_increasing_transforms_of_single_cell_relevance(case, fn):
    x, w = case
    attr = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=D)
    transform = TRANSFORMS[fn]
    kw = dict(n_steps=None, feature_wise=True)
    ref = selectivity(additive(w), x, attr, **kw)
    got = selectivity(additive(w), x, transform(attr), **kw)
    torch.testing.assert_close(got.curve, ref.curve, rtol=0, atol=0)


def test_patches_invariant_to_positive_scaling():
    x = torch.rand(2, 16, 3, dtype=D)
    w = torch.rand(16, 3, dtype=D)
    attr = torch.randn(2, 16, 3, dtype=D)
    ref = selectivity(additive(w), x, attr, patch_size=4, n_steps=None)
    got = selectivity(additive(w), x, 0.37 * attr, patch_size=4, n_steps=None)
    assert torch.equal(got.curve, ref.curve)


def test_lerf_of_a_map_is_morf_of_its_negation():
    x = torch.rand(2, 12, 2, dtype=D)
    w = torch.rand(12, 2, dtype=D)
    attr = torch.randn(2, 12, 2, dtype=D)
    lerf = selectivity(additive(w), x, attr, order="lerf", n_steps=6)
    morf = selectivity(additive(w), x, -attr, order="morf", n_steps=6)
    assert torch.equal(lerf.curve, morf.curve)


def test_channel_first_layout_matches_channel_last():
    x = torch.rand(2, 14, 3, dtype=D)
    w = torch.rand(14, 3, dtype=D)
    attr = torch.randn(2, 14, 3, dtype=D)
    for fw in (False, True):
        last = selectivity(additive(w), x, attr, patch_size=3, feature_wise=fw, n_steps=None)
        first = selectivity(
            additive(w.T),
            x.transpose(1, 2),
            attr.transpose(1, 2),
            patch_size=3,
            feature_wise=fw,
            n_steps=None,
            feature_dim=1,
        )
        torch.testing.assert_close(first.curve, last.curve)


def test_reduced_attributions_broadcast_over_features():
    x = torch.rand(2, 10, 3, dtype=D)
    w = torch.rand(10, 3, dtype=D)
    attr = torch.randn(2, 10, 1, dtype=D)
    got = selectivity(additive(w), x, attr, n_steps=None)
    ref = selectivity(additive(w), x, attr.expand(2, 10, 3), n_steps=None)
    assert torch.equal(got.curve, ref.curve)


def test_tuple_inputs_rank_regions_jointly():
    x1, x2 = torch.rand(2, 6, 2, dtype=D), torch.rand(2, 4, dtype=D)
    w1, w2 = torch.rand(6, 2, dtype=D), torch.rand(4, dtype=D)
    model = lambda a, b: (a * w1).flatten(1).sum(1) + (b * w2).sum(1)  # noqa: E731
    c1, c2 = x1 * w1, x2 * w2
    res = selectivity(model, (x1, x2), (c1, c2), n_steps=None)
    contrib = torch.cat([c1.sum(2), c2], dim=1)
    torch.testing.assert_close(res.curve, expected_curve(contrib, 10), rtol=0, atol=1e-12)


def test_tensor_baseline_replaces_by_position():
    x = torch.rand(2, 8, 2, dtype=D)
    w = torch.rand(8, 2, dtype=D)
    base = torch.rand(8, 2, dtype=D) * 0.5
    contrib = ((x - base) * w).sum(2)
    res = selectivity(additive(w), x, (x - base) * w, baselines=base, n_steps=None)
    shift = additive(w)(x)[:, None] - contrib.sum(1, keepdim=True)  # f(x) - sum of contributions = f(base)
    torch.testing.assert_close(res.curve, expected_curve(contrib, 8) + shift, rtol=0, atol=1e-12)


def test_recompute_follows_the_explanation_and_skips_removed_regions():
    x = torch.rand(3, 9, 2, dtype=D)
    w = torch.rand(9, 2, dtype=D)
    calls = []

    def grad_x_input(inputs, target=None, additional_forward_args=None):
        calls.append(inputs.shape)
        return inputs * w

    once = selectivity(additive(w), x, x * w, n_steps=5)
    again = selectivity(additive(w), x, explanation_func=grad_x_input, recompute=True, n_steps=5)
    assert len(calls) == 5 and all(s == x.shape for s in calls)
    # a removed region has zero relevance and the others are unchanged: same order as ranking once
    torch.testing.assert_close(again.curve, once.curve, rtol=0, atol=1e-12)
    # a constant explanation keeps pointing at the removed region: it must not be removed twice
    fixed = torch.randn(3, 9, 2, dtype=D)
    const = selectivity(additive(w), x, explanation_func=lambda z, **kw: fixed, recompute=True, n_steps=None)
    torch.testing.assert_close(const.curve, selectivity(additive(w), x, fixed, n_steps=None).curve)


def test_recompute_changes_the_order_when_relevance_moves():
    # relevance of step t is x_t times how many steps were removed before it: it moves after a removal
    x = torch.ones(1, 4, dtype=D)

    def moving(z, **kw):
        removed = (z == 0).sum(1, keepdim=True).to(D)
        base = torch.tensor([[4.0, 3.0, 2.0, 1.0]], dtype=D)
        return base * z + removed * torch.tensor([[0, 0, 0, 10.0]], dtype=D) * z

    weights = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=D)
    once = selectivity(additive(weights), x, moving(x), n_steps=2)
    again = selectivity(additive(weights), x, explanation_func=moving, recompute=True, n_steps=2)
    assert once.curve.tolist() == [[10.0, 9.0, 7.0]]
    assert again.curve.tolist() == [[10.0, 9.0, 5.0]]


def test_explanation_func_without_recompute_equals_precomputed():
    x = torch.rand(2, 8, dtype=D)
    w = torch.rand(8, dtype=D)
    ref = selectivity(additive(w), x, x * w)
    got = selectivity(additive(w), x, explanation_func=lambda z, **kw: z * w)
    assert torch.equal(ref.curve, got.curve)


def test_targets_select_one_scalar_and_bad_targets_fail_clearly():
    x = torch.rand(4, 8, dtype=D)
    w = torch.rand(3, 8, dtype=D)
    classifier = lambda z: z @ w.T  # noqa: E731  (B, 3)
    target = torch.tensor([0, 2, 1, 2])
    res = selectivity(classifier, x, x * w[target], target=target, n_steps=None)
    for c in range(3):
        rows = target == c
        ref = selectivity(lambda z, c=c: (z @ w.T)[:, c], x[rows], x[rows] * w[c], n_steps=None)
        torch.testing.assert_close(res.curve[rows], ref.curve)
    forecaster = lambda z: z.view(-1, 2, 4)  # noqa: E731  (B, H, C)
    assert selectivity(forecaster, x, x, target=(1, 2)).curve.shape == (4, 9)
    with pytest.raises(ValueError, match="one scalar per example"):
        selectivity(forecaster, x, x, target=1)
    with pytest.raises(ValueError, match="one scalar per example"):
        selectivity(classifier, x, x)


def test_additional_forward_args_are_repeated_with_the_copies():
    x = torch.rand(3, 6, dtype=D)
    scale = torch.tensor([1.0, 2.0, 3.0], dtype=D)
    model = lambda z, s: z.sum(1) * s  # noqa: E731
    res = selectivity(model, x, x, additional_forward_args=(scale,), n_steps=None, max_examples_per_batch=6)
    ref = selectivity(lambda z: z.sum(1), x, x, n_steps=None)
    torch.testing.assert_close(res.curve, ref.curve * scale[:, None])


@given(st.integers(1, 40), st.integers(1, 4), st.booleans())
def test_chunked_equals_unchunked(rows, patch, feature_wise):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(24, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)
    )
    model = model.double()
    x = torch.randn(3, 12, 2, dtype=D)
    attr = torch.randn(3, 12, 2, dtype=D)
    kw = dict(target=1, n_steps=7, patch_size=patch, feature_wise=feature_wise)
    full = selectivity(model, x, attr, **kw)
    part = selectivity(model, x, attr, max_examples_per_batch=rows, **kw)
    torch.testing.assert_close(part.curve, full.curve, rtol=0, atol=1e-12)


def test_inputs_and_attributions_are_not_modified_and_no_grad_is_fine():
    x = torch.rand(2, 8, 2, dtype=D)
    attr = torch.randn(2, 8, 2, dtype=D)
    x0, a0 = x.clone(), attr.clone()
    w = torch.rand(8, 2, dtype=D)
    with torch.no_grad():
        res = selectivity(additive(w), x, attr, recompute=True, explanation_func=lambda z, **kw: z * w)
    assert torch.equal(x, x0) and torch.equal(attr, a0)
    assert res.curve.shape == (2, 9) and not x.requires_grad


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(attributions=torch.zeros(2, 7)), ValueError, "attributions"),
        (dict(attributions=torch.full((2, 8), float("nan"))), ValueError, "NaN"),
        (dict(attributions=None), ValueError, "explanation_func"),
        (dict(attributions=torch.zeros(2, 8), recompute=True), ValueError, "recompute"),
        (dict(attributions=torch.zeros(2, 8), order="best"), ValueError, "order"),
        (dict(attributions=torch.zeros(2, 8), patch_size=0), ValueError, "patch_size"),
        (dict(attributions=torch.zeros(2, 8), n_steps=0), ValueError, "n_steps"),
        (dict(attributions=torch.zeros(2, 8), baselines=torch.zeros(3)), ValueError, "baselines"),
        (dict(attributions=torch.zeros(2, 8), baselines="mean"), TypeError, "baselines"),
    ],
)
def test_bad_arguments_fail_clearly(kwargs, error, match):
    with pytest.raises(error, match=match):
        selectivity(lambda z: z.sum(1), torch.rand(2, 8), **kwargs)


@pytest.mark.cuda
def test_runs_on_cuda_and_returns_there():
    x = torch.rand(2, 8, 2, device="cuda")
    w = torch.rand(8, 2, device="cuda")
    res = selectivity(additive(w), x, x * w, patch_size=2)
    assert res.curve.device.type == "cuda" and res.auc.device.type == "cuda"


def test_per_example_tuple_targets_on_a_forecaster_in_chunks():
    x = torch.rand(3, 8, dtype=D)
    forecaster = lambda z: z.view(-1, 2, 4)  # noqa: E731  (B, H, C)
    target = [(0, 1), (1, 3), (1, 0)]
    full = selectivity(forecaster, x, x, target=target, n_steps=None)
    chunked = selectivity(forecaster, x, x, target=target, n_steps=None, max_examples_per_batch=3)
    assert torch.equal(full.curve, chunked.curve)
    picked = x.view(3, 2, 4)[torch.arange(3), [0, 1, 1], [1, 3, 0]]
    torch.testing.assert_close(full.curve[:, 0], picked)
    assert (full.curve[:, -1] == 0).all()
