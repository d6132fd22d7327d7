"""LRP through ``nn.LSTM`` and ``nn.GRU`` (Arras, Montavon, Müller, Samek 2017).

The fused module is unrolled from its weights (every layer, both directions,
``batch_first``, ``proj_size``), vectorised over the batch; an LSTM takes its hidden
states from the fused kernel and rebuilds every gate from them in one product. Relevance then runs the
recurrence backwards: products of a gate and a signal send all relevance to the
signal, sums split it by LRP-epsilon in proportion to each summand.

* LSTM: ``c_t = f c_{t-1} + i g`` splits ``R(c_t)`` between ``c_{t-1}`` and ``g``;
  ``h_t = o tanh(c_t)`` (and the projection ``W_hr``) sends ``R(h_t)`` to ``c_t``;
  ``g``'s pre-activation ``W_g x_t + U_g h_{t-1} + b`` splits between ``x_t`` and ``h_{t-1}``.
* GRU: ``h_t = (1 - z) n + z h_{t-1}`` splits between ``n`` and ``h_{t-1}``;
  ``n = tanh(W_n x_t + b_in + r (U_n h_{t-1} + b_hn))`` between ``x_t`` and ``h_{t-1}``.

Biases and the initial state absorb their share. Step ``t`` needs the relevance of
step ``t + 1``, so both passes loop over time steps (inherent to a recurrence); the
input-side products are done for all steps at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .layers import LOW_PRECISION
from .propagation import inverse


@dataclass
class _Steps:
    """One layer-direction's unrolled forward, batch-first, in processing order."""

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
    """``module(x, hx)`` computed step by step: ``(output, h_n, c_n, steps)``; ``steps``
    holds every layer's directions, bottom to top (``c_n`` is ``None`` for a GRU). An LSTM
    takes its top layer's hidden states from ``output``, the module's own output, if given."""
    lstm = isinstance(module, nn.LSTM)
    xb = x if module.batch_first else x.transpose(0, 1)
    dirs = 2 if module.bidirectional else 1
    h0, c0 = _initial_states(module, xb, hx, dirs)
    top = None if output is None else (output if module.batch_first else output.transpose(0, 1)).to(xb.dtype)
    width = h0.shape[-1]
    layer_in, h_n, c_n, steps = xb, [], [], []
    for layer in range(module.num_layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            seq = layer_in.flip(1) if d else layer_in
            weights = _weights(module, layer, d, xb.dtype)
            if lstm:
                known = None
                if top is not None and layer == module.num_layers - 1:
                    known = top[..., d * width : (d + 1) * width]
                    known = known.flip(1) if d else known
                s = _lstm_steps(seq, *weights, h0[k], c0[k], known)
            else:
                s = _gru_steps(seq, *weights, h0[k])
            steps.append(s)
            outs.append(s.h.flip(1) if d else s.h)
            h_n.append(s.h[:, -1])
            if lstm:
                c_n.append(s.total[:, -1])
        layer_in = torch.cat(outs, -1)
    out = layer_in if module.batch_first else layer_in.transpose(0, 1)
    return out, torch.stack(h_n), torch.stack(c_n) if lstm else None, steps


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
    module's own output sequence, which spares an LSTM one run of its top layer)."""
    lstm = isinstance(module, nn.LSTM)
    dirs = 2 if module.bidirectional else 1
    if x.dtype in LOW_PRECISION:  # float32 inside; autograd casts the result back
        x, r_out, r_hn = x.float(), r_out.float(), r_hn.float()
        r_cn = None if r_cn is None else r_cn.float()
    with torch.no_grad():
        _, _, _, steps = unroll(module, x.detach(), hx, output)
        r_top = r_out if module.batch_first else r_out.transpose(0, 1)
        for layer in reversed(range(module.num_layers)):
            width = r_top.shape[-1] // dirs
            r_in = 0
            for d in range(dirs):
                k = layer * dirs + d
                r_seq = r_top[..., d * width : (d + 1) * width]
                r_seq = r_seq.flip(1) if d else r_seq
                w_ih, w_hh, _, _, w_hr = _weights(module, layer, d, x.dtype)
                if lstm:
                    r_x = _lstm_relevance(steps[k], w_ih, w_hh, w_hr, r_seq, r_hn[k], r_cn[k], eps)
                else:
                    r_x = _gru_relevance(steps[k], w_ih, w_hh, r_seq, r_hn[k], eps)
                r_in = r_in + (r_x.flip(1) if d else r_x)
            r_top = r_in
    return r_top if module.batch_first else r_top.transpose(0, 1)


def _initial_states(module: nn.Module, xb: Tensor, hx: object, dirs: int) -> tuple[Tensor, Tensor]:
    n, batch = module.num_layers * dirs, xb.shape[0]
    hidden = module.hidden_size
    out = getattr(module, "proj_size", 0) or hidden
    if hx is None:
        return xb.new_zeros(n, batch, out), xb.new_zeros(n, batch, hidden)
    if isinstance(hx, tuple):
        return hx[0].detach().to(xb.dtype), hx[1].detach().to(xb.dtype)
    return hx.detach().to(xb.dtype), xb.new_zeros(n, batch, hidden)


def _weights(module: nn.Module, layer: int, d: int, dtype: torch.dtype) -> tuple:
    suffix = f"_l{layer}" + ("_reverse" if d else "")

    def get(name: str) -> Tensor | None:
        w = getattr(module, name + suffix, None)
        return None if w is None else w.detach().to(dtype)

    return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), get("weight_hr")


