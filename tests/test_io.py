"""deepstack.save / deepstack.load: exact round trips, and no code on load."""

import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pandas as pd
import pytest

import deepstack
from deepstack import (
    DeepStackClassifier,
    DeepStackRegressor,
    DeepStackSearch,
    Float,
    StackedAutoencoder,
    load,
    save,
)
from tests.conftest import interrupted_on_call, tiny

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _weights(estimator):
    return [np.asarray(w) for w in estimator.model_.get_weights()]


def test_classifier_round_trip_is_exact(classification_data, tmp_path):
    X, y = classification_data
    labels = np.array(["cat", "dog", "eel"], dtype=object)[y]
    clf = tiny(DeepStackClassifier, hidden_layer_sizes=(8, 4), max_epochs=3)
    clf.fit(X, labels)
    save(clf, tmp_path / "clf")
    assert sorted(os.listdir(tmp_path / "clf")) == [
        "arrays.npz",
        "deepstack.json",
        "model.keras",
    ]
    loaded = load(tmp_path / "clf")
    assert type(loaded) is DeepStackClassifier
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    # Parameters come back with their types (a tuple stays a tuple).
    assert loaded.get_params() == clf.get_params()
    assert loaded.hidden_layer_sizes == (8, 4)
    assert loaded.classes_.dtype == object
    assert loaded.classes_.tolist() == ["cat", "dog", "eel"]
    assert loaded.history_ == clf.history_
    for name in ("n_iter_", "best_epoch_", "learning_rate_", "n_features_in_"):
        assert getattr(loaded, name) == getattr(clf, name)
    # The optimizer state came too: one more epoch gives the same weights.
    clf.partial_fit(X, labels)
    loaded.partial_fit(X, labels)
    assert loaded.n_iter_ == clf.n_iter_ == 4
    for a, b in zip(_weights(loaded), _weights(clf)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_regressor_and_autoencoder_round_trip(regression_data, tmp_path):
    X, y = regression_data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    reg = tiny(DeepStackRegressor, max_epochs=2).fit(frame, y)
    save(reg, tmp_path / "reg")
    loaded = load(tmp_path / "reg")
    np.testing.assert_array_equal(loaded.predict(frame), reg.predict(frame))
    assert loaded.feature_names_in_.tolist() == list(frame.columns)
    np.testing.assert_array_equal(loaded.target_mean_, reg.target_mean_)

    ae = StackedAutoencoder((4, 2), epochs=2, random_state=0).fit(X)
    save(ae, tmp_path / "ae")
    loaded = load(tmp_path / "ae")
    np.testing.assert_array_equal(loaded.transform(X), ae.transform(X))
    np.testing.assert_array_equal(
        loaded.inverse_transform(ae.transform(X)), ae.inverse_transform(ae.transform(X))
    )
    assert loaded.pretraining_history_ == ae.pretraining_history_


def test_unfitted_estimator_round_trips(tmp_path):
    clf = DeepStackClassifier((3, 2), class_weight={0: 1.0, 1: 2.5}, random_state=7)
    save(clf, tmp_path / "u")
    loaded = load(tmp_path / "u")
    assert loaded.get_params() == clf.get_params()
    assert not hasattr(loaded, "model_")


def test_an_interrupt_between_the_renames_keeps_the_saved_model(tmp_path, monkeypatch):
    # save(overwrite=True) sets the old folder aside, then renames the new
    # one into place: an interrupt between the two deleted the new one and
    # left the old one hidden, and no model at the path.
    from deepstack import _folders

    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    clf = tiny(DeepStackClassifier, max_epochs=1).fit(X.astype(np.float32), y)
    save(clf, tmp_path / "m")
    before = sorted(p.name for p in (tmp_path / "m").iterdir())
    monkeypatch.setattr(_folders.os, "rename", interrupted_on_call(os.rename))
    with pytest.raises(KeyboardInterrupt):
        save(clf, tmp_path / "m", overwrite=True)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["m"]  # nothing hidden left beside it
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == before
    np.testing.assert_array_equal(load(tmp_path / "m").predict(X), clf.predict(X))


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_saved_folders_get_the_mode_mkdir_would(tmp_path, umask):
    """Not mkdtemp's 0700: a colleague who can read the run folder can read
    the model in it (a bag's template and member folders too)."""
    from deepstack.ensemble import DeepStackBaggingClassifier

    previous = os.umask(umask)
    try:
        save(DeepStackBaggingClassifier(n_folds=2), tmp_path / "bag")
        (tmp_path / "plain").mkdir()
    finally:
        os.umask(previous)
    expected = 0o777 & ~umask
    assert (tmp_path / "plain").stat().st_mode & 0o777 == expected
    for folder in (tmp_path / "bag", tmp_path / "bag" / "estimator"):
        assert folder.stat().st_mode & 0o777 == expected, oct(folder.stat().st_mode)
    assert (tmp_path / "bag" / "deepstack.json").stat().st_mode & 0o777 == (
        0o666 & ~umask
    )


def test_checkpoint_parameter_round_trips(binary_data, tmp_path):
    X, y = binary_data
    folder = str(tmp_path / "ck")
    clf = tiny(DeepStackClassifier, max_epochs=2, checkpoint=folder).fit(X, y)
    save(clf, tmp_path / "saved")
    loaded = load(tmp_path / "saved")
    assert loaded.checkpoint == folder
    assert loaded.get_params() == clf.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    # The paths they take as os.PathLike too (save refused a pathlib.Path)
    # come back as their strings.
    clf.set_params(checkpoint=tmp_path / "ck2", log_dir=tmp_path / "logs")
    save(clf, tmp_path / "paths")
    loaded = load(tmp_path / "paths")
    assert loaded.checkpoint == str(tmp_path / "ck2")
    assert loaded.log_dir == str(tmp_path / "logs")


@pytest.mark.parametrize("backend", [None, "numpy"])
def test_loads_and_predicts_identically_in_a_fresh_process(
    binary_data, tmp_path, backend
):
    """Bit for bit on the backend it was fitted with; on Keras's
    inference-only NumPy backend (what ``deepstack predict`` uses) within
    1e-6, without importing TensorFlow."""
    X, y = binary_data
    clf = tiny(DeepStackClassifier, max_epochs=2).fit(X, y)
    save(clf, tmp_path / "clf")
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "expected.npy", clf.predict_proba(X))
    check = (
        "np.testing.assert_array_equal(got, expected)\n"
        if backend is None
        else "assert abs(got - expected).max() < 1e-6\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    code = (
        "import sys, numpy as np, deepstack\n"
        "d = sys.argv[1]\n"
        "est = deepstack.load(d + '/clf')\n"
        "got = est.predict_proba(np.load(d + '/X.npy'))\n"
        "expected = np.load(d + '/expected.npy')\n"
        + check
        + "print('identical', got.shape)\n"
    )
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"identical ({X.shape[0]}, 2)" in done.stdout


