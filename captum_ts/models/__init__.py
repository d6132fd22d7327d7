"""Small reference models used by the demo, tutorials and benchmarks."""

from .classifiers import CNN1dClassifier, GRUClassifier
from .forecast_training import fit_forecaster, forecast_mse
from .forecasters import GRUForecaster, LinearForecaster, MLPForecaster, NLinearForecaster
from .state_classifier import StateClassifier, fit_state_classifier
from .training import accuracy, fit_classifier

__all__ = [
    "CNN1dClassifier",
    "GRUClassifier",
    "GRUForecaster",
    "LinearForecaster",
    "MLPForecaster",
    "NLinearForecaster",
    "StateClassifier",
    "accuracy",
    "fit_classifier",
    "fit_forecaster",
    "fit_state_classifier",
    "forecast_mse",
]
