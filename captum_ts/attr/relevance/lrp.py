"""Layer-wise relevance propagation for time-series models, a drop-in for ``captum.attr.LRP``."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from captum.attr import GradientAttribution
from captum.log import log_usage
from torch import Tensor, nn

from ..._compat import (
    TargetType,
    TensorOrTupleOfTensorsGeneric,
    _format_additional_forward_args,
    _format_output,
    _format_tensor_into_tuples,
    _is_tuple,
)
from ..._gradients import check_grad_mode, check_graph
from ..._state import frozen_model
from ..._targets import normalize_target, select_target
from ..._validation import check_inputs
from .composites import Composite, Key, check_overrides, get_composite
from .functional_ops import check_functional_ops
from .hooks import attached_rules
from .rules import Rule


class LRP(GradientAttribution):
    r"""Layer-wise relevance propagation (Bach et al. 2015) with rules by layer.

    The explained output :math:`f_c(x)` is redistributed layer by layer down to the
    inputs by each layer's rule (:mod:`captum_ts.attr.relevance.rules`), so that
    (up to what biases and epsilons absorb) the attributions of an example sum to
    :math:`f_c(x)`. Rules come from a ``composite`` (a preset name or a
    :class:`~captum_ts.attr.relevance.composites.Composite`) and per-layer
    ``rules`` overrides, by module instance or type.

    Differences from ``captum.attr.LRP``:

    * the rules stay in this object: nothing is written into the model, and every
      hook is removed after the call (Captum deletes ``module.rule``);
    * ``Conv1d``, 1-D pooling, ``BatchNorm1d`` (merged into the layer before it),
      ``Flatten``, ``nn.LSTM`` and ``nn.GRU`` (Arras et al. 2017) have rules;
    * a layer with no rule, or an operation in ``forward`` that no rule covers
      (``x.mean(-1)``, ``amax``, ``a + b``, matmul), is refused with an error that
      names it, instead of being propagated wrongly, and so is an explained output that
      is NaN or infinite;
    * the model runs in eval mode during the call and is left as it was.

    Args:
        model (nn.Module): the model; its forward may take extra arguments.
        composite (str or Composite): ``"epsilon"`` (default, ``eps=1e-9`` as
            Captum), ``"zero"``, ``"gamma"``, ``"zplus"``, ``"alpha1-beta0"``,
            ``"alpha2-beta1"``, ``"epsilon-plus"``, ``"epsilon-plus-flat"``.
        rules (dict, optional): ``{module or layer type: rule}`` overriding the
            composite, e.g. ``{nn.Conv1d: rules.gamma(0.25), model.head: rules.epsilon(0.1)}``.

    Examples::

        >>> import torch
        >>> from torch import nn
        >>> from captum_ts import LRP
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(30, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> attr, delta = LRP(model).attribute(torch.randn(4, 10, 3), target=1, return_convergence_delta=True)
        >>> attr.shape
        torch.Size([4, 10, 3])
    """

    def __init__(
        self,
        model: nn.Module,
        composite: str | Composite = "epsilon",
        rules: Mapping[Key, Rule] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"`model` must be an nn.Module, got {type(model).__name__}.")
        GradientAttribution.__init__(self, model)
        self.model = model
        self.composite = get_composite(composite)
        self.rules = check_overrides(rules)

    @log_usage()
    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: object = None,
        return_convergence_delta: bool = False,
        verbose: bool = False,
    ) -> TensorOrTupleOfTensorsGeneric | tuple[TensorOrTupleOfTensorsGeneric, Tensor]:
        r"""Relevance of every input element for the target output.

        Args:
            inputs (Tensor or tuple[Tensor, ...]): batch first, any layout the model
                takes: ``(B, T, F)`` for channel-last models, ``(B, F, T)`` for ``Conv1d``.
            target (int, tuple, Tensor or list, optional): Captum's target; ``(h, c)``
                or a list of such tuples for ``(B, H, C)`` forecasters. It must
                select one scalar per example.
            additional_forward_args (Any, optional): passed to the model after the inputs.
            return_convergence_delta (bool): also return, per example, the explained
                output minus the sum of the attributions (Captum's sign; 0 when
                relevance is conserved, what biases and epsilons absorbed otherwise).
            verbose (bool): print the rule applied to each layer.

        Returns:
            attributions shaped like ``inputs`` (same container), and the ``(B,)``
            convergence delta when asked for.
        """
        return self._attribute(inputs, target, additional_forward_args, return_convergence_delta, verbose)

    def _attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType,
        additional_forward_args: object,
        return_convergence_delta: bool,
        verbose: bool,
        composite: Composite | None = None,
    ):
        check_grad_mode(type(self).__name__)
        is_tuple = _is_tuple(inputs)
        xs = _format_tensor_into_tuples(inputs)
        batch = check_inputs(xs)
        tgt = normalize_target(target, batch)
        args = _format_additional_forward_args(additional_forward_args) or ()
        composite = composite or self.composite
        with frozen_model(self.model), torch.enable_grad():
            with attached_rules(self.model, composite, self.rules, verbose) as routed:
                leaves = tuple(x.detach().requires_grad_() for x in xs)
                output = check_graph(self.model(*leaves, *args))
            check_functional_ops(output, routed)
            selected = select_target(output, tgt)
            _check_finite(selected)
            relevance = torch.autograd.grad(
                selected, leaves, selected.detach(), allow_unused=True, materialize_grads=True
            )
        attributions = tuple(r.detach().contiguous() for r in relevance)
        result = _format_output(is_tuple, attributions)
        if not return_convergence_delta:
            return result
        total = sum(a.reshape(batch, -1).sum(1) for a in attributions)
        return result, selected.detach() - total

    def has_convergence_delta(self) -> bool:
        return True


def _check_finite(selected: Tensor) -> None:
    """Refuse explained outputs that are NaN or infinite: no rule can split them, and the
    propagation sends no relevance through non-finite ratios."""
    selected = selected.detach()
    if math.isfinite(float(selected.sum())):  # one reduction; the exact check only on failure
        return
    bad = ~torch.isfinite(selected)
    if bool(bad.any()):
        rows = bad.nonzero().flatten().tolist()
        raise ValueError(
            f"the explained output is not finite for example(s) {rows[:10]}; LRP can only split a "
            "finite output. Check the model on these inputs, or pass another `target`."
        )
