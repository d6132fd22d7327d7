import math

import pytest
import torch

from captum_ts.datasets.hmm import hmm_state
from captum_ts.models.state_classifier import StateClassifier, fit_state_classifier


@pytest.fixture(scope="module")
def big():
    return hmm_state(n_samples=4000, length=200, seed=0)


def _expected_label_rate(mean: float, var: float = 0.801) -> float:
    """E[sigmoid(2 x)] for x ~ N(mean, var), by quadrature on a fine grid."""
    x = torch.linspace(mean - 10, mean + 10, 20001, dtype=torch.float64)
    density = torch.exp(-((x - mean) ** 2) / (2 * var)) / math.sqrt(2 * math.pi * var)
    return float(torch.trapezoid(torch.sigmoid(2 * x) * density, x))


def test_shapes_and_types():
    train, test = hmm_state(800, seed=0), hmm_state(200, seed=1)
    assert train.inputs.shape == (800, 200, 3) and test.inputs.shape == (200, 200, 3)
    assert train.labels.shape == (800, 200) and train.labels.dtype == torch.long
    assert train.saliency.shape == train.inputs.shape and train.states.shape == (800, 200)
    assert set(train.labels.unique().tolist()) == {0, 1}


def test_transition_probabilities(big):
    s = big.states
    prev, nxt = s[:, :-1], s[:, 1:]
    stay_zero = ((prev == 0) & (nxt == 0)).sum() / (prev == 0).sum()
    assert float(stay_zero) == pytest.approx(0.95, abs=0.003)
    # right after entering state 1 (no stay counted yet) the stay probability is 0.95
    entered_one = (s[:, 1:-1] == 1) & (s[:, :-2] == 0)
    stays = (s[:, 2:] == 1) & entered_one
    assert float(stays.sum() / entered_one.sum()) == pytest.approx(0.95, abs=0.01)
    # long stays in state 1 become less likely: P(stay) = 0.95 - d/500 < 0.95 on average
    stay_one = ((prev == 1) & (nxt == 1)).sum() / (prev == 1).sum()
    assert 0.85 < float(stay_one) < 0.945


def test_emission_means(big):
    means = torch.tensor([[0.1, 1.6, 0.5], [-0.1, -0.4, -1.5]])
    for state in (0, 1):
        rows = big.inputs[big.states == state]
        assert torch.allclose(rows.mean(0), means[state], atol=0.01)
        assert torch.allclose(rows.var(0), torch.full((3,), 0.801), atol=0.01)


def test_label_rates(big):
    rate0 = big.labels[big.states == 0].float().mean()
    rate1 = big.labels[big.states == 1].float().mean()
    assert float(rate0) == pytest.approx(_expected_label_rate(1.6), abs=0.004)  # ~0.90
    assert float(rate1) == pytest.approx(_expected_label_rate(-1.5), abs=0.004)  # ~0.116
    assert _expected_label_rate(1.6) == pytest.approx(0.90, abs=0.01)
    assert _expected_label_rate(-1.5) == pytest.approx(0.116, abs=0.005)


def test_saliency_marks_the_state_feature(big):
    assert torch.equal(big.saliency.sum(-1), torch.ones(4000, 200))
    assert torch.equal(big.saliency.argmax(-1), big.states + 1)


def test_seeded():
    a, b, c = hmm_state(5, 30, seed=3), hmm_state(5, 30, seed=3), hmm_state(5, 30, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a.inputs, c.inputs)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_samples"):
        hmm_state(n_samples=0)
    with pytest.raises(TypeError, match="length"):
        hmm_state(length=2.5)


def test_state_classifier_learns_the_labels():
    train, test = hmm_state(200, 40, seed=0), hmm_state(100, 40, seed=1)
    torch.manual_seed(0)
    model = fit_state_classifier(StateClassifier(hidden_size=8), train.inputs, train.labels, epochs=3)
    assert not model.training
    with torch.no_grad():
        logits = model(test.inputs)
    assert logits.shape == (100, 40, 2)
    accuracy = float((logits.argmax(-1) == test.labels).float().mean())
    assert accuracy > 0.85  # the Bayes rate is about 0.9: labels are noisy
    last = StateClassifier(hidden_size=16, per_step=False)
    assert last(test.inputs[:4]).shape == (4, 2)
    with pytest.raises(ValueError, match="one label per step"):
        fit_state_classifier(StateClassifier(hidden_size=4), train.inputs, train.labels[:, 0])


def test_classifier_training_is_seeded_and_leaves_the_global_stream():
    data = hmm_state(32, 20, seed=0)
    weights = []
    for _ in range(2):
        torch.manual_seed(5)
        model = StateClassifier(hidden_size=8)
        fit_state_classifier(model, data.inputs, data.labels, epochs=1, seed=1)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])
    torch.manual_seed(5)
    StateClassifier(hidden_size=8)
    state = torch.random.get_rng_state()
    torch.manual_seed(5)
    model = StateClassifier(hidden_size=8)
    fit_state_classifier(model, data.inputs, data.labels, epochs=1, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
