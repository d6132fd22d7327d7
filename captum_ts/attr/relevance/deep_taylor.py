"""Deep Taylor decomposition (Montavon, Lapuschkin, Binder, Samek, Müller 2017)."""

from __future__ import annotations

from collections.abc import Mapping

from captum.log import log_usage
from torch import Tensor, nn

from ..._compat import TargetType, TensorOrTupleOfTensorsGeneric
from . import rules
from .composites import Composite, Key
from .layers import AVERAGE_POOLS, BATCH_NORMS, CONVOLUTIONS
from .lrp import LRP
from .rules import Rule

Bounds = tuple[float | Tensor, float | Tensor]


def deep_taylor(bounds: Bounds | None, unbounded: str = "wsquare") -> Composite:
    """z+ on every weighted layer; on the first one z^B for inputs in ``bounds``,
    otherwise w^2 (``unbounded="wsquare"``) or flat (``"flat"``)."""
    if bounds is not None:
        if not isinstance(bounds, tuple) or len(bounds) != 2:
            raise ValueError(f"`bounds` must be a pair (low, high), got {bounds!r}.")
        first = rules.zbox(*bounds)
    elif unbounded in ("wsquare", "flat"):
        first = rules.wsquare() if unbounded == "wsquare" else rules.flat()
    else:
        raise ValueError(f"`unbounded_rule` must be 'wsquare' or 'flat', got {unbounded!r}.")
    by_type = {nn.Linear: rules.zplus(), **dict.fromkeys(CONVOLUTIONS, rules.zplus())}
    by_type |= {t: rules.epsilon() for t in (*AVERAGE_POOLS, *BATCH_NORMS)}
    return Composite("deep-taylor", by_type, first)


class DeepTaylor(LRP):
    r"""Deep Taylor decomposition: relevance redistributed by root-point rules.

    Upper layers (ReLU inputs) use the z+ rule
    :math:`R_j = \sum_k x_j w_{jk}^+ / \sum_{j'} x_{j'} w_{j'k}^+ \, R_k`. The first
    weighted layer uses, for inputs known to lie in ``bounds=(l, h)``, the z^B rule
    :math:`z_{jk} = x_j w_{jk} - l_j w_{jk}^+ - h_j w_{jk}^-`, and otherwise the
    w^2 rule (or ``unbounded_rule="flat"``). Biases stay out of the denominators,
    as in the paper (whose derivation assumes non-positive biases), so relevance is
    conserved wherever a neuron has a positive contribution.
    Element-wise activations, pooling, ``Flatten`` and BatchNorm canonizing work as
    in :class:`LRP`; recurrent layers have no deep Taylor rule and are refused.

    Args:
        model (nn.Module): a ReLU network.
        rules (dict, optional): per-layer overrides, as in :class:`LRP`.

    Examples::

        >>> import torch
        >>> from torch import nn
        >>> from captum_ts import DeepTaylor
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> x = torch.rand(3, 10, 2)
        >>> attr = DeepTaylor(model).attribute(x, target=0, bounds=(0.0, 1.0))
        >>> attr.shape
        torch.Size([3, 10, 2])
    """

    def __init__(self, model: nn.Module, rules: Mapping[Key, Rule] | None = None) -> None:
        super().__init__(model, deep_taylor(None), rules)

    @log_usage()
    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: object = None,
        bounds: Bounds | None = None,
        unbounded_rule: str = "wsquare",
        return_convergence_delta: bool = False,
        verbose: bool = False,
    ) -> TensorOrTupleOfTensorsGeneric | tuple[TensorOrTupleOfTensorsGeneric, Tensor]:
        """Deep Taylor relevance of every input element for the target output.

        Args:
            inputs, target, additional_forward_args, return_convergence_delta, verbose:
                as in :meth:`LRP.attribute`.
            bounds (tuple, optional): ``(low, high)`` the first weighted layer's inputs
                lie in (scalars or tensors broadcastable to that layer's input, which
                is the model input unless the model transposes it first); selects
                the z^B rule. Inputs outside raise a ``ValueError``.
            unbounded_rule (str): ``"wsquare"`` or ``"flat"``, the first-layer rule
                when ``bounds`` is None.
        """
        composite = deep_taylor(bounds, unbounded_rule)
        return self._attribute(
            inputs, target, additional_forward_args, return_convergence_delta, verbose, composite
        )
