"""CPD and CPP: loop oracle, batch invariance, ties, step counts, closed forms, model state."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from captum_ts.metrics import CumulativeResult, cpd, cpp
from captum_ts.metrics._perturbation import blur_along_time
from captum_ts.metrics.cumulative import step_count

B, T, F = 4, 6, 2


def classifier(seed: int = 0, n_features: int = F) -> nn.Module:
    torch.manual_seed(seed)
    return (
        nn.Sequential(nn.Flatten(), nn.Linear(T * n_features, 8), nn.Tanh(), nn.Linear(8, 3)).double().eval()
    )


def data(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, F, generator=g, dtype=torch.float64)
    a = torch.randn(B, T, F, generator=g, dtype=torch.float64)
    return x, a


def oracle(model, x, a, k, fill, lowest, softmax=True, time_last=False):
    """Remove one (t, f) cell at a time by |a| (ties: earlier t, then lower f), one forward each."""
    with torch.no_grad():
        rows = [_oracle_row(model, x[b], a[b], k, fill[b], lowest, softmax, time_last) for b in range(len(x))]
    return torch.tensor(rows, dtype=torch.float64)


def _oracle_row(model, x, a, k, fill, lowest, softmax, time_last):
    cells = [(f, t) if time_last else (t, f) for t in range(T) for f in range(F)]
    key = [float(a[c].abs()) for c in cells]
    order = sorted(range(len(cells)), key=lambda i: (key[i] if lowest else -key[i], i))

    def out(z):
        y = model(z[None])[0]
        return torch.softmax(y, -1) if softmax else y

    current = x.clone()
    previous, row = out(current), []
    for i in order[:k]:
        current[cells[i]] = fill[cells[i]]
        now = out(current)
        row.append(float((now - previous).abs().sum()))
        previous = now
    return row


def assert_close(actual, expected, atol=1e-12):
    gap = float((actual.double() - expected.double()).abs().max())
    assert gap <= atol, f"max difference {gap:.3g}:\n{actual}\n{expected}"


@pytest.mark.parametrize("metric", [cpd, cpp])
@pytest.mark.parametrize("k", [1, 5, T * F])
def test_matches_the_one_point_at_a_time_loop(metric, k):
    model, (x, a) = classifier(), data()
    res = metric(model, x, a, n_steps=k)
    expected = oracle(model, x, a, k, torch.zeros_like(x), lowest=metric is cpp)
    assert isinstance(res, CumulativeResult) and res.metric == metric.__name__
    assert res.steps.shape == (B, k) and res.outputs.shape == (B, k + 1, 3)
    assert_close(res.steps, expected)
    assert_close(res.score, expected.sum(1))
    assert_close(res.curve[:, -1], res.score)
    assert torch.equal(res.curve[:, 0], torch.zeros(B, dtype=torch.float64))
    assert_close(res.outputs[:, 0], torch.softmax(model(x), -1).detach())


def test_channels_first_layout_and_removal_values():
    model, (x, a) = classifier(), data()
    xt, at = x.transpose(1, 2).contiguous(), a.transpose(1, 2).contiguous()
    channels_first = lambda z: model(z.transpose(1, 2))  # noqa: E731
    res = cpd(channels_first, xt, at, n_steps=7, feature_dim=1, baselines="mean")
    fill = xt.mean(2, keepdim=True).expand_as(xt)
    assert_close(res.steps, oracle(channels_first, xt, at, 7, fill, lowest=False, time_last=True))
    res = cpp(model, x, a, n_steps=7, baselines="blur", blur_sigma=1.0)
    assert_close(res.steps, oracle(model, x, a, 7, blur_along_time(x, -1, 1.0), lowest=True))
    fill = torch.randn(T, F, dtype=torch.float64)
    res = cpd(model, x, a, n_steps=7, baselines=fill)
    assert_close(res.steps, oracle(model, x, a, 7, fill.expand_as(x), lowest=False))


def test_batch_invariance_over_the_knob_and_the_composition():
    model, (x, a) = classifier(), data()
    k = 5  # 6 copies per example
    reference = cpd(model, x, a, n_steps=k)
    for rows in (1, 4, 6, 7, 13, 1000):
        res = cpd(model, x, a, n_steps=k, max_examples_per_batch=rows)
        assert_close(res.steps, reference.steps)
        assert_close(res.outputs, reference.outputs)
    part = cpd(model, x[1:3], a[1:3], n_steps=k, max_examples_per_batch=7)
    assert_close(part.steps, reference.steps[1:3])
    shuffled = torch.tensor([3, 0, 2, 1])
    assert_close(cpd(model, x[shuffled], a[shuffled], n_steps=k).steps, reference.steps[shuffled])


def test_every_forward_holds_all_copies_of_whole_examples():
    model, (x, a) = classifier(), data()
    seen = []

    def counting(z):
        seen.append(z.shape[0])
        return model(z)

    cpd(counting, x, a, n_steps=5, max_examples_per_batch=13)  # 6 copies: 2 examples per forward
    assert seen == [12, 12]
    seen.clear()
    cpd(counting, x, a, n_steps=5, max_examples_per_batch=4)  # fewer rows than copies: split
    assert seen == [4, 2] * B


def test_ties_go_to_the_earlier_time_step_then_the_lower_feature():
    model, (x, _) = classifier(), data()
    signs = torch.tensor([1.0, -1.0], dtype=torch.float64).expand(B, T, F)  # |a| all equal
    for metric in (cpd, cpp):
        res = metric(model, x, signs, n_steps=T * F)
        expected = oracle(model, x, torch.ones_like(x), T * F, torch.zeros_like(x), lowest=False)
        assert_close(res.steps, expected)  # both orders are plain (t, f) order
    ranked_by_time = torch.arange(T, dtype=torch.float64).view(1, T, 1).expand(B, T, 1)  # (B, T, 1) map
    res = cpd(model, x, ranked_by_time, n_steps=4)
    order_map = torch.arange(T, dtype=torch.float64).view(1, T, 1).expand(B, T, F)
    assert_close(res.steps, oracle(model, x, order_map, 4, torch.zeros_like(x), lowest=False))


def test_linear_model_closed_form_and_no_cancelling():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(T, F, generator=g, dtype=torch.float64)
    x, base = torch.randn(B, T, F, generator=g, dtype=torch.float64), 0.5
    model = lambda z: (z * w).flatten(1).sum(1)  # noqa: E731
    contrib = (w * (x - base)).abs().flatten(1)  # |a| of the exact (IG) map
    top = contrib.sort(1, descending=True).values
    for k in (1, 3, T * F):
        res = cpd(model, x, w * (x - base), n_steps=k, baselines=base, softmax=False)
        assert_close(res.score, top[:, :k].sum(1))
        assert_close(res.steps, top[:, :k])
        low = cpp(model, x, w * (x - base), n_steps=k, baselines=base, softmax=False)
        assert_close(low.score, top.flip(1)[:, :k].sum(1))
    # +1 and -1 contributions: removing both at once changes nothing, CPD still sees 2
    opposite = lambda z: z[:, 0] - z[:, 1]  # noqa: E731
    res = cpd(opposite, torch.ones(1, 3), torch.tensor([[1.0, -1.0, 0.0]]), n_steps=2, softmax=False)
    assert res.outputs[0, 0] == res.outputs[0, 2] and float(res.score[0]) == 2.0


def test_outputs_of_a_forecaster_and_per_example_forward_args():
    g = torch.Generator().manual_seed(2)
    x, a = torch.randn(B, T, F, generator=g), torch.randn(B, T, F, generator=g)
    scale = torch.tensor([1.0, 2.0, -1.0, 0.5])
    forecaster = lambda z, s: z.cumsum(1)[:, -3:] * s.view(-1, 1, 1)  # noqa: E731 (B, 3, F)
    res = cpd(forecaster, x, a, n_steps=5, softmax=False, additional_forward_args=(scale,))
    assert res.outputs.shape == (B, 6, 3, F)
    for b in range(B):
        single = cpd(
            forecaster,
            x[b : b + 1],
            a[b : b + 1],
            n_steps=5,
            softmax=False,
            additional_forward_args=(scale[b : b + 1],),
        )
        assert_close(res.steps[b], single.steps[0], atol=1e-5)
    chunked = cpd(
        forecaster, x, a, n_steps=5, softmax=False, additional_forward_args=(scale,), max_examples_per_batch=6
    )
    assert_close(chunked.steps, res.steps, atol=1e-6)
    with pytest.raises(ValueError, match=r"additional_forward_args\[0\]"):
        cpd(forecaster, x, a, n_steps=5, softmax=False, additional_forward_args=(scale[:3],))


def test_tuple_inputs_are_ranked_jointly():
    model, (x, a) = classifier(), data()
    both = lambda u, v: model(torch.cat([u, v], dim=2))  # noqa: E731
    res = cpd(both, (x[..., :1], x[..., 1:]), (a[..., :1], a[..., 1:]), n_steps=6, baselines=(0.0, 0.0))
    assert res.n_regions == T * F
    assert_close(res.steps, oracle(model, x, a, 6, torch.zeros_like(x), lowest=False))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_low_precision_gives_finite_float32_sums(dtype):
    model, (x, a) = classifier(), data()
    ref = cpd(model, x, a, n_steps=6).score
    res = cpd(model.to(dtype), x.to(dtype), a.to(dtype), n_steps=6)
    assert res.steps.dtype == torch.float32 and res.outputs.dtype == dtype
    assert bool(torch.isfinite(res.score).all())
    assert_close(res.score, ref, atol=0.05)


def test_step_count_from_fractions_is_exact_in_float32():
    for total in range(1, 201):
        for tenths in range(1, 11):
            expected = -(-tenths * total // 10)  # ceil(tenths / 10 * total) in integers
            assert step_count(np.float32(tenths / 10), total) == expected, (tenths, total)
            assert step_count(tenths / 10, total) == expected
    assert step_count(0.001, 30) == 1 and step_count(None, 30) == 30 and step_count(np.int64(4), 30) == 4
    model, (x, a) = classifier(), data()
    assert cpd(model, x, a, n_steps=np.float32(0.25)).n_steps == 3  # 0.25 of 12 points


def test_bad_arguments_name_the_argument():
    model, (x, a) = classifier(), data()
    with pytest.raises(ValueError, match=r"n_steps.*12 regions"):
        cpd(model, x, a, n_steps=13)
    with pytest.raises(ValueError, match="n_steps"):
        cpd(model, x, a, n_steps=0)
    with pytest.raises(ValueError, match="n_steps"):
        cpp(model, x, a, n_steps=1.5)
    with pytest.raises(TypeError, match="n_steps"):
        cpd(model, x, a, n_steps=True)
    with pytest.raises(TypeError, match="n_steps"):
        cpd(model, x, a, n_steps="all")
    with pytest.raises(ValueError, match="baselines"):
        cpd(model, x, a, n_steps=2, baselines="median")
    with pytest.raises(ValueError, match="blur_sigma"):
        cpd(model, x, a, n_steps=2, blur_sigma=1.0)
    with pytest.raises(ValueError, match="attributions"):
        cpd(model, x, a[:, :3], n_steps=2)
    with pytest.raises(TypeError, match="softmax"):
        cpd(model, x, a, n_steps=2, softmax=1)
    with pytest.raises(ValueError, match="max_examples_per_batch"):
        cpd(model, x, a, n_steps=2, max_examples_per_batch=0)
    with pytest.raises(ValueError, match="softmax=False"):
        cpd(lambda z: z.sum((1, 2)), x, a, n_steps=2)
    with pytest.raises(ValueError, match="one row per input row"):
        cpd(lambda z: z.sum(), x, a, n_steps=2, softmax=False)
    with pytest.raises(RuntimeError, match="NaN or Inf"):
        cpd(lambda z: model(z) / (z != 0).all().double() * 0, x, a, n_steps=2)


def test_model_and_inputs_are_left_untouched():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(T * F, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 3)
    )
    net = net.double().train()
    net[1].weight.requires_grad_(False)
    before = [t.detach().clone() for t in (*net.parameters(), *net.buffers())]
    x, a = data()
    x0, a0 = x.clone(), a.clone()
    first = cpd(net, x, a, n_steps=4)
    second = cpp(net, x, a, n_steps=4)
    assert net.training and all(m.training for m in net.modules())
    assert not net[1].weight.requires_grad and net[4].weight.requires_grad
    assert all(p.grad is None for p in net.parameters())
    assert all(torch.equal(u, v) for u, v in zip(before, (*net.parameters(), *net.buffers())))
    assert torch.equal(x, x0) and torch.equal(a, a0)
    net.eval()  # the metric ran in eval mode: same as an eval-mode model, dropout off
    assert_close(first.steps, cpd(net, x, a, n_steps=4).steps)
    assert_close(second.steps, oracle(net, x, a, 4, torch.zeros_like(x), lowest=True))
    assert math.isfinite(float(first.score.sum()))
