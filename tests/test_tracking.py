"""TensorBoard: per-epoch scalars of a fit, HParams sessions of a search."""

import keras
import numpy as np

from deepstack import DeepStackClassifier, DeepStackSearch, Float, _trainer
from deepstack.callbacks import EpochTensorBoard
from tests.conftest import tiny


def _tags(folder):
    """``{tag: [values]}`` of every event file under ``folder`` (not below)."""
    import tensorflow as tf

    tags = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                number = None
                if value.metadata.plugin_data.plugin_name == "scalars":
                    number = float(tf.make_ndarray(value.tensor))
                tags.setdefault(value.tag, []).append(number)
    return tags


def test_estimator_writes_epoch_scalars_and_keeps_the_fused_loop(
    classification_data, tmp_path
):
    X, y = classification_data
    clf = tiny(DeepStackClassifier, max_epochs=3, log_dir=str(tmp_path)).fit(X, y)
    assert any(isinstance(cb, EpochTensorBoard) for cb in clf.callbacks_)
    assert _trainer.supported(clf.model_, clf.callbacks_)
    tags = _tags(tmp_path)
    for name in ("loss", "val_loss", "val_accuracy", "learning_rate"):
        np.testing.assert_allclose(tags[name], clf.history_[name], rtol=1e-6)


def test_keras_tensorboard_in_epoch_mode_keeps_the_fused_loop(
    classification_data, tmp_path
):
    epoch_only = keras.callbacks.TensorBoard(str(tmp_path), profile_batch=0)
    per_batch = keras.callbacks.TensorBoard(str(tmp_path), update_freq="batch")
    assert not _trainer.has_batch_hooks([epoch_only])
    assert _trainer.has_batch_hooks([per_batch])
    X, y = classification_data
    clf = tiny(DeepStackClassifier, max_epochs=2, callbacks=[epoch_only]).fit(X, y)
    assert clf.model_.train_function is None  # the fused loop trained
    tags = _tags(tmp_path / "train")
    np.testing.assert_allclose(tags["epoch_loss"], clf.history_["loss"], rtol=1e-6)
    # One event file: pointing the callback back at the estimator's network
    # after a cached fit went through TensorBoard.set_model, which opened a
    # second one.
    assert len(list((tmp_path / "train").iterdir())) == 1


def test_search_writes_hparams_sessions_and_curves(classification_data, tmp_path):
    X, y = classification_data
    search = DeepStackSearch(
        tiny(DeepStackClassifier, hidden_layer_sizes=(8,), max_epochs=2),
        {"learning_rate": Float(1e-3, 1e-1, log=True), "dropout": [0.0, 0.2]},
        tuner="random",
        max_trials=2,
        cv=2,
        refit=False,
        log_dir=tmp_path,
        random_state=0,
    ).fit(X, y)
    for row, trial_id in enumerate(search.results_["trial_id"]):
        session = _tags(tmp_path / f"trial_{trial_id}")
        assert "_hparams_/session_start_info" in session
        # Scalars are stored as float32.
        for name in ("score", "score_std"):
            expected = [search.results_[name][row]]
            np.testing.assert_allclose(session[name], expected, rtol=1e-6)
        for fold in (0, 1):
            curves = _tags(tmp_path / f"trial_{trial_id}" / f"fold_{fold}")
            assert {"loss", "val_loss", "val_accuracy"} <= set(curves)
            assert len(curves["loss"]) == 2  # one point per epoch
