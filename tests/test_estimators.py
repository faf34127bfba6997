"""Behaviour of DeepStackClassifier / DeepStackRegressor (issue: foundation)."""

import copy
import gc
import math
import pickle

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import deepstack
from deepstack import DeepStackClassifier, DeepStackRegressor
from deepstack._network import HIDDEN, build_network
from deepstack.callbacks import EarlyStopping
from tests.conftest import fails_in_training, tiny


def test_network_initialization_follows_glorot_and_zero_bias():
    model = build_network(50, 3, hidden_layer_sizes=(30,), seed=0)
    kernel, bias = model.get_layer(HIDDEN.format(1)).get_weights()
    bound = np.sqrt(6.0 / (50 + 30))
    assert np.all(np.abs(kernel) <= bound)
    # A uniform distribution on [-b, b] has standard deviation b / sqrt(3).
    assert kernel.std() == pytest.approx(bound / np.sqrt(3), rel=0.1)
    assert np.all(bias == 0)


def test_batch_norm_layers_normalize_pre_activations():
    model = build_network(4, 2, hidden_layer_sizes=(8, 8), batch_norm=True, seed=0)
    names = [layer.name for layer in model.layers]
    for i in (1, 2):
        dense = model.get_layer(HIDDEN.format(i))
        assert not dense.use_bias
        # Dense -> BN -> activation order.
        assert names.index(f"batch_norm_{i}") == names.index(dense.name) + 1
        assert names.index(f"activation_{i}") == names.index(dense.name) + 2


def test_classifier_outputs(classification_data):
    X, y = classification_data
    clf = tiny(DeepStackClassifier, max_epochs=30).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        clf.predict_log_proba(X), np.log(proba), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(1)])
    assert clf.decision_function(X).shape == (len(X), 3)
    assert clf.score(X, y) > 0.8
    assert clf.n_features_in_ == X.shape[1]
    assert set(clf.history_) >= {
        "loss",
        "val_loss",
        "accuracy",
        "val_accuracy",
        "learning_rate",
    }
    assert all(len(v) == clf.n_iter_ for v in clf.history_.values())
    assert all(isinstance(v, float) for v in clf.history_["loss"])
    assert 0 <= clf.best_epoch_ < clf.n_iter_


def test_binary_string_labels(binary_data):
    X, y = binary_data
    labels = np.where(y == 1, "spam", "ham")
    clf = tiny(DeepStackClassifier, max_epochs=30).fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ["ham", "spam"])
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    scores = clf.decision_function(X)
    assert scores.shape == (len(X),)
    # The decision function is the logit of the positive class.
    np.testing.assert_allclose(1 / (1 + np.exp(-scores)), proba[:, 1], atol=1e-5)
    assert set(clf.predict(X)) <= {"ham", "spam"}
    assert clf.score(X, labels) > 0.8


def test_dataframe_input_records_feature_names(classification_data):
    X, y = classification_data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = tiny(DeepStackClassifier).fit(frame, pd.Series(y))
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    assert clf.predict(frame).shape == (len(X),)


