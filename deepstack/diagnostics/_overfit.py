"""Can the network overfit a small subset? If not, say why."""

import keras
import numpy as np
from sklearn.base import clone, is_classifier

from deepstack.diagnostics._common import (
    as_float_array,
    as_float_matrix,
    check_deepstack_estimator,
    fit_through_divergence,
    labeled_rows,
)
from deepstack.diagnostics._curves import bouncing_fraction
from deepstack.diagnostics._units import unit_health

# Parameters that regularize a deepstack estimator, and their "off" values.
_REGULARIZATION_OFF = {
    "dropout": 0.0,
    "input_dropout": 0.0,
    "l1": 0.0,
    "l2": 0.0,
    "early_stopping": False,
}
# What the clone must not share with the estimator: its TensorBoard folder,
# its checkpoint file and its progress output.
_SIDE_EFFECTS_OFF = {"log_dir": None, "checkpoint": None, "verbose": 0}
# Errors are fractions of rows (1 - accuracy): 1 - 0.99 is 0.010000000000000009,
# so "at most tol" allows for float rounding.
_ROUNDING = 1e-9


class _StopWhenFitted(keras.callbacks.Callback):
    """Stop as soon as the training accuracy (or loss) reaches its target."""

    def __init__(self, monitor, target, mode):
        super().__init__()
        self.monitor = monitor
        self.target = target
        self.mode = mode

    def on_train_begin(self, logs=None):
        self.stopped_epoch = -1

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        reached = value >= self.target if self.mode == "max" else value <= self.target
        if reached:
            self.stopped_epoch = epoch
            self.model.stop_training = True


class OverfitResult:
    """Outcome of :func:`overfit_small_subset`.

    Attributes
    ----------
    passed : bool
        Whether the training error reached ``tol``.
    training_error : float
        ``1 - accuracy`` (classifiers) or ``1 - R^2`` (regressors) on the subset.
    n_samples : int
        Size of the subset.
    n_epochs : int
        Epochs trained.
    reasons : list of str
        When it did not pass: the likely causes found.
    evidence : dict
        Measurements behind the reasons.
    estimator : estimator
        The fitted clone (regularization off).
    tol : float
        The training error counted as "about 0" (``overfit_small_subset``'s
        ``tol``).
    """

    def __init__(
        self,
        passed,
        training_error,
        n_samples,
        n_epochs,
        reasons,
        evidence,
        estimator,
        tol,
    ):
        self.passed = passed
        self.training_error = training_error
        self.n_samples = n_samples
        self.n_epochs = n_epochs
        self.reasons = reasons
        self.evidence = evidence
        self.estimator = estimator
        self.tol = tol

    def __str__(self):
        verdict = "reached" if self.passed else "did NOT reach"
        lines = [
            f"Overfitting {self.n_samples} samples: training error "
            f"{self.training_error:.4f} after {self.n_epochs} epochs ({verdict} "
            f"{self.tol:g})"
        ]
        lines.extend(f"  - {reason}" for reason in self.reasons)
        return "\n".join(lines)

    __repr__ = __str__


def _subset(estimator, X, y, n_samples, rng):
    n = X.shape[0]
    if n <= n_samples:
        return X, y
    if is_classifier(estimator):
        # Keep every class present: take a stratified random sample.
        from sklearn.model_selection import train_test_split

        try:
            Xs, _, ys, _ = train_test_split(
                X, y, train_size=n_samples, random_state=rng, stratify=y
            )
            return Xs, ys
        except ValueError:
            pass
    index = rng.choice(n, size=n_samples, replace=False)
    return X[index], np.asarray(y)[index]


def _reached(error, tol):
    """Whether a training error is at most ``tol`` (up to float rounding)."""
    return error <= tol + _ROUNDING


