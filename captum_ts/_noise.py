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
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype,
) -> Tensor:
    """Return ``(n_draws, *shape)`` standard normal values.

    With a ``generator`` the values are drawn on the generator's device and then
    moved to ``device``; consecutive calls continue one stream, so splitting
    ``n_draws`` over several calls gives the same values as one call.
    """
    numel = math.prod(shape)
    half = (numel + 1) // 2
    draw_device = generator.device if generator is not None else device
    u = torch.rand((n_draws, 2, half), generator=generator, device=draw_device, dtype=dtype)
    radius = torch.sqrt(-2.0 * torch.log1p(-u[:, 0]))  # 1 - u lies in (0, 1]
    angle = (2.0 * math.pi) * u[:, 1]
    z = torch.cat((radius * torch.cos(angle), radius * torch.sin(angle)), dim=1)[:, :numel]
    return z.reshape(n_draws, *shape).to(device)
