import pytest
import torch

from captum_ts.datasets import ShapeSeries, shapes
from captum_ts.datasets.shapes import SHAPES, shape_templates


@pytest.fixture(scope="module")
def big():
    return shapes(n_samples=6000, length=40, n_channels=4, width=8, amplitude=2.0, noise=0.5, seed=0)


def test_shapes_types_and_mask_layout():
    data = shapes(n_samples=50, length=30, n_channels=5, width=6, seed=3)
    assert isinstance(data, ShapeSeries)
    assert data.inputs.shape == data.saliency.shape == (50, 30, 5)
    assert data.inputs.dtype == data.saliency.dtype == torch.float32
    assert data.labels.dtype == data.channels.dtype == data.starts.dtype == torch.long
    # exactly `width` consecutive cells of one channel per series, at the recorded place
    expected = torch.zeros(50, 30, 5)
    for i in range(50):  # an oracle loop, one series at a time
        c, s = int(data.channels[i]), int(data.starts[i])
        expected[i, s : s + 6, c] = 1.0
    assert torch.equal(data.saliency, expected)


def test_noise_free_cells_are_the_scaled_templates():
    data = shapes(n_samples=30, length=20, n_channels=2, width=5, amplitude=-1.5, noise=0.0, seed=1)
    assert torch.equal(data.inputs[data.saliency == 0], torch.zeros(int((data.saliency == 0).sum())))
    planted = data.inputs[data.saliency == 1].view(30, 5)  # row-major: the cells of each series in time order
    assert torch.allclose(planted, -1.5 * shape_templates(5)[data.labels])


def test_templates_differ_and_peak_at_one():
    for width in (3, 5, 13, 31):  # odd widths sample the centre, where every shape peaks
        t = shape_templates(width)
        assert t.shape == (len(SHAPES), width)
        assert torch.equal(t.amax(1), torch.ones(3))
        assert torch.equal(t[:, width // 2], torch.ones(3))
        assert all(not torch.allclose(t[i], t[j]) for i in range(3) for j in range(i + 1, 3))


def test_statistics(big):
    n = len(big.labels)
    # label, channel and start are uniform and independent of one another
    for values, k in ((big.labels, 3), (big.channels, 4), (big.starts, 40 - 8 + 1)):
        freq = torch.bincount(values, minlength=k).float() / n
        assert freq.shape == (k,)
        assert float((freq - 1 / k).abs().max()) < 4 * (1 / k / n) ** 0.5 + 1e-3
    assert int(big.starts.min()) == 0 and int(big.starts.max()) == 40 - 8
    for label in range(3):
        share = torch.bincount(big.channels[big.labels == label], minlength=4).float()
        assert float((share / share.sum() - 0.25).abs().max()) < 0.04
    # the cells off the mask are N(0, 0.5^2)
    off = big.inputs[big.saliency == 0]
    assert float(off.mean()) == pytest.approx(0.0, abs=0.01)
    assert float(off.std()) == pytest.approx(0.5, abs=0.01)
    # on the mask, minus the template, the same noise
    planted = big.inputs[big.saliency == 1].view(n, 8) - 2.0 * shape_templates(8)[big.labels]
    assert float(planted.mean()) == pytest.approx(0.0, abs=0.01)
    assert float(planted.std()) == pytest.approx(0.5, abs=0.01)


def test_mean_over_planted_cells_separates_square_from_the_others(big):
    # the shapes differ in area: square > sine > triangle, which is what a classifier can read
    area = (big.inputs * big.saliency).sum((1, 2))
    means = torch.stack([area[big.labels == k].mean() for k in range(3)])
    assert torch.allclose(means, 2.0 * shape_templates(8).sum(1), atol=0.1)


def test_seeded_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    a, b = shapes(20, seed=7), shapes(20, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a.inputs, shapes(20, seed=8).inputs)
    g = torch.Generator().manual_seed(7)
    first, second = shapes(20, seed=g), shapes(20, seed=g)  # one stream: two different sets
    assert torch.equal(first.inputs, a.inputs) and not torch.equal(second.inputs, a.inputs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"width": 2}, ValueError, "`width` must be at least 3"),
        ({"width": 65}, ValueError, r"`width` \(65\) must not exceed `length` \(64\)"),
        ({"n_channels": 0}, ValueError, "`n_channels` must be a positive integer"),
        ({"length": 64.0}, TypeError, "`length` must be a positive integer"),
        ({"amplitude": 0.0}, ValueError, "`amplitude` must be a finite non-zero number"),
        ({"amplitude": float("nan")}, ValueError, "`amplitude` must be a finite non-zero number"),
        ({"noise": -1.0}, ValueError, "`noise` must be a finite number >= 0"),
        ({"seed": 1.5}, TypeError, "`seed` must be an integer seed or a torch.Generator"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        shapes(n_samples=4, **kwargs)
