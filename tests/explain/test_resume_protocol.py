"""explain_loader(out=..., resume=True): a resume continues only the same run, and a killed run
(SIGKILL at any point, twice) resumes to the bytes of an uninterrupted one."""

import json
import multiprocessing
import os
import random
import re
import signal
import time

import numpy as np
import pytest
import torch
from captum.attr import Saliency
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from captum_ts import GuidedAbsoluteGrad
from captum_ts.explain import explain_loader
from captum_ts.testing import make_model

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")


def data(n=13, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 12, 2, generator=g), torch.randint(0, 2, (n,), generator=g)


def loader(n=13, batch_size=3, **kw):
    return DataLoader(TensorDataset(*data(n)), batch_size=batch_size, **kw)


class Interrupted(Exception):
    pass


def interrupted_run(out, after=2, **kw):
    """A run stopped after ``after`` batches, by an exception out of the dataset."""

    class Breaking(TensorDataset):
        def __getitem__(self, i):
            if i >= 3 * after:
                raise Interrupted
            return super().__getitem__(i)

    x, y = data()
    with pytest.raises(Interrupted):
        explain_loader(
            Saliency(make_model("mlp", 12, 2, seed=4)),
            DataLoader(Breaking(x, y), batch_size=3),
            out=out,
            **kw,
        )


def resume(out, data_loader=None, **kw):
    model = make_model("mlp", 12, 2, seed=4)
    return explain_loader(Saliency(model), data_loader or loader(), out=out, resume=True, **kw)


def refused(out, match, **kw):
    with pytest.raises(ValueError, match=match) as info:
        resume(out, **kw)
    return str(info.value)


def test_a_matching_resume_continues_and_equals_a_clean_run(tmp_path):
    clean = explain_loader(Saliency(make_model("mlp", 12, 2, seed=4)), loader(), out=tmp_path / "clean.npy")
    interrupted_run(tmp_path / "run.npy")
    torch.testing.assert_close(resume(tmp_path / "run.npy"), clean, rtol=0, atol=0)
    assert (tmp_path / "run.npy").read_bytes() == (tmp_path / "clean.npy").read_bytes()
    record = json.loads((tmp_path / "run.npy.run.json").read_text())
    assert record["rows"] == 13 and record["batches"] == 5
    assert record["results"][0]["shape"] == [13, 12, 2] and record["results"][0]["dtype"] == "float32"
    assert record["results"][0]["bytes"] == os.path.getsize(tmp_path / "run.npy")


def test_other_batch_size_is_refused_naming_the_record(tmp_path):
    out = tmp_path / "run.npy"
    interrupted_run(out)
    message = refused(out, "loader's batches", data_loader=loader(batch_size=4))
    assert str(out) + ".run.json" in message


def test_other_dataset_size_and_other_arguments_are_refused(tmp_path):
    out = tmp_path / "run.npy"
    interrupted_run(out)
    refused(out, "the dataset size", data_loader=loader(n=14))
    refused(
        out,
        r"the attributor or its arguments differs \(abs: recorded \"absent\", this run \"False\"\)",
        abs=False,
    )


