"""White-box scores: compare an attribution with a known (true) saliency mask.

The definitions follow the HMM benchmark of Crabbé & van der Schaar (Dynamask, 2021) and
Enguehard (ExtremalMask, 2023), so the numbers can be compared with their published tables:

1. each example's attribution is min-max normalised, ``(a - min) / (max - min + 1e-5)``
   (``normalize=True``, the default);
2. the normalised values are compared with the binary truth ``A``:

   * **AUP** / **AUR**: area under the precision / recall *as functions of the threshold*
     (trapezoid over the distinct attribution values, as
     ``sklearn.metrics.auc(thresholds, precision[:-1])`` on ``precision_recall_curve``);
   * **information** ``= sum_{A=1} |log2(1 - a + 1e-5)|`` (higher is better);
   * **entropy** ``= sum_{A=1} a |log2(a + 1e-5)| + (1 - a) |log2(1 - a + 1e-5)|`` (lower is better);
   * **AUROC** (``roc_auc_score``) and **AUPRC** (``average_precision_score``).

By default all examples are pooled into one score, as the published tables are
(``per_example=False``, a 0-d tensor); ``per_example=True`` returns one score per example
``(B,)``, computed for all examples at once. A tuple of attributions gives a tuple of scores,
one per tensor. Everything runs in torch, without gradients, on the attributions' device.
Ties share one threshold, as in scikit-learn. Scores that need positives (AUR, AUROC, AUPRC)
are NaN for a group with none, AUROC also for a group with no negatives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

EPS = 1e-5

TensorOrTuple = Tensor | tuple[Tensor, ...]

__all__ = ["aup", "auprc", "aur", "auroc", "entropy", "information"]


class _Ranked(NamedTuple):
    """Rows sorted by decreasing score; curve values taken at the end of each tie group."""

    scores: Tensor  # (G, L) sorted, descending
    tp: Tensor  # (G, L) true positives at or above each threshold
    fp: Tensor  # (G, L) false positives at or above each threshold
    positives: Tensor  # (G, 1)
    negatives: Tensor  # (G, 1)


def aup(
    attributions: TensorOrTuple,
    true_saliency: TensorOrTuple,
    normalize: bool = True,
    per_example: bool = False,
) -> TensorOrTuple:
    """Area under the precision-vs-threshold curve (higher is better).

    >>> import torch
    >>> truth = torch.tensor([[0, 1, 1, 0]])
    >>> round(float(aup(torch.tensor([[0.0, 1.0, 0.9, 0.2]]), truth)), 3)
    0.8
    """
    return _score(attributions, true_saliency, normalize, per_example, _aup)


def aur(
    attributions: TensorOrTuple,
    true_saliency: TensorOrTuple,
    normalize: bool = True,
    per_example: bool = False,
) -> TensorOrTuple:
    """Area under the recall-vs-threshold curve (higher is better).

    >>> import torch
    >>> truth = torch.tensor([[0, 1, 1, 0]])
    >>> round(float(aur(torch.tensor([[0.0, 1.0, 0.9, 0.2]]), truth)), 3)
    0.975
    """
    return _score(attributions, true_saliency, normalize, per_example, _aur)


def information(
    attributions: TensorOrTuple,
    true_saliency: TensorOrTuple,
    normalize: bool = True,
    per_example: bool = False,
) -> TensorOrTuple:
    """``sum |log2(1 - a + 1e-5)|`` over the truly salient cells (higher is better).

    >>> import torch
    >>> round(float(information(torch.tensor([[0.0, 0.5]]), torch.tensor([[0, 1]]), normalize=False)), 4)
    1.0
    """
    return _score(attributions, true_saliency, normalize, per_example, _information, ranked=False)


def entropy(
    attributions: TensorOrTuple,
    true_saliency: TensorOrTuple,
    normalize: bool = True,
    per_example: bool = False,
) -> TensorOrTuple:
    """Binary entropy (bits) of the attribution over the truly salient cells (lower is better).

    >>> import torch
    >>> round(float(entropy(torch.tensor([[0.0, 0.5]]), torch.tensor([[0, 1]]), normalize=False)), 4)
    1.0
    """
    return _score(attributions, true_saliency, normalize, per_example, _entropy, ranked=False)


def auroc(
    attributions: TensorOrTuple,
    true_saliency: TensorOrTuple,
    normalize: bool = True,
    per_example: bool = False,
) -> TensorOrTuple:
    """Area under the ROC curve, as ``sklearn.metrics.roc_auc_score`` (higher is better).

    >>> import torch
    >>> float(auroc(torch.tensor([[0.1, 0.8, 0.7, 0.2]]), torch.tensor([[0, 1, 1, 0]])))
    1.0
    """
    return _score(attributions, true_saliency, normalize, per_example, _auroc)


def auprc(
    attributions: TensorOrTuple,
    true_saliency: TensorOrTuple,
    normalize: bool = True,
    per_example: bool = False,
) -> TensorOrTuple:
    """Average precision, as ``sklearn.metrics.average_precision_score`` (higher is better).

    >>> import torch
    >>> float(auprc(torch.tensor([[0.1, 0.8, 0.7, 0.2]]), torch.tensor([[0, 1, 1, 0]])))
    1.0
    """
    return _score(attributions, true_saliency, normalize, per_example, _auprc)


# ---------------------------------------------------------------------------------------------
# the scores on prepared (G, L) rows


def _aup(r: _Ranked) -> Tensor:
    precision = r.tp / (r.tp + r.fp)
    return _trapezoid_over_thresholds(r.scores, precision)


def _aur(r: _Ranked) -> Tensor:
    recall = r.tp / r.positives
    return _trapezoid_over_thresholds(r.scores, recall)


def _auroc(r: _Ranked) -> Tensor:
    tpr = r.tp / r.positives
    fpr = r.fp / r.negatives
    zero = torch.zeros_like(tpr[:, :1])
    tpr, fpr = torch.cat((zero, tpr), 1), torch.cat((zero, fpr), 1)
    return (fpr.diff(dim=1) * (tpr[:, 1:] + tpr[:, :-1])).sum(1) / 2


def _auprc(r: _Ranked) -> Tensor:
    precision = r.tp / (r.tp + r.fp)
    recall = r.tp / r.positives
    steps = recall.diff(dim=1, prepend=torch.zeros_like(recall[:, :1]))
    return (steps * precision).sum(1)


def _information(a: Tensor, truth: Tensor) -> Tensor:
    return (torch.log2(1 - a + EPS).abs() * truth).sum(1)


def _entropy(a: Tensor, truth: Tensor) -> Tensor:
    bits = a * torch.log2(a + EPS).abs() + (1 - a) * torch.log2(1 - a + EPS).abs()
    return (bits * truth).sum(1)


def _trapezoid_over_thresholds(scores: Tensor, values: Tensor) -> Tensor:
    """Trapezoid area of ``values`` against the (descending) thresholds; ties have zero width."""
    widths = scores[:, :-1] - scores[:, 1:]
    return (widths * (values[:, :-1] + values[:, 1:])).sum(1) / 2


# ---------------------------------------------------------------------------------------------
# preparation


def _score(
    attributions: TensorOrTuple,
    true_saliency: TensorOrTuple,
    normalize: bool,
    per_example: bool,
    fn: Callable[..., Tensor],
    ranked: bool = True,
) -> TensorOrTuple:
    is_tuple = isinstance(attributions, tuple)
    attrs = attributions if is_tuple else (attributions,)
    truths = true_saliency if isinstance(true_saliency, tuple) else (true_saliency,)
    if len(attrs) != len(truths):
        raise ValueError(
            f"`attributions` has {len(attrs)} tensors but `true_saliency` has {len(truths)}; "
            "pass one true mask per attribution tensor."
        )
    out = []
    with torch.no_grad():
        for i, (a, t) in enumerate(zip(attrs, truths)):
            where = "" if len(attrs) == 1 else f"[{i}]"
            a, t = _rows(a, t, normalize, per_example, where)
            out.append(fn(_rank(a, t)) if ranked else fn(a, t))
    results = tuple(r if per_example else r[0] for r in out)
    return results if is_tuple else results[0]


def _rows(a: Tensor, t: Tensor, normalize: bool, per_example: bool, where: str) -> tuple[Tensor, Tensor]:
    """Check, normalise per example and flatten to ``(G, L)`` float64 rows."""
    if not isinstance(a, Tensor) or not isinstance(t, Tensor):
        raise TypeError("`attributions` and `true_saliency` must be torch tensors (or tuples of them).")
    if a.shape != t.shape:
        raise ValueError(
            f"`attributions{where}` has shape {tuple(a.shape)} but `true_saliency{where}` has "
            f"{tuple(t.shape)}; they must match."
        )
    if a.dim() < 1 or a.numel() == 0:
        raise ValueError(f"`attributions{where}` is empty; pass a batch of at least one example.")
    if a.is_complex():
        raise TypeError(f"`attributions{where}` is complex; pass real-valued attributions (e.g. `.abs()`).")
    if not a.is_floating_point():  # integer or boolean maps are rankings: compared as floats
        a = a.double()
    if not bool(torch.isfinite(a).all()):
        raise ValueError(f"`attributions{where}` contains NaN or Inf values.")
    binary = (t == 0) | (t == 1)
    if not bool(binary.all()):
        raise ValueError(f"`true_saliency{where}` must be a binary mask holding only 0 and 1.")
    a = a.detach().reshape(a.shape[0], -1).double()
    t = t.detach().reshape(t.shape[0], -1).to(device=a.device, dtype=torch.float64)
    if normalize:
        low = a.amin(1, keepdim=True)
        high = a.amax(1, keepdim=True)
        a = (a - low) / (high - low + EPS)
    if not per_example:
        a, t = a.reshape(1, -1), t.reshape(1, -1)
    return a, t


def _rank(a: Tensor, t: Tensor) -> _Ranked:
    """Sort every row by decreasing score and count true and false positives per threshold.

    A threshold is a distinct score: every position of a tie group takes the counts at the
    group's last position, so ties contribute zero width to areas and zero steps to sums.
    """
    scores, order = a.sort(dim=1, descending=True, stable=True)
    hits = t.gather(1, order)
    length = scores.shape[1]
    index = torch.arange(length, device=a.device).expand_as(scores)
    is_end = torch.ones_like(scores, dtype=torch.bool)
    is_end[:, :-1] = scores[:, :-1] != scores[:, 1:]
    # the first group end at or after each position: a reversed running minimum
    ends = torch.where(is_end, index, torch.full_like(index, length))
    ends = ends.flip(1).cummin(1).values.flip(1)
    tp = hits.cumsum(1).gather(1, ends)
    fp = (ends + 1).to(tp.dtype) - tp
    positives = t.sum(1, keepdim=True)
    negatives = length - positives
    nan = torch.full_like(positives, float("nan"))
    return _Ranked(
        scores,
        tp,
        fp,
        torch.where(positives > 0, positives, nan),
        torch.where(negatives > 0, negatives, nan),
    )
