"""HorizonActivationResult: proportionality line, signed area, difference, equivariant point,
normalisation and layer selection on hand-made curves with known answers."""

import pytest
import torch

from captum_ts.attr.horizon.result import HorizonActivationResult


def _result(causal, anti, names=("w",), **kw):
    c = torch.as_tensor(causal, dtype=torch.float64)
    a = torch.as_tensor(anti, dtype=torch.float64)
    if c.dim() == 1:
        c, a = c[:, None, None], a[:, None, None]
    return HorizonActivationResult(c, a, tuple(names), **kw)


def test_line_runs_between_the_endpoints():
    res = _result([0.0, 3.0, 3.5, 4.0], [4.0, 2.0, 1.0, 0.0])
    torch.testing.assert_close(
        res.line("causal"), torch.tensor([0.0, 4 / 3, 8 / 3, 4.0], dtype=torch.float64)
    )
    torch.testing.assert_close(
        res.line("anticausal"), torch.tensor([4.0, 8 / 3, 4 / 3, 0.0], dtype=torch.float64)
    )


def test_signed_area_by_the_trapezoid_rule():
    res = _result([0.0, 3.0, 3.5, 4.0], [4.0, 2.0, 1.0, 0.0])
    gap = torch.tensor([0.0, 3 - 4 / 3, 3.5 - 8 / 3, 0.0], dtype=torch.float64)
    expected = ((gap[1:] + gap[:-1]) / 2).sum()
    torch.testing.assert_close(res.signed_area("causal"), expected)
    assert float(res.signed_area("causal")) > 0  # above the line: early steps dominate
    cumulative = res.signed_area("causal", cumulative=True)
    assert cumulative.shape == (4,) and float(cumulative[0]) == 0
    torch.testing.assert_close(cumulative[-1], expected)
    torch.testing.assert_close(res.signed_area("causal", relative=True), expected / (3 * 4 / 2))
    assert float(res.signed_area("anticausal")) < 0  # below its line


def test_difference_and_equivariant_point():
    res = _result([0.0, 1.0, 3.0, 4.0, 4.0], [4.0, 3.5, 2.0, 1.0, 0.0])
    d = torch.tensor([-4.0, -2.5, 1.0, 3.0, 4.0], dtype=torch.float64)
    torch.testing.assert_close(res.difference(normalize=False), d)
    torch.testing.assert_close(res.difference(), d / 4)
    assert int(res.equivariant_point()) == 2


def test_normalized_divides_by_the_maximum_of_both_modes():
    res = _result([0.0, 5.0, 4.0], [4.0, 2.0, 0.0]).normalized()
    torch.testing.assert_close(res.causal, torch.tensor([0.0, 1.0, 0.8], dtype=torch.float64))
    torch.testing.assert_close(res.anticausal, torch.tensor([0.8, 0.4, 0.0], dtype=torch.float64))
    assert float(res.scale) == 5.0
    assert float(res.normalized().scale) == 5.0


def test_model_curve_is_the_mean_over_active_layers():
    c = torch.tensor([[0.0, 0.0, 0.0], [1.0, 3.0, 0.0], [2.0, 4.0, 0.0]], dtype=torch.float64)[:, None, :]
    a = torch.tensor([[2.0, 4.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)[:, None, :]
    res = HorizonActivationResult(c, a, ("a", "b", "unused"))
    torch.testing.assert_close(res.causal, torch.tensor([0.0, 2.0, 3.0], dtype=torch.float64))
    per_layer = HorizonActivationResult(c, a, ("a", "b", "unused"), per_layer=True)
    assert per_layer.causal.shape == (3, 3)
    assert per_layer.curve("causal", layer="b").tolist() == [0.0, 3.0, 4.0]
    only_a = per_layer.select_layers(["a"])
    assert only_a.layer_names == ("a",) and only_a.causal.shape == (3, 1)
    assert res.select_layers(lambda n: n != "a").causal.tolist() == [0.0, 3.0, 4.0]
    normalized = per_layer.normalized()
    torch.testing.assert_close(normalized.causal.amax(0)[:2], torch.tensor([1.0, 1.0], dtype=torch.float64))


def test_variates_axis_and_curve_selection():
    c = torch.rand(4, 2, 3, dtype=torch.float64)
    res = HorizonActivationResult(c, c.flip(0), ("a", "b", "c"), variates=((0,), (1,)))
    assert res.causal.shape == (4, 2)
    assert res.normalized().causal.amax(0).max() <= 1
    torch.testing.assert_close(res.curve("causal", variate=1), res.causal[:, 1])
    with pytest.raises(ValueError, match="variate"):
        res.curve("causal")
    with pytest.raises(ValueError, match="mode"):
        res.curves("forward")
    with pytest.raises(KeyError, match="no parameter"):
        res.select_layers(["z"])
    assert "H=3" in repr(res)
