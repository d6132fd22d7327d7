"""explain_loader / evaluate_loader return no uninitialised, broadcast or silently cast rows:
unvisited rows are NaN (and said), non-per-example fields are kept or refused, every dtype
works in memmap mode or is refused, bad loaders and arguments get errors naming them."""

import dataclasses

import numpy as np
import pytest
import torch
from captum.attr import Saliency
from torch.utils.data import DataLoader, IterableDataset, RandomSampler, SubsetRandomSampler, TensorDataset

from captum_ts import HorizonActivationMap
from captum_ts.explain import evaluate_loader, explain_loader
from captum_ts.metrics import rcap
from captum_ts.testing import make_model

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
MODEL = make_model("mlp", 12, 2, seed=1)


def data(n=11):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 12, 2, generator=g), torch.randint(0, 2, (n,), generator=g)


class Fixed:
    """An attributor returning ``fn(inputs)``: any dtype or shape."""

    def __init__(self, fn):
        self.fn = fn

    def attribute(self, inputs, target=None):
        return self.fn(inputs)


# --- rows the loader never visits -------------------------------------------------------------------


@pytest.mark.parametrize("to_file", [False, True])
def test_drop_last_rows_are_nan_and_said(tmp_path, to_file):
    x, y = data()
    loader = DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True)  # rows 8, 9, 10 unvisited
    out = tmp_path / "a.npy" if to_file else None
    with pytest.warns(UserWarning, match=r"never visits 3 of 11 dataset rows \(e.g. \[8, 9, 10\]"):
        got = explain_loader(Saliency(MODEL), loader, out=out)
    assert got[8:].isnan().all()
    torch.testing.assert_close(got[:8], Saliency(MODEL).attribute(x[:8], target=y[:8]))
    if to_file:
        assert np.isnan(np.load(out)[8:]).all()


def test_subset_sampler_rows_are_nan_elsewhere():
    x, y = data()
    keep = [1, 4, 5, 9]
    sampler = SubsetRandomSampler(keep, generator=torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match="never visits 7 of 11"):
        got = explain_loader(Saliency(MODEL), DataLoader(TensorDataset(x, y), batch_size=3, sampler=sampler))
    others = [i for i in range(11) if i not in keep]
    assert got[others].isnan().all() and not got[keep].isnan().any()
    torch.testing.assert_close(got[keep], Saliency(MODEL).attribute(x[keep], target=y[keep]))


@pytest.mark.parametrize("dtype", [torch.bool, torch.int64])
def test_unvisited_rows_of_a_dtype_without_nan_are_refused(tmp_path, dtype):
    x, y = data()
    loader = DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True)
    with pytest.raises(ValueError, match=f"never visits 3 dataset rows .* has dtype {dtype}, which cannot"):
        explain_loader(Fixed(lambda v: (v > 0).to(dtype)), loader, out=tmp_path / "a.npy")
    assert not (tmp_path / "a.npy").exists()


def test_a_row_visited_twice_is_refused():
    x, y = data()
    sampler = RandomSampler(
        range(11), replacement=True, num_samples=30, generator=torch.Generator().manual_seed(0)
    )
    with pytest.raises(ValueError, match=r"`loader` visits dataset row \d+ \d+ times"):
        explain_loader(Saliency(MODEL), DataLoader(TensorDataset(x, y), batch_size=4, sampler=sampler))


def test_evaluate_loader_unvisited_rows_are_nan_and_the_mean_counts_visited_rows():
    x, y = data()
    loader = DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True)

    def score(inputs, target):
        with torch.no_grad():
            return MODEL(inputs)[torch.arange(len(inputs)), target]

    with pytest.warns(UserWarning, match="never visits 3 of 11"):
        per_example = evaluate_loader(score, loader)
    mean = evaluate_loader(score, loader, reduce="mean")
    direct = score(x, y)
    assert per_example[8:].isnan().all()
    torch.testing.assert_close(per_example[:8], direct[:8])
    torch.testing.assert_close(mean.float(), direct[:8].mean())


# --- result fields that are not per-example ---------------------------------------------------------


def test_rcap_levels_are_kept_once_not_concatenated():
    x, y = data()
    attributions = Saliency(MODEL).attribute(x, target=y)
    levels = (0.5, 0.6, 0.7, 0.8, 0.9)

    def metric(inputs, target):
        return rcap(MODEL, inputs[0], inputs[1], target=target, levels=levels, return_levels=True)

    loader = DataLoader(TensorDataset(x, y, attributions), batch_size=4, collate_fn=_pack)
    got = evaluate_loader(metric, loader, target_in_batch=True)
    direct = rcap(MODEL, x, attributions, target=y, levels=levels, return_levels=True)
    assert got.levels.shape == (5,) and got.score.shape == (11,) and got.used.shape == (11, 5)
    torch.testing.assert_close(got.levels, direct.levels)
    torch.testing.assert_close(got.hit_rate, direct.hit_rate)
    assert torch.equal(got.used, direct.used)
    mean = evaluate_loader(metric, loader, reduce="mean")
    torch.testing.assert_close(mean.levels, direct.levels)
    torch.testing.assert_close(mean.score.float(), direct.score.mean())


def _pack(items):
    x, y, a = (torch.stack(t) for t in zip(*items))
    return ((x, a), y)


@dataclasses.dataclass
class Scored:
    score: torch.Tensor
    grid: torch.Tensor = dataclasses.field(metadata={"per_example": False})
    name: str = "scored"


