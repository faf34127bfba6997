"""Every use of a third-party private API, in one place, with version checks.

deepstack relies on a few names that scikit-learn, Keras and keras-tuner do
not document as public. Each is imported or used here only, so that a new
release that moves one breaks this module (and ``tests/test_compat.py``), not
code spread over the package. :data:`SUPPORTED` lists the major versions the
names were checked against; ``setup.cfg`` bounds the install to them.

- scikit-learn: the parameter constraints ``Interval``, ``StrOptions`` and
  ``HasMethods`` (``sklearn.utils._param_validation``; scikit-learn has no
  public home for them, imbalanced-learn vendors them) and
  ``sklearn.utils.validation._check_sample_weight``.
- Keras: ``Model.train_function`` / ``test_function`` (reset after changing
  ``steps_per_execution``), the JAX trainer's ``compute_loss_and_updates``
  (the only stateless loss that includes the activity losses of the forward
  pass).
- keras-tuner: ``keras_tuner.src.protos`` and
  ``keras_tuner.src.distribute.oracle_chief`` (the distributed oracle's gRPC
  service, served by ``tuning/_tuner.py``).
"""

import importlib.metadata
import warnings

import keras
from sklearn.utils import _safe_indexing as safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight

__all__ = [
    "SUPPORTED",
    "HasMethods",
    "Interval",
    "StrOptions",
    "check_sample_weight",
    "check_versions",
    "installed_versions",
    "jax_inference_loss",
    "missing_keras_names",
    "oracle_service",
    "reset_compiled_functions",
    "safe_indexing",
    "warn_if_unsupported",
]

# Distribution name -> (lowest, highest) supported major version.
SUPPORTED = {
    "scikit-learn": (1, 1),
    "keras": (3, 3),
    "keras-tuner": (1, 1),
    "tensorflow": (2, 2),
}


def check_sample_weight(sample_weight, X, dtype):
    """``sample_weight`` validated against ``X`` (scikit-learn's own check)."""
    return _check_sample_weight(sample_weight, X, dtype=dtype)


def installed_versions():
    """``{distribution: version string}`` of the installed dependencies."""
    versions = {}
    for name in SUPPORTED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _major(version):
    return int(version.split(".", 1)[0])


def check_versions(versions=None):
    """Raise ``ImportError`` if an installed dependency's major version is not
    one whose private names this module was written against.

    Parameters
    ----------
    versions : dict or None
        ``{distribution: version}``; None reads the installed ones (a missing
        distribution, e.g. TensorFlow under JAX, is skipped).
    """
    versions = installed_versions() if versions is None else versions
    wrong = []
    for name, version in versions.items():
        if version is None or name not in SUPPORTED:
            continue
        low, high = SUPPORTED[name]
        if not low <= _major(version) <= high:
            wrong.append(f"{name} {version} (supported: {low}.x to {high}.x)")
    if wrong:
        raise ImportError(
            "deepstack uses private APIs of its dependencies that these versions "
            "may have changed: " + ", ".join(wrong) + ". Install supported "
            "versions (see setup.cfg) or update deepstack/_compat.py."
        )


def warn_if_unsupported():
    """Emit a ``RuntimeWarning`` (at ``import deepstack``) instead of raising:
    an unsupported release may still work, but the user should know."""
    try:
        check_versions()
    except ImportError as exc:
        warnings.warn(str(exc), RuntimeWarning, stacklevel=3)


# ------------------------------------------------------------------- Keras


def reset_compiled_functions(model):
    """Make Keras trace ``model``'s train and test functions again on next use
    (needed after changing ``model.steps_per_execution``)."""
    model.train_function = None
    model.test_function = None


def jax_inference_loss(model, trainable, non_trainable, metrics_variables, x, y, w):
    """``(loss, y_pred)`` of a stateless inference pass under JAX: the compiled
    loss with regularization and activity losses, as ``Model.compute_loss``
    gives after ``model(x)``."""
    _, (loss, y_pred, _, _) = model.compute_loss_and_updates(
        trainable, non_trainable, metrics_variables, x, y, w, training=False
    )
    return loss, y_pred


# ------------------------------------------------------------- keras-tuner


def oracle_service():
    """``(protos, oracle_chief)``: keras-tuner's gRPC oracle service modules."""
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    return protos, oracle_chief


def missing_keras_names():
    """The private Keras names used above that this Keras lacks (a list)."""
    missing = []
    if keras.backend.backend() == "jax":
        from keras.src.backend.jax.trainer import JAXTrainer

        if not hasattr(JAXTrainer, "compute_loss_and_updates"):
            missing.append("JAXTrainer.compute_loss_and_updates")
    return missing
