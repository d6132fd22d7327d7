import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from captum_ts.metrics.white_box import aup, auprc, aur, auroc, entropy, information

sk = pytest.importorskip("sklearn.metrics")

SCORES = (aup, aur, information, entropy, auroc, auprc)


def _normalised(a: np.ndarray) -> np.ndarray:
    flat = a.reshape(len(a), -1)
    low, high = flat.min(1, keepdims=True), flat.max(1, keepdims=True)
    return ((flat - low) / (high - low + 1e-5)).reshape(a.shape)


def _reference(a: np.ndarray, t: np.ndarray) -> dict[str, float]:
    """The published definitions, written with scikit-learn and numpy on flat arrays."""
    precision, recall, thresholds = sk.precision_recall_curve(t, a)
    salient = a[t == 1]
    return {
        "aup": sk.auc(thresholds, precision[:-1]),
        "aur": sk.auc(thresholds, recall[:-1]),
        "information": np.abs(np.log2(1 - salient + 1e-5)).sum(),
        "entropy": (
            salient * np.abs(np.log2(salient + 1e-5)) + (1 - salient) * np.abs(np.log2(1 - salient + 1e-5))
        ).sum(),
        "auroc": sk.roc_auc_score(t, a),
        "auprc": sk.average_precision_score(t, a),
    }


def _fixed(seed: int, ties: bool):
    rng = np.random.default_rng(seed)
    a = rng.random((6, 20, 3))
    if ties:
        a = np.round(a, 1)  # many equal scores: thresholds must be the distinct values
    t = (rng.random((6, 20, 3)) < 0.3).astype(np.int64)
    t[:, 0, 0], t[:, 0, 1] = 1, 0  # every example has both classes
    return a, t


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_pooled_scores_match_sklearn(seed, ties):
    a, t = _fixed(seed, ties)
    ref = _reference(_normalised(a).ravel(), t.ravel())
    for fn in SCORES:
        got = fn(torch.tensor(a), torch.tensor(t))
        assert got.dim() == 0
        assert float(got) == pytest.approx(ref[fn.__name__], rel=1e-9, abs=1e-9), fn.__name__


@pytest.mark.parametrize("ties", [False, True])
def test_per_example_scores_match_sklearn(ties):
    a, t = _fixed(3, ties)
    an = _normalised(a)
    for fn in SCORES:
        got = fn(torch.tensor(a, dtype=torch.float32), torch.tensor(t), per_example=True)
        assert got.shape == (6,)
        ref = [_reference(an[i].ravel(), t[i].ravel())[fn.__name__] for i in range(6)]
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-5, err_msg=fn.__name__)


def test_without_normalisation_uses_the_raw_values():
    a, t = _fixed(4, False)
    ref = _reference(a.ravel(), t.ravel())
    for fn in SCORES:
        assert float(fn(torch.tensor(a), torch.tensor(t), normalize=False)) == pytest.approx(ref[fn.__name__])


def test_perfect_attribution():
    truth = torch.zeros(4, 10, 3)
    truth[:, :, 1] = 1
    assert float(auroc(truth, truth)) == 1.0
    assert float(auprc(truth, truth)) == 1.0
    # two distinct thresholds, 0 and ~1: recall is 1 at both, precision rises from the share
    # of salient cells (1/3) to 1, so the trapezoid AUP of a perfect binary map is ~2/3, not 1
    assert float(aur(truth, truth)) == pytest.approx(1.0, abs=1e-4)
    assert float(aup(truth, truth)) == pytest.approx((1 / 3 + 1) / 2, abs=1e-4)
    # a normalised 1 is 1 - 1e-5/(1 + 1e-5): log2 of ~2e-5, the largest information
    assert float(information(truth, truth)) == pytest.approx(40 * -math.log2(2e-5 / (1 + 1e-5)), rel=1e-4)
    assert float(entropy(truth, truth)) < 0.05


def test_constant_attribution_has_no_area():
    t = torch.tensor([[0, 1, 0, 1]])
    a = torch.full((1, 4), 0.3)
    assert float(aup(a, t)) == 0.0
    assert float(aur(a, t)) == 0.0
    assert float(auroc(a, t)) == 0.5


def test_tuple_inputs_give_one_score_per_tensor():
    a, t = _fixed(5, False)
    at, tt = torch.tensor(a), torch.tensor(t)
    out = aup((at, at[:, :, :2]), (tt, tt[:, :, :2]))
    assert isinstance(out, tuple) and len(out) == 2
    assert float(out[0]) == pytest.approx(float(aup(at, tt)))


def test_groups_without_positives_are_nan():
    a = torch.rand(2, 5)
    t = torch.tensor([[0, 0, 0, 0, 0], [0, 1, 0, 1, 0]])
    for fn in (aur, auroc, auprc):
        got = fn(a, t, per_example=True)
        assert math.isnan(float(got[0])) and not math.isnan(float(got[1]))
    assert float(aup(a, t, per_example=True)[0]) == 0.0


def test_clear_errors():
    with pytest.raises(ValueError, match="must match"):
        aup(torch.rand(2, 5), torch.ones(2, 4))
    with pytest.raises(ValueError, match="binary"):
        aup(torch.rand(2, 5), torch.full((2, 5), 0.5))
    with pytest.raises(ValueError, match="NaN"):
        aup(torch.tensor([[float("nan"), 1.0]]), torch.tensor([[0, 1]]))
    with pytest.raises(ValueError, match="one true mask per"):
        aup((torch.rand(2, 5),), (torch.ones(2, 5), torch.ones(2, 5)))


@given(
    n=st.integers(1, 4),
    length=st.integers(2, 12),
    scale=st.floats(0.1, 10.0),
    shift=st.floats(-5.0, 5.0),
    seed=st.integers(0, 2**16),
)
def test_properties(n, length, scale, shift, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, length, generator=g)
    t = (torch.rand(n, length, generator=g) < 0.5).long()
    t[:, 0], t[:, 1] = 1, 0
    a[:, 0], a[:, 1] = 1.0, 0.0  # a value range of 1, so the 1e-5 of the normalisation stays negligible
    for fn in SCORES:
        base = fn(a, t, per_example=True)
        if fn not in (information, entropy):  # these two are sensitive to the 1e-5 next to 1
            # per-example min-max normalisation: invariant to a positive affine map of each example
            np.testing.assert_allclose(fn(a * scale + shift, t, per_example=True), base, rtol=1e-3, atol=1e-3)
        # batched rows equal one-at-a-time rows
        one = torch.stack([fn(a[i : i + 1], t[i : i + 1]) for i in range(n)])
        np.testing.assert_allclose(base, one, rtol=1e-9, atol=1e-12)
    for fn in (aup, aur, auroc, auprc):
        v = fn(a, t, per_example=True)
        assert bool(((v >= -1e-9) & (v <= 1 + 1e-9)).all())
    # a ranking-only score does not change under a monotone map of the attribution
    np.testing.assert_allclose(auroc(a.pow(3), t, per_example=True), auroc(a, t, per_example=True), atol=1e-9)
