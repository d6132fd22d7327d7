"""SequenceDreaming's defaults: border dreams end at the asked probability, dead starts are refused."""

import pytest
import torch
from torch import nn

from captum_ts.attr.dreaming.regularizers import L2, TotalVariation, default_regularizers
from captum_ts.attr.dreaming.sequence_dreaming import SequenceDreaming, random_starts
from captum_ts.datasets import bumps
from captum_ts.models import CNN1dClassifier, fit_classifier

T = 32


def wiggle_data(n=80, seed=0):
    """Class 1 is a smooth curve plus an alternating +-0.6 wiggle, class 0 the curve alone:
    a model of it reacts to exactly what blur and smoothing remove."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, T)
    phase = torch.rand(n, 1, generator=g) * 6.3
    curve = torch.sin(2 * torch.pi * t + phase) + 0.1 * torch.randn(n, T, generator=g)
    labels = torch.arange(n) % 2
    wiggle = 0.6 * (-1.0) ** torch.arange(T)
    return (curve + labels[:, None] * wiggle)[..., None], labels


@pytest.fixture(scope="module")
def border_case():
    """A small CNN trained on the wiggle data and 2 classes x 3 real series it is sure about."""
    x, y = wiggle_data()
    torch.manual_seed(0)
    model = fit_classifier(CNN1dClassifier(1, 2, channels=8, kernel_size=5), x, y, epochs=20)
    with torch.no_grad():
        prob = torch.softmax(model(x), -1)
    rows = torch.cat([((prob.argmax(-1) == c) & (prob.amax(-1) > 0.9)).nonzero()[:3, 0] for c in (0, 1)])
    assert len(rows) == 6
    return model, x[rows], prob[rows].argmax(-1)


def end_probability(model, border_case, **kw):
    _, x0, cls = border_case
    out = SequenceDreaming(model).attribute(x0, target=cls, objective="border", steps=200, **kw)
    with torch.no_grad():
        return torch.softmax(model(out), -1)[torch.arange(6), cls]


def test_border_dreams_end_at_the_asked_probability_with_the_defaults(border_case):
    model = border_case[0]
    p = end_probability(model, border_case)  # default regularisers for "border": loss terms only
    assert (p - 0.5).abs().max() < 0.05


def test_projections_push_border_dreams_off_the_border(border_case):
    """Why the border default has no projections: with blur and smoothing every 10 steps the
    last step is a projection, which moves the series off the border it had reached."""
    model = border_case[0]
    p = end_probability(model, border_case, regularizers=default_regularizers())
    assert (p - 0.5).abs().max() > 0.1


def test_border_defaults_are_the_loss_terms_of_the_defaults():
    border = default_regularizers("border")
    assert [type(r) for r in border] == [L2, TotalVariation]
    assert [(r.weight) for r in border] == [r.weight for r in default_regularizers()[:2]]


# ----------------------------------------------------------------- dead starts


class BNReLU(nn.Module):
    """Conv1d -> BatchNorm1d -> ReLU -> global average pooling -> Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 8, 5, padding=2)
        self.bn = nn.BatchNorm1d(8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x.transpose(1, 2)))).mean(-1))


@pytest.fixture(scope="module")
def dead_near_zero():
    """Trained briefly, then every BatchNorm shift set to -1: each unit fires only where its
    normalised input exceeds 1 running standard deviation, never for starts of std 0.1
    (but for every training series and every start of std 1)."""
    data = bumps(n_samples=80, length=T, n_features=2, seed=0)
    torch.manual_seed(0)
    model = fit_classifier(BNReLU(), data.inputs, data.labels, epochs=2)
    with torch.no_grad():
        model.bn.bias.fill_(-1.0)
    return model


def test_a_start_with_zero_objective_gradient_is_refused(dead_near_zero):
    small = random_starts(4, (T, 2), scale=0.1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert not (torch.relu(dead_near_zero.bn(dead_near_zero.conv(small.transpose(1, 2)))) > 0).any()
    for regs in ((), None):
        with pytest.raises(
            ValueError, match=r"gradient is exactly zero at the start for rows \[0, 1, 2, 3\]"
        ):
            SequenceDreaming(dead_near_zero).attribute(small, target=1, regularizers=regs, steps=3)
    with pytest.raises(ValueError, match=r"random_starts\(n, shape, scale=data.std\(\)\)"):
        SequenceDreaming(dead_near_zero).attribute(small, target=0, steps=3)


def test_only_the_dead_rows_are_named(dead_near_zero):
    starts = random_starts(3, (T, 2), generator=torch.Generator().manual_seed(0))
    starts[1:] *= 0.1  # rows 1 and 2 are dead, row 0 is not
    for chunk in (None, 2):  # rows are numbered in the batch, not in the chunk
        with pytest.raises(ValueError, match=r"for rows \[1\]:"):
            SequenceDreaming(dead_near_zero).attribute(
                starts[:2], target=1, regularizers=(), steps=3, internal_batch_size=chunk
            )
        with pytest.raises(ValueError, match=r"for rows \[2\]:"):
            SequenceDreaming(dead_near_zero).attribute(
                starts[[0, 0, 2]], target=1, regularizers=(), steps=3, internal_batch_size=chunk
            )


def test_default_random_starts_are_at_the_data_scale_and_move(dead_near_zero):
    starts = random_starts(64, (T, 2), generator=torch.Generator().manual_seed(0))
    assert abs(float(starts.std()) - 1.0) < 0.02
    four = starts[:4]
    out, traj = SequenceDreaming(dead_near_zero).attribute(
        four, target=1, regularizers=(), steps=20, return_trajectory=True
    )
    assert (out - four).flatten(1).abs().amax(1).min() > 0.1
    assert (traj[-1] > traj[0]).all()


def test_a_saturated_border_objective_is_refused():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(T, 2)).double()
    with torch.no_grad():
        model[1].bias.copy_(torch.tensor([0.0, 800.0], dtype=torch.float64))  # p_1 rounds to 1
    with pytest.raises(ValueError, match="objective='logit'"):
        SequenceDreaming(model).attribute(
            torch.zeros(2, T, dtype=torch.float64), target=1, objective="border"
        )
