import copy

import pytest
import torch
from captum.attr import PerturbationAttribution
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from captum_ts._state import snapshot_parameters
from captum_ts.attr.masks._perturbation_nets import BiGRUPerturbation
from captum_ts.attr.masks.learned_perturbation_mask import LearnedPerturbationMask
from captum_ts.metrics.white_box import aup, auprc, aur, auroc


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class SumOfFeature(nn.Module):
    """The white box f(x) = sum_t x[t, j]: only feature j matters."""

    def __init__(self, feature: int = 1) -> None:
        super().__init__()
        self.feature = feature
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.scale * x[..., self.feature].sum(-1, keepdim=True)


class Recorder(nn.Module):
    """Records every input it sees; a per-step linear read-out ``(B, T, 2)``."""

    def __init__(self, n_features: int = 3) -> None:
        super().__init__()
        self.lin = nn.Linear(n_features, 2)
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.lin(x)


def positive_series(n=8, t=10, f=3, seed=0):
    # positive values (mean 2): removing any step of the salient feature changes the sum,
    # and a perturbation copying x would cost more than keeping the mask
    return 1.5 + torch.rand(n, t, f, generator=gen(seed))


def salient_truth(x, feature=1):
    truth = torch.zeros_like(x)
    truth[..., feature] = 1
    return truth


# ---------------------------------------------------------------------------------------------
# the checks of the method


@pytest.mark.parametrize("net", ["gru", None])
def test_white_box_one_salient_feature(net):
    x = positive_series()
    mask = LearnedPerturbationMask(SumOfFeature(1), perturbation_net=net).attribute(
        x, epochs=40, lr=0.1, generator=gen()
    )
    truth = salient_truth(x)
    assert mask[..., 1].min() > 0.9
    assert mask[..., [0, 2]].max() < 0.1
    assert float(aur(mask, truth)) > 0.9
    assert float(auroc(mask, truth)) == 1.0 and float(auprc(mask, truth)) == 1.0
    # the model ignores features 0 and 2, so their cells all get the same (penalty-only)
    # updates and tie at the minimum: the thresholds are {0, ~1} and the trapezoid AUP of a
    # perfectly separating map is (1/3 + 1) / 2, whatever the method
    assert float(aup(mask, truth)) == pytest.approx(2 / 3, abs=0.01)


def test_output_shape_range_and_gradients_reach_mask_and_net():
    x = torch.randn(6, 12, 3, generator=gen(1))
    model = Recorder()
    explainer = LearnedPerturbationMask(model)
    mask = explainer.attribute(x, epochs=3, generator=gen())
    assert isinstance(explainer, PerturbationAttribution)
    assert not explainer.multiplies_by_inputs
    assert mask.shape == x.shape and mask.is_contiguous() and not mask.requires_grad
    assert bool(((mask >= 0) & (mask <= 1)).all())
    assert not torch.allclose(mask, torch.full_like(mask, 0.5))  # the mask moved
    fresh = BiGRUPerturbation(3)
    from captum_ts.attr.masks._perturbation_nets import reset_parameters

    reset_parameters(fresh, gen())
    trained = explainer.perturbation_nets_[0]
    moved = [not torch.equal(a, b) for a, b in zip(fresh.parameters(), trained.parameters())]
    assert all(moved)  # every parameter of the perturbation network was updated
    assert len(explainer.loss_history_) == 3


def test_huge_mask_penalty_gives_an_empty_mask():
    x = positive_series(4, 6)
    mask = LearnedPerturbationMask(SumOfFeature(1)).attribute(
        x, lambda_mask=1e4, lambda_perturbation=1e-3, epochs=60, lr=0.05, generator=gen()
    )
    assert mask.max() < 0.05


def test_without_the_fit_term_mask_and_perturbation_vanish():
    x = torch.randn(4, 6, 3, generator=gen(2))
    explainer = LearnedPerturbationMask(Recorder())
    mask = explainer.attribute(x, loss=lambda out, ref: 0.0 * out.sum(), epochs=80, lr=0.05, generator=gen())
    assert mask.max() < 0.06
    with torch.no_grad():
        perturbation = explainer.perturbation_nets_[0](x)
    assert perturbation.abs().mean() < 0.06


