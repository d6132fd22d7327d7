"""Guided Grad-CAM: guided backpropagation times Grad-CAM stretched along time."""

from __future__ import annotations

from collections.abc import Callable

from captum.attr import GradientAttribution
from captum.log import log_usage
from torch import nn

from ..._compat import (
    TargetType,
    TensorOrTupleOfTensorsGeneric,
    _format_output,
    _format_tensor_into_tuples,
    _is_tuple,
)
from ..._gradients import check_grad_mode
from ..._state import frozen_model
from ..._targets import normalize_target
from ..._validation import check_inputs, per_input
from ._guided import guided_gradients
from ._interpolate import check_input_time_dim, check_mode, on_input_time
from .grad_cam import LayerGradCam


class GuidedGradCam(GradientAttribution):
    r"""Guided Grad-CAM (Selvaraju et al., ICCV 2017, arXiv:1610.02391) for series.

    The element-wise product of guided-backpropagation input gradients and the
    Grad-CAM map (with ReLU) of ``layer``, interpolated along the **input's time
    axis** to the input's length. Captum's ``GuidedGradCam`` interpolates to
    ``input.shape[2:]``, which for a ``(B, T, F)`` input is the *feature* axis.
    Guided backpropagation here catches every ReLU, modules and functional calls
    (Captum's hooks only see ``nn.ReLU`` modules); other activations (the sigmoid and
    tanh gates of recurrent layers, GELU) keep their ordinary gradient.

    Args:
        model (nn.Module or Callable): the model (Captum's argument name).
        layer (torch.nn.Module): the layer of the Grad-CAM map (one tensor).
        device_ids (list[int], optional): accepted for Captum compatibility.
        time_dim (int, optional), layout (str, optional): the layer's time axis, as
            in :class:`LayerGradCam`.

    Examples::

        >>> import torch
        >>> from captum_ts import GuidedGradCam
        >>> net = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3, padding=1), torch.nn.ReLU(),
        ...                           torch.nn.MaxPool1d(4), torch.nn.AdaptiveAvgPool1d(1),
        ...                           torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x = torch.randn(5, 2, 16)                  # (B, F, T)
        >>> GuidedGradCam(net, net[2]).attribute(x, target=0, input_time_dim=2).shape
        torch.Size([5, 2, 16])
    """

    def __init__(
        self,
        model: nn.Module | Callable,
        layer: nn.Module,
        device_ids: list[int] | None = None,
        *,
        time_dim: int | None = None,
        layout: str | None = None,
    ) -> None:
        GradientAttribution.__init__(self, model)
        self.grad_cam = LayerGradCam(model, layer, device_ids, time_dim=time_dim, layout=layout)

    @log_usage()
    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: object = None,
        interpolate_mode: str = "linear",
        attribute_to_layer_input: bool = False,
        *,
        input_time_dim: int | tuple[int | None, ...] | None = None,
    ) -> TensorOrTupleOfTensorsGeneric:
        r"""Guided Grad-CAM of every input element.

        Args:
            inputs (Tensor or tuple[Tensor, ...]): the model inputs, batch first.
            target (int, tuple, Tensor or list, optional): Captum's target; it must
                select one scalar per example (``(h, c)`` for ``(B, H, C)`` forecasters).
            additional_forward_args (Any, optional): extra arguments passed to the
                model after the inputs.
            interpolate_mode (str): ``"linear"`` (default, centre-aligned; Captum's
                default is ``"nearest"``), ``"nearest"``, ``"nearest-exact"`` or ``"area"``.
            attribute_to_layer_input (bool): Grad-CAM of the layer's input instead.
            input_time_dim (int or tuple, optional): the time axis of each input:
                1 for ``(B, T, F)``, 2 (or -1) for ``(B, F, T)``; one value per input
                allowed. Required for inputs of rank 3 or more (rank-2 ``(B, T)``
                inputs have time on axis 1).

        Returns:
            *Tensor* or *tuple[Tensor, ...]* of **attributions**, shaped like
            ``inputs``, contiguous.
        """
        check_grad_mode(type(self).__name__)
        is_tuple = _is_tuple(inputs)
        xs = _format_tensor_into_tuples(inputs)
        batch = check_inputs(xs)
        mode = check_mode(interpolate_mode)
        tdims = [
            check_input_time_dim(d, x)
            for x, d in zip(xs, per_input(input_time_dim, len(xs), "input_time_dim"))
        ]
        tgt = normalize_target(target, batch)
        with frozen_model(self.forward_func):
            maps, _ = self.grad_cam._maps(
                xs, tgt, additional_forward_args, attribute_to_layer_input, relu=True, summation=True
            )
            if len(maps) > 1:
                raise ValueError(
                    f"`layer` gives {len(maps)} tensors; Guided Grad-CAM needs a layer with one tensor."
                )
            guided = guided_gradients(self.forward_func, xs, tgt, additional_forward_args)
        out = tuple(
            (g * on_input_time(maps[0], x, d, mode)).contiguous() for g, x, d in zip(guided, xs, tdims)
        )
        return _format_output(is_tuple, out)
