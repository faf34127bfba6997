"""Epoch-level Keras callbacks for deepstack's training protocol."""

from deepstack.callbacks._batch_norm import set_population_statistics
from deepstack.callbacks._divergence import (
    DivergenceError,
    DivergenceGuard,
    initial_loss,
)
from deepstack.callbacks._early_stopping import EarlyStopping
from deepstack.callbacks._lr_decay import LearningRateDecay
from deepstack.callbacks._lr_halving import LearningRateHalving
from deepstack.callbacks._recorder import LearningRateRecorder
from deepstack.callbacks._score import ValidationScore
from deepstack.callbacks._tensorboard import EpochTensorBoard
from deepstack.callbacks._time_limit import TimeLimit
from deepstack.callbacks._validation import ValidationPass

__all__ = [
    "DivergenceError",
    "DivergenceGuard",
    "EarlyStopping",
    "EpochTensorBoard",
    "LearningRateDecay",
    "LearningRateHalving",
    "LearningRateRecorder",
    "TimeLimit",
    "ValidationPass",
    "initial_loss",
    "ValidationScore",
    "set_population_statistics",
]
