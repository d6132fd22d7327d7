"""The sktime adapter on tiny CNNClassifierTorch and SimpleRNNClassifierTorch fitted for
two epochs on BasicMotions (shipped with sktime): the probabilities equal
`predict_proba`, the layout is the network's, attribution methods run and map back to
dimension names and time steps."""

import sys
import warnings

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients

pytest.importorskip("sktime")
from sktime.classification.deep_learning import CNNClassifierTorch, SimpleRNNClassifierTorch
from sktime.classification.dummy import DummyClassifier
from sktime.datasets import load_basic_motions
from sktime.datatypes import convert_to

from captum_ts import GuidedAbsoluteGrad, LearnedPerturbationMask, explain_horizons
from captum_ts.adapters.sktime import adapt


@pytest.fixture(scope="module")
def fitted():
    """Four examples of each of the four classes; one fit of each classifier."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    X, y = load_basic_motions(split="train", return_type="numpy3D")
    keep = np.concatenate([np.flatnonzero(y == label)[:4] for label in np.unique(y)])
    X, y = X[keep], y[keep]
    models = {
        "cnn": CNNClassifierTorch(num_epochs=2, batch_size=8, random_state=0),
        "rnn": SimpleRNNClassifierTorch(hidden_dim=8, num_epochs=2, batch_size=8, random_state=0),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for model in models.values():
            model.fit(X, y)
    return models, X, y


@pytest.mark.parametrize("name", ["cnn", "rnn"])
def test_the_probabilities_equal_predict_proba(fitted, name):
    models, X, _ = fitted
    expected = models[name].predict_proba(X)
    for output in ("logits", "proba"):
        adapted = adapt(models[name], X, output=output)
        with torch.no_grad():
            out = adapted.forward_func(*adapted.inputs)
        out = out.softmax(-1) if output == "logits" else out
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5)
    assert adapted.output_names == ("badminton", "running", "standing", "walking")
    assert adapted.kind == "classifier" and adapted.horizon == 0


def test_the_layout_is_time_then_dimension_whatever_the_panel_type(fitted):
    models, X, _ = fitted
    adapted = adapt(models["cnn"], X)
    n, c, t = X.shape
    assert tuple(adapted.inputs[0].shape) == (n, t, c)
    torch.testing.assert_close(adapted.inputs[0][3, 10], torch.tensor(X[3, :, 10], dtype=torch.float32))
    assert adapted.feature_names == (tuple(f"dim_{i}" for i in range(c)),)
    frame = convert_to(X, to_type="pd-multiindex")
    from_frame = adapt(models["cnn"], frame)
    torch.testing.assert_close(from_frame.inputs[0], adapted.inputs[0])
    assert from_frame.feature_names == (tuple(str(col) for col in frame.columns),)
    assert from_frame.series_ids.tolist() == list(range(n))
    assert adapted.target(2) == 2


def test_integrated_gradients_is_complete_and_maps_to_dimensions_and_time(fitted):
    models, X, _ = fitted
    adapted = adapt(models["cnn"], X)
    ig = IntegratedGradients(adapted.forward_func)
    attr = ig.attribute(adapted.inputs, target=adapted.target(1), n_steps=64)
    with torch.no_grad():
        gap = adapted.forward_func(*adapted.inputs) - adapted.forward_func(
            torch.zeros_like(adapted.inputs[0])
        )
    torch.testing.assert_close(attr[0].sum((1, 2)), gap[:, 1], rtol=1e-2, atol=1e-3)
    frame = adapted.to_frame(attr, step=1)
    row = frame[(frame.example == 5) & (frame.time == 7) & (frame.feature == "dim_4")]
    assert row.value.iloc[0] == pytest.approx(float(attr[0][5, 7, 4]))


@pytest.mark.parametrize("name", ["cnn", "rnn"])
def test_guided_absolute_grad_and_learned_mask_run(fitted, name):
    models, X, _ = fitted
    adapted = adapt(models[name], X)
    gag = GuidedAbsoluteGrad(adapted.forward_func).attribute(
        adapted.inputs, target=0, nt_samples=4, generator=torch.Generator().manual_seed(0)
    )
    assert gag[0].shape == adapted.inputs[0].shape and bool((gag[0] >= 0).all()) and float(gag[0].sum()) > 0
    lpm = LearnedPerturbationMask(adapted.forward_func).attribute(
        adapted.inputs, target=0, epochs=3, generator=torch.Generator().manual_seed(0)
    )
    assert lpm[0].shape == adapted.inputs[0].shape and bool(((lpm[0] >= 0) & (lpm[0] <= 1)).all())


def test_unusable_models_and_data_get_clear_errors(fitted):
    models, X, y = fitted
    with pytest.raises(TypeError, match="must be a sktime torch deep classifier"):
        adapt(DummyClassifier().fit(X, y), X)
    with pytest.raises(ValueError, match="must be fitted"):
        adapt(CNNClassifierTorch(), X)
    with pytest.raises(ValueError, match="`output` must be 'logits' or 'proba'"):
        adapt(models["cnn"], X, output="softmax")
    broken = X.copy()
    broken[2, 1, 5] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        adapt(models["cnn"], broken)
    with pytest.raises(ValueError, match="not a forecaster"):
        explain_horizons(IntegratedGradients(adapt(models["cnn"], X).forward_func), adapt(models["cnn"], X))


def test_without_the_library_adapt_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sktime", None)
    with pytest.raises(ImportError, match=r"pip install captum-ts\[sktime\]"):
        adapt(None, None)
