"""Adapter for a fitted darts ``TorchForecastingModel`` and its ``TimeSeries``.

Every window of ``input_chunk_length + output_chunk_length`` steps inside a series
(every ``step_size`` steps, ending at the series' last step) becomes one example.
``forward_func`` runs the inner module (``model.model``) once, as ``predict`` does for
``n = output_chunk_length``, so the forecast equals ``model.predict``'s and
attributions are in the units of the series given (a darts ``Scaler`` applied outside
the model is outside the attribution too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import Tensor

from ._base import AdaptedModel, as_float_tensor, require, sliding_windows

__all__ = ["adapt"]


def adapt(
    model: Any,
    series: Any,
    *,
    past_covariates: Any = None,
    future_covariates: Any = None,
    step_size: int = 1,
    last_window: bool = False,
) -> AdaptedModel:
    """Turn a fitted darts ``TorchForecastingModel`` and ``series`` (a ``TimeSeries`` or a
    list of them, with the covariates it was fitted with) into an ``AdaptedModel``.

    Inputs (those the model uses): ``past_target`` ``(B, L, C)``, ``past_covariates``
    ``(B, L, P)``, ``future_covariates`` ``(B, L + H, F)`` (historic and future part in
    one tensor); static covariates are passed through (``additional_forward_args``).
    The forecast is ``(B, H, C_out)``: one column per target component, times the
    quantiles of a ``QuantileRegression`` likelihood (``predict_likelihood_parameters``).
    ``last_window=True`` keeps only each series' last window. The module is put in eval
    mode, as ``predict`` runs it.
    """
    require("darts", "darts")
    _check_supported(model)
    if not isinstance(step_size, int) or isinstance(step_size, bool) or step_size < 1:
        raise ValueError(f"`step_size` must be a positive int, got {step_size!r}.")
    targets = _as_list(series, "series")
    pasts = _covariates(past_covariates, model.uses_past_covariates, targets, "past_covariates")
    futures = _covariates(future_covariates, model.uses_future_covariates, targets, "future_covariates")
    L, H = model.input_chunk_length, model.output_chunk_length
    length = L + H
    values, stamps, ids, statics = [], [], [], []
    for i, ts in enumerate(targets):  # one iteration per series
        parts = [ts.values(copy=False)]
        parts += [_aligned(c[i], ts, name) for c, name in ((pasts, "past"), (futures, "future")) if c]
        w = sliding_windows(np.concatenate(parts, 1).astype(np.float64), length, step_size)
        s = sliding_windows(ts.time_index.to_numpy(), length, step_size)
        w, s = (w[-1:], s[-1:]) if last_window else (w, s)
        values.append(w)
        stamps.append(s)
        ids.append(np.full(w.shape[0], i, dtype=object))
        if model.uses_static_covariates:
            static = _static(ts)
            statics.append(np.broadcast_to(static, (w.shape[0], *static.shape)))
    data_np, stamps_np, series_ids = np.concatenate(values), np.concatenate(stamps), np.concatenate(ids)
    if data_np.shape[0] == 0:
        raise ValueError(f"no series has {length} steps (input_chunk_length {L} + output_chunk_length {H}).")
    module = model.model
    module.eval()  # as `predict` runs it; attributors set the mode they need during a call
    dtype = next(module.parameters()).dtype
    data = as_float_tensor(data_np, dtype)
    c, p = targets[0].n_components, pasts[0].n_components if pasts else 0
    inputs, names, time_stamps = (
        [data[:, :L, :c]],
        [("past_target", tuple(targets[0].components))],
        [stamps_np[:, :L]],
    )
    if pasts:
        inputs.append(data[:, :L, c : c + p])
        names.append(("past_covariates", tuple(pasts[0].components)))
        time_stamps.append(stamps_np[:, :L])
    if futures:
        inputs.append(data[:, :, c + p :])
        names.append(("future_covariates", tuple(futures[0].components)))
        time_stamps.append(stamps_np)
    extra = (as_float_tensor(np.concatenate(statics), dtype),) if statics else ()
    out_names, quantiles = _outputs(model, tuple(targets[0].components))
    return AdaptedModel(
        forward_func=_forward(module, [n for n, _ in names], L, bool(statics)),
        inputs=tuple(t.contiguous() for t in inputs),
        input_names=tuple(n for n, _ in names),
        feature_names=tuple(f for _, f in names),
        time_stamps=tuple(time_stamps),
        series_ids=series_ids,
        output_names=out_names,
        output_quantiles=quantiles,
        additional_forward_args=extra,
        y_true=data[:, L:, :c].contiguous(),
        forecast_time_stamps=stamps_np[:, L:],
        horizon=H,
        module=module,
    )


def _check_supported(model: Any) -> None:
    from darts.models.forecasting.torch_forecasting_model import TorchForecastingModel
    from darts.utils.likelihood_models.torch import QuantileRegression

    if not isinstance(model, TorchForecastingModel):
        raise TypeError(f"`model` must be a darts TorchForecastingModel, got {type(model).__name__}.")
    name = type(model).__name__
    if name == "RNNModel":
        raise ValueError(
            "RNNModel forecasts autoregressively from shifted covariates; use BlockRNNModel, whose "
            "one forward pass gives the whole forecast."
        )
    if model.output_chunk_shift:
        raise ValueError(f"{name} has `output_chunk_shift`={model.output_chunk_shift}; only 0 is supported.")
    likelihood = model.likelihood
    if likelihood is not None and not isinstance(likelihood, QuantileRegression):
        raise ValueError(
            f"{name} has the likelihood {type(likelihood).__name__}: its forecast is sampled, so no "
            "gradient or attribution is defined. Use no likelihood or QuantileRegression."
        )
    if getattr(model, "add_encoders", None):
        raise ValueError(
            f"{name} was built with `add_encoders`: those covariates are made inside darts and would "
            "not be attributed. Build them as covariates and fit without `add_encoders`."
        )
    if getattr(model, "model", None) is None or not getattr(model, "_fit_called", False):
        raise ValueError("`model` must be fitted (call `model.fit` first).")


def _as_list(series: Any, name: str) -> list[Any]:
    from darts import TimeSeries

    items = [series] if isinstance(series, TimeSeries) else series
    if not isinstance(items, Sequence) or not items or not all(isinstance(s, TimeSeries) for s in items):
        raise TypeError(f"`{name}` must be a darts TimeSeries or a non-empty list of them.")
    return list(items)


def _covariates(covariates: Any, used: bool, targets: list[Any], name: str) -> list[Any]:
    if not used:
        if covariates is not None:
            raise ValueError(f"the model was fitted without `{name}`; do not pass them.")
        return []
    if covariates is None:
        raise ValueError(f"the model was fitted with `{name}`; pass them.")
    items = _as_list(covariates, name)
    if len(items) != len(targets):
        raise ValueError(f"`{name}` has {len(items)} series, `series` has {len(targets)}.")
    return items


def _aligned(covariates: Any, target: Any, kind: str) -> np.ndarray:
    """The covariate values at the target's time stamps."""
    part = covariates.slice_intersect(target)
    if not part.time_index.equals(target.time_index):
        raise ValueError(
            f"the {kind} covariates do not cover the target's time stamps "
            f"{target.start_time()} .. {target.end_time()}."
        )
    return part.values(copy=False)


