"""Small reference models used by the demo, tutorials and benchmarks."""

from .classifiers import CNN1dClassifier, GRUClassifier
from .forecast_training import fit_forecaster, forecast_mse
from .forecasters import GRUForecaster, LinearForecaster, MLPForecaster, NLinearForecaster
from .state_classifier import StateClassifier, fit_state_classifier
from .training import accuracy, fit_classifier
from .zoo import FCNClassifier, TransformerClassifier

__all__ = [
    "CNN1dClassifier",
    "FCNClassifier",
    "GRUClassifier",
    "GRUForecaster",
    "LinearForecaster",
    "MLPForecaster",
    "NLinearForecaster",
    "StateClassifier",
    "TransformerClassifier",
    "accuracy",
    "fit_classifier",
    "fit_forecaster",
    "fit_state_classifier",
    "forecast_mse",
]