def test_same_seed_gives_identical_predictions(classification_data):
    X, y = classification_data
    a = tiny(DeepStackClassifier, dropout=0.3, random_state=3).fit(X, y)
    b = tiny(DeepStackClassifier, dropout=0.3, random_state=3).fit(X, y)
    c = tiny(DeepStackClassifier, dropout=0.3, random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_caller_arrays_are_not_modified(classification_data):
    X, y = classification_data
    X_copy, y_copy = X.copy(), y.copy()
    w = np.ones(len(y))
    tiny(DeepStackClassifier, class_weight="balanced").fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    np.testing.assert_array_equal(w, 1.0)


def test_pickle_deepcopy_and_clone(classification_data):
    X, y = classification_data
    clf = tiny(DeepStackClassifier)
    assert pickle.loads(pickle.dumps(clf)).get_params() == clf.get_params()
    clf.fit(X, y)
    expected = clf.predict_proba(X)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    np.testing.assert_array_equal(copy.deepcopy(clf).predict_proba(X), expected)
    assert restored.history_ == clf.history_
    fresh = clone(clf)
    assert not hasattr(fresh, "model_")
    assert fresh.get_params() == clf.get_params()


def test_partial_fit_continues_with_optimizer_state_after_pickle(
    classification_data,
):
    X, y = classification_data
    clf = tiny(DeepStackClassifier, optimizer="adam")
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=np.unique(y))
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 2
    assert len(clf.history_["loss"]) == 2
    steps = int(keras.ops.convert_to_numpy(clf.model_.optimizer.iterations))
    assert steps == 2 * int(np.ceil(len(X) / 32))

    restored = pickle.loads(pickle.dumps(clf))
    restored_steps = keras.ops.convert_to_numpy(restored.model_.optimizer.iterations)
    assert int(restored_steps) == steps
    clf.partial_fit(X, y)
    restored.partial_fit(X, y)
    assert restored.n_iter_ == 3
    # Same weights, same Adam moments, same shuffling seed: same result.
    for a, b in zip(clf.model_.get_weights(), restored.model_.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_partial_fit_names_its_arguments(classification_data, regression_data):
    # The regressor's said "BaseDeepStack._encode_partial_target() got an
    # unexpected keyword argument 'classes'"; a NaN in classes, "Input y
    # contains NaN."
    Xr, yr = regression_data
    with pytest.raises(
        TypeError, match=r"DeepStackRegressor.partial_fit\(\) got an unexpected"
    ):
        tiny(DeepStackRegressor).partial_fit(Xr, yr, classes=[0, 1])
    X, y = classification_data
    with pytest.raises(ValueError, match=r"classes=\[0.0, 1.0, nan\] of partial_fit"):
        tiny(DeepStackClassifier).partial_fit(X, y, classes=[0, 1, np.nan])
    reg = tiny(DeepStackRegressor).partial_fit(Xr, yr, np.ones(len(yr)))
    assert reg.n_iter_ == 1


def test_partial_fit_rejects_labels_outside_classes(classification_data):
    X, y = classification_data
    clf = tiny(DeepStackClassifier).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"not seen during fit: \[7\]"):
        clf.partial_fit(X[:3], [0, 1, 7])
    clf.partial_fit(X[:3], [0, 1, 2], classes=[2, 1, 0])  # the same classes
    with pytest.raises(
        ValueError,
        match=r"classes=\[0, 1, 2, 3\] is not the same as on the first call to "
        r"partial_fit, \[0, 1, 2\]",
    ):
        clf.partial_fit(X[:3], [0, 1, 2], classes=[0, 1, 2, 3])


def test_warm_start_continues_training(classification_data):
    X, y = classification_data
    clf = tiny(DeepStackClassifier, warm_start=True, early_stopping=False)
    clf.fit(X, y)
    first = clf.model_
    weights = [w.copy() for w in first.get_weights()]
    clf.fit(X, y)
    assert clf.model_ is first
    assert clf.n_iter_ == 10
    assert len(clf.history_["loss"]) == 10
    assert any(not np.allclose(a, b) for a, b in zip(weights, first.get_weights()))
    cold = tiny(DeepStackClassifier, early_stopping=False).fit(X, y)
    model = cold.model_
    cold.fit(X, y)
    assert cold.model_ is not model
    assert cold.n_iter_ == 5


