"""Bad input gets a clear error that names the problem."""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning

from deepstack import (
    DeepStackClassifier,
    DeepStackRegressor,
    StackedAutoencoder,
    _pretraining,
)
from tests.conftest import tiny


@pytest.fixture
def fitted(classification_data):
    X, y = classification_data
    return tiny(DeepStackClassifier, max_epochs=2).fit(X, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features(classification_data, bad):
    X, y = classification_data
    X = X.copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        tiny(DeepStackClassifier).fit(X, y)


def test_non_finite_regression_target(regression_data):
    X, y = regression_data
    y = y.copy()
    y[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tiny(DeepStackRegressor).fit(X, y)


def test_wrong_number_of_features_at_predict(fitted, classification_data):
    X, _ = classification_data
    with pytest.raises(ValueError, match="has 3 features, but .* expecting 8"):
        fitted.predict(X[:, :3])


def test_single_class(classification_data):
    X, _ = classification_data
    with pytest.raises(ValueError, match="at least 2 classes .* one class: 4"):
        tiny(DeepStackClassifier).fit(X, np.full(len(X), 4))


def test_empty_input():
    with pytest.raises(ValueError, match="0 sample"):
        tiny(DeepStackClassifier).fit(np.empty((0, 3)), np.empty(0))


def test_mismatched_lengths(classification_data):
    X, y = classification_data
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        tiny(DeepStackClassifier).fit(X, y[:-5])


def test_non_numeric_features():
    X = np.array([["red", 1.0], ["blue", 2.0], ["red", 3.0], ["blue", 0.5]] * 5)
    y = [0, 1, 0, 1] * 5
    with pytest.raises(ValueError, match="non-numeric features.*OneHotEncoder"):
        tiny(DeepStackClassifier).fit(X, y)


def test_unknown_labels_at_score_count_as_errors(fitted, classification_data):
    # As scikit-learn's classifiers: cross-validation folds holding a class
    # their training folds lack were NaN (score raised).
    X, y = classification_data
    y = y.copy()
    y[:2] = 9
    expected = np.mean(fitted.predict(X) == y)
    assert fitted.score(X, y) == pytest.approx(expected)
    assert fitted.score(X, y) < fitted.score(X[2:], y[2:])


def test_sparse_matrix_with_pretraining_is_rejected_with_advice(classification_data):
    # Sparse input is accepted (tests/test_sparse.py), except by pretraining.
    X, y = classification_data
    with pytest.raises(TypeError, match="pretrain does not take sparse X.*toarray"):
        tiny(DeepStackClassifier, pretrain="autoencoder").fit(sp.csr_matrix(X), y)
    # The estimator's tags say so (scikit-learn reads input_tags.sparse).
    for pretrain, sparse in ((None, True), ("auto", True), ("denoising", False)):
        tags = DeepStackClassifier(pretrain=pretrain).__sklearn_tags__()
        assert tags.input_tags.sparse is sparse


@pytest.mark.parametrize(
    "param, value, match",
    [
        ("dropout", 1.5, "'dropout' parameter"),
        ("input_dropout", -0.1, "'input_dropout' parameter"),
        ("learning_rate", 0.0, "'learning_rate' parameter"),
        ("optimizer", "lbfgs", "'optimizer' parameter"),
        ("batch_size", 0, "'batch_size' parameter"),
        ("validation_fraction", 1.0, "'validation_fraction' parameter"),
        ("hidden_layer_sizes", (16, 0), "hidden_layer_sizes must be a sequence"),
        ("hidden_layer_sizes", 16, "hidden_layer_sizes"),
    ],
)
def test_parameters_out_of_range(classification_data, param, value, match):
    X, y = classification_data
    with pytest.raises(ValueError, match=match):
        tiny(DeepStackClassifier, **{param: value}).fit(X, y)


def test_an_unknown_scoring_is_refused_before_any_training(
    classification_data, monkeypatch
):
    # It was found only when the validation scorer was made, after
    # pretraining (and the learning-rate finder), and scikit-learn's error
    # named its check_scoring, not the estimator's parameter.
    X, y = classification_data

    def pretrain(*args, **kwargs):
        raise AssertionError("pretrained before the parameters were checked")

    monkeypatch.setattr(_pretraining, "initialize_network", pretrain)
    clf = tiny(DeepStackClassifier, scoring="accuracyy", pretrain="denoising")
    with pytest.raises(ValueError, match=r"scoring='accuracyy' of DeepStackClassifier"):
        clf.fit(X, y)


def test_callbacks_must_be_keras_callbacks(classification_data):
    X, y = classification_data
    with pytest.raises(TypeError, match="keras.callbacks.Callback"):
        tiny(DeepStackClassifier, callbacks=[print]).fit(X, y)


def test_validation_set_needs_both_parts(classification_data):
    X, y = classification_data
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        tiny(DeepStackClassifier).fit(X, y, X_val=X[:10])


@pytest.mark.parametrize(
    "X_val, y_val, match",
    [
        (np.full((5, 8), np.nan), None, "^X_val contains NaN"),
        (np.zeros((5, 3)), None, "^X_val has 3 features"),
        (np.array([["a"] * 8] * 5), None, "^X_val contains non-numeric"),
        (None, [0, 1, 7, 0, 1], r"^y_val contains labels not seen during fit: \[7\]"),
    ],
)
def test_validation_set_errors_name_X_val_and_y_val(
    classification_data, X_val, y_val, match
):
    # scikit-learn's checks say "Input X contains NaN" of any array: the
    # user would look for the problem in X.
    X, y = classification_data
    X_val = np.zeros((5, X.shape[1])) if X_val is None else X_val
    y_val = y[:5] if y_val is None else np.asarray(y_val)
    assert X.shape[1] == 8 and set(np.unique(y)) == {0, 1, 2}
    with pytest.raises(ValueError, match=match):
        tiny(DeepStackClassifier).fit(X, y, X_val=X_val, y_val=y_val)
    if "X_val" in match:
        with pytest.raises(ValueError, match=match):
            tiny(DeepStackRegressor).fit(X, y * 1.0, X_val=X_val, y_val=y_val * 1.0)


@pytest.mark.parametrize("names", [["a", "b", "c"], [0, 1, 2]])
def test_non_finite_and_text_columns_are_named_as_the_dataframe_names_them(names):
    """A DataFrame's integer column names were shown as strings ('1'), which
    no column of the user's is called."""
    X = pd.DataFrame(np.random.RandomState(0).normal(size=(40, 3)), columns=names)
    y = np.arange(40) % 2
    X.iloc[3, 1] = np.inf
    with pytest.raises(ValueError) as caught:
        tiny(DeepStackClassifier, max_epochs=1).fit(X, y)
    shown = "['b']" if names[0] == "a" else "[1]"
    assert f"float32-overflowing values: {shown}. Impute them" in str(caught.value)
    X.iloc[3, 1] = 0.0
    X[names[2]] = X[names[2]].astype(str) + "x"
    with pytest.raises(ValueError) as caught:
        tiny(DeepStackClassifier, max_epochs=1).fit(X, y)
    shown = "['c']" if names[0] == "a" else "[2]"
    assert f"X contains non-numeric features in columns {shown} (" in str(caught.value)


def test_validation_set_column_errors_name_X_val(classification_data):
    # scikit-learn's feature-name check says "The feature names should
    # match" of any array: the user would look for the problem in X.
    X, y = classification_data
    X = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    for X_val, match in (
        (X[X.columns[::-1]], "^The feature names of X_val should match"),
        (X.drop(columns="f0"), "^The feature names of X_val should match"),
    ):
        with pytest.raises(ValueError, match=match):
            tiny(DeepStackClassifier).fit(X, y, X_val=X_val, y_val=y)


def test_a_class_weight_list_needs_a_multilabel_y(binary_data):
    # scikit-learn read the list as one dict: "The classes, [0, 1], are not
    # in class_weight".
    X, y = binary_data
    with pytest.raises(ValueError, match=r"class_weight is a list .* multilabel"):
        tiny(DeepStackClassifier, class_weight=[{0: 1.0, 1: 2.0}]).fit(X, y)
    with pytest.raises(ValueError, match=r"class_weight is a list .* multilabel"):
        tiny(DeepStackClassifier, class_weight=[{0: 1.0, 1: 2.0}]).partial_fit(
            X, y, classes=[0, 1]
        )


def test_missing_class_labels_are_named(binary_data):
    # scikit-learn said "Input contains NaN" (of what?) for a label column
    # with blanks, or "'<' not supported between instances of 'NoneType' and
    # 'str'" for a list holding None.
    X, y = binary_data
    labels = np.where(y == 1, "yes", "no").astype(object)
    labels[[3, 8]] = None
    for bad in (labels, pd.Series(labels, dtype="str"), pd.Categorical(labels)):
        clf = tiny(DeepStackClassifier)
        with pytest.raises(ValueError, match=r"y has no label in 2 rows .*\[3, 8\]"):
            clf.fit(X, bad)
        with pytest.raises(ValueError, match=r"y has no label in 2 rows .*-1"):
            clf.partial_fit(X, bad, classes=["no", "yes"])


def test_validation_set_warnings_name_X_val_and_y_val(classification_data):
    # scikit-learn's warnings said "X does not have valid feature names" and
    # "A column-vector y was passed" of X_val and y_val.
    X, y = classification_data
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    clf = tiny(DeepStackClassifier, max_epochs=1)
    with pytest.warns(UserWarning) as rec:
        clf.fit(frame, y, X_val=X[:10], y_val=y[:10].reshape(-1, 1))
    ours = [w for w in rec if issubclass(w.category, UserWarning)]
    messages = [str(w.message) for w in ours]
    assert any(
        m.startswith("X_val does not have valid feature names") for m in messages
    )
    assert any("A column-vector y_val was passed" in m for m in messages)
    assert not any(m.startswith(("X ", "A column-vector y ")) for m in messages)
    assert all(w.filename == __file__ for w in ours)  # (the user's line)


def test_multioutput_multiclass_targets_are_rejected(classification_data):
    X, _ = classification_data
    Y = np.random.RandomState(0).randint(0, 3, size=(len(X), 3))
    with pytest.raises(ValueError, match="multi-output multiclass targets are not"):
        tiny(DeepStackClassifier).fit(X, Y)


def test_continuous_target_for_classifier(classification_data):
    X, _ = classification_data
    with pytest.raises(ValueError, match="Unknown label type"):
        tiny(DeepStackClassifier).fit(X, np.linspace(0, 1, len(X)))


def test_predict_before_fit(classification_data):
    X, _ = classification_data
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        tiny(DeepStackClassifier).predict(X)


def test_columns_float32_cannot_hold_are_named_in_a_warning(regression_data):
    # 1e9 + [0, 1): float32 steps are 64 there, so the column becomes constant.
    X, y = regression_data
    X = X.astype(np.float64)
    rng = np.random.RandomState(0)
    X[:, 2] = 1e9 + rng.uniform(0, 1, len(X))
    assert np.unique(X[:, 2].astype(np.float32)).size == 1
    with pytest.warns(DataConversionWarning, match=r"column 2 \(mean 1e\+09") as rec:
        tiny(DeepStackRegressor, max_epochs=1).fit(X, y)
    message = str(rec[0].message)
    assert "column 0" not in message and "StandardScaler" in message
    assert rec[0].filename == __file__  # (points at the caller)
    frame = pd.DataFrame(X, columns=list("abcdef"))
    frame["stamp"] = (10**18 + rng.randint(0, 1000, len(X))).astype(np.int64)
    with pytest.warns(DataConversionWarning, match="column 'c'.*column 'stamp'"):
        tiny(DeepStackRegressor, max_epochs=1).fit(frame, y)
    # Columns that float32 holds well: no warning (Unix times in seconds over
    # a year vary far above float32's steps of 128 s there).
    X[:, 2] = 1.7e9 + rng.uniform(0, 3e7, len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataConversionWarning)
        tiny(DeepStackRegressor, max_epochs=1).fit(X, y)


def test_dates_are_refused_with_the_columns_named(regression_data):
    X, y = regression_data
    frame = pd.DataFrame(X[:, :2], columns=["a", "b"])
    frame["when"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(len(X)), "D")
    frame["took"] = pd.to_timedelta(np.arange(len(X)), "s")
    with pytest.raises(TypeError, match=r"columns \['when', 'took'\].*total_seconds"):
        tiny(DeepStackRegressor).fit(frame, y)
    # NumPy would cast them to floats silently.
    dates = np.arange(len(X)).astype("datetime64[D]").reshape(-1, 1)
    with pytest.raises(TypeError, match=r"array of dates.*datetime64\[D\]"):
        tiny(DeepStackRegressor).fit(dates, y)
    fitted = tiny(DeepStackRegressor, max_epochs=1).fit(X[:, :1], y)
    with pytest.raises(TypeError, match="array of dates"):
        fitted.predict(dates)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e39])
