"""GuidedAbsoluteGrad: closed forms from the paper's definition, a loop oracle, and the contracts."""

import pytest
import torch
from captum.attr import NoiseTunnel, Saliency
from captum.metrics import infidelity, sensitivity_max
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from captum_ts import GuidedAbsoluteGrad
from captum_ts._noise import NoiseStream, normal_draws
from captum_ts.models import CNN1dClassifier, GRUClassifier


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def minmax(m):
    flat = m.flatten(1)
    lo, hi = flat.amin(1), flat.amax(1)
    shape = (-1,) + (1,) * (m.dim() - 1)
    return (m - lo.view(shape)) / (hi - lo).view(shape)


def draws(n, shapes, seed=0, antithetic=True, dtype=torch.float32):
    """The noise written plainly: ``n`` independent draws, or pairs ``z_j, -z_j`` (antithetic)."""
    kw = dict(generator=gen(seed), device=torch.device("cpu"), dtype=dtype)
    if not antithetic:
        return normal_draws(n, shapes, **kw)
    return [torch.stack([z, -z], 1).flatten(0, 1)[:n] for z in normal_draws((n + 1) // 2, shapes, **kw)]


def oracle(
    model, x, target, n, s, p, seed, feature_dim=-1, guide="variance", absolute=False, antithetic=True
):
    """The algorithm written plainly: one gradient per noise draw, torch.var, torch.quantile.
    ``s`` is the noise std (``absolute``) or its fraction of each example's range (the paper)."""
    (eps,) = draws(n, [tuple(x.shape)], seed, antithetic, x.dtype)
    sigma = (
        s if absolute else s * (x.flatten(1).amax(1) - x.flatten(1).amin(1)).view(-1, *([1] * (x.dim() - 1)))
    )
    grads = []
    for i in range(n):
        xi = (x + sigma * eps[i]).requires_grad_()
        out = model(xi)[torch.arange(len(x)), target]
        grads.append(torch.autograd.grad(out.sum(), xi)[0])
    g = torch.stack(grads)
    m = g.abs().sum(0)
    if guide == "stability":
        m = m * g.mean(0).abs() / (g.mean(0).abs() + g.std(0, unbiased=True))
    elif p > 0:
        var = g.var(0, unbiased=True)
        v = var.unsqueeze(1) if x.dim() == 2 else var.movedim(feature_dim % x.dim(), 1)
        q = torch.quantile(v.flatten(2), p, dim=-1, keepdim=True).view(*v.shape[:2], *([1] * (v.dim() - 2)))
        w = torch.where(v > q, torch.ones_like(v), v)
        w = w.squeeze(1) if x.dim() == 2 else w.movedim(1, feature_dim % x.dim())
        m = m * w
    return minmax(m)


class Linear(nn.Module):
    def __init__(self, shape, n_out=2, seed=0):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n_out, *shape, generator=gen(seed)))

    def forward(self, x):
        return torch.einsum("b...,c...->bc", x, self.w)


