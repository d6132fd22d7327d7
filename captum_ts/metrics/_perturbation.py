"""What the perturbation metrics share: time layouts, regions (time patches),
rankings, removal values, masked copies and chunked forwards.

Scores, rankings and sums are computed in float32 at least (:func:`accumulation_dtype`),
so float16/bfloat16 inputs and maps neither overflow nor lose ties to rounding; the
model's outputs must be finite (:func:`check_finite_scores`).

A *region* is ``patch_size`` consecutive time steps of one input tensor, either
across all its features (``feature_wise=False``) or for one feature at a time
(``feature_wise=True``). Every cell of every input tensor belongs to exactly one
region; regions of a tuple of inputs are numbered one after the other. Metrics
rank regions by their summed attribution and replace whole regions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import torch
from torch import Tensor

from .._batching import chunks, per_example_chunk
from .._compat import expand_additional_forward_args
from .._targets import Target, expand_target, normalize_target, select_target
from .._validation import per_input
from ._counts import count_of
from ._guard import guarded

ORDERS = ("morf", "lerf")


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype scores and sums are computed and returned in: float32 for float16,
    bfloat16 and integer values, else ``dtype`` (float64 stays float64)."""
    return torch.promote_types(dtype, torch.float32)


# --------------------------------------------------------------------------- layout and regions


def time_axis(x: Tensor, feature_dim: int | None, name: str = "feature_dim") -> int:
    """The time axis of ``x``: axis 1 for ``(B, T)``; for higher ranks the first
    non-batch axis that is not the feature axis (``feature_dim=-1``: ``(B, T, F)``,
    ``feature_dim=1``: ``(B, F, T)``)."""
    if x.dim() < 3 or feature_dim is None:
        return 1
    if isinstance(feature_dim, bool) or not isinstance(feature_dim, int):
        raise TypeError(f"`{name}` must be an int or None, got {feature_dim!r}.")
    if not -x.dim() <= feature_dim < x.dim():
        raise ValueError(f"`{name}`={feature_dim} is out of range for a rank-{x.dim()} input.")
    axis = feature_dim % x.dim()
    if axis == 0:
        raise ValueError(f"`{name}` cannot be the batch axis 0.")
    return 2 if axis == 1 else 1


@dataclass(frozen=True)
class Regions:
    """Region id of every cell (``ids``, one row per input, flattened over the
    non-batch axes) and the number of regions of each input."""

    ids: tuple[Tensor, ...]
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)