def test_save_refuses_what_it_cannot_store_safely(binary_data, tmp_path):
    X, y = binary_data
    clf = tiny(DeepStackClassifier, max_epochs=1)
    clf.set_params(callbacks=[keras.callbacks.Callback()])
    with pytest.raises(ValueError, match=r"set_params\(callbacks=None\)"):
        save(clf, tmp_path / "cb")
    assert not (tmp_path / "cb").exists()
    search = DeepStackSearch(clf, {"learning_rate": Float(1e-3, 1e-1)})
    with pytest.raises(TypeError, match="save its best_estimator_"):
        save(search, tmp_path / "search")
    # A scoring function is code too: the error said what it is, not what
    # to do about it.
    scored = tiny(DeepStackClassifier, max_epochs=1, scoring=lambda e, X, y: 0.0)
    with pytest.raises(TypeError) as caught:
        save(scored, tmp_path / "scored")
    assert str(caught.value) == (
        "Cannot save scoring: a function is neither a plain value nor a NumPy "
        "array, and the safe format stores nothing else. scoring is a parameter: "
        "give it a value the format stores such as a scorer's name, or call "
        "set_params(scoring=None) before saving and set it again after loading."
    )
    assert not (tmp_path / "scored").exists()
    save(scored.set_params(scoring="f1_macro"), tmp_path / "named")
    assert load(tmp_path / "named").scoring == "f1_macro"