@pytest.mark.parametrize("warm_start", [False, True])
def test_a_refit_that_raises_leaves_the_estimator_as_it_was(
    classification_data, warm_start
):
    # Only KeyboardInterrupt was undone: a callback's error (or MemoryError)
    # left new classes_ and n_features_in_ beside the old network, which
    # then predicted the new labels.
    X, y = classification_data
    clf = tiny(DeepStackClassifier, max_epochs=3, warm_start=warm_start).fit(X, y)
    before = clf.predict_proba(X)
    weights = [w.copy() for w in clf.model_.get_weights()]
    history = {k: list(v) for k, v in clf.history_.items()}
    # A warm start trains the same network in place; a cold one on new
    # columns and labels.
    X2, y2 = (X, y) if warm_start else (X[:, :5], np.where(X[:, 0] > 0, "yes", "no"))
    clf.set_params(callbacks=[fails_in_training(1, RuntimeError("disk full"))])
    with pytest.raises(RuntimeError, match="disk full"):
        clf.fit(X2, y2)
    assert list(clf.classes_) == [0, 1, 2] and clf.n_features_in_ == 8
    assert clf.n_iter_ == 3 and clf.history_ == history
    for kept, saved in zip(clf.model_.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(kept, saved)
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_a_first_fit_that_raises_leaves_the_estimator_unfitted(classification_data):
    X, y = classification_data
    clf = tiny(DeepStackClassifier, callbacks=[fails_in_training(1, MemoryError())])
    with pytest.raises(MemoryError):
        clf.fit(*classification_data)
    assert [k for k in vars(clf) if k.endswith("_")] == []
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_a_continued_network_keeps_what_it_was_built_with(
    classification_data, regression_data, tmp_path
):
    X, y = classification_data
    clf = tiny(DeepStackClassifier, warm_start=True, early_stopping=False).fit(X, y)
    # What each call may change: the rate, the epochs.
    clf.set_params(learning_rate=0.5, max_epochs=2).fit(X, y)
    assert clf.n_iter_ == 7
    for change in (
        {"hidden_layer_sizes": (32, 8)},
        {"dropout": 0.5, "activation": "tanh"},
        {"optimizer": "sgd"},
    ):
        changed = copy.deepcopy(clf).set_params(**change)
        first = sorted(change)[0]
        with pytest.raises(
            ValueError,
            match=rf"warm_start=True continues the fitted network, which was built "
            rf"with {first}=",
        ):
            changed.fit(X, y)
    # Saved and loaded (a tuple comes back a list), the same holds.
    deepstack.save(clf, tmp_path / "clf")
    loaded = deepstack.load(tmp_path / "clf")
    loaded.fit(X, y)  # unchanged: continues
    with pytest.raises(ValueError, match=r"hidden_layer_sizes=\(16,\) \(now \(8,\)\)"):
        loaded.set_params(hidden_layer_sizes=(8,)).fit(X, y)
    Xr, yr = regression_data
    reg = tiny(DeepStackRegressor).partial_fit(Xr, yr)
    with pytest.raises(ValueError, match=r"partial_fit continues .* loss='auto'"):
        reg.set_params(loss="absolute_error").partial_fit(Xr, yr)
    reg.set_params(loss="auto").partial_fit(Xr, yr)
    assert reg.n_iter_ == 2


def test_hidden_layer_sizes_may_hold_numpy_integers(binary_data, tmp_path):
    # As for MLPClassifier (a grid of np.arange widths, an array): Keras's
    # Dense refused a NumPy integer for its units, and a warm start compared
    # the arrays element-wise.
    X, y = binary_data
    for sizes in (np.array([8, 4]), (np.int64(8), np.int64(4))):
        clf = tiny(DeepStackClassifier, hidden_layer_sizes=sizes, max_epochs=1)
        clf.set_params(warm_start=True).fit(X, y).fit(X, y)
        assert clf.n_iter_ == 2
        assert clf.model_.get_layer(HIDDEN.format(1)).units == 8
        deepstack.save(clf, tmp_path / str(len(list(tmp_path.iterdir()))))
    loaded = deepstack.load(tmp_path / "1")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_a_continued_network_keeps_its_finetune_and_reconstruction_layer(
    classification_data,
):
    # Both were silently ignored: the pretrained layers kept the first fit's
    # trainable flags, and the network its reconstruction layer (or none).
    X, y = classification_data
    params = dict(warm_start=True, max_epochs=1, pretrain_epochs=1)
    head = tiny(DeepStackClassifier, pretrain="autoencoder", finetune="head", **params)
    head.fit(X, y)
    assert not head.model_.get_layer("hidden_1").trainable
    with pytest.raises(ValueError, match=r"built with finetune='head' \(now 'all'\)"):
        head.set_params(finetune="all").fit(X, y)
    joint = tiny(DeepStackClassifier, reconstruction_weight=0.5, **params).fit(X, y)
    with pytest.raises(ValueError, match=r"built with reconstruction_weight=0.5 "):
        joint.set_params(reconstruction_weight=0.0).fit(X, y)
    # Without pretraining, finetune changes nothing: a continued fit runs.
    plain = tiny(DeepStackClassifier, **params).fit(X, y)
    assert plain.set_params(finetune="head").fit(X, y).n_iter_ == 2


def test_patience_growth_reaches_early_stopping(classification_data):
    X, y = classification_data
    clf = tiny(DeepStackClassifier, n_iter_no_change=2, patience_growth=0.5)
    clf.set_params(max_epochs=30, learning_rate=0.05).fit(X, y)
    (stopper,) = [cb for cb in clf.callbacks_ if isinstance(cb, EarlyStopping)]
    assert stopper.growth == 0.5
    # It stopped after the grown patience: half the epochs up to the best.
    grown = max(2, math.ceil(0.5 * (clf.best_epoch_ + 1)))
    assert clf.n_iter_ == 30 or clf.n_iter_ == clf.best_epoch_ + 1 + grown


def test_user_validation_set_and_best_weights_restored(classification_data):
    X, y = classification_data
    X_val, y_val = X[:50], y[:50]
    # "moving": keep the statistics the validation loss was measured with.
    clf = tiny(
        DeepStackClassifier,
        max_epochs=25,
        n_iter_no_change=3,
        batch_norm_statistics="moving",
    )
    clf.fit(X[50:], y[50:], X_val=X_val, y_val=y_val)
    best = clf.history_["val_loss"][clf.best_epoch_]
    assert best == pytest.approx(min(clf.history_["val_loss"]))
    loss = clf.model_.evaluate(X_val, y_val, verbose=0, return_dict=True)["loss"]
    # The kept weights are those of the best epoch, measured on the given set.
    assert loss == pytest.approx(best, rel=1e-4)


def test_user_callbacks_are_copied_and_run_after_defaults(classification_data):
    X, y = classification_data

    class CountEpochs(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.epochs = 0

        def on_epoch_end(self, epoch, logs=None):
            self.epochs += 1
            self.saw_learning_rate = "learning_rate" in logs

    user = CountEpochs()
    clf = tiny(DeepStackClassifier, callbacks=[user], early_stopping=False)
    clf.fit(X, y)
    assert not hasattr(user, "epochs")  # the user's object is never mutated
    fitted = clf.callbacks_[-1]
    assert isinstance(fitted, CountEpochs) and fitted.epochs == clf.n_iter_ == 5
    assert fitted.saw_learning_rate
    assert clf.callbacks == [user]


def test_sample_weight_zero_removes_samples(binary_data):
    X, y = binary_data
    X2 = np.vstack([X, X])
    y2 = np.concatenate([y, 1 - y])  # contradicting copies...
    w = np.concatenate([np.ones(len(y)), np.zeros(len(y))])  # ...with no weight
    clf = tiny(DeepStackClassifier, max_epochs=40, early_stopping=False)
    clf.fit(X2, y2, sample_weight=w)
    assert clf.score(X, y) > 0.85


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_only_the_ratios_of_sample_weights_count(binary_data, optimizer):
    # Keras divides the weighted loss by the batch's rows: weights x 100
    # trained as a 100 times larger learning rate with SGD (and shifted the
    # balance against L2), where scikit-learn's MLP divides by their sum.
    X, y = binary_data
    w = np.random.RandomState(0).uniform(0.5, 2.0, size=len(y))
    params = dict(optimizer=optimizer, max_epochs=3, l2=1e-2, random_state=0)
    fits = [
        tiny(DeepStackClassifier, **params).fit(X, y, sample_weight=scale * w)
        for scale in (1.0, 100.0)
    ]
    np.testing.assert_allclose(
        fits[0].predict_proba(X), fits[1].predict_proba(X), rtol=1e-5, atol=1e-6
    )
    # Weights of mean 1 train as no weights at all.
    plain = tiny(DeepStackClassifier, **params).fit(X, y)
    ones = tiny(DeepStackClassifier, **params).fit(
        X, y, sample_weight=np.full(len(y), 7.0)
    )
    np.testing.assert_allclose(plain.predict_proba(X), ones.predict_proba(X), rtol=1e-5)


def test_class_weight_balanced_raises_minority_recall():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 2)).astype(np.float32)
    y = (X[:, 0] + 0.8 * rng.normal(size=400) > 1.6).astype(int)  # ~8% positives
    params = dict(max_epochs=30, early_stopping=False, dropout=0.0)
    plain = tiny(DeepStackClassifier, **params).fit(X, y)
    balanced = tiny(DeepStackClassifier, class_weight="balanced", **params).fit(X, y)
    recall = lambda clf: (clf.predict(X)[y == 1] == 1).mean()  # noqa: E731
    assert recall(balanced) > recall(plain) + 0.1


