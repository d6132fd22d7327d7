"""What every adapter returns: ``AdaptedModel``, and the helpers the adapters share."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset


def require(module: str, extra: str) -> ModuleType:
    """Import an optional library, or raise an ImportError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"this adapter needs `{module}`; install it with `pip install captum-ts[{extra}]`."
        ) from error


@dataclasses.dataclass(frozen=True)
class AdaptedModel:
    """A fitted model of a forecasting or classification library, in Captum's terms.

    ``forward_func(*inputs, *additional_forward_args)`` returns the forecast
    ``(B, H, C_out)`` (classifiers: ``(B, classes)``), so any Captum or captum-ts
    method runs on it; ``inputs`` are the attributable tensors (batch first),
    ``additional_forward_args`` the per-example tensors that are passed through
    (masks, categorical codes; constants live inside ``forward_func``).

    Names map results back: ``input_names`` (one per input), ``feature_names`` (the
    last axis of each input), ``time_stamps`` (``(B, T_i)`` arrays, None for inputs
    without a time axis), ``series_ids`` (``(B,)``), ``output_names`` and
    ``output_quantiles`` (one per forecast column ``C_out``), ``horizon`` (``H``, 0 for
    a classifier) and ``forecast_time_stamps`` (``(B, H)``). ``y_true`` is the ground truth of the
    forecast window ``(B, H, V)`` where the data has it (HAM's ``y_true``).
    """

    forward_func: Callable[..., Tensor]
    inputs: tuple[Tensor, ...]
    input_names: tuple[str, ...]
    feature_names: tuple[tuple[str, ...], ...]
    time_stamps: tuple[np.ndarray | None, ...]
    series_ids: np.ndarray
    output_names: tuple[str, ...]
    output_quantiles: tuple[float | None, ...] = ()
    additional_forward_args: tuple[Tensor, ...] = ()
    y_true: Tensor | None = None
    forecast_time_stamps: np.ndarray | None = None
    horizon: int = 0
    module: nn.Module | None = None
    kind: str = "forecaster"

    def __post_init__(self) -> None:
        n = self.inputs[0].shape[0]
        lengths = {len(self.input_names), len(self.feature_names), len(self.time_stamps), len(self.inputs)}
        if len(lengths) != 1:
            raise ValueError(
                "inputs, input_names, feature_names and time_stamps must have one entry per input."
            )
        for name, x in zip(self.input_names, (*self.inputs, *self.additional_forward_args)):
            if x.shape[0] != n:
                raise ValueError(f"input {name!r} has {x.shape[0]} rows, the first input {n}.")

    def output_index(self, output: int | str = 0, quantile: float | None = None) -> int:
        """The forecast column of ``output`` (an index into the distinct output names, or a
        name) and ``quantile`` (required when the output has several quantiles)."""
        labels = list(dict.fromkeys(self.output_names))
        if isinstance(output, str):
            if output not in labels:
                raise ValueError(f"`output`={output!r} is not one of {labels}.")
            label = output
        elif isinstance(output, (int, np.integer)) and not isinstance(output, bool):
            if not -len(labels) <= output < len(labels):
                raise ValueError(f"`output`={output} is out of range for {len(labels)} outputs {labels}.")
            label = labels[output]
        else:
            raise TypeError(f"`output` must be an int or a name, got {type(output).__name__}.")
        columns = [i for i, name in enumerate(self.output_names) if name == label]
        quantiles = [self.output_quantiles[i] if self.output_quantiles else None for i in columns]
        if quantile is None:
            if len(columns) > 1:
                raise ValueError(
                    f"output {label!r} has quantiles {quantiles}; pass `quantile=` to choose one."
                )
            return columns[0]
        for column, q in zip(columns, quantiles):
            if q is not None and abs(q - quantile) < 1e-6:
                return column
        raise ValueError(f"`quantile`={quantile} is not one of output {label!r}'s quantiles {quantiles}.")

    def target(self, step: int = 0, output: int | str = 0, quantile: float | None = None) -> Any:
        """A Captum target selecting one forecast value per example: ``(step, column)``;
        for a classifier, ``step`` is the class index."""
        if self.kind == "classifier":
            return int(step)
        horizon = self.horizon
        if (
            not isinstance(step, (int, np.integer))
            or isinstance(step, bool)
            or not -horizon <= step < horizon
        ):
            raise ValueError(f"`step` must be an int in [0, {horizon}), got {step!r}.")
        return (int(step) % horizon, self.output_index(output, quantile))

    def dataset(self) -> TensorDataset:
        """The inputs and the per-example additional arguments, as one dataset (row order kept)."""
        return TensorDataset(*self.inputs, *self.additional_forward_args)

    def to_frame(self, attributions: Tensor | Sequence[Tensor], step: int | None = None, output: Any = None):
        """A tidy ``pandas.DataFrame`` of per-example attributions shaped like ``inputs``:
        columns ``series``, ``example``, ``input``, ``time``, ``lag``, ``feature``, ``step``,
        ``output``, ``value`` (``time``/``lag`` are missing for inputs without a time axis)."""
        pd = require("pandas", "pandas")
        attributions = (attributions,) if isinstance(attributions, Tensor) else tuple(attributions)
        if len(attributions) != len(self.inputs):
            raise ValueError(
                f"`attributions` has {len(attributions)} tensors; the model has {len(self.inputs)} inputs "
                f"{list(self.input_names)}."
            )
        frames = []
        for k, (a, x) in enumerate(zip(attributions, self.inputs)):
            if tuple(a.shape) != tuple(x.shape):
                raise ValueError(
                    f"attribution {k} has shape {tuple(a.shape)}; input {self.input_names[k]!r} has "
                    f"{tuple(x.shape)}."
                )
            values = a.detach().cpu().double().numpy()
            n, t, f = values.shape[0], (values.shape[1] if values.ndim == 3 else 1), values.shape[-1]
            stamps = self.time_stamps[k]
            frames.append(
                pd.DataFrame(
                    {
                        "series": np.repeat(self.series_ids, t * f),
                        "example": np.repeat(np.arange(n), t * f),
                        "input": self.input_names[k],
                        "time": np.repeat(stamps.reshape(-1), f) if stamps is not None else None,
                        "lag": np.tile(np.repeat(np.arange(t) - t, f), n) if values.ndim == 3 else None,
                        "feature": np.tile(np.asarray(self.feature_names[k], dtype=object), n * t),
                        "step": step,
                        "output": output,
                        "value": values.reshape(-1),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)


def sliding_windows(values: np.ndarray, length: int, step: int) -> np.ndarray:
    """Windows ``(W, length, ...)`` of ``values`` ``(n, ...)`` every ``step`` rows, ending at the last row."""
    n = values.shape[0]
    if n < length:
        return np.empty((0, length, *values.shape[1:]), dtype=values.dtype)
    view = np.lib.stride_tricks.sliding_window_view(values, length, axis=0)
    view = np.moveaxis(view, -1, 1)
    starts = np.arange(n - length, -1, -step)[::-1]
    return view[starts]


def as_float_tensor(values: np.ndarray, dtype: torch.dtype) -> Tensor:
    """A contiguous tensor of ``dtype`` from numeric array values (raises on NaN/Inf)."""
    tensor = torch.as_tensor(np.ascontiguousarray(values, dtype=np.float64)).to(dtype)
    if not torch.isfinite(tensor).all():
        raise ValueError("the data holds NaN or Inf values; fill or drop them before adapting.")
    return tensor
