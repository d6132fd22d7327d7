"""LRP through ``nn.LSTM`` and ``nn.GRU`` (Arras, Montavon, Müller, Samek 2017).

The fused module is unrolled from its weights (every layer, both directions,
``batch_first``, ``proj_size``), time-major and vectorised over the batch: the hidden
states come from the fused kernel and the gates of all steps from a few products.
Relevance then runs the recurrence backwards: products of a gate and a signal send all
relevance to the signal, sums split it by LRP-epsilon in proportion to each summand.

* LSTM: ``c_t = f c_{t-1} + i g`` splits ``R(c_t)`` between ``c_{t-1}`` and ``g``;
  ``h_t = o tanh(c_t)`` (and the projection ``W_hr``) sends ``R(h_t)`` to ``c_t``;
  ``g``'s pre-activation ``W_g x_t + U_g h_{t-1} + b`` splits between ``x_t`` and ``h_{t-1}``.
* GRU: ``h_t = (1 - z) n + z h_{t-1}`` splits between ``n`` and ``h_{t-1}``;
  ``n = tanh(W_n x_t + b_in + r (U_n h_{t-1} + b_hn))`` between ``x_t`` and ``h_{t-1}``.

Biases and the initial state absorb their share. Step ``t`` needs the relevance of
step ``t + 1``, so that recurrence (four operations a step, the same for both layers)
and an LSTM's cell state (one a step) loop over time; everything else is done for
all steps at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .layers import LOW_PRECISION
from .propagation import inverse


@dataclass
class _Steps:
    """One layer-direction's unrolled forward, time-major ``(T, B, .)``, in processing order."""

    x: Tensor
    h_prev: Tensor
    h: Tensor
    signal: Tensor  # LSTM: g's pre-activation; GRU: n's pre-activation
    share: Tensor  # LSTM: i*g; GRU: (1 - z) * n
    keep: Tensor  # LSTM: f*c_{t-1}; GRU: z * h_{t-1}
    total: Tensor  # LSTM: c_t; GRU: h_t
    gate: Tensor | None = None  # GRU: r
    m: Tensor | None = None  # LSTM with projection: o * tanh(c_t)


def check_recurrent_call(module: nn.Module, args: tuple) -> None:
    """Refuse the calls the unrolled rule does not cover."""
    x = args[0]
    name = type(module).__name__
    if not isinstance(x, Tensor):
        raise TypeError(f"LRP through {name} needs a padded tensor input, not {type(x).__name__}.")
    if x.dim() != 3:
        raise ValueError(f"LRP through {name} needs a batched 3-D input, got shape {tuple(x.shape)}.")
    states = args[1] if len(args) > 1 else None
    states = states if isinstance(states, tuple) else (states,)
    if any(isinstance(s, Tensor) and s.requires_grad for s in states):
        raise ValueError(
            f"the initial state passed to {name} depends on the inputs; LRP treats initial states as "
            "constants. Pass a state without a graph (or none)."
        )