def _fade_reference(model, x, baseline, lam, epochs, lr):
    """A hand-written Dynamask-style fade: Phi = m x + (1 - m) b, Adam on the mask alone."""
    m = torch.full_like(x, 0.5, requires_grad=True)
    opt = torch.optim.Adam([m], lr=lr)
    with torch.no_grad():
        ref = model(x)
    for _ in range(epochs):
        mc = m.clamp(0, 1)
        loss = lam * m.abs().mean() + F.mse_loss(model(x * mc + baseline * (1 - mc)), ref)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.detach().clamp(0, 1)


@pytest.mark.parametrize("baseline", [0.0, 0.7])
def test_no_network_is_the_fixed_baseline_fade(baseline):
    x = torch.randn(5, 8, 3, generator=gen(3))
    model = Recorder().eval()
    expected = _fade_reference(model, x, baseline, 0.5, epochs=6, lr=0.05)
    model.seen.clear()
    mask = LearnedPerturbationMask(model, perturbation_net=None).attribute(
        x, baselines=baseline, lambda_mask=0.5, epochs=6, lr=0.05
    )
    torch.testing.assert_close(mask, expected)
    # the first model call is f(x); the first perturbed input is 0.5 x + 0.5 b
    torch.testing.assert_close(model.seen[0], x)
    torch.testing.assert_close(model.seen[1], 0.5 * x + 0.5 * baseline)


def test_user_network_matches_the_written_objective():
    x = torch.randn(4, 7, 3, generator=gen(4))
    model = Recorder().eval()
    net = nn.Linear(3, 3)
    lam_m, lam_p, lr, epochs = 0.3, 2.0, 0.02, 4
    # reference: the preservation objective, written out
    m = torch.full_like(x, 0.5, requires_grad=True)
    ref_net = copy.deepcopy(net)
    opt = torch.optim.Adam([m, *ref_net.parameters()], lr=lr)
    with torch.no_grad():
        target = model(x)
    for _ in range(epochs):
        p = ref_net(x - 1.0)
        mc = m.clamp(0, 1)
        loss = (lam_m * m.abs() + lam_p * p.abs()).mean() + F.mse_loss(model(x * mc + p * (1 - mc)), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    before = snapshot_parameters(net)
    explainer = LearnedPerturbationMask(model, perturbation_net=net)
    mask = explainer.attribute(
        x, baselines=1.0, lambda_mask=lam_m, lambda_perturbation=lam_p, lr=lr, epochs=epochs
    )
    torch.testing.assert_close(mask, m.detach().clamp(0, 1))
    # the user's module is copied, never trained in place
    assert all(torch.equal(a, b) for a, b in zip(before, snapshot_parameters(net)))
    assert explainer.perturbation_nets_[0] is not net
    torch.testing.assert_close(explainer.perturbation_nets_[0].weight, ref_net.weight)


def test_deletion_game_semantics():
    x = torch.randn(4, 6, 3, generator=gen(5))
    model = Recorder().eval()
    explainer = LearnedPerturbationMask(model, perturbation_net=None)
    mask = explainer.attribute(x, mode="deletion", baselines=0.0, lambda_mask=1e3, epochs=40, lr=0.05)
    # the size term |1 - m| pushes the deletion mask to 1 (nothing deleted)
    assert mask.min() > 0.95
    # reference output f(b), then the first perturbed input (1 - m) x + m b with m = 0.5
    torch.testing.assert_close(model.seen[0], torch.zeros_like(x))
    torch.testing.assert_close(model.seen[1], 0.5 * x)


def test_deletion_without_size_term_deletes_only_what_moves_the_output():
    x = positive_series()
    mask = LearnedPerturbationMask(SumOfFeature(1), perturbation_net=None).attribute(
        x, mode="deletion", lambda_mask=0.0, epochs=40, lr=0.1
    )
    # f(x2) must reach f(0) = 0: the salient feature is deleted (m -> 1); the model ignores
    # the other features, so their cells get no gradient at all and keep the initial 0.5
    assert mask[..., 1].min() > 0.95
    assert torch.equal(mask[..., [0, 2]], torch.full_like(mask[..., [0, 2]], 0.5))


# ---------------------------------------------------------------------------------------------
# Captum conventions and the contracts


def test_tuple_inputs_get_one_mask_each():
    a = positive_series(8, 10, 2, seed=6)
    b = positive_series(8, 5, 4, seed=7)

    def model(x1, x2):
        return x1[..., 0].sum(-1, keepdim=True) + x2[..., 3].sum(-1, keepdim=True)

    masks = LearnedPerturbationMask(model, perturbation_net=("gru", None)).attribute(
        (a, b), epochs=40, lr=0.1, generator=gen()
    )
    assert isinstance(masks, tuple) and len(masks) == 2
    assert masks[0].shape == a.shape and masks[1].shape == b.shape
    assert masks[0][..., 0].mean() > 0.9 and masks[0][..., 1].max() < 0.1
    assert masks[1][..., 3].mean() > 0.9 and masks[1][..., :3].max() < 0.1


def test_deterministic_with_a_generator():
    x = torch.randn(6, 10, 3, generator=gen(8))
    model = Recorder()

    def run(seed):
        return LearnedPerturbationMask(model).attribute(x, epochs=5, batch_size=4, generator=gen(seed))

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_model_inputs_and_global_state_are_untouched():
    x = torch.randn(6, 10, 3, generator=gen(9))
    x_before = x.clone()
    model = Recorder()
    model.train()
    model.lin.weight.requires_grad_(False)
    model.lin.bias.grad = torch.ones(2)
    before = snapshot_parameters(model)
    LearnedPerturbationMask(model).attribute(x, epochs=3, generator=gen())
    assert all(torch.equal(p, q) for p, q in zip(before, snapshot_parameters(model)))
    assert model.training and model.lin.training
    assert model.lin.weight.requires_grad is False and model.lin.bias.requires_grad is True
    assert torch.equal(model.lin.bias.grad, torch.ones(2)) and model.lin.weight.grad is None
    assert torch.equal(x, x_before)


def test_model_runs_in_eval_mode_during_fitting():
    modes = []

    class ModeSpy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 1)

        def forward(self, x):
            modes.append(self.training)
            return self.lin(x).sum(1)

    LearnedPerturbationMask(ModeSpy().train(), perturbation_net=None).attribute(
        torch.randn(2, 4, 3), epochs=2
    )
    assert modes and not any(modes)


