r"""The result of Horizon Activation Mapping: curves over cut-offs and their summaries.

A ``HorizonActivationResult`` holds, for every cut-off ``h = 0..H``, every
parameter tensor ("layer") and every group of variates, the gradient norm
averages of the causal loss (sub-series ``[0, h)``) and of the anti-causal loss
(sub-series ``[h, H)``). The model-level curve is the mean over the layers
(layers whose curves are zero everywhere, e.g. unused parameters, are left out).

Summaries, all vectorised over the trailing (variate, layer) axes:

* ``line(mode)``: the line of proportionality from ``(0, g(0))`` to ``(H, g(H))``,
  the curve that would result if every horizon step contributed the same;
* ``signed_area(mode)``: the area between curve and line (trapezoid rule),
  positive where the curve lies above the line;
* ``difference()``: causal minus anti-causal, divided by its maximum, and
  ``equivariant_point()``: the cut-off where that difference is closest to 0;
* ``normalized()``: every curve divided by its maximum over both modes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ._loss import MODES


@dataclass(frozen=True)
class HorizonActivationResult:
    """Gradient norm averages for every cut-off, per layer and per group of variates.

    Attributes:
        layer_causal (Tensor): ``(H+1, G, L)`` norms of the causal loss, cut-off
            first, then group of variates (``G = 1`` without ``variates``), then
            parameter tensor.
        layer_anticausal (Tensor): the same for the anti-causal loss.
        layer_names (tuple[str, ...]): the ``L`` parameter names.
        variates (tuple[tuple[int, ...], ...] or None): the groups of variates, or
            None for one curve over all variates.
        per_layer (bool): whether ``causal``/``anticausal`` keep the layer axis.
        scale (Tensor or None): the divisor applied by ``normalized()``, shaped like
            one cut-off of the curves.
        n_batches (int): number of batches averaged.
        backend (str): ``"batched"`` or ``"sequential"`` (models whose backward
            cannot be vectorised).
        head (str or None): the step-local output layer whose norms came from
            prefix sums, if one was found.

    Example::

        >>> import torch
        >>> from captum_ts.attr.horizon.horizon_activation_map import HorizonActivationMap
        >>> model = torch.nn.Linear(8, 4)
        >>> res = HorizonActivationMap(model).attribute(torch.randn(16, 8), torch.randn(16, 4))
        >>> res.causal.shape, res.cutoffs.tolist()
        (torch.Size([5]), [0, 1, 2, 3, 4])
        >>> bool(res.causal[0] == 0), bool(res.anticausal[-1] == 0)
        (True, True)
    """

    layer_causal: Tensor
    layer_anticausal: Tensor
    layer_names: tuple[str, ...]
    variates: tuple[tuple[int, ...], ...] | None = None
    per_layer: bool = False
    scale: Tensor | None = None
    n_batches: int = 1
    backend: str = "batched"
    head: str | None = None

    # ----------------------------------------------------------------- curves
    @property
    def horizon(self) -> int:
        """The forecast horizon ``H``."""
        return self.layer_causal.shape[0] - 1

    @property
    def cutoffs(self) -> Tensor:
        """The cut-offs ``0..H``."""
        return torch.arange(self.horizon + 1, device=self.layer_causal.device)

    @property
    def causal(self) -> Tensor:
        """Causal curve(s): ``(H+1,)``, ``(H+1, L)`` with ``per_layer``, ``(H+1, G)``
        with ``variates``, ``(H+1, G, L)`` with both."""
        return self._shaped(self.layer_causal)

    @property
    def anticausal(self) -> Tensor:
        """Anti-causal curve(s), shaped like ``causal``."""
        return self._shaped(self.layer_anticausal)

    def curves(self, mode: str) -> Tensor:
        """``causal`` or ``anticausal`` by name."""
        _check_mode(mode)
        return self.causal if mode == "causal" else self.anticausal

    @property
    def full(self) -> Tensor:
        """The gradient norm average of the full loss (``causal`` at ``H``)."""
        return self.causal[-1]

    def curve(
        self, mode: str = "causal", variate: int | None = None, layer: str | int | None = None
    ) -> Tensor:
        """One ``(H+1,)`` curve: pick the group of variates (its index in ``variates``)
        and, for per-layer results, the layer (name or index) when there are several."""
        c = self.curves(mode)
        if self.variates is not None:
            if variate is None and len(self.variates) > 1:
                raise ValueError(f"the result has {len(self.variates)} groups of variates; pass `variate=`.")
            c = c[:, variate or 0]
        if self.per_layer:
            if layer is None and len(self.layer_names) > 1:
                raise ValueError("the result is per layer; pass `layer=` (a name or an index).")
            c = c[..., self._layer_index(layer) if layer is not None else 0]
        return c

    # -------------------------------------------------------------- summaries
    def line(self, mode: str = "causal") -> Tensor:
        """The line of proportionality from ``(0, g(0))`` to ``(H, g(H))``, shaped like the curves."""
        c = self.curves(mode)
        frac = (self.cutoffs.to(c.dtype) / max(self.horizon, 1)).view(-1, *([1] * (c.dim() - 1)))
        return c[:1] + (c[-1:] - c[:1]) * frac

    def signed_area(self, mode: str = "causal", cumulative: bool = False, relative: bool = False) -> Tensor:
        """Signed area between the curve and its line of proportionality (trapezoid
        rule, unit spacing): positive where the curve lies above the line.

        ``cumulative`` gives the area up to every cut-off ``(H+1, ...)`` (0 at ``h = 0``);
        ``relative`` divides by the area under the line, ``H (g(0) + g(H)) / 2``.
        """
        gap = self.curves(mode) - self.line(mode)
        steps = (gap[1:] + gap[:-1]) / 2
        area = torch.cat([torch.zeros_like(gap[:1]), steps.cumsum(0)]) if cumulative else steps.sum(0)
        if relative:
            c = self.curves(mode)
            under = self.horizon * (c[0] + c[-1]) / 2
            area = area / torch.where(under == 0, torch.ones_like(under), under)
        return area

    def difference(self, normalize: bool = True) -> Tensor:
        """``causal - anticausal`` at every cut-off, divided by its maximum when
        ``normalize`` (so it runs from about -1 at ``h = 0`` to 1 at ``h = H``)."""
        d = self.causal - self.anticausal
        if not normalize:
            return d
        top = d.amax(0, keepdim=True)
        return d / torch.where(top > 0, top, torch.ones_like(top))

    def equivariant_point(self) -> Tensor:
        """The cut-off ``h* = argmin_h |causal - anticausal|``: where the sub-series
        before and after ``h`` move the parameters equally (long tensor, one value per curve)."""
        return self.difference(normalize=False).abs().argmin(0)

    def normalized(self) -> HorizonActivationResult:
        """Every curve divided by its maximum over both modes and all cut-offs; the
        divisor is kept in ``scale`` (loss scaling leaves the result unchanged)."""
        top = torch.maximum(self.causal.amax(0), self.anticausal.amax(0))
        top = torch.where(top > 0, top, torch.ones_like(top))
        factor = top if self.per_layer else top.unsqueeze(-1)
        if self.variates is None:
            factor = factor.unsqueeze(0)  # the group axis
        scale = top if self.scale is None else top * self.scale
        return replace(
            self,
            layer_causal=self.layer_causal / factor,
            layer_anticausal=self.layer_anticausal / factor,
            scale=scale,
        )

    def select_layers(self, layers: Sequence[str | int] | Callable[[str], bool]) -> HorizonActivationResult:
        """The result restricted to some parameter tensors (names, indices, or a
        predicate on names such as ``lambda n: n.startswith("encoder")``)."""
        if callable(layers):
            keep = [i for i, n in enumerate(self.layer_names) if layers(n)]
        else:
            keep = [self._layer_index(x) for x in layers]
        if not keep:
            raise ValueError("`layers` selects no parameter tensor.")
        idx = torch.tensor(keep, device=self.layer_causal.device)
        return replace(
            self,
            layer_causal=self.layer_causal.index_select(2, idx),
            layer_anticausal=self.layer_anticausal.index_select(2, idx),
            layer_names=tuple(self.layer_names[i] for i in keep),
            scale=None,
        )

    # ---------------------------------------------------------------- helpers
    def _shaped(self, per_layer: Tensor) -> Tensor:
        if self.per_layer:
            out = per_layer
        else:
            active = (self.layer_causal.abs().amax(0) > 0) | (
                self.layer_anticausal.abs().amax(0) > 0
            )  # (G, L)
            weight = active.to(per_layer.dtype)
            out = (per_layer * weight).sum(-1) / weight.sum(-1).clamp_min(1)
        return out if self.variates is not None else out.squeeze(1)

    def _layer_index(self, layer: str | int) -> int:
        if isinstance(layer, int) and not isinstance(layer, bool):
            if not -len(self.layer_names) <= layer < len(self.layer_names):
                raise IndexError(f"layer index {layer} out of range for {len(self.layer_names)} layers.")
            return layer % len(self.layer_names)
        if layer not in self.layer_names:
            raise KeyError(f"no parameter named {layer!r}; the layers are {list(self.layer_names)}.")
        return self.layer_names.index(layer)

    def __repr__(self) -> str:
        shape = tuple(self.causal.shape)
        groups = "" if self.variates is None else f", variates={list(self.variates)}"
        return (
            f"HorizonActivationResult(H={self.horizon}, curves {shape}, {len(self.layer_names)} layers"
            f"{groups}, n_batches={self.n_batches}, backend={self.backend!r})"
        )


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"`mode` must be 'causal' or 'anticausal', got {mode!r}.")
