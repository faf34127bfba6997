"""Gradient checking: backpropagation against central finite differences."""

import warnings
from numbers import Integral

import keras
import numpy as np

from deepstack._network import all_layers
from deepstack._warnings import user_stacklevel
from deepstack.diagnostics._common import (
    activation_name,
    get_model,
    is_estimator,
    labeled_rows,
    model_loss,
    network_input,
    network_target,
)
from deepstack.layers import Reconstruction, tie_layers

_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


class GradientCheckResult:
    """Outcome of :func:`check_gradients`.

    Attributes
    ----------
    passed : bool
        True when every checked variable's relative error is below ``tol``
        (and at least one variable was checked).
    tol : float
        Threshold on the relative error.
    epsilon : float
        Step of the finite differences.
    dtype : str
        Precision the check ran in (``"float64"`` unless the backend cannot).
    details : list of dict
        One entry per checked variable: ``layer``, ``variable``, ``n_checked``,
        ``error`` (the relative error ``||g_bp - g_fd|| / (||g_bp|| + ||g_fd||)``
        over the sampled entries), ``max_entry_error`` (the worst single
        entry), ``n_kinks`` (sampled entries left out because a ReLU input
        crossed zero between ``w - epsilon`` and ``w + epsilon``, where the
        finite difference is not the derivative), ``checked`` (False when
        every entry was at a kink: the variable decides nothing) and
        ``passed``.
    layer_errors : dict of str to float
        Largest relative error of each layer's variables.
    failed_layers : list of str
        Layers whose error is not below ``tol``.
    suspect_layer : str or None
        The failing layer nearest the output: the likely culprit.
    """

    def __init__(self, details, *, tol, epsilon, dtype):
        self.details = details
        self.tol = tol
        self.epsilon = epsilon
        self.dtype = dtype

    @property
    def passed(self):
        checked = [row for row in self.details if row.get("checked", True)]
        return bool(checked) and all(row["passed"] for row in checked)

    @property
    def layer_errors(self):
        """``{layer name: largest relative error of its checked variables}``."""
        errors = {}
        for row in self.details:
            if not row.get("checked", True):
                continue
            errors[row["layer"]] = max(errors.get(row["layer"], 0.0), row["error"])
        return errors

    @property
    def failed_layers(self):
        return [name for name, err in self.layer_errors.items() if not err < self.tol]

    @property
    def suspect_layer(self):
        """The failing layer nearest the output, or None.

        A wrong backward pass also corrupts the gradients of every layer below
        it, so the culprit is usually the topmost failing layer.
        """
        failed = self.failed_layers
        return failed[-1] if failed else None

    def __str__(self):
        verdict = "PASSED" if self.passed else "FAILED"
        if not any(row.get("checked", True) for row in self.details):
            verdict = "NOT CHECKED"
        lines = [
            f"Gradient check {verdict} ({self.dtype}, epsilon={self.epsilon:g}, "
            f"tol={self.tol:g})"
        ]
        for row in self.details:
            mark = "ok " if row["passed"] else "BAD"
            kinks = row.get("n_kinks", 0)
            if not row.get("checked", True):
                lines.append(
                    f"  --  {row['variable']:<32} not checked (all {kinks} entries "
                    "tried at a ReLU kink)"
                )
                continue
            lines.append(
                f"  {mark} {row['variable']:<32} n={row['n_checked']:<4d} "
                f"relative error {row['error']:.2e} "
                f"(worst entry {row['max_entry_error']:.2e})"
                + (f", {kinks} at a ReLU kink left out" if kinks else "")
            )
        return "\n".join(lines)

    __repr__ = __str__


def _to_float64(config):
    """Replace every floating dtype (policy) in a serialized model by float64."""
    if isinstance(config, dict):
        out = {}
        for key, value in config.items():
            if key == "dtype" and _is_float_dtype(value):
                out[key] = "float64"
            else:
                out[key] = _to_float64(value)
        return out
    if isinstance(config, list):
        return [_to_float64(value) for value in config]
    return config


def _is_float_dtype(value):
    if isinstance(value, str):
        return value in _FLOAT_DTYPES or value.startswith("mixed_")
    if isinstance(value, dict) and "DTypePolicy" in str(value.get("class_name", "")):
        name = str(value.get("config", {}).get("name", ""))
        return name in _FLOAT_DTYPES or name.startswith("mixed_")
    return False


