r"""Every cut-off's parameter-gradient norms from one forward pass.

The masked loss of cut-off ``h`` is linear in the per-step errors, so its
gradient is the vector-Jacobian product of the forecast with the masked
cotangent :math:`c^{(h)} = m^{(h)} \odot \partial L / \partial \hat y`, and the
anti-causal gradient is the full one minus the causal one. This module computes
them without one backward pass per cut-off and mode:

1. one forward with taps on the ``Linear``/``Conv1d`` layers (``_ham_taps``) and
   one backward of the full loss (the ``h = H`` gradient, also used to check the
   taps against autograd);
2. if the forecaster ends in a *step-local* head (``_ham_steps``), the head's
   norms for all cut-offs are prefix sums over steps, and the head's input
   signal of cut-off ``h`` is a prefix sum of per-step contributions, so the
   remaining backward starts at the head's input and never runs through it;
3. the remaining signals and parameter gradients are vector-Jacobian products
   batched over ``horizon_chunk_size`` cut-offs at once (``is_grads_batched``),
   falling back to one product per cut-off when the model's backward cannot be
   vectorised;
4. tapped layers' norms come from Gram matrices or outer products of their rows
   (``_ghost_norms``), never from per-cut-off weight gradients.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..._batching import chunks
from ._ghost_norms import LayerNorms, column_local_norms_sq, norm_dtype, sum_sq
from ._loss import ErrorFn, align_forecast, error_slopes, loss_scale
from ._steps import column_steps, only_through
from ._taps import TappedLayer, tappable_layers, tapped

NO_PARAMETER_GRAPH = (
    "the forecast has no autograd graph back to the model's trainable parameters: the forward "
    "runs under torch.no_grad()/torch.inference_mode() (a decorator or a block inside the model) "
    "or detaches its output (.detach(), numpy). Horizon Activation Mapping differentiates the "
    "parameters; remove the decorator or the detach."
)
#: with ``horizon_chunk_size=None``: about this many bytes of backprop signals per chunk ...
AUTO_CHUNK_BYTES = 256 * 2**20
#: ... and at most this many cut-offs (larger chunks run no faster on CPU: cache misses)
AUTO_CHUNK_MAX = 16


@dataclass
class BatchNorms:
    """Norms of one batch: ``(H+1, G, L)`` per mode, cut-off first."""

    causal: Tensor
    anticausal: Tensor
    backend: str
    head: str | None


class BatchedVJP:
    """Vector-Jacobian products for a stack of cotangents, batched with
    ``is_grads_batched`` and falling back to one product per cotangent for models
    whose backward has no batching rule."""

    def __init__(self) -> None:
        self.batched = True

    def __call__(self, output: Tensor, inputs: list[Tensor], cotangents: Tensor) -> list[Tensor]:
        if not inputs:
            return []
        m = cotangents.shape[0]
        grads = None
        if self.batched and m > 1:
            try:
                grads = torch.autograd.grad(
                    output,
                    inputs,
                    cotangents,
                    retain_graph=True,
                    allow_unused=True,
                    materialize_grads=True,
                    is_grads_batched=True,
                )
            except (RuntimeError, NotImplementedError):
                self.batched = False
        if grads is None:
            rows = [
                torch.autograd.grad(
                    output, inputs, c, retain_graph=True, allow_unused=True, materialize_grads=True
                )
                for c in cotangents
            ]
            grads = [torch.stack(g) for g in zip(*rows)]
        return [g if g.dim() == t.dim() + 1 else g.expand(m, *t.shape) for g, t in zip(grads, inputs)]


def horizon_norms(
    model: nn.Module,
    params: list[tuple[str, nn.Parameter]],
    forward: Callable[[], object],
    y_true: Tensor,
    error: str | ErrorFn,
    weights: Tensor,
    chunk_size: int | None,
    vjp: BatchedVJP,
    excluded: frozenset[str] = frozenset(),
) -> BatchNorms:
    """Causal and anti-causal norms of every parameter in ``params`` at every cut-off.

    ``forward()`` runs the model on the batch; ``y_true (B, H, V)``; ``weights (G, V)``
    averages the error over each group of variates.
    """
    trainable = {id(p) for _, p in params}
    layers = tappable_layers(model, trainable, excluded)
    param_ptrs = {p.data_ptr() for _, p in params}
    with tapped(layers) as record, _SavedBytes(param_ptrs) as saved:
        output = forward()
    pred = align_forecast(output, y_true)
    if not pred.requires_grad:
        raise RuntimeError(NO_PARAMETER_GRAPH)
    # slopes, norms and their sums in float32 for float16/bfloat16 models; float16's backward
    # runs on a cotangent scaled by a power of two (``loss_scale``), undone on the norms
    wide = norm_dtype(pred.dtype)
    batch, horizon, _ = pred.shape
    n_groups = weights.shape[0]
    slopes = error_slopes(pred.to(wide), y_true.to(wide), error)  # a callable's must be finite
    cot = slopes.unsqueeze(0) * weights.to(wide)[:, None, None, :] / (batch * horizon)
    scale = loss_scale(cot, pred.dtype)
    if scale != 1:
        cot = cot * scale
    cot = cot.to(pred.dtype)

    taps = [rec for rec in record.values() if rec.calls]
    tapped_params = {id(p) for rec in taps for p in _layer_params(rec, trainable)}
    generic = [(i, p) for i, (_, p) in enumerate(params) if id(p) not in tapped_params]
    index = {id(p): i for i, (_, p) in enumerate(params)}

    # the full loss: tap signals, generic gradients, and the tapped layers' own gradients as a check
    tap_tensors = [c.tap for rec in taps for c in rec.calls]
    checks = [p for rec in taps for p in _layer_params(rec, trainable)]
    full = vjp(pred, tap_tensors + [p for _, p in generic] + checks, cot)
    full_taps, rest = full[: len(tap_tensors)], full[len(tap_tensors) :]
    full_generic, full_checks = rest[: len(generic)], rest[len(generic) :]

    norms: dict[str, LayerNorms] = {}
    pos, bad = 0, set()
    check_iter = iter(full_checks)
    for rec in taps:
        signals = full_taps[pos : pos + len(rec.calls)]
        pos += len(rec.calls)
        has_bias = id(rec.module.bias) in trainable if rec.module.bias is not None else False
        ln = LayerNorms(rec.input_rows(), rec.signal_rows(signals), has_bias)
        norms[rec.name] = ln
        w_direct = next(check_iter).reshape(ln.full_weight_grad.shape)
        ok = _close(ln.full_weight_grad, w_direct)
        if has_bias:
            ok &= _close(ln.full_signal.sum(1), next(check_iter))
        if not ok:
            bad.add(rec.name)
    if bad:  # a tapped layer is used where its hooks cannot see: let autograd handle it
        return horizon_norms(model, params, forward, y_true, error, weights, chunk_size, vjp, excluded | bad)

    causal_sq = pred.new_zeros(horizon + 1, n_groups, len(params), dtype=wide)
    anti_sq = torch.zeros_like(causal_sq)

    def set_full(i: int, value_sq: Tensor) -> None:
        causal_sq[horizon, :, i] = value_sq
        anti_sq[0, :, i] = value_sq

    for (i, _), g in zip(generic, full_generic):
        set_full(i, g.reshape(n_groups, -1).to(wide).square().sum(1))
    for rec in taps:
        ln = norms[rec.name]
        set_full(index[id(rec.module.weight)], ln.full_weight_grad.square().sum((1, 2)))
        if ln.has_bias:
            set_full(index[id(rec.module.bias)], ln.full_signal.sum(1).square().sum(1))

    head, steps = _find_head(pred, taps, params, vjp)
    rest_layers = [rec for rec in taps if rec is not head]
    if head is not None:
        ln = norms[head.name]
        c, a = column_local_norms_sq(ln.full_weight_grad.square().sum(-1), steps, horizon)
        w = index[id(head.module.weight)]
        causal_sq[1:horizon, :, w], anti_sq[1:horizon, :, w] = c[:, 1:-1].T, a[:, 1:-1].T
        if ln.has_bias:
            c, a = column_local_norms_sq(ln.full_signal.sum(1).square(), steps, horizon)
            b = index[id(head.module.bias)]
            causal_sq[1:horizon, :, b], anti_sq[1:horizon, :, b] = c[:, 1:-1].T, a[:, 1:-1].T
        source = head.calls[0].input
        head_signals = _HeadSignals(head, ln.full_signal, steps, horizon)
    else:
        source = pred

    inputs = [c.tap for rec in rest_layers for c in rec.calls] + [p for _, p in generic]
    if inputs and horizon > 1 and source.requires_grad:
        # a cut-off's backward holds a few activation-sized signals and its own gradients
        per_cutoff = (4 * saved.largest + sum(t.numel() * t.element_size() for t in inputs)) * n_groups
        size = chunk_size or min(AUTO_CHUNK_MAX, max(1, AUTO_CHUNK_BYTES // max(per_cutoff, 1)))
        for s0, s1 in chunks(horizon - 1, size):
            k = s1 - s0
            if head is not None:
                cotangents = head_signals.cumulative(s0, s1)
            else:
                cutoffs = torch.arange(s0 + 1, s1 + 1, device=pred.device)
                mask = torch.arange(horizon, device=pred.device) < cutoffs[:, None]  # (K, H)
                cotangents = cot.unsqueeze(0) * mask[:, None, None, :, None].to(cot.dtype)
            grads = vjp(source, inputs, cotangents.flatten(0, 1))
            rows = slice(s0 + 1, s1 + 1)
            pos = 0
            for rec in rest_layers:
                signals = grads[pos : pos + len(rec.calls)]
                pos += len(rec.calls)
                sig = rec.signal_rows(signals)
                ln = norms[rec.name]
                w_c, w_a, b_c, b_a = ln.causal_anti_sq(sig.reshape(k, n_groups, *sig.shape[1:]))
                w = index[id(rec.module.weight)]
                causal_sq[rows, :, w], anti_sq[rows, :, w] = w_c, w_a
                if ln.has_bias:
                    b = index[id(rec.module.bias)]
                    causal_sq[rows, :, b], anti_sq[rows, :, b] = b_c, b_a
            for (i, _), g, g_full in zip(generic, grads[pos:], full_generic):
                g = g.reshape(k, n_groups, -1)
                causal_sq[rows, :, i] = sum_sq(g, 1)
                anti_sq[rows, :, i] = sum_sq(g_full.reshape(1, n_groups, -1) - g, 1)
    causal, anticausal = causal_sq.clamp_min(0).sqrt(), anti_sq.clamp_min(0).sqrt()
    if scale != 1:
        causal, anticausal = causal / scale, anticausal / scale
    if not bool(torch.isfinite(causal).all() & torch.isfinite(anticausal).all()):
        raise RuntimeError(
            f"the parameter gradients overflowed in {pred.dtype} (NaN or Inf norms); run the model in "
            "float32 (or bfloat16) for Horizon Activation Mapping."
        )
    return BatchNorms(
        causal,
        anticausal,
        "batched" if vjp.batched else "sequential",
        head.name if head is not None else None,
    )


def _layer_params(rec: TappedLayer, trainable: set[int]) -> list[Tensor]:
    """The tapped layer's trainable weight and bias, in that order."""
    return [p for p in (rec.module.weight, rec.module.bias) if p is not None and id(p) in trainable]


