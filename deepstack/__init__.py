"""deepstack: deep feed-forward networks as scikit-learn estimators, on Keras 3."""

from deepstack._io import load, save
from deepstack._lr_finder import find_learning_rate
from deepstack.diagnostics import diagnose
from deepstack.estimators import (
    DeepStackClassifier,
    DeepStackRegressor,
    StackedAutoencoder,
)
from deepstack.tuning import (
    Boolean,
    Choice,
    DeepStackHyperModel,
    DeepStackSearch,
    Float,
    Int,
    default_search_space,
)

__version__ = "0.1.0"

__all__ = [
    "Boolean",
    "Choice",
    "DeepStackHyperModel",
    "DeepStackSearch",
    "Float",
    "Int",
    "default_search_space",
    "DeepStackClassifier",
    "DeepStackRegressor",
    "StackedAutoencoder",
    "diagnose",
    "find_learning_rate",
    "load",
    "save",
    "__version__",
]