def test_a_declared_shared_field_as_long_as_the_batch_is_not_split_into_rows():
    x, y = data(12)

    def metric(inputs, target):
        return Scored(score=inputs.sum((1, 2)), grid=torch.linspace(0, 1, 4))

    got = evaluate_loader(metric, DataLoader(TensorDataset(x, y), batch_size=4))  # grid length == batch size
    torch.testing.assert_close(got.grid, torch.linspace(0, 1, 4))
    torch.testing.assert_close(got.score, x.sum((1, 2)))
    assert got.name == "scored"


def test_a_per_batch_value_is_refused():
    x, y = data()

    def metric(inputs, target):
        return inputs.sum((1, 2)), inputs.mean()  # a 0-d batch mean differs between batches

    for reduce in ("none", "mean"):
        with pytest.raises(ValueError, match=r"result 1 is not per-example .* differs between batches"):
            evaluate_loader(metric, DataLoader(TensorDataset(x, y), batch_size=4), reduce=reduce)

    def constant(inputs, target):
        return inputs.sum((1, 2)), torch.tensor(3.0)

    got = evaluate_loader(constant, DataLoader(TensorDataset(x, y), batch_size=4))
    assert got[1].shape == () and got[1] == 3.0 and got[0].shape == (11,)


def test_explain_loader_refuses_results_that_are_not_per_example():
    x, y = data()
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    with pytest.raises(ValueError, match=r"returned result 0 of shape \(\) for a batch of 4"):
        explain_loader(Fixed(lambda v: v.sum()), loader)
    with pytest.raises(ValueError, match=r"returned result 0 of shape \(2,\) for a batch of 4"):
        explain_loader(Fixed(lambda v: v.sum((1, 2))[:2]), loader)
    with pytest.raises(ValueError, match="must keep their shape and dtype"):
        explain_loader(Fixed(lambda v: v[:, : len(v)]), loader)  # (4, 4, 2) then (3, 3, 2)
    with pytest.raises(ValueError, match="must keep their shape and dtype"):
        explain_loader(Fixed(lambda v: v.double() if len(v) < 4 else v), loader)
    ham = HorizonActivationMap(make_model("mlp", 12, 2, n_classes=2, horizon=3, seed=2))
    with pytest.raises(
        TypeError, match=r"Fixed\.attribute returned HorizonActivationResult; explain_loader stores"
    ):
        explain_loader(Fixed(lambda v: ham.attribute(v, torch.randn(len(v), 3, 2))), loader)


# --- dtypes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype",
    [
        torch.bfloat16,
        torch.float16,
        torch.float64,
        torch.complex64,
        torch.int64,
        torch.int32,
        torch.uint8,
        torch.bool,
    ],
)
def test_every_dtype_in_memory_and_in_memmap_mode(tmp_path, dtype):
    x, y = data()
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    fn = (
        (lambda v: (v > 0).to(dtype))
        if dtype in (torch.bool, torch.uint8)
        else (lambda v: (v * 10).to(dtype))
    )
    memory = explain_loader(Fixed(fn), loader)
    on_disk = explain_loader(Fixed(fn), loader, out=tmp_path / "a.npy")
    assert memory.dtype == dtype and on_disk.dtype == dtype
    assert torch.equal(memory, fn(x)) and torch.equal(on_disk, fn(x))
    resumed = explain_loader(Fixed(fn), loader, out=tmp_path / "a.npy", resume=True)
    assert torch.equal(resumed, fn(x))
    if dtype == torch.bfloat16:  # numpy has no bfloat16: the file holds the bit patterns
        assert np.load(tmp_path / "a.npy").dtype == np.uint16
        assert torch.equal(torch.from_numpy(np.load(tmp_path / "a.npy")).view(torch.bfloat16), fn(x))


def test_a_dtype_numpy_cannot_store_is_refused_in_memmap_mode(tmp_path):
    x, y = data()
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    fn = Fixed(lambda v: v.to(torch.float8_e4m3fn))
    assert explain_loader(fn, loader).dtype == torch.float8_e4m3fn
    with pytest.raises(
        TypeError, match=r"dtype torch.float8_e4m3fn cannot be stored in a .npy file \(`out=`"
    ):
        explain_loader(fn, loader, out=tmp_path / "a.npy")
    with pytest.raises(TypeError, match=r"cannot be stored in a \.npy file"):
        explain_loader(fn, loader, memory_budget=1)


# --- loaders and arguments --------------------------------------------------------------------------


class Stream(IterableDataset):
    def __iter__(self):
        yield from zip(*data())


def test_bad_loaders_and_arguments_are_named():
    x, y = data()
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    with pytest.raises(ValueError, match="`memory_budget` must be a positive integer"):
        explain_loader(Saliency(MODEL), loader, memory_budget=0)
    with pytest.raises(TypeError, match="`memory_budget` must be a positive integer, got '1GB'"):
        explain_loader(Saliency(MODEL), loader, memory_budget="1GB")
    for call in (explain_loader, evaluate_loader):
        with pytest.raises(TypeError, match="`loader` iterates an IterableDataset"):
            call(Saliency(MODEL) if call is explain_loader else MODEL, DataLoader(Stream(), batch_size=4))
        with pytest.raises(TypeError, match=r"`loader` must be a torch\.utils\.data\.DataLoader, got list"):
            call(Saliency(MODEL) if call is explain_loader else MODEL, [(x, y)])
    dicts = DataLoader([{"x": x[i], "y": y[i]} for i in range(11)], batch_size=4)
    with pytest.raises(TypeError, match=r"a batch of `loader` is a dict \(keys \['x', 'y'\]\).*collate_fn"):
        explain_loader(Saliency(MODEL), dicts)
    with pytest.raises(TypeError, match="a batch of `loader` is a dict"):
        evaluate_loader(MODEL, dicts)