class Quadratic(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = nn.Parameter(a)

    def forward(self, x):
        return (self.a * x**2).sum(-1, keepdim=True)


# --- closed forms (spec section 2, checks 3-5) -------------------------------------------------


@pytest.mark.parametrize("n,s", [(1, 0.0), (5, 0.15), (20, 1.0)])
def test_linear_unguided_is_normalised_abs_weight(n, s):
    model = Linear((10, 3))
    x = torch.randn(4, 10, 3)
    attr = GuidedAbsoluteGrad(model).attribute(x, target=1, nt_samples=n, stdevs=s, guide_quantile=0)
    expected = minmax(model.w[1].detach().abs().expand(4, 10, 3))
    torch.testing.assert_close(attr, expected, atol=1e-6, rtol=0)


def test_linear_variance_guide_is_degenerate_and_returns_ones():
    # every gradient equals w, so the variance is 0 everywhere: the paper's guide zeroes the map,
    # a constant map carries no ranking and normalises to ones (documented)
    model = Linear((10, 3))
    gag = GuidedAbsoluteGrad(model)
    attr = gag.attribute(torch.randn(3, 10, 3), target=0, guide="variance", generator=gen())
    assert torch.equal(attr, torch.ones_like(attr))
    raw = gag.attribute(torch.randn(3, 10, 3), target=0, guide="variance", normalize=False, generator=gen())
    assert torch.equal(raw, torch.zeros_like(raw))


@pytest.mark.parametrize("n,s", [(2, 0.15), (20, 1.0)])
def test_linear_stability_guide_weighs_one_and_gives_the_abs_weight(n, s):
    # std g = 0 < |mean g| = |w|: weight 1, the map is N |w|, normalised: the AbsoluteGrad map
    model = Linear((10, 3))
    x = torch.randn(4, 10, 3)
    gag = GuidedAbsoluteGrad(model)
    raw = gag.attribute(
        x, target=1, nt_samples=n, stdevs=s, guide="stability", normalize=False, generator=gen()
    )
    torch.testing.assert_close(raw, n * model.w[1].detach().abs().expand(4, 10, 3), atol=1e-5, rtol=1e-6)
    attr = gag.attribute(x, target=1, nt_samples=n, stdevs=s, generator=gen())  # the default guide
    torch.testing.assert_close(attr, minmax(model.w[1].detach().abs().expand(4, 10, 3)), atol=1e-6, rtol=0)


def test_quadratic_variance_and_argmax():
    # f = sum_j a_j x_j^2: g_j = 2 a_j (x_j + eps_j), Var(g_j) = 4 a_j^2 sigma^2
    a = torch.tensor([0.1, -3.0, 0.5, 1.0, -0.2, 0.3, 0.05, -0.4, 0.7, 0.15], dtype=torch.float64)
    model = Quadratic(a)
    x = torch.ones(1, 10, dtype=torch.float64) + 0.01 * torch.arange(10, dtype=torch.float64)
    n, s = 2000, 0.1
    attr = GuidedAbsoluteGrad(model).attribute(
        x,
        target=0,
        nt_samples=n,
        noise_level=s,
        guide="variance",
        guide_quantile=0.9,
        antithetic=False,
        normalize=False,
        generator=gen(),
    )
    sigma = s * float(x.max() - x.min())
    (eps,) = draws(n, [(1, 10)], antithetic=False, dtype=x.dtype)
    g = 2 * a * (x + sigma * eps)
    var = g.var(0, unbiased=True)
    torch.testing.assert_close(var, 4 * a**2 * sigma**2 * torch.ones_like(x), rtol=0.1, atol=0)
    # with p = 0.9 only the largest |a_j| gets weight 1; it dominates the map
    assert int(attr.argmax()) == int(a.abs().argmax())
    expected = g.abs().sum(0) * torch.where(var > torch.quantile(var, 0.9), torch.ones_like(var), var)
    torch.testing.assert_close(attr, expected, rtol=1e-9, atol=1e-12)


def folded_normal_mean(mu, sigma):
    """E|mu + sigma z| for z ~ N(0, 1)."""
    normal = torch.distributions.Normal(0.0, 1.0)
    return sigma * (2 / torch.pi) ** 0.5 * torch.exp(-(mu**2) / (2 * sigma**2)) + mu * (
        1 - 2 * normal.cdf(-mu / sigma)
    )


A = torch.tensor([0.1, -3.0, 0.5, 1.0, -0.2, 0.3, 0.05, -0.4, 0.7, 0.15], dtype=torch.float64)
X_QUAD = torch.tensor([[2.0, 1.0, 0.5, 0.2, 0.1, 0.0, -0.1, -0.3, -1.0, 3.0]], dtype=torch.float64)


def test_quadratic_stability_guide_exact_from_the_same_draws():
    # g_j = 2 a_j (x_j + sigma z_j): weight |mean g| / (|mean g| + std g), map sum |g| * weight
    n, sigma = 40, 0.5
    attr = GuidedAbsoluteGrad(Quadratic(A)).attribute(
        X_QUAD,
        target=0,
        nt_samples=n,
        stdevs=sigma,
        nt_samples_batch_size=7,
        normalize=False,
        generator=gen(),
    )
    (eps,) = draws(n, [(1, 10)], dtype=X_QUAD.dtype)
    g = 2 * A * (X_QUAD + sigma * eps)
    weight = g.mean(0).abs() / (g.mean(0).abs() + g.std(0, unbiased=True))
    torch.testing.assert_close(attr, g.abs().sum(0) * weight, rtol=1e-10, atol=1e-12)


def test_quadratic_stability_guide_limit():
    # N -> inf: mean g = 2 a x, std g = 2 |a| sigma, so the weight is |x| / (|x| + sigma) and the
    # map / N is 2 |a| E|x + sigma z| |x| / (|x| + sigma): a stable gradient keeps its weight,
    # one whose sign flips under the noise (x near 0) loses it
    n, sigma = 4000, 0.5
    gag = GuidedAbsoluteGrad(Quadratic(A))
    kw = dict(target=0, nt_samples=n, stdevs=sigma, normalize=False, generator=gen())
    guided = gag.attribute(X_QUAD, **kw)
    plain = gag.attribute(X_QUAD, guide=None, **{**kw, "generator": gen()})
    weight = X_QUAD.abs() / (X_QUAD.abs() + sigma)
    torch.testing.assert_close(guided / plain, weight, atol=0.03, rtol=0)
    expected = 2 * A.abs() * folded_normal_mean(X_QUAD, sigma) * weight
    torch.testing.assert_close(guided / n, expected, atol=0.03, rtol=0.03)
    assert float((guided / plain)[0, 5]) < 0.03  # x = 0: the gradient's sign is a coin flip


@pytest.mark.parametrize("n", [2, 8, 40])
def test_quadratic_antithetic_mean_gradient_is_exact(n):
    # g = 2 a (x + sigma z): over pairs z, -z the mean gradient is 2 a x exactly, for any seed, so the
    # stability weight is |x| / (|x| + sigma sd(z)): 0 where x = 0, the same for every seed where it is not
    sigma = 0.5
    kw = dict(target=0, nt_samples=n, stdevs=sigma, normalize=False)
    maps = [
        GuidedAbsoluteGrad(Quadratic(A)).attribute(X_QUAD, nt_samples_batch_size=3, generator=gen(s), **kw)
        for s in (0, 1)
    ]
    for seed, attr in enumerate(maps):
        (eps,) = draws(n, [(1, 10)], seed, dtype=X_QUAD.dtype)
        torch.testing.assert_close(eps.mean(0), torch.zeros(1, 10, dtype=X_QUAD.dtype), atol=1e-15, rtol=0)
        g = 2 * A * (X_QUAD + sigma * eps)
        mean = (2 * A * X_QUAD).abs()  # exactly, whatever the draws
        weight = mean / (mean + g.std(0, unbiased=True))
        torch.testing.assert_close(attr, g.abs().sum(0) * weight, rtol=1e-10, atol=1e-12)
        assert float(attr[0, 5]) < 1e-12  # x = 0: no weight at all (independent draws: ~ 1 / sqrt(n))
    independent = GuidedAbsoluteGrad(Quadratic(A)).attribute(X_QUAD, antithetic=False, generator=gen(), **kw)
    assert float(independent[0, 5]) > 1e-3


def test_noise_stream_pairs_do_not_depend_on_the_chunks():
    kw = dict(device=torch.device("cpu"), dtype=torch.float64)
    shapes = [(2, 3), (5,)]
    whole = draws(9, shapes, seed=4, dtype=torch.float64)
    stream = NoiseStream(shapes, antithetic=True, generator=gen(4), **kw)
    parts = [stream.take(k) for k in (1, 2, 3, 1, 2)]
    for i, w in enumerate(whole):
        torch.testing.assert_close(torch.cat([p[i] for p in parts]), w, rtol=0, atol=0)
        torch.testing.assert_close(w[1::2], -w[0:-1:2], rtol=0, atol=0)
    plain = NoiseStream(shapes, antithetic=False, generator=gen(4), **kw).take(9)
    assert all(
        torch.equal(a, b) for a, b in zip(plain, draws(9, shapes, 4, antithetic=False, dtype=torch.float64))
    )


def test_paper_setting_is_independent_draws_and_the_variance_guide():
    model = CNN1dClassifier(3, 2).eval()
    x = torch.randn(2, 20, 3)
    gag = GuidedAbsoluteGrad(model)
    paper = gag.attribute(x, target=1, generator=gen(), **GuidedAbsoluteGrad.PAPER_SETTING)
    explicit = gag.attribute(x, target=1, guide="variance", nt_samples=20, antithetic=False, generator=gen())
    assert torch.equal(paper, explicit)
    ref = oracle(model, x, torch.tensor([1, 1]), 20, 0.15, 0.85, 0, antithetic=False)
    torch.testing.assert_close(paper, ref, atol=1e-5, rtol=1e-4)


def test_single_sample_unguided_equals_normalised_abs_gradient():
    model = CNN1dClassifier(3, 2).eval()
    x = torch.randn(2, 20, 3)
    attr = GuidedAbsoluteGrad(model).attribute(x, target=1, nt_samples=1, guide_quantile=0, generator=gen(3))
    (eps,) = draws(1, [tuple(x.shape)], 3, dtype=x.dtype)
    sigma = 0.15 * (x.flatten(1).amax(1) - x.flatten(1).amin(1)).view(-1, 1, 1)
    xi = (x + sigma * eps[0]).requires_grad_()
    (g,) = torch.autograd.grad(model(xi)[:, 1].sum(), xi)
    torch.testing.assert_close(attr, minmax(g.abs()), atol=1e-6, rtol=0)


@pytest.mark.parametrize("guide", ["variance", "stability"])
@pytest.mark.parametrize("layout", ["btf", "bft", "bt"])
def test_matches_plain_loop_oracle(layout, guide):
    torch.manual_seed(1)
    if layout == "bt":
        model, x, fdim = nn.Sequential(nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3)), torch.randn(3, 16), -1
    else:
        model = CNN1dClassifier(2, 3, channels_last=layout == "btf").eval()
        x, fdim = (torch.randn(3, 16, 2), -1) if layout == "btf" else (torch.randn(3, 2, 16), 1)
    target = torch.tensor([0, 2, 1])
    ours = GuidedAbsoluteGrad(model).attribute(
        x,
        target=target,
        nt_samples=12,
        nt_samples_batch_size=5,
        feature_dim=fdim,
        guide=guide,
        generator=gen(7),
    )
    ref = oracle(model, x, target, 12, 0.15, 0.85, 7, feature_dim=fdim, guide=guide)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-4)


