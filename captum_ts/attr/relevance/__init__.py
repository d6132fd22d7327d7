"""Layer-wise relevance propagation: rules, composites, canonizers and the attributors."""

from . import composites, rules
from .composites import Composite
from .deep_taylor import DeepTaylor
from .lrp import LRP

__all__ = ["LRP", "Composite", "DeepTaylor", "composites", "rules"]