def test_works_under_no_grad():
    x = torch.randn(4, 8, 3, generator=gen(10))
    with torch.no_grad():
        mask = LearnedPerturbationMask(Recorder()).attribute(x, epochs=3, generator=gen())
    assert not torch.allclose(mask, torch.full_like(mask, 0.5))


def test_targets_and_per_series_outputs():
    x = torch.randn(6, 8, 3, generator=gen(11))
    model = nn.Sequential(nn.Flatten(), nn.Linear(24, 4))
    explainer = LearnedPerturbationMask(model, perturbation_net=None)
    for target in (2, torch.tensor([0, 1, 2, 3, 0, 1]), [1, 1, 1, 2, 2, 2]):
        mask = explainer.attribute(x, target=target, epochs=2)
        assert mask.shape == x.shape
    ce = explainer.attribute(x, loss="cross_entropy", epochs=2)
    assert ce.shape == x.shape
    with pytest.raises(ValueError, match="cross_entropy"):
        explainer.attribute(x, target=1, loss="cross_entropy", epochs=1)


def test_additional_forward_args_are_sliced_with_the_batches():
    x = torch.randn(7, 5, 2, generator=gen(12))
    weights = torch.rand(7, 1)

    def model(inp, w, flag):
        assert w.shape[0] == inp.shape[0] and flag == "on"
        return w * inp.sum((1, 2)).unsqueeze(1)

    mask = LearnedPerturbationMask(model).attribute(
        x, additional_forward_args=(weights, "on"), batch_size=3, epochs=2, generator=gen()
    )
    assert mask.shape == x.shape


def test_rank2_series_and_float64():
    x = torch.randn(5, 9, dtype=torch.float64, generator=gen(13))
    model = lambda v: v.sum(-1, keepdim=True)  # noqa: E731
    mask = LearnedPerturbationMask(model).attribute(x, epochs=2, generator=gen())
    assert mask.shape == x.shape and mask.dtype == torch.float64