def test_class_weights_are_checked_as_sample_weights_are(binary_data):
    X, y = binary_data
    with pytest.raises(ValueError, match=r"class_weight gives must be finite and non"):
        tiny(DeepStackClassifier, class_weight={0: -1, 1: 1}).fit(X, y)
    with pytest.raises(ValueError, match=r"class_weight gives are all zero"):
        tiny(DeepStackClassifier, class_weight={0: 0, 1: 0}).fit(X, y)
    # Each zero alone, but no row left with a weight.
    with pytest.raises(ValueError, match=r"class_weight x sample_weight gives are all"):
        tiny(DeepStackClassifier, class_weight={0: 0, 1: 1}).fit(
            X, y, sample_weight=(y == 0).astype(float)
        )
    # float() said "float() argument must be a string or a real number".
    with pytest.raises(ValueError, match=r"gives class 0 the weight None; a weight"):
        tiny(DeepStackClassifier, class_weight={0: None, 1: 1}).fit(X, y)
    # A class weighted zero is allowed: the other class still teaches.
    assert tiny(DeepStackClassifier, class_weight={0: 0, 1: 1}).fit(X, y).n_iter_ > 0


def test_a_split_side_without_weight_is_refused(binary_data, regression_data):
    # Weight on one row only: the other side of the split has none. The
    # validation loss stayed constant (early stopping kept an early epoch),
    # or the training loss was the weight penalty alone (nothing learned).
    X, y = binary_data
    w = np.zeros(len(y))
    w[0] = 1.0
    sides = set()
    for seed in range(6):
        with pytest.raises(ValueError, match=r"is 0 on all \d+ (\w+) rows") as info:
            tiny(DeepStackClassifier, random_state=seed, validation_fraction=0.5).fit(
                X, y, sample_weight=w
            )
        sides.add(str(info.value).split(" rows of the split")[0].split()[-1])
    assert sides == {"training", "validation"}
    # The regressor's split too.
    Xr, yr = regression_data
    with pytest.raises(ValueError, match=r"validation_fraction=0.5.*pass X_val"):
        tiny(DeepStackRegressor, validation_fraction=0.5).fit(
            Xr, yr, sample_weight=w[: len(yr)]
        )
    # Without the split, the one weighted row trains.
    fitted = tiny(DeepStackClassifier, early_stopping=False).fit(X, y, sample_weight=w)
    assert fitted.n_iter_ == 5