def test_a_shuffling_loader_needs_a_seeded_generator(tmp_path):
    out = tmp_path / "run.npy"
    with pytest.raises(
        ValueError, match=r"resume=True. with a shuffling loader \(RandomSampler without a generator"
    ):
        resume(out, data_loader=loader(shuffle=True))
    seeded = lambda seed: loader(shuffle=True, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    first = resume(out, data_loader=seeded(0)).clone()
    torch.testing.assert_close(resume(out, data_loader=seeded(0)), first, rtol=0, atol=0)
    refused(out, "their order or batch size", data_loader=seeded(1))


@pytest.mark.parametrize("damage", ["truncate", "append"])
def test_a_truncated_or_grown_data_file_is_refused(tmp_path, damage):
    out = tmp_path / "run.npy"
    interrupted_run(out)
    size = os.path.getsize(out)
    with open(out, "r+b") as f:
        f.truncate(size - 8 if damage == "truncate" else size + 8)
    message = refused(out, "a truncated or edited file")
    assert f"data file {out} has {size + (-8 if damage == 'truncate' else 8)} bytes" in message


def test_edited_rows_of_a_finished_batch_are_refused(tmp_path):
    out = tmp_path / "run.npy"
    interrupted_run(out)
    array = np.load(out, mmap_mode="r+")
    array[4, 0, 0] += 1.0  # batch 1 holds rows 3..5
    array.flush()
    del array
    message = refused(out, "the rows of batch 1 in the data files changed")
    assert str(out) + ".progress-0.jsonl" in message


def test_an_edited_header_is_refused(tmp_path):
    out = tmp_path / "run.npy"
    interrupted_run(out)
    raw = out.read_bytes()
    out.write_bytes(raw.replace(b"(13, 12, 2)", b"(12, 13, 2)"))
    refused(out, re.escape(f"data file {out} holds (12, 13, 2) float32"))


def test_damaged_or_foreign_progress_files_are_refused(tmp_path):
    out = tmp_path / "run.npy"
    log = tmp_path / "run.npy.progress-0.jsonl"
    interrupted_run(out)
    good = log.read_text()
    lines = good.splitlines(keepends=True)
    log.write_text(lines[0] + "{not json\n" + "".join(lines[1:]))
    refused(out, re.escape(f"progress file {log} is damaged at line 2"))
    other = json.loads(lines[1])
    other["rows"] = "0" * 16
    log.write_text(lines[0] + json.dumps(other) + "\n")
    refused(out, "batch 0 held other dataset rows")
    log.write_text(json.dumps({"format": "captum_ts.explain_loader/2", "run": "0" * 32, "rank": 0}) + "\n")
    refused(out, re.escape(f"progress file {log} belongs to run '{'0' * 32}'"))
    log.write_text(good)
    (tmp_path / "run.npy.run.json").write_text('{"format": "captum_ts.expl')
    refused(out, re.escape(f"{out}.run.json is damaged (not valid JSON)"))
    (tmp_path / "run.npy.run.json").unlink()
    refused(out, "has no run record")
    (tmp_path / "run.npy.progress-0.jsonl").unlink()
    (tmp_path / "run.npy.progress-0.json").write_text('{"done": [0, 1, 2]}')  # the previous format
    refused(out, "written by an older version")


def test_a_torn_last_line_is_an_unfinished_batch(tmp_path):
    clean = explain_loader(Saliency(make_model("mlp", 12, 2, seed=4)), loader())
    out = tmp_path / "run.npy"
    interrupted_run(out)
    log = tmp_path / "run.npy.progress-0.jsonl"
    with open(log, "a") as f:
        f.write('{"batch": 2, "rows": "ab')  # the kill came while this line was written
    torch.testing.assert_close(resume(out), clean, rtol=0, atol=0)
    assert [json.loads(line).get("batch") for line in log.read_text().splitlines()] == [None, 0, 1, 2, 3, 4]


def test_a_new_run_removes_the_progress_of_the_previous_one(tmp_path):
    out = tmp_path / "run.npy"
    interrupted_run(out)
    stale = tmp_path / "run.npy.progress-1.jsonl"  # left by an earlier two-process run
    stale.write_text("{}\n")
    explain_loader(Saliency(make_model("mlp", 12, 2, seed=4)), loader(), out=out)
    assert not stale.exists()
    assert len((tmp_path / "run.npy.progress-0.jsonl").read_text().splitlines()) == 6


def test_resume_needs_out():
    with pytest.raises(ValueError, match=r"resume=True. continues the run written to `out`"):
        explain_loader(Saliency(make_model("mlp", 12, 2)), loader(), resume=True)


# --- SIGKILL ---------------------------------------------------------------------------------------


class Slow(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = make_model("cnn", 12, 2, seed=3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        time.sleep(0.03)  # 12 batches take >= 0.36 s: longer than the first kill's window
        return self.net(x)


N_ROWS, BATCH = 24, 2


def _run(out, model, do_resume):
    x, y = data(N_ROWS, seed=1)
    return explain_loader(
        GuidedAbsoluteGrad(model),
        DataLoader(TensorDataset(x, y), batch_size=BATCH),
        out=out,
        resume=do_resume,
        seed=11,
        nt_samples=2,
    )


def _child(out, do_resume):
    torch.set_num_threads(1)
    _run(out, Slow(), do_resume)
    os._exit(0)


def _finished(log):
    try:
        return log.read_bytes().count(b"\n") - 1
    except FileNotFoundError:
        return -1


def _kill_when(out, do_resume, ready):
    proc = multiprocessing.get_context("fork").Process(target=_child, args=(out, do_resume))
    proc.start()
    deadline = time.monotonic() + 30
    while not ready() and proc.is_alive() and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert proc.exitcode == -signal.SIGKILL, "the run ended before it was killed"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_killed_twice_at_random_points_resumes_bit_identically(tmp_path, seed):
    rng = random.Random(seed)
    counting = Slow()
    clean = _run(tmp_path / "clean.npy", counting, False).clone()
    per_batch = counting.calls // (N_ROWS // BATCH)
    out, log = tmp_path / "run.npy", tmp_path / "run.npy.progress-0.jsonl"
    start = time.monotonic()
    first_kill = rng.uniform(0.0, 0.25)  # while the files are made, or between or during batches
    _kill_when(out, True, lambda: time.monotonic() - start > first_kill)
    done = max(_finished(log), 0)
    second = min(done + rng.randint(1, 4), N_ROWS // BATCH - 1)  # killed before the end
    _kill_when(out, True, lambda: _finished(log) >= second)
    done = _finished(log)
    assert done >= second
    model = Slow()
    resumed = _run(out, model, True)
    # only the unfinished batches are attributed again (and batch 0 once, for the result layout)
    assert model.calls == per_batch * (1 + N_ROWS // BATCH - done)
    assert out.read_bytes() == (tmp_path / "clean.npy").read_bytes()
    torch.testing.assert_close(resumed, clean, rtol=0, atol=0)
