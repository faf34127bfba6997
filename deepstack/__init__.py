"""deepstack: deep feed-forward networks as scikit-learn estimators, on Keras 3."""

import importlib

from deepstack._version import __version__

# Every public name is loaded on first use: ``import deepstack`` (and the
# console command's ``--help``, ``--version`` and argument errors) stays free
# of Keras, TensorFlow, keras-tuner and matplotlib, which cost seconds and
# hundreds of megabytes at import. ``deepstack._compat`` warns about an
# unsupported Keras or scikit-learn release when Keras is first loaded.
_LAZY = {
    "DeepStackClassifier": "deepstack.estimators",
    "DeepStackRegressor": "deepstack.estimators",
    "StackedAutoencoder": "deepstack.estimators",
    "compile_cache": "deepstack._compile_cache",
    "find_learning_rate": "deepstack.estimators._learning_rate",
    "load": "deepstack._io",
    "save": "deepstack._io",
    "Boolean": "deepstack.tuning",
    "Choice": "deepstack.tuning",
    "DeepStackHyperModel": "deepstack.tuning",
    "DeepStackSearch": "deepstack.tuning",
    "Float": "deepstack.tuning",
    "Int": "deepstack.tuning",
    "NoTrialCompletedError": "deepstack.tuning",
    "default_search_space": "deepstack.tuning",
    "diagnose": "deepstack.diagnostics",
    "fit_table": "deepstack.runs",
    "load_run": "deepstack.runs",
}

# Subpackages and modules reachable as attributes (``deepstack.runs``)
# without their own import, as when the package loaded them eagerly.
_SUBMODULES = {
    "callbacks",
    "datasets",
    "diagnostics",
    "ensemble",
    "estimators",
    "layers",
    "plotting",
    "runs",
    "tables",
    "tuning",
}

__all__ = [
    "Boolean",
    "Choice",
    "DeepStackHyperModel",
    "DeepStackSearch",
    "Float",
    "Int",
    "NoTrialCompletedError",
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
    if name in _SUBMODULES:
        return importlib.import_module(f"deepstack.{name}")
    raise AttributeError(f"module 'deepstack' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