def float64_copy(model):
    """A copy of ``model`` computing in float64, with the same weight values.

    Rebuilt from its serialized configuration with every dtype policy set to
    float64, so it works for any serializable layer (deepstack's own included).
    """
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)
    custom = {}
    for layer in [model, *all_layers(model)]:
        cls = type(layer)
        custom[cls.__name__] = cls
        custom[keras.saving.get_registered_name(cls)] = cls
    copy = keras.saving.deserialize_keras_object(
        _to_float64(config), custom_objects=custom
    )
    if isinstance(copy, keras.Model):
        tie_layers(copy)  # a plain functional copy's decoders know names only
    if not copy.built:
        copy.build(model.inputs[0].shape if model.inputs else None)
    source, target = model.weights, copy.weights
    if len(source) != len(target):
        raise ValueError(
            f"The float64 copy of {model.name!r} has {len(target)} weights instead "
            f"of {len(source)}; cannot check its gradients."
        )
    for src, dst in zip(source, target):
        value = np.asarray(keras.ops.convert_to_numpy(src))
        if tuple(value.shape) != tuple(dst.shape):
            raise ValueError(
                f"Weight {src.path} has shape {value.shape} but its float64 copy "
                f"{dst.path} has shape {tuple(dst.shape)}."
            )
        dst.assign(value.astype(dst.dtype))
    return copy


def _backend_functions(model, loss_fn, x, y):
    """``(loss_at, gradient_at)`` of the loss as a function of the trainable values.

    The one backend-specific function of the diagnostics: Keras 3 has no
    backend-agnostic gradient API (nor a backend-agnostic way to compile a
    function, which makes the many finite-difference evaluations fast).
    Both functions take a list of arrays, one per trainable variable.
    """
    non_trainable = [v.value for v in model.non_trainable_variables]

    def loss_of(values):
        y_pred, _ = model.stateless_call(values, non_trainable, x, training=False)
        return loss_fn(y, y_pred)

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def gradient_at(values):
            with tf.GradientTape() as tape:
                tape.watch(values)
                loss = loss_of(values)
            return tape.gradient(loss, values)

        loss_at = tf.function(loss_of, reduce_retracing=True)
    elif backend == "jax":
        import jax

        loss_at, gradient_at = jax.jit(loss_of), jax.jit(jax.grad(loss_of))
    elif backend == "torch":
        import torch

        def gradient_at(values):
            values = [torch.as_tensor(v).requires_grad_(True) for v in values]
            return torch.autograd.grad(loss_of(values), values, allow_unused=True)

        def loss_at(values):
            with torch.no_grad():
                return loss_of([torch.as_tensor(v) for v in values])
    else:
        raise NotImplementedError(
            f"check_gradients does not support the {backend!r} backend."
        )
    return loss_at, gradient_at


_KINKED = ("relu", "relu6", "leaky_relu")


def _kink_probe(model, x):
    """A function of the trainable values giving the outputs of ``model``'s
    ReLU-type activations on ``x`` (inference mode), or None when the model
    has none (or is not functional).

    Outputs, not inputs: an ``activation="relu"`` of a ``Dense`` layer has
    no tensor for its input. A ReLU-type output is positive exactly when its
    input is, so the sign of the output tells on which side of the kink the
    input lies.
    """
    layers = [
        layer
        for layer in all_layers(model)
        if activation_name(layer) in _KINKED and not isinstance(layer, Reconstruction)
    ]
    if not layers:
        return None
    try:
        probe = keras.Model(model.inputs, [layer.output for layer in layers])
    except (AttributeError, ValueError):
        return None
    position = {id(v): i for i, v in enumerate(model.trainable_variables)}
    order = [position[id(v)] for v in probe.trainable_variables]
    non_trainable = [v.value for v in probe.non_trainable_variables]

    def outputs_at(values):
        outputs, _ = probe.stateless_call(
            [values[i] for i in order], non_trainable, x, training=False
        )
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return [np.asarray(keras.ops.convert_to_numpy(o)) for o in outputs]

    return outputs_at


def _variable_owners(model):
    """``{id(variable): (layer name, variable name)}`` for the leaf layers.

    The first layer that tracks a variable owns it (a tied decoder does not
    track its encoder's kernel).
    """
    owners = {}
    for layer in all_layers(model):
        if getattr(layer, "layers", None):
            continue
        for variable in layer.trainable_variables:
            owners.setdefault(id(variable), (layer.name, variable.name))
    return owners