def unroll(
    module: nn.Module, x: Tensor, hx: object = None, output: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor | None, list]:
    """``module(x, hx)`` from its weights: ``(output, h_n, c_n, steps)``; ``steps`` holds
    every layer's directions, bottom to top (``c_n`` is ``None`` for a GRU). The hidden
    states come from the fused kernel, the top layer's from ``output`` (the module's own
    output) if given."""
    xt = x.transpose(0, 1) if module.batch_first else x  # time-major inside
    dirs = 2 if module.bidirectional else 1
    h0, c0 = _initial_states(module, xt, hx, dirs)
    top = None if output is None else (output.transpose(0, 1) if module.batch_first else output).to(xt.dtype)
    width = h0.shape[-1]
    layer_in, h_n, c_n, steps = xt, [], [], []
    for layer in range(module.num_layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            known = None
            if top is not None and layer == module.num_layers - 1:
                known = top[..., d * width : (d + 1) * width]
                known = known.flip(0) if d else known
            weights = _weights(module, layer, d, xt.dtype)
            seq = layer_in.flip(0) if d else layer_in
            if isinstance(module, nn.LSTM):
                s = _lstm_steps(seq, *weights, h0[k], c0[k], known)
                c_n.append(s.total[-1])
            else:
                s = _gru_steps(seq, *weights, h0[k], known)
            steps.append(s)
            outs.append(s.h.flip(0) if d else s.h)
            h_n.append(s.h[-1])
        layer_in = torch.cat(outs, -1)
    out = layer_in.transpose(0, 1) if module.batch_first else layer_in
    return out, torch.stack(h_n), torch.stack(c_n) if c_n else None, steps


def relevance(
    module: nn.Module,
    x: Tensor,
    hx: object,
    r_out: Tensor,
    r_hn: Tensor,
    r_cn: Tensor | None,
    eps: float,
    output: Tensor | None = None,
) -> Tensor:
    """The relevance of ``x`` given the relevances of ``module``'s outputs (``output``: the
    module's own output sequence, which spares one run of its top layer)."""
    lstm = isinstance(module, nn.LSTM)
    dirs = 2 if module.bidirectional else 1
    if x.dtype in LOW_PRECISION:  # float32 inside; autograd casts the result back
        x, r_out, r_hn = x.float(), r_out.float(), r_hn.float()
        r_cn = None if r_cn is None else r_cn.float()
    with torch.no_grad():
        _, _, _, steps = unroll(module, x.detach(), hx, output)
        r_top = r_out.transpose(0, 1) if module.batch_first else r_out
        for layer in reversed(range(module.num_layers)):
            width = r_top.shape[-1] // dirs
            r_in = 0
            for d in range(dirs):
                k = layer * dirs + d
                r_seq = r_top[..., d * width : (d + 1) * width]
                r_seq = r_seq.flip(0) if d else r_seq
                w_ih, w_hh, _, _, w_hr = _weights(module, layer, d, x.dtype)
                if lstm:
                    r_x = _lstm_relevance(steps[k], w_ih, w_hh, w_hr, r_seq, r_hn[k], r_cn[k], eps)
                else:
                    r_x = _gru_relevance(steps[k], w_ih, w_hh, r_seq, r_hn[k], eps)
                r_in = r_in + (r_x.flip(0) if d else r_x)
            r_top = r_in
    return r_top.transpose(0, 1) if module.batch_first else r_top


def _initial_states(module: nn.Module, xt: Tensor, hx: object, dirs: int) -> tuple[Tensor, Tensor]:
    n, batch = module.num_layers * dirs, xt.shape[1]
    hidden = module.hidden_size
    out = getattr(module, "proj_size", 0) or hidden
    if hx is None:
        return xt.new_zeros(n, batch, out), xt.new_zeros(n, batch, hidden)
    if isinstance(hx, tuple):
        return hx[0].detach().to(xt.dtype), hx[1].detach().to(xt.dtype)
    return hx.detach().to(xt.dtype), xt.new_zeros(n, batch, hidden)


def _weights(module: nn.Module, layer: int, d: int, dtype: torch.dtype) -> tuple:
    suffix = f"_l{layer}" + ("_reverse" if d else "")

    def get(name: str) -> Tensor | None:
        w = getattr(module, name + suffix, None)
        return None if w is None else w.detach().to(dtype)

    return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), get("weight_hr")


def _step_inputs(x: Tensor, weights: tuple, states: tuple, h_seq: Tensor | None) -> tuple[Tensor, Tensor]:
    """``(xh, h)``: every step's ``[x_t, h_{t-1}]`` in one ``(T, B, F + H)`` tensor, and every
    ``h_t``: ``h_seq`` if given, else the fused kernel's."""
    if h_seq is None:
        params = [w for w in weights if w is not None]
        lstm = len(states) == 2
        kernel, hx = (
            (torch.lstm, (states[0][None], states[1][None])) if lstm else (torch.gru, states[0][None])
        )
        h_seq = kernel(x, hx, params, weights[2] is not None, 1, 0.0, False, False, False)[0]
    xh = x.new_empty(*x.shape[:2], x.shape[-1] + h_seq.shape[-1])
    xh[..., : x.shape[-1]] = x
    xh[0, :, x.shape[-1] :] = states[0]
    xh[1:, :, x.shape[-1] :] = h_seq[:-1]
    return xh, h_seq


def _product(inputs: Tensor, w: Tensor, b: Tensor | None, rows: slice) -> Tensor:
    """``inputs W[rows]^T + b[rows]`` for every step at once, ``(T, B, rows)``, contiguous."""
    flat = inputs.reshape(-1, inputs.shape[-1])
    out = flat @ w[rows].T if b is None else torch.addmm(b[rows], flat, w[rows].T)
    return out.view(*inputs.shape[:2], -1)


