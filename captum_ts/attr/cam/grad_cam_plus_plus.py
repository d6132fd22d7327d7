"""Grad-CAM++ on a layer of a time-series model, in closed form."""

from __future__ import annotations

from torch import Tensor

from ._weights import grad_cam_pp_weights
from .grad_cam import LayerGradCam


class LayerGradCamPlusPlus(LayerGradCam):
    r"""Grad-CAM++ (Chattopadhyay et al., WACV 2018, arXiv:1710.11063) over time.

    With ``Y = exp(S)`` the higher derivatives are powers of ``g = dS/dA`` and the
    ``exp(S)`` factors cancel:

    .. math::
        a_k(t) = \frac{g_k(t)^2}{2 g_k(t)^2 + \sum_{t'} A_k(t')\, g_k(t)^3}, \qquad
        w_k = \sum_t a_k(t)\, \mathrm{ReLU}(g_k(t)), \qquad M(t) = \sum_k w_k A_k(t)

    (``a = 0`` where the denominator is 0; ``ReLU(M)`` with ``relu_attributions=True``).
    It is computed as ``a = 1 / (2 + g sum_t' A)``, so large logits cannot overflow.
    Constructor and ``attribute`` are those of :class:`LayerGradCam`.

    Examples::

        >>> import torch
        >>> from captum_ts import LayerGradCamPlusPlus
        >>> from captum_ts.models.forecasters import GRUForecaster
        >>> model = GRUForecaster(n_variates=3, horizon=6, hidden_size=8)   # (B, H, C) out
        >>> x = torch.randn(4, 20, 3)                  # (B, T, F)
        >>> cam = LayerGradCamPlusPlus(model, model.rnn)   # batch-first GRU: (B, T', K)
        >>> cam.attribute(x, target=(5, 0)).shape      # horizon step 5, variate 0
        torch.Size([4, 20, 1])
    """

    @staticmethod
    def _weights(acts: Tensor, grads: Tensor) -> Tensor:
        return grad_cam_pp_weights(acts, grads)