def build_regions(
    xs: tuple[Tensor, ...], feature_dim: object, patch_size: int, feature_wise: bool
) -> Regions:
    """Number the regions of every input tensor; the last patch of a series whose
    length is not a multiple of ``patch_size`` is shorter."""
    ids, counts, offset = [], [], 0
    for x, fdim in zip(xs, per_input(feature_dim, len(xs), "feature_dim")):
        t_axis = time_axis(x, fdim)
        shape = x.shape[1:]
        n_time = shape[t_axis - 1]
        n_patches = -(-n_time // patch_size)
        patch = torch.arange(n_time, device=x.device) // patch_size  # (T,)
        view = [1] * len(shape)
        view[t_axis - 1] = n_time
        patch = patch.view(view).expand(shape)
        if feature_wise:
            n_other = math.prod(shape) // n_time
            others = [s for d, s in enumerate(shape) if d != t_axis - 1]
            # index of each cell among the cells of its time step
            within = torch.arange(n_other, device=x.device).view(1, *others).expand(n_time, *others)
            region = patch * n_other + within.movedim(0, t_axis - 1)
            n_regions = n_patches * n_other
        else:
            region = patch
            n_regions = n_patches
        ids.append(region.reshape(-1) + offset)
        counts.append(n_regions)
        offset += n_regions
    return Regions(tuple(ids), tuple(counts))


def region_scores(attributions: tuple[Tensor, ...], regions: Regions) -> Tensor:
    """``(B, L)`` summed attribution of every region, in :func:`accumulation_dtype`."""
    batch = attributions[0].shape[0]
    dtype = accumulation_dtype(attributions[0].dtype)
    out = attributions[0].new_zeros(batch, regions.total, dtype=dtype)
    for a, ids in zip(attributions, regions.ids):
        out.scatter_add_(1, ids.expand(batch, -1), a.reshape(batch, -1).to(dtype))
    return out


def rank_positions(scores: Tensor, order: str) -> Tensor:
    """``(B, L)`` rank of every region: 0 for the first region removed.

    ``"morf"`` removes the most relevant region first, ``"lerf"`` the least
    relevant; ties go to the earlier region (stable sort).
    """
    key = -scores if order == "morf" else scores
    perm = torch.sort(key, dim=1, stable=True).indices
    ranks = torch.arange(scores.shape[1], device=scores.device).expand_as(perm)
    return torch.empty_like(perm).scatter_(1, perm, ranks)


def cell_positions(positions: Tensor, regions: Regions) -> tuple[Tensor, ...]:
    """Per input, the ``(B, N)`` rank of the region each cell belongs to."""
    batch = positions.shape[0]
    return tuple(positions.gather(1, ids.expand(batch, -1)) for ids in regions.ids)


def check_order(order: str) -> str:
    if order not in ORDERS:
        raise ValueError(f"`order` must be 'morf' (most relevant first) or 'lerf', got {order!r}.")
    return order


# --------------------------------------------------------------------------- attributions and removal values


def check_attributions(
    attributions: object, xs: tuple[Tensor, ...], name: str = "attributions"
) -> tuple[Tensor, ...]:
    """Detached attributions shaped like the inputs (axes of size 1 are broadcast,
    e.g. ``(B, T, 1)`` maps summed over features)."""
    attrs = attributions if isinstance(attributions, tuple) else (attributions,)
    if len(attrs) != len(xs):
        raise ValueError(f"`{name}` has {len(attrs)} tensors but there are {len(xs)} input tensors.")
    out = []
    for i, (a, x) in enumerate(zip(attrs, xs)):
        where = name if len(xs) == 1 else f"{name}[{i}]"
        if not isinstance(a, Tensor):
            raise TypeError(f"`{where}` must be a torch.Tensor, got {type(a).__name__}.")
        ok = a.dim() == x.dim() and a.shape[0] == x.shape[0]
        ok = ok and all(s in (1, t) for s, t in zip(a.shape[1:], x.shape[1:]))
        if not ok:
            raise ValueError(
                f"`{where}` has shape {tuple(a.shape)} but the input has shape {tuple(x.shape)}; "
                "attributions must match the input (axes of size 1 are broadcast)."
            )
        if a.is_complex():
            raise TypeError(f"`{where}` is complex; pass real-valued attributions (e.g. `.abs()`).")
        a = a.detach().to(device=x.device)
        if not a.is_floating_point():  # integer or boolean maps are rankings: compared as floats
            a = a.to(x.dtype)
        if not bool(torch.isfinite(a).all()):
            raise ValueError(f"`{where}` contains NaN or Inf values.")
        out.append(a.expand(x.shape))
    return tuple(out)


def removal_values(baselines: object, xs: tuple[Tensor, ...], name: str = "baselines") -> tuple[Tensor, ...]:
    """Per input, the value that replaces removed cells, broadcast to the input:
    a number, or a tensor broadcastable to the input (``(T, F)``, ``(1, T, F)``,
    ``(B, T, F)``...); a tuple gives one per input."""
    values = baselines if isinstance(baselines, tuple) else (baselines,) * len(xs)
    if len(values) != len(xs):
        raise ValueError(f"`{name}` has {len(values)} entries but there are {len(xs)} input tensors.")
    out = []
    for i, (b, x) in enumerate(zip(values, xs)):
        where = name if len(xs) == 1 else f"{name}[{i}]"
        if isinstance(b, bool) or not isinstance(b, (int, float, Tensor)):
            raise TypeError(f"`{where}` must be a number or a tensor, got {type(b).__name__}.")
        b = torch.as_tensor(b, dtype=x.dtype, device=x.device)
        try:
            shape = torch.broadcast_shapes(b.shape, x.shape)
        except RuntimeError:
            shape = None
        if shape != x.shape:
            raise ValueError(
                f"`{where}` of shape {tuple(b.shape)} does not broadcast to the input shape {tuple(x.shape)}."
            )
        if not bool(torch.isfinite(b).all()):
            raise ValueError(f"`{where}` contains NaN or Inf values.")
        out.append(b.expand(x.shape))
    return tuple(out)


def blur_along_time(x: Tensor, feature_dim: int | None, sigma: float | None = None) -> Tensor:
    """Gaussian blur of every feature along time (kernel radius ``ceil(3 sigma)``,
    counted as :func:`~captum_ts.metrics._counts.count_of` does; edge values repeated
    at the ends), computed in float32 at least. ``sigma=None`` uses ``T / 14``, the
    ratio of the 16-pixel blur to 224-pixel images in the Guided AbsoluteGrad paper.

    >>> import torch
    >>> blur_along_time(torch.tensor([[0.0, 0.0, 3.0, 0.0, 0.0]]), None, sigma=1.0)
    tensor([[0.1620, 0.7261, 1.1972, 0.7261, 0.1620]])
    """
    t_axis = time_axis(x, feature_dim)
    n_time = x.shape[t_axis]
    share = Fraction(n_time, 14) if sigma is None else float(sigma)
    if not math.isfinite(share) or share < 0:
        raise ValueError(f"`blur_sigma` must be a finite number >= 0, got {sigma}.")
    if share == 0:
        return x.clone()
    radius = count_of(share, 3)
    dtype = accumulation_dtype(x.dtype)
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=dtype)
    kernel = torch.exp(-0.5 * (offsets / float(share)) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    moved = x.movedim(t_axis, -1).to(dtype)
    rows = moved.reshape(-1, 1, n_time)
    padded = torch.nn.functional.pad(rows, (radius, radius), mode="replicate")
    blurred = torch.nn.functional.conv1d(padded, kernel).reshape(moved.shape)
    return blurred.movedim(-1, t_axis).to(x.dtype).contiguous()


# --------------------------------------------------------------------------- chunked forwards


def check_finite_scores(scores: Tensor) -> Tensor:
    """``scores`` (the selected model outputs) if all are finite, else a ValueError."""
    if not bool(torch.isfinite(scores).all()):
        raise ValueError(
            "`forward_func` returned NaN or Inf for the target on the inputs or their perturbed "
            "copies, so the metric cannot score them; check the model's output (e.g. overflow in "
            "float16) and the removal values (`baselines`)."
        )
    return scores


def output_scores(output: Tensor, target: Target, softmax: bool) -> Tensor:
    """``(rows,)`` selected output in :func:`accumulation_dtype`, after a softmax over the
    last (class) axis when asked."""
    if not isinstance(output, Tensor):
        raise TypeError(f"`forward_func` must return a tensor, got {type(output).__name__}.")
    output = output.to(accumulation_dtype(output.dtype))
    if softmax:
        if output.dim() < 2:
            raise ValueError(
                "`softmax=True` needs a classifier output of shape (B, C) (or (B, ..., C)); "
                f"got {tuple(output.shape)}."
            )
        output = torch.softmax(output, dim=-1)
    return select_target(output, target)


def forward(
    forward_func: Callable,
    inputs: Sequence[Tensor],
    target: Target,
    additional_forward_args: object,
    softmax: bool = False,
) -> Tensor:
    """One forward pass; ``(rows,)`` selected scores, checked finite."""
    args = expand_additional_forward_args(additional_forward_args, 1)
    out = forward_func(*inputs, *args) if args is not None else forward_func(*inputs)
    return check_finite_scores(output_scores(out, target, softmax))


def predicted_class(
    forward_func: Callable, xs: Sequence[Tensor], additional_forward_args: object
) -> Tensor | None:
    """The target used when none is given: the ``(B,)`` arg-max class of a ``(B, C)``
    classifier on the unperturbed inputs, or None when the model already returns
    one value per example ``(B,)``."""
    args = expand_additional_forward_args(additional_forward_args, 1)
    with torch.no_grad():
        out = forward_func(*xs, *args) if args is not None else forward_func(*xs)
    if isinstance(out, Tensor) and out.dim() == 1:
        return None
    if not isinstance(out, Tensor) or out.dim() != 2:
        raise ValueError(
            "`target=None` uses the predicted class, which needs a (B, C) classifier output; "
            "pass `target` explicitly."
        )
    if out.is_floating_point() and not bool(torch.isfinite(out).all()):
        raise ValueError(
            "`target=None` uses the predicted class, but `forward_func` returned NaN or Inf on the "
            "inputs; check the model or pass `target` explicitly."
        )
    return out.argmax(1)


def score_copies(
    forward_func: Callable,
    build: Callable[[int, int], tuple[Tensor, ...]],
    n_copies: int,
    batch: int,
    target: Target,
    additional_forward_args: object,
    max_examples_per_batch: int | None,
    softmax: bool = False,
) -> Tensor:
    """``(B, n_copies)`` scores of perturbed copies of every example, in
    :func:`accumulation_dtype`, checked finite.

    ``build(start, stop)`` returns the copies ``start..stop-1`` of every example,
    sample-major (``B * (stop - start)`` rows). Each chunk goes through the model
    in one forward under ``no_grad``; a chunk holds at most
    ``max_examples_per_batch`` rows (and at least one copy of every example).
    """
    per_chunk = per_example_chunk(n_copies, batch, rows_per_chunk=max_examples_per_batch)
    parts = []
    expanded: dict[int, tuple[object, Target, Tensor]] = {}  # per chunk size: args, target, row index
    with torch.no_grad():
        for start, stop in chunks(n_copies, per_chunk):
            n = stop - start
            rows = build(start, stop)
            if n not in expanded:
                tgt = expand_target(target, n)
                index = torch.arange(batch * n, device=rows[0].device)
                expanded[n] = (expand_additional_forward_args(additional_forward_args, n), tgt, index)
            args, tgt, index = expanded[n]
            out = forward_func(*rows, *args) if args is not None else forward_func(*rows)
            if not parts:  # the first chunk checks the output and the target with clear errors
                scores = output_scores(out, tgt, softmax)
            else:  # the same targets again: index directly
                out = out.to(accumulation_dtype(out.dtype))
                scores = _select_checked(torch.softmax(out, dim=-1) if softmax else out, tgt, index)
            parts.append(scores.reshape(batch, n))
    return check_finite_scores(torch.cat(parts, dim=1))


def score_target_copies(
    forward_func: Callable,
    xs: tuple[Tensor, ...],
    build: Callable[[int, int], tuple[Tensor, ...]],
    n_copies: int,
    target: object,
    additional_forward_args: object,
    max_examples_per_batch: int | None,
    softmax: bool,
) -> Tensor:
    """:func:`score_copies` with the model held by the metrics' guard, for ``target``
    (the predicted class of ``xs`` when it is None)."""
    batch = xs[0].shape[0]
    with guarded(forward_func):
        if target is None:
            target = predicted_class(forward_func, xs, additional_forward_args)
        return score_copies(
            forward_func,
            build,
            n_copies,
            batch,
            normalize_target(target, batch),
            additional_forward_args,
            max_examples_per_batch,
            softmax,
        )


def _select_checked(output: Tensor, target: Target, index: Tensor) -> Tensor:
    """``select_target`` without its checks, for targets already checked on the first chunk."""
    if target is None:
        return output.reshape(-1)
    if isinstance(target, tuple):
        return output[(slice(None), *target)]
    idx = target.to(output.device)
    if idx.dim() == 1:
        return output[index, idx]
    return output[(index, *idx.unbind(1))]


def flat_rows(values: tuple[Tensor, ...], xs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Each tensor broadcast to its input's shape and viewed as ``(B, 1, N)`` rows."""
    return tuple(v.expand(x.shape).reshape(x.shape[0], 1, -1) for v, x in zip(values, xs))


def masked_copies(
    positions: tuple[Tensor, ...],
    counts: Tensor,
    ranked: tuple[Tensor, ...],
    rest: tuple[Tensor, ...],
    xs: tuple[Tensor, ...],
) -> tuple[Tensor, ...]:
    """Copy ``j`` of every example takes ``ranked`` on the cells whose region rank
    is below ``counts[j]`` and ``rest`` elsewhere (both ``(B, 1, N)`` rows, see
    :func:`flat_rows`); returns ``B * len(counts)`` rows shaped like ``xs``,
    sample-major. Deletion: ``ranked`` = baseline, ``rest`` = input."""
    out = []
    for pos, top, other, x in zip(positions, ranked, rest, xs):
        mask = pos.unsqueeze(1) < counts.view(1, -1, 1)  # (B, S, N)
        out.append(torch.where(mask, top, other).view(x.shape[0] * counts.numel(), *x.shape[1:]))
    return tuple(out)


# --------------------------------------------------------------------------- explanation kwargs


def expand_explanation_kwargs(kwargs: dict, batch: int, n: int) -> dict:
    """Repeat the per-example explanation kwargs ``n`` times, sample-major, as
    Captum's ``sensitivity_max`` and ``NoiseTunnel`` do: ``target`` (lists and
    tensors), ``additional_forward_args``, ``baselines`` and ``feature_mask``
    (tensors whose dim 0 is the batch). Everything else passes unchanged."""
    if n == 1:
        return dict(kwargs)
    out = dict(kwargs)
    if "target" in kwargs:
        out["target"] = _expand_target_like_captum(kwargs["target"], n)
    if kwargs.get("additional_forward_args") is not None:
        out["additional_forward_args"] = expand_additional_forward_args(kwargs["additional_forward_args"], n)
    for key in ("baselines", "feature_mask"):
        if kwargs.get(key) is not None:
            value = kwargs[key]
            expanded = tuple(
                _expand_rows(v, batch, n) for v in (value if isinstance(value, tuple) else (value,))
            )
            out[key] = expanded if isinstance(value, tuple) else expanded[0]
    return out


def _expand_target_like_captum(target: object, n: int) -> object:
    if isinstance(target, list):
        return [t for t in target for _ in range(n)]
    if isinstance(target, Tensor) and target.numel() > 1:
        return target.repeat_interleave(n, dim=0)
    return target


def _expand_rows(value: object, batch: int, n: int) -> object:
    if isinstance(value, Tensor) and value.dim() > 0 and value.shape[0] == batch and batch > 1:
        return value.repeat_interleave(n, dim=0)
    return value


def as_tuple(value: object) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def as_container(xs: tuple[Tensor, ...], is_tuple: bool) -> Tensor | tuple[Tensor, ...]:
    return xs if is_tuple else xs[0]