def test_non_finite_features_name_their_columns(regression_data, bad):
    X, y = regression_data
    X = X.astype(np.float64)
    X[3, 1] = X[7, 4] = bad
    # The error says it: NumPy's "overflow encountered in cast" of 1e39 to
    # float32 came with it.
    warnings.simplefilter("error", RuntimeWarning)
    with pytest.raises(ValueError, match=r"Input X contains .*values: \[1, 4\]"):
        tiny(DeepStackRegressor).fit(X, y)
    frame = pd.DataFrame(X, columns=list("abcdef"))
    with pytest.raises(ValueError, match=r"values: \['b', 'e'\]\. Impute"):
        tiny(DeepStackRegressor).fit(frame, y)
    fitted = tiny(DeepStackRegressor, max_epochs=1).fit(np.ones((len(X), 3)), y)
    with pytest.raises(ValueError, match=r"values: \[1\]"):
        fitted.predict(X[:, :3])
    with pytest.raises(ValueError, match=r"values: \[1, 4\]"):
        StackedAutoencoder((4,), epochs=1).fit(X)


@pytest.mark.parametrize("factor", [1e-50, 1e300])
def test_sample_weights_count_by_their_ratios_at_any_scale(regression_data, factor):
    # Read in float32 first, 1e-50 became 0 ("at least one non-zero") and
    # 1e300 infinite; only the ratios count, so the fit is the same as with
    # weights of order 1.
    X, y = regression_data
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(X))
    plain = tiny(DeepStackRegressor, max_epochs=2).fit(X, y, sample_weight=w)
    scaled = tiny(DeepStackRegressor, max_epochs=2).fit(X, y, sample_weight=w * factor)
    np.testing.assert_allclose(scaled.history_["loss"], plain.history_["loss"])
    np.testing.assert_allclose(scaled.predict(X), plain.predict(X))