def _close(a: Tensor, b: Tensor) -> bool:
    tol = 10 * math.sqrt(max(torch.finfo(a.dtype).eps, torch.finfo(b.dtype).eps))
    return bool((a - b).norm() <= tol * max(float(a.norm()), float(b.norm())) + torch.finfo(a.dtype).tiny)


def _find_head(
    pred: Tensor, taps: list[TappedLayer], params: list[tuple[str, nn.Parameter]], vjp: BatchedVJP
) -> tuple[TappedLayer | None, Tensor | None]:
    """The step-local ``Linear`` head, if the forecaster ends in one, and its column steps."""
    calls = [(c.order, rec) for rec in taps for c in rec.calls]
    if not calls:
        return None, None
    head = max(calls, key=lambda oc: oc[0])[1]
    if not head.is_linear or len(head.calls) != 1:
        return None, None
    call = head.calls[0]
    leaves = [c.tap for rec in taps for c in rec.calls if c is not call] + [p for _, p in params]
    if not only_through(pred, call.node, leaves):
        return None, None
    steps = column_steps(lambda cots: head.signal_rows(vjp(pred, [call.tap], cots)), pred, head.out_features)
    return (head, steps) if steps is not None else (None, None)


class _HeadSignals:
    r"""The signal at the head's input for consecutive chunks of cut-offs.

    With a step-local head, the input signal of cut-off ``h`` is
    :math:`\sum_{t<h} P_t`, where :math:`P_t = \Delta_{:, J_t} W_{J_t}` gathers
    the head's columns :math:`J_t` that feed step ``t``: a prefix sum over steps,
    carried from one chunk to the next.
    """

    def __init__(self, head: TappedLayer, full_signal: Tensor, steps: Tensor, horizon: int) -> None:
        weight = head.module.weight.detach().to(full_signal.dtype)  # float32 for float16 models
        n_out = weight.shape[0]
        order = torch.argsort(steps, stable=True)
        counts = torch.bincount(steps, minlength=horizon)
        start = counts.cumsum(0) - counts
        slot = torch.arange(n_out, device=steps.device) - start[steps[order]]
        self.index = torch.full((horizon, int(counts.max())), n_out, dtype=torch.long, device=steps.device)
        self.index[steps[order], slot] = order
        self.signal = torch.cat([full_signal, full_signal.new_zeros(*full_signal.shape[:-1], 1)], -1)
        self.weight = torch.cat([weight, weight.new_zeros(1, weight.shape[1])])
        self.carry = full_signal.new_zeros(full_signal.shape[0], full_signal.shape[1], weight.shape[1])
        self.shape = head.calls[0].input.shape
        self.dtype = head.calls[0].input.dtype

    def cumulative(self, s0: int, s1: int) -> Tensor:
        """Input signals ``(K, G, *input.shape)`` of cut-offs ``s0+1 .. s1``."""
        index = self.index[s0:s1]
        flat = index.reshape(-1)  # index_select: advanced indexing is slow on a busy multi-threaded CPU
        signal = self.signal.index_select(-1, flat).view(*self.signal.shape[:-1], *index.shape)
        weight = self.weight.index_select(0, flat).view(*index.shape, -1)
        per_step = torch.einsum("gnkc,kci->kgni", signal, weight)
        cum = prefix_sum(per_step)
        cum += self.carry
        self.carry = cum[-1]
        return cum.reshape(s1 - s0, cum.shape[1], *self.shape).to(self.dtype)


