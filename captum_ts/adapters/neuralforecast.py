"""Adapter for a fitted ``neuralforecast.NeuralForecast`` and its long data frame.

Every window of ``input_size + h`` rows inside a series (every ``step_size`` rows,
ending at the series' last row) becomes one example. ``forward_func`` takes the raw
values (the model's own scaler and its inverse run inside, as in ``predict``), so
attributions are in the units of the data and the forecast equals ``nf.predict``'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._base import AdaptedModel, as_float_tensor, require, sliding_windows

__all__ = ["adapt"]


def adapt(
    nf: Any,
    df: Any,
    *,
    model: int | str = 0,
    static_df: Any = None,
    step_size: int = 1,
    last_window: bool = False,
) -> AdaptedModel:
    """Turn ``nf.models[model]`` and ``df`` (``unique_id``, ``ds``, target and exogenous
    columns, as given to ``nf.fit``) into an ``AdaptedModel``.

    Inputs (those the model has): ``insample_y`` ``(B, L, 1)`` (multivariate models:
    ``(B, L, n_series)``), ``hist_exog`` ``(B, L, X)``, ``futr_exog`` ``(B, L + h, F)``,
    ``stat_exog`` ``(B, S)``. The forecast is ``(B, h, C_out)``: one column per loss
    output (quantiles of ``MQLoss``), times the series of a multivariate model.
    ``last_window=True`` keeps only each series' last window. The model is put in
    eval mode, as ``predict`` runs it.
    """
    require("neuralforecast", "neuralforecast")
    pd = require("pandas", "neuralforecast")
    m = _pick_model(nf, model)
    _check_supported(nf, m)
    if not isinstance(step_size, int) or isinstance(step_size, bool) or step_size < 1:
        raise ValueError(f"`step_size` must be a positive int, got {step_size!r}.")
    id_col, time_col, target_col = nf.id_col, nf.time_col, nf.target_col
    missing = {id_col, time_col, target_col, *m.hist_exog_list, *m.futr_exog_list} - set(df.columns)
    if missing:
        raise ValueError(f"`df` lacks the columns {sorted(missing)} that the model uses.")
    if m.stat_exog_list and static_df is None:
        raise ValueError(f"the model uses static columns {m.stat_exog_list}; pass `static_df`.")
    frame = df.sort_values([id_col, time_col])
    length = m.input_size + m.h
    columns = [target_col, *m.hist_exog_list, *m.futr_exog_list]
    if m.MULTIVARIATE:
        parts = _multivariate_windows(pd, frame, id_col, time_col, target_col, length, step_size)
    else:
        parts = _univariate_windows(frame, id_col, time_col, columns, length, step_size)
    values, stamps, series = parts
    if last_window:
        keep = np.flatnonzero(np.r_[series[1:] != series[:-1], True])
        values, stamps, series = values[keep], stamps[keep], series[keep]
    if values.shape[0] == 0:
        raise ValueError(
            f"no series has {length} rows (input_size {m.input_size} + h {m.h}); nothing to explain."
        )
    m.eval()  # as `predict` runs it; attributors set the mode they need during a call
    dtype = next(m.parameters()).dtype
    data = as_float_tensor(values, dtype)
    L, H = m.input_size, m.h
    if m.MULTIVARIATE:
        inputs = [data[:, :L]]
        names = [("insample_y", tuple(str(s) for s in frame[id_col].unique()))]
        time_stamps: list[np.ndarray | None] = [stamps[:, :L]]
        y_true = data[:, L:]
    else:
        x, nh = len(m.hist_exog_list), len(m.futr_exog_list)
        inputs, names, time_stamps = [data[:, :L, :1]], [("insample_y", (target_col,))], [stamps[:, :L]]
        if x:
            inputs.append(data[:, :L, 1 : 1 + x])
            names.append(("hist_exog", tuple(m.hist_exog_list)))
            time_stamps.append(stamps[:, :L])
        if nh:
            inputs.append(data[:, :, 1 + x :])
            names.append(("futr_exog", tuple(m.futr_exog_list)))
            time_stamps.append(stamps)
        if m.stat_exog_list:
            inputs.append(_static(static_df, id_col, m.stat_exog_list, series, dtype))
            names.append(("stat_exog", tuple(m.stat_exog_list)))
            time_stamps.append(None)
        y_true = data[:, L:, :1]
    out_names, quantiles = _outputs(m, names[0][1] if m.MULTIVARIATE else (target_col,))
    return AdaptedModel(
        forward_func=_forward(m, pd.Index([*columns, "available_mask"]), pd.Index(m.stat_exog_list), names),
        inputs=tuple(t.contiguous() for t in inputs),
        input_names=tuple(n for n, _ in names),
        feature_names=tuple(f for _, f in names),
        time_stamps=tuple(time_stamps),
        series_ids=series,
        output_names=out_names,
        output_quantiles=quantiles,
        y_true=y_true.contiguous(),
        forecast_time_stamps=stamps[:, L:],
        horizon=H,
        module=m,
    )


def _pick_model(nf: Any, model: int | str) -> Any:
    if not getattr(nf, "_fitted", True) or not getattr(nf, "models", None):
        raise ValueError("`nf` must be a fitted NeuralForecast.")
    if isinstance(model, str):
        aliases = [str(m) for m in nf.models]
        if model not in aliases:
            raise ValueError(f"`model`={model!r} is not one of {aliases}.")
        return nf.models[aliases.index(model)]
    if not -len(nf.models) <= model < len(nf.models):
        raise ValueError(f"`model`={model} is out of range for {len(nf.models)} models.")
    return nf.models[model]


def _check_supported(nf: Any, m: Any) -> None:
    if getattr(nf, "scalers_", None):
        raise ValueError(
            "the NeuralForecast was fitted with `local_scaler_type`; its scaling happens outside the "
            "model, so attributions would be in scaled units. Use the model's `scaler_type` instead."
        )
    if m.loss.is_distribution_output:
        raise ValueError(
            f"{type(m).__name__} has a distribution loss ({type(m.loss).__name__}): its forecast is "
            "sampled, so no gradient or attribution is defined. Use a point or quantile loss (MAE, MQLoss)."
        )
    cats = [*m.hist_cat_exog_list, *m.futr_cat_exog_list, *m.stat_cat_exog_list]
    if cats:
        raise ValueError(
            f"categorical exogenous columns {cats} are embedded; attribute continuous ones only."
        )
    if m.MULTIVARIATE and (m.hist_exog_list or m.futr_exog_list or m.stat_exog_list):
        raise ValueError("multivariate models with exogenous columns are not supported yet.")
    if m.RECURRENT and getattr(m, "inference_input_size", m.input_size) != m.input_size:
        raise ValueError("a recurrent model must have `inference_input_size` equal to `input_size`.")


def _univariate_windows(
    frame: Any, id_col: str, time_col: str, columns: list[str], length: int, step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values, stamps, series = [], [], []
    for uid, group in frame.groupby(id_col, sort=False):  # one iteration per series
        w = sliding_windows(group[columns].to_numpy(np.float64), length, step)
        values.append(w)
        stamps.append(sliding_windows(group[time_col].to_numpy(), length, step))
        series.append(np.full(w.shape[0], uid, dtype=object))
    return np.concatenate(values), np.concatenate(stamps), np.concatenate(series)


def _multivariate_windows(
    pd: Any, frame: Any, id_col: str, time_col: str, target_col: str, length: int, step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    wide = frame.pivot(index=time_col, columns=id_col, values=target_col).dropna()
    values = sliding_windows(wide.to_numpy(np.float64), length, step)
    stamps = sliding_windows(wide.index.to_numpy(), length, step)
    return values, stamps, np.full(values.shape[0], "all", dtype=object)


def _static(
    static_df: Any, id_col: str, columns: list[str], series: np.ndarray, dtype: torch.dtype
) -> Tensor:
    table = static_df.set_index(id_col)[columns]
    missing = set(series) - set(table.index)
    if missing:
        raise ValueError(f"`static_df` has no row for the series {sorted(missing, key=str)[:5]}.")
    return as_float_tensor(table.loc[series].to_numpy(np.float64), dtype)


def _outputs(m: Any, labels: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[float | None, ...]]:
    quantiles = getattr(m.loss, "quantiles", None)
    per = m.loss.outputsize_multiplier
    qs: list[float | None] = [None] * per
    if quantiles is not None and per > 1:
        qs = [round(float(q), 6) for q in quantiles.tolist()]
    return tuple(label for label in labels for _ in qs), tuple(q for _ in labels for q in qs)


def _forward(m: Any, columns: Any, static_columns: Any, names: list[tuple[str, tuple[str, ...]]]):
    """The model's predict step as a function of the raw input tensors."""
    kinds = [n for n, _ in names]
    H = m.h

    def forward(*xs: Tensor) -> Tensor:
        given = dict(zip(kinds, xs))
        y = given["insample_y"]
        pad = y.new_zeros(y.shape[0], H, *y.shape[2:])
        mask = torch.cat([torch.ones_like(y[:, :, :1]), pad[:, :, :1]], 1)
        temporal = [torch.cat([y, pad], 1)]
        if "hist_exog" in given:
            hist = given["hist_exog"]
            temporal.append(torch.cat([hist, hist.new_zeros(hist.shape[0], H, hist.shape[2])], 1))
        if "futr_exog" in given:
            temporal.append(given["futr_exog"])
        if m.MULTIVARIATE:  # [B, L + h, C, n_series]
            window = torch.stack([temporal[0], mask.expand_as(temporal[0])], 2)
        else:  # [B, L + h, C, 1]
            window = torch.cat([*temporal, mask], 2).unsqueeze(-1)
        windows = {
            "temporal": window,
            "temporal_cols": columns,
            "static": given.get("stat_exog"),
            "static_cols": static_columns,
        }
        windows = m._normalization(windows=windows, y_idx=0)
        insample_y, insample_mask, _, _, hist_exog, futr_exog, stat_exog = m._parse_windows(
            {"y_idx": 0}, windows
        )
        step = m._predict_step_recurrent_batch if m.RECURRENT else m._predict_step_direct_batch
        y_hat = step(
            insample_y=insample_y,
            insample_mask=insample_mask,
            futr_exog=futr_exog,
            hist_exog=hist_exog,
            stat_exog=stat_exog,
            y_idx=0,
        )
        return y_hat.reshape(y_hat.shape[0], H, -1)

    return forward
