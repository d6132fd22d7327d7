"""RCAP: closed form, range, monotone hit rates, the reference code's level-dropping rule,
oracle beats random, chunking, targets, errors."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from captum_ts.metrics.rcap import RCAPResult, rcap

D = torch.float64


def share_model(z):
    """(B, 2) 'probabilities' whose class-1 entry is the share of non-zero cells."""
    share = (z != 0).flatten(1).to(D).mean(1)
    return torch.stack([1 - share, share], dim=1)


def reads_region(z):
    """A classifier that only reads steps 0..3: logits (-s, s) with s their sum."""
    s = z[:, :4].flatten(1).sum(1)
    return torch.stack([-s, s], dim=1)


def test_closed_form():
    x = torch.ones(1, 10, dtype=D)
    sal = torch.arange(10, dtype=D).view(1, 10)  # min-max -> k / 9
    res = rcap(share_model, x, sal, target=1, levels=(0.5, 0.7, 0.9), softmax=False, return_levels=True)
    assert isinstance(res, RCAPResult)
    # thresholds sort(S)[n p - 1] = 4/9, 6/9, 8/9 -> revealed {5..9}, {7,8,9}, {9}; sum S = 5
    torch.testing.assert_close(res.levels, torch.tensor([0.9, 0.7, 0.5], dtype=D))
    torch.testing.assert_close(res.hit_rate, torch.tensor([[9 / 45, 24 / 45, 35 / 45]], dtype=D))
    torch.testing.assert_close(res.probability, torch.tensor([[0.1, 0.3, 0.5]], dtype=D))
    expected = (9 / 45 * 0.1 + 24 / 45 * 0.3 + 35 / 45 * 0.5) / 3
    torch.testing.assert_close(res.score, torch.tensor([expected], dtype=D))
    torch.testing.assert_close(
        rcap(share_model, x, sal, target=1, levels=(0.5, 0.7, 0.9), softmax=False), res.score
    )


def test_highest_level_is_dropped_when_its_threshold_is_the_maximum():
    x = torch.ones(1, 10, dtype=D)
    sal = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 9, 9]], dtype=D)  # sort(S)[8] is the maximum
    res = rcap(share_model, x, sal, target=1, levels=(0.5, 0.9), softmax=False, return_levels=True)
    assert res.used.tolist() == [[False, True]]
    torch.testing.assert_close(res.score, res.hit_rate[:, 1] * res.probability[:, 1])
    # with equal thresholds the level stays (and reveals nothing)
    res = rcap(share_model, x, sal, target=1, levels=(0.9, 0.95), softmax=False, return_levels=True)
    assert res.used.all() and (res.hit_rate == 0).all() and (res.score == 0).all()


def test_constant_map_has_equal_hit_rates():
    x = torch.randn(3, 12, 2, dtype=D)
    res = rcap(reads_region, x, torch.full((3, 12, 2), 0.3, dtype=D), return_levels=True)
    assert (res.hit_rate == res.hit_rate[:, :1]).all()


@given(st.integers(1, 4), st.integers(2, 30), st.integers(0, 2**16))
def test_range_and_non_decreasing_hit_rates(b, t, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t, 2, generator=g, dtype=D)
    sal = torch.randn(b, t, 2, generator=g, dtype=D)
    res = rcap(reads_region, x, sal, return_levels=True)
    assert ((res.score >= 0) & (res.score <= 1)).all()
    assert ((res.hit_rate >= 0) & (res.hit_rate <= 1)).all()
    assert (res.hit_rate.diff(dim=1) >= -1e-12).all()  # the revealed region grows


def test_oracle_map_beats_random_maps():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 20, 1, generator=g, dtype=D) + 0.5
    oracle = torch.zeros(16, 20, 1, dtype=D)
    oracle[:, :4] = 1
    random = torch.rand(16, 20, 1, generator=g, dtype=D)
    ours = rcap(reads_region, x, oracle, target=1)
    theirs = rcap(reads_region, x, random, target=1)
    assert (ours > theirs).all()


def test_invariant_to_positive_affine_maps_and_uses_the_predicted_class():
    x = torch.randn(4, 15, 2, dtype=D)
    sal = torch.randn(4, 15, 2, dtype=D)
    ref = rcap(reads_region, x, sal)
    torch.testing.assert_close(rcap(reads_region, x, 5 * sal + 2), ref)
    predicted = reads_region(x).argmax(1)
    torch.testing.assert_close(rcap(reads_region, x, sal, target=predicted), ref)


@given(st.integers(1, 25))
def test_chunked_equals_unchunked(rows):
    x = torch.randn(3, 10, 2, dtype=D)
    sal = torch.randn(3, 10, 2, dtype=D)
    full = rcap(reads_region, x, sal, target=1)
    torch.testing.assert_close(rcap(reads_region, x, sal, target=1, max_examples_per_batch=rows), full)


def test_tuple_inputs_share_one_normalisation_and_baselines_fill_the_rest():
    a, b = torch.rand(2, 6, dtype=D) + 1, torch.rand(2, 4, 2, dtype=D) + 1
    model = lambda p, q: torch.stack([p.sum(1), q.flatten(1).sum(1)], dim=1)  # noqa: E731
    sal = (torch.rand(2, 6, dtype=D), torch.rand(2, 4, 2, dtype=D))
    res = rcap(model, (a, b), sal, target=0, softmax=False, baselines=(0.0, 1.0), return_levels=True)
    flat = torch.cat([sal[0], sal[1].flatten(1)], 1)
    s = (flat - flat.amin(1, keepdim=True)) / (flat.amax(1, keepdim=True) - flat.amin(1, keepdim=True))
    q = s.sort(1).values[:, int(14 * 0.9) - 1]  # the highest level, 0.9, of 14 cells
    keep = s[:, :6] > q[:, None]
    torch.testing.assert_close(res.probability[:, 0], (a * keep).sum(1))


def test_bad_arguments_fail_clearly():
    x = torch.randn(2, 8)
    with pytest.raises(ValueError, match="levels"):
        rcap(reads_region, x, x, levels=(0.5, 1.0))
    with pytest.raises(ValueError, match="levels"):
        rcap(reads_region, x, x, levels=())
    with pytest.raises(ValueError, match="attributions"):
        rcap(reads_region, x, x[:, :3])
    with pytest.raises(ValueError, match="classifier output"):
        rcap(lambda z: z.sum(1), x, x)
    with pytest.raises(ValueError, match="softmax"):
        rcap(lambda z: z.sum(1), x, x, target=0)
