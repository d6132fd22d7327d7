"""Adapters from forecasting and classification libraries to Captum's terms.

One module per library (``neuralforecast``, ``darts``, ``pytorch_forecasting``,
``sktime``), each with one entry point ``adapt(model, data, **options) ->
AdaptedModel``; a library is imported only when its adapter is called (install it
with the extra of the same name, e.g. ``pip install captum-ts[neuralforecast]``).
"""

from ._base import AdaptedModel

__all__ = ["AdaptedModel"]
