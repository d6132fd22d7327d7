import os

import matplotlib
import pytest
import torch
from hypothesis import settings

matplotlib.use("Agg")
torch.set_num_threads(int(os.environ.get("CAPTUM_TS_TEST_THREADS", "1")))

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """``-n N`` without ``--dist`` schedules by work stealing: each worker starts on one contiguous
    half of the tests (a module's fixtures are built once) and an idle worker takes half of the
    other's queue, so the run ends on short tests. An explicit ``--dist`` is kept."""
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", "no") == "no":
        config.option.dist = "worksteal"


def _slow_tests_lead_each_share(items, n_workers):
    """Reorder ``items`` in place so each of the ``n_workers`` contiguous shares work stealing hands
    out (sizes as xdist's split) starts with its own round-robin part of the tests marked slow: no
    worker gets every slow test, and none is left at the end of a queue to end the run. A module's
    unparametrised slow tests stay together (they may share a module fixture, e.g. one multi-process
    run); parametrised cases are dealt one by one."""
    units = {}
    for item in items:
        if item.get_closest_marker("slow"):
            units.setdefault(item.nodeid if hasattr(item, "callspec") else item.path, []).append(item)
    rest = [item for item in items if not item.get_closest_marker("slow")]
    ordered, left = [], len(items)
    for j in range(n_workers):
        size = left // (n_workers - j)
        lead = [item for unit in list(units.values())[j::n_workers] for item in unit]
        take = max(0, size - len(lead))
        ordered += lead + rest[:take]
        del rest[:take]
        left -= size
    items[:] = ordered + rest


@pytest.hookimpl(trylast=True)  # after -k/-m deselection
def pytest_collection_modifyitems(config, items):
    _slow_tests_lead_each_share(items, getattr(config, "workerinput", {}).get("workercount", 1))
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
