"""Activation maximisation for sequence models: ``SequenceDreaming``, its regularisers and decoders."""

from . import decoders, regularizers
from .sequence_dreaming import SequenceDreaming, random_starts

__all__ = ["SequenceDreaming", "decoders", "random_starts", "regularizers"]
