"""Grad-CAM on a layer of a time-series model, with the time axis explicit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from captum.attr import GradientAttribution, LayerAttribution
from captum.log import log_usage
from torch import Tensor, nn

from ..._compat import TargetType, _format_output, _format_tensor_into_tuples
from ..._gradients import check_grad_mode
from ..._state import frozen_model
from ..._targets import Target, normalize_target
from ._interpolate import check_mode, on_input_time, summed_time_dim
from ._layer_grads import check_batch, layer_gradients
from ._layout import TimeLayout, check_layout_args
from ._weights import grad_cam_weights, weighted_map


class LayerGradCam(LayerAttribution, GradientAttribution):
    r"""Grad-CAM (Selvaraju et al., ICCV 2017, arXiv:1610.02391) over time.

    With ``A_k(t)`` the activation of channel ``k`` at layer time step ``t`` and
    ``S`` the explained score (the ``target`` output),

    .. math::
        \alpha_k = \frac{1}{T'} \sum_t \frac{\partial S}{\partial A_k(t)}, \qquad
        M(t) = \sum_k \alpha_k A_k(t)

    (``ReLU(M)`` with ``relu_attributions=True``). Same constructor and ``attribute``
    arguments as :class:`captum.attr.LayerGradCam`, but the gradient is averaged over
    the layer's *time* axis only: Captum averages over every axis after the first,
    which on a ``(B, T', D)`` activation averages over ``D`` and sums over time. The
    time axis is read from the layer's type (``Conv1d``, 1-d pooling and
    normalisation: ``(B, K, T')``; batch-first ``RNN``/``GRU``/``LSTM`` and
    transformer layers: ``(B, T', K)``) or given by ``layout``/``time_dim``; it is
    never guessed. Recurrent layers are explained through their output sequence;
    their map lags the evidence, as ``h_t`` summarises the steps up to ``t``.

    The model runs in eval mode and is restored afterwards (see ``docs/cam.md``).

    Args:
        forward_func (Callable): the model or any function returning its output.
        layer (torch.nn.Module): the layer whose activation is explained.
        device_ids (list[int], optional): accepted for Captum compatibility; the layer
            must run once per forward pass, on one device.
        time_dim (int, optional): time axis of the layer's tensor: 2 for ``(B, K, T')``,
            1 for ``(B, T', K)``, 1 for a single-channel ``(B, T')``.
        layout (str, optional): ``"channels_first"`` (``(B, K, T')``) or
            ``"channels_last"`` (``(B, T', K)``); an alternative to ``time_dim``.

    Examples::

        >>> import torch
        >>> from captum_ts import LayerGradCam
        >>> net = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3, padding=1), torch.nn.ReLU(),
        ...                           torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(),
        ...                           torch.nn.Linear(4, 3))
        >>> x = torch.randn(5, 2, 16)                  # (B, F, T)
        >>> cam = LayerGradCam(net, net[0])            # Conv1d: (B, K, T') by its type
        >>> cam.attribute(x, target=1).shape
        torch.Size([5, 1, 16])
        >>> cam.attribute(x, target=1, input_time_dim=2, relu_attributions=True).shape
        torch.Size([5, 1, 16])
    """

    def __init__(
        self,
        forward_func: Callable,
        layer: nn.Module,
        device_ids: list[int] | None = None,
        *,
        time_dim: int | None = None,
        layout: str | None = None,
    ) -> None:
        LayerAttribution.__init__(self, forward_func, layer, device_ids)
        GradientAttribution.__init__(self, forward_func)
        self._axis = check_layout_args(layer, time_dim, layout)

    @staticmethod
    def _weights(acts: Tensor, grads: Tensor) -> Tensor:
        return grad_cam_weights(acts, grads)

    @log_usage()
    def attribute(
        self,
        inputs: Tensor | tuple[Tensor, ...],
        target: TargetType = None,
        additional_forward_args: object = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = False,
        attr_dim_summation: bool = True,
        grad_kwargs: dict[str, Any] | None = None,
        *,
        input_time_dim: int | None = None,
        interpolate_mode: str = "linear",
    ) -> Tensor | tuple[Tensor, ...]:
        r"""The map of every example over the layer's time steps.

        Args:
            inputs (Tensor or tuple[Tensor, ...]): the model inputs, batch first.
            target (int, tuple, Tensor or list, optional): Captum's target; it must
                select one scalar per example: a class index for ``(B, C)`` outputs,
                ``(h, c)`` or a list of such tuples for ``(B, H, C)`` forecasters.
            additional_forward_args (Any, optional): extra arguments passed to the
                model after the inputs.
            attribute_to_layer_input (bool): explain the layer's input instead of its
                output (for recurrent layers: the input sequence).
            relu_attributions (bool): apply ReLU to the map (Grad-CAM's definition;
                Captum's default ``False`` is kept, which keeps the sign).
            attr_dim_summation (bool): sum over channels; ``False`` returns the
                per-channel terms ``alpha_k A_k(t)``, shaped like the activation.
            grad_kwargs (dict, optional): extra keyword arguments for
                ``torch.autograd.grad``.
            input_time_dim (int, optional): when given, the map is interpolated to the
                length of ``inputs[0]`` along this axis (1 for ``(B, T, F)``, 2 or -1
                for ``(B, F, T)``) and shaped to broadcast against it.
            interpolate_mode (str): ``"linear"`` (default, centre-aligned), ``"nearest"``,
                ``"nearest-exact"`` or ``"area"``.

        Returns:
            *Tensor* or *tuple[Tensor, ...]* (one per tensor of the layer's output) of
            **attributions**: the layer tensor's shape with the channel axis reduced to
            size 1 (``(B, 1, T')`` or ``(B, T', 1)``), or with ``input_time_dim`` size 1
            on every axis of ``inputs[0]`` but the batch and time.
        """
        check_grad_mode(type(self).__name__)
        xs = _format_tensor_into_tuples(inputs)
        batch = check_batch(xs)
        mode = check_mode(interpolate_mode)
        tdim = summed_time_dim(input_time_dim, attr_dim_summation, xs[0])
        maps, layouts = self._maps(
            xs,
            normalize_target(target, batch),
            additional_forward_args,
            attribute_to_layer_input,
            relu_attributions,
            attr_dim_summation,
            grad_kwargs,
        )
        if tdim is None:
            out = tuple(lay.from_bkt(m) for lay, m in zip(layouts, maps))
        else:
            out = tuple(on_input_time(m, xs[0], tdim, mode) for m in maps)
        return _format_output(len(out) > 1, out)

    def _maps(
        self,
        xs: tuple[Tensor, ...],
        target: Target,
        additional_forward_args: object,
        attribute_to_layer_input: bool,
        relu: bool,
        summation: bool,
        grad_kwargs: dict[str, Any] | None = None,
    ) -> tuple[tuple[Tensor, ...], tuple[TimeLayout, ...]]:
        """The ``(B, 1 or K, T')`` maps of every layer tensor, and their layouts."""
        with frozen_model(self.forward_func):
            acts, grads, layouts = layer_gradients(
                self.forward_func,
                self.layer,
                xs,
                target,
                additional_forward_args,
                attribute_to_layer_input,
                self._axis,
                grad_kwargs,
            )
        maps = tuple(weighted_map(a, self._weights(a, g), relu, summation) for a, g in zip(acts, grads))
        return maps, layouts