def test_partial_fit_refuses_balanced_class_weights(binary_data):
    # As SGDClassifier: balanced on each chunk's counts, a class's weight
    # changed from call to call. A dict of the data's weights is taken.
    X, y = binary_data
    for class_weight in ("balanced", ["balanced"]):
        clf = tiny(DeepStackClassifier, class_weight=class_weight)
        with pytest.raises(ValueError, match=r"'balanced' is not supported for parti"):
            clf.partial_fit(X, y, classes=[0, 1])
        assert not hasattr(clf, "model_")
    clf = tiny(DeepStackClassifier, class_weight={0: 1.0, 1: 3.0})
    assert clf.partial_fit(X, y, classes=[0, 1]).n_iter_ == 1


def test_a_class_weight_dict_is_read_against_every_class(classification_data):
    # scikit-learn checked its keys against the classes of the rows at hand:
    # a partial_fit chunk without the weighted class raised "The classes,
    # [1, 2], are not in class_weight", and a key naming no class blamed
    # the classes it does name.
    X, y = classification_data
    clf = tiny(DeepStackClassifier, class_weight={0: 2.0})
    clf.partial_fit(X[y != 0], y[y != 0], classes=[0, 1, 2])
    assert clf.partial_fit(X, y).n_iter_ == 2
    # A key that is no class (a typo; a class a fold's rows lack) is left
    # out, with a warning: the other classes keep their weights.
    weighted = tiny(DeepStackClassifier, class_weight={0: 2.0, 7: 5.0})
    with pytest.warns(UserWarning, match=r"class_weight names \[7\], not a class"):
        weighted.fit(X, y)
    plain = tiny(DeepStackClassifier, class_weight={0: 2.0}).fit(X, y)
    np.testing.assert_array_equal(weighted.predict_proba(X), plain.predict_proba(X))


