"""Data-parallel training (``distribution``) on two virtual CPU devices.

JAX sees two devices only when ``XLA_FLAGS`` says so before it starts, so
the two-device runs happen in a fresh interpreter (``KERAS_BACKEND=jax``),
which prints its results as JSON; a second fresh interpreter, with one
device, unpickles the estimator and predicts.
"""

import json
import os
import pathlib
import pickle
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest

import deepstack
from deepstack import DeepStackClassifier
from tests.conftest import tiny

ROOT = pathlib.Path(__file__).resolve().parent.parent

TWO_DEVICES = textwrap.dedent(
    """
    import json, pickle, sys
    import jax, keras, numpy as np
    from deepstack import DeepStackClassifier

    assert len(jax.devices()) == 2, jax.devices()
    rng = np.random.RandomState(0)
    X = rng.normal(size=(160, 6)).astype("float32")
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.7)
    shardings = []
    train_step = keras.Model.train_step

    def spy(self, state, data):
        rows = data[0].shape
        jax.debug.inspect_array_sharding(
            data[0], callback=lambda s: shardings.append(s.shard_shape(rows)[0])
        )
        return train_step(self, state, data)

    keras.Model.train_step = spy
    params = dict(
        hidden_layer_sizes=(16,), max_epochs=4, batch_size=16, random_state=0,
        learning_rate=1e-2, dropout=0.0, input_dropout=0.0, l2=0.0,
    )
    out = {}
    for name, distribution in [
        ("one", None),
        ("two", keras.distribution.DataParallel()),
        ("auto", "auto"),
    ]:
        shardings.clear()
        clf = DeepStackClassifier(distribution=distribution, **params).fit(X, y)
        out[name] = {
            "loss": clf.history_["loss"],
            "proba": clf.predict_proba(X).tolist(),
            "shardings": sorted(set(shardings)),
            "variable_devices": len(clf.model_.trainable_variables[0].value.devices()),
        }
    clf.set_params(distribution=None)  # "auto" is plain; pickles as is
    with open(sys.argv[1], "wb") as handle:
        pickle.dump((clf, X), handle)
    print(json.dumps(out))
    """
)

ONE_DEVICE = textwrap.dedent(
    """
    import json, pickle, sys
    import jax

    assert len(jax.devices()) == 1
    with open(sys.argv[1], "rb") as handle:
        clf, X = pickle.load(handle)
    print(json.dumps(clf.predict_proba(X).tolist()))
    """
)


def _python(code, *args, devices):
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    env.pop("XLA_FLAGS", None)
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_devices_train_like_one_and_the_model_predicts_on_one(tmp_path):
    saved = tmp_path / "clf.pkl"
    runs = _python(TWO_DEVICES, str(saved), devices=2)
    one, two, auto = runs["one"], runs["two"], runs["auto"]
    # Rows of a batch of 16 on each device. One device: the whole batch,
    # variables on one device. Two: each batch split in halves, variables
    # replicated on both.
    assert one["shardings"] == [16]
    assert one["variable_devices"] == 1
    for run in (two, auto):
        assert run["shardings"] == [8]
        assert run["variable_devices"] == 2
        np.testing.assert_allclose(run["loss"], one["loss"], rtol=1e-5)
        np.testing.assert_allclose(run["proba"], one["proba"], atol=1e-5)
    # Pickled after the two-device fit, predicted in a one-device process.
    proba = _python(ONE_DEVICE, str(saved), devices=1)
    np.testing.assert_allclose(proba, auto["proba"], atol=1e-6)


def test_a_distribution_object_needs_jax(classification_data):
    class Distribution:  # duck-typed like keras.distribution.Distribution
        def scope(self):
            raise AssertionError("not reached")

        def get_data_layout(self, shape):
            raise AssertionError("not reached")

    X, y = classification_data
    clf = tiny(DeepStackClassifier, distribution=Distribution())
    if keras.backend.backend() == "jax":
        pytest.skip("the error is TensorFlow's (and other one-device backends')")
    with pytest.raises(ValueError, match="distribution=.*needs the JAX backend"):
        clf.fit(X, y)
    assert not hasattr(clf, "model_")
    # "auto" is one device here: a plain fit.
    clf.set_params(distribution="auto", max_epochs=1).fit(X, y)
    assert clf.n_iter_ == 1


