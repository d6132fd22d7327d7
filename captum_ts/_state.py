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
    (``None`` leaves it). Everything is restored on exit.
    """
    module = find_module(forward_func)
    if module is None:
        yield None
        return
    params = list(module.parameters())
    flags = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    modes = [(m, m.training) for m in module.modules()]
    try:
        for p in params:
            p.requires_grad_(False)
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


def snapshot_parameters(module: nn.Module) -> list[torch.Tensor]:
    """Detached copies of every parameter and buffer, for before/after comparisons."""
    return [t.detach().clone() for t in (*module.parameters(), *module.buffers())]
