"""Multilabel classification: a 0/1 indicator matrix y, one sigmoid per label."""

import numpy as np
import pytest
from sklearn.datasets import make_multilabel_classification
from sklearn.metrics import hamming_loss

from deepstack import DeepStackClassifier, load, save
from tests.conftest import tiny


@pytest.fixture
def multilabel_data():
    X, Y = make_multilabel_classification(
        n_samples=300, n_features=10, n_classes=4, n_labels=2, random_state=0
    )
    return X.astype(np.float32), Y


def test_multilabel_fit_predict(multilabel_data):
    X, Y = multilabel_data
    clf = tiny(DeepStackClassifier, max_epochs=30).fit(X[:240], Y[:240])
    np.testing.assert_array_equal(clf.classes_, np.arange(4))
    assert clf.n_outputs_ == 4
    assert clf.model_.output.shape[-1] == 4
    predicted = clf.predict(X[240:])
    assert predicted.shape == (60, 4)
    assert set(np.unique(predicted)) <= {0, 1}
    proba = clf.predict_proba(X[240:])
    assert proba.shape == (60, 4)
    assert np.all((proba > 0) & (proba < 1))
    # One sigmoid per label: the columns do not sum to 1, and predict is
    # each label's probability against 0.5.
    assert not np.allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(predicted, (proba > 0.5).astype(int))
    np.testing.assert_allclose(np.log(proba), clf.predict_log_proba(X[240:]))
    np.testing.assert_allclose(
        1 / (1 + np.exp(-clf.decision_function(X[240:]))), proba, rtol=1e-6
    )
    # Better than predicting each label's majority value.
    majority = np.tile((Y[:240].mean(axis=0) > 0.5).astype(int), (60, 1))
    assert hamming_loss(Y[240:], predicted) < hamming_loss(Y[240:], majority) - 0.05
    # score is the subset accuracy, as scikit-learn's classifiers report it.
    assert clf.score(X[240:], Y[240:]) == pytest.approx(
        np.mean(np.all(predicted == Y[240:], axis=1))
    )


def test_multilabel_focal_and_class_weight(multilabel_data):
    X, Y = multilabel_data
    weights = [{0: 1.0, 1: 2.0}, {0: 1.0, 1: 1.0}, {0: 3.0, 1: 1.0}, {0: 1.0, 1: 1.0}]
    clf = tiny(DeepStackClassifier, loss="focal", class_weight=weights)
    sample_weight = clf.fit(X, Y)._sample_weight_from_target(Y[:3], None)
    # A sample's weight is the product of its labels' weights.
    expected = [
        np.prod([weights[j][int(v)] for j, v in enumerate(row)]) for row in Y[:3]
    ]
    np.testing.assert_allclose(sample_weight, expected)
    balanced = tiny(DeepStackClassifier, class_weight="balanced").fit(X, Y)
    assert balanced.predict(X).shape == Y.shape


def test_multilabel_rejects_other_shapes(multilabel_data):
    X, Y = multilabel_data
    clf = tiny(DeepStackClassifier, max_epochs=1).fit(X, Y)
    with pytest.raises(ValueError, match="fitted on 4 labels"):
        clf.score(X, Y[:, :3])
    with pytest.raises(ValueError, match="multilabel indicator matrix of 4 labels"):
        clf.score(X, Y[:, 0])
    single = tiny(DeepStackClassifier, max_epochs=1).fit(X, Y[:, 0])
    with pytest.raises(ValueError, match="one label per sample"):
        single.score(X, Y)
    with pytest.raises(ValueError, match="multi-output multiclass"):
        tiny(DeepStackClassifier).fit(X, Y * np.arange(1, 5))


def test_multilabel_partial_fit_and_save(multilabel_data, tmp_path):
    X, Y = multilabel_data
    clf = tiny(DeepStackClassifier)
    clf.partial_fit(X, Y)
    clf.partial_fit(X, Y)
    assert clf.n_iter_ == 2
    assert clf.predict(X).shape == Y.shape
    save(clf, tmp_path / "ml")
    loaded = load(tmp_path / "ml")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


@pytest.mark.parametrize("values", [(-1, 1), (1, 2)])
def test_a_two_valued_matrix_other_than_0_1_is_refused(multilabel_data, values):
    # scikit-learn calls any 2-D y of two values an indicator; fed as-is, -1
    # or 2 made the cross-entropy unbounded (val_loss fell below 0).
    X, Y = multilabel_data
    low, high = values
    with pytest.raises(ValueError, match=rf"0/1 indicator matrix; it holds \[{low}, "):
        tiny(DeepStackClassifier, max_epochs=1).fit(X, np.where(Y == 1, high, low))


def test_unlabeled_rows_of_a_multilabel_y_are_refused_by_name(multilabel_data):
    # -1 rows (scikit-learn's unlabeled mark) in an indicator matrix were
    # refused as "multi-output multiclass targets are not supported".
    X, Y = multilabel_data
    Y = Y.copy()
    Y[:3] = -1
    for semi_supervised in ("auto", "self_training"):
        clf = tiny(DeepStackClassifier, semi_supervised=semi_supervised)
        with pytest.raises(
            ValueError,
            match=r"indicator matrix with -1 in 3 rows \(first: \[0, 1, 2\]\): -1 "
            r"marks an unlabeled row only in a 1-D y",
        ):
            clf.fit(X, Y)
    # A true multi-output multiclass y keeps its message.
    with pytest.raises(ValueError, match="multi-output multiclass targets"):
        tiny(DeepStackClassifier).fit(X, np.where(Y == -1, 2, Y))


def test_a_sparse_indicator_matrix_is_read_as_the_dense_one(multilabel_data):
    # As MLPClassifier takes it; fit, X_val/y_val, score and partial_fit
    # failed with "y has shape ()".
    import scipy.sparse as sp

    X, Y = multilabel_data
    dense = tiny(DeepStackClassifier, max_epochs=3, random_state=0)
    dense.fit(X[:200], Y[:200], X_val=X[200:], y_val=Y[200:])
    sparse = tiny(DeepStackClassifier, max_epochs=3, random_state=0)
    sparse.fit(
        X[:200], sp.csr_matrix(Y[:200]), X_val=X[200:], y_val=sp.csr_matrix(Y[200:])
    )
    np.testing.assert_array_equal(sparse.predict(X), dense.predict(X))
    assert sparse.score(X, sp.csr_matrix(Y)) == dense.score(X, Y)
    partial = tiny(DeepStackClassifier).partial_fit(X, sp.csr_matrix(Y))
    assert partial.n_outputs_ == 4


def test_partial_fit_classes_must_name_the_indicator_columns(multilabel_data):
    # They were ignored on the first call, then the same value was refused
    # on the second (the first call had set classes_ to the column indices).
    X, Y = multilabel_data
    with pytest.raises(ValueError, match=r"classes=\[0, 1\] does not name the 4"):
        tiny(DeepStackClassifier).partial_fit(X, Y, classes=[0, 1])
    clf = tiny(DeepStackClassifier).partial_fit(X, Y, classes=[0, 1, 2, 3])
    clf.partial_fit(X, Y, classes=[0, 1, 2, 3])
    assert clf.n_iter_ == 2
