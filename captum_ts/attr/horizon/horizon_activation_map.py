r"""Horizon Activation Mapping (Krupakar & Kandappan, arXiv:2601.02094)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack

import torch
from captum.attr import GradientAttribution
from captum.log import log_usage
from torch import Tensor, nn

from ..._compat import (
    NullProgress,
    TensorOrTupleOfTensorsGeneric,
    _format_additional_forward_args,
    _format_output,
    _format_tensor_into_tuples,
    _is_tuple,
    progress,
)
from ..._distributed import all_gather_objects, local_process
from ..._gradients import NO_GRAPH, check_grad_mode
from ..._loaders import batches_of_this_process
from ..._state import find_module, frozen_model, preserved_model_state
from ..._validation import check_inputs, check_positive_int
from ._ghost_norms import norm_dtype
from ._loss import (
    MODES,
    ErrorFn,
    align_forecast,
    check_error,
    check_finite_error,
    group_weights,
    loss_scale,
    masked_loss,
    point_errors,
    variate_groups,
)
from ._signals import BatchedVJP, horizon_norms
from .result import HorizonActivationResult

NO_Y_TRUE = (
    "HorizonActivationMap.attribute needs the ground truth of the forecast: pass `y_true`, a "
    "tensor (B, H) or (B, H, V) shaped like the model output, e.g. `ham.attribute(x, y_true=y)` "
    "(inside Captum wrappers as a keyword: `NoiseTunnel(ham).attribute(x, ..., y_true=y, "
    "wrt='inputs')`). HAM has no `target`: the ground truth takes its place."
)


class HorizonActivationMap(GradientAttribution):
    r"""Horizon Activation Mapping (HAM): how strongly each part of the forecast
    horizon moves a forecaster's parameters.

    For a forecaster with output ``(B, H, V)`` (or ``(B, H)``), ground truth ``y``
    and a point-wise error, the per-step error
    :math:`e_t = \operatorname{mean}_{b,v} \operatorname{err}(\hat y_{btv}, y_{btv})`
    and every cut-off ``h = 0..H`` give two masked losses

    .. math::
        L^{(h)}_{\text{causal}} = \frac1H \sum_{t<h} e_t, \qquad
        L^{(h)}_{\text{anti-causal}} = \frac1H \sum_{t\ge h} e_t,

    and HAM reports the Frobenius norm of their gradients with respect to every
    parameter tensor, averaged over the layers (and over batches for a loader).
    A curve above its line of proportionality means the early horizon steps drive
    the parameters more than a uniform share (causal mode).

    No backward pass per cut-off: the gradients of all cut-offs come from one
    forward pass, vector-Jacobian products batched over cut-offs and prefix sums
    over horizon steps (anti-causal = full - causal), and the norms of
    ``nn.Linear``/``nn.Conv1d`` weight gradients come from Gram matrices of the
    layer's inputs and output signals. A step-local output layer (the usual
    forecasting head) costs one backward pass in total. Models whose backward
    cannot be vectorised (some fused recurrent kernels) fall back to one
    vector-Jacobian product per cut-off, automatically; ``result.backend`` says
    which path ran.

    Choices (see ``docs/horizon_activation_map.md``): the anti-causal sub-series is
    ``[h, H)``; losses are divided by ``H`` at every cut-off, so both modes meet the
    full loss at the ends; the model runs in ``eval()`` mode unless
    ``model_mode="train"`` (the paper's setting, dropout active); only parameters
    with ``requires_grad=True`` are attributed. The model's parameters, ``.grad``,
    ``requires_grad`` flags, buffers and train/eval mode are left as they were
    (``captum_ts._state``: calls on one model are serialised). float16/bfloat16
    models: errors, slopes and norms are computed in float32 and the curves are
    float32; a float16 backward runs on a loss scaled by a power of two. No graph
    (``torch.inference_mode()``, a ``@torch.no_grad`` forward, a detached output) and
    NaN/Inf outputs, errors or norms raise.

    Args:
        forward_func (Callable): the forecaster (an ``nn.Module``) or its bound
            ``forward``; any other callable needs ``model``.
        model (nn.Module, optional): the module whose parameters are attributed,
            when ``forward_func`` is a wrapper such as ``lambda x: net(x)[0]``.

    Examples::

        >>> import torch
        >>> from captum_ts.attr.horizon.horizon_activation_map import HorizonActivationMap
        >>> from captum_ts.models.forecasters import MLPForecaster
        >>> model = MLPForecaster(lookback=24, horizon=12, n_variates=2, hidden=(16,))
        >>> x, y = torch.randn(8, 24, 2), torch.randn(8, 12, 2)
        >>> ham = HorizonActivationMap(model)
        >>> res = ham.attribute(x, y)
        >>> res.causal.shape, res.anticausal.shape
        (torch.Size([13]), torch.Size([13]))
        >>> torch.allclose(res.causal[-1], res.anticausal[0])
        True
        >>> ham.attribute(x, y, per_layer=True, variates="each").causal.shape
        torch.Size([13, 2, 4])
        >>> ham.attribute(x, y, wrt="inputs", cutoff=6).shape
        torch.Size([8, 24, 2])
    """

    def __init__(self, forward_func: Callable, model: nn.Module | None = None) -> None:
        GradientAttribution.__init__(self, forward_func)
        if model is not None and not isinstance(model, nn.Module):
            raise TypeError(f"`model` must be an nn.Module, got {type(model).__name__}.")
        self.model = model if model is not None else find_module(forward_func)

    @log_usage()
    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        y_true: Tensor | None = None,
        additional_forward_args: object = None,
        error: str | ErrorFn = "mse",
        per_layer: bool = False,
        variates: object = None,
        model_mode: str | None = "eval",
        horizon_chunk_size: int | None = None,
        wrt: str = "parameters",
        cutoff: int | None = None,
        mode: str = "causal",
    ) -> HorizonActivationResult | TensorOrTupleOfTensorsGeneric:
        r"""HAM curves of one batch, or (``wrt="inputs"``) an input attribution.

        Args:
            inputs (Tensor or tuple[Tensor, ...]): the look-back windows, batch first,
                e.g. ``(B, T, V)``.
            y_true (Tensor): the ground truth ``(B, H, V)`` or ``(B, H)``, shaped like
                the forecast (a longer forecast is cut to its last ``H`` steps). Required;
                it defaults to None only so that a Captum-style call without it gets an
                error saying what to pass.
            additional_forward_args (Any, optional): extra model arguments after the inputs.
            error (str or Callable): ``"mse"`` (default), ``"mae"``, or a point-wise
                ``error(prediction, target) -> errors`` shaped like its inputs.
            per_layer (bool): keep one curve per parameter tensor instead of their mean.
            variates (None, "each", int or sequence): None averages the error over all
                variates (one curve); ``"each"`` gives one curve per variate; a
                sequence of ints and/or groups (``[0, (1, 2)]``) one curve per group,
                the error averaged over the group's variates.
            model_mode ("eval", "train" or None): the module mode during the run
                (``"train"`` as in the paper; None leaves it); restored afterwards.
            horizon_chunk_size (int, optional): cut-offs per batched backward pass;
                bounds memory, does not change the result. None picks it from the
                size of the model's activations (at most 16, and about 256 MiB of
                signals per chunk).
            wrt ("parameters" or "inputs"): ``"inputs"`` returns the gradient of the
                per-example masked loss of one cut-off with respect to the inputs,
                input-shaped, like a Captum attribution.
            cutoff (int, optional): ``wrt="inputs"`` only: the cut-off ``h`` in
                ``[0, H]``; default: the full loss.
            mode ("causal" or "anticausal"): ``wrt="inputs"`` only: which sub-series.

        Returns:
            ``HorizonActivationResult`` (``causal``, ``anticausal``, ``cutoffs``,
            ``layer_names``, ``line()``, ``signed_area()``, ``difference()``,
            ``equivariant_point()``, ``normalized()``), or with ``wrt="inputs"`` a
            tensor (tuple) shaped like ``inputs``.
        """
        check_grad_mode(self.get_name())
        if y_true is None:
            raise TypeError(NO_Y_TRUE)
        if wrt == "inputs":
            return self._attribute_inputs(
                inputs, y_true, additional_forward_args, error, variates, model_mode, cutoff, mode
            )
        if wrt != "parameters":
            raise ValueError(f"`wrt` must be 'parameters' or 'inputs', got {wrt!r}.")
        if cutoff is not None or mode != "causal":
            raise ValueError(
                "`cutoff` and `mode` apply to wrt='inputs' only; parameter curves cover every cut-off."
            )
        with local_process():  # one batch of this process: never a collective, whatever the process group
            return self.attribute_loader(
                [(inputs, y_true, additional_forward_args)],
                error=error,
                per_layer=per_layer,
                variates=variates,
                model_mode=model_mode,
                horizon_chunk_size=horizon_chunk_size,
                device=None,
            )

    @log_usage()
    def attribute_loader(
        self,
        loader: Iterable,
        error: str | ErrorFn = "mse",
        per_layer: bool = False,
        variates: object = None,
        model_mode: str | None = "eval",
        horizon_chunk_size: int | None = None,
        show_progress: bool = False,
        unpack: Callable[[object], Sequence] | None = None,
        max_batches: int | None = None,
        device: torch.device | str | None = "model",
    ) -> HorizonActivationResult:
        r"""HAM curves averaged over the batches of a data loader.

        Each batch's per-layer norms are computed and the norms are averaged over
        batches (a mean of norms, not the norm of a mean gradient; every batch
        counts once, as in the paper's code).

        Args:
            loader (Iterable): yields ``(inputs, y_true)`` or ``(inputs, y_true,
                *additional_forward_args)``; ``inputs`` may be a tensor or a tuple.
            error, per_layer, variates, model_mode, horizon_chunk_size: as in ``attribute``.
            show_progress (bool): show a progress bar over batches.
            unpack (Callable, optional): turns a batch into ``(inputs, y_true)`` or
                ``(inputs, y_true, additional_forward_args)``.
            max_batches (int, optional): stop after this many batches.
            device: where batches are moved: ``"model"`` (default) the device of the
                model's parameters, None leaves them, or a device.

        Under ``torch.distributed`` every process must call ``attribute_loader`` with
        the same loader: each takes every ``world_size``-th batch and the norm sums
        are all-gathered, so every process returns the dataset curves. ``attribute``
        never communicates: it explains this process's batch only.

        Returns:
            ``HorizonActivationResult`` with ``n_batches`` set.
        """
        check_grad_mode(self.get_name())
        module = self._module_with_parameters()
        check_error(error)
        check_positive_int(horizon_chunk_size, "horizon_chunk_size", allow_none=True)
        check_positive_int(max_batches, "max_batches", allow_none=True)
        params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        target_device = _resolve_device(device, params)
        total = _length(loader, max_batches)
        bar = progress(desc=f"{self.get_name()}", total=total) if show_progress else NullProgress()

        sums: tuple[Tensor, Tensor] | None = None
        groups = None
        n_batches, head, backend = 0, None, None
        vjp = BatchedVJP()  # turns sequential for the rest of the run if the backward cannot be batched
        with bar, preserved_model_state(module, model_mode), torch.enable_grad():
            for number, batch in batches_of_this_process(loader, max_batches):
                xs, y, args = _unpack(batch, unpack, target_device)
                batch_size = check_inputs(xs)
                y3 = _check_y_true(y_true=y, batch_size=batch_size)
                if sums is None:
                    groups = variate_groups(variates, y3.shape[2])
                elif y3.shape[1] != sums[0].shape[0] - 1:
                    raise ValueError(
                        f"batch {number} has horizon {y3.shape[1]}, earlier batches {sums[0].shape[0] - 1}."
                    )
                norms = self._batch_norms(
                    module, params, xs, y3, args, error, groups, horizon_chunk_size, vjp
                )
                if sums is None:
                    sums = (norms.causal.clone(), norms.anticausal.clone())
                else:
                    sums[0].add_(norms.causal)
                    sums[1].add_(norms.anticausal)
                n_batches += 1
                head, backend = norms.head, norms.backend
                bar.update()
        # under torch.distributed every process took every world_size-th batch: add up the
        # per-batch norm sums and batch counts of all processes (a few kilobytes)
        parts = all_gather_objects(
            (None if sums is None else (sums[0].cpu(), sums[1].cpu()), n_batches, groups, head, backend)
        )
        filled = [p for p in parts if p[0] is not None]  # type: ignore[index]
        if not filled:
            raise ValueError("`loader` yielded no batch.")
        device = sums[0].device if sums is not None else filled[0][0][0].device  # type: ignore[index]
        causal = sum(p[0][0].to(device) for p in filled)  # type: ignore[index]
        anticausal = sum(p[0][1].to(device) for p in filled)  # type: ignore[index]
        n_total = sum(p[1] for p in filled)  # type: ignore[misc]
        _, _, groups, head, backend = filled[0]  # type: ignore[misc]
        return HorizonActivationResult(
            layer_causal=causal / n_total,
            layer_anticausal=anticausal / n_total,
            layer_names=tuple(n for n, _ in params),
            variates=groups,
            per_layer=bool(per_layer),
            n_batches=n_total,
            backend=backend,
            head=head,
        )

    # ------------------------------------------------------------------ internals
    def _module_with_parameters(self) -> nn.Module:
        if self.model is None:
            raise ValueError(
                "HorizonActivationMap attributes the model's parameters: pass the nn.Module (or its bound "
                "forward) as forward_func, or `model=` for a wrapper function."
            )
        if not any(p.requires_grad for p in self.model.parameters()):
            raise ValueError(
                f"the model ({type(self.model).__name__}) has no trainable parameters (requires_grad=True); "
                "HAM measures parameter gradients."
            )
        return self.model

    def _batch_norms(self, module, params, xs, y3, args, error, groups, chunk_size, vjp):
        weights = group_weights(groups, y3.shape[2], y3)

        def forward() -> object:
            with ExitStack() as stack:
                if _needs_cudnn_off(module, xs):
                    stack.enter_context(_cudnn_disabled())
                return self.forward_func(*(x.detach() for x in xs), *args)

        return horizon_norms(module, params, forward, y3, error, weights, chunk_size, vjp)

    def _attribute_inputs(
        self, inputs, y_true, additional_forward_args, error, variates, model_mode, cutoff, mode
    ):
        is_tuple = _is_tuple(inputs)
        xs = _format_tensor_into_tuples(inputs)
        batch = check_inputs(xs)
        check_error(error)
        if mode not in MODES:
            raise ValueError(f"`mode` must be 'causal' or 'anticausal', got {mode!r}.")
        y3 = _check_y_true(y_true, None)
        if y3.shape[0] != batch:
            if batch % y3.shape[0]:
                raise ValueError(
                    f"`y_true` has batch {y3.shape[0]} but `inputs` has {batch}; it must be equal, or "
                    "divide it when a wrapper repeats every example (rows b*n .. b*n+n-1 belong to "
                    "example b)."
                )
            y3 = y3.repeat_interleave(batch // y3.shape[0], dim=0)
        horizon = y3.shape[1]
        h = horizon if cutoff is None and mode == "causal" else 0 if cutoff is None else cutoff
        if isinstance(h, bool) or not isinstance(h, int) or not 0 <= h <= horizon:
            raise ValueError(f"`cutoff` must be an integer in [0, {horizon}], got {cutoff!r}.")
        groups = variate_groups(variates, y3.shape[2])
        if groups is not None and len(groups) != 1:
            raise ValueError(
                "wrt='inputs' takes one group of variates, e.g. `variates=[(0, 2)]` or `variates=1`."
            )
        args = _format_additional_forward_args(additional_forward_args) or ()
        module = self.model
        # the shared guard: lock, `model_mode`, parameters frozen, everything restored; a
        # plain function with no module still gets `model_mode` checked by it
        guard = frozen_model(module if module is not None else nn.Module(), model_mode)
        with guard, torch.enable_grad():
            leaves = tuple(x.detach().requires_grad_() for x in xs)
            with ExitStack() as stack:
                if module is not None and _needs_cudnn_off(module, xs):
                    stack.enter_context(_cudnn_disabled())
                pred = align_forecast(self.forward_func(*leaves, *args), y3)
            if not pred.requires_grad:
                raise RuntimeError(
                    f"{self.get_name()} with wrt='inputs' differentiates the inputs: {NO_GRAPH}"
                )
            # the loss in float32 for float16/bfloat16 models; a float16 backward runs on a
            # loss scaled by a power of two (``loss_scale``), undone on the gradients
            forecast = pred.to(norm_dtype(pred.dtype))
            weights = group_weights(groups, y3.shape[2], forecast)[0]
            errors = point_errors(forecast, y3.to(forecast.dtype), error)
            total = check_finite_error(masked_loss(errors, weights, h, mode, per_example=True).sum())
            scale = 1.0
            if pred.dtype == torch.float16:
                (cot,) = torch.autograd.grad(total, forecast, retain_graph=True)
                scale = loss_scale(cot, pred.dtype)
            grads = torch.autograd.grad(
                total * scale if scale != 1 else total, leaves, allow_unused=True, materialize_grads=True
            )
        if scale != 1:
            grads = tuple(g / scale for g in grads)
        if not all(_all_finite(g) for g in grads):
            raise RuntimeError(
                "the input gradients are NaN or Inf: the slope of `error` is not finite at this "
                f"forecast, or the backward pass overflowed in {pred.dtype} (run the model in float32)."
            )
        return _format_output(is_tuple, tuple(g.detach().contiguous() for g in grads))


def _all_finite(t: Tensor) -> bool:
    """No NaN or Inf in ``t``: one sum (NaN and Inf propagate), cheaper than ``isfinite``."""
    return bool(t.sum(dtype=norm_dtype(t.dtype)).isfinite())


def _check_y_true(y_true: object, batch_size: int | None) -> Tensor:
    if not isinstance(y_true, Tensor):
        raise TypeError(f"`y_true` must be a torch.Tensor (B, H[, V]), got {type(y_true).__name__}.")
    if not y_true.is_floating_point():
        raise TypeError(f"`y_true` has dtype {y_true.dtype}; it must be floating point (use `.float()`).")
    if y_true.dim() not in (2, 3):
        raise ValueError(f"`y_true` has shape {tuple(y_true.shape)}; expected (B, H) or (B, H, V).")
    if y_true.shape[1] == 0:
        raise ValueError("`y_true` has horizon H = 0; HAM needs at least one forecast step.")
    if y_true.shape[0] == 0 or (y_true.dim() == 3 and y_true.shape[2] == 0):
        raise ValueError(f"`y_true` has shape {tuple(y_true.shape)}: an empty axis.")
    if batch_size is not None and y_true.shape[0] != batch_size:
        raise ValueError(f"`y_true` has batch {y_true.shape[0]} but `inputs` has {batch_size}.")
    if not bool(torch.isfinite(y_true).all()):
        raise ValueError("`y_true` contains NaN or Inf values; drop or fill those windows first.")
    return (y_true if y_true.dim() == 3 else y_true.unsqueeze(-1)).detach()


def _unpack(batch: object, unpack: Callable | None, device: torch.device | None):
    parts = unpack(batch) if unpack is not None else batch
    if not isinstance(parts, (tuple, list)) or len(parts) < 2:
        raise ValueError(
            "each loader batch must be (inputs, y_true) or (inputs, y_true, *additional_forward_args); "
            "pass `unpack=` for other layouts."
        )
    inputs, y_true, *rest = parts
    extra = None if not rest else rest[0] if len(rest) == 1 else tuple(rest)
    if isinstance(inputs, list):
        inputs = tuple(inputs)
    xs = _format_tensor_into_tuples(inputs)
    args = _format_additional_forward_args(extra) or ()
    if device is not None:
        xs = tuple(x.to(device) for x in xs)
        y_true = y_true.to(device) if isinstance(y_true, Tensor) else y_true
        args = tuple(a.to(device) if isinstance(a, Tensor) else a for a in args)
    return xs, y_true, args


def _resolve_device(device: object, params: list) -> torch.device | None:
    if device == "model":
        return params[0][1].device if params else None
    return None if device is None else torch.device(device)


def _length(loader: Iterable, max_batches: int | None) -> int | None:
    try:
        n = len(loader)  # type: ignore[arg-type]
    except TypeError:
        return max_batches
    return n if max_batches is None else min(n, max_batches)


def _needs_cudnn_off(module: nn.Module, xs: tuple[Tensor, ...]) -> bool:
    """cuDNN's RNN backward refuses eval mode: run recurrent models without cuDNN."""
    return any(x.is_cuda for x in xs) and any(isinstance(m, nn.RNNBase) for m in module.modules())


def _cudnn_disabled():
    b = torch.backends.cudnn
    return b.flags(
        enabled=False, benchmark=b.benchmark, deterministic=b.deterministic, allow_tf32=b.allow_tf32
    )
