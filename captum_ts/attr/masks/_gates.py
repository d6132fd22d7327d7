"""Stochastic gates (Yamada et al., ICML 2020) and the temporal variation of a mask.

A gated mask keeps a mean ``mu`` per cell. While fitting, the mask is the noisy gate
``clamp(mu + sigma * eps, 0, 1)`` with ``eps ~ N(0, 1)``; at evaluation it is the
deterministic ``clamp(mu, 0, 1)``. Its size is the expected number of open gates, a smooth
proxy of the L0 norm:

.. math:: \\mathbb{E}\\,\\mathbf{1}[\\mu + \\sigma\\varepsilon > 0] = \\Phi(\\mu / \\sigma)
          = \\tfrac12\\big(1 + \\operatorname{erf}(\\mu / (\\sigma\\sqrt2))\\big).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def noisy_gate(mu: Tensor, sigma: float, generator: torch.Generator | None) -> Tensor:
    """``clamp(mu + sigma * eps, 0, 1)``, one standard normal ``eps`` per cell.

    >>> noisy_gate(torch.full((2, 3), 0.5), 0.0, None).tolist()
    [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
    """
    if sigma == 0:
        return mu.clamp(0, 1)
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return (mu + sigma * eps).clamp(0, 1)


def open_probability(mu: Tensor, sigma: float) -> Tensor:
    """``P(mu + sigma * eps > 0) = (1 + erf(mu / (sigma sqrt 2))) / 2``, the expected L0 of a
    gate (a step at 0 when ``sigma = 0``).

    >>> open_probability(torch.tensor([0.0, 10.0]), 0.5).tolist()
    [0.5, 1.0]
    """
    if sigma == 0:
        return (mu > 0).to(mu.dtype)
    return 0.5 * (1 + torch.erf(mu / (sigma * math.sqrt(2))))


def temporal_variation(m: Tensor) -> Tensor:
    """``sum |m[:, t + 1] - m[:, t]|`` along the time axis (dim 1); 0 for one step.

    >>> float(temporal_variation(torch.tensor([[0.0, 1.0, 1.0, 0.5]])))
    1.5
    """
    if m.dim() < 2 or m.shape[1] < 2:
        return m.new_zeros(())
    return (m[:, 1:] - m[:, :-1]).abs().sum()
