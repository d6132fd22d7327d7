"""Shares to counts, exactly: how many of ``total`` regions or cells a fraction stands for.

The rule every metric uses (deletion/insertion fractions, RCAP levels, blur radii):

1. a share given in floating point is read as the rational number it stands for: the
   simplest fraction (smallest denominator) within ``SHARE_ULPS`` units in the last place
   of the value, in the dtype it was given in (float64 for Python numbers). So ``0.3``
   in float32 (``0.30000001...``) is ``3/10`` and ``torch.linspace(0, 1, n + 1)`` gives
   exactly ``k/n``, for every ``n`` up to about 1000 in float32 (``1 / sqrt(8 eps)``) and
   far beyond in float64;
2. the count is then ``ceil(share * total)`` (or ``floor``) in exact rational arithmetic,
   for every ``total``.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import torch

#: half-width, in units in the last place, of the window a float share is read in
SHARE_ULPS = 4


def simplest_between(low: Fraction, high: Fraction) -> Fraction:
    """The rational with the smallest denominator in ``[low, high]`` (continued fractions).

    >>> simplest_between(Fraction(29, 100), Fraction(31, 100))
    Fraction(3, 10)
    """
    if low > high:
        low, high = high, low
    if low <= 0 <= high:
        return Fraction(0)
    if high < 0:
        return -simplest_between(-high, -low)
    whole = math.floor(low)
    if whole == low or whole + 1 <= high:
        return Fraction(math.ceil(low))
    return whole + 1 / simplest_between(1 / (high - whole), 1 / (low - whole))


@functools.lru_cache(maxsize=4096)
def as_rational(value: float | Fraction, dtype: torch.dtype = torch.float64) -> Fraction:
    """The rational number a share stands for (rule 1 of the module docstring); cached,
    as the same few shares come back on every call.

    >>> as_rational(float(torch.tensor(0.3, dtype=torch.float32)), torch.float32)
    Fraction(3, 10)
    >>> as_rational(1 / 3)
    Fraction(1, 3)
    """
    if isinstance(value, Fraction):
        return value
    exact = Fraction(value)
    if not dtype.is_floating_point or value == 0:
        return exact
    info = torch.finfo(dtype)
    step = max(Fraction(2) ** (math.frexp(abs(value))[1] - 1), Fraction(info.smallest_normal))
    half_width = SHARE_ULPS * step * Fraction(info.eps)
    return simplest_between(exact - half_width, exact + half_width)


def count_of(
    share: float | Fraction, total: int, rounding: str = "ceil", dtype: torch.dtype = torch.float64
) -> int:
    """``ceil(share * total)`` (``rounding="floor"``: ``floor``) with ``share`` read as
    :func:`as_rational` reads it in ``dtype``: exact for every ``total``.

    >>> count_of(float(torch.tensor(0.3, dtype=torch.float32)), 10, dtype=torch.float32)
    3
    >>> count_of(0.7, 1000, "floor")
    700
    """
    product = as_rational(share, dtype) * total
    return math.ceil(product) if rounding == "ceil" else math.floor(product)


def read_shares(values: object, name: str) -> list[Fraction]:
    """Read a sequence of shares (Python numbers, numpy scalars, or a 1-D tensor or
    array) as exact rationals, each in the dtype it was given in."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"`{name}` must be a sequence of numbers, got {values!r}.")
    try:
        items = list(values)
    except TypeError as err:
        raise TypeError(f"`{name}` must be a sequence of numbers, got {values!r}.") from err
    out = []
    for v in items:
        try:
            if hasattr(v, "dtype"):  # a 0-d tensor or a numpy scalar keeps its precision
                t = torch.as_tensor(v)
                number, dtype = t.item(), t.dtype
            else:
                number, dtype = v, torch.float64
            if isinstance(number, bool) or not isinstance(number, (int, float, Fraction)):
                raise TypeError
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"`{name}` must be a sequence of numbers, got {values!r}.") from err
        if not math.isfinite(number):
            raise ValueError(f"`{name}` must hold finite numbers, got {number}.")
        out.append(as_rational(number, dtype))
    return out
