"""The two-state hidden Markov "state" dataset of the Dynamask and ExtremalMask benchmarks."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .._validation import check_positive_int
from ._random import dataset_generator

#: emission means of state 0 and state 1 (one row per state, one column per feature)
MEANS = ((0.1, 1.6, 0.5), (-0.1, -0.4, -1.5))
#: the feature that carries the label in each state (state 0 -> feature 1, state 1 -> feature 2)
IMPORTANT = (1, 2)
#: the feature weakly correlated (covariance 0.01) with the important one in each state
CORRELATED = (0, 0)


class HMMSeries(NamedTuple):
    """Series ``(N, T, 3)``, per-step labels ``(N, T)``, true saliency ``(N, T, 3)`` and the
    hidden states ``(N, T)``."""

    inputs: Tensor
    labels: Tensor
    saliency: Tensor
    states: Tensor


def hmm_state(n_samples: int = 1000, length: int = 200, seed: int | torch.Generator = 0) -> HMMSeries:
    """Draw ``n_samples`` series of the HMM "state" benchmark (3 features, 2 hidden states).

    The hidden state starts from a fair coin ``s_{-1}`` and the first emitted state is
    already a transition from it. ``P(s_t = 1 | s_{t-1} = 0) = 0.05`` and
    ``P(s_t = 1 | s_{t-1} = 1) = 0.95 - d / 500``, where ``d`` counts the steps already
    spent in the current state (so long stays in state 1 become less likely). Each step
    emits ``x_t ~ N(mu_s, Sigma_s)`` with ``mu_0 = (0.1, 1.6, 0.5)``,
    ``mu_1 = (-0.1, -0.4, -1.5)`` and ``Sigma_s = 0.801 I`` plus a covariance of 0.01
    between feature 0 and the state's important feature, and a label
    ``y_t ~ Bernoulli(sigmoid(2 x_{t, s_t + 1}))``. Only feature ``s_t + 1`` (1 in state 0,
    2 in state 1) carries the label: the true saliency is 1 there and 0 elsewhere.

    The benchmark uses 800 training and 200 test series of length 200: draw them with two
    seeds. The state chain is drawn step by step (it is sequential), vectorised over the
    series; everything comes from one ``torch.Generator`` seeded with ``seed`` (or ``seed``
    itself when it is a CPU ``torch.Generator``); the global RNG is not used.

    >>> data = hmm_state(n_samples=4, length=50, seed=1)
    >>> data.inputs.shape, data.labels.shape, data.saliency.sum(-1).unique().tolist()
    (torch.Size([4, 50, 3]), torch.Size([4, 50]), [1.0])
    """
    check_positive_int(n_samples, "n_samples")
    check_positive_int(length, "length")
    g = dataset_generator(seed)
    states = _state_chain(n_samples, length, g)  # (N, T)

    means = torch.tensor(MEANS, dtype=torch.float64)  # (2, 3)
    chol = torch.linalg.cholesky(_covariances())  # (2, 3, 3)
    z = torch.randn(n_samples, length, 3, generator=g, dtype=torch.float64)
    x = means[states] + torch.einsum("ntij,ntj->nti", chol[states], z)

    important = torch.tensor(IMPORTANT)[states]  # (N, T)
    driver = x.gather(2, important.unsqueeze(-1)).squeeze(-1)
    u = torch.rand(n_samples, length, generator=g, dtype=torch.float64)
    labels = (u < torch.sigmoid(2.0 * driver)).long()

    saliency = torch.zeros(n_samples, length, 3)
    saliency.scatter_(2, important.unsqueeze(-1), 1.0)
    return HMMSeries(x.float(), labels, saliency, states)


def _covariances() -> Tensor:
    """``(2, 3, 3)``: ``0.8 I + 1e-3 I`` with 0.01 between feature 0 and the important feature."""
    cov = (0.8 + 1e-3) * torch.eye(3, dtype=torch.float64).repeat(2, 1, 1)
    for s, (imp, corr) in enumerate(zip(IMPORTANT, CORRELATED)):
        cov[s, imp, corr] = cov[s, corr, imp] = 0.01
    return cov


def _state_chain(n: int, length: int, g: torch.Generator) -> Tensor:
    """``(n, length)`` hidden states; the stay probability of state 1 decays with the stay length."""
    previous = (torch.rand(n, generator=g) < 0.5).long()
    stay = torch.zeros(n)
    u = torch.rand(length, n, generator=g)
    out = torch.empty(length, n, dtype=torch.long)
    for t in range(length):  # a Markov chain: each step needs the previous one
        p_one = torch.where(previous == 1, (0.95 - stay / 500).clamp(0.0, 1.0), torch.full_like(stay, 0.05))
        state = (u[t] < p_one).long()
        stay = torch.where(state == previous, stay + 1, torch.zeros_like(stay))
        out[t] = previous = state
    return out.T.contiguous()
