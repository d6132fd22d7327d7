"""Guided AbsoluteGrad (Huang & Liu, Canadian AI 2024, arXiv:2404.15564)."""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import NamedTuple

import torch
from captum.attr import GradientAttribution
from captum.log import log_usage
from torch import Tensor

from ..._batching import chunks, per_example_chunk
from ..._compat import (
    TargetType,
    TensorOrTupleOfTensorsGeneric,
    _format_output,
    _format_tensor_into_tuples,
    _is_tuple,
    expand_additional_forward_args,
)
from ..._gradients import check_grad_mode, target_gradients
from ..._noise import NoiseStream
from ..._state import frozen_model
from ..._targets import expand_target, normalize_target
from ..._validation import (
    check_generator,
    check_inputs,
    check_nonnegative_float,
    check_positive_int,
    per_input,
)

NON_FINITE_OUTPUT = (
    "the model output contains NaN or Inf values for the noisy inputs; check the model "
    "(e.g. a log or division at 0, an overflow in float16) or lower the noise (`stdevs` or "
    "`noise_level`)."
)


class GuidedAbsoluteGrad(GradientAttribution):
    r"""Guided AbsoluteGrad: the sum of absolute gradients over noisy copies of the
    input, each element weighted by a guide built from how its gradient behaves
    across the noise draws.

    For ``N`` noisy copies :math:`x_i = x + \varepsilon_i`,
    :math:`\varepsilon_i \sim \mathcal N(0, \sigma^2)`, with gradients
    :math:`g_i = \partial f_c(x_i) / \partial x_i`, mean :math:`\bar g`, unbiased
    standard deviation :math:`s` and variance :math:`V = s^2` over the draws, the map is
    :math:`M = \sum_i |g_i| \odot W` with the guide

    * ``guide="stability"`` (default): :math:`W = |\bar g| / (|\bar g| + s)`, a
      signal-to-noise ratio in ``[0, 1]``: 1 where the gradient is the same in every
      draw, near 0 where its sign is a coin flip. Large *and* stable gradients keep
      their weight.
    * ``guide="variance"`` (the paper's): :math:`W = 1` where :math:`V > q_p(V)`, else
      :math:`W = V`, with :math:`q_p` the ``p``-quantile (``guide_quantile``, default
      0.85) per example and feature over time.
    * ``guide=None`` (or ``guide_quantile=0``): :math:`W = 1`, plain AbsoluteGrad.

    The noise std is ``stdevs`` itself, as in Captum's ``NoiseTunnel``, or
    ``noise_level`` times each example's value range ``max(x) - min(x)`` (the paper's
    spread; default ``noise_level=0.15`` when neither is given). The noise comes in
    antithetic pairs ``eps, -eps`` unless ``antithetic=False``. The paper's setting is
    :attr:`PAPER_SETTING` (``guide="variance", nt_samples=20, antithetic=False``). The
    map keeps the input's shape (the paper sums over channels; pass
    ``reduce_features=True`` for that). See
    docs/guided_absolute_grad.md for the evidence behind the defaults.

    The model runs in eval mode during the call (dropout off, BatchNorm on its
    running statistics, as the paper does) with its parameters frozen; its
    flags, mode and buffers are restored afterwards, also on errors, and calls on
    one model are serialised by a per-model lock. float16 and bfloat16 inputs are
    fed to the model as they are, while the noise, the statistics and the map are
    computed in float32; the map is returned in the input dtype.
    Do not wrap this method in ``NoiseTunnel``: it already averages over noise.

    Args:
        forward_func (Callable): the model or any function returning its output.

    Examples::

        >>> import torch
        >>> from captum_ts import GuidedAbsoluteGrad
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(30, 2))
        >>> x = torch.randn(4, 10, 3)
        >>> gag = GuidedAbsoluteGrad(model)
        >>> attr = gag.attribute(x, target=1, generator=torch.Generator().manual_seed(0))
        >>> attr.shape
        torch.Size([4, 10, 3])
    """

    #: the paper's setting: ``gag.attribute(x, target=y, **GuidedAbsoluteGrad.PAPER_SETTING)``
    PAPER_SETTING = MappingProxyType({"guide": "variance", "nt_samples": 20, "antithetic": False})

    def __init__(self, forward_func: Callable) -> None:
        GradientAttribution.__init__(self, forward_func)
        self.gradient_func = target_gradients

    @log_usage()
    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: object = None,
        nt_samples: int = 50,
        nt_samples_batch_size: int | None = None,
        stdevs: float | tuple[float, ...] | None = None,
        noise_level: float | tuple[float, ...] | None = None,
        guide: str | None = "stability",
        guide_quantile: float | None = None,
        antithetic: bool = True,
        reduce_features: bool = False,
        normalize: bool = True,
        feature_dim: int | tuple[int | None, ...] | None = -1,
        generator: torch.Generator | None = None,
    ) -> TensorOrTupleOfTensorsGeneric:
        r"""Attribute the target output to every input element.

        Args:
            inputs (Tensor or tuple[Tensor, ...]): series to explain, batch first:
                ``(B, T)``, ``(B, T, F)``, ``(B, F, T)`` or any rank Captum accepts.
            target (int, tuple, Tensor or list, optional): Captum's target: a class
                index for ``(B, C)`` outputs, ``(h, c)`` or a list of such tuples for
                ``(B, H, C)`` forecasters. It must select one scalar per example.
            additional_forward_args (Any, optional): extra arguments passed to the
                model after the inputs; per-example tensors are repeated with the
                noise samples.
            nt_samples (int): number of noisy copies ``N`` (paper: 20; 50 gives maps
                that two seeds agree on, docs/guided_absolute_grad.md). A guide needs
                the spread over the draws, so it needs ``N >= 2``.
            nt_samples_batch_size (int, optional): noisy copies per example in one
                forward/backward pass; ``None`` does all ``N`` at once. Memory does
                not grow with ``nt_samples`` for a fixed chunk size, and the result
                does not depend on it.
            stdevs (float or tuple[float, ...], optional): the noise std, as in
                ``NoiseTunnel``; one value per input allowed. Give ``stdevs`` or
                ``noise_level``, not both.
            noise_level (float or tuple[float, ...], optional): the noise std as a
                fraction of each example's value range (the paper's spread); 0.15 when
                neither ``stdevs`` nor ``noise_level`` is given.
            guide (str or None): ``"stability"`` (default), ``"variance"`` (the paper's)
                or ``None`` (plain AbsoluteGrad).
            guide_quantile (float, optional): ``p`` in ``[0, 1)`` of the variance guide
                (default 0.85); 0 switches any guide off (the paper's ``p = 0``).
            antithetic (bool): draw the noise in pairs ``eps, -eps`` (default). Every copy
                is still ``x + N(0, sigma^2)``, but the mean gradient, and with it the
                stability guide, loses most of its sampling error: two seeds give maps that
                agree more (docs/guided_absolute_grad.md). ``False`` draws every copy
                independently, as the paper and ``NoiseTunnel`` do.
            reduce_features (bool): sum the map over the feature axis (kept with
                size 1, so the result broadcasts against the input).
            normalize (bool): min-max normalise each example to ``[0, 1]`` (jointly
                over all input tensors). A constant map, e.g. the variance-guided map
                of a linear model (zero variance everywhere), carries no ranking and
                normalises to all ones, as in the reference code.
            feature_dim (int, None or tuple): the feature (channel) axis of each input:
                ``-1`` for ``(B, T, F)`` (default), ``1`` for ``(B, F, T)``. The guide
                quantile is taken per example and feature over the other axes.
                Rank-2 inputs ``(B, T)`` have no feature axis; ``None`` means none.
            generator (torch.Generator, optional): source of the noise, for
                reproducible maps; the noise is drawn on the generator's device.

        Returns:
            *Tensor* or *tuple[Tensor, ...]* of **attributions**, shaped like
            ``inputs`` (feature axis of size 1 with ``reduce_features``), in their
            dtype, contiguous, non-negative, in ``[0, 1]`` when ``normalize``.

        Raises:
            RuntimeError: under ``torch.inference_mode()``, or when the model's
                output has no autograd graph back to the inputs.
            ValueError: NaN/Inf model outputs or gradients, an unnormalised map
                that overflows the input dtype, bad arguments.
        """
        check_grad_mode("GuidedAbsoluteGrad")
        is_tuple = _is_tuple(inputs)
        xs = _format_tensor_into_tuples(inputs)
        batch = check_inputs(xs)
        check_positive_int(nt_samples, "nt_samples")
        check_positive_int(nt_samples_batch_size, "nt_samples_batch_size", allow_none=True)
        noise = _noise_spec(stdevs, noise_level, len(xs))
        guide, p = _guide_spec(guide, guide_quantile)
        if guide is not None and nt_samples == 1:
            raise ValueError(
                f"`nt_samples`=1 leaves the gradient's spread over the noise draws undefined, so "
                f"guide={guide!r} has nothing to weigh; pass nt_samples >= 2, or guide=None for plain "
                "AbsoluteGrad."
            )
        if not isinstance(antithetic, bool):
            raise TypeError(f"`antithetic` must be True or False, got {antithetic!r}.")
        check_generator(generator)
        fdims = [_feature_axis(x, d) for x, d in zip(xs, per_input(feature_dim, len(xs), "feature_dim"))]
        tgt = normalize_target(target, batch)

        with frozen_model(self.forward_func):
            stats = _run_noise(
                self.gradient_func,
                _finite_output(self.forward_func),
                xs,
                tgt,
                additional_forward_args,
                nt_samples,
                nt_samples_batch_size,
                noise,
                NoiseStream(
                    [tuple(x.shape) for x in xs],
                    antithetic=antithetic,
                    generator=generator,
                    device=xs[0].device,
                    dtype=torch.promote_types(xs[0].dtype, torch.float32),
                ),
            )
        maps = []
        for (abs_sum, mean, var), fdim in zip(stats, fdims):
            if guide == "variance":
                m = abs_sum * _variance_guide(var, p, fdim)
            elif guide == "stability":
                m = abs_sum * _stability_guide(mean, var)
            else:
                m = abs_sum
            if reduce_features and fdim is not None:
                m = m.sum(fdim, keepdim=True)
            maps.append(m)
        if normalize:
            maps = _minmax_per_example(maps)
        return _format_output(is_tuple, _in_input_dtypes(maps, xs))