EDGES = textwrap.dedent(
    """
    import json, pickle, sys, tempfile, warnings
    import jax, keras, numpy as np
    from deepstack import DeepStackClassifier, DeepStackSearch
    from deepstack.tuning import Float

    assert len(jax.devices()) == 2, jax.devices()
    rng = np.random.RandomState(0)
    X = rng.normal(size=(41, 4)).astype("float32")
    y = (X[:, 0] > 0).astype(int)
    params = dict(
        hidden_layer_sizes=(4,), max_epochs=2, random_state=0, dropout=0.0,
        input_dropout=0.0, l2=0.0, early_stopping=False,
    )

    class PerBatch(keras.callbacks.Callback):  # takes Model.fit's path
        def on_train_batch_end(self, batch, logs=None):
            pass

    def devices(clf):
        return len(clf.model_.trainable_variables[0].value.devices())

    out = {}
    # 1. Model.fit under two devices: batches of 7 (the last of 6), then
    # batches of 8 and a last one of 1.
    for batch_size in (7, 8):
        fused = DeepStackClassifier(batch_size=batch_size, **params).fit(X, y)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            split = DeepStackClassifier(
                batch_size=batch_size, callbacks=[PerBatch()],
                distribution=keras.distribution.DataParallel(), **params,
            ).fit(X, y)
        out[f"fit_{batch_size}"] = {
            "fused": fused.history_["loss"],
            "split": split.history_["loss"],
            "warnings": [
                str(w.message) for w in caught if "distribution" in str(w.message)
            ],
            "devices": devices(split),
        }

    # 2. A fitted estimator with a distribution object pickles.
    split = DeepStackClassifier(
        batch_size=8, distribution=keras.distribution.DataParallel(), **params
    ).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = pickle.dumps((split, X))
    out["pickle_warnings"] = [
        str(w.message) for w in caught if "distribution" in str(w.message)
    ]
    out["unpickled_distribution"] = repr(pickle.loads(data)[0].distribution)
    out["kept_distribution"] = type(split.distribution).__name__
    out["proba"] = split.predict_proba(X).tolist()
    with open(sys.argv[1], "wb") as handle:
        handle.write(data)

    # 5. A network built on one device, continued under two.
    one = DeepStackClassifier(batch_size=8, **params).fit(X, y)
    alone = pickle.loads(pickle.dumps(one)).set_params(warm_start=True).fit(X, y)
    spread = pickle.loads(pickle.dumps(one)).set_params(
        warm_start=True, distribution=keras.distribution.DataParallel()
    ).fit(X, y)
    out["warm"] = {
        "alone": alone.history_["loss"],
        "spread": spread.history_["loss"],
        "devices": devices(spread),
    }

    # 3. Hyperband continues a trial under the search's distribution.
    fits = []

    class Recorded(DeepStackClassifier):
        def fit(self, X, y, **kwargs):
            super().fit(X, y, **kwargs)
            fits.append(
                [self.warm_start, type(self.distribution).__name__, devices(self)]
            )
            return self

    search = DeepStackSearch(
        Recorded(batch_size=8, distribution=keras.distribution.DataParallel(),
                 **params),
        {"learning_rate": Float(1e-3, 1e-1, log=True)},
        tuner="hyperband", max_trials=3, tuner_options={"factor": 2},
        refit=False, random_state=0, directory=tempfile.mkdtemp(),
    ).fit(X, y)
    out["search"] = {
        "continued_from": search.results_["continued_from"],
        "status": search.results_["status"],
        "fits": fits,
    }
    print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_two_devices_take_any_batch_pickle_and_continue(tmp_path):
    saved = tmp_path / "clf.pkl"
    out = _python(EDGES, str(saved), devices=2)
    # Model.fit's path (a per-batch callback) trains as the fused loop on one
    # device, whatever the batch sizes; batches that do not split over the
    # two devices are placed whole on each, with a warning naming them.
    for batch_size, sizes in [(7, "7"), (8, "1")]:
        run = out[f"fit_{batch_size}"]
        np.testing.assert_allclose(run["split"], run["fused"], rtol=1e-5)
        assert run["devices"] == 2
        (message,) = run["warnings"]
        assert f"batches of {sizes} rows (batch_size={batch_size}, 41 " in message
        assert "over 2 devices" in message
    # Pickled with distribution=None (said so); the estimator keeps its own.
    (message,) = out["pickle_warnings"]
    assert "pickled with distribution=None" in message
    assert out["unpickled_distribution"] == "None"
    assert out["kept_distribution"] == "DataParallel"
    proba = _python(ONE_DEVICE, str(saved), devices=1)
    np.testing.assert_allclose(proba, out["proba"], atol=1e-6)
    # A one-device network continued under two: laid out on both, same run.
    warm = out["warm"]
    assert warm["devices"] == 2
    np.testing.assert_allclose(warm["spread"], warm["alone"], rtol=1e-5)
    # Hyperband: two fresh trials, then one continued from its saved
    # estimator, under the search's distribution object, on both devices.
    search = out["search"]
    assert search["status"] == ["COMPLETED"] * 3
    assert search["continued_from"][:2] == [None, None]
    assert search["continued_from"][2] is not None
    assert search["fits"] == [
        [False, "DataParallel", 2],
        [False, "DataParallel", 2],
        [True, "DataParallel", 2],
    ]


def test_a_distribution_object_is_pickled_and_saved_as_none(tmp_path):
    class Distribution:  # duck-typed like keras.distribution.Distribution
        def scope(self):
            raise AssertionError("not reached")

        def get_data_layout(self, shape):
            raise AssertionError("not reached")

    clf = tiny(DeepStackClassifier, distribution=Distribution())
    with pytest.warns(UserWarning, match="pickled with distribution=None"):
        copy = pickle.loads(pickle.dumps(clf))
    assert copy.distribution is None
    assert isinstance(clf.distribution, Distribution)  # the original keeps it
    with pytest.warns(UserWarning, match="saved with distribution=None"):
        deepstack.save(clf, tmp_path / "clf")
    assert deepstack.load(tmp_path / "clf").distribution is None
    # "auto" is a plain value: kept, without a warning.
    clf.set_params(distribution="auto")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pickle.loads(pickle.dumps(clf)).distribution == "auto"
        deepstack.save(clf, tmp_path / "auto")
    assert deepstack.load(tmp_path / "auto").distribution == "auto"
