import importlib
import itertools
import math

import pytest
import torch

from captum_ts.datasets.switch_feature import LABEL_SLOPE, MEANS, TRANSITIONS, switch_feature

# the package exports the function under the module's name: fetch the module itself
module = importlib.import_module("captum_ts.datasets.switch_feature")


@pytest.fixture(scope="module")
def big():
    return switch_feature(n_samples=2000, length=100, seed=0)


def _assert_close(actual, expected, atol):
    gap = float((actual.double() - expected.double()).abs().max())
    assert gap <= atol, f"max difference {gap:.3g} > {atol}:\n{actual}\n{expected}"


def _residuals(data):
    return data.inputs.double() - torch.tensor(MEANS, dtype=torch.float64)[data.states]


def _segment_starts(states):
    steps = torch.arange(states.shape[1])
    new = torch.ones_like(states, dtype=torch.bool)
    new[:, 1:] = states[:, 1:] != states[:, :-1]
    return torch.where(new, steps, 0).cummax(1).values


def _expected_label_rate(mean: float, var: float) -> float:
    """E[sigmoid(3 x)] for x ~ N(mean, var), by quadrature on a fine grid."""
    x = torch.linspace(mean - 10, mean + 10, 20001, dtype=torch.float64)
    density = torch.exp(-((x - mean) ** 2) / (2 * var)) / math.sqrt(2 * math.pi * var)
    return float(torch.trapezoid(torch.sigmoid(LABEL_SLOPE * x) * density, x))


def test_shapes_and_types(big):
    assert big.inputs.shape == (2000, 100, 3) and big.inputs.dtype == torch.float32
    assert big.labels.shape == (2000, 100) and big.labels.dtype == torch.long
    assert big.saliency.shape == (2000, 100, 3) and big.states.shape == (2000, 100)
    assert set(big.labels.unique().tolist()) == {0, 1}
    assert set(big.states.unique().tolist()) == {0, 1, 2}


def test_transition_frequencies_match_the_matrix(big):
    prev, nxt = big.states[:, :-1].reshape(-1), big.states[:, 1:].reshape(-1)
    counts = torch.bincount(prev * 3 + nxt, minlength=9).view(3, 3).float()
    freq = counts / counts.sum(1, keepdim=True)
    _assert_close(freq, torch.tensor(TRANSITIONS), atol=0.005)


def test_start_distribution_is_uniform():
    first = switch_feature(n_samples=30000, length=1, seed=5).states[:, 0]
    freq = torch.bincount(first, minlength=3).float() / first.numel()
    _assert_close(freq, torch.full((3,), 1 / 3), atol=0.012)


def test_emission_mean_and_variance_per_state(big):
    for state in range(3):
        rows = big.inputs[big.states == state]
        _assert_close(rows.mean(0), torch.tensor(MEANS[state]), atol=0.01)
        _assert_close(rows.var(0), torch.full((3,), 0.1), atol=0.006)


def test_default_emissions_are_practically_independent_along_time(big):
    r = _residuals(big)
    same = (big.states[:, 1:] == big.states[:, :-1]).unsqueeze(-1).expand(-1, -1, 3)
    lag1 = (r[:, 1:] * r[:, :-1])[same].mean()
    assert abs(float(lag1)) < 0.002  # kernel: 0.1 * exp(-12.5) ~ 4e-7


def test_empirical_covariance_along_time_matches_the_kernel():
    scale, var = 3.0, 0.1
    data = switch_feature(n_samples=3000, length=20, seed=1, lengthscale=scale, variance=var)
    r, start = _residuals(data), _segment_starts(data.states)
    for lag in range(5):
        same = (start[:, lag:] == start[:, : start.shape[1] - lag]).unsqueeze(-1).expand(-1, -1, 3)
        cov = (r[:, lag:] * r[:, : r.shape[1] - lag])[same].mean()
        assert float(cov) == pytest.approx(var * math.exp(-(lag**2) / (2 * scale**2)), abs=0.003)
    # the process restarts at a switch: no covariance across a segment boundary
    switch = (start[:, 1:] != start[:, :-1]).unsqueeze(-1).expand(-1, -1, 3)
    assert int(switch.sum()) > 3000
    assert abs(float((r[:, 1:] * r[:, :-1])[switch].mean())) < 0.006


def test_label_rate_matches_the_expected_sigmoid(big):
    for state in range(3):
        rate = big.labels[big.states == state].float().mean()
        expected = _expected_label_rate(MEANS[state][state], 0.1 * (1 + module.JITTER))
        assert float(rate) == pytest.approx(expected, abs=0.008)
    # the state means give distinct rates: about 0.87, 0.07 and 0.87
    assert _expected_label_rate(-1.0, 0.1) == pytest.approx(0.07, abs=0.01)


def test_saliency_is_exactly_one_hot_at_the_state(big):
    assert torch.equal(big.saliency, torch.nn.functional.one_hot(big.states, 3).float())


def test_seeded_and_chunking_does_not_change_the_draws(monkeypatch):
    a, b, c = switch_feature(40, 30, seed=3), switch_feature(40, 30, seed=3), switch_feature(40, 30, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a.inputs, c.inputs)
    monkeypatch.setattr(module, "_CHUNK_ENTRIES", 30 * 30 * 3)  # 3 series per chunk
    d = switch_feature(40, 30, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a, d))


def test_segment_draws_equal_one_draw_per_segment():
    data_states = switch_feature(6, 40, seed=2, lengthscale=4.0).states
    z = torch.randn(6, 40, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    factor = module._kernel_factor(40, 4.0, 0.1)
    fast = module._segment_draws(data_states, z, factor)
    for n in range(6):
        bounds = [0, *[t for t in range(1, 40) if data_states[n, t] != data_states[n, t - 1]], 40]
        for a, e in itertools.pairwise(bounds):
            _assert_close(fast[n, a:e], factor[: e - a, : e - a] @ z[n, a:e], atol=1e-15)


def test_zero_variance_gives_the_state_means():
    data = switch_feature(3, 10, seed=0, variance=0.0)
    assert torch.equal(data.inputs, torch.tensor(MEANS)[data.states])


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="n_samples"):
        switch_feature(n_samples=0)
    with pytest.raises(TypeError, match="length"):
        switch_feature(length=2.5)
    with pytest.raises(TypeError, match="seed"):
        switch_feature(seed="1")
    with pytest.raises(ValueError, match="lengthscale"):
        switch_feature(lengthscale=0.0)
    with pytest.raises(ValueError, match="variance"):
        switch_feature(variance=-0.1)
    with pytest.raises(ValueError, match="variance"):
        switch_feature(variance=float("nan"))