def test_sign_symmetry():
    model = CNN1dClassifier(3, 2).eval()

    class Negated(nn.Module):
        def forward(self, x):
            return -model(x)

    x = torch.randn(4, 24, 3)
    a = GuidedAbsoluteGrad(model).attribute(x, target=1, generator=gen(2))
    b = GuidedAbsoluteGrad(Negated()).attribute(x, target=1, generator=gen(2))
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_stability_guide_does_not_depend_on_the_output_scale():
    # W = |mean| / (|mean| + std) is dimensionless; the variance guide's W = V is not (documented)
    model = CNN1dClassifier(3, 2).eval()

    class Scaled(nn.Module):
        def forward(self, x):
            return 1000.0 * model(x)

    x = torch.randn(3, 24, 3)
    for guide, same in (("stability", True), ("variance", False)):
        a = GuidedAbsoluteGrad(model).attribute(x, target=1, nt_samples=8, guide=guide, generator=gen(2))
        b = GuidedAbsoluteGrad(Scaled()).attribute(x, target=1, nt_samples=8, guide=guide, generator=gen(2))
        assert torch.allclose(a, b, atol=1e-5, rtol=0) == same


def test_determinism_and_seed_dependence():
    model = GRUClassifier(3, 2).eval()
    x = torch.randn(3, 15, 3)
    gag = GuidedAbsoluteGrad(model)
    a = gag.attribute(x, target=0, generator=gen(5))
    b = gag.attribute(x, target=0, generator=gen(5))
    c = gag.attribute(x, target=0, generator=gen(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_range_and_per_example_normalisation():
    model = CNN1dClassifier(3, 2).eval()
    attr = GuidedAbsoluteGrad(model).attribute(torch.randn(5, 30, 3), target=0, generator=gen())
    flat = attr.flatten(1)
    assert torch.all(flat.amin(1) == 0) and torch.all(flat.amax(1) == 1)


def test_reduce_features_sums_then_normalises():
    model = CNN1dClassifier(3, 2).eval()
    x = torch.randn(2, 20, 3)
    raw = GuidedAbsoluteGrad(model).attribute(x, target=0, normalize=False, generator=gen())
    red = GuidedAbsoluteGrad(model).attribute(x, target=0, reduce_features=True, generator=gen())
    assert red.shape == (2, 20, 1)
    torch.testing.assert_close(red, minmax(raw.sum(-1, keepdim=True)), atol=1e-6, rtol=0)
    bft = CNN1dClassifier(3, 2, channels_last=False).eval()
    red_bft = GuidedAbsoluteGrad(bft).attribute(
        x.transpose(1, 2).contiguous(), target=0, reduce_features=True, feature_dim=1, generator=gen()
    )
    assert red_bft.shape == (2, 1, 20)


# --- hypothesis: shapes, dtypes, chunk sizes ---------------------------------------------------


@given(
    batch=st.integers(1, 3),
    length=st.integers(2, 12),
    features=st.integers(1, 3),
    layout=st.sampled_from(["btf", "bft", "bt"]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    n=st.integers(1, 7),
    chunk=st.integers(1, 8),
    guide=st.sampled_from([("stability", None), ("variance", 0.5), ("variance", 0.85), (None, None)]),
)
def test_chunked_equals_unchunked(batch, length, features, layout, dtype, n, chunk, guide):
    g = torch.Generator().manual_seed(batch * 100 + length)
    guide, p = guide if n > 1 else (None, None)  # one draw has no spread: a guide needs n >= 2
    if layout == "bt":
        shape, fdim, feats = (batch, length), -1, length
    elif layout == "btf":
        shape, fdim, feats = (batch, length, features), -1, length * features
    else:
        shape, fdim, feats = (batch, features, length), 1, length * features
    x = torch.randn(shape, generator=g, dtype=dtype)
    model = nn.Sequential(nn.Flatten(), nn.Linear(feats, 6), nn.Tanh(), nn.Linear(6, 2)).to(dtype)
    gag = GuidedAbsoluteGrad(model)
    kw = dict(target=1, nt_samples=n, guide=guide, guide_quantile=p, feature_dim=fdim)
    whole = gag.attribute(x, **kw, generator=gen(1))
    parts = gag.attribute(x, **kw, nt_samples_batch_size=chunk, generator=gen(1))
    assert whole.shape == x.shape and whole.dtype == dtype and whole.is_contiguous()
    assert torch.all((whole >= 0) & (whole <= 1))
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(parts, whole, atol=tol, rtol=tol)


# --- Captum conventions ----------------------------------------------------------------------


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8 * 2, 3)
        self.b = nn.Linear(5, 3)

    def forward(self, x1, x2, scale):
        return torch.tanh(self.a(x1.flatten(1)) + self.b(x2 * x2)) * scale[:, None]


def test_tuple_inputs_with_additional_forward_args():
    torch.manual_seed(0)
    model = TwoInputs()
    x1, x2 = torch.randn(4, 8, 2), torch.randn(4, 5)
    scale = torch.tensor([1.0, -2.0, 0.5, 3.0])
    gag = GuidedAbsoluteGrad(model)
    a1, a2 = gag.attribute(
        (x1, x2),
        target=[0, 1, 2, 0],
        additional_forward_args=(scale,),
        nt_samples=6,
        nt_samples_batch_size=4,
        guide_quantile=0,
        normalize=False,
        generator=gen(),
    )
    assert a1.shape == x1.shape and a2.shape == x2.shape
    # oracle with explicit per-row expansion
    e1, e2 = draws(6, [tuple(x1.shape), tuple(x2.shape)])
    s1 = 0.15 * (x1.flatten(1).amax(1) - x1.flatten(1).amin(1)).view(-1, 1, 1)
    s2 = 0.15 * (x2.amax(1) - x2.amin(1)).view(-1, 1)
    r1, r2 = torch.zeros_like(x1), torch.zeros_like(x2)
    for i in range(6):
        n1, n2 = (x1 + s1 * e1[i]).requires_grad_(), (x2 + s2 * e2[i]).requires_grad_()
        out = model(n1, n2, scale)[torch.arange(4), torch.tensor([0, 1, 2, 0])]
        g1, g2 = torch.autograd.grad(out.sum(), (n1, n2))
        r1, r2 = r1 + g1.abs(), r2 + g2.abs()
    torch.testing.assert_close(a1, r1, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a2, r2, atol=1e-5, rtol=1e-5)


def test_gru_batch_first_gives_contiguous_output():
    model = GRUClassifier(3, 2).eval()
    x = torch.randn(4, 12, 3)
    attr = GuidedAbsoluteGrad(model).attribute(x, target=[0, 1, 1, 0], nt_samples=4, generator=gen())
    assert attr.is_contiguous() and attr.shape == x.shape
    ref = oracle(model, x, torch.tensor([0, 1, 1, 0]), 4, 0.15, 0.85, 0, guide="stability")
    torch.testing.assert_close(attr, ref, atol=1e-5, rtol=1e-4)


class Forecaster(nn.Module):
    def __init__(self, t=12, h=4, c=2):
        super().__init__()
        self.h, self.c = h, c
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(t * c, 16), nn.Tanh(), nn.Linear(16, h * c))

    def forward(self, x):
        return self.net(x).view(len(x), self.h, self.c)


def test_forecaster_targets():
    torch.manual_seed(0)
    model = Forecaster()
    x = torch.randn(3, 12, 2)
    gag = GuidedAbsoluteGrad(model)
    a = gag.attribute(x, target=(2, 1), nt_samples=3, generator=gen())
    b = gag.attribute(x, target=[(2, 1), (2, 1), (2, 1)], nt_samples=3, generator=gen())
    torch.testing.assert_close(a, b)
    c = gag.attribute(x, target=[(0, 0), (3, 1), (2, 1)], nt_samples=3, generator=gen())
    torch.testing.assert_close(c[2], a[2])
    assert not torch.allclose(c[0], a[0])
    with pytest.raises(ValueError, match=r"\(h, c\)"):
        gag.attribute(x, target=2)


def test_works_under_no_grad_and_keeps_model_and_inputs():
    model = GRUClassifier(3, 2)
    model.train()
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)
    model.head.weight.requires_grad_(False)
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.randn(2, 10, 3, requires_grad=True)
    x_copy = x.detach().clone()
    gag = GuidedAbsoluteGrad(model)
    free = gag.attribute(x, target=1, nt_samples=3, generator=gen())
    with torch.no_grad():
        under = gag.attribute(x, target=1, nt_samples=3, generator=gen())
    torch.testing.assert_close(free, under)
    assert model.training and not model.head.weight.requires_grad and model.head.bias.requires_grad
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert all(torch.equal(p.grad, torch.full_like(p, 0.5)) for p in model.parameters())
    assert torch.equal(x.detach(), x_copy) and x.requires_grad and x.grad is None
    with pytest.raises(ValueError):
        gag.attribute(x, target=5)
    assert torch.equal(x.detach(), x_copy) and x.grad is None


