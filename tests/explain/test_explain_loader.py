"""explain_loader / evaluate_loader: equal to one call, resumable, memmaps (the two-process gloo run is in
test_distributed_local.py)."""

import json

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients, Saliency
from torch.utils.data import DataLoader, TensorDataset

from captum_ts import GuidedAbsoluteGrad
from captum_ts.explain import evaluate_loader, explain_loader
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