def _static(ts: Any) -> np.ndarray:
    values = ts.static_covariates_values(copy=False)
    if values is None:
        raise ValueError("the model uses static covariates; the series has none.")
    return np.asarray(values, dtype=np.float64)


def _outputs(model: Any, components: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[float | None, ...]]:
    qs: list[float | None] = [None]
    if model.likelihood is not None:
        qs = [round(float(q), 6) for q in model.likelihood.quantiles]
    return tuple(c for c in components for _ in qs), tuple(q for _ in components for q in qs)


def _forward(module: Any, kinds: list[str], L: int, static: bool):
    """The module's predict step as a function of the raw input tensors."""
    from darts.utils.data.torch_datasets.utils import ModuleStage, PLModuleInput

    def forward(*xs: Tensor) -> Tensor:
        given = dict(zip(kinds, xs))
        future = given.get("future_covariates")
        x_in = PLModuleInput(
            past_target=given["past_target"],
            past_covariates=given.get("past_covariates"),
            historic_future_covariates=future[:, :L] if future is not None else None,
            future_covariates=future[:, L:] if future is not None else None,
            static_covariates=xs[len(kinds)] if static else None,
            stage=ModuleStage.PREDICT,
        )
        prediction = module(x_in).prediction  # (B, H, C, nr_params)
        return prediction.reshape(*prediction.shape[:2], -1)

    return forward
