"""Continuity: closed forms (constant map, Grad x Input of a linear model), discontinuity
detection, kwargs expansion, chunk invariance, time shifts, errors."""

import pytest
import torch
from captum.attr import Saliency
from captum.metrics import sensitivity_max
from hypothesis import given
from hypothesis import strategies as st

from captum_ts._noise import normal_draws
from captum_ts.metrics.continuity import continuity
from captum_ts.metrics.perturbations import shift_along_time, time_shift

D = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_constant_explanation_scores_zero():
    w = torch.randn(10, 2, dtype=D)
    x = torch.randn(4, 10, 2, dtype=D)
    c = continuity(lambda z: w.expand_as(z), x, generator=gen())
    assert torch.equal(c, torch.zeros(4, dtype=D))


@given(st.integers(1, 4), st.integers(1, 16), st.integers(0, 2**16), st.sampled_from([None, 0.5, 1e-3]))
def test_grad_x_input_of_linear_model_never_exceeds_norm_of_w(b, t, seed, radius):
    g = gen(seed)
    w = torch.randn(t, 2, generator=g, dtype=D)
    x = torch.randn(b, t, 2, generator=g, dtype=D)
    c = continuity(lambda z: z * w, x, n_perturb_samples=8, perturb_radius=radius, generator=g)
    assert (c <= w.norm() * (1 + 1e-9)).all() and (c > 0).all()


def test_aligned_perturbation_attains_the_bound():
    w = torch.randn(12, 3, dtype=D)
    x = torch.randn(2, 12, 3, dtype=D)
    aligned = lambda z: z + 0.01 * w  # noqa: E731  delta = sign(w) |w| / 100
    c = continuity(lambda z: z * w, x, perturb_func=aligned, n_perturb_samples=3)
    torch.testing.assert_close(c, w.norm().expand(2), rtol=1e-12, atol=0)


def test_sensitivity_of_max_is_discontinuous_and_grad_x_input_of_linear_is_not():
    # SA of f = max(x1, x2) at (1, 1 + eps) jumps between (1, 0) and (0, 1): the ratio grows like 1/r
    eps = 1e-6
    x = torch.tensor([[1.0, 1.0 + eps]], dtype=D)
    onehot_argmax = lambda z: torch.nn.functional.one_hot(z.argmax(1), 2).to(D)  # noqa: E731
    scores = [
        float(continuity(onehot_argmax, x, n_perturb_samples=50, perturb_radius=r, generator=gen()))
        for r in (1e-1, 1e-2, 1e-3)
    ]
    assert scores[1] > 5 * scores[0] and scores[2] > 5 * scores[1]
    w = torch.tensor([1.0, 1.0], dtype=D)
    bounded = [
        float(continuity(lambda z: z * w, x, n_perturb_samples=50, perturb_radius=r, generator=gen()))
        for r in (1e-1, 1e-2, 1e-3)
    ]
    assert max(bounded) <= 2**0.5 + 1e-9


def test_mean_is_at_most_max_and_both_match_a_loop_over_draws():
    x = torch.randn(3, 7, dtype=D)
    expl = lambda z: z.tanh() * z  # noqa: E731
    mx = continuity(expl, x, n_perturb_samples=6, generator=gen(3))
    mean = continuity(expl, x, n_perturb_samples=6, generator=gen(3), reduction="mean")
    assert (mean <= mx).all()
    # reference: the same noise, one draw at a time
    g = gen(3)
    std = x.std(1, unbiased=False, keepdim=True) * 0.01
    ratios = []
    for _ in range(6):
        (noise,) = normal_draws(1, [tuple(x.shape)], generator=g, device=x.device, dtype=D)
        delta = std * noise[0]
        ratios.append((expl(x + delta) - expl(x)).abs().sum(1) / delta.norm(dim=1))
    ratios = torch.stack(ratios, 1)
    torch.testing.assert_close(mx, ratios.amax(1))
    torch.testing.assert_close(mean, ratios.mean(1))


@given(st.integers(1, 30))
def test_chunked_equals_unchunked(rows):
    x = torch.randn(3, 9, 2, dtype=D)
    expl = lambda z: z.sin() * z  # noqa: E731
    full = continuity(expl, x, n_perturb_samples=7, generator=gen(1))
    part = continuity(expl, x, n_perturb_samples=7, generator=gen(1), max_examples_per_batch=rows)
    torch.testing.assert_close(part, full, rtol=0, atol=1e-12)


def test_kwargs_are_expanded_per_example_like_captum():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    model = lambda z, s: net(z * s)  # noqa: E731
    x = torch.randn(4, 6, dtype=D)
    scale = torch.tensor([[1.0], [2.0], [0.5], [3.0]], dtype=D)
    target = torch.tensor([0, 2, 1, 2])
    sal = Saliency(model)
    bump = lambda z: z + 0.01 * torch.arange(6, dtype=D)  # noqa: E731  deterministic perturbation
    kw = dict(perturb_func=bump, n_perturb_samples=3)
    batched = continuity(sal.attribute, x, target=target, additional_forward_args=(scale,), **kw)
    looped = torch.cat(
        [
            continuity(sal.attribute, row[None], target=int(t), additional_forward_args=(s[None],), **kw)
            for row, t, s in zip(x, target, scale)
        ]
    )
    torch.testing.assert_close(batched, looped)
    as_list = continuity(sal.attribute, x, target=target.tolist(), additional_forward_args=(scale,), **kw)
    torch.testing.assert_close(as_list, looped)


