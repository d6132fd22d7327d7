"""Sequence Dreaming: activation maximisation for time-series models.

Schlegel, Keim and Sutter, *Finding the DeepDream for Time Series: Activation
Maximization for Univariate Time Series*, TempXAI @ ECML-PKDD 2024,
arXiv:2408.10628.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext

import torch
from captum.attr import GradientAttribution, LayerAttribution
from captum.log import log_usage
from torch import Tensor, nn

from ..._batching import chunks
from ..._compat import (
    TargetType,
    TensorOrTupleOfTensorsGeneric,
    _format_additional_forward_args,
    _format_output,
    _format_tensor_into_tuples,
    _is_tuple,
)
from ..._gradients import check_grad_mode
from ..._noise import normal_draws
from ..._state import find_module, frozen_model
from ..._targets import Target, normalize_target
from ..._validation import (
    check_generator,
    check_inputs,
    check_nonnegative_float,
    check_positive_int,
    per_input,
)
from ._decoder import check_decoder, start_codes
from ._problem import Problem
from .regularizers import (
    LossTerm,
    Projection,
    default_regularizers,
)

__all__ = ["SequenceDreaming", "random_starts"]

OUTPUT_OBJECTIVES = ("logit", "probability", "border")
LAYER_OBJECTIVES = ("neuron", "channel")
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}

NeuronSelector = int | tuple[int, ...] | list | Tensor | Callable[..., Tensor]


def random_starts(
    n: int,
    shape: Sequence[int],
    scale: float = 1.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """``n`` Gaussian start sequences ``N(0, scale**2)`` of shape ``(n, *shape)``.

    ``scale`` should be the data's standard deviation (1, the default, for
    z-normalised series): much smaller starts can leave every ReLU unit of a
    trained network off, and a dream whose gradient is zero at the start is
    refused.

    The ``k``-th start does not depend on ``n``: drawing 8 starts gives the first
    8 of 32 drawn with the same seed.

    >>> g = torch.Generator().manual_seed(0)
    >>> random_starts(4, (50, 1), generator=g).shape
    torch.Size([4, 50, 1])
    """
    check_positive_int(n, "n")
    scale = check_nonnegative_float(scale, "scale")
    check_generator(generator)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    return scale * normal_draws(n, [tuple(shape)], generator=generator, device=dev, dtype=dtype)[0]


class SequenceDreaming(LayerAttribution, GradientAttribution):
    r"""Sequence Dreaming: the input a model responds to most, found by gradient
    ascent on the input with the model frozen.

    Starting from ``inputs`` (noise, zeros or real series), it maximises

    .. math::
        J(x) = S(x) - \sum_i R_i(x)

    where :math:`S` is a class logit, a class probability, a "border" score
    :math:`-(p_c(x) - \tau)^2` that drives the class probability to
    :math:`\tau`, or (with ``layer``) a neuron or channel activation, and the
    :math:`R_i` are the loss-term regularisers. Projection regularisers
    (blur, smoothing, clipping) replace the sequence by its projection every few
    steps. See :mod:`captum_ts.attr.dreaming.regularizers`.

    Every row of the batch is optimised on its own: the objective is summed over
    the batch, so each row receives its own gradient, Adam and SGD update element
    by element, and every regulariser works row by row. Dreaming ``K`` classes
    times ``R`` restarts in one batch gives the same sequences as ``K * R``
    separate runs, only faster. This holds for models whose rows do not interact;
    the model runs in eval mode (dropout off, BatchNorm on its running
    statistics) with its parameters frozen, and its flags, mode and buffers are
    restored afterwards, also on errors. Calls on one model are serialised by a
    per-model lock held for the whole call (layer hook included), and the layer
    hook records only its own call's forwards.

    float16 and bfloat16 inputs are dreamed in float32 (the model gets them cast
    to its dtype at every step) and returned in the input dtype.

    The result is not an attribution of an existing input: it is a new input, so
    Captum's attribution metrics (infidelity, sensitivity) do not apply to it.

    Args:
        forward_func (Callable): the model or any function returning its output.
        layer (torch.nn.Module, optional): a submodule of the model whose output the
            ``"neuron"`` / ``"channel"`` objectives read, through a forward hook.
        device_ids (list[int], optional): as in Captum's layer methods; unused
            here, accepted for compatibility.

    Examples::

        >>> import torch
        >>> from captum_ts.attr.dreaming.sequence_dreaming import SequenceDreaming, random_starts
        >>> from captum_ts.models import CNN1dClassifier
        >>> model = CNN1dClassifier(1, 3).eval()
        >>> starts = random_starts(6, (40, 1), generator=torch.Generator().manual_seed(0))
        >>> targets = torch.arange(3).repeat_interleave(2)  # 3 classes x 2 restarts
        >>> dreams, scores = SequenceDreaming(model).attribute(
        ...     starts, target=targets, steps=20, return_trajectory=True)
        >>> dreams.shape, scores.shape
        (torch.Size([6, 40, 1]), torch.Size([20, 6]))
    """

    random_starts = staticmethod(random_starts)

    def __init__(
        self, forward_func: Callable, layer: nn.Module | None = None, device_ids: list[int] | None = None
    ) -> None:
        LayerAttribution.__init__(self, forward_func, layer, device_ids)  # type: ignore[arg-type]
        GradientAttribution.__init__(self, forward_func)
        if layer is not None:
            if not isinstance(layer, nn.Module):
                raise TypeError(f"`layer` must be a torch.nn.Module, got {type(layer).__name__}.")
            module = find_module(forward_func)
            if module is not None and not any(m is layer for m in module.modules()):
                raise ValueError(
                    "`layer` is not a submodule of the model; pass one of `model.modules()`, "
                    "e.g. `model.features[0]`."
                )

    @log_usage()
    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: object = None,
        objective: str | None = None,
        border_probability: float = 0.5,
        neuron_selector: NeuronSelector | None = None,
        regularizers: Sequence[LossTerm | Projection] | None = None,
        optimizer: str | Callable[..., torch.optim.Optimizer] = "adam",
        lr: float = 0.05,
        steps: int = 1000,
        optimizer_kwargs: dict | None = None,
        time_dim: int | tuple[int, ...] = 1,
        start_noise: float = 0.0,
        internal_batch_size: int | None = None,
        return_trajectory: bool = False,
        generator: torch.Generator | None = None,
        decoder: Callable[[Tensor], Tensor] | None = None,
    ) -> TensorOrTupleOfTensorsGeneric | tuple[TensorOrTupleOfTensorsGeneric, Tensor]:
        r"""Dream one sequence per row of ``inputs``.

        Args:
            inputs (Tensor or tuple[Tensor, ...]): the start sequences, batch first:
                noise at the data's scale (:func:`random_starts`) or real series
                (for border dreams); with a ``decoder``, start codes or series. They
                are copied, never modified; the output has their shape.
            target (int, tuple, Tensor or list, optional): Captum's target for the
                output objectives: a class index, or one per row (a list or a
                ``(B,)`` tensor) to dream several classes in one batch; ``(h, c)``
                for ``(B, H, C)`` outputs. Unused by the layer objectives.
            additional_forward_args (Any, optional): extra arguments passed to the
                model after the inputs.
            objective (str, optional): what to maximise.

                * ``"logit"`` (default without ``layer``): the selected output;
                * ``"probability"``: its softmax over the last output axis (a
                  sigmoid for single-logit outputs);
                * ``"border"``: :math:`-(p_c(x) - \tau)^2`, which drives the class
                  probability to ``border_probability``: a sequence on the decision
                  border, best started from a real sample;
                * ``"channel"`` (default with ``layer``): the mean over time (all axes
                  after dim 1) of channel ``neuron_selector`` of the layer output;
                * ``"neuron"``: one element of the layer output picked by
                  ``neuron_selector``.
            border_probability (float): :math:`\tau` in ``(0, 1)`` for ``"border"``.
            neuron_selector (int, tuple, list, Tensor or Callable, optional): for the
                layer objectives, Captum-style: an index (``"channel"``) or an index
                tuple after the batch axis (``"neuron"``), shared by all rows or one
                per row (a list or tensor, with ``target``'s rules); or a callable
                taking the layer output and returning one value per row ``(B,)``.
                A tuple layer output (e.g. an ``nn.GRU``) is read through its first
                tensor, except by a callable, which gets the whole output.
            regularizers (sequence, optional): loss terms and projections
                (:mod:`captum_ts.attr.dreaming.regularizers`). ``None`` uses
                ``default_regularizers(objective)``: L2 1e-3, TV 1e-2, Gaussian blur
                sigma 1 every 10 steps, exponential smoothing alpha 0.3 every 10
                steps; for ``"border"`` the two loss terms only (projections move
                the series off the border: 6 of 6 GunPoint border dreams ended 0.23
                to 0.28 away from 0.5 with them, within 0.01 without (harness
                ``bench_sequence_dreaming.py --defaults``); see
                ``docs/sequence_dreaming.md``). ``()`` none at all. Projections run
                in the given order after the due steps.
            optimizer (str or Callable): ``"adam"`` (default) or ``"sgd"`` (plain
                gradient ascent unless ``optimizer_kwargs`` add momentum), or a
                ``torch.optim`` class / factory called as ``optimizer(params, lr=lr,
                **optimizer_kwargs)``. Elementwise optimisers keep rows independent.
            lr (float): step size (> 0), in the units of the inputs for Adam (each
                element moves by at most about ``lr`` per step). The default 0.05 suits
                z-normalised series with the default projections every 10 steps; with
                0.01 the projections undo most of the ascent between them.
            steps (int): number of optimisation steps (>= 1).
                Projections keep changing the sequence, so with projections the
                objective does not settle at a stationary point (the border
                default has none).
            optimizer_kwargs (dict, optional): extra arguments for the optimiser,
                e.g. ``{"betas": (0.9, 0.99)}`` or ``{"momentum": 0.9}``.
            time_dim (int or tuple[int, ...]): the time axis of each input for the
                regularisers: ``1`` for ``(B, T)`` and ``(B, T, F)`` (default), ``-1``
                for ``(B, F, T)``.
            start_noise (float): standard deviation of Gaussian noise added to the
                starts (drawn from ``generator``), e.g. to turn copies of one real
                series into distinct restarts. 0 (default) adds none.
            internal_batch_size (int, optional): rows optimised together; ``None``
                optimises the whole batch at once. The result does not depend on it.
            return_trajectory (bool): also return the objective ``S`` (without the
                penalties) after every step, shape ``(steps, B)``; its last row
                belongs to the returned sequences.
            generator (torch.Generator, optional): source of ``start_noise``, for
                reproducible dreams.
            decoder (Callable or nn.Module, optional): dream in a code space: a map
                from codes ``(B, k)`` to series ``(B, T, F)``, e.g.
                :class:`~captum_ts.attr.dreaming.decoders.PCADecoder`. The code is optimised
                and the model sees the decoded series, so the dream lies in the
                decoder's range. ``inputs`` are then start codes ``(B, k)`` or start
                series ``(B, T, F)`` encoded by ``decoder.encode``; loss terms act on
                the decoded series; projections too, mapped back to codes by
                ``decoder.encode`` (refused for a decoder without one). ``lr`` is in
                code units. A module decoder is frozen and in eval mode during the
                call, like the model.

        Returns:
            *Tensor* or *tuple[Tensor, ...]* of **dreamed sequences**, shaped like
            ``inputs``, in their dtype, contiguous (with a ``decoder``: the decoded
            series ``(B, T, F)``; ``decoder.encode`` gives their codes); with
            ``return_trajectory`` a pair ``(sequences, trajectory)``.

        Raises:
            RuntimeError: under ``torch.inference_mode()``, or when the objective has
                no autograd graph back to the inputs (at the first step).
            ValueError: NaN/Inf model outputs for the starts (at the first step), a
                start whose objective gradient is exactly zero (every unit off, e.g.
                ReLUs after BatchNorm for starts much smaller than the data, or a
                saturated probability: the dream would return the start, moved
                only by the regularisers), a dream that reaches NaN/Inf, a decoder
                that does not map codes to series, bad arguments.
        """
        check_grad_mode("SequenceDreaming")
        is_tuple = _is_tuple(inputs)
        xs = _format_tensor_into_tuples(inputs)
        batch = check_inputs(xs)
        objective = self._resolve_objective(objective)
        check_positive_int(steps, "steps")
        check_positive_int(internal_batch_size, "internal_batch_size", allow_none=True)
        lr = check_nonnegative_float(lr, "lr")
        if lr <= 0:
            raise ValueError(f"`lr` must be a positive number, got {lr}.")
        tau = check_nonnegative_float(border_probability, "border_probability")
        if not 0 < tau < 1:
            raise ValueError(f"`border_probability` must lie in (0, 1), got {border_probability}.")
        noise = check_nonnegative_float(start_noise, "start_noise")
        check_generator(generator)
        make_optimizer = _optimizer_factory(optimizer, lr, optimizer_kwargs)
        loss_terms, projections = _split_regularizers(regularizers, objective)
        if decoder is not None:
            check_decoder(decoder, is_tuple, projections)
        time_dims = per_input(time_dim, len(xs), "time_dim")
        tgt, selector = _what_to_maximise(objective, target, neuron_selector, batch)

        starts = tuple(x.detach().clone() for x in xs)
        if noise > 0:
            draws = normal_draws(
                batch,
                [tuple(s.shape[1:]) for s in starts],
                generator=generator,
                device=xs[0].device,
                dtype=xs[0].dtype,
            )
            starts = tuple(s + noise * d.to(s) for s, d in zip(starts, draws))
        afa = _format_additional_forward_args(additional_forward_args)
        dreams: list[tuple[Tensor, ...]] = []
        scores: list[Tensor] = []
        with frozen_model(self.forward_func), frozen_model(decoder) if decoder is not None else nullcontext():
            series, dtypes = xs, None
            if decoder is not None:
                starts, series, dtypes = start_codes(decoder, starts[0])
            problem = Problem(
                self.forward_func,
                self.layer,
                objective,
                tau,
                loss_terms,
                projections,
                tuple(_time_axis(x, d) for x, d in zip(series, time_dims)),
                make_optimizer,
                decoder,
            )
            for lo, hi in chunks(batch, internal_batch_size):
                whole = lo == 0 and hi == batch
                part = tuple(s[lo:hi] for s in starts)
                seqs, traj = problem.solve(
                    part,
                    tgt if whole else _rows(tgt, lo, hi),
                    selector if whole else _rows(selector, lo, hi),
                    afa if whole else _rows_of_args(afa, batch, lo, hi),
                    steps,
                    return_trajectory,
                    dtypes,
                    lo,
                )
                dreams.append(seqs)
                scores.append(traj)
        out = tuple(torch.cat(parts).contiguous() for parts in zip(*dreams))
        result = _format_output(is_tuple, out)
        if return_trajectory:
            return result, torch.cat(scores, dim=1)
        return result

    def _resolve_objective(self, objective: str | None) -> str:
        if objective is None:
            return "logit" if self.layer is None else "channel"
        allowed = LAYER_OBJECTIVES if self.layer is not None else OUTPUT_OBJECTIVES
        if objective not in OUTPUT_OBJECTIVES + LAYER_OBJECTIVES:
            raise ValueError(
                f"`objective` must be one of {OUTPUT_OBJECTIVES + LAYER_OBJECTIVES}, got {objective!r}."
            )
        if objective not in allowed:
            how = "without a `layer`" if self.layer is None else "with a `layer`"
            raise ValueError(f"`objective`={objective!r} cannot be used {how}; use one of {allowed}.")
        return objective


def _what_to_maximise(
    objective: str, target: TargetType, neuron_selector: object, batch: int
) -> tuple[Target, object]:
    """Check and normalise ``target`` (output objectives) or ``neuron_selector``
    (layer objectives); return ``(target, selector)``, one of them None."""
    if objective in LAYER_OBJECTIVES:
        if neuron_selector is None:
            raise ValueError(
                f"objective {objective!r} needs `neuron_selector`: a channel index, an index "
                "tuple, one per row, or a callable over the layer output."
            )
        if target is not None:
            raise ValueError(
                f"`target` is not used by the layer objective {objective!r}; the unit is chosen by "
                "`neuron_selector`."
            )
        if callable(neuron_selector):
            return None, neuron_selector
        return None, normalize_target(neuron_selector, batch, name="neuron_selector")  # type: ignore[arg-type]
    if neuron_selector is not None:
        raise ValueError(f"`neuron_selector` is only used with a `layer`; objective is {objective!r}.")
    return normalize_target(target, batch), None


def _split_regularizers(
    regularizers: Sequence[LossTerm | Projection] | None, objective: str
) -> tuple[list[LossTerm], list[Projection]]:
    regs = default_regularizers(objective) if regularizers is None else regularizers
    if isinstance(regs, (LossTerm, Projection)):
        regs = (regs,)
    loss_terms, projections = [], []
    for r in regs:
        if isinstance(r, LossTerm):
            loss_terms.append(r)
        elif isinstance(r, Projection):
            projections.append(r)
        else:
            raise TypeError(
                f"`regularizers` entries must be LossTerm or Projection instances "
                f"(captum_ts.attr.dreaming.regularizers), got {type(r).__name__}."
            )
    return loss_terms, projections


def _optimizer_factory(
    optimizer: str | Callable[..., torch.optim.Optimizer], lr: float, kwargs: dict | None
) -> Callable[[list[Tensor]], torch.optim.Optimizer]:
    extra = dict(kwargs or {})
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise ValueError(
                f"`optimizer` must be one of {sorted(OPTIMIZERS)} or a torch.optim class, got {optimizer!r}."
            )
        cls = OPTIMIZERS[optimizer]
        return lambda params: cls(params, lr=lr, **extra)
    if not callable(optimizer):
        raise TypeError(f"`optimizer` must be a name or a torch.optim class/factory, got {optimizer!r}.")
    return lambda params: optimizer(params, lr=lr, **extra)


def _time_axis(x: Tensor, time_dim: object) -> int:
    if isinstance(time_dim, bool) or not isinstance(time_dim, int):
        raise TypeError(f"`time_dim` must be an int, got {time_dim!r}.")
    if not -x.dim() <= time_dim < x.dim() or time_dim % x.dim() == 0:
        raise ValueError(
            f"`time_dim`={time_dim} is not a non-batch axis of an input of shape {tuple(x.shape)}."
        )
    return time_dim % x.dim()


def _rows(value: object, lo: int, hi: int) -> object:
    """Rows ``lo:hi`` of a per-row target/selector tensor; shared values pass through."""
    return value[lo:hi] if isinstance(value, Tensor) else value


def _rows_of_args(args: tuple | None, batch: int, lo: int, hi: int) -> tuple | None:
    """Rows ``lo:hi`` of every per-example tensor among the additional forward args."""
    if args is None:
        return None
    return tuple(
        a[lo:hi] if isinstance(a, Tensor) and a.dim() > 0 and a.shape[0] == batch else a for a in args
    )