def _finite_output(forward_func: Callable) -> Callable:
    """``forward_func`` with a clear error for NaN/Inf outputs."""

    def checked(*args: object) -> object:
        out = forward_func(*args)
        if isinstance(out, Tensor) and not bool(torch.isfinite(out).all()):
            raise ValueError(NON_FINITE_OUTPUT)
        return out

    return checked


def _in_input_dtypes(maps: list[Tensor], xs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """The maps cast to their inputs' dtypes, contiguous; an error where they overflow it."""
    out = tuple(m.to(x.dtype).contiguous() for m, x in zip(maps, xs))
    if not all(bool(torch.isfinite(m).all()) for m in out):
        raise ValueError(
            f"the unnormalised map overflows {xs[0].dtype}; pass normalize=True or float32 inputs."
        )
    return out


def _feature_axis(x: Tensor, feature_dim: int | None) -> int | None:
    """Resolve ``feature_dim`` to a positive axis, or None for rank-2 inputs."""
    if feature_dim is None or x.dim() < 3:
        return None
    if isinstance(feature_dim, bool) or not isinstance(feature_dim, int):
        raise TypeError(f"`feature_dim` must be an int or None, got {feature_dim!r}.")
    if not -x.dim() <= feature_dim < x.dim():
        raise ValueError(f"`feature_dim`={feature_dim} is out of range for a rank-{x.dim()} input.")
    axis = feature_dim % x.dim()
    if axis == 0:
        raise ValueError("`feature_dim` cannot be the batch axis 0.")
    return axis


#: the paper's noise: 15 % of each example's value range
DEFAULT_NOISE_LEVEL = 0.15
#: the paper's guide quantile (its "GAG-3")
DEFAULT_GUIDE_QUANTILE = 0.85
GUIDES = ("stability", "variance", None)


class NoiseSpec(NamedTuple):
    """The noise std per input: ``values`` as they are, or times each example's range."""

    values: tuple[float, ...]
    relative: bool


def _noise_spec(stdevs: object, noise_level: object, n_inputs: int) -> NoiseSpec:
    """Absolute ``stdevs`` (Captum's meaning) or range-relative ``noise_level``, never both."""
    spec = None
    for value, name, relative in ((stdevs, "stdevs", False), (noise_level, "noise_level", True)):
        if value is not None:
            values = tuple(check_nonnegative_float(v, name) for v in per_input(value, n_inputs, name))
            if spec is not None:
                raise ValueError(
                    "pass either `stdevs` (the noise std itself, as in Captum's NoiseTunnel) or "
                    "`noise_level` (the noise std as a fraction of each example's value range), not both."
                )
            spec = NoiseSpec(values, relative)
    return spec or NoiseSpec((DEFAULT_NOISE_LEVEL,) * n_inputs, relative=True)


def _guide_spec(guide: object, guide_quantile: object) -> tuple[str | None, float]:
    """The guide in use (None: plain AbsoluteGrad) and the variance guide's quantile."""
    if guide not in GUIDES:
        raise ValueError(f"`guide` must be 'stability', 'variance' or None, got {guide!r}.")
    if guide_quantile is None:
        return guide, DEFAULT_GUIDE_QUANTILE
    p = check_nonnegative_float(guide_quantile, "guide_quantile")
    if p >= 1:
        raise ValueError(f"`guide_quantile` must lie in [0, 1), got {guide_quantile}.")
    if p == 0:
        return None, 0.0  # the paper's p = 0: no guide, whichever was named
    if guide != "variance":
        raise ValueError(
            f"`guide_quantile` is the quantile of guide='variance' (the paper's guide); guide={guide!r} "
            "has none: pass guide='variance' with it, or leave `guide_quantile` unset."
        )
    return guide, p


def _noise_scales(xs: tuple[Tensor, ...], noise: NoiseSpec) -> list[Tensor | float]:
    """The noise std of every input: a float, or one value per example (``(B, 1, ...)``)."""
    if not noise.relative:
        return list(noise.values)
    return [
        s * (x.flatten(1).amax(1) - x.flatten(1).amin(1)).view(-1, *([1] * (x.dim() - 1)))
        for x, s in zip(xs, noise.values)
    ]


def _run_noise(
    gradient_func: Callable,
    forward_func: Callable,
    xs: tuple[Tensor, ...],
    target: object,
    additional_forward_args: object,
    n_samples: int,
    chunk_size: int | None,
    noise: NoiseSpec,
    draws: NoiseStream,
) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Stream the noise draws in chunks; return ``(sum |g|, mean g, unbiased var g)`` per input.

    Mean and variance are merged chunk by chunk (Chan et al.), so memory holds one
    chunk of gradients and three input-sized accumulators, and the statistics do
    not suffer the cancellation of the sum-of-squares formula. A variance at the
    rounding level of the mean is set to exactly zero. Noise and statistics are
    kept in at least float32 (float16/bfloat16 rows go to the model as they are).
    """
    batch = xs[0].shape[0]
    dtypes = [x.dtype for x in xs]
    xs = tuple(x.detach().to(torch.promote_types(x.dtype, torch.float32)) for x in xs)
    sigmas = _noise_scales(xs, noise)
    abs_sum = [torch.zeros_like(x) for x in xs]
    mean = [torch.zeros_like(x) for x in xs]
    m2 = [torch.zeros_like(x) for x in xs]
    seen = 0
    n_chunk = per_example_chunk(n_samples, batch, repeats_per_chunk=chunk_size)
    for start, stop in chunks(n_samples, n_chunk):
        # rows are copy-major: row k*B + b is the k-th noisy copy of example b
        n = stop - start
        eps = draws.take(n)
        noisy = tuple(
            (x + sigma * e.to(x.device, x.dtype)).reshape(n * batch, *x.shape[1:]).to(dtype)
            for x, sigma, e, dtype in zip(xs, sigmas, eps, dtypes)
        )
        grads = gradient_func(
            forward_func,
            noisy,
            expand_target(target, n, interleave=False),
            expand_additional_forward_args(additional_forward_args, n, interleave=False),
        )
        total = seen + n
        for i, g in enumerate(grads):
            # contiguous first: PyTorch's CPU reductions over a leading, strided axis are slow
            g = g.detach().to(xs[i].dtype).contiguous().view(n, batch, *xs[i].shape[1:])
            abs_sum[i] += g.abs().sum(0)
            chunk_mean = g.mean(0)
            chunk_m2 = (g - chunk_mean).square().sum(0)  # two passes: no cancellation
            if seen == 0:
                mean[i], m2[i] = chunk_mean, chunk_m2
                continue
            delta = chunk_mean - mean[i]
            m2[i] += chunk_m2 + delta.square() * (seen * n / total)
            mean[i] += delta * (n / total)
        seen = total
    var_scale = 1.0 / max(n_samples - 1, 1)  # the variance is unused (no guide) when n_samples == 1
    out = []
    for a, mu, v in zip(abs_sum, mean, m2):
        if not bool(torch.isfinite(a).all() & torch.isfinite(v).all()):
            raise ValueError(
                "the gradients of the target contain NaN or Inf values (e.g. a sqrt or log at 0, "
                "an overflow in float16); check the model or lower the noise (`stdevs` or `noise_level`)."
            )
        var = v * var_scale
        # identical gradients (a linear model) leave rounding-level variance: count it as zero
        floor = (n_samples * torch.finfo(var.dtype).eps * mu.abs()).square()
        out.append((a, mu, torch.where(var <= floor, torch.zeros_like(var), var)))
    return out


def _stability_guide(mean: Tensor, var: Tensor) -> Tensor:
    """``|mean g| / (|mean g| + std g)``: 1 where the gradient is the same for every draw, near 0
    where its sign flips from draw to draw; 1 where the gradient is zero throughout."""
    strength = mean.abs()
    total = strength + var.sqrt()
    return torch.where(total > 0, strength / torch.where(total > 0, total, 1.0), 1.0)


def _variance_guide(var: Tensor, p: float, feature_axis: int | None) -> Tensor:
    """Weight 1 where the variance exceeds its ``p``-quantile (per example and
    feature, over the remaining axes), the variance itself elsewhere."""
    v = var.unsqueeze(1) if feature_axis is None else var.movedim(feature_axis, 1)  # (B, F, ...)
    q = _quantile_last(v.flatten(2), p).view(*v.shape[:2], *([1] * (v.dim() - 2)))
    guided = torch.where(v > q, torch.ones_like(v), v)
    return guided.squeeze(1) if feature_axis is None else guided.movedim(1, feature_axis)


def _quantile_last(x: Tensor, p: float) -> Tensor:
    """``torch.quantile(x, p, dim=-1, keepdim=True)`` (linear interpolation) without
    its 16M-element limit."""
    s = x.sort(dim=-1).values
    pos = p * (x.shape[-1] - 1)
    lo = int(pos)
    hi = min(lo + 1, x.shape[-1] - 1)
    frac = pos - lo
    return s[..., lo : lo + 1] + frac * (s[..., hi : hi + 1] - s[..., lo : lo + 1])


def _minmax_per_example(maps: list[Tensor]) -> list[Tensor]:
    """Min-max scale each example to [0, 1] jointly over all tensors; constant -> ones."""
    lo = torch.stack([m.flatten(1).amin(1) for m in maps]).amin(0)
    hi = torch.stack([m.flatten(1).amax(1) for m in maps]).amax(0)
    span = hi - lo
    constant = span <= 0
    out = []
    for m in maps:
        view = (-1,) + (1,) * (m.dim() - 1)
        scaled = (m - lo.view(view)) / torch.where(constant, torch.ones_like(span), span).view(view)
        out.append(torch.where(constant.view(view), torch.ones_like(m), scaled))
    return out
