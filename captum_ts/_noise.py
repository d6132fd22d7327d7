"""Gaussian noise that does not depend on how the draws are chunked.

``torch.randn`` fills blocks of 16 values with Box-Muller pairs, so drawing
``N`` samples at once differs from drawing them in two chunks. Uniform draws are
consumed element by element, so we draw uniforms draw-major and apply Box-Muller
inside each draw: the ``k``-th noise draw is the same whatever the chunk size.
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
    half = (sum(sizes) + 1) // 2
    draw_device = generator.device if generator is not None else device
    u = torch.rand((n_draws, 2, half), generator=generator, device=draw_device, dtype=dtype)
    radius = torch.sqrt(-2.0 * torch.log1p(-u[:, 0]))  # 1 - u lies in (0, 1]
    angle = (2.0 * math.pi) * u[:, 1]
    z = torch.cat((radius * torch.cos(angle), radius * torch.sin(angle)), dim=1).to(device)
    parts = torch.split(z[:, : sum(sizes)], sizes, dim=1)
    return [p.reshape(n_draws, *s) for p, s in zip(parts, shapes)]
