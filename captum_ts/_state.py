"""Keep the user's model exactly as it was, and one call on it at a time.

The policy every attributor and metric follows (docs/reliability.md):

* the model runs in **eval mode** during a call (dropout off, BatchNorm on its running
  statistics), so maps are reproducible with a ``generator`` and no buffer is updated;
* afterwards every parameter's ``requires_grad`` flag and ``.grad``, every module's
  train/eval mode and every buffer's values are restored, also when the call raises;
* calls on the same model are **serialised** by a re-entrant lock per model, so two
  threads sharing a model (or an attributor object) never see each other's mode
  switches, frozen parameters or forward hooks.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import nn

#: the module mode every method and metric runs the model in (see the module docstring)
MODEL_MODE = "eval"

_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def find_module(forward_func: Callable) -> nn.Module | None:
    """The ``nn.Module`` behind a forward function: the module itself, the owner of a
    bound method (``model.forward``), the model of a Captum attributor whose bound
    ``attribute`` is passed (``Saliency(model).attribute``), the function of a
    ``functools.partial``, or a module a wrapper function closes over
    (``lambda x: model(x).softmax(-1)``)."""
    if isinstance(forward_func, nn.Module):
        return forward_func
    owner = getattr(forward_func, "__self__", None)
    if isinstance(owner, nn.Module):
        return owner
    inner = getattr(owner, "forward_func", None)
    if callable(inner) and inner is not forward_func:
        return find_module(inner)
    if isinstance(forward_func, functools.partial):
        return find_module(forward_func.func)
    for cell in getattr(forward_func, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, nn.Module):
            return value
    return None


def model_lock(module: nn.Module) -> threading.RLock:
    """The re-entrant lock that serialises calls on ``module`` (one per model)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(module)
        if lock is None:
            lock = _LOCKS[module] = threading.RLock()
        return lock


@contextmanager
def guarded_model(
    forward_func: Callable, mode: str | None = MODEL_MODE, freeze: bool = False
) -> Iterator[nn.Module | None]:
    """Hold the model behind ``forward_func`` for a block that needs no parameter
    gradients of its own (metrics, input-gradient methods): its lock, ``mode`` and, on
    exit, everything restored as by :func:`preserved_model_state`. A plain function
    with no module behind it runs as it is."""
    module = find_module(forward_func)
    with preserved_model_state(module, mode, freeze) if module is not None else nullcontext():
        yield module


@contextmanager
def frozen_model(forward_func: Callable, mode: str | None = MODEL_MODE) -> Iterator[nn.Module | None]:
    """Freeze the model behind ``forward_func`` for the duration of the block.

    Parameters get ``requires_grad=False`` (so no graph is built into them and no
    ``.grad`` is touched); ``mode`` ``"eval"``/``"train"`` switches the module mode
    (``None`` leaves it). Everything is restored on exit, as by
    :func:`preserved_model_state`.
    """
    with guarded_model(forward_func, mode, freeze=True) as module:
        yield module


def snapshot_parameters(module: nn.Module) -> list[torch.Tensor]:
    """Detached copies of every parameter and buffer, for before/after comparisons."""
    return [t.detach().clone() for t in (*module.parameters(), *module.buffers())]


@contextmanager
def preserved_model_state(
    module: nn.Module, mode: str | None = MODEL_MODE, freeze: bool = False
) -> Iterator[nn.Module]:
    """Run a block that differentiates ``module``'s parameters and leave no trace.

    Unlike :func:`frozen_model` the parameters keep ``requires_grad``, so the block
    can take parameter gradients (with ``torch.autograd.grad``). ``mode``
    ``"eval"``/``"train"`` switches the module mode (``None`` leaves it). On exit,
    also after an exception, every parameter's ``requires_grad`` flag and ``.grad``,
    every module's train/eval mode and every buffer's values (e.g. BatchNorm
    running statistics updated by a forward in train mode) are restored. The block
    holds the model's lock (:func:`model_lock`). ``freeze=True`` sets every
    ``requires_grad`` to ``False`` inside the block (:func:`frozen_model`).

    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)).eval()
    >>> with preserved_model_state(net, mode="train"):
    ...     _ = net(torch.randn(4, 2))
    >>> net.training, bool(net[1].running_mean.abs().sum() == 0)
    (False, True)
    """
    if mode not in ("eval", "train", None):
        raise ValueError(f"`model_mode` must be 'eval', 'train' or None, got {mode!r}.")
    with model_lock(module):
        modules = list(module.modules())
        params = list(module.parameters())
        flags = [p.requires_grad for p in params]
        grads = [p.grad for p in params]
        modes = [m.training for m in modules]
        buffers = [
            (m, name, b, b.detach().clone())
            for m in modules
            for name, b in m._buffers.items()
            if b is not None
        ]
        try:  # switch and restore only what differs: a model already in eval costs no module call
            if (mode == "eval" and any(modes)) or (mode == "train" and not all(modes)):
                module.train(mode == "train")
            if freeze:
                for p, flag in zip(params, flags):
                    if flag:
                        p.requires_grad_(False)
            yield module
        finally:
            for p, flag, grad in zip(params, flags, grads):
                if p.requires_grad != flag:
                    p.requires_grad_(flag)
                if p.grad is not grad:
                    p.grad = grad
            for m, training in zip(modules, modes):
                if m.training != training:
                    m.training = training
            with torch.no_grad():
                for m, name, b, saved in buffers:
                    b.copy_(saved)
                    m._buffers[name] = b
