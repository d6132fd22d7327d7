"""Under torch.distributed (one two-process gloo run shared by the tests here): per-batch calls
stay local to their process, the loader-level functions (where every process takes part) agree
on one draw of a shuffling loader, and a two-process run equals one process."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from captum.attr import Saliency
from torch.utils.data import DataLoader, TensorDataset

import captum_ts
from captum_ts import GuidedAbsoluteGrad, HorizonActivationMap
from captum_ts.explain import explain_loader
from captum_ts.metrics import selectivity
from captum_ts.testing import make_model

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")


def _same_code_env():
    """The worker processes import the captum_ts under test, not another installed copy."""
    root = os.path.dirname(os.path.dirname(captum_ts.__file__))
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


#: argv: OUT_DIR; each part saves its results as OUT_DIR/<part>.<rank>
WORKER = textwrap.dedent(
    """
    import sys, datetime, torch, torch.distributed as dist
    from functools import partial
    from pathlib import Path
    from captum.attr import Saliency
    from torch.utils.data import DataLoader, TensorDataset
    from captum_ts import GuidedAbsoluteGrad, HorizonActivationMap
    from captum_ts.explain import evaluate_loader, explain_loader
    from captum_ts.metrics import selectivity
    from captum_ts.testing import make_model

    torch.set_num_threads(1)
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    rank = dist.get_rank()
    folder = Path(sys.argv[1])


    def local_and_loader_level():
        out = {}
        forecaster = make_model("mlp", 12, 2, n_classes=2, horizon=5, seed=2)
        g = torch.Generator().manual_seed(10 + rank)  # every process its own batch
        x, y = torch.randn(4 + rank, 12, 2, generator=g), torch.randn(4 + rank, 5, 2, generator=g)
        ham = HorizonActivationMap(forecaster)
        out["own"] = ham.attribute(x, y).causal
        out["own_inputs"] = ham.attribute(x, y, wrt="inputs", cutoff=2)
        if rank == 0:  # explain on rank 0 only: no other process takes part
            out["alone"] = ham.attribute(x, y, per_layer=True).causal

        # the loader-level functions: rank 0's draw of an unseeded shuffling loader for every process
        torch.manual_seed(100 + rank)
        g = torch.Generator().manual_seed(0)
        xs, ys = torch.randn(11, 12, 2, generator=g), torch.randint(0, 2, (11,), generator=g)
        model = make_model("cnn", 12, 2, seed=1)
        shuffled = DataLoader(TensorDataset(xs, ys), batch_size=2, shuffle=True)
        out["shuffled"] = explain_loader(Saliency(model), shuffled)
        one_batch = DataLoader(TensorDataset(xs[:3], ys[:3]), batch_size=3)  # rank 1 has no batch
        out["mean"] = evaluate_loader(lambda inputs, target: inputs.sum((1, 2)), one_batch, reduce="mean")
        # a refused resume is refused on every process (no process left waiting)
        path = str(folder / "r.npy")
        explain_loader(Saliency(model), one_batch, out=path)
        if rank == 0:
            open(path + ".run.json", "w").write("{damaged")
        dist.barrier()
        try:
            explain_loader(Saliency(model), one_batch, out=path, resume=True)
        except ValueError as exc:
            out["refused"] = str(exc)
        dist.barrier()
        return out


    def equals_one_process():
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(11, 12, 2, generator=g), torch.randint(0, 2, (11,), generator=g)
        model = make_model("cnn", 12, 2, seed=1)
        loader = DataLoader(TensorDataset(x, y), batch_size=3)
        gag = explain_loader(GuidedAbsoluteGrad(model), loader, seed=3, nt_samples=4)
        mm_path = str(folder / "dist.npy")
        mm = explain_loader(GuidedAbsoluteGrad(model), loader, seed=3, nt_samples=4, out=mm_path)

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
        if rank == 0:
            return {"gag": gag, "memmap": mm.clone(), "score": per_example, "mean": mean, "sel": sel.curve,
                    "ham": (ham.causal, ham.anticausal, ham.n_batches)}
        assert gag is None and mm is None and per_example is None and sel is None
        return {"mean": mean, "ham": (ham.causal, ham.anticausal)}


    for part in (local_and_loader_level, equals_one_process):
        torch.save(part(), folder / f"{part.__name__}.{rank}")
    dist.destroy_process_group()
    """
)


@pytest.fixture(scope="module")
def gloo_run(tmp_path_factory):
    """``torchrun --standalone --nproc_per_node=2`` of ``WORKER``: part -> (rank 0's, rank 1's) results."""
    folder = tmp_path_factory.mktemp("gloo")
    script = folder / "worker.py"
    script.write_text(WORKER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    proc = subprocess.run(
        [*cmd, str(folder)], capture_output=True, text=True, env=_same_code_env(), timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-20000:]
    parts = ("local_and_loader_level", "equals_one_process")
    return {part: tuple(torch.load(folder / f"{part}.{rank}") for rank in (0, 1)) for part in parts}


@pytest.mark.slow
def test_two_processes_explain_their_own_batches_and_rank0_alone(gloo_run):
    got = gloo_run["local_and_loader_level"]
    forecaster = make_model("mlp", 12, 2, n_classes=2, horizon=5, seed=2)
    ham = HorizonActivationMap(forecaster)
    for rank in (0, 1):
        g = torch.Generator().manual_seed(10 + rank)
        x, y = torch.randn(4 + rank, 12, 2, generator=g), torch.randn(4 + rank, 5, 2, generator=g)
        torch.testing.assert_close(got[rank]["own"], ham.attribute(x, y).causal)
        torch.testing.assert_close(got[rank]["own_inputs"], ham.attribute(x, y, wrt="inputs", cutoff=2))
        if rank == 0:
            torch.testing.assert_close(got[0]["alone"], ham.attribute(x, y, per_layer=True).causal)
    assert not torch.allclose(got[0]["own"], got[1]["own"])

    g = torch.Generator().manual_seed(0)
    xs, ys = torch.randn(11, 12, 2, generator=g), torch.randint(0, 2, (11,), generator=g)
    model = make_model("cnn", 12, 2, seed=1)
    torch.testing.assert_close(
        got[0]["shuffled"], Saliency(model).attribute(xs, target=ys), atol=1e-6, rtol=1e-5
    )
    assert got[1]["shuffled"] is None
    for rank in (0, 1):
        torch.testing.assert_close(got[rank]["mean"].float(), xs[:3].sum((1, 2)).mean())
        assert "r.npy.run.json is damaged (not valid JSON)" in got[rank]["refused"]


@pytest.mark.slow
def test_two_process_gloo_run_equals_one_process(gloo_run):
    got, other = gloo_run["equals_one_process"]
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


def test_explain_loader_calls_the_attributor_outside_any_collective(monkeypatch):
    import captum_ts._distributed as distributed

    seen = []

    class Probe:
        def attribute(self, inputs, target=None):
            seen.append(distributed.rank_and_world())
            return inputs

    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(distributed.dist, "get_rank", lambda: 0)
    monkeypatch.setattr(distributed.dist, "get_world_size", lambda: 1)
    x = torch.randn(5, 12, 2)
    explain_loader(Probe(), DataLoader(TensorDataset(x), batch_size=2))
    assert seen == [(0, 1)] * 3
