"""The fused epoch loop against keras.Model.fit.

Backend-neutral: tests/test_backends.py runs this module again under JAX. On
a GPU, run it with ``JAX_DEFAULT_MATMUL_PRECISION=highest``: at the default
precision XLA uses TF32 matmuls, and the comparisons to 1e-5 fail by ~5e-5
(seen on an H200; all pass at highest precision).
"""

import os
import re

import keras
import numpy as np
import pytest

from deepstack import DeepStackClassifier, _network, _trainer
from deepstack.callbacks import EarlyStopping, LearningRateRecorder
from tests.conftest import BatchHook, tiny


def test_runs_on_the_backend_the_environment_names():
    # So that the JAX run of this module (tests/test_backends.py) cannot
    # silently test TensorFlow.
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


def _problem(n=96):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n, 5)).astype("float32")
    y = (X[:, 0] - X[:, 1] > 0).astype("int32") + (X[:, 2] > 0.5)
    w = rng.uniform(0.2, 3.0, size=n).astype("float32")
    return X, y, w


def _model():
    # No dropout: the two loops must then agree step for step.
    model = _network.build_network(
        5,
        3,
        hidden_layer_sizes=(12, 6),
        output_activation="softmax",
        batch_norm=True,
        l2=1e-2,
        seed=0,
    )
    model.compile(
        keras.optimizers.Adam(1e-2),
        "sparse_categorical_crossentropy",
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        weighted_metrics=[],
    )
    _network.build_optimizer(model)
    return model


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_full_batch_epochs_match_model_fit(weighted):
    # One batch per epoch: the order of the rows does not matter, so the
    # fused loop and Model.fit take the same steps (up to float summation),
    # and the validation inside the compiled epoch reports what Keras's
    # validation_data does (weighted loss with the L2 penalty, accuracy).
    X, y, w = _problem(n=160)
    X, y, w, Xv, yv, wv = X[:96], y[:96], w[:96], X[96:], y[96:], w[96:]
    if not weighted:
        w = wv = None
    reference = _model()
    expected = reference.fit(
        X,
        y,
        sample_weight=w,
        batch_size=len(X),
        epochs=6,
        shuffle=False,
        validation_data=(Xv, yv) if wv is None else (Xv, yv, wv),
        verbose=0,
    ).history
    model = _model()
    accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    got = _trainer.fit_epochs(
        model,
        X,
        y,
        w,
        batch_size=len(X),
        epochs=6,
        validation=(Xv, yv, wv),
        metrics=[accuracy],
        seed=3,
    ).history
    assert sorted(got) == sorted(expected)
    assert sorted(got) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5)
    for key in ("accuracy", "val_accuracy"):
        np.testing.assert_allclose(got[key], expected[key])
    # Adam divides by the gradients' root mean square, which turns float32
    # summation-order noise in near-zero gradients into ~1e-5 differences.
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    # Model.fit never ran: no Keras train or test function was made, and the
    # given metric was copied, not used.
    assert model.train_function is None and model.test_function is None
    assert int(model.optimizer.iterations) == 6
    assert float(accuracy.count) == 0.0


