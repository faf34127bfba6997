"""deepstack: deep feed-forward networks as scikit-learn estimators, on Keras 3."""

import importlib

from deepstack import _native_log

# The console command: TensorFlow's start-up chatter off its output, before
# the imports below load Keras.
if _native_log.console_command():
    _native_log.quiet_backend_import()

from deepstack import _compat  # noqa: E402
from deepstack._compile_cache import compile_cache
from deepstack._io import load, save
from deepstack._version import __version__
from deepstack.estimators import (
    DeepStackClassifier,
    DeepStackRegressor,
    StackedAutoencoder,
)
from deepstack.estimators._learning_rate import find_learning_rate

_compat.warn_if_unsupported()

# Loaded on first use: keras-tuner (tuning) and matplotlib (the diagnostics
# report's figures) cost seconds at import and are not needed to fit.
_LAZY = {
    "Boolean": "deepstack.tuning",
    "Choice": "deepstack.tuning",
    "DeepStackHyperModel": "deepstack.tuning",
    "DeepStackSearch": "deepstack.tuning",
    "Float": "deepstack.tuning",
    "Int": "deepstack.tuning",
    "default_search_space": "deepstack.tuning",
    "diagnose": "deepstack.diagnostics",
    "fit_table": "deepstack.runs",
    "load_run": "deepstack.runs",
}

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
    "compile_cache",
    "diagnose",
    "find_learning_rate",
    "fit_table",
    "load",
    "load_run",
    "save",
    "__version__",
]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'deepstack' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
