"""The optimisation behind Sequence Dreaming: one chunk's objective, loss terms,
projections and optimiser steps (a forward hook reads a layer's activation).

The sequences are optimised in at least float32: float16/bfloat16 models get
their inputs cast from the float32 sequences (Adam's ``eps`` and the
regularisers underflow in half precision), the result is cast back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..._gradients import check_graph
from ..._targets import Target, select_target
from .regularizers import LossTerm, Projection, from_channels_by_time, to_channels_by_time

NON_FINITE_START = (
    "the model output (or the `layer` activation) contains NaN or Inf values for the start "
    "sequences `inputs`; check the model (e.g. a log or division at 0, an overflow in float16) "
    "and the starts."
)
ZERO_GRADIENT = (
    "the objective's gradient is exactly zero at the start for rows {rows}: nothing would move "
    "them (e.g. every ReLU after a BatchNorm is off for starts near 0, or the border/probability "
    "objective is saturated at p = 0 or 1). Start at the data's scale, "
    "`random_starts(n, shape, scale=data.std())`, or from real series; for a saturated "
    "probability take a few steps with `objective='logit'` first."
)
NON_FINITE_DREAM = (
    "the dream reached NaN or Inf values during the optimisation (the model output, a "
    "regulariser or a gradient overflowed); lower `lr`, add an `L2` or `Clip` regulariser, "
    "or dream in float32."
)


class Problem:
    """One dreaming set-up: the objective, the regularisers and the optimiser."""

    def __init__(
        self,
        forward_func: Callable,
        layer: nn.Module | None,
        objective: str,
        tau: float,
        loss_terms: list[LossTerm],
        projections: list[Projection],
        time_dims: tuple[int, ...],
        make_optimizer: Callable[[list[Tensor]], torch.optim.Optimizer],
        decoder: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self.forward_func = forward_func
        self.layer = layer
        self.objective = objective
        self.tau = tau
        self.loss_terms = loss_terms
        self.projections = projections
        self.time_dims = time_dims
        self.make_optimizer = make_optimizer
        self.decoder = decoder

    def series(self, leaves: list[Tensor]) -> list[Tensor]:
        """The sequences the leaves stand for: the leaves, or the decoded codes."""
        return leaves if self.decoder is None else [self.decoder(leaves[0])]

    def solve(
        self,
        starts: tuple[Tensor, ...],
        target: Target,
        selector: object,
        afa: tuple | None,
        steps: int,
        record: bool,
        dtypes: list[torch.dtype] | None = None,
        first_row: int = 0,
    ) -> tuple[tuple[Tensor, ...], Tensor]:
        """Run the optimisation on one chunk of rows; return the sequences and the
        ``(steps, rows)`` objective trajectory (empty unless ``record``).

        ``starts`` are the start sequences, or with a decoder the start codes and
        ``dtypes`` the dtype of the decoded series the model gets; ``first_row`` is
        the chunk's first row in the batch, for error messages."""
        dtypes = dtypes or [s.dtype for s in starts]
        leaves = [
            s.to(torch.promote_types(s.dtype, torch.float32), copy=True).requires_grad_(True) for s in starts
        ]
        opt = self.make_optimizer(leaves)
        captured: list[object] = []
        handle = None
        if self.layer is not None:
            handle = self.layer.register_forward_hook(_capture_in_this_thread(captured))
        history: list[Tensor] = []
        nan_if_any = leaves[0].new_zeros(())  # 0 until a step's objective is NaN/Inf; read once
        try:
            for step in range(steps):
                with torch.enable_grad():
                    series = self.series(leaves)
                    xs = [x.to(dtype) for x, dtype in zip(series, dtypes)]
                    score = check_graph(self.score(xs, target, selector, afa, captured))
                    if step == 0:
                        self.check_start(score, leaves, first_row)
                    total = score - self.penalty(series) if self.loss_terms else score
                    nan_if_any = torch.add(nan_if_any, total.detach().sum(), alpha=0)  # 0*Inf = NaN
                    grads = torch.autograd.grad(
                        total.sum(), leaves, allow_unused=True, materialize_grads=True
                    )
                if record and step > 0:
                    history.append(score.detach())
                for leaf, grad in zip(leaves, grads):
                    leaf.grad = grad.neg()  # optimisers minimise: descend on -J
                opt.step()
                self.project(leaves, step)
            with torch.no_grad():
                seqs = tuple(x.detach().to(dtype) for x, dtype in zip(self.series(leaves), dtypes))
            if record:
                with torch.no_grad():
                    history.append(self.score(list(seqs), target, selector, afa, captured).detach())
                    nan_if_any = torch.add(nan_if_any, history[-1].sum(), alpha=0)
        finally:
            if handle is not None:
                handle.remove()
        if not (bool(torch.isfinite(nan_if_any)) and all(bool(torch.isfinite(x).all()) for x in seqs)):
            raise ValueError(NON_FINITE_DREAM)
        if not record:
            return seqs, seqs[0].new_zeros(0, seqs[0].shape[0])
        return seqs, torch.stack(history)

    def score(
        self, xs: list[Tensor], target: Target, selector: object, afa: tuple | None, captured: list
    ) -> Tensor:
        """The objective ``S`` per row, ``(B,)``."""
        captured.clear()
        output = self.forward_func(*xs, *afa) if afa is not None else self.forward_func(*xs)
        if self.objective == "logit":
            return select_target(output, target)
        if self.objective == "probability":
            return select_target(_probabilities(output), target)
        if self.objective == "border":
            return -(select_target(_probabilities(output), target) - self.tau).square()
        if not captured:
            raise ValueError("`layer` did not run during the forward pass; pick a layer the model calls.")
        return _layer_score(captured[-1], self.objective, selector, xs[0].shape[0])

    def check_start(self, score: Tensor, leaves: list[Tensor], first_row: int) -> None:
        """Refuse starts whose objective is not finite, or whose objective gradient
        is exactly zero (the dream would only be the regularisers' work)."""
        if not bool(torch.isfinite(score).all()):
            raise ValueError(NON_FINITE_START)
        grads = torch.autograd.grad(score.sum(), leaves, retain_graph=True, materialize_grads=True)
        moving = torch.stack([g.flatten(1).ne(0).any(1) for g in grads]).any(0)
        if not bool(moving.all()):
            rows = (first_row + (~moving).nonzero()[:, 0]).tolist()
            raise ValueError(ZERO_GRADIENT.format(rows=rows[:10] if len(rows) <= 10 else f"{rows[:10]} ..."))

    def penalty(self, xs: list[Tensor]) -> Tensor:
        """Sum of the loss terms per row, ``(B,)``, over every input tensor."""
        total = 0
        for x, time_dim in zip(xs, self.time_dims):
            view = to_channels_by_time(x, time_dim)
            for term in self.loss_terms:
                total = total + term.penalty(view)
        return total  # type: ignore[return-value]

    @torch.no_grad()
    def project(self, leaves: list[Tensor], step: int) -> None:
        """Apply the projections due after ``step`` in place on the optimised leaves;
        with a decoder, on the decoded series, mapped back to codes by ``encode``."""
        due = [p for p in self.projections if p.due(step)]
        if not due:
            return
        if self.decoder is not None:
            series = self.series(leaves)[0]
            view = to_channels_by_time(series, self.time_dims[0])
            for proj in due:
                view = proj.project(view)
            leaves[0].copy_(self.decoder.encode(from_channels_by_time(view, series.shape, self.time_dims[0])))
            return
        for leaf, time_dim in zip(leaves, self.time_dims):
            view = start = to_channels_by_time(leaf, time_dim)
            for proj in due:
                view = proj.project(view)
            if view is start:  # every projection was the identity
                continue
            if view.untyped_storage().data_ptr() == leaf.untyped_storage().data_ptr():
                view = view.clone()  # a projection returned a view of the leaf itself
            leaf.copy_(from_channels_by_time(view, leaf.shape, time_dim))


