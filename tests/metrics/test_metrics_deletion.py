"""Deletion / insertion AUC: counts per fraction, trapezoid, relation to selectivity, blur."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from captum_ts.metrics._perturbation import blur_along_time
from captum_ts.metrics.deletion import PAPER_FRACTIONS, deletion_auc, insertion_auc
from captum_ts.metrics.selectivity import selectivity

D = torch.float64


def counts_marked(z):
    """(B,) number of cells holding the marker value 7."""
    return (z == 7.0).flatten(1).sum(1).to(D)


def test_deletion_removes_ceil_of_the_fraction_of_regions():
    x = torch.rand(2, 15, 2, dtype=D)
    attr = torch.randn(2, 15, 2, dtype=D)
    auc, curve = deletion_auc(
        counts_marked, x, attr, target=None, baselines=7.0, softmax=False, return_curve=True
    )
    regions = torch.tensor([np.ceil(f * 15 - 1e-9) for f in PAPER_FRACTIONS], dtype=D)
    torch.testing.assert_close(curve, (2 * regions).expand(2, -1))
    # the paper's number: sklearn.metrics.auc over x = 0.1 .. 1.0 of the same ten values
    paper = np.trapezoid(curve[0].numpy(), x=np.linspace(0.1, 1.0, 10))
    assert float(auc[0]) == pytest.approx(paper)


def test_insertion_reveals_the_top_regions_over_the_baseline():
    x = torch.full((1, 10), 7.0, dtype=D)
    attr = torch.arange(10, dtype=D).view(1, 10)
    fractions = [0.0, 0.5, 1.0]
    auc, curve = insertion_auc(
        counts_marked, x, attr, fractions=fractions, baselines=0.0, softmax=False, return_curve=True
    )
    assert curve.tolist() == [[0.0, 5.0, 10.0]]
    assert float(auc) == pytest.approx((0 + 5) / 2 * 0.5 + (5 + 10) / 2 * 0.5)


@given(st.integers(1, 3), st.integers(2, 12), st.integers(0, 2**16))
def test_deletion_over_all_fractions_equals_the_selectivity_curve(b, t, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, t, 2, generator=g, dtype=D)
    attr = torch.randn(b, t, 2, generator=g, dtype=D)
    w = torch.rand(t, 2, generator=g, dtype=D)
    model = lambda z: (z * w).flatten(1).sum(1)  # noqa: E731
    fractions = [k / t for k in range(t + 1)]
    _, curve = deletion_auc(model, x, attr, fractions=fractions, softmax=False, return_curve=True)
    ref = selectivity(model, x, attr, n_steps=None)
    torch.testing.assert_close(curve, ref.curve, rtol=0, atol=1e-12)


def test_a_good_map_has_lower_deletion_and_higher_insertion_auc():
    x = torch.rand(8, 20, 1, dtype=D) + 0.5

    def model(z):
        s = z[:, :4].flatten(1).sum(1)
        return torch.stack([-s, s], dim=1)

    good = torch.zeros(8, 20, 1, dtype=D)
    good[:, :4] = 1
    good = good + 0.01 * torch.rand(8, 20, 1, dtype=D)
    bad = -good
    assert (deletion_auc(model, x, good, target=1) < deletion_auc(model, x, bad, target=1)).all()
    kw = dict(target=1, baselines=0.0)
    assert (insertion_auc(model, x, good, **kw) > insertion_auc(model, x, bad, **kw)).all()
    # target None: the predicted class (1 for these positive series)
    torch.testing.assert_close(deletion_auc(model, x, good), deletion_auc(model, x, good, target=1))


def test_blur_along_time():
    const = torch.full((2, 30, 3), 1.5, dtype=D)
    torch.testing.assert_close(blur_along_time(const, -1, 3.0), const)
    x = torch.randn(2, 30, 3, dtype=D)
    assert torch.equal(blur_along_time(x, -1, 0.0), x)
    blurred = blur_along_time(x, -1, 2.0)
    assert blurred.diff(dim=1).abs().mean() < x.diff(dim=1).abs().mean() / 2  # smoother
    torch.testing.assert_close(blur_along_time(x.transpose(1, 2), 1, 2.0), blurred.transpose(1, 2))
    # each feature is blurred on its own
    torch.testing.assert_close(blur_along_time(x[:, :, :1], -1, 2.0), blurred[:, :, :1])


def test_insertion_default_starts_from_the_blurred_series():
    x = torch.randn(2, 28, 2, dtype=D)
    attr = torch.randn(2, 28, 2, dtype=D)
    model = lambda z: z.flatten(1).square().sum(1)  # noqa: E731
    _, curve = insertion_auc(model, x, attr, softmax=False, return_curve=True)
    torch.testing.assert_close(curve[:, 0], model(blur_along_time(x, -1, 2.0)))


@given(st.integers(1, 30))
def test_chunked_equals_unchunked(rows):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 3)).double()
    x = torch.randn(3, 10, 2, dtype=D)
    attr = torch.randn(3, 10, 2, dtype=D)
    for fn in (deletion_auc, insertion_auc):
        full = fn(net, x, attr, target=2)
        torch.testing.assert_close(fn(net, x, attr, target=2, max_examples_per_batch=rows), full)


def test_bad_arguments_fail_clearly():
    x = torch.randn(2, 8)
    model = lambda z: torch.stack([z.sum(1), -z.sum(1)], 1)  # noqa: E731
    with pytest.raises(ValueError, match="fractions"):
        deletion_auc(model, x, x, fractions=[0.5, 0.2])
    with pytest.raises(ValueError, match="fractions"):
        deletion_auc(model, x, x, fractions=[0.5])
    with pytest.raises(ValueError, match="baselines"):
        insertion_auc(model, x, x, baselines="noise")
    with pytest.raises(ValueError, match="blur_sigma"):
        insertion_auc(model, x, x, blur_sigma=-1.0)