def check_gradients(
    model_or_estimator,
    X,
    y,
    epsilon=None,
    *,
    n_params=10,
    n_samples=64,
    loss=None,
    tol=None,
    random_state=0,
):
    """Compare backpropagated gradients with central finite differences.

    For a random sample of entries ``w`` of every trainable variable of every
    layer (deepstack's own layers included), the derivative of the loss is
    estimated as ``(f(w + e) - f(w - e)) / 2e`` and compared with the
    backpropagated gradient. The check runs on a float64 copy of the network,
    in inference mode (dropout off, batch normalization with its population
    statistics), so that the function differentiated is deterministic.

    Kinks: where the step moves the input of a ReLU-type activation
    (``relu``, ``relu6``, ``leaky_relu``: an ``Activation`` layer, a layer's
    ``activation`` such as ``Dense(..., activation="relu")``, or Keras's
    ``ReLU`` and ``LeakyReLU`` layers) across zero for some row, the
    finite difference straddles a kink and is not the derivative. Such
    entries are left out (counted in ``n_kinks``) and other entries of the
    variable are drawn in their place, as far as there are any.

    Parameters
    ----------
    model_or_estimator : keras.Model or fitted deepstack estimator
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    y : array-like
        Targets, in the estimator's label space (encoded as it trains on them),
        or the network's target array for a bare model. Rows an estimator's
        ``y`` marks unlabeled (-1 labels of a classifier that has no class
        -1, NaN targets of a regressor) are left out.
    epsilon : float or None, default=None
        Step of the finite differences. None: 1e-4 where the check runs in
        float64, 1e-2 where it runs in float32 (the JAX backend: Keras
        computes float64 as float32 there, and a step of 1e-4 then leaves
        rounding errors of about 1e-2 in the differences; 1e-2 keeps the
        errors of correct gradients below ``tol``).
    n_params : int, default=10
        Entries sampled per variable (all of them when it has fewer); at
        least 1.
    n_samples : int, default=64
        Rows of ``X`` used in the loss (the first labeled ones).
    loss : str or callable, default=None
        Loss ``f(y_true, y_pred)``; defaults to the model's compiled loss
        (mean squared error for an uncompiled model).
    tol : float or None, default=None
        A variable passes when its relative error is below ``tol``. None:
        1e-4 in float64, 1e-2 in float32 (a wrong backward pass is off by
        far more, e.g. 1/3 for one that sees half the function).
    random_state : int, default=0
        Seeds the choice of entries.

    Returns
    -------
    GradientCheckResult
        Per-variable and per-layer relative errors and the verdict
        (``result.passed``, ``result.failed_layers``).

    Examples
    --------
    >>> import numpy as np, keras
    >>> from deepstack.diagnostics import check_gradients
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, "tanh"),
    ...                           keras.layers.Dense(1)])
    >>> X, y = np.random.rand(8, 3), np.random.rand(8, 1)
    >>> check_gradients(model, X, y).passed
    True
    """
    for name, value in (("n_params", n_params), ("n_samples", n_samples)):
        if not (isinstance(value, Integral) and value >= 1):
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")
    model = get_model(model_or_estimator)
    if is_estimator(model_or_estimator):
        X, y = labeled_rows(model_or_estimator, X, y)
        y = network_target(model_or_estimator, y)
    X = network_input(model, X, np.float64, max_rows=n_samples)
    y = np.asarray(y)[:n_samples]
    if np.issubdtype(y.dtype, np.floating):
        y = y.astype(np.float64)
    with warnings.catch_warnings():
        # JAX truncates the copy's float64 to float32 and says so at every
        # array; _computed_dtype warns once, with what it means here.
        warnings.filterwarnings(
            "ignore", "Explicitly requested dtype float64", UserWarning
        )
        copy = float64_copy(model)
        dtype = _computed_dtype(copy)
        float64 = dtype == "float64"
        if epsilon is None:
            epsilon = 1e-4 if float64 else 1e-2
        if tol is None:
            tol = 1e-4 if float64 else 1e-2
        x = keras.ops.convert_to_tensor(X, dtype="float64")
        loss_at, gradient_at = _backend_functions(copy, model_loss(model, loss), x, y)
        trainable = [
            np.asarray(keras.ops.convert_to_numpy(v)) for v in copy.trainable_variables
        ]
        grads = [
            np.zeros(v.shape)
            if g is None
            else np.asarray(keras.ops.convert_to_numpy(g), dtype=np.float64)
            for v, g in zip(trainable, gradient_at(trainable))
        ]
        probe = _Probe(
            trainable,
            lambda values: float(keras.ops.convert_to_numpy(loss_at(values))),
            _kink_probe(copy, x),
            epsilon,
        )
        rng = np.random.RandomState(random_state)
        owners = _variable_owners(copy)
        details = []
        for index, variable in enumerate(copy.trainable_variables):
            layer, name = owners.get(id(variable), (copy.name, variable.name))
            numeric, analytic, kinks = probe.sample(index, grads[index], n_params, rng)
            details.append(
                _variable_detail(layer, name, numeric, analytic, kinks, tol=tol)
            )
    return GradientCheckResult(details, tol=tol, epsilon=epsilon, dtype=dtype)


