"""Adapter for a fitted pytorch-forecasting model and a ``TimeSeriesDataSet`` (or its dataloader).

Every sample of the dataset is one example. The continuous inputs are attributed as
the network sees them: ``encoder_cont`` and ``decoder_cont``, scaled by the dataset's
scalers and target normalizer (the units of ``dataset.reals`` after scaling);
categorical codes, lengths and the target scale are passed through. ``forward_func``
returns the rescaled forecast, so it equals ``model.predict(..., mode="quantiles")``
(``mode="prediction"`` for a point loss).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._base import AdaptedModel, require

__all__ = ["adapt"]

_PASSED = ("encoder_cat", "decoder_cat", "encoder_lengths", "decoder_lengths", "target_scale")


def adapt(model: Any, data: Any, *, batch_size: int = 256) -> AdaptedModel:
    """Turn a fitted pytorch-forecasting model and ``data`` (a ``TimeSeriesDataSet``, or a
    dataloader of one made with ``to_dataloader(train=False)``) into an ``AdaptedModel``.

    Inputs: ``encoder_cont`` ``(B, L, R)`` and ``decoder_cont`` ``(B, H, R)`` (``R`` =
    ``dataset.reals``, scaled); ``additional_forward_args``: ``encoder_cat``,
    ``decoder_cat``, ``encoder_lengths``, ``decoder_lengths``, ``target_scale``. The
    forecast is ``(B, H, C_out)``: one column per quantile of a ``QuantileLoss``, else
    one. Every sample must have the full encoder and prediction length. The model is
    put in eval mode, as ``predict`` runs it.
    """
    pf = require("pytorch_forecasting", "pytorch-forecasting")
    _check_supported(pf, model)
    if isinstance(data, pf.TimeSeriesDataSet):
        dataset, loader = data, data.to_dataloader(train=False, batch_size=batch_size, shuffle=False)
    elif isinstance(getattr(data, "dataset", None), pf.TimeSeriesDataSet):
        dataset, loader = data.dataset, data
    else:
        raise TypeError(f"`data` must be a TimeSeriesDataSet or its dataloader, got {type(data).__name__}.")
    if isinstance(dataset.target, (list, tuple)):
        raise ValueError(f"multi-target datasets ({dataset.target}) are not supported yet.")
    if getattr(loader, "drop_last", False):
        raise ValueError("`data` drops its last batch; make it with `to_dataloader(train=False)`.")
    batches = [x for x, _ in loader]  # one iteration per batch
    if not batches:
        raise ValueError("`data` has no samples; nothing to explain.")
    x = {key: torch.cat([b[key] for b in batches]) for key in (*_PASSED, "encoder_cont", "decoder_cont")}
    x["decoder_time_idx"] = torch.cat([b["decoder_time_idx"] for b in batches])
    x["groups"] = torch.cat([b["groups"] for b in batches])
    x["decoder_target"] = torch.cat([b["decoder_target"] for b in batches])
    L, H = dataset.max_encoder_length, dataset.max_prediction_length
    if bool((x["encoder_lengths"] != L).any()) or bool((x["decoder_lengths"] != H).any()):
        raise ValueError(
            f"samples shorter than max_encoder_length {L} / max_prediction_length {H} are padded; "
            "make the dataset with `min_encoder_length=max_encoder_length` and "
            "`min_prediction_length=max_prediction_length`."
        )
    if not all(bool(torch.isfinite(x[k]).all()) for k in ("encoder_cont", "decoder_cont", "target_scale")):
        raise ValueError("the data holds NaN or Inf values; fill or drop them before adapting.")
    model.eval()  # as `predict` runs it; attributors set the mode they need during a call
    index = dataset.x_to_index(x)
    first = x["decoder_time_idx"][:, :1].numpy()
    series = index[dataset.group_ids].astype(str).agg("/".join, axis=1).to_numpy(dtype=object)
    quantiles = getattr(model.loss, "quantiles", None)
    qs: list[float | None] = [round(float(q), 6) for q in quantiles] if quantiles else [None]
    reals = tuple(dataset.reals)
    return AdaptedModel(
        forward_func=_forward(model),
        inputs=(x["encoder_cont"].contiguous(), x["decoder_cont"].contiguous()),
        input_names=("encoder_cont", "decoder_cont"),
        feature_names=(reals, reals),
        time_stamps=(first + np.arange(-L, 0), first + np.arange(H)),
        series_ids=series,
        output_names=(dataset.target,) * len(qs),
        output_quantiles=tuple(qs),
        additional_forward_args=tuple(x[k] for k in _PASSED),
        y_true=x["decoder_target"].unsqueeze(-1).contiguous(),
        forecast_time_stamps=first + np.arange(H),
        horizon=H,
        module=model,
    )


def _check_supported(pf: Any, model: Any) -> None:
    from pytorch_forecasting.metrics import DistributionLoss, MultiLoss
    from pytorch_forecasting.models.base_model import AutoRegressiveBaseModel

    if not isinstance(model, pf.BaseModel):
        raise TypeError(f"`model` must be a pytorch-forecasting model, got {type(model).__name__}.")
    name = type(model).__name__
    if isinstance(model, AutoRegressiveBaseModel):
        raise ValueError(
            f"{name} decodes autoregressively from its own samples; no gradient of one forward pass "
            "is its forecast. Use a direct model (TemporalFusionTransformer, NHiTS, NBeats, TiDE)."
        )
    if isinstance(model.loss, DistributionLoss):
        raise ValueError(
            f"{name} has a distribution loss ({type(model.loss).__name__}): its forecast is sampled. "
            "Use a point or QuantileLoss."
        )
    if isinstance(model.loss, MultiLoss):
        raise ValueError(f"{name} has several targets (MultiLoss); this is not supported yet.")


def _forward(model: Any):
    """The model's forward as a function of the continuous inputs and the passed-through ones."""

    def forward(
        encoder_cont: Tensor,
        decoder_cont: Tensor,
        encoder_cat: Tensor,
        decoder_cat: Tensor,
        encoder_lengths: Tensor,
        decoder_lengths: Tensor,
        target_scale: Tensor,
    ) -> Tensor:
        x = {
            "encoder_cont": encoder_cont,
            "decoder_cont": decoder_cont,
            "encoder_cat": encoder_cat,
            "decoder_cat": decoder_cat,
            "encoder_lengths": encoder_lengths,
            "decoder_lengths": decoder_lengths,
            "target_scale": target_scale,
        }
        try:
            prediction = model(x)["prediction"]
        except KeyError as error:
            raise ValueError(
                f"{type(model).__name__} reads x[{error.args[0]!r}] (e.g. the target itself), which the "
                "adapter does not pass; this model is not supported."
            ) from error
        return prediction if prediction.dim() == 3 else prediction.unsqueeze(-1)

    return forward