def test_captum_metrics_accept_it():
    model = CNN1dClassifier(3, 2).eval()
    x = torch.randn(3, 16, 3)
    gag = GuidedAbsoluteGrad(model)
    sens = sensitivity_max(gag.attribute, x, target=1, nt_samples=4, n_perturb_samples=3)
    assert sens.shape == (3,) and torch.all(sens >= 0)

    def perturb(inputs):
        noise = 0.01 * torch.randn_like(inputs)
        return noise, inputs - noise

    attr = gag.attribute(x, target=1, nt_samples=4, generator=gen())
    infid = infidelity(model, perturb, x, attr, target=1, n_perturb_samples=3)
    assert infid.shape == (3,) and torch.all(infid >= 0)
    assert hasattr(GuidedAbsoluteGrad.attribute, "__wrapped__")


def test_smoothgrad_relation_without_guide():
    # with p = 0 and no normalisation the map is N times the mean |grad| (SmoothGrad of |grad|)
    model = CNN1dClassifier(3, 2).eval()
    x = torch.randn(2, 16, 3)
    ours = GuidedAbsoluteGrad(model).attribute(
        x, target=0, nt_samples=1, stdevs=0.0, guide_quantile=0, normalize=False
    )
    sal = Saliency(model).attribute(x.clone().requires_grad_(), target=0, abs=True)
    torch.testing.assert_close(ours, sal, atol=1e-6, rtol=1e-6)
    assert isinstance(NoiseTunnel(Saliency(model)), NoiseTunnel)


