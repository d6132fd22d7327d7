"""SequenceDreaming in a decoder's code space, and the PCA decoder."""

import pytest
import torch
from torch import nn

from captum_ts.attr.dreaming.decoders import PCADecoder
from captum_ts.attr.dreaming.regularizers import L2, GaussianBlur, TotalVariation
from captum_ts.attr.dreaming.sequence_dreaming import SequenceDreaming
from captum_ts.models import CNN1dClassifier

T, F, K = 24, 2, 4


def data(n=40, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, T, F, generator=g).cumsum(1).to(dtype)


def model(dtype=torch.float64):
    torch.manual_seed(2)
    return CNN1dClassifier(F, 3, channels=6, kernel_size=5).to(dtype).eval()


def distance_to_span(pca, x):
    """Relative distance of series ``x`` to the affine span of ``pca``."""
    centred = (x.flatten(1) - pca.mean).double()
    v = pca.components.double()
    residual = centred - centred @ v.T @ v
    return residual.norm(dim=1) / x.flatten(1).double().norm(dim=1)


def test_pca_decoder_matches_the_svd_and_round_trips():
    x = data()
    pca = PCADecoder.fit(x, K)
    assert pca.mean.dtype == torch.float64 and pca.components.shape == (K, T * F)
    assert torch.allclose(pca.components @ pca.components.T, torch.eye(K, dtype=torch.float64), atol=1e-12)
    z = torch.randn(5, K, dtype=torch.float64)
    assert torch.allclose(pca.encode(pca.decode(z)), z, atol=1e-12)
    assert pca(z).shape == (5, T, F)
    # the first component explains the most variance, as an SVD of the centred data says
    var = (pca.encode(x)).var(0)
    assert (var[:-1] >= var[1:]).all()
    s = torch.linalg.svdvals(x.flatten(1) - x.flatten(1).mean(0))
    assert torch.allclose(var, s[:K] ** 2 / (len(x) - 1), rtol=1e-10)


def test_pca_decoder_is_fitted_in_float64_and_stored_in_the_data_dtype():
    x64 = data()
    pca32 = PCADecoder.fit(x64.float(), K)
    assert pca32.components.dtype == torch.float32
    pca64 = PCADecoder.fit(x64, K)
    # up to the sign of each component, the float32 fit is the float64 one rounded
    sign = torch.sign((pca32.components.double() * pca64.components).sum(1, keepdim=True))
    assert torch.allclose(pca32.components.double() * sign, pca64.components, atol=1e-4)
    assert set(dict(pca32.named_buffers())) == {"mean", "components"}


@pytest.mark.parametrize("as_codes", [False, True])
def test_code_space_dream_stays_in_the_span(as_codes):
    x = data()
    pca = PCADecoder.fit(x, K)
    starts = x[:3] if not as_codes else pca.encode(x[:3])
    before = starts.clone()
    out, traj = SequenceDreaming(model()).attribute(
        starts,
        target=torch.tensor([0, 1, 2]),
        decoder=pca,
        regularizers=(L2(1e-3), TotalVariation(1e-2), GaussianBlur(1.0, every=5)),  # projections too
        steps=40,
        return_trajectory=True,
    )
    assert out.shape == (3, T, F) and out.dtype == torch.float64 and traj.shape == (40, 3)
    assert distance_to_span(pca, out).max() < 1e-5
    assert (distance_to_span(pca, x[:3]) > 1e-2).all()  # the real series are not in the span
    assert torch.equal(starts, before)  # not modified


def test_code_space_dream_raises_the_objective():
    x = data()
    pca = PCADecoder.fit(x, K)
    targets = torch.tensor([0, 1, 2])
    # lr is in code units: the codes of this data have standard deviations 4 to 17
    out, traj = SequenceDreaming(model()).attribute(
        x[:3], target=targets, decoder=pca, regularizers=(), lr=0.5, steps=40, return_trajectory=True
    )
    with torch.no_grad():
        start = model()(pca(pca.encode(x[:3])))[torch.arange(3), targets]  # the start's projection
        end = model()(out)[torch.arange(3), targets]
    assert torch.allclose(traj[-1], end, atol=1e-12)
    assert (end > start + 0.4).all()


def test_loss_terms_act_on_the_decoded_series():
    x = data()
    pca = PCADecoder.fit(x, K)
    dream = SequenceDreaming(model()).attribute
    tv = [
        TotalVariation(1.0).penalty(
            dream(
                x[:3], target=0, decoder=pca, regularizers=(TotalVariation(w),), lr=0.5, steps=40
            ).transpose(1, 2)
        )
        for w in (0.0, 0.1)
    ]
    assert (tv[1] < 0.9 * tv[0]).all()


