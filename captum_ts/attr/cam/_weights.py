"""Channel weights of Grad-CAM and Grad-CAM++, and the map they make.

All tensors are ``(B, K, T')``: activations ``A_k(t)``, gradients
``g_k(t) = dS / dA_k(t)``; weights are ``(B, K, 1)``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def grad_cam_weights(acts: Tensor, grads: Tensor) -> Tensor:
    """Grad-CAM: ``alpha_k = mean_t g_k(t)``."""
    return grads.mean(-1, keepdim=True)


def grad_cam_pp_weights(acts: Tensor, grads: Tensor) -> Tensor:
    """Grad-CAM++ with ``Y = exp(S)``: ``w_k = sum_t a_k(t) ReLU(g_k(t))`` where
    ``a_k(t) = g^2 / (2 g^2 + (sum_t' A_k(t')) g^3)``, 0 where that denominator is 0.

    For ``g != 0`` the ratio equals ``1 / (2 + (sum_t' A_k(t')) g)``, which is what is
    computed: no power of ``g`` (and no ``exp(S)``) appears, so large logits cannot
    overflow; where ``g = 0`` the ``ReLU(g)`` factor is 0 anyway.
    """
    denom = 2 + acts.sum(-1, keepdim=True) * grads
    zero = denom == 0
    alpha = torch.where(zero, torch.zeros_like(denom), 1 / torch.where(zero, torch.ones_like(denom), denom))
    return (alpha * grads.clamp(min=0)).sum(-1, keepdim=True)


def weighted_map(acts: Tensor, weights: Tensor, relu: bool, summation: bool) -> Tensor:
    """``M_k(t) = w_k A_k(t)``, summed over ``k`` (kept as size 1) when ``summation``,
    then ``ReLU`` when ``relu``."""
    m = weights * acts
    if summation:
        m = m.sum(1, keepdim=True)
    return m.clamp(min=0) if relu else m