def test_early_stop_on_tolerance():
    x = torch.randn(4, 6, 3, generator=gen(14))
    explainer = LearnedPerturbationMask(Recorder(), perturbation_net=None)
    explainer.attribute(x, epochs=500, tol=0.5, patience=3)
    assert 3 < len(explainer.loss_history_) < 500


def test_progress_bar(capsys):
    LearnedPerturbationMask(Recorder(), perturbation_net=None).attribute(
        torch.randn(2, 4, 3), epochs=2, show_progress=True
    )
    captured = capsys.readouterr()
    assert "Learned Perturbation Mask" in captured.err + captured.out


@given(
    batch=st.integers(1, 4),
    steps=st.integers(1, 6),
    features=st.integers(1, 3),
    batch_size=st.one_of(st.none(), st.integers(1, 5)),
    net=st.sampled_from(["gru", None]),
)
def test_shapes_range_and_contiguity(batch, steps, features, batch_size, net):
    x = torch.randn(batch, steps, features, generator=gen(batch * 100 + steps))
    model = lambda v: v.sum((1, 2)).unsqueeze(1) ** 2  # noqa: E731
    mask = LearnedPerturbationMask(model, perturbation_net=net).attribute(
        x, epochs=2, batch_size=batch_size, generator=gen()
    )
    assert mask.shape == x.shape and mask.is_contiguous()
    assert bool(((mask >= 0) & (mask <= 1)).all())


# ---------------------------------------------------------------------------------------------
# clear errors


def test_bad_arguments():
    x = torch.randn(3, 5, 2)
    explainer = LearnedPerturbationMask(lambda v: v.sum((1, 2)))
    cases = [
        (dict(mode="keep"), ValueError, "mode"),
        (dict(loss="l1"), ValueError, "loss"),
        (dict(lambda_mask=-1.0), ValueError, "lambda_mask"),
        (dict(lambda_perturbation=-0.1), ValueError, "lambda_perturbation"),
        (dict(epochs=0), ValueError, "epochs"),
        (dict(epochs=2.5), TypeError, "epochs"),
        (dict(lr=0.0), ValueError, "lr"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(baselines=torch.zeros(2, 5, 2)), ValueError, "baselines"),
        (dict(tol=-1.0), ValueError, "tol"),
    ]
    for kwargs, error, name in cases:
        with pytest.raises(error, match=name):
            explainer.attribute(x, **kwargs)
    with pytest.raises(ValueError, match="perturbation_net"):
        LearnedPerturbationMask(lambda v: v.sum((1, 2)), perturbation_net=nn.Linear(2, 3)).attribute(x)
    with pytest.raises(TypeError, match="perturbation_net"):
        LearnedPerturbationMask(lambda v: v, perturbation_net="lstm")
    with pytest.raises(ValueError, match="default perturbation network"):
        LearnedPerturbationMask(lambda v: v.sum((1, 2, 3))).attribute(torch.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="NaN"):
        explainer.attribute(torch.full((2, 3, 2), float("nan")))


def test_a_step_moves_only_the_masks_of_its_batch():
    # with nothing shared (no network), a series' mask depends only on its own batch:
    # fitting 6 series in batches of 2 gives the masks of three separate calls
    x = torch.randn(6, 7, 3, generator=gen(15))
    model = Recorder().eval()
    explainer = LearnedPerturbationMask(model, perturbation_net=None)
    kwargs = dict(epochs=8, lr=0.05, tol=None)
    together = explainer.attribute(x, batch_size=2, **kwargs)
    apart = torch.cat([explainer.attribute(x[i : i + 2], **kwargs) for i in (0, 2, 4)])
    torch.testing.assert_close(together, apart, rtol=0, atol=1e-6)


def test_labels_passed_where_captum_puts_baselines_are_refused_with_the_order():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2)).eval()
    x, y = torch.randn(4, 6, 2), torch.tensor([0, 1, 0, 1])
    explainer = LearnedPerturbationMask(model, perturbation_net=None)
    with pytest.raises(TypeError, match=r"looks like labels.*pass labels or classes as `target=...`"):
        explainer.attribute(x, y, epochs=1)
    with pytest.raises(ValueError, match=r"Captum's order for perturbation methods"):
        explainer.attribute(x, torch.zeros(4), epochs=1)