def test_negative_and_zero_sample_weights_are_refused(regression_data):
    X, y = regression_data
    w = np.ones(len(X))
    w[[3, 9]] = -1.0
    with pytest.raises(ValueError, match=r"non-negative; 2 rows .*\[3, 9\]"):
        tiny(DeepStackRegressor).fit(X, y, sample_weight=w)
    with pytest.raises(ValueError, match="at least one non-zero"):
        tiny(DeepStackRegressor).fit(X, y, sample_weight=np.zeros(len(X)))


def test_a_search_names_X_val_in_its_up_front_errors(classification_data):
    from deepstack import DeepStackSearch

    X, y = classification_data
    search = DeepStackSearch(
        tiny(DeepStackClassifier), {"dropout": [0.0, 0.1]}, tuner="random"
    )
    with pytest.raises(ValueError, match="^X_val contains NaN"):
        search.fit(X, y, X_val=np.full((5, X.shape[1]), np.nan), y_val=y[:5])
    with pytest.raises(ValueError, match="^X_val has 3 features"):
        search.fit(X, y, X_val=np.zeros((5, 3)), y_val=y[:5])


def test_a_search_names_X_val_in_its_warnings(classification_data):
    # Its up-front check and each trial's scoring warned "X does not have
    # valid feature names" of an X_val without the column names of X.
    from deepstack import DeepStackSearch

    X, y = classification_data
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    search = DeepStackSearch(
        tiny(DeepStackClassifier, max_epochs=1),
        {"dropout": [0.0, 0.1]},
        tuner="grid",
        refit=False,
    )
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always", UserWarning)
        search.fit(frame, y, X_val=X[:20], y_val=y[:20])
    messages = [str(w.message) for w in rec if issubclass(w.category, UserWarning)]
    assert any(m.startswith("X_val does not have valid") for m in messages)
    assert not any(m.startswith("X does not have valid") for m in messages)