def test_save_never_replaces_what_it_did_not_write(binary_data, tmp_path):
    X, y = binary_data
    first = tiny(DeepStackClassifier, max_epochs=1).fit(X, y)
    second = tiny(DeepStackClassifier, max_epochs=1, random_state=3).fit(X, y)
    save(first, tmp_path / "m")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save(second, tmp_path / "m")
    np.testing.assert_array_equal(
        load(tmp_path / "m").predict_proba(X), first.predict_proba(X)
    )
    # A truthy string is no True.
    with pytest.raises(TypeError, match=r"save's overwrite must be True or False"):
        save(second, tmp_path / "m", overwrite="no")
    save(second, tmp_path / "m", overwrite=True)
    np.testing.assert_array_equal(
        load(tmp_path / "m").predict_proba(X), second.predict_proba(X)
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="does not replace it"):
        save(first, tmp_path / "data", overwrite=True)
    assert (tmp_path / "data" / "keep.txt").read_text() == "mine"
    # No temporary directories are left beside the saves.
    assert sorted(os.listdir(tmp_path)) == ["data", "m"]


@pytest.fixture
def saved(binary_data, tmp_path):
    X, y = binary_data
    save(tiny(DeepStackClassifier, max_epochs=1).fit(X, y), tmp_path / "m")
    return tmp_path / "m"


def _edit_state(path, edit):
    state_file = path / "deepstack.json"
    state = json.loads(state_file.read_text())
    edit(state)
    state_file.write_text(json.dumps(state))


@pytest.mark.parametrize(
    "name", ["os.system", "builtins.eval", "sklearn.svm.SVC", "DeepStackClassifier"]
)
def test_unknown_class_name_is_refused(saved, name):
    _edit_state(saved, lambda state: state.update({"class": name}))
    with pytest.raises(ValueError, match="not one deepstack loads"):
        load(saved)


def test_a_trusted_subclass_loads_only_when_passed(binary_data, tmp_path):
    class MyClassifier(DeepStackClassifier):
        pass

    X, y = binary_data
    mine = tiny(MyClassifier, max_epochs=1).fit(X, y)
    save(mine, tmp_path / "mine")
    with pytest.raises(ValueError, match="trusted="):
        load(tmp_path / "mine")
    loaded = load(tmp_path / "mine", trusted=[MyClassifier])
    assert type(loaded) is MyClassifier
    np.testing.assert_array_equal(loaded.predict_proba(X), mine.predict_proba(X))


