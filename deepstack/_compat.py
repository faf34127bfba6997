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
  pass), the JAX variables' ``_layout`` (to lay out a network built outside
  a distribution, :func:`set_variable_layout`).
- Keras and TensorFlow: the global seeds that ``keras.utils.set_random_seed``
  sets (Keras's ``global_state`` attributes, the eager context's ``_seed``
  and ``_rng``), to reseed without dropping TensorFlow's compiled functions
  (:func:`set_random_seed`).
- keras-tuner: ``keras_tuner.src.protos`` and
  ``keras_tuner.src.distribute.oracle_chief`` (the distributed oracle's gRPC
  service, served by ``tuning/_tuner.py``), and ``keras_tuner.src.config``
  (its ``DEBUG`` flag, off while a search runs: no printed traceback per
  failed trial).
"""

import importlib.metadata
import inspect
import warnings

import keras
import numpy as np
from sklearn.utils import _safe_indexing as safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight

from deepstack._warnings import user_stacklevel

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
    "set_random_seed",
    "set_variable_layout",
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
    """Emit a ``RuntimeWarning`` (when this module is first imported, which
    every part of deepstack that uses Keras does) instead of raising: an
    unsupported release may still work, but the user should know."""
    try:
        check_versions()
    except ImportError as exc:
        warnings.warn(str(exc), RuntimeWarning, stacklevel=user_stacklevel())


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


def set_variable_layout(variable, layout):
    """Give a JAX-backend Keras ``variable`` the ``TensorLayout`` it would
    have had if created under a distribution (its private ``_layout``, which
    ``assign`` follows: values assigned later, NumPy arrays included, are
    placed as it says), and place its value so."""
    variable._layout = layout
    variable.assign(variable.value)


# The state of TensorFlow's eager op-seed generator right after
# set_random_seed last seeded it (None: not seeded by it, or seeded again
# since by a call that cleared the caches).
_seeded = {"rng_state": None}


def set_random_seed(seed):
    """``keras.utils.set_random_seed(seed)``, keeping TensorFlow's compiled
    functions when it can.

    ``tf.random.set_seed`` clears the eager context's kernel caches (so that
    stateful random kernels start over), and with them every instantiated
    ``tf.function``: the next call of a function traced earlier optimizes its
    graph again, about 0.3 s for a small network's epoch, at every fit. When
    no eager op has drawn an op seed since this function last seeded (the
    op-seed generator is in the state it left it in; the fused training loop
    and Keras's layers draw none, their random ops are stateless), no
    stateful kernel in the cache depends on TensorFlow's global seed, so
    setting the seed and restarting the op-seed sequence without clearing
    the caches gives what ``tf.random.set_seed`` would. Otherwise (or on
    another backend) ``keras.utils.set_random_seed`` runs as is.
    """
    seed = int(seed)
    if keras.backend.backend() == "tensorflow":
        import random

        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils
        from tensorflow.python.eager import context

        ctx = context.context()
        rng = getattr(ctx, "_rng", None)
        state = _seeded["rng_state"]
        if rng is not None and state is not None and rng.getstate() == state:
            global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
            global_state.set_global_attribute(
                seed_generator.GLOBAL_SEED_GENERATOR, None
            )
            random.seed(seed)
            np.random.seed(seed)  # noqa: NPY002 (as keras.utils does)
            ctx._seed = seed
            ctx._rng = random.Random(seed)
            _seeded["rng_state"] = ctx._rng.getstate()
            return
        keras.utils.set_random_seed(seed)
        rng = getattr(ctx, "_rng", None)
        _seeded["rng_state"] = None if rng is None else rng.getstate()
        return
    keras.utils.set_random_seed(seed)


# ------------------------------------------------------------- keras-tuner


def oracle_service():
    """``(protos, oracle_chief)``: keras-tuner's gRPC oracle service modules."""
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    return protos, oracle_chief


def tuner_display():
    """keras-tuner's ``Display``, which prints each trial's start and end at
    ``verbose > 0`` (None when this release has no such class)."""
    from keras_tuner.src.engine import oracle

    return getattr(oracle, "Display", None)


def keras_tuner_config():
    """keras-tuner's settings module (its ``DEBUG`` flag prints a failed
    trial's traceback)."""
    from keras_tuner.src import config

    return config


def missing_keras_names():
    """The private Keras names used above that this Keras lacks (a list)."""
    missing = []
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    for module, name in [
        (global_state, "set_global_attribute"),
        (rng_utils, "GLOBAL_RANDOM_SEED"),
        (seed_generator, "GLOBAL_SEED_GENERATOR"),
    ]:
        if not hasattr(module, name):
            missing.append(f"{module.__name__}.{name}")
    if keras.backend.backend() == "tensorflow":
        from tensorflow.python.eager import context

        # ``_rng`` exists once a seed was set; the setter must still make it.
        setter = getattr(context.Context, "_set_global_seed", None)
        if not hasattr(context.context(), "_seed") or setter is None:
            missing.append("tensorflow eager Context._seed / _set_global_seed")
        elif "self._rng = " not in inspect.getsource(setter):
            missing.append("tensorflow eager Context._rng")
    if keras.backend.backend() == "jax":
        from keras.src.backend.jax.trainer import JAXTrainer

        if not hasattr(JAXTrainer, "compute_loss_and_updates"):
            missing.append("JAXTrainer.compute_loss_and_updates")
        from keras.src.backend.jax.core import Variable

        if "self._layout" not in inspect.getsource(Variable._direct_assign):
            missing.append("jax Variable._layout (followed by _direct_assign)")
    return missing


warn_if_unsupported()
