"""Explanation continuity (Montavon, Samek & Müller, Digital Signal Processing
2018, section 7.1): how much an explanation jumps when the input moves a little."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from captum.log import log_usage
from torch import Tensor

from .._batching import chunks, per_example_chunk
from .._compat import TensorOrTupleOfTensorsGeneric, _format_tensor_into_tuples, _is_tuple
from .._noise import normal_draws
from .._validation import check_generator, check_inputs, check_nonnegative_float, check_positive_int
from ._guard import guarded
from ._perturbation import accumulation_dtype, as_container, as_tuple, expand_explanation_kwargs

REDUCTIONS = ("max", "mean")


@log_usage()
def continuity(
    explanation_func: Callable,
    inputs: TensorOrTupleOfTensorsGeneric,
    n_perturb_samples: int = 20,
    perturb_radius: float | None = None,
    perturb_func: Callable | None = None,
    reduction: str = "max",
    max_examples_per_batch: int | None = None,
    generator: torch.Generator | None = None,
    **kwargs: object,
) -> Tensor:
    r"""Explanation continuity: the largest (or mean) ratio of explanation change
    to input change over local perturbations; lower is better.

    For perturbed inputs :math:`x'_j`, ``j = 1..n``,

    .. math::
        C(x) = \max_j \frac{\lVert R(x) - R(x'_j)\rVert_1}{\lVert x - x'_j\rVert_2},

    norms taken over all cells of all input tensors. This estimates Montavon et
    al.'s :math:`\max_{x \neq x'}` locally. A continuous explanation keeps the
    ratio bounded (Gradient x Input of a linear model ``w . x`` never exceeds
    :math:`\lVert w\rVert_2`); a discontinuous one blows up as the radius shrinks.

    By default :math:`x' = x + \delta`, :math:`\delta \sim \mathcal N(0, r^2 I)`
    with ``r = perturb_radius``, or ``r = 0.01 * std(x)`` per example and input
    tensor when ``perturb_radius`` is None (``0.01`` for a constant series).
    :func:`~captum_ts.metrics.time_shift` gives shifts along time; any Captum
    ``perturb_func(inputs[, perturb_radius])`` works. Draws that leave the input
    unchanged are skipped; an example with no changed draw gets NaN.

    ``explanation_func(inputs, **kwargs)`` is called once on the inputs and once
    on all perturbed copies of a chunk (``B * n`` rows, sample-major), with
    ``target``, ``additional_forward_args``, ``baselines`` and ``feature_mask``
    repeated per example as Captum's ``sensitivity_max`` does. It receives a
    tensor when ``inputs`` is a tensor and a tuple for a tuple.

    Args:
        explanation_func (Callable): e.g. a Captum ``attribute`` method.
        inputs (Tensor or tuple[Tensor, ...]): series, batch first.
        n_perturb_samples (int): number of perturbed copies per example.
        perturb_radius (float, optional): noise std of the default Gaussian
            perturbation; passed to a custom ``perturb_func`` taking two arguments.
        perturb_func (Callable, optional): ``perturb_func(inputs)`` or
            ``perturb_func(inputs, perturb_radius)`` returning perturbed inputs.
        reduction (str): ``"max"`` (the paper's definition) or ``"mean"``.
        max_examples_per_batch (int, optional): rows per ``explanation_func`` call
            (Captum's meaning; at least one copy of every example per call).
        generator (torch.Generator, optional): source of the default Gaussian
            noise; the result does not depend on ``max_examples_per_batch``.
        **kwargs: passed to ``explanation_func``.

    Returns:
        *Tensor* ``(B,)`` of continuity scores, computed and returned in float32 for
        float16/bfloat16 inputs and explanations (else their float dtype). NaN or
        Inf explanations raise a ValueError. The ``torch.nn.Module`` behind
        ``explanation_func`` (a module in a closure, or the ``forward_func`` of a
        Captum attributor whose ``attribute`` method it is) runs in eval mode and
        is left exactly as it was (``captum_ts._state``); the explanation can still
        take gradients.

    Examples::

        >>> import torch
        >>> from captum_ts.metrics import continuity
        >>> w = torch.tensor([3.0, 4.0], dtype=torch.float64)
        >>> grad_x_input = lambda x: x * w           # Gradient x Input of f(x) = w . x
        >>> x = torch.randn(8, 2, dtype=torch.float64)
        >>> c = continuity(grad_x_input, x, generator=torch.Generator().manual_seed(0))
        >>> bool((c <= 5.0 + 1e-9).all()), bool((c > 4.9).all())   # ||w||_2 = 5 bounds it
        (True, True)
    """
    is_tuple = _is_tuple(inputs)
    xs = tuple(x.detach() for x in _format_tensor_into_tuples(inputs))
    check_inputs(xs)
    check_positive_int(n_perturb_samples, "n_perturb_samples")
    check_positive_int(max_examples_per_batch, "max_examples_per_batch", allow_none=True)
    check_generator(generator)
    if reduction not in REDUCTIONS:
        raise ValueError(f"`reduction` must be 'max' or 'mean', got {reduction!r}.")
    if perturb_radius is not None:
        perturb_radius = check_nonnegative_float(perturb_radius, "perturb_radius")
    perturb = _custom_perturbation(perturb_func, perturb_radius) if perturb_func is not None else None
    radii = None if perturb is not None else _radii(xs, perturb_radius)
    with guarded(explanation_func):
        return _continuity(
            explanation_func,
            xs,
            is_tuple,
            n_perturb_samples,
            radii,
            perturb,
            reduction,
            max_examples_per_batch,
            generator,
            kwargs,
        )


def _continuity(
    explanation_func: Callable,
    xs: tuple[Tensor, ...],
    is_tuple: bool,
    n_perturb_samples: int,
    radii: tuple[Tensor, ...] | None,
    perturb: Callable | None,
    reduction: str,
    max_examples_per_batch: int | None,
    generator: torch.Generator | None,
    kwargs: dict,
) -> Tensor:
    """The chunked loop of :func:`continuity`, ratios summed in float32 at least."""
    batch = xs[0].shape[0]
    reference = _explain(explanation_func, xs, is_tuple, kwargs, batch)  # (B, D)
    dtype = accumulation_dtype(torch.promote_types(reference.dtype, xs[0].dtype))
    reference = reference.to(dtype)
    best = xs[0].new_full((batch,), float("-inf"), dtype=dtype)
    total = torch.zeros_like(best)
    count = torch.zeros(batch, dtype=torch.long, device=best.device)
    per_chunk = per_example_chunk(n_perturb_samples, batch, rows_per_chunk=max_examples_per_batch)
    for start, stop in chunks(n_perturb_samples, per_chunk):
        n = stop - start
        if perturb is None:
            noise = normal_draws(
                n, [tuple(x.shape) for x in xs], generator=generator, device=xs[0].device, dtype=xs[0].dtype
            )
            moved = tuple(
                (x.unsqueeze(1) + r.unsqueeze(1) * e.transpose(0, 1)).reshape(batch * n, *x.shape[1:])
                for x, r, e in zip(xs, radii, noise)
            )
        else:
            moved = perturb(tuple(x.repeat_interleave(n, dim=0) for x in xs), is_tuple)
        expanded = expand_explanation_kwargs(kwargs, batch, n)
        changed = _explain(explanation_func, moved, is_tuple, expanded, batch * n)
        numerator = (changed.to(dtype).view(batch, n, -1) - reference.unsqueeze(1)).abs().sum(2).view(-1)
        step = torch.cat(
            [
                (m.reshape(batch, n, -1).to(dtype) - x.reshape(batch, 1, -1).to(dtype))
                for m, x in zip(moved, xs)
            ],
            dim=2,
        )
        denominator = step.square().sum(2).view(-1).sqrt()
        valid = (denominator > 0).view(batch, n)
        ratio = (numerator / torch.where(denominator > 0, denominator, 1.0)).view(batch, n)
        best = torch.maximum(best, ratio.masked_fill(~valid, float("-inf")).amax(1))
        total += ratio.masked_fill(~valid, 0.0).sum(1)
        count += valid.sum(1)
    result = best if reduction == "max" else total / count.clamp_min(1)
    return torch.where(count > 0, result, torch.full_like(result, float("nan")))


def _radii(xs: tuple[Tensor, ...], perturb_radius: float | None) -> tuple[Tensor, ...]:
    """Per input, the ``(B, 1, ...)`` noise std of every example."""
    out = []
    for x in xs:
        view = (-1,) + (1,) * (x.dim() - 1)
        if perturb_radius is not None:
            out.append(torch.full((x.shape[0],), perturb_radius, dtype=x.dtype, device=x.device).view(view))
            continue
        std = (
            x.reshape(x.shape[0], -1).std(1, unbiased=False) if x[0].numel() > 1 else x.new_zeros(x.shape[0])
        )
        out.append((0.01 * torch.where(std > 0, std, torch.ones_like(std))).view(view))
    return tuple(out)


def _custom_perturbation(perturb_func: Callable, perturb_radius: float | None) -> Callable:
    """Call a Captum-style ``perturb_func`` and check what it returns."""
    try:
        takes_radius = len(inspect.signature(perturb_func).parameters) > 1
    except (TypeError, ValueError):  # builtins without a signature
        takes_radius = False
    if takes_radius and perturb_radius is None:
        raise ValueError("`perturb_func` takes a radius: pass `perturb_radius` as a number.")

    def perturb(repeated: tuple[Tensor, ...], is_tuple: bool) -> tuple[Tensor, ...]:
        container = as_container(repeated, is_tuple)
        with torch.no_grad():
            out = perturb_func(container, perturb_radius) if takes_radius else perturb_func(container)
        out = as_tuple(out)
        if len(out) != len(repeated) or any(
            not isinstance(o, Tensor) or o.shape != r.shape for o, r in zip(out, repeated)
        ):
            raise ValueError("`perturb_func` must return tensors shaped like the inputs it was given.")
        return tuple(o.detach().to(r.dtype) for o, r in zip(out, repeated))

    return perturb


def _explain(
    explanation_func: Callable, xs: tuple[Tensor, ...], is_tuple: bool, kwargs: dict, rows: int
) -> Tensor:
    """``(rows, D)`` flattened explanation of all input tensors."""
    out = as_tuple(explanation_func(as_container(xs, is_tuple), **kwargs))
    if len(out) != len(xs) or any(
        not isinstance(o, Tensor) or o.dim() == 0 or o.shape[0] != rows for o in out
    ):
        raise ValueError(
            "`explanation_func` must return one tensor per input tensor (a tuple for tuple inputs), "
            f"each with {rows} rows."
        )
    flat = torch.cat([o.detach().reshape(rows, -1) for o in out], dim=1)
    if not bool(torch.isfinite(flat).all()):
        raise ValueError("`explanation_func` returned NaN or Inf values.")
    return flat
