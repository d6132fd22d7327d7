"""Keep the user's model exactly as it was.

``frozen_model`` stops gradients flowing into a model's parameters while an
attribution runs and restores every parameter's ``requires_grad`` flag, its
``.grad`` and every module's train/eval mode afterwards, also when an exception
is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


def find_module(forward_func: Callable) -> nn.Module | None:
    """The ``nn.Module`` behind a forward function: the module itself, the owner of a
    bound method (``model.forward``), or ``None`` for a plain function."""
    if isinstance(forward_func, nn.Module):
        return forward_func
    owner = getattr(forward_func, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


@contextmanager
def frozen_model(forward_func: Callable, mode: str | None = None) -> Iterator[nn.Module | None]:
    """Freeze the model behind ``forward_func`` for the duration of the block.

    Parameters get ``requires_grad=False`` (so no graph is built into them and no
    ``.grad`` is touched); ``mode`` ``"eval"``/``"train"`` switches the module mode
    (``None`` leaves it). Everything is restored on exit, as by
    :func:`preserved_model_state`.
    """
    module = find_module(forward_func)
    if module is None:
        yield None
        return
    with preserved_model_state(module, mode):
        for p in module.parameters():
            p.requires_grad_(False)
        yield module


def snapshot_parameters(module: nn.Module) -> list[torch.Tensor]:
    """Detached copies of every parameter and buffer, for before/after comparisons."""
    return [t.detach().clone() for t in (*module.parameters(), *module.buffers())]


@contextmanager
def preserved_model_state(module: nn.Module, mode: str | None = None) -> Iterator[nn.Module]:
    """Run a block that differentiates ``module``'s parameters and leave no trace.

    Unlike :func:`frozen_model` the parameters keep ``requires_grad``, so the block
    can take parameter gradients (with ``torch.autograd.grad``). ``mode``
    ``"eval"``/``"train"`` switches the module mode (``None`` leaves it). On exit,
    also after an exception, every parameter's ``requires_grad`` flag and ``.grad``,
    every module's train/eval mode and every buffer's values (e.g. BatchNorm
    running statistics updated by a forward in train mode) are restored.

    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)).eval()
    >>> with preserved_model_state(net, mode="train"):
    ...     _ = net(torch.randn(4, 2))
    >>> net.training, bool(net[1].running_mean.abs().sum() == 0)
    (False, True)
    """
    params = list(module.parameters())
    flags = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    modes = [(m, m.training) for m in module.modules()]
    buffers = [
        (m, name, b, b.detach().clone())
        for m in module.modules()
        for name, b in m._buffers.items()
        if b is not None
    ]
    try:
        if mode == "eval":
            module.eval()
        elif mode == "train":
            module.train()
        yield module
    finally:
        for p, flag, grad in zip(params, flags, grads):
            p.requires_grad_(flag)
            p.grad = grad
        for m, training in modes:
            m.training = training
        with torch.no_grad():
            for m, name, b, saved in buffers:
                b.copy_(saved)
                m._buffers[name] = b
