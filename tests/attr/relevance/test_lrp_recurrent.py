"""LRP through nn.LSTM and nn.GRU (Arras et al. 2017): unrolling, conservation, locality."""

import pytest
import torch
from torch import nn

from captum_ts import LRP
from captum_ts.attr.relevance import recurrent, rules
from captum_ts.attr.relevance.recurrent import unroll
from captum_ts.models import GRUClassifier

OPTIONS = [
    (nn.LSTM, {}),
    (nn.LSTM, {"num_layers": 2, "bidirectional": True, "batch_first": True, "proj_size": 2}),
    (nn.LSTM, {"num_layers": 3, "batch_first": False}),
    (nn.GRU, {}),
    (nn.GRU, {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    (nn.GRU, {"num_layers": 2, "bidirectional": True, "batch_first": False}),
]


class Head(nn.Module):
    """A recurrent layer whose last step (and last hidden state) feed a dense head."""

    def __init__(self, cls, kw, bias=True):
        super().__init__()
        self.rnn = cls(3, 4, bias=bias, **kw)
        self.batch_first = kw.get("batch_first", False)
        dirs = 2 if kw.get("bidirectional") else 1
        width = dirs * (kw.get("proj_size") or 4)
        self.head = nn.Linear(width + (kw.get("proj_size") or 4), 2, bias=False)

    def forward(self, x):
        seq, states = self.rnn(x if self.batch_first else x.transpose(0, 1))
        h_n = states[0] if isinstance(states, tuple) else states
        last = seq[:, -1] if self.batch_first else seq[-1]
        return self.head(torch.cat([last, h_n[0]], -1))


@pytest.mark.parametrize(("cls", "kw"), OPTIONS)
def test_unrolled_forward_equals_the_torch_module(cls, kw):
    module = cls(3, 5, **kw)
    x = torch.randn(4, 7, 3)  # (B, T, F) with batch_first, (T, B, F) without
    n_states = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    batch = 4 if kw.get("batch_first") else 7
    hx = torch.randn(n_states, batch, kw.get("proj_size") or 5)
    if cls is nn.LSTM:
        hx = (hx, torch.randn(n_states, batch, 5))
    seq, states = module(x, hx)
    out, h_n, c_n, _ = unroll(module, x, hx)
    assert (out - seq).abs().max() < 1e-6
    if cls is nn.LSTM:
        assert (h_n - states[0]).abs().max() < 1e-6 and (c_n - states[1]).abs().max() < 1e-6
    else:
        assert (h_n - states).abs().max() < 1e-6


@pytest.mark.parametrize(("cls", "kw"), OPTIONS)
def test_relevance_is_conserved_without_biases(cls, kw):
    torch.manual_seed(1)
    model = Head(cls, kw, bias=False).double()
    x = torch.randn(5, 9, 3, dtype=torch.float64)
    lrp = LRP(model, rules={cls: rules.recurrent(1e-9)})
    attr, delta = lrp.attribute(x, target=1, return_convergence_delta=True)
    out = model(x)[:, 1].detach()
    assert attr.shape == x.shape
    assert float((delta.abs() / out.abs()).max()) < 1e-4


def hand_made(cls):
    """One feature; two units that store x only where |x| > 1, then hold it (forget ~ 1)."""
    module = cls(1, 2, batch_first=True)
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
        big = 20.0
        if cls is nn.LSTM:  # gates i, f, g, o
            module.weight_ih_l0[:2, 0] = torch.tensor([big, -big])  # i opens for x > 1 / x < -1
            module.bias_ih_l0[:2] = -big
            module.bias_ih_l0[2:4] = big  # f = 1
            module.weight_ih_l0[4:6, 0] = 1.0  # g = tanh(x)
            module.bias_ih_l0[6:8] = big  # o = 1
        else:  # gates r, z, n
            module.weight_ih_l0[2:4, 0] = torch.tensor([-big, big])  # z = 0 (take n) only for |x| > 1
            module.bias_ih_l0[2:4] = big
            module.weight_ih_l0[4:6, 0] = 1.0  # n = tanh(x)
    return module


class LastStep(nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn, self.head = rnn, nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            self.head.weight.fill_(1.0)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_label_set_by_one_early_step_gets_the_relevance(cls):
    torch.manual_seed(2)
    model = LastStep(hand_made(cls))
    x = (0.3 * torch.randn(16, 20, 1)).clamp(-0.5, 0.5)  # noise keeps the gates shut
    label = torch.randint(0, 2, (16,)) * 2.0 - 1
    x[:, 3, 0] = 3 * label
    assert bool((model(x)[:, 0].sign() == label).all())
    attr = LRP(model).attribute(x, target=0)[..., 0]
    share = attr[:, 3] / attr.sum(1)
    assert bool((attr.abs().argmax(1) == 3).all()) and float(share.min()) > 0.95


def test_gru_classifier_attribution_sums_to_output_minus_absorbed():
    torch.manual_seed(3)
    model = GRUClassifier(3, 2, hidden_size=6)
    x = torch.randn(4, 10, 3)
    attr, delta = LRP(model).attribute(x, target=1, return_convergence_delta=True)
    assert torch.allclose(attr.sum((1, 2)) + delta, model(x)[:, 1].detach(), atol=1e-5)


def test_initial_state_with_a_graph_is_refused():
    class Encoded(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.rnn = nn.Linear(3, 4), nn.GRU(3, 4, batch_first=True)

        def forward(self, x):
            return self.rnn(x, self.enc(x[:, 0])[None])[0][:, -1]

    with pytest.raises(ValueError, match="initial state passed to GRU depends on the inputs"):
        LRP(Encoded()).attribute(torch.randn(2, 5, 3), target=0)


def test_linear_rule_on_a_recurrent_layer_is_refused():
    with pytest.raises(ValueError, match=r"rule epsilon\(0.1\) cannot apply to a GRU layer"):
        LRP(GRUClassifier(3, 2), rules={nn.GRU: rules.epsilon(0.1)}).attribute(torch.randn(2, 5, 3), target=0)


@pytest.mark.parametrize("kw", [{}, {"proj_size": 3}, {"num_layers": 2, "bidirectional": True}])
def test_lstm_gates_rebuilt_from_the_fused_states_give_those_states_back(kw):
    # every h_t comes from the fused kernel, the gates and c_t from them: o * tanh(c_t), projected, is h_t
    torch.manual_seed(3)
    module = nn.LSTM(3, 5, batch_first=True, **kw).double()
    _, _, _, steps = unroll(module, torch.randn(4, 9, 3, dtype=torch.float64))
    for k, s in enumerate(steps):
        layer, d = divmod(k, 2 if kw.get("bidirectional") else 1)
        suffix = f"_l{layer}" + ("_reverse" if d else "")
        w_hh = getattr(module, "weight_hh" + suffix)
        o = torch.cat([s.x, s.h_prev], -1) @ torch.cat([getattr(module, "weight_ih" + suffix), w_hh], 1).T
        o = (o + getattr(module, "bias_ih" + suffix) + getattr(module, "bias_hh" + suffix))[
            ..., 15:
        ].sigmoid()
        m = o * s.total.tanh()
        h = m if "proj_size" not in kw else m @ getattr(module, "weight_hr" + suffix).T
        torch.testing.assert_close(h, s.h, atol=1e-12, rtol=0)


@pytest.mark.parametrize(("cls", "kw"), [o for o in OPTIONS if o[0] is nn.LSTM])
def test_lstm_steps_from_the_modules_own_output_equal_the_recomputed_ones(cls, kw):
    # the hook hands the module's output to the rule, which then skips one run of the top layer
    module = cls(3, 5, **kw).double()
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    seq, (_, c_n) = module(x)
    given = unroll(module, x, None, seq.detach())
    recomputed = unroll(module, x)
    torch.testing.assert_close(given[2], c_n.detach(), atol=1e-12, rtol=0)
    for a, b in zip(given[3], recomputed[3]):
        for field in ("h", "total", "share", "keep", "signal"):
            torch.testing.assert_close(getattr(a, field), getattr(b, field), atol=1e-12, rtol=0)


def _stab(z, eps):
    return z + eps * torch.where(z >= 0, 1.0, -1.0).to(z.dtype)


def _cell_by_steps(module, layer, d, seq, h, c, eps, r_seq=None, r_h=None, r_c=None):
    """Arras et al.'s rules for one layer-direction, one step at a time: the forward keeps
    every step's values, then (given ``r_seq``) relevance runs backwards. Returns the
    output sequence, or ``R(seq)``."""
    suffix = f"_l{layer}" + ("_reverse" if d else "")
    w = {
        n: getattr(module, n + suffix, None)
        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
    }
    lstm, width = isinstance(module, nn.LSTM), module.hidden_size
    saved, outs = [], []
    for t in range(seq.shape[1]):
        x = seq[:, t]
        gx = x @ w["weight_ih"].T + (0 if w["bias_ih"] is None else w["bias_ih"])
        gh = h @ w["weight_hh"].T + (0 if w["bias_hh"] is None else w["bias_hh"])
        if lstm:
            i, f, g_pre, o = (gx + gh).split(width, -1)
            i, f, o = i.sigmoid(), f.sigmoid(), o.sigmoid()
            c_new = f * c + i * g_pre.tanh()
            m = o * c_new.tanh()
            h_new = m if w["weight_hr"] is None else m @ w["weight_hr"].T
            saved.append((x, h, c, i, f, g_pre, m, c_new, h_new))
            c = c_new
        else:
            r, z = (gx + gh)[:, : 2 * width].sigmoid().split(width, -1)
            a = gx[:, 2 * width :] + r * gh[:, 2 * width :]
            h_new = (1 - z) * a.tanh() + z * h
            saved.append((x, h, r, z, a, h_new))
        h = h_new
        outs.append(h)
    if r_seq is None:
        return torch.stack(outs, 1)
    r_x = torch.zeros_like(seq)
    for t in reversed(range(seq.shape[1])):
        r_ht = r_seq[:, t] + r_h
        if lstm:
            x, h_prev, c_prev, i, f, g_pre, m, c_t, h_t = saved[t]
            r_m = r_ht if w["weight_hr"] is None else m * ((r_ht / _stab(h_t, eps)) @ w["weight_hr"])
            r_ct = r_m + r_c
            r_c = f * c_prev / _stab(c_t, eps) * r_ct
            r_signal = i * g_pre.tanh() / _stab(c_t, eps) * r_ct / _stab(g_pre, eps)
            w_x, w_h, gate = w["weight_ih"][2 * width : 3 * width], w["weight_hh"][2 * width : 3 * width], 1
        else:
            x, h_prev, r, z, a, h_t = saved[t]
            r_signal = (1 - z) * a.tanh() / _stab(h_t, eps) * r_ht / _stab(a, eps)
            r_h_keep = z * h_prev / _stab(h_t, eps) * r_ht
            w_x, w_h, gate = w["weight_ih"][2 * width :], w["weight_hh"][2 * width :], r
        r_x[:, t] = x * (r_signal @ w_x)
        r_h = h_prev * ((gate * r_signal) @ w_h) + (0 if lstm else r_h_keep)
    return r_x


def relevance_by_steps(module, x, hx, r_out, r_hn, r_cn, eps):
    """The module's input relevance from the plain step-by-step rules above."""
    dirs = 2 if module.bidirectional else 1
    xb = x if module.batch_first else x.transpose(0, 1)
    r_top = r_out if module.batch_first else r_out.transpose(0, 1)
    h0, c0 = hx if isinstance(hx, tuple) else (hx, hx)  # a GRU has no c
    inputs = [xb]
    for layer in range(module.num_layers):  # forward, to know every layer's input sequence
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            seq = inputs[-1].flip(1) if d else inputs[-1]
            out = _cell_by_steps(module, layer, d, seq, h0[k], c0[k], eps)
            outs.append(out.flip(1) if d else out)
        inputs.append(torch.cat(outs, -1))
    for layer in reversed(range(module.num_layers)):
        width, r_in = r_top.shape[-1] // dirs, 0
        for d in range(dirs):
            k = layer * dirs + d
            seq = inputs[layer].flip(1) if d else inputs[layer]
            r_seq = r_top[..., d * width : (d + 1) * width]
            r_seq = r_seq.flip(1) if d else r_seq
            r_c = r_cn[k] if isinstance(module, nn.LSTM) else 0
            r_x = _cell_by_steps(module, layer, d, seq, h0[k], c0[k], eps, r_seq, r_hn[k], r_c)
            r_in = r_in + (r_x.flip(1) if d else r_x)
        r_top = r_in
    return r_top if module.batch_first else r_top.transpose(0, 1)


@pytest.mark.parametrize(("cls", "kw"), [*OPTIONS, (nn.LSTM, {"bias": False, "proj_size": 2})])
@pytest.mark.parametrize(("eps", "shape"), [(1e-6, (4, 7)), (0.1, (4, 7)), (1e-6, (1, 1)), (1e-6, (3, 1))])
def test_relevance_equals_the_rules_applied_step_by_step(cls, kw, eps, shape):
    # the vectorised rule (fused states, all-steps products, one recurrence) against a plain per-step loop
    torch.manual_seed(4)
    module = cls(3, 5, **kw).double()
    x = torch.randn(*shape, 3, dtype=torch.float64)  # (B, T, F) with batch_first, (T, B, F) without
    n_states = module.num_layers * (2 if module.bidirectional else 1)
    batch = shape[0 if module.batch_first else 1]
    h0 = torch.randn(n_states, batch, kw.get("proj_size") or 5, dtype=torch.float64)
    hx = (h0, torch.randn(n_states, batch, 5, dtype=torch.float64)) if cls is nn.LSTM else h0
    seq, _ = module(x, hx)
    r_out = torch.randn_like(seq)
    r_hn = torch.randn_like(h0)
    r_cn = torch.randn_like(hx[1]) if cls is nn.LSTM else None
    want = relevance_by_steps(module, x, hx, r_out, r_hn, r_cn, eps)
    for given in (None, seq.detach()):  # recomputed top layer, and the module's own output
        got = recurrent.relevance(module, x, hx, r_out, r_hn, r_cn, eps, given)
        torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-10)