class _SavedBytes:
    """The largest activation autograd saves during a forward (parameters excluded):
    the scale of one cut-off's backprop signals, to pick an automatic chunk size."""

    def __init__(self, param_ptrs: set[int]) -> None:
        self.param_ptrs = param_ptrs
        self.largest = 0
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def _pack(self, t: Tensor) -> Tensor:
        try:
            if t.data_ptr() not in self.param_ptrs:
                self.largest = max(self.largest, t.numel() * t.element_size())
        except RuntimeError:  # tensors without storage (sparse, nested): no estimate from them
            pass
        return t

    def __enter__(self) -> _SavedBytes:
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooks.__exit__(*exc)


def prefix_sum(x: Tensor, block: int = 8) -> Tensor:
    """Inclusive prefix sum along dim 0 (``torch.cumsum`` is a scalar loop on CPU):
    log-step scans inside blocks of ``block`` rows, across the block totals, and
    over the leftover rows: a handful of whole-tensor additions.

    >>> prefix_sum(torch.arange(40.0).view(20, 2))[-1].tolist()
    [380.0, 400.0]
    """
    k = x.shape[0]
    flat = x.reshape(k, -1)
    n_blocks = k // block
    main = n_blocks * block
    parts = []
    carry = None
    if n_blocks:
        blocks = _scan(flat[:main].view(n_blocks, block, -1), 1)
        totals = _scan(blocks[:, -1], 0)
        blocks[1:] += totals[:-1, None]
        parts.append(blocks.view(main, -1))
        carry = totals[-1]
    if main < k:
        tail = _scan(flat[main:], 0)
        if carry is not None:
            tail += carry
        parts.append(tail)
    out = parts[0] if len(parts) == 1 else torch.cat(parts)
    return out.view(x.shape)


def _scan(y: Tensor, dim: int) -> Tensor:
    """Inclusive scan along ``dim`` by doubling strides (log2 steps, two buffers)."""
    n, stride = y.shape[dim], 1
    src, dst = y, torch.empty_like(y)
    if n == 1:
        return dst.copy_(y)
    while stride < n:
        dst.narrow(dim, 0, stride).copy_(src.narrow(dim, 0, stride))
        torch.add(
            src.narrow(dim, stride, n - stride),
            src.narrow(dim, 0, n - stride),
            out=dst.narrow(dim, stride, n - stride),
        )
        src, dst = dst, (torch.empty_like(y) if src is y else src)
        stride *= 2
    return src