def _computed_dtype(copy):
    """The dtype the float64 copy really computes in (warns unless float64).

    Outside TensorFlow, Keras's type promotion maps float64 to float32 (even
    with jax_enable_x64), so on JAX the copy stays float32.
    """
    dtype = "float64"
    if copy.trainable_variables:
        dtype = str(keras.ops.convert_to_numpy(copy.trainable_variables[0]).dtype)
    if dtype != "float64":
        warnings.warn(
            f"The gradient check runs in {dtype}, not float64; finite differences "
            "are then imprecise (Keras computes in float64 only with the "
            "TensorFlow backend): epsilon and tol left as None are 1e-2.",
            RuntimeWarning,
            stacklevel=user_stacklevel(),
        )
    return dtype


class _Probe:
    """Central finite differences of the loss, one weight entry at a time."""

    def __init__(self, trainable, loss_value, kink_inputs, epsilon):
        self.trainable = trainable
        self.loss_value = loss_value
        self.kink_inputs = kink_inputs
        self.epsilon = epsilon

    def _steps(self, index, flat):
        base = self.trainable[index]
        plus, minus = base.copy(), base.copy()
        plus.flat[flat] += self.epsilon
        minus.flat[flat] -= self.epsilon
        return plus, minus

    def _with(self, index, value):
        values = list(self.trainable)
        values[index] = value
        return values

    def crosses_kink(self, index, flat):
        """Whether the step moves a ReLU-type input across zero for some row
        (its output turns positive or stops being so)."""
        if self.kink_inputs is None:
            return False
        plus, minus = self._steps(index, flat)
        above = self.kink_inputs(self._with(index, plus))
        below = self.kink_inputs(self._with(index, minus))
        return any(np.any((a > 0) != (b > 0)) for a, b in zip(above, below))

    def derivative(self, index, flat):
        """``(f(w + e) - f(w - e)) / 2e`` at entry ``flat`` of variable ``index``."""
        plus, minus = self._steps(index, flat)
        f_plus = self.loss_value(self._with(index, plus))
        f_minus = self.loss_value(self._with(index, minus))
        return (f_plus - f_minus) / (2.0 * self.epsilon)

    def sample(self, index, gradient, n_params, rng):
        """Numeric and backpropagated derivatives at up to ``n_params`` random
        entries of variable ``index`` away from kinks, and the kinks skipped."""
        size = self.trainable[index].size
        numeric, analytic, kinks = [], [], 0
        for flat in rng.permutation(size):
            if len(numeric) == min(n_params, size):
                break
            if self.crosses_kink(index, flat):
                kinks += 1
                continue
            numeric.append(self.derivative(index, flat))
            analytic.append(gradient.flat[flat])
        return np.asarray(numeric), np.asarray(analytic), kinks


def _variable_detail(layer, name, numeric, analytic, kinks, *, tol):
    """One variable's row of :class:`GradientCheckResult`: relative errors."""
    diff = np.abs(numeric - analytic)
    scale = np.abs(numeric) + np.abs(analytic)
    tiny = 1e-12
    error = float(
        np.linalg.norm(diff)
        / max(np.linalg.norm(numeric) + np.linalg.norm(analytic), tiny)
    )
    entry = diff / np.maximum(scale, tiny)
    return {
        "layer": layer,
        "variable": f"{layer}/{name}",
        "n_checked": int(len(numeric)),
        "n_kinks": kinks,
        "checked": bool(len(numeric)),
        "error": error,
        "max_entry_error": float(entry.max()) if entry.size else 0.0,
        "passed": bool(error < tol),
    }