def test_regressor_single_and_multi_output(regression_data):
    X, y = regression_data
    params = dict(max_epochs=30, dropout=0.0, l2=0.0, early_stopping=False)
    reg = tiny(DeepStackRegressor, **params).fit(X, y)
    assert reg.predict(X).shape == (len(X),)
    assert reg.score(X, y) > 0.9
    # Targets far from zero: the internal standardization puts them back.
    shifted = tiny(DeepStackRegressor, **params).fit(X, y + 1e4)
    assert shifted.score(X, y + 1e4) > 0.9
    Y = np.column_stack([y, -2 * y])
    multi = tiny(DeepStackRegressor, **params).fit(X, Y)
    assert multi.predict(X).shape == (len(X), 2)
    assert multi.score(X, Y) > 0.9


def test_regressor_targets_of_any_float64_magnitude(regression_data, recwarn):
    # Their standard deviation squared them: targets of 1e200 gave an
    # infinite target_scale_ and infinite predictions, with NumPy's
    # "overflow encountered in square".
    X, y = regression_data
    plain = tiny(DeepStackRegressor, max_epochs=2).fit(X, y)
    huge = tiny(DeepStackRegressor, max_epochs=2).fit(X, y * 1e200)
    np.testing.assert_allclose(huge.target_scale_, plain.target_scale_ * 1e200)
    np.testing.assert_allclose(huge.predict(X), plain.predict(X) * 1e200, rtol=1e-5)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_pipeline_in_grid_search(classification_data, n_jobs):
    X, y = classification_data
    pipe = make_pipeline(StandardScaler(), tiny(DeepStackClassifier))
    grid = GridSearchCV(
        pipe,
        {"deepstackclassifier__dropout": [0.0, 0.5]},
        cv=2,
        n_jobs=n_jobs,
    )
    grid.fit(X, y)
    scores = grid.cv_results_["mean_test_score"]
    assert scores.min() > 0.5
    # Seeded fits: the scores are those of a plain cross-validation of each
    # point (in worker processes too), and the best one was picked.
    for dropout, score in zip((0.0, 0.5), scores):
        expected = cross_val_score(
            clone(pipe).set_params(deepstackclassifier__dropout=dropout), X, y, cv=2
        ).mean()
        assert score == pytest.approx(expected, abs=1e-12)
    best = (0.0, 0.5)[int(np.argmax(scores))]
    assert grid.best_params_ == {"deepstackclassifier__dropout": best}
    np.testing.assert_array_equal(
        grid.predict(X),
        clone(pipe).set_params(deepstackclassifier__dropout=best).fit(X, y).predict(X),
    )


