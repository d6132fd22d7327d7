"""Real UCR/UEA classification sets, read from the copies shipped inside ``aeon``.

Nothing is downloaded: ``aeon`` (the ``tutorials`` extra) carries GunPoint,
ItalyPowerDemand, BasicMotions and a few more in its wheel.
"""

from __future__ import annotations

import numpy as np
import torch

from .bumps import LabelledSeries

#: sets shipped inside aeon's wheel, with their aeon loader names
SHIPPED = {
    "GunPoint": "load_gunpoint",
    "ItalyPowerDemand": "load_italy_power_demand",
    "BasicMotions": "load_basic_motions",
    "ArrowHead": "load_arrow_head",
}


def load_ucr(name: str, split: str = "train", znormalize: bool = False) -> LabelledSeries:
    """Load a UCR/UEA set as float32 ``(N, T, F)`` series and ``0..C-1`` labels.

    Real data has no known saliency: ``saliency`` is all zeros.
    ``znormalize`` standardises each series and channel over time.

    >>> data = load_ucr("GunPoint", "train")  # doctest: +SKIP
    >>> data.inputs.shape                     # doctest: +SKIP
    torch.Size([50, 150, 1])
    """
    if not isinstance(name, str) or name not in SHIPPED:
        raise ValueError(f"`name` must be one of {sorted(SHIPPED)}, got {name!r}.")
    if not isinstance(split, str) or split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test', got {split!r}.")
    try:
        import aeon.datasets as aeon_datasets
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("load_ucr needs aeon: pip install 'captum-ts[tutorials]'") from err
    x, y = getattr(aeon_datasets, SHIPPED[name])(split=split)
    x = np.asarray(x, dtype=np.float32).transpose(0, 2, 1)  # aeon: (N, C, T)
    if not np.isfinite(x).all():
        n = int(np.flatnonzero(~np.isfinite(x).all((1, 2)))[0])
        raise ValueError(f"{name} ({split}) holds NaN or Inf values, first in series {n}.")
    if znormalize:
        x = (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-8)
    classes = np.unique(y)
    labels = np.searchsorted(classes, y)
    inputs = torch.from_numpy(np.ascontiguousarray(x))
    return LabelledSeries(inputs, torch.from_numpy(labels).long(), torch.zeros_like(inputs))
