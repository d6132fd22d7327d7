"""Hypothesis strategies for time-series attribution problems.

Imports hypothesis: install the ``testing`` extra (``pip install "captum-ts[testing]"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .models import MODEL_KINDS, TwoInputModel, make_model
from .properties import Case

LAYOUTS = ("btf", "bft", "bt")
_NP_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def _int_range(value: int | tuple[int, int]) -> st.SearchStrategy[int]:
    lo, hi = (value, value) if isinstance(value, int) else value
    return st.integers(lo, hi)


@st.composite
def series(
    draw: st.DrawFn,
    batch: int | tuple[int, int] = (1, 4),
    length: int | tuple[int, int] = (2, 16),
    features: int | tuple[int, int] = (1, 3),
    layouts: Sequence[str] = ("btf",),
    dtypes: Sequence[torch.dtype] = (torch.float32,),
    min_value: float = -3.0,
    max_value: float = 3.0,
    allow_nan: bool = False,
) -> torch.Tensor:
    """A batch of series shaped ``(B, T, F)``, ``(B, F, T)`` or ``(B, T)`` (layout ``"btf"``,
    ``"bft"``, ``"bt"``), values in ``[min_value, max_value]``, NaN-free unless ``allow_nan``."""
    b, t, f = draw(_int_range(batch)), draw(_int_range(length)), draw(_int_range(features))
    layout, dtype = draw(st.sampled_from(list(layouts))), draw(st.sampled_from(list(dtypes)))
    shape = {"btf": (b, t, f), "bft": (b, f, t), "bt": (b, t)}[layout]
    elements = st.floats(
        min_value,
        max_value,
        allow_nan=allow_nan,
        allow_infinity=False,
        width=32 if dtype == torch.float32 else 64,
    )
    arr = draw(hnp.arrays(_NP_DTYPES[dtype], shape, elements=elements))
    return torch.from_numpy(arr)


def classifiers(
    length: int,
    n_features: int,
    n_classes: int = 2,
    kinds: Sequence[str] = MODEL_KINDS,
    channels_last: bool = True,
) -> st.SearchStrategy[torch.nn.Module]:
    """Small seeded classifiers ``(B, T, F) -> (B, n_classes)``; ``(B, F, T)`` inputs with
    ``channels_last=False``."""
    return st.builds(
        lambda kind, seed: make_model(
            kind, length, n_features, n_classes, channels_last=channels_last, seed=seed
        ),
        st.sampled_from(list(kinds)),
        st.integers(0, 2**16),
    )


def forecasters(
    length: int, n_features: int, horizon: int, n_variates: int = 1, kinds: Sequence[str] = MODEL_KINDS
) -> st.SearchStrategy[torch.nn.Module]:
    """Small seeded forecasters ``(B, T, F) -> (B, horizon, n_variates)``."""
    return st.builds(
        lambda kind, seed: make_model(kind, length, n_features, n_variates, horizon=horizon, seed=seed),
        st.sampled_from(list(kinds)),
        st.integers(0, 2**16),
    )


def targets(output_shape: Sequence[int]) -> st.SearchStrategy[object]:
    """Captum targets that select one scalar per example of an output ``(B, C)`` or ``(B, H, C)``:
    ints, per-example lists and tensors, ``(h, c)`` tuples and lists of tuples."""
    batch, rest = output_shape[0], tuple(output_shape[1:])
    if len(rest) == 1:
        c = rest[0]
        return st.one_of(
            st.integers(0, c - 1),
            st.lists(st.integers(0, c - 1), min_size=batch, max_size=batch),
            st.lists(st.integers(0, c - 1), min_size=batch, max_size=batch).map(torch.tensor),
        )
    index = st.tuples(*(st.integers(0, n - 1) for n in rest))
    return st.one_of(index, st.lists(index, min_size=batch, max_size=batch))


@st.composite
def cases(
    draw: st.DrawFn,
    task: str = "classification",
    kinds: Sequence[str] = MODEL_KINDS,
    layouts: Sequence[str] = ("btf",),
    dtypes: Sequence[torch.dtype] = (torch.float32,),
    batch: int | tuple[int, int] = (1, 3),
    length: int | tuple[int, int] = (4, 12),
    features: int | tuple[int, int] = (1, 3),
    n_classes: int | tuple[int, int] = (2, 3),
    horizon: int | tuple[int, int] = (1, 4),
    tuple_inputs: bool = False,
) -> Case:
    """A complete attribution problem: a seeded model, inputs that fit it and a target.

    ``task`` is ``"classification"`` (``(B, C)`` outputs) or ``"forecasting"``
    (``(B, H, C)``); ``tuple_inputs=True`` draws a two-input model with a per-example
    ``additional_forward_args`` tensor.
    """
    layout = draw(st.sampled_from(["btf"] if tuple_inputs else list(layouts)))
    b, t, f = draw(_int_range(batch)), draw(_int_range(length)), draw(_int_range(features))
    dtype = draw(st.sampled_from(list(dtypes)))
    c, seed = draw(_int_range(n_classes)), draw(st.integers(0, 2**16))
    # seeded values (not element by element) keep shrinking fast: it acts on shapes, seeds and targets
    gen = torch.Generator().manual_seed(seed)
    shape = {"btf": (b, t, f), "bft": (b, f, t), "bt": (b, t)}[layout]
    x = torch.randn(shape, generator=gen, dtype=dtype)
    if tuple_inputs:
        static = torch.randn(b, 3, generator=gen, dtype=dtype)
        scale = 0.5 + 1.5 * torch.rand(b, generator=gen, dtype=dtype)
        model = TwoInputModel(t, f, 3, c, seed=seed).to(dtype).eval()
        target = draw(targets((b, c)))
        return Case(model, (x, static), {"target": target, "additional_forward_args": (scale,)})
    f = 1 if layout == "bt" else f
    kind = draw(st.sampled_from([k for k in kinds if layout != "bt" or k in ("linear", "mlp")] or ["mlp"]))
    h = draw(_int_range(horizon)) if task == "forecasting" else None
    model = make_model(kind, t, f, c, horizon=h, channels_last=layout != "bft", seed=seed, dtype=dtype)
    model.kit_name = f"{kind}-{'forecaster' if h else 'classifier'}"
    with torch.no_grad():
        out_shape = tuple(model(x).shape)
    return Case(model, x, {"target": draw(targets(out_shape))})