def test_predictions_do_not_depend_on_batch_composition(classification_data):
    X, y = classification_data
    clf = tiny(DeepStackClassifier).fit(X, y)
    full = clf.predict_proba(X)
    order = np.random.RandomState(0).permutation(len(X))
    shuffled = clf.predict_proba(X[order])
    one_by_one = np.vstack([clf.predict_proba(X[i : i + 1]) for i in range(10)])
    # float32 arithmetic: equal up to the last bits, never more.
    np.testing.assert_allclose(shuffled, full[order], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(one_by_one, full[:10], rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="counts TensorFlow graphs, which only the TensorFlow backend traces",
)
def test_fits_leave_no_optimizer_graphs_behind(classification_data, monkeypatch):
    # Optimizer slots created inside the first traced step leave TensorFlow
    # graph conditionals that are never freed (2-3 MB per fit): the
    # estimators create them eagerly before training.
    from tensorflow.python.framework.func_graph import FuncGraph

    from deepstack import _network

    def optimizer_graphs():
        gc.collect()
        return sum(
            isinstance(o, FuncGraph) and o.name.startswith(("adam_", "sgd_"))
            for o in gc.get_objects()
        )

    X, y = classification_data
    before = optimizer_graphs()
    for optimizer in ("adam", "sgd"):
        clf = tiny(
            DeepStackClassifier,
            hidden_layer_sizes=(4,),
            max_epochs=1,
            optimizer=optimizer,
            random_state=0,
        ).fit(X, y)
        assert clf.model_.optimizer.built
        del clf
    assert optimizer_graphs() == before
    # The count sees the graphs it guards against: without the eager build,
    # the first traced step creates them.
    monkeypatch.setattr(_network, "build_optimizer", lambda model: None)
    clf = tiny(DeepStackClassifier, hidden_layer_sizes=(4,), max_epochs=1)
    clf.fit(X, y)
    assert optimizer_graphs() > before


def test_batch_size_auto_follows_the_number_of_training_rows(monkeypatch):
    from deepstack import _network, _trainer

    assert [_network.auto_batch_size(n) for n in (10, 3200, 3201, 6400)] == [
        32,
        32,
        32,
        64,
    ]
    assert _network.auto_batch_size(21_000) == 256
    assert _network.auto_batch_size(10**7) == 512
    sizes = []
    train = _trainer.train
    monkeypatch.setattr(
        _trainer,
        "train",
        lambda *a, **k: sizes.append(k["batch_size"]) or train(*a, **k),
    )
    rng = np.random.RandomState(0)
    X = rng.normal(size=(7200, 3)).astype("float32")
    y = (X[:, 0] > 0).astype(int)
    clf = DeepStackClassifier(
        (4,), batch_size="auto", max_epochs=1, validation_fraction=0.1
    )
    clf.fit(X, y)
    assert clf.batch_size == "auto"  # the parameter is kept as given
    assert sizes == [64]  # 6,480 training rows
    clf.set_params(batch_size=16).fit(X[:100], y[:100])
    assert sizes[-1] == 16


def test_a_networks_views_are_built_once(classification_data):
    from deepstack import _network

    X, y = classification_data
    clf = tiny(DeepStackClassifier).fit(X, y)
    logits = _network.logits_model(clf.model_)
    assert _network.logits_model(clf.model_) is logits
    assert _network.hidden_model(clf.model_) is _network.hidden_model(clf.model_)
    first = clf.predict_proba(X[:37])
    assert np.array_equal(clf.predict_proba(X[:37]), first)
    # Another network has views of its own.
    other = tiny(DeepStackClassifier, random_state=1).fit(X, y)
    assert _network.logits_model(other.model_) is not logits


def test_no_fit_on_a_backend_that_cannot_train(classification_data, monkeypatch):
    """Keras's numpy backend predicts (``deepstack predict`` uses it) but has
    no training: every way to train says so instead of failing inside Keras."""
    from deepstack import StackedAutoencoder, _trainer

    X, y = classification_data
    fitted = DeepStackClassifier((8,), max_epochs=1, random_state=0).fit(X, y)
    monkeypatch.setattr(keras.backend, "backend", lambda: "numpy")
    message = "Keras is loaded with its numpy backend, which predicts but cannot train"
    attempts = [
        lambda: DeepStackClassifier((8,), max_epochs=1).fit(X, y),
        lambda: DeepStackClassifier((8,)).partial_fit(X, y, classes=np.unique(y)),
        lambda: StackedAutoencoder((4,), epochs=1).fit(X),
        lambda: _trainer.train(fitted.model_, (X, y, None), batch_size=8, epochs=1),
    ]
    for attempt in attempts:
        with pytest.raises(ValueError, match=message):
            attempt()
