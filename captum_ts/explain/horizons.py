"""Horizon-aware attribution over a whole dataset: every (horizon step, output) of a
forecaster attributed to the input window, aggregated over the examples."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from .loader import explain_loader


@dataclasses.dataclass(frozen=True)
class HorizonAttribution:
    """Per-input cubes ``(S, O, T, F)`` (S requested steps, O outputs; static inputs
    ``(S, O, F)``): ``mean`` and ``abs_mean`` over all examples, ``per_series`` the
    mean for each series (a dict keyed by series id)."""

    mean: tuple[Tensor, ...]
    abs_mean: tuple[Tensor, ...]
    per_series: dict[Any, tuple[Tensor, ...]]
    steps: tuple[int, ...]
    outputs: tuple[int, ...]
    input_names: tuple[str, ...]
    feature_names: tuple[tuple[str, ...], ...]
    output_names: tuple[str, ...]

    def to_frame(self, statistic: str = "mean"):
        """A tidy ``pandas.DataFrame``: ``input``, ``step``, ``output``, ``lag`` (``-T .. -1``,
        missing for static inputs), ``feature``, ``value`` of ``statistic`` (``"mean"`` or
        ``"abs_mean"``)."""
        import pandas as pd

        if statistic not in ("mean", "abs_mean"):
            raise ValueError(f"`statistic` must be 'mean' or 'abs_mean', got {statistic!r}.")
        frames = []
        for k, cube in enumerate(getattr(self, statistic)):
            values = cube.double().numpy()
            s, o = values.shape[:2]
            t = values.shape[2] if values.ndim == 4 else 1
            f = values.shape[-1]
            grid = np.indices((s, o, t, f)).reshape(4, -1)
            frames.append(
                pd.DataFrame(
                    {
                        "input": self.input_names[k],
                        "step": np.asarray(self.steps)[grid[0]],
                        "output": np.asarray(self.output_names, dtype=object)[
                            np.asarray(self.outputs)[grid[1]]
                        ],
                        "lag": grid[2] - t if values.ndim == 4 else None,
                        "feature": np.asarray(self.feature_names[k], dtype=object)[grid[3]],
                        "value": values.reshape(-1),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)


def explain_horizons(
    method: Any,
    adapted: Any,
    /,
    steps: Sequence[int] | None = None,
    outputs: Sequence[int] | None = None,
    *,
    batch_size: int = 32,
    vectorize: bool = True,
    out: str | Path | None = None,
    resume: bool = False,
    seed: int | None = None,
    show_progress: bool = False,
    **attribute_kwargs: Any,
) -> HorizonAttribution:
    """Attribute every requested forecast step and output of ``adapted`` (an
    ``AdaptedModel``) with ``method`` (any Captum or captum-ts attribution built on
    ``adapted.forward_func``) over all its examples.

    With ``vectorize=True`` each batch of ``B`` examples is repeated once per
    (step, output) pair and attributed in ONE call with a per-row target, so a
    gradient method runs one batched backward for all steps; ``vectorize=False``
    calls ``method.attribute`` once per pair (for methods that take only one target
    per call). Other keyword arguments go to ``method.attribute`` (``n_steps``,
    ``nt_samples``, even one named ``method``). Batches stream through ``explain_loader``: ``out`` writes the
    per-example cubes to ``.npy`` files (memory bounded) and ``resume=True``
    continues an interrupted run; ``seed`` seeds stochastic methods per batch.

    Returns a ``HorizonAttribution``: per input, the mean and the mean of ``|a|``
    over examples ``(S, O, T, F)`` and the mean per series.
    """
    if adapted.horizon <= 0:
        raise ValueError("`adapted` is not a forecaster (horizon 0); attribute its classes directly.")
    steps_t = _indices(steps, adapted.horizon, "steps")
    outputs_t = _indices(outputs, len(adapted.output_names), "outputs")
    attributor = _HorizonAttributor(
        method, len(adapted.inputs), steps_t, outputs_t, vectorize, attribute_kwargs
    )
    loader = DataLoader(adapted.dataset(), batch_size=batch_size, shuffle=False)
    cubes = explain_loader(
        attributor,
        loader,
        out=out,
        resume=resume,
        target_in_batch=False,
        seed=seed,
        show_progress=show_progress,
    )
    cubes = cubes if isinstance(cubes, tuple) else (cubes,)
    codes, uniques = _series_codes(adapted.series_ids)
    return HorizonAttribution(
        mean=tuple(c.double().mean(0).to(c.dtype) for c in cubes),
        abs_mean=tuple(c.double().abs().mean(0).to(c.dtype) for c in cubes),
        per_series={
            key: tuple(_group_mean(c, codes, len(uniques))[i] for c in cubes) for i, key in enumerate(uniques)
        },
        steps=tuple(steps_t.tolist()),
        outputs=tuple(outputs_t.tolist()),
        input_names=adapted.input_names,
        feature_names=adapted.feature_names,
        output_names=adapted.output_names,
    )


class _HorizonAttributor:
    """What ``explain_loader`` calls: a batch of (inputs, per-example args) in, one cube
    ``(B, S, O, ...)`` per input out."""

    def __init__(self, method, n_inputs, steps, outputs, vectorize, kwargs) -> None:
        self.method, self.n_inputs, self.vectorize, self.kwargs = method, n_inputs, vectorize, kwargs
        self.forward_func = method.forward_func
        self.pairs = torch.cartesian_prod(steps, outputs).reshape(-1, 2)
        self.shape = (len(steps), len(outputs))

    def attribute(self, batch: tuple[Tensor, ...], **kwargs: Any) -> tuple[Tensor, ...]:
        kwargs = {**self.kwargs, **kwargs}
        batch = (batch,) if isinstance(batch, Tensor) else tuple(batch)
        xs, args = tuple(batch[: self.n_inputs]), tuple(batch[self.n_inputs :])
        b, k = xs[0].shape[0], self.pairs.shape[0]
        if self.vectorize:
            rows = tuple(x.repeat_interleave(k, 0) for x in xs)
            extra = tuple(a.repeat_interleave(k, 0) for a in args)
            target = [tuple(p) for p in self.pairs.repeat(b, 1).tolist()]
            result = self._call(rows, target, extra, kwargs)
            return tuple(r.reshape(b, *self.shape, *r.shape[1:]) for r in result)
        per_pair = [self._call(xs, tuple(p), args, kwargs) for p in self.pairs.tolist()]
        return tuple(
            torch.stack([r[i] for r in per_pair], 1).reshape(b, *self.shape, *xs[i].shape[1:])
            for i in range(self.n_inputs)
        )

    def _call(self, xs, target, args, kwargs) -> tuple[Tensor, ...]:
        result = self.method.attribute(
            xs, target=target, additional_forward_args=args if args else None, **kwargs
        )
        result = result[0] if isinstance(result, tuple) and isinstance(result[0], tuple) else result
        result = result if isinstance(result, tuple) else (result,)
        if len(result) != len(xs) or any(r.shape != x.shape for r, x in zip(result, xs)):
            raise ValueError(
                f"{type(self.method).__name__}.attribute must return one input-shaped tensor per input; "
                "use an input attribution method (not a layer or parameter method)."
            )
        return tuple(r.detach() for r in result)


def _indices(values: Sequence[int] | None, size: int, name: str) -> Tensor:
    index = torch.arange(size) if values is None else torch.as_tensor(list(values), dtype=torch.long)
    if index.numel() == 0 or index.dim() != 1:
        raise ValueError(f"`{name}` must be a non-empty sequence of ints.")
    if int(index.min()) < 0 or int(index.max()) >= size:
        raise ValueError(f"`{name}` must lie in [0, {size}), got {index.tolist()}.")
    return index


def _series_codes(series_ids: np.ndarray) -> tuple[Tensor, list[Any]]:
    uniques, codes = np.unique(np.asarray(series_ids, dtype=str), return_inverse=True)
    first = {str(s): s for s in series_ids[::-1]}
    return torch.as_tensor(codes.reshape(-1)), [first[u] for u in uniques]


def _group_mean(values: Tensor, codes: Tensor, n_groups: int) -> Tensor:
    flat = values.double().reshape(values.shape[0], -1)
    sums = torch.zeros(n_groups, flat.shape[1], dtype=torch.float64).index_add_(0, codes, flat)
    counts = torch.bincount(codes, minlength=n_groups).double()[:, None]
    return (sums / counts).reshape(n_groups, *values.shape[1:]).to(values.dtype)
