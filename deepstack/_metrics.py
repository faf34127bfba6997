"""The estimators' training metrics, counted on the rows a fit learns from.

Pure Keras. A Keras metric given in ``compile(metrics=...)`` counts every row
of a batch, and one given in ``weighted_metrics`` weights each by its
``sample_weight``. Neither is what a training log should report when some
rows carry weight 0: the joint loss's rows without a label (a placeholder
target, weight 0: ``reconstruction_weight``) would count as misclassified or
mispredicted rows (digits with 10% labels: training accuracy 0.13 where the
validation accuracy was 0.74), while ``class_weight`` and ``sample_weight``
should not turn the logged accuracy into a weighted one. These metrics count
each row of positive weight once and leave out the rows of weight 0; without
weights they are Keras's own. The validation pass calls them without weights.
"""

import keras


class _CountsRowsOfPositiveWeight:
    """Mixed in left of a Keras metric: its ``update_state`` gets 1 for a row
    of positive weight and 0 for a row of weight 0 (None: every row)."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            sample_weight = keras.ops.cast(
                keras.ops.greater(sample_weight, 0), self.dtype
            )
        return super().update_state(y_true, y_pred, sample_weight)


@keras.saving.register_keras_serializable(package="deepstack")
class BinaryAccuracy(_CountsRowsOfPositiveWeight, keras.metrics.BinaryAccuracy):
    """Keras's ``BinaryAccuracy`` over the rows of positive weight, unweighted."""


@keras.saving.register_keras_serializable(package="deepstack")
class SparseCategoricalAccuracy(
    _CountsRowsOfPositiveWeight, keras.metrics.SparseCategoricalAccuracy
):
    """Keras's ``SparseCategoricalAccuracy`` over the rows of positive weight,
    unweighted."""


@keras.saving.register_keras_serializable(package="deepstack")
class R2Score(_CountsRowsOfPositiveWeight, keras.metrics.R2Score):
    """Keras's ``R2Score`` over the rows of positive weight, unweighted."""