def test_tuple_inputs_use_joint_norms():
    a, b = torch.randn(2, 5, dtype=D), torch.randn(2, 3, 2, dtype=D)
    wa, wb = torch.randn(5, dtype=D), torch.randn(3, 2, dtype=D)
    expl = lambda z: (z[0] * wa, z[1] * wb)  # noqa: E731
    aligned = lambda z: (z[0] + 0.1 * wa, z[1] + 0.1 * wb)  # noqa: E731
    c = continuity(expl, (a, b), perturb_func=aligned, n_perturb_samples=2)
    bound = torch.cat([wa, wb.flatten()]).norm()
    torch.testing.assert_close(c, bound.expand(2))


def test_unchanged_draws_are_skipped_and_all_unchanged_gives_nan():
    x = torch.randn(2, 4, dtype=D)
    c = continuity(lambda z: z * 2, x, perturb_func=lambda z: z.clone())
    assert torch.isnan(c).all()


def test_custom_perturb_func_receives_the_radius():
    seen = []

    def perturb(inputs, radius):
        seen.append(radius)
        return inputs + radius

    x = torch.randn(2, 4, dtype=D)
    c = continuity(lambda z: z * 3, x, perturb_func=perturb, perturb_radius=0.25, n_perturb_samples=2)
    assert seen == [0.25] and torch.allclose(c, torch.full((2,), 6.0, dtype=D))
    with pytest.raises(ValueError, match="perturb_radius"):
        continuity(lambda z: z, x, perturb_func=perturb)


def test_time_shift_moves_rows_by_nonzero_steps_within_range():
    x = torch.arange(10.0, dtype=D).expand(200, 10).contiguous()
    shifted = time_shift(3, generator=gen(0))(x)
    first = shifted[:, 5] - x[:, 5]  # an interior step moved by -shift
    assert set(first.tolist()) <= {-3.0, -2.0, -1.0, 1.0, 2.0, 3.0}
    assert len(set(first.tolist())) == 6
    pair = time_shift(2, generator=gen(1))((x[:, :, None].repeat(1, 1, 2), x))
    torch.testing.assert_close(pair[0][:, :, 0], pair[1])  # one shift per row for every tensor


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("edge", [0.0, 0.0, 1.0, 2.0]), ("roll", [3.0, 0.0, 1.0, 2.0]), ("zero", [0.0, 0.0, 1.0, 2.0])],
)
def test_shift_modes(mode, expected):
    x = torch.arange(4.0).view(1, 4, 1) + 0
    out = shift_along_time(x, torch.tensor([1]), -1, mode)
    assert out[0, :, 0].tolist() == expected
    back = shift_along_time(x.transpose(1, 2), torch.tensor([1]), 1, mode)
    assert torch.equal(back.transpose(1, 2), out)


def test_time_shift_works_as_a_captum_perturb_func():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    x = torch.randn(3, 8, 2)
    sens = sensitivity_max(
        Saliency(net).attribute, x, perturb_func=time_shift(1), target=1, n_perturb_samples=4
    )
    assert sens.shape == (3,) and torch.isfinite(sens).all()
    ours = continuity(Saliency(net).attribute, x, perturb_func=time_shift(1), target=1, n_perturb_samples=4)
    assert torch.equal(ours, torch.zeros(3))  # a linear model's saliency does not move


def test_inputs_are_not_modified():
    x = torch.randn(2, 6, dtype=D)
    x0 = x.clone()
    continuity(lambda z: z**2, x, generator=gen())
    assert torch.equal(x, x0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(reduction="median"), ValueError, "reduction"),
        (dict(n_perturb_samples=0), ValueError, "n_perturb_samples"),
        (dict(perturb_radius=-1.0), ValueError, "perturb_radius"),
        (dict(perturb_func=lambda z: z[:, :2]), ValueError, "perturb_func"),
        (dict(max_examples_per_batch=0), ValueError, "max_examples_per_batch"),
    ],
)
def test_bad_arguments_fail_clearly(kwargs, error, match):
    with pytest.raises(error, match=match):
        continuity(lambda z: z, torch.randn(2, 4), **kwargs)


def test_bad_explanations_fail_clearly():
    with pytest.raises(ValueError, match="rows"):
        continuity(lambda z: z[:1], torch.randn(2, 4))
    with pytest.raises(ValueError, match="NaN"):
        continuity(lambda z: z / 0 * 0, torch.randn(2, 4))
    with pytest.raises(ValueError, match="NaN"):
        continuity(lambda z: z, torch.full((2, 4), float("nan")))
