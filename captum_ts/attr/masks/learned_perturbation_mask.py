"""Learned perturbation masks (ExtremalMask; Enguehard, ICML 2023, arXiv:2305.18840)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from captum.attr import PerturbationAttribution
from captum.log import log_usage
from torch import Tensor, nn
from torch.nn import functional as F

from ..._batching import chunks
from ..._compat import (
    BaselineType,
    TargetType,
    TensorOrTupleOfTensorsGeneric,
    _format_additional_forward_args,
    _format_baseline,
    _format_output,
    _format_tensor_into_tuples,
    _is_tuple,
    progress,
)
from ..._gradients import NO_GRAPH, check_grad_mode
from ..._state import frozen_model
from ..._targets import Target, normalize_target, select_target
from ..._validation import (
    check_generator,
    check_inputs,
    check_nonnegative_float,
    check_positive_int,
    per_input,
)
from ._objective import (
    AUTO_SMOOTH,
    DEFAULT_PATIENCE,
    DEFAULT_TOL,
    MASKS,
    EarlyStop,
    MaskShape,
    size_weight,
    size_weights,
    warn_unmoved,
)
from ._perturbation_nets import default_perturbation_net, reset_parameters

MODES = ("preservation", "deletion")
LOSSES = ("mse", "cross_entropy")
#: dtypes whose masks, perturbation networks and losses are optimised in float32
LOW_PRECISION = (torch.float16, torch.bfloat16)


class LearnedPerturbationMask(PerturbationAttribution):
    r"""Learn, for every explained series, a mask :math:`m \in [0, 1]` together with the
    perturbation it is blended with (ExtremalMask).

    The perturbed input keeps ``x`` where the mask is 1 and replaces it with a learned
    perturbation :math:`\mathrm{NN}_\varphi(x - b)` where the mask is 0:

    .. math::
        \Phi(x, m) = m \odot x + (1 - m) \odot \mathrm{NN}_\varphi(x - b)

    **Preservation game** (default): the smallest mask that keeps the prediction,

    .. math::
        \min_{m, \varphi}\; \lambda_1 \overline{|m|} + \lambda_2 \overline{|\mathrm{NN}_\varphi(x - b)|}
        + L\big(f(\Phi(x, m)),\, f(x)\big)

    (bars are element means over the mini-batch). **Deletion game**: the roles of ``m`` and
    ``1 - m`` swap, :math:`x_2 = (1 - m) \odot x + m \odot \mathrm{NN}_\varphi(x - b)` is pushed
    towards the prediction on the baseline, :math:`L(f(x_2), f(b))`, and the size term is
    :math:`\lambda_1 \overline{|1 - m|}`. High mask values mean "important" in both games.

    The perturbation network ``NN``:

    * ``"gru"`` (default) builds the paper's network for each input: a bidirectional GRU
      with ``F`` hidden units per direction, L2-normalised outputs, ``Linear(2F -> F)``.
      Inputs must be ``(B, T, F)`` (channels last) or ``(B, T)``.
    * an ``nn.Module`` mapping a batch of series to the same shape. A fresh copy
      (``copy.deepcopy``) is trained on every call, starting from the given weights: your
      module is never changed. The trained copies are kept in ``perturbation_nets_``.
    * ``None``: no learned perturbation, ``Phi = m x + (1 - m) b`` (a Dynamask-style fade to
      the fixed ``baselines``, 0 by default) and no :math:`\lambda_2` term.

    For tuple inputs pass one entry per input tensor (a single entry is used for all). Each
    input tensor gets its own mask.

    Defaults at every scale: ``lambda_mask="auto"`` is :math:`\min(1, 2 L_0)` with
    :math:`L_0` the batch's fit loss at the start (masks at 0.5), so small or weakly trained
    models with small logits do not get masks emptied by the size term, and a
    temporal-variation term (``lambda_smooth``) joins it; numeric weights give the paper's
    objective exactly. A warning names the series whose mask barely moved.

    Fitting: the masks start at 0.5 and are clamped to ``[0, 1]`` in the forward pass
    (``mask="gated"``: stochastic gates, see ``attribute``); the series are visited in
    mini-batches of ``batch_size`` in order and each step's Adam update moves the
    perturbation network and the masks of that batch only (each series' mask takes one step
    per epoch). ``f(x)`` (and ``f(b)`` for deletion) is computed once before the loop, so
    every step costs one forward and one backward pass of the model. Early stopping is on
    by default (``tol``, ``patience``). The model is frozen: it runs in ``eval()`` mode,
    its parameters get no gradient, and its parameters,
    ``.grad``, ``requires_grad`` flags, train/eval modes and buffers are restored afterwards.

    Reliability: float16/bfloat16 inputs are optimised in float32 (masks, perturbation
    networks, losses) and the masks are returned in the input dtype. The call raises
    instead of returning unmoved or NaN masks when the model output has no graph back
    to the masks (``torch.inference_mode()``, a ``@torch.no_grad`` forward, a detached
    output), when the reference output is NaN/Inf, and when the objective turns NaN/Inf
    during training (the message names ``lr`` and the dtype).

    Args:
        forward_func (Callable): the model or any function returning its output; outputs
            ``(B, C)`` (one prediction per series), ``(B, T, C)`` (one per step) or any shape.
        perturbation_net (str, nn.Module, None or tuple): ``"gru"``, a module or ``None``,
            see above.

    Examples::

        >>> import torch
        >>> from captum_ts.attr.masks.learned_perturbation_mask import LearnedPerturbationMask
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(30, 2))
        >>> x = torch.randn(8, 10, 3)
        >>> explainer = LearnedPerturbationMask(model)
        >>> mask = explainer.attribute(x, epochs=20, generator=torch.Generator().manual_seed(0))
        >>> mask.shape, bool(((mask >= 0) & (mask <= 1)).all())
        (torch.Size([8, 10, 3]), True)
    """

    def __init__(self, forward_func: Callable, perturbation_net: object = "gru") -> None:
        PerturbationAttribution.__init__(self, forward_func)
        specs = perturbation_net if isinstance(perturbation_net, (tuple, list)) else (perturbation_net,)
        for spec in specs:
            if not (spec is None or spec == "gru" or isinstance(spec, nn.Module)):
                raise TypeError(
                    "`perturbation_net` must be 'gru', an nn.Module, None, or a tuple of those "
                    f"(one per input tensor); got {spec!r}."
                )
        self.perturbation_net = perturbation_net
        #: the perturbation networks trained by the last ``attribute`` call (None where none)
        self.perturbation_nets_: tuple[nn.Module | None, ...] = ()
        #: the mean objective of every epoch of the last ``attribute`` call
        self.loss_history_: list[float] = []

    @property
    def multiplies_by_inputs(self) -> bool:
        return False

    @log_usage()
    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: object = None,
        mode: str = "preservation",
        lambda_mask: float | str = "auto",
        lambda_perturbation: float | str = "auto",
        loss: str | Callable[[Tensor, Tensor], Tensor] = "mse",
        epochs: int = 100,
        lr: float = 0.1,
        batch_size: int | None = 256,
        tol: float | None = DEFAULT_TOL,
        patience: int = DEFAULT_PATIENCE,
        show_progress: bool = False,
        generator: torch.Generator | None = None,
        mask: str = "clamp",
        gate_sigma: float = 0.5,
        lambda_smooth: float | str = "auto",
    ) -> TensorOrTupleOfTensorsGeneric:
        r"""Fit the masks and return them.

        Args:
            inputs (Tensor or tuple[Tensor, ...]): series to explain, batch first.
            baselines (scalar, Tensor or tuple, optional): ``b`` above, default 0. With a
                network it shifts the network's input, ``NN(x - b)``; without one it is the
                perturbation; in the deletion game ``f(b)`` is the target output.
                Per-series ``(B, ...)`` or shared ``(1, ...)`` tensors, or scalars.
            target (int, tuple, Tensor or list, optional): Captum's target. ``None``
                (default) keeps the whole model output, e.g. the logits of every step of a
                ``(B, T, C)`` model, as the paper does; otherwise it must select one scalar
                per series.
            additional_forward_args (Any, optional): extra model arguments after the inputs;
                tensors whose first dimension is the batch are sliced with the mini-batches.
            mode (str): ``"preservation"`` (default, recommended) or ``"deletion"``.
            lambda_mask (float or "auto"): :math:`\lambda_1 \ge 0`, weight of the mask
                size. Larger gives sparser, more precise masks, smaller gives higher recall.
                ``"auto"`` (default) is ``AUTO_LAMBDA`` (2) times :math:`L_0`, the batch's
                fit loss at its first step (all masks at 0.5), clipped to ``[0.01, 1]`` (the
                paper's 1 at most): models whose outputs move little get a weaker size term instead
                of empty masks. No extra model call.
            lambda_perturbation (float or "auto"): :math:`\lambda_2 \ge 0`, weight of the
                perturbation size; keep it at least ``lambda_mask`` so the perturbation
                cannot carry the prediction itself. ``"auto"``: as ``lambda_mask``.
            loss (str or Callable): ``"mse"`` (default) between the outputs, or
                ``"cross_entropy"`` with the arg-max class of the reference output over the
                last dim as label, or a callable ``loss(output, reference) -> scalar``.
            epochs (int): the most passes over the explained series (default 100; early
                stopping usually ends the fit sooner).
            lr (float): Adam learning rate (default 0.1).
            batch_size (int, optional): series per optimisation step (default 256; ``None``
                fits all series at once). This is also the chunk size of the reference
                forward passes, so it bounds the memory.
            tol (float, optional): stop early once the epoch objective has not improved on
                its best by more than ``tol`` (relative) for ``patience`` epochs (default
                ``1e-3``); ``None`` runs all ``epochs``. Stopping only truncates the run.
            patience (int): epochs without improvement before an early stop (default 10).
            show_progress (bool): show a progress bar over the epochs.
            generator (torch.Generator, optional): draws the initial weights of the
                ``"gru"`` networks (and the gates' noise of ``mask="gated"``), for
                reproducible masks. Masks start at 0.5 and the batch order is fixed.
            mask (str): ``"clamp"`` (default): ExtremalMask's mask, clamped to ``[0, 1]``,
                size :math:`\overline{|m|}`. ``"gated"``: stochastic gates (Yamada et al.
                2020; ContraLSP's sparse gates): the fit sees
                ``clamp(mu + gate_sigma * eps, 0, 1)`` with fresh ``eps ~ N(0, 1)`` at every
                step, the size is the expected L0 norm
                :math:`\overline{\Phi(\mu / \sigma)}` (:math:`\overline{\Phi((1 - \mu) /
                \sigma)}` for deletion), and the returned mask is ``clamp(mu, 0, 1)``.
            gate_sigma (float): :math:`\sigma > 0`, the gates' noise (default 0.5, as in
                the stochastic-gates paper); used with ``mask="gated"`` only.
            lambda_smooth (float or "auto"): :math:`\lambda_s \ge 0`, weight of the
                temporal variation of the mask, :math:`\lambda_1 \lambda_s
                \overline{|m_{t+1} - m_t|}` along dim 1 (relative to ``lambda_mask``).
                ``"auto"`` (default): ``AUTO_SMOOTH`` (0.5) with ``lambda_mask="auto"``, 0 with
                a numeric ``lambda_mask`` (then the objective is exactly the paper's).

        Returns:
            *Tensor* or *tuple[Tensor, ...]* of masks in ``[0, 1]``, shaped like ``inputs``,
            contiguous and detached.
        """
        check_grad_mode(self.get_name())
        is_tuple = _is_tuple(inputs)
        xs = tuple(x.detach() for x in _format_tensor_into_tuples(inputs))
        n = check_inputs(xs)
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}.")
        if not (callable(loss) or loss in LOSSES):
            raise ValueError(
                f"`loss` must be one of {LOSSES} or a callable(output, reference), got {loss!r}."
            )
        if mask not in MASKS:
            raise ValueError(f"`mask` must be one of {MASKS}, got {mask!r}.")
        if check_nonnegative_float(gate_sigma, "gate_sigma") == 0:
            raise ValueError("`gate_sigma` must be > 0 (the gates' noise); use mask='clamp' for none.")
        lam_s = size_weight(lambda_smooth, "lambda_smooth")
        if lam_s is None:
            lam_s = AUTO_SMOOTH if isinstance(lambda_mask, str) else 0.0
        lam_m, lam_p = (
            size_weight(v, name)
            for v, name in ((lambda_mask, "lambda_mask"), (lambda_perturbation, "lambda_perturbation"))
        )
        check_positive_int(epochs, "epochs")
        check_positive_int(batch_size, "batch_size", allow_none=True)
        check_positive_int(patience, "patience")
        if check_nonnegative_float(lr, "lr") == 0:
            raise ValueError("`lr` must be > 0.")
        if tol is not None:
            check_nonnegative_float(tol, "tol")
        generator = check_generator(generator)
        # masks, perturbations and the loss live in float32 for float16/bfloat16 inputs
        xw = tuple(x.to(_work_dtype(x.dtype)) for x in xs)
        bases = _baselines(baselines, xw)
        nets = _build_nets(self.perturbation_net, xw, generator)
        tgt = normalize_target(target, n)
        args = _format_additional_forward_args(additional_forward_args)
        fit = _loss_function(loss)
        size = batch_size or n

        def run(rows: tuple[Tensor, ...], start: int, stop: int) -> Tensor:
            rows = tuple(r.to(x.dtype) for r, x in zip(rows, xs))
            out = self.forward_func(*rows, *_slice_args(args, n, start, stop))
            return out if tgt is None else select_target(out, _slice_target(tgt, start, stop))

        batches = list(chunks(n, size))
        history: list[float] = []
        with frozen_model(self.forward_func, mode="eval"), torch.enable_grad():
            with torch.no_grad():
                reference = [run(_reference_rows(xs, xw, bases, a, b, mode), a, b) for a, b in batches]
            _check_reference(reference, mode)
            shape = MaskShape(mask, gate_sigma, lam_s, generator)
            # one leaf per (input, batch): a step updates only the rows it saw
            masks = [[torch.full_like(x[a:b], 0.5, requires_grad=True) for a, b in batches] for x in xw]
            net_params = [p for net in nets if net is not None for p in net.parameters() if p.requires_grad]
            optimiser = torch.optim.Adam(
                [m for per_batch in masks for m in per_batch] + net_params, lr=lr, foreach=True
            )
            steps = (
                progress(range(epochs), desc=f"{self.get_name()} attribution", total=epochs)
                if show_progress
                else range(epochs)
            )
            stop = EarlyStop(tol, patience)
            weights: list[tuple[float, float]] = [(0.0, 0.0)] * len(batches)
            for epoch in steps:
                total = 0.0
                for k, ((a, b), ref) in enumerate(zip(batches, reference)):
                    batch_masks = [per_batch[k] for per_batch in masks]
                    rows, mask_size, perturbation_size = _perturb(
                        xw, batch_masks, nets, bases, a, b, mode, shape
                    )
                    output = run(rows, a, b)
                    if not output.requires_grad:
                        raise RuntimeError(
                            f"{self.get_name()} learns its masks through the model: {NO_GRAPH}"
                        )
                    fit_term = fit(_widen(output), _widen(ref))
                    if epoch == 0:  # "auto" weights from the batch's first fit loss
                        weights[k] = size_weights(lam_m, lam_p, float(fit_term.detach()))
                    objective = weights[k][0] * mask_size + weights[k][1] * perturbation_size + fit_term
                    value = float(objective.detach())
                    if not math.isfinite(value):
                        raise RuntimeError(_diverged(f"in epoch {epoch + 1}", lr, xs))
                    params = batch_masks + net_params
                    grads = torch.autograd.grad(objective, params, allow_unused=True, materialize_grads=True)
                    for p, g in zip(params, grads):
                        p.grad = g
                    optimiser.step()
                    for m in batch_masks:  # Adam skips leaves without a gradient
                        m.grad = None
                    total += value * (b - a)
                history.append(total / n)
                if stop(history[-1]):
                    break
            if show_progress and hasattr(steps, "close"):
                steps.close()
        out = tuple(torch.cat([m.detach() for m in per_batch]).clamp(0, 1) for per_batch in masks)
        if not all(bool(torch.isfinite(m).all()) for m in out):
            raise RuntimeError(_diverged("in the last step (a NaN or Inf gradient)", lr, xs))
        warn_unmoved(out, lr, len(history))
        for net in nets:
            if net is not None:
                net.zero_grad(set_to_none=True)
                net.requires_grad_(False)
        # per-call state is published only when the call succeeds, all at once
        self.perturbation_nets_, self.loss_history_ = tuple(nets), history
        return _format_output(is_tuple, tuple(m.to(x.dtype).contiguous() for m, x in zip(out, xs)))


def _perturb(
    xs: tuple[Tensor, ...],
    masks: list[Tensor],
    nets: list[nn.Module | None],
    bases: list[Tensor],
    a: int,
    b: int,
    mode: str,
    shape: MaskShape,
) -> tuple[tuple[Tensor, ...], Tensor, Tensor]:
    """The perturbed rows ``a:b`` of every input from their masks, and the unweighted sizes of
    the masks and of the perturbations (element means over the batch, pooled over the inputs)."""
    perturbed, mask_sum, perturbation_sum, count = [], 0.0, 0.0, 0
    for i, (x, m_raw, net, base) in enumerate(zip(xs, masks, nets, bases)):
        xb, bb = x[a:b], _rows(base, a, b)
        m = shape.mask(m_raw)
        p = bb if net is None else _net_output(net, xb - bb, i, len(xs))
        mask_sum = mask_sum + shape.size(m_raw, mode)
        if net is not None:
            perturbation_sum = perturbation_sum + p.abs().sum()
        perturbed.append(xb * m + p * (1 - m) if mode == "preservation" else xb * (1 - m) + p * m)
        count += xb.numel()
    return tuple(perturbed), mask_sum / count, perturbation_sum / count


def _net_output(net: nn.Module, rows: Tensor, i: int, n_inputs: int) -> Tensor:
    """The perturbation network on ``rows``, which must keep their shape."""
    out = net(rows)
    if not isinstance(out, Tensor) or out.shape != rows.shape:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        where = "perturbation_net" if n_inputs == 1 else f"perturbation_net[{i}]"
        raise ValueError(
            f"`{where}` returned {got} for a batch of shape {tuple(rows.shape)}; it must return "
            "a tensor of the same shape as its input."
        )
    return out


def _reference_rows(
    xs: tuple[Tensor, ...], xw: tuple[Tensor, ...], bases: list[Tensor], a: int, b: int, mode: str
) -> tuple[Tensor, ...]:
    """The rows ``a:b`` whose output the masks are fitted to: ``x`` (preservation) or ``b``."""
    if mode == "preservation":
        return tuple(x[a:b] for x in xs)
    return tuple(torch.zeros_like(x[a:b]) + _rows(base, a, b) for x, base in zip(xw, bases))


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype masks and perturbations are optimised in: float32 for float16/bfloat16
    (Adam's steps and the size terms underflow there), the input's own dtype otherwise."""
    return torch.float32 if dtype in LOW_PRECISION else dtype


def _widen(t: Tensor) -> Tensor:
    """A float16/bfloat16 model output in float32, so the loss neither overflows nor rounds to 0."""
    return t.float() if isinstance(t, Tensor) and t.dtype in LOW_PRECISION else t


def _check_reference(reference: list[Tensor], mode: str) -> None:
    """The outputs the masks are fitted to must be finite."""
    for ref in reference:
        if isinstance(ref, Tensor) and not bool(torch.isfinite(ref).all()):
            on = "`inputs`" if mode == "preservation" else "`baselines` (the deletion game's target)"
            raise ValueError(
                f"the model output on {on} contains NaN or Inf values; the masks would be fitted to "
                "them. Check the model and the data (or the baselines) first."
            )


def _diverged(where: str, lr: float, xs: tuple[Tensor, ...]) -> str:
    low = [str(x.dtype) for x in xs if x.dtype in LOW_PRECISION]
    dtype_hint = (
        f" The model runs in {low[0]}: its outputs on perturbed inputs may overflow; try float32."
        if low
        else ""
    )
    return (
        f"the mask objective became NaN or Inf {where}: the optimisation diverged or the model "
        f"returns NaN/Inf on perturbed inputs (mask values in [0, 1] blended with the perturbation). "
        f"Lower `lr` (now {lr}), check the model on such inputs, or pick `baselines` it accepts." + dtype_hint
    )


def _loss_function(loss: str | Callable) -> Callable[[Tensor, Tensor], Tensor]:
    if callable(loss):
        return loss
    if loss == "mse":
        return F.mse_loss

    def cross_entropy(output: Tensor, reference: Tensor) -> Tensor:
        if output.dim() < 2:
            raise ValueError(
                "`loss='cross_entropy'` needs class scores on the last output axis; with a "
                "`target` selecting one scalar per series use `loss='mse'`."
            )
        return F.cross_entropy(
            output.reshape(-1, output.shape[-1]), reference.reshape(-1, reference.shape[-1]).argmax(-1)
        )

    return cross_entropy


_ARGUMENT_ORDER = (
    "The second positional argument of `attribute` is `baselines` (Captum's order for perturbation "
    "methods: inputs, baselines, target); pass labels or classes as `target=...`."
)


def _baselines(baselines: BaselineType, xs: tuple[Tensor, ...]) -> list[Tensor]:
    """One tensor per input, broadcastable to it, with batch dim 1 or ``B`` (or a 0-d scalar)."""
    out = []
    for i, (x, b) in enumerate(zip(xs, _format_baseline(baselines, xs))):
        where = "baselines" if len(xs) == 1 else f"baselines[{i}]"
        if isinstance(b, Tensor) and not (b.is_floating_point() or b.dim() == 0):
            raise TypeError(
                f"`{where}` is a {b.dtype} tensor of shape {tuple(b.shape)}, which looks like labels. "
                + _ARGUMENT_ORDER
            )
        t = torch.as_tensor(b, dtype=x.dtype, device=x.device) if not isinstance(b, Tensor) else b.detach()
        t = t.to(dtype=x.dtype, device=x.device)
        if t.dim() > 0 and (t.dim() != x.dim() or t.shape[0] not in (1, x.shape[0])):
            raise ValueError(
                f"`{where}` has shape {tuple(t.shape)}; expected a scalar, (1, ...) or "
                f"({x.shape[0]}, ...) broadcastable to the input shape {tuple(x.shape)}. " + _ARGUMENT_ORDER
            )
        try:
            torch.broadcast_shapes(t.shape, x.shape)
        except RuntimeError:
            raise ValueError(
                f"`{where}` of shape {tuple(t.shape)} does not broadcast to {tuple(x.shape)}."
            ) from None
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"`{where}` contains NaN or Inf values.")
        out.append(t)
    return out


def _rows(base: Tensor, a: int, b: int) -> Tensor:
    return base[a:b] if base.dim() > 0 and base.shape[0] > 1 else base


def _build_nets(
    spec: object, xs: tuple[Tensor, ...], generator: torch.Generator | None
) -> list[nn.Module | None]:
    specs = per_input(tuple(spec) if isinstance(spec, list) else spec, len(xs), "perturbation_net")
    nets: list[nn.Module | None] = []
    for i, (s, x) in enumerate(zip(specs, xs)):
        where = "inputs" if len(xs) == 1 else f"inputs[{i}]"
        if s is None:
            nets.append(None)
            continue
        if isinstance(s, str):
            net = default_perturbation_net(x, where)
            reset_parameters(net, generator)
        else:
            net = copy.deepcopy(s)
        nets.append(net.to(device=x.device, dtype=x.dtype).requires_grad_(True))
    return nets


def _slice_args(args: tuple | None, n: int, a: int, b: int) -> tuple:
    if args is None:
        return ()
    return tuple(
        arg[a:b] if isinstance(arg, Tensor) and arg.dim() > 0 and arg.shape[0] == n else arg for arg in args
    )


def _slice_target(target: Target, a: int, b: int) -> Target:
    return target[a:b] if isinstance(target, Tensor) else target
