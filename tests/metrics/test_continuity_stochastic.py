"""Continuity of a stochastic explainer: one copy per call gives it the original's noise draws."""

import torch
from torch import nn

from captum_ts import GuidedAbsoluteGrad
from captum_ts.metrics import continuity


def small_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(24, 8), nn.Tanh(), nn.Linear(8, 2))


def test_one_copy_per_call_hands_every_call_the_inputs_shape_and_order():
    x, shapes = torch.randn(3, 8, 2), []

    def explain(z):
        shapes.append(tuple(z.shape))
        return z.abs()

    continuity(explain, x, n_perturb_samples=4, max_examples_per_batch=len(x), generator=torch.Generator())
    assert shapes == [tuple(x.shape)] * 5  # the original, then one call per copy


def test_reseeded_explainer_scores_its_map_not_its_sampling_noise():
    model, x = small_mlp(), torch.randn(4, 12, 2)
    gag = GuidedAbsoluteGrad(model)

    def explain(z, **kw):
        return gag.attribute(z, nt_samples=8, generator=torch.Generator().manual_seed(0), **kw)

    kw = dict(n_perturb_samples=3, perturb_radius=1e-4, target=1, generator=torch.Generator().manual_seed(1))
    shared = continuity(explain, x, max_examples_per_batch=len(x), **kw)
    fresh = continuity(explain, x, **kw)
    # with the same draws the map moves by O(radius): the ratio stays bounded; fresh draws add O(1) to the
    # numerator and the ratio blows up as 1 / radius
    assert float(shared.max()) < 100
    assert float(fresh.min()) > 100 * float(shared.max())