def test_series_space_dream_leaves_the_span():
    """The contrast: without the decoder the same dream leaves the span."""
    x = data()
    pca = PCADecoder.fit(x, K)
    out = SequenceDreaming(model()).attribute(x[:3], target=0, regularizers=(), steps=20)
    assert distance_to_span(pca, out).min() > 1e-2


def test_code_space_dream_in_float32_and_float16_stays_in_the_span():
    x = data(dtype=torch.float32)
    pca = PCADecoder.fit(x, K)
    for dtype in (torch.float32, torch.float16):
        out = SequenceDreaming(model(dtype)).attribute(
            x[:2].to(dtype), target=1, decoder=pca, regularizers=(L2(1e-3),), steps=10
        )
        assert out.dtype == dtype
        tol = 1e-5 if dtype == torch.float32 else 2e-3  # float16 rounding of the returned series
        assert distance_to_span(pca, out.float()).max() < tol


def test_any_callable_decoder_without_encode_takes_codes_and_loss_terms():
    basis = torch.randn(3, T * F, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def decode(z):
        return (z @ basis).reshape(-1, T, F)

    z0 = torch.randn(2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    out = SequenceDreaming(model()).attribute(z0, target=0, decoder=decode, regularizers=(L2(1e-3),), steps=5)
    coef = torch.linalg.lstsq(basis.T, out.flatten(1).T).solution
    assert torch.allclose(coef.T @ basis, out.flatten(1), atol=1e-10)
    with pytest.raises(ValueError, match=r"does not have: give it an `encode.*or pass loss terms"):
        SequenceDreaming(model()).attribute(z0, target=0, decoder=decode, steps=5)  # default projections
    with pytest.raises(ValueError, match=r"are series, and this decoder \(function\) has no `encode`"):
        SequenceDreaming(model()).attribute(data()[:2], target=0, decoder=decode, regularizers=(), steps=5)


def test_a_trained_decoder_module_is_frozen_and_restored():
    dec = nn.Sequential(nn.Linear(3, T * F), nn.Unflatten(1, (T, F))).double().train()
    flags = [p.requires_grad for p in dec.parameters()]
    z0 = torch.randn(2, 3, dtype=torch.float64)
    SequenceDreaming(model()).attribute(z0, target=0, decoder=dec, regularizers=(), steps=3)
    assert dec.training and [p.requires_grad for p in dec.parameters()] == flags
    assert all(p.grad is None for p in dec.parameters())


@pytest.mark.parametrize(
    ("decoder", "inputs", "error", "match"),
    [
        (42, "codes", TypeError, "`decoder` must be a callable"),
        (lambda z: z, "codes", ValueError, r"the decoder must return series \(B, T, F\)"),
        (lambda z: [z], "codes", TypeError, "the decoder must return a tensor"),
        (lambda z: torch.full((len(z), T, F), float("nan")), "codes", ValueError, "NaN or Inf"),
        ("pca", "flat", ValueError, r"expected at least 2 dims"),
        ("pca", "short", ValueError, r"series must have shape \(B, 24, 2\)"),
        ("pca", "wrong_k", ValueError, r"codes must have shape \(B, 4\)"),
        ("pca", "tuple", ValueError, "decodes one tensor"),
    ],
)
def test_bad_decoders_and_starts_are_refused(decoder, inputs, error, match):
    x = data()
    pca = PCADecoder.fit(x, K)
    decoder = pca if decoder == "pca" else decoder
    starts = {
        "codes": torch.zeros(2, K, dtype=torch.float64),
        "flat": torch.zeros(2, dtype=torch.float64),
        "short": x[:2, :10],
        "wrong_k": torch.zeros(2, K + 1, dtype=torch.float64),
        "tuple": (x[:2],),
    }[inputs]
    with pytest.raises(error, match=match):
        SequenceDreaming(model()).attribute(starts, target=0, decoder=decoder, regularizers=(), steps=2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"data": torch.zeros(4, T)}, ValueError, r"\(N, T, F\)"),
        ({"data": torch.zeros(4, T, 1, dtype=torch.int64)}, TypeError, "floating-point"),
        ({"data": torch.full((4, T, 1), float("nan"))}, ValueError, "NaN or Inf"),
        ({"data": torch.zeros(4, T, 1), "n_components": 5}, ValueError, r"exceeds min\(N, T\*F\) = 4"),
        ({"data": torch.zeros(4, T, 1), "n_components": 0}, ValueError, "n_components"),
    ],
)
def test_pca_fit_refuses_bad_data(kwargs, error, match):
    kwargs.setdefault("n_components", 2)
    with pytest.raises(error, match=match):
        PCADecoder.fit(**kwargs)
