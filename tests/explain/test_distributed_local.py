"""Under torch.distributed, per-batch calls stay local to their process, and the loader-level
functions (where every process takes part) agree on one draw of a shuffling loader."""

import os
import subprocess
import sys
import textwrap

import torch
from captum.attr import Saliency
from torch.utils.data import DataLoader, TensorDataset

import captum_ts
from captum_ts import HorizonActivationMap
from captum_ts.explain import explain_loader
from captum_ts.testing import make_model


def _same_code_env():
    """The worker processes import the captum_ts under test, not another installed copy."""
    root = os.path.dirname(os.path.dirname(captum_ts.__file__))
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


WORKER = textwrap.dedent(
    """
    import sys, datetime, torch, torch.distributed as dist
    from captum.attr import Saliency
    from torch.utils.data import DataLoader, TensorDataset
    from captum_ts import HorizonActivationMap
    from captum_ts.explain import evaluate_loader, explain_loader
    from captum_ts.testing import make_model

    torch.set_num_threads(1)
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=20))
    rank = dist.get_rank()
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
    path = sys.argv[2]
    explain_loader(Saliency(model), one_batch, out=path)
    if rank == 0:
        open(path + ".run.json", "w").write("{damaged")
    dist.barrier()
    try:
        explain_loader(Saliency(model), one_batch, out=path, resume=True)
    except ValueError as exc:
        out["refused"] = str(exc)
    dist.barrier()
    torch.save(out, f"{sys.argv[1]}.{rank}")
    dist.destroy_process_group()
    """
)


def test_two_processes_explain_their_own_batches_and_rank0_alone(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    proc = subprocess.run(
        [*cmd, str(tmp_path / "out"), str(tmp_path / "r.npy")],
        capture_output=True,
        text=True,
        env=_same_code_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-20000:]
    got = [torch.load(tmp_path / f"out.{rank}") for rank in (0, 1)]
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
