"""explain_loader / evaluate_loader: equal to one call, resumable, memmaps, and torch.distributed."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients, Saliency
from torch.utils.data import DataLoader, TensorDataset

import captum_ts
from captum_ts import GuidedAbsoluteGrad, HorizonActivationMap
from captum_ts.explain import evaluate_loader, explain_loader
from captum_ts.metrics import selectivity
from captum_ts.testing import make_model

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")


def data(n=11, t=12, f=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, t, f, generator=g), torch.randint(0, 2, (n,), generator=g)


@pytest.mark.parametrize("batch_size", [1, 3, 11, 20])
def test_loader_equals_one_call(batch_size):
    model = make_model("mlp", 12, 2, seed=1)
    x, y = data()
    ig = IntegratedGradients(model)
    streamed = explain_loader(ig, DataLoader(TensorDataset(x, y), batch_size=batch_size), n_steps=16)
    torch.testing.assert_close(streamed, ig.attribute(x, target=y, n_steps=16), atol=1e-6, rtol=1e-5)


def test_shuffled_loader_still_returns_dataset_order():
    model = make_model("cnn", 12, 2, seed=2)
    x, y = data()
    loader = DataLoader(
        TensorDataset(x, y), batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    streamed = explain_loader(Saliency(model), loader)
    torch.testing.assert_close(streamed, Saliency(model).attribute(x, target=y), atol=1e-6, rtol=1e-5)


def test_inputs_only_batches_and_fixed_target():
    model = make_model("linear", 12, 2, seed=3)
    x, _ = data()
    streamed = explain_loader(Saliency(model), DataLoader(x, batch_size=5), target=1)
    torch.testing.assert_close(streamed, Saliency(model).attribute(x, target=1))


def test_memmap_resume_gives_the_same_file(tmp_path):
    model = make_model("mlp", 12, 2, seed=4)
    x, y = data(n=13)

    class Interrupted(TensorDataset):
        broken = True

        def __getitem__(self, i):
            if self.broken and i == 9:  # the 4th batch of 3
                raise KeyboardInterrupt("simulated interruption")
            return super().__getitem__(i)

    dataset = Interrupted(x, y)
    loader = DataLoader(dataset, batch_size=3)
    with pytest.raises(KeyboardInterrupt):
        explain_loader(Saliency(model), loader, out=tmp_path / "run.npy")
    dataset.broken = False
    clean = explain_loader(Saliency(model), loader, out=tmp_path / "clean.npy").clone()
    lines = (tmp_path / "run.npy.progress-0.jsonl").read_text().splitlines()
    assert [json.loads(line).get("batch") for line in lines] == [None, 0, 1, 2]  # a header, then batches
    resumed = explain_loader(Saliency(model), loader, out=tmp_path / "run.npy", resume=True)
    assert np.array_equal(np.load(tmp_path / "run.npy"), np.load(tmp_path / "clean.npy"))
    torch.testing.assert_close(resumed, clean)


def test_results_over_the_memory_budget_go_to_a_memmap():
    model = make_model("mlp", 12, 2, seed=5)
    x, y = data()
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    small = explain_loader(Saliency(model), loader, memory_budget=10**9)
    with pytest.warns(UserWarning, match="exceed memory_budget; writing them to") as record:
        big = explain_loader(Saliency(model), loader, memory_budget=100)  # 11 * 12 * 2 * 4 bytes > 100
    path = next(str(w.message) for w in record if "memory_budget" in str(w.message)).rsplit(" ", 1)[1]
    on_disk = np.load(path, mmap_mode="r")
    assert on_disk.shape == (11, 12, 2)
    big[0, 0, 0] = 123.0  # the returned tensor is backed by the file
    assert np.load(path, mmap_mode="r")[0, 0, 0] == 123.0
    torch.testing.assert_close(small[1:], big[1:])


def test_tuple_inputs_and_seeded_stochastic_method():
    model = make_model("gru", 12, 2, seed=6)
    x, y = data()
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    a = explain_loader(GuidedAbsoluteGrad(model), loader, seed=7, nt_samples=3)
    b = explain_loader(GuidedAbsoluteGrad(model), loader, seed=7, nt_samples=3)
    assert torch.equal(a, b) and a.shape == x.shape
    # batch b uses a generator seeded with seed + b
    first = GuidedAbsoluteGrad(model).attribute(
        x[:4], target=y[:4], nt_samples=3, generator=torch.Generator().manual_seed(7)
    )
    torch.testing.assert_close(a[:4], first)


def test_evaluate_loader_per_example_and_mean():
    model = make_model("mlp", 12, 2, seed=8)
    x, y = data()

    def margin(inputs, target):
        out = model(inputs)
        return out[torch.arange(len(out)), target] - out.mean(1), out.softmax(1)

    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    with torch.no_grad():
        per_example = evaluate_loader(margin, loader)
        means = evaluate_loader(margin, loader, reduce="mean")
        direct = margin(x, y)
    torch.testing.assert_close(per_example[0], direct[0])
    torch.testing.assert_close(means[1].float(), direct[1].mean(0))
    with pytest.raises(ValueError, match="reduce"):
        evaluate_loader(margin, loader, reduce="sum")


def test_empty_loader_is_a_clear_error():
    with pytest.raises(ValueError, match="empty"):
        explain_loader(
            Saliency(make_model("mlp", 12, 2)), DataLoader(TensorDataset(torch.zeros(0, 12, 2)), batch_size=2)
        )


def _same_code_env():
    """The worker processes import the captum_ts under test, not another installed copy."""
    root = os.path.dirname(os.path.dirname(captum_ts.__file__))
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


WORKER = textwrap.dedent(
    """
    import sys, torch, torch.distributed as dist
    from functools import partial
    from captum.attr import Saliency
    from torch.utils.data import DataLoader, TensorDataset
    from captum_ts import GuidedAbsoluteGrad, HorizonActivationMap
    from captum_ts.metrics import selectivity
    from captum_ts.explain import evaluate_loader, explain_loader
    from captum_ts.testing import make_model

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(11, 12, 2, generator=g), torch.randint(0, 2, (11,), generator=g)
    model = make_model("cnn", 12, 2, seed=1)
    loader = DataLoader(TensorDataset(x, y), batch_size=3)
    gag = explain_loader(GuidedAbsoluteGrad(model), loader, seed=3, nt_samples=4)
    mm = explain_loader(GuidedAbsoluteGrad(model), loader, seed=3, nt_samples=4, out=sys.argv[2])

    def score(inputs, target):
        with torch.no_grad():
            out = model(inputs)
        return out[torch.arange(len(out)), target]

    per_example = evaluate_loader(score, loader)
    mean = evaluate_loader(score, loader, reduce="mean")
    explain = Saliency(model).attribute
    sel = evaluate_loader(partial(selectivity, model), loader, explanation_func=explain, n_steps=4)
    forecaster = make_model("mlp", 12, 2, n_classes=2, horizon=5, seed=2)
    y_true = torch.randn(11, 5, 2, generator=g)
    windows = DataLoader(TensorDataset(x, y_true), batch_size=3)
    ham = HorizonActivationMap(forecaster).attribute_loader(windows)
    if dist.get_rank() == 0:
        torch.save(
            {"gag": gag, "memmap": mm.clone(), "score": per_example, "mean": mean, "sel": sel.curve,
             "ham": (ham.causal, ham.anticausal, ham.n_batches)},
            sys.argv[1],
        )
    else:
        assert gag is None and mm is None and per_example is None and sel is None
        torch.save({"mean": mean, "ham": (ham.causal, ham.anticausal)}, sys.argv[1] + ".rank1")
    dist.destroy_process_group()
    """
)


def test_two_process_gloo_run_equals_one_process(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    result = tmp_path / "result.pt"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(script),
        str(result),
        str(tmp_path / "dist.npy"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_same_code_env(), timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = torch.load(result)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(11, 12, 2, generator=g), torch.randint(0, 2, (11,), generator=g)
    model = make_model("cnn", 12, 2, seed=1)
    loader = DataLoader(TensorDataset(x, y), batch_size=3)
    single = explain_loader(GuidedAbsoluteGrad(model), loader, seed=3, nt_samples=4)
    torch.testing.assert_close(got["gag"], single, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(got["memmap"], single, atol=1e-6, rtol=1e-5)
    with torch.no_grad():
        scores = model(x)[torch.arange(11), y]
    torch.testing.assert_close(got["score"], scores)
    torch.testing.assert_close(got["mean"].float(), scores.mean(), atol=1e-6, rtol=1e-6)
    other = torch.load(str(result) + ".rank1")
    torch.testing.assert_close(other["mean"], got["mean"])
    # selectivity per example, gathered in dataset order
    sel = selectivity(model, x, target=y, explanation_func=Saliency(model).attribute, n_steps=4)
    torch.testing.assert_close(got["sel"], sel.curve, atol=1e-6, rtol=1e-5)
    # HAM: the per-batch norm sums of both processes add up to the one-process curves
    y_true = torch.randn(11, 5, 2, generator=g)
    forecaster = make_model("mlp", 12, 2, n_classes=2, horizon=5, seed=2)
    ham = HorizonActivationMap(forecaster).attribute_loader(
        DataLoader(TensorDataset(x, y_true), batch_size=3)
    )
    causal, anticausal, n_batches = got["ham"]
    assert n_batches == 4
    torch.testing.assert_close(causal, ham.causal, atol=1e-7, rtol=1e-5)
    torch.testing.assert_close(anticausal, ham.anticausal, atol=1e-7, rtol=1e-5)
    torch.testing.assert_close(other["ham"][0], causal)
