"""Model selection with keras-tuner: search spaces, DeepStackSearch, HyperModel."""

from deepstack.tuning._hypermodel import DeepStackHyperModel
from deepstack.tuning._results import NoTrialCompletedError
from deepstack.tuning._search import DeepStackSearch
from deepstack.tuning._space import Boolean, Choice, Float, Int, default_search_space
from deepstack.tuning._tuner import DeepStackTuner

__all__ = [
    "Boolean",
    "Choice",
    "DeepStackHyperModel",
    "DeepStackSearch",
    "DeepStackTuner",
    "Float",
    "Int",
    "NoTrialCompletedError",
    "default_search_space",
]
