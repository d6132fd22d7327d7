"""HAM on more of neuralforecast's model families: NBEATS (basis expansions, frozen basis
matrices), PatchTST (attention, BatchNorm, a flatten head; with and without RevIN's
affine parameters) and TSMixer (multivariate, RevIN, BatchNorm), tiny models fitted for a
few steps on AirPassengers. The batched curves equal the per-cut-off loop whichever path
each layer takes: taps and ghost norms for ``Linear`` layers, batched autograd for the
other parameters, the prefix-sum head where the forecast leaves the model through one."""

import warnings

import pytest
import torch
from torch import nn

pytest.importorskip("neuralforecast")
from _shared import QUIET as TRAINER_QUIET
from _shared import silence_lightning
from neuralforecast import NeuralForecast
from neuralforecast.models import NBEATS, PatchTST, TSMixer
from neuralforecast.utils import AirPassengersPanel

from captum_ts import HorizonActivationMap
from captum_ts.adapters.neuralforecast import adapt
from captum_ts.attr.horizon._reference import horizon_norms_loop
from captum_ts.attr.horizon._taps import tappable_layers

H, L = 4, 12
QUIET = {**TRAINER_QUIET, "max_steps": 3}
PATCHTST = {"patch_len": 4, "stride": 4, "encoder_layers": 1, "n_heads": 2, "hidden_size": 16}
#: model index -> the step-local head HAM finds (None: RevIN's affine parameters or a sum of
#: basis expansions act after the last Linear, so every cut-off runs the generic backward)
HEADS = {0: None, 1: "model.head.linear", 2: None, 3: None}


@pytest.fixture(scope="module")
def fitted():
    """One fit of four tiny models on the two-series AirPassengers panel."""
    silence_lightning()
    torch.manual_seed(0)
    df = AirPassengersPanel[["unique_id", "ds", "y"]].copy()
    models = [
        NBEATS(h=H, input_size=L, mlp_units=[[16, 16]] * 3, **QUIET),
        PatchTST(h=H, input_size=L, linear_hidden_size=16, **PATCHTST, **QUIET),
        PatchTST(
            h=H,
            input_size=L,
            linear_hidden_size=16,
            revin_affine=True,
            alias="PatchTSTAffine",
            **PATCHTST,
            **QUIET,
        ),
        TSMixer(h=H, input_size=L, n_series=2, n_block=1, ff_dim=8, **QUIET),
    ]
    nf = NeuralForecast(models=models, freq="ME")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nf.fit(df)
    return nf, df


def _gap(res, loop_c, loop_a) -> float:
    """The largest difference between HAM's and the loop's curves, relative to the curves' maximum."""
    causal = float((res.layer_causal - loop_c).abs().max())
    anticausal = float((res.layer_anticausal - loop_a).abs().max())
    return max(causal, anticausal) / float(loop_c.abs().max())


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_ham_equals_the_per_cutoff_loop_on_nbeats_patchtst_and_tsmixer(fitted, index):
    nf, df = fitted
    adapted = adapt(nf, df, model=index, step_size=36)
    loop_c, loop_a, names = horizon_norms_loop(
        adapted.module, adapted.inputs, adapted.y_true, forward_func=adapted.forward_func
    )
    ham = HorizonActivationMap(adapted.forward_func)
    for chunk in (None, 1):  # one cut-off per chunk carries the head's prefix sum across chunks
        res = ham.attribute(adapted.inputs, adapted.y_true, horizon_chunk_size=chunk)
        assert res.layer_names == tuple(names)
        assert (res.head, res.backend) == (HEADS[index], "batched")
        assert _gap(res, loop_c, loop_a) < 1e-5
    assert float(loop_c[0].abs().max()) == 0.0 and float(loop_a[-1].abs().max()) == 0.0
    assert float(loop_c[-1].min()) > 0  # every trainable tensor moves with the full loss


def test_ham_per_series_curves_of_tsmixer_equal_the_loop(fitted):
    nf, df = fitted
    adapted = adapt(nf, df, model=3, step_size=36)
    assert adapted.output_names == ("Airline1", "Airline2")
    res = HorizonActivationMap(adapted.forward_func).attribute(
        adapted.inputs, adapted.y_true, variates="each"
    )
    loop_c, loop_a, _ = horizon_norms_loop(
        adapted.module, adapted.inputs, adapted.y_true, groups=((0,), (1,)), forward_func=adapted.forward_func
    )
    assert res.layer_causal.shape == (H + 1, 2, len(res.layer_names))
    assert _gap(res, loop_c, loop_a) < 1e-5
    assert not torch.allclose(loop_c[:, 0], loop_c[:, 1])  # the two series move the parameters differently


#: the trainable tensors outside ``Linear`` layers, which HAM differentiates with batched autograd
UNTAPPED = {
    0: set(),
    1: {"model.backbone.W_pos"}
    | {
        f"model.backbone.encoder.layers.0.norm_{n}.1.{p}" for n in ("attn", "ffn") for p in ("weight", "bias")
    },
    3: {"norm.affine_weight", "norm.affine_bias"}
    | {
        f"mixing_layers.0.{n}.{p}"
        for n in ("temporal_mixer.temporal_norm", "feature_mixer.feature_norm")
        for p in ("weight", "bias")
    },
}

#: parameters the models freeze: NBEATS's trend and seasonality bases, PatchTST's attention scale
FROZEN = {
    0: {f"blocks.{i}.basis.{b}_basis" for i in (1, 2) for b in ("backcast", "forecast")},
    1: {"model.backbone.encoder.layers.0.self_attn.sdp_attn.scale"},
    3: set(),
}


@pytest.mark.parametrize("index", [0, 1, 3])
def test_linear_layers_are_tapped_and_the_rest_is_left_to_autograd(fitted, index):
    module = fitted[0].models[index]
    trainable = {id(p) for p in module.parameters() if p.requires_grad}
    tapped = tappable_layers(module, trainable)
    assert set(tapped) == {n for n, m in module.named_modules() if type(m) is nn.Linear}
    in_taps = {id(p) for m in tapped.values() for p in m.parameters()}
    untapped = {n for n, p in module.named_parameters() if p.requires_grad and id(p) not in in_taps}
    assert untapped == UNTAPPED[index]
    frozen = {n for n, p in module.named_parameters() if not p.requires_grad}
    assert frozen == FROZEN[index]  # not attributed (the loop leaves them out too)
