"""Small reference models used by the demo, tutorials and benchmarks."""

from .classifiers import CNN1dClassifier, GRUClassifier
from .training import accuracy, fit_classifier

__all__ = ["CNN1dClassifier", "GRUClassifier", "accuracy", "fit_classifier"]