# --- noise: `stdevs` as in Captum, `noise_level` as in the paper ---------------------------------


class Recorder(nn.Module):
    """Records every input it sees; output 0 is |x|^2 / 2 (its gradient is the input itself)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        flat = x.flatten(1)
        return torch.stack([0.5 * flat.square().sum(1), flat.sum(1)], 1)


def test_stdevs_is_the_absolute_noise_std_of_noise_tunnel():
    # a range of about 60: a range-relative 0.3 would be a std of about 18, not 0.3
    x = 10 * torch.randn(2, 30, 2, generator=gen(1), dtype=torch.float64)
    s, n = 0.3, 200
    ours, theirs = Recorder(), Recorder()
    ours_map = GuidedAbsoluteGrad(ours).attribute(
        x, target=0, nt_samples=n, stdevs=s, guide_quantile=0, normalize=False, generator=gen()
    )
    torch.manual_seed(0)
    theirs_map = NoiseTunnel(Saliency(theirs)).attribute(
        x, target=0, nt_type="smoothgrad", nt_samples=n, stdevs=s, abs=True
    )
    ours_noise = torch.cat(ours.seen).view(n, *x.shape) - x  # copy-major rows
    theirs_noise = torch.cat(theirs.seen).view(len(x), n, *x.shape[1:]) - x[:, None]
    (eps,) = draws(n, [tuple(x.shape)], dtype=x.dtype)
    torch.testing.assert_close(ours_noise, s * eps, atol=1e-12, rtol=0)  # exactly s times N(0, 1) draws
    assert abs(float(ours_noise.std()) / s - 1) < 0.02
    assert abs(float(theirs_noise.std()) / s - 1) < 0.02
    # the same call explains with the same noise: sum |g| / N estimates what SmoothGrad of |g| does
    torch.testing.assert_close(ours_map.mean() / n, theirs_map.mean(), rtol=0.02, atol=0)


def test_noise_level_is_the_default_and_scales_with_each_example_range():
    model = CNN1dClassifier(3, 2).eval()
    x = torch.randn(3, 20, 3) * torch.tensor([1.0, 5.0, 0.2]).view(-1, 1, 1)
    gag = GuidedAbsoluteGrad(model)
    for guide in ("stability", "variance"):
        default = gag.attribute(x, target=1, guide=guide, generator=gen(4))
        explicit = gag.attribute(x, target=1, guide=guide, noise_level=0.15, generator=gen(4))
        assert torch.equal(default, explicit)
    for b in range(len(x)):
        xb = x[b : b + 1]
        span = (xb.amax() - xb.amin()).view(1, 1, 1)
        relative = gag.attribute(xb, target=1, noise_level=0.4, normalize=False, generator=gen(b))
        absolute = gag.attribute(xb, target=1, stdevs=float(0.4 * span), normalize=False, generator=gen(b))
        assert torch.equal(relative, absolute)


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(antithetic=1), TypeError, "antithetic"),
        (dict(inputs=torch.ones(2, 5, 3, dtype=torch.long)), TypeError, "inputs"),
        (dict(inputs=torch.full((2, 5, 3), float("nan"))), ValueError, "NaN"),
        (dict(inputs=torch.ones(0, 5, 3)), ValueError, "empty"),
        (dict(inputs=torch.ones(5)), ValueError, "inputs"),
        (dict(nt_samples=0), ValueError, "nt_samples"),
        (dict(nt_samples=2.5), TypeError, "nt_samples"),
        (dict(nt_samples_batch_size=-1), ValueError, "nt_samples_batch_size"),
        (dict(guide_quantile=1.0), ValueError, "guide_quantile"),
        (dict(guide_quantile=-0.1), ValueError, "guide_quantile"),
        (dict(nt_samples=1), ValueError, r"`nt_samples`=1 .* guide='stability' .* nt_samples >= 2"),
        (dict(nt_samples=1, guide="variance"), ValueError, r"`nt_samples`=1 .* guide='variance'"),
        (dict(guide="smooth"), ValueError, r"`guide` must be 'stability', 'variance' or None"),
        (dict(guide_quantile=0.5), ValueError, r"`guide_quantile` is the quantile of guide='variance'"),
        (dict(guide=None, guide_quantile=0.5), ValueError, r"guide=None has none"),
        (dict(noise_level=-0.1), ValueError, "noise_level"),
        (dict(noise_level="big"), TypeError, "noise_level"),
        (dict(stdevs=(0.1, 0.2)), ValueError, "`stdevs` has 2 entries"),
        (dict(stdevs=0.1, noise_level=0.1), ValueError, r"either `stdevs` .* or `noise_level` .* not both"),
        (dict(generator=0), TypeError, "generator"),
        (dict(stdevs=-1.0), ValueError, "stdevs"),
        (dict(target=7), ValueError, "target"),
        (dict(target=[0, 1]), ValueError, "target"),
        (dict(target=None), ValueError, "target"),
        (dict(feature_dim=0), ValueError, "feature_dim"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, exc, match):
    model = CNN1dClassifier(3, 2).eval()
    args = dict(inputs=torch.randn(3, 5, 3), target=0)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        GuidedAbsoluteGrad(model).attribute(**args)


def test_mismatched_tuple_batch():
    with pytest.raises(ValueError, match="batch size"):
        GuidedAbsoluteGrad(TwoInputs()).attribute(
            (torch.randn(4, 8, 2), torch.randn(3, 5)), additional_forward_args=(torch.ones(4),), target=0
        )
