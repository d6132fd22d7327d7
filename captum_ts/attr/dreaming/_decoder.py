"""Checks and start codes for dreaming in a decoder's code space."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .regularizers import Projection

NO_ENCODE = (
    "projections act on the decoded series and are mapped back to codes by `decoder.encode`, "
    "which this decoder ({name}) does not have: give it an `encode(series) -> codes` method, or "
    "pass loss terms only, e.g. `regularizers=(L2(1e-3), TotalVariation(1e-2))`."
)


def check_decoder(decoder: object, is_tuple: bool, projections: list[Projection]) -> None:
    """Refuse what cannot be dreamed through ``decoder``."""
    if not callable(decoder):
        raise TypeError(
            f"`decoder` must be a callable or nn.Module mapping codes (B, k) to series (B, T, F), "
            f"got {type(decoder).__name__}."
        )
    if is_tuple:
        raise ValueError(
            "`decoder` decodes one tensor: pass `inputs` as one tensor (codes or series), not a tuple."
        )
    if projections and not callable(getattr(decoder, "encode", None)):
        raise ValueError(NO_ENCODE.format(name=type(decoder).__name__))


def start_codes(decoder: Callable, start: Tensor) -> tuple[tuple[Tensor], tuple[Tensor], list[torch.dtype]]:
    """The start codes ``(B, k)`` (``start`` itself, or ``decoder.encode`` of start
    series ``(B, T, F)``), their decoded series and the series dtype."""
    name = type(decoder).__name__
    with torch.no_grad():
        if start.dim() == 2:
            codes = start
        elif start.dim() >= 3:
            encode = getattr(decoder, "encode", None)
            if not callable(encode):
                raise ValueError(
                    f"`inputs` of shape {tuple(start.shape)} are series, and this decoder ({name}) has no "
                    "`encode` to turn them into codes: pass start codes of shape (B, k) instead."
                )
            codes = _tensor(encode(start), "decoder.encode", start.shape[0], 2)
        else:
            raise ValueError(
                "with a `decoder`, `inputs` are codes (B, k) or series (B, T, F); "
                f"got shape {tuple(start.shape)}."
            )
        if not codes.is_floating_point():
            raise TypeError(f"the start codes must be floating point, got {codes.dtype}.")
        series = _tensor(decoder(codes), "the decoder", start.shape[0], 3)
    if start.dim() >= 3 and series.shape != start.shape:
        raise ValueError(
            f"the decoder returns series of shape {tuple(series.shape)} for `inputs` of shape "
            f"{tuple(start.shape)}; the start series must have the decoder's output shape."
        )
    if not bool(torch.isfinite(series).all()):
        raise ValueError(
            "the decoder returns NaN or Inf values for the start codes; check the decoder and the starts."
        )
    dtype = start.dtype if start.dim() >= 3 else series.dtype
    return (codes.detach(),), (series,), [dtype]


def _tensor(value: object, what: str, batch: int, min_rank: int) -> Tensor:
    """``value`` if it is a floating tensor of rank >= ``min_rank`` with ``batch`` rows."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{what} must return a tensor, got {type(value).__name__}.")
    shape = "codes (B, k)" if min_rank == 2 else "series (B, T, F)"
    if value.dim() < min_rank or (min_rank == 2 and value.dim() != 2) or value.shape[0] != batch:
        raise ValueError(f"{what} must return {shape} with B = {batch}, got shape {tuple(value.shape)}.")
    return value