class _TrainEnd(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        self.logs = logs


@pytest.mark.parametrize("epochs", [3, 0])
def test_on_train_end_gets_what_model_fit_gives(epochs):
    # The last epoch's logs (training and validation); empty without an epoch.
    X, y, _ = _problem()
    seen = []
    for fused in (True, False):
        callback = _TrainEnd()
        model = _model()
        if fused:
            _trainer.fit_epochs(
                model,
                X,
                y,
                batch_size=len(X),
                epochs=epochs,
                validation=(X[:16], y[:16], None),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                callbacks=[callback],
                seed=0,
            )
        else:
            model.fit(
                X,
                y,
                batch_size=len(X),
                epochs=epochs,
                shuffle=False,
                validation_data=(X[:16], y[:16]),
                callbacks=[callback],
                verbose=0,
            )
        seen.append(callback.logs)
    if epochs == 0:
        assert seen == [{}, {}]
    else:
        assert sorted(seen[0]) == sorted(seen[1])
        assert sorted(seen[0]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
        for key in seen[0]:
            np.testing.assert_allclose(seen[0][key], seen[1][key], rtol=1e-4)


def test_mini_batches_cover_every_row_once_per_epoch():
    # With a zero learning rate and SGD, the epoch's mean loss equals the
    # loss over all rows exactly when every row is visited once: the batches
    # of 10 over 96 rows (the last one 6 rows) are weighted by their size.
    X, y, _ = _problem()
    model = _network.build_network(
        5, 3, hidden_layer_sizes=(4,), output_activation="softmax", seed=0
    )
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    _network.build_optimizer(model)
    history = _trainer.fit_epochs(model, X, y, batch_size=10, epochs=2, seed=0)
    full = model.evaluate(X, y, batch_size=len(X), verbose=0)
    np.testing.assert_allclose(history.history["loss"], [full, full], rtol=1e-5)
    assert int(model.optimizer.iterations) == 2 * 10


def test_shuffling_is_seeded_per_epoch():
    X, y, _ = _problem()
    runs = []
    for seed in (0, 0, 1):
        model = _model()
        _trainer.fit_epochs(model, X, y, batch_size=16, epochs=2, seed=seed)
        runs.append(model.get_weights()[0])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_model_fit_draws_the_fused_loops_seeded_batches():
    # A per-batch callback sends training through Model.fit. It draws each
    # epoch's batches from the same seeded permutation as the fused loop
    # (from epoch 2 on, too), whatever NumPy's global generator holds: on
    # JAX, Keras shuffled with it, so random_state did not decide the model.
    class PerBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    X, y, _ = _problem()
    weights = []
    for global_seed, callbacks in ((0, []), (1, [PerBatch()]), (2, [PerBatch()])):
        np.random.seed(global_seed)  # noqa: NPY002 (the global state itself)
        model = _model()
        _trainer.train(
            model,
            (X, y, None),
            batch_size=16,
            epochs=5,
            initial_epoch=2,
            seed=7,
            callbacks=callbacks,
        )
        weights.append(model.get_weights())
    for other in weights[1:]:
        for fused, fitted in zip(weights[0], other, strict=True):
            np.testing.assert_allclose(fitted, fused, rtol=1e-4, atol=1e-5)


def test_callbacks_see_epochs_and_stop_training():
    X, y, _ = _problem()
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(("begin", self.params["epochs"], self.params["steps"]))

        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, sorted(logs)))
            if epoch == 3:
                self.model.stop_training = True

    model = _model()
    recorder = LearningRateRecorder()
    history = _trainer.fit_epochs(
        model,
        X,
        y,
        batch_size=32,
        epochs=10,
        initial_epoch=2,
        callbacks=[recorder, Spy()],
        seed=0,
    )
    # epochs 2 and 3 ran (stopped after 3), the recorder's rates are logged.
    assert seen == [
        ("begin", 10, 3),
        (2, ["accuracy", "learning_rate", "loss"]),
        (3, ["accuracy", "learning_rate", "loss"]),
    ]
    assert history.epoch == [2, 3]
    np.testing.assert_allclose(history.history["learning_rate"], [1e-2, 1e-2])


def test_supported_only_without_batch_hooks():
    class PerBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    model = _model()
    assert _trainer.supported(model, [EarlyStopping()])
    assert not _trainer.supported(model, [PerBatch()])
    # A hook set on the instance counts too: the fused loop never called it.
    calls = []
    hook = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: calls.append(batch)
    )
    assert not _trainer.supported(model, [hook])
    X, y, _ = _problem()
    _trainer.train(model, (X, y, None), batch_size=32, epochs=2, callbacks=[hook])
    assert len(calls) == 2 * 3
    # TensorFlow: not under XLA (Keras's own jit_compile loop); JAX: only
    # when compiled with jit (the default there).
    model.jit_compile = keras.backend.backend() == "tensorflow"
    assert not _trainer.supported(model, [])