def _sum(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    return a if b is None else b if a is None else a + b


def _lstm_steps(x, w_ih, w_hh, b_ih, b_hh, w_hr, h, c, h_seq=None) -> _Steps:
    """Every ``h_t`` from the fused kernel, then the gates for all steps at once; only the
    cell's linear recurrence ``c_t = f c_{t-1} + i g`` stays a loop (one fused op per step)."""
    xh, h_seq = _step_inputs(x, (w_ih, w_hh, b_ih, b_hh, w_hr), (h, c), h_seq)
    w, bias, hidden = torch.cat([w_ih, w_hh], 1), _sum(b_ih, b_hh), w_hh.shape[0] // 4
    i_f = _product(xh, w, bias, slice(0, 2 * hidden)).sigmoid_()
    g_pre = _product(xh, w, bias, slice(2 * hidden, 3 * hidden))
    i, f = i_f[..., :hidden], i_f[..., hidden:]
    share = g_pre.tanh().mul_(i)
    c_all = share.new_empty(x.shape[0] + 1, *share.shape[1:])
    c_all[0] = c
    cs = c_all.unbind()  # views made in one call: no indexing inside the loop
    for share_t, f_t, c_prev, c_t in zip(share.unbind(), f.unbind(), cs, cs[1:]):
        torch.addcmul(share_t, f_t, c_prev, out=c_t)
    total, m = c_all[1:], None
    if w_hr is not None:  # the output gate only matters before a projection
        m = total.tanh().mul_(_product(xh, w, bias, slice(3 * hidden, 4 * hidden)).sigmoid_())
    return _Steps(x, xh[..., x.shape[-1] :], h_seq, g_pre, share, f * c_all[:-1], total, m=m)


def _gru_steps(x, w_ih, w_hh, b_ih, b_hh, w_hr, h, h_seq=None) -> _Steps:
    """Every ``h_t`` from the fused kernel, then the gates for all steps at once."""
    xh, h_seq = _step_inputs(x, (w_ih, w_hh, b_ih, b_hh), (h,), h_seq)
    h_prev, hidden = xh[..., x.shape[-1] :], w_hh.shape[0] // 3
    cand = slice(2 * hidden, 3 * hidden)
    rz = _product(xh, torch.cat([w_ih, w_hh], 1), _sum(b_ih, b_hh), slice(0, 2 * hidden)).sigmoid_()
    r, z = rz[..., :hidden], rz[..., hidden:]
    signal = torch.addcmul(_product(x, w_ih, b_ih, cand), r, _product(h_prev, w_hh, b_hh, cand))
    share, keep = (1 - z) * signal.tanh(), z * h_prev
    return _Steps(x, h_prev, h_seq, signal, share, keep, share + keep, gate=r)


def _backward_recurrence(
    r_seq: Tensor, u_last: Tensor, carry: Tensor, gated: Tensor, h_prev: Tensor, u_mat: Tensor
) -> Tensor:
    """Every step's relevance ``U`` of the summed state (LSTM: ``c_t``, GRU: ``h_t``) from
    ``U_{t-1} = R(seq)_{t-1} + carry_t U_t + h_{t-1} ((gated_t U_t) u_mat)``: four ops a step."""
    us = torch.empty_like(carry)
    us[-1] = u_last
    u_next = us[-1]
    steps = (a.unbind()[::-1] for a in (us[:-1], r_seq[:-1], carry[1:], gated[1:], h_prev[1:]))
    for u, r_t, carry_t, gated_t, h_t in zip(*steps):  # views made in one call each
        back = torch.mm(gated_t * u_next, u_mat)
        torch.addcmul(torch.addcmul(r_t, carry_t, u_next), h_t, back, out=u)
        u_next = u
    return us


def _ratios(s: _Steps, eps: float) -> tuple[Tensor, Tensor]:
    """``keep / total`` (what the kept state gets) and ``share / total / signal`` (the signal's
    relevance per unit of its pre-activation)."""
    inv_total = inverse(s.total, eps)
    ratio = s.share * inv_total
    ratio.mul_(inverse(s.signal, eps))
    return inv_total.mul_(s.keep), ratio


def _lstm_relevance(s: _Steps, w_ih, w_hh, w_hr, r_seq, r_h, r_c, eps) -> Tensor:
    """``u_t = R(c_t)``: ``R(c_{t-1}) = keep/c_t u_t``, ``R(g_t) = share/c_t u_t`` split by ``g``'s
    pre-activation between ``x_t`` and ``h_{t-1}``."""
    hidden = s.total.shape[-1]
    w_g, u_g = w_ih[2 * hidden : 3 * hidden], w_hh[2 * hidden : 3 * hidden]
    carry, ratio = _ratios(s, eps)
    if w_hr is None:
        us = _backward_recurrence(r_seq, r_seq[-1] + r_h + r_c, carry, ratio, s.h_prev, u_g)
    else:  # h_t = W_hr (o tanh c_t): LRP-epsilon through the projection at every step
        inv_h, us = inverse(s.h, eps), torch.empty_like(carry)
        for t in reversed(range(len(us))):
            r_m = s.m[t] * (((r_seq[t] + r_h) * inv_h[t]) @ w_hr)
            torch.add(r_m, r_c, out=us[t])
            r_c, r_h = carry[t] * us[t], s.h_prev[t] * ((ratio[t] * us[t]) @ u_g)
    return s.x * (ratio.mul_(us) @ w_g)


def _gru_relevance(s: _Steps, w_ih, w_hh, r_seq, r_h, eps) -> Tensor:
    """``v_t = R(h_t)``: ``R(h_{t-1}) = keep/h_t v_t + h_{t-1} U_n^T (r share/h_t/a_t v_t)``."""
    hidden = s.total.shape[-1]
    w_n, u_n = w_ih[2 * hidden :], w_hh[2 * hidden :]
    carry, ratio = _ratios(s, eps)
    vs = _backward_recurrence(r_seq, r_seq[-1] + r_h, carry, s.gate * ratio, s.h_prev, u_n)
    return s.x * (ratio.mul_(vs) @ w_n)
