"""Adapter for a fitted sktime torch deep classifier (``clf.network``) and its panel data.

sktime holds panels as ``(n_instances, n_dims, series_length)``; its torch classifiers
transpose each batch to ``(batch, series_length, n_dims)`` before ``clf.network``, and
so does this adapter: the one input ``X`` is ``(B, T, C)``, time on axis 1, as every
captum-ts method expects. ``forward_func`` returns the network's class scores
(``output="proba"``: the probabilities of ``predict_proba``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._base import AdaptedModel, as_float_tensor, require

__all__ = ["adapt"]


def adapt(clf: Any, X: Any, *, output: str = "logits") -> AdaptedModel:
    """Turn a fitted sktime torch deep classifier and ``X`` (any panel sktime accepts:
    a ``(n, dims, length)`` array, a multi-index DataFrame, ...) into an ``AdaptedModel``
    with one input ``X`` ``(B, T, C)`` and the output ``(B, classes)``.

    ``output="logits"`` (default) gives the network's scores, ``"proba"`` the
    probabilities exactly as ``predict_proba`` computes them. Tensorflow classifiers are
    refused (no torch module). The network is put in eval mode, as ``predict`` runs it.
    """
    require("sktime", "sktime")
    from sktime.datatypes import convert_to

    _check_supported(clf)
    if output not in ("logits", "proba"):
        raise ValueError(f"`output` must be 'logits' or 'proba', got {output!r}.")
    panel = np.array(convert_to(X, to_type="numpy3D"), dtype=np.float64)
    network = clf.network
    network.eval()  # as `predict` runs it; attributors set the mode they need during a call
    dtype = next(network.parameters()).dtype
    x = as_float_tensor(np.transpose(panel, (0, 2, 1)), dtype)
    n, t, c = x.shape
    dims = tuple(str(d) for d in X.columns) if hasattr(X, "columns") else tuple(f"dim_{i}" for i in range(c))
    instances = X.index.get_level_values(0).unique().to_numpy() if hasattr(X, "index") else np.arange(n)
    softmax = output == "proba" and getattr(clf, "_validated_activation", None) is None
    return AdaptedModel(
        forward_func=_forward(network, softmax),
        inputs=(x.contiguous(),),
        input_names=("X",),
        feature_names=(dims,),
        time_stamps=(np.broadcast_to(np.arange(t), (n, t)),),
        series_ids=np.asarray(instances, dtype=object),
        output_names=tuple(str(label) for label in clf.classes_),
        module=network,
        kind="classifier",
    )


def _check_supported(clf: Any) -> None:
    from sktime.classification.deep_learning.base import BaseDeepClassifierPytorch

    name = type(clf).__name__
    if not isinstance(clf, BaseDeepClassifierPytorch):
        raise TypeError(
            f"`clf` must be a sktime torch deep classifier (e.g. CNNClassifierTorch, "
            f"SimpleRNNClassifierTorch), got {name}; tensorflow classifiers have no torch module."
        )
    if not clf.is_fitted:
        raise ValueError(f"{name} must be fitted (call `clf.fit` first).")
    if type(clf)._build_dataloader is not BaseDeepClassifierPytorch._build_dataloader:
        raise ValueError(f"{name} builds its own batches; only the standard `X` layout is supported.")


def _forward(network: Any, softmax: bool):
    """The network on ``(B, T, C)`` batches, as sktime's predict calls it."""

    def forward(x: Tensor) -> Tensor:
        scores = network(X=x)
        return torch.softmax(scores, -1) if softmax else scores

    return forward
