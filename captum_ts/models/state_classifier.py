"""The GRU state classifier of the HMM benchmark, emitting a prediction at every step."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .training import fit_classifier


class StateClassifier(nn.Module):
    """A one-layer GRU followed by ``BatchNorm1d -> ReLU -> Dropout -> Linear``, applied to the
    hidden state of every step: ``(B, T, F)`` in, logits ``(B, T, n_classes)`` out.

    ``per_step=False`` returns the last step's logits ``(B, n_classes)`` instead. The
    benchmark's sizes are ``hidden_size=200`` and ``dropout=0.5``; the GRU is causal, so the
    logits at step ``t`` only see ``x[:, :t + 1]``.

    >>> StateClassifier(3, hidden_size=16)(torch.zeros(4, 50, 3)).shape
    torch.Size([4, 50, 2])
    """

    def __init__(
        self,
        n_features: int = 3,
        n_classes: int = 2,
        hidden_size: int = 200,
        dropout: float = 0.5,
        per_step: bool = True,
    ) -> None:
        super().__init__()
        self.per_step = per_step
        self.rnn = nn.GRU(n_features, hidden_size, batch_first=True)
        self.head = nn.Sequential(
            nn.BatchNorm1d(hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, n_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        states, _ = self.rnn(x)  # (B, T, H)
        if not self.per_step:
            return self.head(states[:, -1])
        batch, steps, hidden = states.shape
        return self.head(states.reshape(batch * steps, hidden)).reshape(batch, steps, -1)


def fit_state_classifier(
    model: nn.Module,
    inputs: Tensor,
    labels: Tensor,
    epochs: int = 10,
    lr: float = 3e-3,
    batch_size: int = 32,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> nn.Module:
    """Train a per-step classifier on ``(N, T)`` labels; return it in ``eval()`` mode.

    Every step's label is used in every batch (cross-entropy over all ``N x T`` steps),
    rather than the benchmark's one random prefix per batch; the classifier is causal, so
    the prediction at step ``t`` still sees only ``x[:, :t + 1]``. This reaches the same
    accuracy in a handful of epochs instead of 50. Seeded; ``model`` is trained in place.

    >>> from captum_ts.datasets.hmm import hmm_state
    >>> data = hmm_state(n_samples=16, length=20)
    >>> model = fit_state_classifier(StateClassifier(hidden_size=8), data.inputs, data.labels, epochs=1)
    >>> model.training
    False
    """
    if labels.shape != inputs.shape[:2]:
        raise ValueError(
            f"`labels` has shape {tuple(labels.shape)}; expected one label per step, "
            f"{tuple(inputs.shape[:2])}."
        )
    with torch.random.fork_rng(devices=[]):  # seeds the dropout masks, leaves the global stream alone
        torch.manual_seed(seed)
        return fit_classifier(
            model,
            inputs,
            labels,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            weight_decay=weight_decay,
            seed=seed,
        )
