"""Gaussian noise that does not depend on how the draws are chunked.

PyTorch's CPU ``normal_`` fills its output in blocks of 16 values (Box-Muller on
uniforms consumed in order) and redraws a ragged tail, so drawing ``N`` samples at
once differs from drawing them in two chunks when a draw's size is not a multiple
of 16. Padding every draw to a multiple of 16 values makes the block boundaries
coincide with draw boundaries: the ``k``-th draw is the same whatever the chunk
size (the test-suite checks this property on every run). Low-precision draws
(float16, bfloat16) are float32 draws rounded, so they follow the float32
stream up to rounding.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def normal_draws(
    n_draws: int,
    shapes: list[tuple[int, ...]],
    *,
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype,
) -> list[Tensor]:
    """Return one ``(n_draws, *shape)`` tensor of standard normal values per shape.

    A draw covers all shapes at once, so consecutive calls continue one stream:
    splitting ``n_draws`` over several calls gives the same values as one call.
    With a ``generator`` the values are drawn on the generator's device and moved
    to ``device``.

    >>> kw = dict(device=torch.device("cpu"), dtype=torch.float64)
    >>> (a,) = normal_draws(5, [(2, 3)], generator=torch.Generator().manual_seed(0), **kw)
    >>> g = torch.Generator().manual_seed(0)
    >>> b = [normal_draws(k, [(2, 3)], generator=g, **kw)[0] for k in (2, 3)]
    >>> torch.equal(a, torch.cat(b))
    True
    """
    sizes = [math.prod(s) for s in shapes]
    padded = -(-sum(sizes) // 16) * 16
    draw_device = generator.device if generator is not None else device
    draw_dtype = torch.promote_types(dtype, torch.float32)
    z = torch.randn((n_draws, padded), generator=generator, device=draw_device, dtype=draw_dtype)
    z = z.to(device, dtype)
    parts = torch.split(z[:, : sum(sizes)], sizes, dim=1)
    return [p.reshape(n_draws, *s) for p, s in zip(parts, shapes)]


class NoiseStream:
    """Consecutive chunks of standard normal draws; the ``k``-th draw never depends on the chunking.

    ``antithetic=True`` draws in pairs: draw ``2j`` is the ``j``-th draw ``z_j`` of
    :func:`normal_draws` and draw ``2j + 1`` is ``-z_j``. Every draw is still standard
    normal; a statistic that is close to linear in the noise (a mean gradient) loses
    most of its sampling error.

    >>> kw = dict(device=torch.device("cpu"), dtype=torch.float64)
    >>> s = NoiseStream([(2,)], antithetic=True, generator=torch.Generator().manual_seed(0), **kw)
    >>> a, b = s.take(3)[0], s.take(1)[0]
    >>> torch.equal(a[1], -a[0]) and torch.equal(b[0], -a[2])
    True
    """

    def __init__(
        self,
        shapes: list[tuple[int, ...]],
        *,
        antithetic: bool,
        generator: torch.Generator | None,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self._shapes = shapes
        self._antithetic = antithetic
        self._kw = dict(generator=generator, device=device, dtype=dtype)
        self._taken = 0
        self._last: list[Tensor] = []  # the latest base draw: the partner of an odd next draw

    def take(self, n: int) -> list[Tensor]:
        """The next ``n`` draws, one ``(n, *shape)`` tensor per shape."""
        if not self._antithetic:
            return normal_draws(n, self._shapes, **self._kw)
        start, stop = self._taken, self._taken + n
        new = normal_draws((stop + 1) // 2 - (start + 1) // 2, self._shapes, **self._kw)
        bases = [torch.cat([last, z]) for last, z in zip(self._last, new)] if start % 2 else new
        k = torch.arange(start, stop, device=bases[0].device)
        index = k // 2 - start // 2
        sign = (1 - 2 * (k % 2)).to(bases[0].dtype)
        self._taken, self._last = stop, [b[-1:] for b in bases]
        return [b[index] * sign.view(-1, *([1] * (b.dim() - 1))) for b in bases]