def _affine(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    return (
        x @ w.T
        if b is None
        else torch.addmm(b, x.reshape(-1, x.shape[-1]), w.T).reshape(*x.shape[:-1], w.shape[0])
    )


def _lstm_steps(x, w_ih, w_hh, b_ih, b_hh, w_hr, h, c, h_seq=None) -> _Steps:
    """Every ``h_t`` (``h_seq``, else from the fused kernel), then all gates from one product;
    only the cell's linear recurrence ``c_t = f c_{t-1} + i g`` stays a loop (one fused op per step)."""
    if h_seq is None:
        params = [w for w in (w_ih, w_hh, b_ih, b_hh, w_hr) if w is not None]
        h_seq = torch.lstm(x, (h[None], c[None]), params, b_ih is not None, 1, 0.0, False, False, True)[0]
    h_all = torch.cat([h[:, None], h_seq], 1)
    bias = b_ih if b_hh is None else b_hh if b_ih is None else b_ih + b_hh
    a = _affine(torch.cat([x, h_all[:, :-1]], -1), torch.cat([w_ih, w_hh], 1), bias)  # one product
    hidden = a.shape[-1] // 4
    s = a.sigmoid()
    i, f, o = s[..., :hidden], s[..., hidden : 2 * hidden], s[..., 3 * hidden :]
    g_pre = a[..., 2 * hidden : 3 * hidden]
    share = i * g_pre.tanh()
    cs = [c]
    for t in range(x.shape[1]):
        cs.append(torch.addcmul(share[:, t], f[:, t], cs[-1]))
    c_all = torch.stack(cs, 1)
    keep = f * c_all[:, :-1]
    m = None if w_hr is None else o * c_all[:, 1:].tanh()
    return _Steps(x, h_all[:, :-1], h_all[:, 1:], g_pre, share, keep, keep + share, m=m)


def _gru_steps(x, w_ih, w_hh, b_ih, b_hh, w_hr, h) -> _Steps:
    """The recurrence keeps a few fused ops per step; everything else is done for all steps at once."""
    xw = _affine(x, w_ih, b_ih)
    hidden = xw.shape[-1] // 3
    w_hh_t = w_hh.T
    hs, rzs, signals = [h], [], []
    for t in range(x.shape[1]):
        hw = h @ w_hh_t if b_hh is None else torch.addmm(b_hh, h, w_hh_t)
        rz = (xw[:, t, : 2 * hidden] + hw[:, : 2 * hidden]).sigmoid()
        a = torch.addcmul(xw[:, t, 2 * hidden :], rz[:, :hidden], hw[:, 2 * hidden :])
        h = torch.lerp(a.tanh(), h, rz[:, hidden:])  # (1 - z) n + z h
        hs.append(h), rzs.append(rz), signals.append(a)
    h_all, rz, a = torch.stack(hs, 1), torch.stack(rzs, 1), torch.stack(signals, 1)
    r, z, h_prev = rz[..., :hidden], rz[..., hidden:], h_all[:, :-1]
    share, keep = (1 - z) * a.tanh(), z * h_prev
    return _Steps(x, h_prev, h_all[:, 1:], a, share, keep, share + keep, gate=r)


def _lstm_relevance(s: _Steps, w_ih, w_hh, w_hr, r_seq, r_h, r_c, eps) -> Tensor:
    """``u_t = R(c_t)``: ``R(c_{t-1}) = keep/c_t u_t``, ``R(g_t) = share/c_t u_t`` split by ``g``'s
    pre-activation; per step only the recurrence, the rest for all steps at once."""
    hidden = s.total.shape[-1]
    w_g, u_g = w_ih[2 * hidden : 3 * hidden], w_hh[2 * hidden : 3 * hidden]
    inv_total = inverse(s.total, eps)
    keep, ratio = s.keep * inv_total, s.share * inv_total * inverse(s.signal, eps)
    inv_h = None if w_hr is None else inverse(s.h, eps)
    us = []
    for t in reversed(range(s.x.shape[1])):
        r_ht = r_seq[:, t] + r_h
        r_m = r_ht if w_hr is None else s.m[:, t] * ((r_ht * inv_h[:, t]) @ w_hr)
        u = r_m + r_c
        r_c = keep[:, t] * u
        r_h = s.h_prev[:, t] * ((ratio[:, t] * u) @ u_g)
        us.append(u)
    return s.x * ((ratio * torch.stack(us[::-1], 1)) @ w_g)


def _gru_relevance(s: _Steps, w_ih, w_hh, r_seq, r_h, eps) -> Tensor:
    """``v_t = R(h_t)``: ``R(h_{t-1}) = keep/h_t v_t + h_{t-1} U_n^T (r share/h_t/a_t v_t)``;
    per step only the recurrence, the rest for all steps at once."""
    hidden = s.total.shape[-1]
    w_n, u_n = w_ih[2 * hidden :], w_hh[2 * hidden :]
    inv_total = inverse(s.total, eps)
    keep, ratio = s.keep * inv_total, s.share * inv_total * inverse(s.signal, eps)
    gated = s.gate * ratio
    vs = []
    for t in reversed(range(s.x.shape[1])):
        v = r_seq[:, t] + r_h
        r_h = torch.addcmul(keep[:, t] * v, s.h_prev[:, t], (gated[:, t] * v) @ u_n)
        vs.append(v)
    return s.x * ((ratio * torch.stack(vs[::-1], 1)) @ w_n)