def _capture_in_this_thread(captured: list) -> Callable:
    """A forward hook that records the layer output of forwards run by this thread only."""
    owner = threading.get_ident()

    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        if threading.get_ident() == owner:
            captured.append(output)

    return hook


def _probabilities(output: Tensor) -> Tensor:
    """Softmax over the last axis; a sigmoid for single-logit outputs."""
    if not isinstance(output, Tensor):
        raise TypeError(f"the model returned {type(output).__name__}; wrap it so it returns a tensor.")
    if output.dim() <= 1 or output.shape[-1] == 1:
        return torch.sigmoid(output)
    return torch.softmax(output, dim=-1)


def _layer_score(activation: object, objective: str, selector: object, batch: int) -> Tensor:
    """Neuron or channel score per row from a captured layer output."""
    if callable(selector):
        value = selector(activation)
        if not isinstance(value, Tensor) or value.dim() != 1 or value.shape[0] != batch:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(
                f"callable `neuron_selector` must return one value per row, shape ({batch},); got {shape}."
            )
        return value
    act = activation[0] if isinstance(activation, (tuple, list)) else activation
    if not isinstance(act, Tensor):
        raise TypeError(f"the layer returned {type(act).__name__}; use a callable `neuron_selector`.")
    if objective == "channel":
        if act.dim() < 2:
            raise ValueError(
                "objective 'channel' needs a layer output with a channel axis 1, "
                f"got shape {tuple(act.shape)}."
            )
        act = act.flatten(2).mean(-1) if act.dim() > 2 else act
    return select_target(act, selector, name="neuron_selector")  # type: ignore[arg-type]
