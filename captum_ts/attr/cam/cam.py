"""Class activation mapping for global-average-pooling + linear classifiers."""

from __future__ import annotations

from collections.abc import Callable

import torch
from captum.attr import LayerAttribution
from captum.log import log_usage
from torch import Tensor, nn

from ..._compat import TargetType, _format_tensor_into_tuples
from ..._state import guarded_model
from ..._targets import Target, normalize_target
from ._head import head_candidates, record_linears, verify_head
from ._interpolate import check_mode, on_input_time, summed_time_dim
from ._layer_grads import check_batch, layer_activations
from ._layout import check_layout_args
from ._weights import weighted_map


class CAM(LayerAttribution):
    r"""Class activation mapping (Zhou et al., CVPR 2016, arXiv:1512.04150) over time.

    For a network ``S = b_c + \sum_k w_{c,k} \frac{1}{T'} \sum_t A_k(t)`` (global
    average pooling of ``layer``'s activation, then a linear head),

    .. math::
        M(t) = \sum_k w_{c,k} A_k(t), \qquad \frac{1}{T'} \sum_t M(t) + b_c = S

    No gradient is taken. The head is ``head`` or the last ``nn.Linear`` called in
    the forward pass, and the architecture is checked on every call: a network that
    is not GAP + linear (max pooling, a softmax after the head) raises a
    ``ValueError``. On such a network :class:`LayerGradCam` gives ``M / T'``.
    Layer, layout and ``attribute`` arguments are those of :class:`LayerGradCam`.

    Args:
        forward_func (Callable): the model or any function returning its logits.
        layer (torch.nn.Module): the layer whose activation is pooled.
        device_ids (list[int], optional): accepted for Captum compatibility.
        head (nn.Linear, optional): the classifier layer; found when omitted.
        time_dim (int, optional), layout (str, optional): the layer's time axis.

    Examples::

        >>> import torch
        >>> from captum_ts import CAM
        >>> net = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3, padding=1), torch.nn.ReLU(),
        ...                           torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(),
        ...                           torch.nn.Linear(4, 3))
        >>> x = torch.randn(5, 2, 16)
        >>> m = CAM(net, net[1], layout="channels_first").attribute(x, target=2)
        >>> torch.allclose(m.mean(-1).squeeze(1) + net[4].bias[2], net(x)[:, 2], atol=1e-5)
        True
    """

    def __init__(
        self,
        forward_func: Callable,
        layer: nn.Module,
        device_ids: list[int] | None = None,
        *,
        head: nn.Linear | None = None,
        time_dim: int | None = None,
        layout: str | None = None,
    ) -> None:
        LayerAttribution.__init__(self, forward_func, layer, device_ids)
        self.head = head
        self._axis = check_layout_args(layer, time_dim, layout)

    @log_usage()
    def attribute(
        self,
        inputs: Tensor | tuple[Tensor, ...],
        target: TargetType = None,
        additional_forward_args: object = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = False,
        attr_dim_summation: bool = True,
        *,
        input_time_dim: int | None = None,
        interpolate_mode: str = "linear",
    ) -> Tensor:
        r"""The class activation map of every example; arguments and return shape as in
        :meth:`LayerGradCam.attribute` (the layer must give one tensor). The target
        picks the head's row ``c``: a class index or one per example (``None`` for a
        head with one output)."""
        xs = _format_tensor_into_tuples(inputs)
        batch = check_batch(xs)
        mode = check_mode(interpolate_mode)
        tdim = summed_time_dim(input_time_dim, attr_dim_summation, xs[0])
        tgt = normalize_target(target, batch)
        with guarded_model(self.forward_func) as module:
            with record_linears(head_candidates(module, self.head)) as calls:
                acts, layouts, output = layer_activations(
                    self.forward_func,
                    self.layer,
                    xs,
                    additional_forward_args,
                    attribute_to_layer_input,
                    self._axis,
                )
            if len(acts) > 1:
                raise ValueError(f"`layer` gives {len(acts)} tensors; CAM needs a layer with one tensor.")
            head = verify_head(calls, acts[0], output, self.head)
            weights = _class_weights(head.weight.detach(), tgt, batch).to(acts[0].dtype)
        m = weighted_map(acts[0], weights.unsqueeze(-1), relu_attributions, attr_dim_summation)
        if tdim is None:
            return layouts[0].from_bkt(m)
        return on_input_time(m, xs[0], tdim, mode)


def _class_weights(weight: Tensor, target: Target, batch: int) -> Tensor:
    """The head's row for each example's class, ``(B, K)``."""
    n_classes = weight.shape[0]
    if target is None:
        if n_classes != 1:
            raise ValueError(f"the head has {n_classes} outputs; pass `target`, the class to explain.")
        idx = torch.zeros(batch, dtype=torch.long)
    elif isinstance(target, tuple):
        if len(target) != 1:
            raise ValueError(f"`target`={target!r}: CAM explains a (B, C) classifier; pass one class index.")
        idx = torch.full((batch,), target[0], dtype=torch.long)
    else:
        if target.dim() != 1:
            raise ValueError("`target` must hold one class index per example for CAM.")
        idx = target
    if bool(((idx >= n_classes) | (idx < -n_classes)).any()):
        raise ValueError(f"`target` index out of range for a head with {n_classes} outputs.")
    return weight[idx.to(weight.device)]
