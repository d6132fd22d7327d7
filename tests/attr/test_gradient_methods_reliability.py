"""GuidedAbsoluteGrad and SequenceDreaming under the conditions that break gradient methods:
no graph, NaN/Inf, train-mode models, threads, half precision, bad generators."""

import copy
import threading

import pytest
import torch
from torch import nn

from captum_ts import GuidedAbsoluteGrad
from captum_ts._gradients import NO_GRAPH
from captum_ts.attr.dreaming.sequence_dreaming import SequenceDreaming, random_starts

B, T, F = 3, 12, 2


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


class BatchNormDropoutNet(nn.Module):
    """Conv -> BatchNorm -> ReLU -> Dropout -> mean over time -> Linear, on (B, T, F)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(F, 4, 3, padding=1)
        self.norm = nn.BatchNorm1d(4)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        h = self.drop(torch.relu(self.norm(self.conv(x.transpose(1, 2)))))
        return self.head(h.mean(-1))


def train_mode_net():
    """A train-mode net whose BatchNorm has non-trivial running statistics."""
    torch.manual_seed(3)
    net = BatchNormDropoutNet()
    with torch.no_grad():
        for _ in range(3):
            net(2 + 3 * torch.randn(16, T, F))
    return net.train()


def state(model):
    """Everything a call could change: buffers, parameters, flags, grads, modes, hooks."""
    return (
        [b.clone() for b in model.buffers()],
        [p.detach().clone() for p in model.parameters()],
        [(p.requires_grad, None if p.grad is None else p.grad.clone()) for p in model.parameters()],
        [m.training for m in model.modules()],
        sum(len(m._forward_hooks) for m in model.modules()),
    )


def assert_same_state(a, b):
    for x, y in zip(a[0] + a[1], b[0] + b[1]):
        assert torch.equal(x, y)
    for (flag_a, grad_a), (flag_b, grad_b) in zip(a[2], b[2]):
        assert flag_a == flag_b and (grad_a is None) == (grad_b is None)
        assert grad_a is None or torch.equal(grad_a, grad_b)
    assert a[3:] == b[3:]


def gag(model, x, seed=0, **kw):
    return GuidedAbsoluteGrad(model).attribute(x, target=1, nt_samples=4, generator=gen(seed), **kw)


def dream(model, x, seed=0, **kw):
    kw = {"steps": 6, "start_noise": 0.1, "generator": gen(seed), **kw}
    return SequenceDreaming(model).attribute(x, target=1, **kw)


def dream_layer(model, x, seed=0, **kw):
    kw = {"steps": 6, "start_noise": 0.1, "generator": gen(seed), **kw}
    return SequenceDreaming(model, layer=model.conv).attribute(x, neuron_selector=2, **kw)


METHODS = {"gag": gag, "dream": dream, "dream_layer": dream_layer}
methods = pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))


class Counting(nn.Module):
    """Wraps a net, counts the forwards, and transforms the output."""

    def __init__(self, net, transform):
        super().__init__()
        self.net, self.transform, self.calls = net, transform, 0

    def forward(self, x):
        self.calls += 1
        return self.transform(self.net(x))

    @property
    def conv(self):
        return self.net.conv


# ----------------------------------------------------------------- no gradient, no map


@methods
def test_inference_mode_is_refused(method):
    model = train_mode_net()
    before = state(model)
    with torch.inference_mode(), pytest.raises(RuntimeError, match=r"inference_mode\(\)"):
        method(model, torch.randn(B, T, F))
    assert_same_state(before, state(model))


class NoGradNet(BatchNormDropoutNet):
    @torch.no_grad()
    def forward(self, x):
        return super().forward(x)


@methods
@pytest.mark.parametrize("broken", ["no_grad_decorator", "detached_output"])
def test_missing_graph_is_refused_at_the_first_forward(method, broken):
    if method is dream_layer and broken == "detached_output":
        pytest.skip("a layer objective reads the layer, not the detached output")
    net = NoGradNet() if broken == "no_grad_decorator" else BatchNormDropoutNet()
    model = Counting(net, (lambda out: out) if broken == "no_grad_decorator" else (lambda out: out.detach()))
    kw = {"nt_samples_batch_size": 1} if method is gag else {"steps": 50}
    with pytest.raises(RuntimeError, match="no autograd graph back to the inputs"):
        method(model, torch.randn(B, T, F), **kw)
    assert model.calls == 1  # before any optimisation step or a second noise chunk
    assert NO_GRAPH.startswith("the forward function returned an output with no autograd graph")


# ----------------------------------------------------------------- non-finite values


@methods
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_outputs_are_refused_at_the_first_forward(method, bad):
    net = BatchNormDropoutNet().eval()
    with torch.no_grad():
        net.conv.bias.fill_(bad)  # the layer read by dream_layer and the output are both non-finite
    model = Counting(net, lambda out: out)
    kw = {"nt_samples_batch_size": 1} if method is gag else {"steps": 50}
    with pytest.raises(ValueError, match=r"the model output .*contains NaN or Inf values"):
        method(model, torch.randn(B, T, F), **kw)
    assert model.calls == 1


def test_dream_that_overflows_is_refused():
    # exp of a growing sum: finite at the start, Inf after a few SGD steps
    def model(x):
        return torch.exp(20 * x.sum(1))

    with pytest.raises(ValueError, match="the dream reached NaN or Inf values"):
        SequenceDreaming(model).attribute(
            torch.zeros(2, T, 1), target=0, optimizer="sgd", lr=10.0, regularizers=(), steps=20
        )


def test_gag_refuses_non_finite_gradients():
    # sqrt(x^2) is finite at 0 but its gradient there is 0/0
    def model(x):
        return torch.sqrt(x.square()).sum(1)

    with pytest.raises(ValueError, match="the gradients of the target contain NaN or Inf"):
        GuidedAbsoluteGrad(model).attribute(torch.zeros(2, T, 1), target=0, nt_samples=3)


# ----------------------------------------------------------------- the user's model is never changed


@methods
def test_train_mode_model_gives_the_eval_result_and_is_restored(method):
    model = train_mode_net()
    before = state(model)
    x = torch.randn(B, T, F)
    first, second = method(model, x, seed=5), method(model, x, seed=5)
    evaluated = method(copy.deepcopy(model).eval(), x, seed=5)
    assert torch.equal(first, second)  # dropout is off: reproducible with a generator
    assert torch.equal(first, evaluated)
    assert_same_state(before, state(model))  # running statistics, flags, mode
    assert model.training and model.drop.training


@methods
def test_model_is_restored_when_the_call_raises(method):
    model = train_mode_net()
    model.head.weight.grad = torch.ones_like(model.head.weight)
    model.conv.bias.requires_grad_(False)
    before = state(model)

    def fails_on_second_forward(out):
        if wrapped.calls == 2:
            raise RuntimeError("second forward fails")
        return out

    wrapped = Counting(model, fails_on_second_forward)
    kw = {"nt_samples_batch_size": 1} if method is gag else {}
    with pytest.raises(RuntimeError, match="second forward fails"):
        method(wrapped, torch.randn(B, T, F), **kw)
    assert_same_state(before, state(model))


# ----------------------------------------------------------------- one object, several threads


def run_in_threads(call, n_threads=4, calls_each=3):
    """``call(seed)`` from ``n_threads`` threads started together; ``{seed: result}``."""
    results, errors = {}, []
    barrier = threading.Barrier(n_threads)

    def worker(t):
        barrier.wait()
        try:
            for k in range(calls_each):
                seed = t * calls_each + k
                results[seed] = call(seed)
        except Exception as err:
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    return results


@pytest.mark.parametrize("kind", ["gag", "dream_layer"])
def test_concurrent_calls_on_one_object_equal_serial_calls(kind):
    model = train_mode_net()
    before = state(model)
    x = torch.randn(B, T, F)
    if kind == "gag":
        attributor = GuidedAbsoluteGrad(model)

        def call(seed):
            return attributor.attribute(x, target=1, nt_samples=4, generator=gen(seed))
    else:
        attributor = SequenceDreaming(model, layer=model.conv)

        def call(seed):
            return attributor.attribute(x, neuron_selector=2, steps=6, start_noise=0.1, generator=gen(seed))

    serial = {seed: call(seed) for seed in range(12)}
    threaded = run_in_threads(call)
    assert sorted(threaded) == list(range(12))
    assert all(torch.equal(threaded[s], serial[s]) for s in serial)
    assert_same_state(before, state(model))


def test_layer_hook_records_only_its_own_thread():
    # a forward with no module in sight gets no lock: the hook itself must not mix calls
    model = BatchNormDropoutNet().eval()
    registry = {"model": model}

    def forward(x):
        return registry["model"](x)

    dreamer = SequenceDreaming(forward, layer=model.conv)
    x = torch.randn(B, T, F)

    def call(seed):
        return dreamer.attribute(x, neuron_selector=2, steps=6, start_noise=0.1, generator=gen(seed))

    serial = {seed: call(seed) for seed in range(12)}
    threaded = run_in_threads(call)
    assert all(torch.equal(threaded[s], serial[s]) for s in serial)
    assert not model.conv._forward_hooks


# ----------------------------------------------------------------- low precision


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float16, 2e-2), (torch.bfloat16, 6e-2)])
def test_gag_in_half_precision_is_finite_and_close_to_float32(dtype, tol):
    model = BatchNormDropoutNet().eval()
    x = torch.randn(B, T, F)
    ref = gag(model, x, guide_quantile=0)
    low = gag(copy.deepcopy(model).to(dtype), x.to(dtype), guide_quantile=0)
    assert low.dtype == dtype and low.shape == x.shape
    torch.testing.assert_close(low.float(), ref, atol=tol, rtol=0)
    guided = gag(copy.deepcopy(model).to(dtype), x.to(dtype))
    flat = guided.flatten(1).float()
    assert guided.dtype == dtype and bool(torch.isfinite(flat).all())
    assert torch.all(flat.amin(1) == 0) and torch.all(flat.amax(1) == 1)


def test_gag_refuses_an_unnormalised_map_that_overflows_float16():
    model = nn.Sequential(nn.Flatten(), nn.Linear(T, 1, bias=False)).half()
    nn.init.constant_(model[1].weight, 1e4)
    x = 1e-4 * torch.randn(2, T).half()
    small = GuidedAbsoluteGrad(model).attribute(x, target=0, nt_samples=2, guide_quantile=0, normalize=False)
    assert small.dtype == torch.float16 and torch.equal(small, torch.full_like(small, 2e4))
    with pytest.raises(ValueError, match=r"overflows torch.float16; pass normalize=True"):
        GuidedAbsoluteGrad(model).attribute(x, target=0, nt_samples=20, guide_quantile=0, normalize=False)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float16, 3e-2), (torch.bfloat16, 1e-1)])
def test_dreams_in_half_precision_are_finite_and_close_to_float32(dtype, tol):
    model = BatchNormDropoutNet().eval()
    x = random_starts(B, (T, F), generator=gen(1))
    ref, ref_traj = dream(model, x, steps=20, return_trajectory=True)
    low, traj = dream(copy.deepcopy(model).to(dtype), x.to(dtype), steps=20, return_trajectory=True)
    assert low.dtype == dtype and traj.dtype == dtype and traj.shape == (20, B)
    assert bool(torch.isfinite(low).all() and torch.isfinite(traj).all())
    torch.testing.assert_close(low.float(), ref, atol=tol, rtol=0)
    assert bool((traj[-1].float() > traj[0].float()).all())  # it climbs, as in float32
    assert bool((ref_traj[-1] > ref_traj[0]).all())


# ----------------------------------------------------------------- generator


@pytest.mark.parametrize("bad", [0, "seed", object()])
def test_generator_of_the_wrong_type_is_a_type_error(bad):
    model = BatchNormDropoutNet().eval()
    x = torch.randn(B, T, F)
    for call in (
        lambda: GuidedAbsoluteGrad(model).attribute(x, target=0, generator=bad),
        lambda: SequenceDreaming(model).attribute(x, target=0, steps=2, start_noise=0.1, generator=bad),
        lambda: random_starts(2, (T, F), generator=bad),
    ):
        with pytest.raises(TypeError, match=r"`generator` must be a torch\.Generator or None"):
            call()
