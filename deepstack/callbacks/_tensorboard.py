"""TensorBoard scalars per epoch (and HParams), without per-batch hooks."""

import os

import keras


class EpochTensorBoard(keras.callbacks.Callback):
    """Write every logged quantity of every epoch to a TensorBoard log folder.

    Each value of the epoch's logs (``loss``, ``val_loss``, ``val_accuracy``,
    ``val_score``, ``learning_rate``, ...) becomes a scalar with the epoch as
    its step; with ``hparams``, the run also carries those values for the
    HParams dashboard. Only epoch hooks, so the fused training loop is kept
    (Keras's own ``TensorBoard`` callback has per-batch hooks; deepstack's
    training keeps the fused loop for it too when ``update_freq="epoch"``,
    ``profile_batch=0`` and ``write_steps_per_second=False``). The estimators
    add one when given ``log_dir``.

    Parameters
    ----------
    log_dir : str or os.PathLike
        Folder of the event files (created if needed); view it with
        ``tensorboard --logdir <folder>``.
    hparams : dict or None, default=None
        ``{name: value}`` shown in the HParams dashboard (values that are not
        bool, int, float or str are shown by their ``repr``).

    Examples
    --------
    >>> import tempfile
    >>> from deepstack.callbacks import EpochTensorBoard
    >>> board = EpochTensorBoard(tempfile.mkdtemp(), hparams={"dropout": 0.2})
    """

    def __init__(self, log_dir, hparams=None):
        super().__init__()
        self.log_dir = log_dir
        self.hparams = hparams

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        self._writer = tf.summary.create_file_writer(os.fspath(self.log_dir))
        if self.hparams:
            from tensorboard.plugins.hparams import api as hparams_api

            with self._writer.as_default():
                hparams_api.hparams(plain_hparams(self.hparams))

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        with self._writer.as_default():
            for name, value in (logs or {}).items():
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    continue
                tf.summary.scalar(name, value, step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        writer, self._writer = getattr(self, "_writer", None), None
        if writer is not None:
            writer.close()

    def get_config(self):
        return {"log_dir": os.fspath(self.log_dir), "hparams": self.hparams}


def plain_hparams(values):
    """``values`` with every value a bool, int, float or str (HParams' types)."""
    out = {}
    for name, value in values.items():
        if not isinstance(value, bool | int | float | str):
            value = repr(value)
        out[str(name)] = value
    return out


def epoch_only(callback):
    """Whether ``callback``'s per-batch hooks can be skipped without loss.

    Keras's ``TensorBoard`` with ``update_freq="epoch"``, no profiling and no
    steps-per-second only counts batches in them (and writes the training
    graph once, which is then left out).
    """
    return (
        isinstance(callback, keras.callbacks.TensorBoard)
        and callback.update_freq == "epoch"
        and not getattr(callback, "write_steps_per_second", True)
        # Keras keeps profile_batch only as this flag (False for 0).
        and not getattr(callback, "_should_trace", True)
    )
