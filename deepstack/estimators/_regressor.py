"""DeepStackRegressor: a deep feed-forward regressor with a scikit-learn API."""

import keras
import numpy as np
from sklearn.base import RegressorMixin

from deepstack import _losses
from deepstack._compat import StrOptions
from deepstack.estimators import _docs
from deepstack.estimators._base import BaseDeepStack


class DeepStackRegressor(RegressorMixin, BaseDeepStack):
    __doc__ = f"""Deep feed-forward network regressor (dropout, batch norm, Keras 3).

    A linear output layer (one unit per target; multi-output ``y`` is
    supported; an exponential one with ``loss="poisson"``) over
    ``hidden_layer_sizes`` Dense layers, trained on the squared error (or
    ``loss``) of standardized targets, with early stopping and learning-rate
    halving on a shuffled validation split. Predictions are returned in the
    original target units. With ``pretrain`` set, rows whose target is NaN
    are unlabeled: they are used for pretraining only (semi-supervised
    regression; ``pretrain="auto"`` pretrains when they outnumber the
    labeled rows); without pretraining, NaN targets are an error.

    Parameters
    ----------
{_docs.COMMON_PARAMETERS}

    Attributes
    ----------
{_docs.COMMON_ATTRIBUTES}
    target_mean_, target_scale_ : ndarray of shape (`n_outputs_`,)
        Statistics used to standardize the targets (0 and 1 with
        ``standardize=False``).

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from deepstack import DeepStackRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = DeepStackRegressor((16,), max_epochs=20, random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **BaseDeepStack._parameter_constraints,
        "loss": [StrOptions({"auto", *_losses.REGRESSOR_LOSSES})],
    }
    _monitors = ("val_loss", "val_r2")

    def _validate_training_data(self, X, y, *, reset):
        # NaN targets mark unlabeled rows (set aside by ``_prepare``);
        # scikit-learn's validation rejects them, so they are checked filled.
        mask = self._unlabeled_mask(y)
        if mask is None or not mask.any():
            return super()._validate_training_data(X, y, reset=reset)
        y = np.asarray(y, dtype=np.float64)
        X, filled = super()._validate_training_data(
            X, np.where(np.isnan(y), 0.0, y), reset=reset
        )
        filled = np.array(filled, dtype=np.float64)
        filled[mask] = np.nan
        return X, filled

    def _unlabeled_mask(self, y):
        # NaN marks a row without a target (every output NaN).
        if y is None or not hasattr(y, "__len__"):
            return None
        y = np.asarray(y)
        if y.dtype.kind != "f" or y.ndim not in (1, 2):
            return None
        nan = np.isnan(y)
        return nan if y.ndim == 1 else nan.all(axis=1)

    def _ignored_unlabeled(self, y, mask):
        hint = (
            "pretrain='auto' pretrains only when they outnumber the labeled rows: "
            "set pretrain='denoising'"
            if self.pretrain == "auto"
            else "set pretrain='auto' (or 'denoising')"
        )
        raise ValueError(
            f"y contains NaN in {int(np.sum(mask))} of {len(mask)} rows. NaN marks "
            f"a row without a target, which only pretraining uses: {hint} to "
            "pretrain on those rows, or drop them."
        )

    def _loss_name(self):
        return "squared_error" if self.loss == "auto" else self.loss

    def _encode_target(self, y, *, reset):
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"DeepStackRegressor needs numeric targets; y has dtype {y.dtype}."
                ) from exc
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D; got shape {y.shape}.")
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinite values.")
        y2 = y.reshape(len(y), -1).astype(np.float64)
        poisson = self._loss_name() == "poisson"
        if poisson and np.any(y2 < 0):
            raise ValueError(
                "loss='poisson' needs non-negative targets (counts, rates); y has "
                f"{int(np.sum(y2 < 0))} negative values (smallest {y2.min():g})."
            )
        if reset:
            self._single_output = y.ndim == 1
            self.n_outputs_ = y2.shape[1]
            if poisson:
                # The log link keeps predictions positive: no centering, only
                # a scale that puts the mean target at 1.
                self.target_mean_ = np.zeros(self.n_outputs_)
                mean = y2.mean(axis=0) if self.standardize else np.ones(1)
                self.target_scale_ = np.broadcast_to(
                    np.where(mean > 0, mean, 1.0), (self.n_outputs_,)
                ).copy()
            elif self.standardize:
                self.target_mean_ = y2.mean(axis=0)
                scale = y2.std(axis=0)
                self.target_scale_ = np.where(scale > 0, scale, 1.0)
            else:
                self.target_mean_ = np.zeros(self.n_outputs_)
                self.target_scale_ = np.ones(self.n_outputs_)
        elif y2.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y2.shape[1]} targets but the network was fitted with "
                f"{self.n_outputs_}."
            )
        return ((y2 - self.target_mean_) / self.target_scale_).astype(np.float32)

    def _output_spec(self):
        # R2 of standardized targets equals R2 in the original units.
        metrics = [keras.metrics.R2Score(name="r2")] if self.monitor == "val_r2" else []
        activation, loss = _losses.regressor_loss(
            self._loss_name(), huber_delta=self.huber_delta
        )
        return self.n_outputs_, activation, loss, metrics

    def _decode_output(self, raw):
        out = raw * self.target_scale_ + self.target_mean_
        return out[:, 0] if self._single_output else out

    def _serving_outputs(self, x):
        raw = self.model_(x, training=False)
        scale = keras.ops.convert_to_tensor(self.target_scale_, "float32")
        mean = keras.ops.convert_to_tensor(self.target_mean_, "float32")
        return {"predictions": raw * scale + mean}

    def _export_metadata(self):
        return {
            "task": "regression",
            "single_output": bool(self._single_output),
            "outputs": {
                "predictions": "predict, shape (n, n_outputs); column 0 for a 1-D y"
            },
        }

    def predict(self, X):
        """Predicted targets, shape (n_samples,) or (n_samples, n_outputs)."""
        return self._decode_output(self._predict_raw(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