def overfit_small_subset(
    estimator,
    X,
    y,
    n_samples=500,
    *,
    max_epochs=200,
    tol=0.01,
    random_state=0,
):
    """Train a clone on a small subset with regularization off; can it reach ~0 error?

    A network that cannot memorize a few hundred examples has an optimization
    problem (or a bug), which more data or regularization will not fix.

    Parameters
    ----------
    estimator : deepstack estimator
        Fitted or not; it is cloned, never modified. The clone writes no
        TensorBoard logs (``log_dir``), no checkpoint and no progress output.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Data to draw the subset from (a sparse subset stays sparse).
    y : array-like
        Its targets. Rows marked unlabeled (-1 labels of a classifier that has
        no class -1, NaN targets of a regressor) are left out: the subset is
        drawn from the labeled rows.
    n_samples : int, default=500
        Size of the subset (500-1000 is a good range).
    max_epochs : int, default=200
        Epoch budget; training stops as soon as the error reaches ``tol``.
    tol : float, default=0.01
        Training error counted as "about 0" (an error equal to ``tol``, such
        as 1 row wrong in 100, passes).
    random_state : int, default=0
        Seeds the subset and the clone.

    Returns
    -------
    OverfitResult
        ``passed``, ``training_error``, and ``reasons`` when it failed
        (saturated or dead units at initialization, un-normalized inputs,
        bouncing loss).
    """
    check_deepstack_estimator(estimator, "overfit_small_subset")
    rng = np.random.RandomState(random_state)
    X, y = labeled_rows(estimator, as_float_matrix(X), y)
    Xs, ys = _subset(estimator, X, np.asarray(y), int(n_samples), rng)
    given = estimator.get_params()
    params = {
        k: v
        for k, v in {**_REGULARIZATION_OFF, **_SIDE_EFFECTS_OFF}.items()
        if k in given
    }
    model = clone(estimator).set_params(**params)
    if "random_state" in model.get_params() and model.random_state is None:
        model.set_params(random_state=random_state)
    # The logged values are running means over an epoch in training mode:
    # stop once they are well inside the target, then measure the real
    # training error in inference mode.
    if is_classifier(estimator):
        stop = _StopWhenFitted("accuracy", 1.0 - tol / 4, "max")
    else:
        stop = _StopWhenFitted("loss", tol / 4, "min")
    callbacks = list(model.get_params().get("callbacks") or []) + [stop]
    model.set_params(callbacks=callbacks, max_epochs=int(max_epochs))
    diverged = fit_through_divergence(model, Xs, ys)
    error = float(1.0 - model.score(Xs, ys))
    logged = model.history_.get("accuracy" if is_classifier(estimator) else "loss")
    logged_error = None
    if logged:
        logged_error = 1.0 - logged[-1] if is_classifier(estimator) else logged[-1]
    passed = _reached(error, tol)
    reasons, evidence = [], {"training_error": error}
    if diverged is not None:
        evidence["diverged"] = diverged
    if logged_error is not None:
        evidence["training_mode_error"] = float(logged_error)
    if not passed:
        evidence["tol"] = tol
        reasons, evidence = _explain_failure(model, Xs, evidence)
    return OverfitResult(
        passed,
        error,
        int(Xs.shape[0]),
        int(model.n_iter_),
        reasons,
        evidence,
        model,
        tol,
    )


def _explain_failure(fitted, X, evidence):
    reasons = []
    logged = evidence.get("training_mode_error")
    if logged is not None and _reached(logged, evidence.get("tol", 0.01)):
        reasons.append(
            f"The error logged during training reached {logged:.3g}, but in "
            f"inference mode it is {evidence['training_error']:.3g}: batch "
            "normalization's statistics (or dropout) behave differently at "
            "inference; try a larger batch_size or batch_norm=False."
        )
    health = unit_health(fitted, X, initial=True)
    saturation, dead = health.max_saturation, health.max_dead
    evidence.update(initial_saturation=saturation, initial_dead_units=dead)
    if saturation > 0.5:
        reasons.append(
            f"Saturated units at initialization ({saturation:.0%} of the tanh/sigmoid "
            "activations near their limits): use smaller initial weights "
            "(Glorot), standardized inputs or ReLU."
        )
    if dead > 0.5:
        reasons.append(
            f"Dead ReLUs at initialization ({dead:.0%} of the units never fire): "
            "standardize the inputs or lower the learning rate."
        )
    if not fitted.get_params().get("standardize", False):
        X = as_float_array(X)  # the subset: small enough to densify
        mean = np.abs(X.mean(axis=0)).max()
        std = X.std(axis=0)
        spread = std.max() / max(std[std > 0].min(), 1e-12) if (std > 0).any() else 1.0
        evidence.update(
            max_abs_feature_mean=float(mean), feature_std_ratio=float(spread)
        )
        if mean > 3.0 or spread > 10.0 or std.max() > 10.0:
            reasons.append(
                "Un-normalized inputs (largest |feature mean| "
                f"{mean:.3g}, std ratio {spread:.3g}): set standardize=True or use "
                "a StandardScaler."
            )
    loss = getattr(fitted, "history_", {}).get("loss", [])
    bounce = bouncing_fraction(loss)
    evidence.update(rising_loss_fraction=bounce)
    if "diverged" in evidence or not np.all(np.isfinite(loss)):
        reasons.append("The training loss diverged: lower the learning rate.")
    elif len(loss) >= 4 and bounce >= 0.3:
        reasons.append(
            f"Bouncing training loss (it rose on {bounce:.0%} of the epochs): lower "
            "the learning rate."
        )
    # Fell by 5% over the last 4 epochs (relative to |loss|: it can be < 0).
    falling = len(loss) >= 5 and loss[-5] - loss[-1] > 0.05 * abs(loss[-5])
    if len(reasons) == 0 and falling:
        reasons.append(
            f"The loss was still falling when the budget of {len(loss)} epochs ran "
            "out: raise max_epochs or the learning rate."
        )
    if len(reasons) == 0:
        reasons.append(
            "No obvious cause: train longer, raise the learning rate a little, or use "
            "a larger network; check the gradients (check_gradients)."
        )
    return reasons, evidence