def test_estimator_trains_with_the_fused_loop_unless_it_cannot(
    classification_data, capsys
):
    X, y = classification_data
    fused = tiny(DeepStackClassifier, max_epochs=2, random_state=0).fit(X, y)
    assert fused.model_.train_function is None
    assert fused.n_iter_ == 2 and len(fused.history_["val_loss"]) == 2
    assert capsys.readouterr().out == ""
    # A callback that must see every batch needs Keras's own loop.
    hooked = tiny(DeepStackClassifier, max_epochs=2, random_state=0)
    hooked.set_params(callbacks=[BatchHook()]).fit(X, y)
    assert hooked.model_.train_function is not None
    steps = -(-int(X.shape[0] * (1 - hooked.validation_fraction)) // 32)
    (hook,) = [cb for cb in hooked.callbacks_ if isinstance(cb, BatchHook)]
    assert hook.batches == 2 * steps


@pytest.mark.parametrize("verbose", [1, 2])
def test_progress_output_keeps_the_fused_loop(classification_data, capsys, verbose):
    # Keras's own progress bar, drawn once per epoch (an epoch is one
    # compiled call), with the epoch's logs; the same model as a quiet fit.
    X, y = classification_data
    quiet = tiny(DeepStackClassifier, max_epochs=2, random_state=0).fit(X, y)
    shown = tiny(DeepStackClassifier, max_epochs=2, random_state=0, verbose=verbose)
    shown.fit(X, y)
    assert shown.model_.train_function is None
    assert shown.history_ == quiet.history_
    out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # colours
    assert re.findall(r"Epoch (\d+)/(\d+)", out) == [("1", "2"), ("2", "2")]
    # The bar is complete at each epoch's end: all the epoch's steps.
    steps = -(-int(X.shape[0] * (1 - shown.validation_fraction)) // 32)
    counts = [tuple(map(int, m)) for m in re.findall(r"(\d+)/(\d+) ", out)]
    assert counts == [(steps, steps)] * 2, (steps, out)
    last = shown.history_["val_loss"][-1]
    assert f"val_loss: {last:.4f}" in out


@pytest.mark.parametrize("auto_resolves_to_xla", [False, True])
def test_default_fit_takes_the_fused_loop_even_where_auto_means_xla(
    classification_data, monkeypatch, auto_resolves_to_xla
):
    # Keras's jit_compile="auto" means XLA on TensorFlow with a GPU (and on
    # JAX); simulate that machine on a CPU. The estimators choose
    # jit_compile themselves, so a default fit still takes the fused loop:
    # a graph tf.function on TensorFlow, a jax.jit on JAX.
    monkeypatch.setattr(
        keras.Model, "_resolve_auto_jit_compile", lambda self: auto_resolves_to_xla
    )
    taken = []
    fit_epochs = _trainer.fit_epochs
    monkeypatch.setattr(
        _trainer,
        "fit_epochs",
        lambda model, *args, **kwargs: (
            taken.append(model.jit_compile) or fit_epochs(model, *args, **kwargs)
        ),
    )
    X, y = classification_data
    clf = tiny(DeepStackClassifier, max_epochs=2, random_state=0).fit(X, y)
    jax = keras.backend.backend() == "jax"
    jit = auto_resolves_to_xla if jax else False
    # JAX's fused epoch is a jax.jit: a model Keras will not jit (never the
    # case for deepstack's networks) falls back to Model.fit.
    fused = auto_resolves_to_xla or not jax
    assert clf.model_.jit_compile == jit
    assert taken == ([jit] if fused else [])
    assert (clf.model_.train_function is None) is fused
    assert _trainer.supported(clf.model_, clf.callbacks_) is fused


def test_validation_in_chunks_equals_one_pass(monkeypatch):
    X, y, w = _problem(n=150)
    validation = (X[100:], y[100:], w[100:])
    runs = {}
    for chunk in (4096, 7):  # 50 rows: one chunk, or 8 chunks (the last of 1)
        monkeypatch.setattr(_network, "CHUNK_ROWS", chunk)
        metric = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        runs[chunk] = _trainer.fit_epochs(
            _model(),
            X[:100],
            y[:100],
            batch_size=25,
            epochs=3,
            validation=validation,
            metrics=[metric],
            seed=0,
        ).history
    np.testing.assert_allclose(runs[7]["val_loss"], runs[4096]["val_loss"], rtol=1e-6)
    np.testing.assert_allclose(runs[7]["val_accuracy"], runs[4096]["val_accuracy"])
    assert runs[7]["loss"] == runs[4096]["loss"]


def test_estimator_fit_is_seeded_and_learns(classification_data):
    # Dropout, batch norm, early stopping and the learning-rate schedule
    # through the fused loop: the same seed gives the same network.
    X, y = classification_data
    fits = [
        tiny(DeepStackClassifier, batch_norm=True, max_epochs=15, random_state=0).fit(
            X, y
        )
        for _ in range(2)
    ]
    assert fits[0].model_.train_function is None
    np.testing.assert_allclose(
        fits[0].predict_proba(X), fits[1].predict_proba(X), rtol=1e-5, atol=1e-6
    )
    assert fits[0].history_["val_loss"] == fits[1].history_["val_loss"]
    assert fits[0].history_["loss"][-1] < 0.7 * fits[0].history_["loss"][0]
    assert fits[0].score(X, y) > 0.7  # chance: 0.33