class _Payload:
    """Unpickling this object would create the file named by ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_planted_in_the_arrays_is_refused(saved, tmp_path):
    marker = tmp_path / "code-ran"
    planted = np.empty(1, dtype=object)
    planted[0] = _Payload(str(marker))
    with np.load(saved / "arrays.npz", allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["a0"] = planted
    np.savez(saved / "arrays.npz", **arrays)
    with pytest.raises(ValueError, match="pickled objects are never loaded"):
        load(saved)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["classes_", "n_features_in_"])
def test_a_state_without_a_fitted_attribute_is_refused(saved, name):
    # It loaded, and predict failed with an AttributeError (classes_) or
    # took any number of columns (n_features_in_).
    _edit_state(saved, lambda s: s["attributes"].pop(name))
    with pytest.raises(ValueError, match=rf"not its attributes \['{name}'\]"):
        load(saved)


def test_tampered_state_is_refused(saved):
    _edit_state(saved, lambda s: s["attributes"].update({"__class__": 1}))
    with pytest.raises(ValueError, match="forbidden attribute name"):
        load(saved)
    _edit_state(saved, lambda s: s["attributes"].pop("__class__"))
    _edit_state(saved, lambda s: s["params"].update({"evil": 1}))
    with pytest.raises(ValueError, match="lacks"):
        load(saved)
    _edit_state(saved, lambda s: s["params"].pop("evil"))
    # A number in place of a method; a value the estimator refuses.
    _edit_state(saved, lambda s: s["attributes"].update({"predict": 1}))
    with pytest.raises(ValueError, match="forbidden attribute name 'predict'"):
        load(saved)
    _edit_state(saved, lambda s: s["attributes"].pop("predict"))
    _edit_state(saved, lambda s: s["params"].update({"dropout": 5}))
    with pytest.raises(
        ValueError, match="deepstack.json holds a parameter value .*dropout"
    ):
        load(saved)
    _edit_state(saved, lambda s: s["params"].update({"dropout": 0.1}))
    assert load(saved).dropout == 0.1
    _edit_state(saved, lambda s: s.update({"format_version": 99}))
    with pytest.raises(ValueError, match="Upgrade deepstack"):
        load(saved)
    (saved / "deepstack.json").write_bytes(b"\x80garbage")
    with pytest.raises(ValueError, match="not valid JSON"):
        load(saved)


def test_a_lambda_layer_in_the_model_is_refused(saved):
    # A Lambda layer stores Python bytecode; safe mode refuses to load it.
    inputs = keras.Input((6,))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    keras.saving.save_model(keras.Model(inputs, outputs), saved / "model.keras")
    with pytest.raises(ValueError, match="safe mode.*[Ll]ambda"):
        load(saved)


def test_hyperband_checkpoints_are_not_pickles(classification_data, tmp_path):
    X, y = classification_data
    search = DeepStackSearch(
        tiny(DeepStackClassifier, hidden_layer_sizes=(8,), max_epochs=2),
        {"learning_rate": Float(1e-3, 1e-1, log=True)},
        tuner="hyperband",
        max_trials=3,
        tuner_options={"factor": 2},
        refit=False,
        directory=tmp_path,
        random_state=0,
    ).fit(X, y)
    assert search.results_["continued_from"][2] is not None
    names = [name for _, _, files in os.walk(tmp_path) for name in files]
    assert not any(name.endswith((".pkl", ".pickle")) for name in names)
    assert names.count("deepstack.json") == 3
    # The continued trial's estimator is readable with the safe loader.
    trial = search.results_["continued_from"][2]
    project = next(p for p in tmp_path.iterdir() if p.is_dir())
    checkpoint = load(project / f"trial_{trial}" / "estimator")
    assert checkpoint.n_iter_ == 1


def test_public_api_exports_save_and_load():
    assert deepstack.save is save and deepstack.load is load
    assert {"save", "load"} <= set(deepstack.__all__)


def test_save_file_is_a_zip_free_of_pickles(saved):
    # Keras's own archive holds JSON and HDF5 weights, no pickle either.
    with zipfile.ZipFile(saved / "model.keras") as archive:
        names = archive.namelist()
    assert "config.json" in names
    assert not any(name.endswith((".pkl", ".pickle")) for name in names)


def test_an_interrupted_save_leaves_the_previous_one(
    binary_data, tmp_path, monkeypatch
):
    X, y = binary_data
    first = tiny(DeepStackClassifier, max_epochs=1).fit(X, y)
    save(first, tmp_path / "m")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    second = tiny(DeepStackClassifier, max_epochs=1, random_state=3).fit(X, y)
    with pytest.raises(KeyboardInterrupt):
        save(second, tmp_path / "m", overwrite=True)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["m"]
    np.testing.assert_array_equal(
        load(tmp_path / "m").predict_proba(X), first.predict_proba(X)
    )
