"""Regularisers of SequenceDreaming: closed forms, loop oracles, neutral settings, row independence."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from captum_ts.attr.dreaming.regularizers import (
    L1,
    L2,
    Clip,
    ExponentialSmoothing,
    GaussianBlur,
    LossTerm,
    Projection,
    ProjectionPenalty,
    TotalVariation,
    default_regularizers,
    exponential_smoothing,
    from_channels_by_time,
    gaussian_blur,
    to_channels_by_time,
)


def smoothing_loop(x, alpha):
    """The recursion itself, one time step at a time (the oracle)."""
    out = x.clone()
    for t in range(1, x.shape[-1]):
        out[..., t] = alpha * x[..., t] + (1 - alpha) * out[..., t - 1]
    return out


def blur_loop(x, sigma, truncate=4.0):
    """Gaussian blur with edge replication, written as an explicit weighted sum."""
    radius = math.ceil(truncate * sigma)
    weights = [math.exp(-0.5 * (k / sigma) ** 2) for k in range(-radius, radius + 1)]
    total = sum(weights)
    t = x.shape[-1]
    out = torch.zeros_like(x)
    for i in range(t):
        for k, w in zip(range(-radius, radius + 1), weights):
            out[..., i] += w / total * x[..., min(max(i + k, 0), t - 1)]
    return out


# ----------------------------------------------------------------- layout


@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
    batch=st.integers(1, 3),
    data=st.data(),
)
def test_channels_by_time_round_trip(shape, batch, data):
    full = (batch, *shape)
    time_dim = data.draw(st.integers(1, len(full) - 1))
    x = torch.randn(full)
    view = to_channels_by_time(x, time_dim)
    assert view.shape == (batch, math.prod(shape) // shape[time_dim - 1], shape[time_dim - 1])
    assert torch.equal(from_channels_by_time(view, x.shape, time_dim), x)
    # the time axis really ends up last: a series constant over time stays constant along the last axis
    assert torch.equal(to_channels_by_time(x.movedim(time_dim, -1), -1), view)


def test_channel_last_and_channel_first_layouts_agree():
    x = torch.randn(2, 20, 3)
    assert torch.equal(to_channels_by_time(x, 1), to_channels_by_time(x.transpose(1, 2), -1))
    with pytest.raises(ValueError, match="time_dim"):
        to_channels_by_time(x, 0)


# ----------------------------------------------------------------- loss terms


def test_loss_terms_closed_forms():
    x = torch.tensor([[[1.0, -2.0, 2.0]], [[0.0, 0.0, 0.0]]])  # (B=2, C=1, T=3)
    assert torch.allclose(L2(0.5).penalty(x), torch.tensor([4.5, 0.0]))
    assert torch.allclose(L1(0.5).penalty(x), torch.tensor([2.5, 0.0]))
    assert torch.allclose(TotalVariation(0.5).penalty(x), torch.tensor([3.5, 0.0]))  # |−3| + |4|
    # channels add up
    two = torch.cat([x, 2 * x], dim=1)
    assert torch.allclose(TotalVariation(1.0).penalty(two), torch.tensor([21.0, 0.0]))


def test_loss_terms_gradients():
    x = torch.tensor([[[1.0, -2.0, 2.0]]], requires_grad=True)
    (g,) = torch.autograd.grad(L2(0.25).penalty(x).sum(), x)
    assert torch.allclose(g, 0.5 * x.detach())
    (g,) = torch.autograd.grad(TotalVariation(1.0).penalty(x).sum(), x)
    assert torch.allclose(g, torch.tensor([[[1.0, -2.0, 1.0]]]))


@pytest.mark.parametrize("cls", [L1, L2, TotalVariation])
def test_loss_term_weight_is_checked(cls):
    with pytest.raises(ValueError, match="weight"):
        cls(-1.0)
    with pytest.raises(TypeError, match="weight"):
        cls("big")


def test_projection_penalty():
    blur = GaussianBlur(sigma=2.0)
    term = ProjectionPenalty(blur, weight=3.0)
    x = torch.randn(4, 2, 30)
    expected = 3.0 * (x - gaussian_blur(x, 2.0)).square().sum((1, 2))
    assert torch.allclose(term.penalty(x), expected)
    assert torch.allclose(term.penalty(torch.full((1, 1, 10), 2.5)), torch.zeros(1), atol=1e-10)
    x.requires_grad_()
    (g,) = torch.autograd.grad(term.penalty(x).sum(), x)
    assert g.abs().sum() > 0
    with pytest.raises(TypeError, match="projection"):
        ProjectionPenalty(L2(1.0))


# ----------------------------------------------------------------- exponential smoothing


@given(length=st.integers(1, 300), alpha=st.floats(0.01, 1.0), seed=st.integers(0, 2**16))
def test_exponential_smoothing_matches_the_recursion(length, alpha, seed):
    x = torch.randn(2, 3, length, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    expected = smoothing_loop(x, alpha)
    assert torch.allclose(exponential_smoothing(x, alpha, zero_phase=False), expected, atol=1e-12, rtol=0)
    both = smoothing_loop(expected.flip(-1), alpha).flip(-1)
    assert torch.allclose(exponential_smoothing(x, alpha, zero_phase=True), both, atol=1e-12, rtol=0)


def test_exponential_smoothing_long_series_is_stable():
    # the cumulative-sum formula would need (1 - alpha)^-t = 0.9^-20000: overflow
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 1, 20_000, dtype=torch.float64, generator=g)
    ref = smoothing_loop(x, 0.1)
    out32 = exponential_smoothing(x.float(), 0.1, zero_phase=False)
    assert torch.isfinite(out32).all()
    assert torch.allclose(out32.double(), ref, atol=1e-5)


def test_exponential_smoothing_known_values_and_identity():
    impulse = torch.tensor([1.0, 0.0, 0.0, 0.0])
    assert torch.allclose(
        exponential_smoothing(impulse, 0.5, zero_phase=False), torch.tensor([1.0, 0.5, 0.25, 0.125])
    )
    x = torch.randn(3, 2, 17)
    assert torch.equal(ExponentialSmoothing(alpha=1.0).project(x), x)
    assert torch.equal(ExponentialSmoothing(alpha=1.0, zero_phase=False).project(x), x)


def test_zero_phase_smoothing_does_not_shift_a_peak():
    x = torch.zeros(1, 1, 101, dtype=torch.float64)
    x[..., 50] = 1.0
    causal = exponential_smoothing(x, 0.3, zero_phase=False)[0, 0]
    both = exponential_smoothing(x, 0.3, zero_phase=True)[0, 0]
    steps = torch.arange(101, dtype=torch.float64)
    assert float((causal * steps).sum() / causal.sum()) > 51.0  # lag of (1 - a) / a = 2.33 steps
    assert int(both.argmax()) == 50
    assert torch.allclose(both[40:50].flip(0), both[51:61], atol=1e-12)  # symmetric around the peak


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.5])
def test_exponential_smoothing_alpha_is_checked(alpha):
    with pytest.raises(ValueError, match="alpha"):
        ExponentialSmoothing(alpha=alpha)


# ----------------------------------------------------------------- blur


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.5])
def test_gaussian_blur_matches_the_weighted_sum(sigma):
    x = torch.randn(2, 3, 25, dtype=torch.float64)
    assert torch.allclose(gaussian_blur(x, sigma), blur_loop(x, sigma), atol=1e-12)


def test_gaussian_blur_neutral_and_constant():
    x = torch.randn(3, 2, 40)
    assert torch.equal(GaussianBlur(sigma=0.0).project(x), x)
    assert torch.equal(GaussianBlur(sigma=1e-4).project(x), x)  # sigma -> 0
    c = torch.full((2, 1, 9), -1.5)
    assert torch.allclose(GaussianBlur(sigma=3.0).project(c), c)  # radius 12 > length: still fine
    with pytest.raises(ValueError, match="sigma"):
        GaussianBlur(sigma=-1.0)
    with pytest.raises(ValueError, match="every"):
        GaussianBlur(every=0)


def test_gaussian_blur_lowers_total_variation():
    x = torch.randn(4, 1, 100)
    tv = TotalVariation(1.0)
    assert (tv.penalty(gaussian_blur(x, 1.0)) < tv.penalty(x)).all()


# ----------------------------------------------------------------- clip


def test_clip_bounds_and_identity():
    x = torch.randn(3, 2, 20) * 5
    assert torch.equal(Clip().project(x), x)  # +-inf: identity
    y = Clip(-1.0, 2.0).project(x)
    assert y.min() >= -1.0 and y.max() <= 2.0
    assert torch.equal(y, x.clamp(-1.0, 2.0))
    with pytest.raises(ValueError, match="min"):
        Clip(1.0, -1.0)


def test_clip_from_data_per_channel():
    data = torch.stack([torch.linspace(0, 1, 10), torch.linspace(-5, 5, 10)], dim=-1)[None]  # (1, T, F=2)
    clip = Clip.from_data(data, per_channel=True)
    x = torch.full((2, 10, 2), 3.0)
    y = from_channels_by_time(clip.project(to_channels_by_time(x)), x.shape)
    assert torch.allclose(y[..., 0], torch.ones(2, 10))
    assert torch.allclose(y[..., 1], torch.full((2, 10), 3.0))
    overall = Clip.from_data(data)
    assert (overall.min, overall.max) == (-5.0, 5.0)


# ----------------------------------------------------------------- rows are independent


@given(batch=st.integers(2, 5), length=st.integers(2, 60), seed=st.integers(0, 2**16))
def test_projections_and_penalties_work_row_by_row(batch, length, seed):
    x = torch.randn(batch, 2, length, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    for reg in (*default_regularizers(), L1(0.3), Clip(-0.5, 0.5), ProjectionPenalty(GaussianBlur(1.5))):
        if isinstance(reg, Projection):
            whole = reg.project(x)
            rows = torch.cat([reg.project(x[i : i + 1]) for i in range(batch)])
        else:
            whole = reg.penalty(x)
            rows = torch.cat([reg.penalty(x[i : i + 1]) for i in range(batch)])
        assert torch.allclose(whole, rows, atol=1e-12, rtol=0), reg


def test_defaults_and_protocol():
    regs = default_regularizers()
    assert [repr(r) for r in regs] == [
        "L2(weight=0.001)",
        "TotalVariation(weight=0.01)",
        "GaussianBlur(sigma=1.0, every=10, truncate=4.0)",
        "ExponentialSmoothing(alpha=0.3, every=10, zero_phase=True)",
    ]
    blur = regs[2]
    assert [s for s in range(30) if blur.due(s)] == [9, 19, 29]
    assert Clip().due(0)
    with pytest.raises(TypeError):
        LossTerm()  # abstract
    with pytest.raises(TypeError):
        Projection()


@pytest.mark.parametrize(
    ("bounds", "match"),
    [
        ((math.nan, 1.0), "`min` contains NaN"),
        ((-1.0, math.nan), "`max` contains NaN"),
        ((torch.tensor([[0.0], [math.nan]]), 1.0), "`min` contains NaN"),
        ((2.0, 1.0), r"`min` \(2.0\) must not exceed `max`"),
        ((torch.tensor([[0.0], [2.0]]), 1.0), "must not exceed `max`"),
        ((0.0, torch.tensor([[1.0], [-1.0]])), "must not exceed `max`"),
        ((torch.zeros(2, 1), torch.ones(3, 1)), "broadcast"),
    ],
)
def test_clip_refuses_nan_and_crossed_bounds(bounds, match):
    with pytest.raises(ValueError, match=match):
        Clip(*bounds)


def test_clip_accepts_equal_and_infinite_bounds():
    x = torch.randn(2, 1, 5)
    assert torch.equal(Clip(0.5, 0.5).project(x), torch.full_like(x, 0.5))
    assert torch.equal(Clip(-math.inf, 0.0).project(x), x.clamp_max(0.0))


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (torch.tensor([[0.0, math.nan], [1.0, 2.0]]), ValueError, "`data` contains NaN or Inf"),
        (torch.tensor([[0.0, math.inf]]), ValueError, "`data` contains NaN or Inf"),
        (torch.zeros(0, 5), ValueError, "`data` is empty"),
        ([[0.0, 1.0]], TypeError, "`data` must be a torch.Tensor"),
    ],
)
def test_clip_from_data_refuses_data_without_a_range(data, error, match):
    with pytest.raises(error, match=match):
        Clip.from_data(data)
