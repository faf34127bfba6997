"""Unlabeled rows (-1, NaN for the regressor): pretrain="auto", the warning,
self-training, label propagation."""

import warnings

import numpy as np
import pandas as pd
import pytest

from deepstack import (
    DeepStackClassifier,
    DeepStackRegressor,
    _self_training,
    _trainer,
    load,
    save,
)
from tests.conftest import tiny

FAST = dict(pretrain_epochs=2, max_epochs=2, dropout=0.0)


def _unlabel(y, every):
    y = y.copy()
    y[np.arange(len(y)) % every != 0] = -1
    return y


def test_select_pseudo_labels_known_answer():
    proba = np.array(
        [
            [0.95, 0.05, 0.00],  # confident: class 0
            [0.50, 0.40, 0.10],  # not confident
            [0.05, 0.05, 0.90],  # exactly at the threshold: class 2
            [0.10, 0.89, 0.01],  # just below
            [0.00, 1.00, 0.00],  # class 1
        ]
    )
    selected, labels = _self_training.select_pseudo_labels(proba, 0.9)
    np.testing.assert_array_equal(selected, [True, False, True, False, True])
    np.testing.assert_array_equal(labels, [0, 2, 1])
    selected, labels = _self_training.select_pseudo_labels(proba, 1.0)
    np.testing.assert_array_equal(selected, [False, False, False, False, True])
    np.testing.assert_array_equal(labels, [1])


def test_log_proba_from_logits_known_answer():
    # Two classes: one logit z, p(1) = sigmoid(z).
    z = np.array([[0.0], [np.log(3.0)]])
    np.testing.assert_allclose(
        np.exp(_self_training.log_proba_from_logits(z)),
        [[0.5, 0.5], [0.25, 0.75]],
    )
    # Softmax, stable for large logits.
    z = np.array([[1000.0, 1000.0 + np.log(2.0), 1000.0]])
    np.testing.assert_allclose(
        np.exp(_self_training.log_proba_from_logits(z)), [[0.25, 0.5, 0.25]]
    )


def test_minus_one_without_pretraining_warns(classification_data):
    X, y = classification_data
    clf = tiny(DeepStackClassifier, max_epochs=1)
    with pytest.warns(UserWarning, match=r"y contains -1 \(100 of 200 rows\)"):
        clf.fit(X, _unlabel(y, 2))
    # -1 was fitted as a class, as before.
    np.testing.assert_array_equal(clf.classes_, [-1, 0, 1, 2])


def test_all_minus_one_is_refused_as_unlabeled_without_a_warning(binary_data):
    """Every row -1 with the "auto" defaults: the fit warned that -1 was read
    as a class, then failed on "at least 2 classes; got only one class: -1"."""
    X, _ = binary_data
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        with pytest.raises(ValueError) as caught:
            tiny(DeepStackClassifier, max_epochs=1).fit(X, -np.ones(len(X), int))
    assert str(caught.value).startswith(
        "y holds no labeled samples: every label is -1, which marks an unlabeled sample"
    )


@pytest.mark.parametrize(
    "estimator, method, mark",
    [
        (DeepStackClassifier, "self_training", "the label -1 (an integer;"),
        (DeepStackClassifier, "label_propagation", "the label -1 (an integer;"),
        (DeepStackRegressor, "label_propagation", "a NaN target"),
    ],
)
def test_a_semi_supervised_method_without_unlabeled_rows_says_so(
    binary_data, estimator, method, mark
):
    """As scikit-learn's SelfTrainingClassifier warns "y contains no
    unlabeled samples"; the fit was silently a supervised one (the same
    predictions as semi_supervised=None, which stays silent)."""
    X, y = binary_data
    y = y if estimator is DeepStackClassifier else y * 1.0
    with pytest.warns(UserWarning) as caught:
        fitted = tiny(estimator, max_epochs=2, semi_supervised=method).fit(X, y)
    said = [str(w.message) for w in caught if "unlabeled rows" in str(w.message)]
    assert len(said) == 1
    assert said[0].startswith(
        f"semi_supervised={method!r} has no unlabeled rows to learn from: no row "
        f"of y holds {mark}"
    )
    assert said[0].endswith(
        "trains on the labeled rows alone, as with semi_supervised=None."
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        plain = tiny(estimator, max_epochs=2, semi_supervised=None).fit(X, y)
    np.testing.assert_array_equal(fitted.predict(X), plain.predict(X))


def test_minus_one_one_binary_targets_do_not_warn(binary_data):
    X, y = binary_data
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        clf = tiny(DeepStackClassifier, max_epochs=1).fit(X, np.where(y, 1, -1))
    np.testing.assert_array_equal(clf.classes_, [-1, 1])


def test_auto_pretrains_when_most_rows_are_unlabeled(classification_data):
    X, y = classification_data
    clf = tiny(DeepStackClassifier, pretrain="auto", **FAST)
    clf.fit(X, _unlabel(y, 4))  # 50 labeled, 150 unlabeled
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert len(clf.pretraining_history_) == 1
    # Pretraining saw the labeled training rows and the unlabeled ones.
    assert clf.pretraining_history_[0]["n_samples"] == 50 - 5 + 150


def test_auto_does_not_pretrain_on_labeled_data(classification_data):
    X, y = classification_data
    clf = tiny(DeepStackClassifier, pretrain="auto", **FAST).fit(X, y)
    assert clf.pretraining_history_ == []
    # As many unlabeled rows as labeled: not "more", so -1 is a class (warned).
    with pytest.warns(UserWarning, match="y contains -1"):
        clf.fit(X, _unlabel(y, 2))
    assert clf.pretraining_history_ == []
    np.testing.assert_array_equal(clf.classes_, [-1, 0, 1, 2])


def test_self_training_adds_the_confident_rows(classification_data, monkeypatch):
    X, y = classification_data
    y_semi = _unlabel(y, 4)
    fitted = []
    train = _trainer.train

    def spy(model, data, *args, **kwargs):
        if model.name == "deepstack":
            fitted.append(data)
        return train(model, data, *args, **kwargs)

    monkeypatch.setattr(_trainer, "train", spy)
    # threshold 1/3: a softmax over 3 classes always reaches it, so the
    # first round pseudo-labels every unlabeled row and the second has none.
    clf = tiny(
        DeepStackClassifier,
        semi_supervised="self_training",
        pseudo_label_threshold=1 / 3,
        self_training_rounds=3,
        **FAST,
    ).fit(X, y_semi)
    assert clf.n_pseudo_labeled_ == [150]
    assert [data[0].shape[0] for data in fitted] == [45, 45 + 150]
    assert clf.pretraining_history_ == []  # self-training without pretraining
    # The pseudo-labels are the first model's predictions of those rows.
    assert set(np.unique(fitted[1][1])) <= {0, 1, 2}
    assert len(fitted[1][1]) == 195


def test_self_training_threshold_one_adds_nothing(classification_data):
    X, y = classification_data
    clf = tiny(
        DeepStackClassifier,
        semi_supervised="self_training",
        pseudo_label_threshold=1.0,
        **FAST,
    ).fit(X, _unlabel(y, 4))
    assert clf.n_pseudo_labeled_ == []
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])


def test_self_training_with_pretraining_and_weights(classification_data, tmp_path):
    X, y = classification_data
    clf = tiny(
        DeepStackClassifier,
        pretrain="auto",
        semi_supervised="self_training",
        pseudo_label_threshold=0.5,
        self_training_rounds=2,
        **FAST,
    ).fit(X, _unlabel(y, 4), sample_weight=np.ones(len(y)))
    assert len(clf.pretraining_history_) == 1
    assert 1 <= len(clf.n_pseudo_labeled_) <= 2
    assert sum(clf.n_pseudo_labeled_) <= 150
    assert clf.predict_proba(X).shape == (200, 3)
    # Safe save / load keeps the resolved "auto" and the self-training record.
    save(clf, tmp_path / "clf")
    loaded = load(tmp_path / "clf")
    assert loaded.n_pseudo_labeled_ == clf.n_pseudo_labeled_
    assert loaded._resolved_pretrain() == "denoising"
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize(
    "params",
    [
        dict(semi_supervised="pseudo"),
        dict(pseudo_label_threshold=0.0),
        dict(self_training_rounds=0),
        dict(propagation_neighbors=0),
        dict(pseudo_label_weights="entropy"),
        dict(pretrain="always"),
    ],
)
def test_bad_semi_supervised_parameters(classification_data, params):
    X, y = classification_data
    with pytest.raises(ValueError):
        tiny(DeepStackClassifier, **params).fit(X, y)


def test_regressor_nan_targets_are_unlabeled_with_pretraining(regression_data):
    X, y = regression_data
    y = np.asarray(y, dtype=np.float64).copy()
    n = len(y)
    y[np.arange(n) % 4 != 0] = np.nan
    n_labeled = int(np.isfinite(y).sum())
    reg = tiny(DeepStackRegressor, pretrain="auto", **FAST).fit(X, y)
    assert len(reg.pretraining_history_) == 1
    n_val = int(np.ceil(0.1 * n_labeled))
    # Pretraining: labeled training rows + every unlabeled row.
    assert reg.pretraining_history_[0]["n_samples"] == n - n_val
    # The target statistics come from the labeled rows only.
    np.testing.assert_allclose(reg.target_mean_, [np.nanmean(y)], rtol=1e-6)
    assert np.all(np.isfinite(reg.predict(X)))


def test_a_row_nan_in_some_outputs_only_is_refused(regression_data):
    # Filled with 0 to pass validation, such rows trained as targets 0 (and
    # moved target_mean_) whenever other rows were wholly unlabeled.
    X, y = regression_data
    Y = np.column_stack([y, 3 * y + 100]).astype(np.float64)
    Y[:120] = np.nan  # unlabeled rows: the joint loss uses them
    Y[120:130, 1] = np.nan  # partly known rows
    with pytest.raises(ValueError, match=r"NaN in some but not all outputs of 10 "):
        tiny(DeepStackRegressor, max_epochs=1).fit(X, Y)
    Y[:120] = 1.0
    with pytest.raises(
        ValueError, match=r"some but not all outputs of 10 row\(s\) \(e"
    ):
        tiny(DeepStackRegressor, max_epochs=1).partial_fit(X, Y)


def test_regressor_nan_targets_without_pretraining_are_an_error(regression_data):
    X, y = regression_data
    y = np.asarray(y, dtype=np.float64).copy()
    y[:5] = np.nan
    with pytest.raises(ValueError, match=r"y contains NaN in 5 of .*'auto'"):
        tiny(DeepStackRegressor, **FAST).fit(X, y)
    # "auto" with few NaN rows does not pretrain: still an error, saying why.
    with pytest.raises(ValueError, match="outnumber the labeled rows"):
        tiny(DeepStackRegressor, pretrain="auto", **FAST).fit(X, y)


def test_missing_targets_of_any_kind_are_unlabeled_rows(regression_data):
    # A list with None (an object array) and a frame of nullable floats with
    # pd.NA were not read as rows without a target: "y contains NaN or
    # infinite values (... only for fit: ...)" from fit, or scikit-learn's
    # "Input y contains NaN" for a partly known row.
    X, y = regression_data
    listed = [None] * 5 + list(y[5:])
    with pytest.raises(ValueError, match=r"y contains NaN in 5 of .*'auto'"):
        tiny(DeepStackRegressor, **FAST).fit(X, listed)
    reg = tiny(DeepStackRegressor, pretrain="denoising", **FAST)
    assert np.all(np.isfinite(reg.fit(X, listed).predict(X)))
    frame = pd.DataFrame({"a": y, "b": 3 * y}).astype("Float64")
    frame.iloc[:5, 1] = pd.NA
    with pytest.raises(ValueError, match=r"NaN in some but not all outputs of 5 "):
        tiny(DeepStackRegressor, **FAST).fit(X, frame)


def test_propagate_labels_known_answer():
    # Two chains on a line with growing gaps, each labeled at one end; class 2
    # has no label. n_neighbors=1 links each row to its nearest other row.
    features = np.array([[0.0], [0.1], [0.3], [0.6], [10.6], [10.3], [10.1], [10.0]])
    labels = np.array([0, -1, -1, -1, -1, -1, -1, 1])
    distributions = _self_training.propagate_labels(
        features, labels, n_classes=3, n_neighbors=1
    )
    assert distributions.shape == (8, 3)
    np.testing.assert_allclose(distributions.sum(axis=1), 1.0)
    # The far end of each chain, three hops away, still gets its label.
    np.testing.assert_array_equal(distributions.argmax(axis=1), [0] * 4 + [1] * 4)
    np.testing.assert_array_equal(distributions[:, 2], 0.0)
    # The chains are cut off from each other: one-hot.
    np.testing.assert_allclose(distributions[:, :2], np.repeat(np.eye(2), 4, axis=0))
    # Rows no label reaches (a pair of nearest neighbours) are uniform.
    features = np.array([[0.0], [0.1], [5.0], [5.1]])
    distributions = _self_training.propagate_labels(
        features, np.array([0, 1, -1, -1]), n_classes=2, n_neighbors=1
    )
    np.testing.assert_allclose(distributions[2:], 0.5)


def test_propagate_labels_closed_form():
    # Rows at 0, 1 and 3 with one neighbour each: 0 <-> 1 (distance 1) and
    # 3 -> 1 (distance 2); sigma is the median neighbour distance, 1. The
    # symmetric weights are 2 exp(-1) between rows 0 and 1 and exp(-4)
    # between rows 1 and 2.
    affinity = _self_training.knn_affinity(np.array([[0.0], [1.0], [3.0]]), 1)
    a, b = 2 * np.exp(-1.0), np.exp(-4.0)
    W = np.array([[0.0, a, 0.0], [a, 0.0, b], [0.0, b, 0.0]])
    np.testing.assert_allclose(affinity.toarray(), W)
    # Zhou et al.: F = (I - alpha D^-1/2 W D^-1/2)^-1 Y, rows normalized.
    alpha = 0.5
    d = 1 / np.sqrt(W.sum(axis=1))
    F = np.linalg.solve(
        np.eye(3) - alpha * d[:, None] * W * d[None, :],
        np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]),
    )
    expected = F / F.sum(axis=1, keepdims=True)
    distributions = _self_training.propagate_labels(
        np.array([[0.0], [1.0], [3.0]]),
        np.array([0, -1, 1]),
        n_classes=2,
        n_neighbors=1,
        alpha=alpha,
    )
    np.testing.assert_allclose(distributions, expected, rtol=1e-8)
    # The middle row, tied more strongly to row 0, takes its label.
    assert distributions[1].argmax() == 0


def test_confidence_weights_known_answer():
    distributions = np.array(
        [
            [1.0, 0.0, 0.0, 0.0],  # certain: 1
            [0.25, 0.25, 0.25, 0.25],  # uniform: 0
            [0.5, 0.5, 0.0, 0.0],  # 1 - log 2 / log 4 = 0.5
        ]
    )
    weights = _self_training.confidence_weights(distributions)
    np.testing.assert_allclose(weights, [1.0, 0.0, 0.5], atol=1e-12)
    rng = np.random.RandomState(0)
    weights = _self_training.confidence_weights(rng.dirichlet(np.ones(5), size=50))
    assert np.all((weights >= 0.0) & (weights <= 1.0))


def _blobs(n_per_class=60, n_labeled=3):
    """Three far-apart clusters; ``n_labeled`` labeled rows each."""
    rng = np.random.RandomState(0)
    centers = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    X = np.concatenate([c + rng.normal(size=(n_per_class, 2)) for c in centers])
    y = np.repeat([0, 1, 2], n_per_class)
    y_semi = np.full_like(y, -1)
    for label in range(3):
        y_semi[np.flatnonzero(y == label)[:n_labeled]] = label
    return X.astype(np.float32), y, y_semi


def test_a_later_fit_on_labeled_rows_keeps_no_semi_supervised_results(
    regression_data,
):
    # The regressor's refit kept n_pseudo_labeled_ of the fit before; a
    # warm-started classifier kept mixing the last fit's graph into
    # predict_proba.
    X, y, y_semi = _blobs(n_per_class=10, n_labeled=2)
    params = dict(
        semi_supervised="label_propagation", self_training_rounds=1, max_epochs=1
    )
    clf = tiny(DeepStackClassifier, warm_start=True, **params).fit(X, y_semi)
    assert clf.n_pseudo_labeled_ == [24] and hasattr(clf, "label_distributions_")
    clf.fit(X, y)
    for name in ("n_pseudo_labeled_", "X_", "label_distributions_"):
        assert not hasattr(clf, name)
    network = np.exp(_self_training.log_proba_from_logits(clf.decision_function(X)))
    np.testing.assert_allclose(clf.predict_proba(X), network, rtol=1e-6)
    Xr, yr = regression_data
    y_nan = np.where(np.arange(len(yr)) % 4 == 0, yr, np.nan)
    reg = tiny(DeepStackRegressor, **params).fit(Xr, y_nan)
    assert reg.n_pseudo_labeled_ == [120]
    assert not hasattr(reg.fit(Xr, yr), "n_pseudo_labeled_")


def test_weights_on_unlabeled_rows_alone_are_refused_by_name(regression_data):
    # scikit-learn's "Sample weights must contain at least one non-zero
    # number." blamed weights that were not all zero.
    X, y, y_semi = _blobs(n_per_class=10, n_labeled=2)
    params = dict(semi_supervised="label_propagation", max_epochs=1)
    with pytest.raises(ValueError, match=r"0 on all 6 labeled rows. The 24 rows"):
        tiny(DeepStackClassifier, **params).fit(
            X, y_semi, sample_weight=(y_semi == -1).astype(float)
        )
    Xr, yr = regression_data
    yr = np.where(np.arange(len(yr)) % 4 == 0, yr, np.nan)
    with pytest.raises(ValueError, match=r"0 on all 40 labeled rows. The 120 rows"):
        tiny(DeepStackRegressor, **params).fit(
            Xr, yr, sample_weight=np.isnan(yr).astype(float)
        )


def test_more_propagation_neighbors_than_rows_are_capped_and_said(regression_data):
    # propagation_neighbors_ said 100 for a graph of 30 rows, which linked
    # each row to its 29 others, silently.
    X, y, y_semi = _blobs(n_per_class=10, n_labeled=2)
    params = dict(semi_supervised="label_propagation", self_training_rounds=1)
    with pytest.warns(UserWarning, match=r"propagation_neighbors=100 exceeds the 29 "):
        clf = tiny(
            DeepStackClassifier, propagation_neighbors=100, max_epochs=1, **params
        )
        clf.fit(X, y_semi)
    assert clf.propagation_neighbors_ == 29
    Xr, yr = regression_data
    yr = np.where(np.arange(len(yr)) % 4 == 0, yr, np.nan)
    with pytest.warns(UserWarning, match=r"exceeds the 159 other rows"):
        tiny(DeepStackRegressor, propagation_neighbors=500, max_epochs=1, **params).fit(
            Xr, yr
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        tiny(DeepStackClassifier, propagation_neighbors=29, max_epochs=1, **params).fit(
            X, y_semi
        )


def test_label_propagation_labels_the_clusters(monkeypatch):
    X, y, y_semi = _blobs()
    fitted = []
    train = _trainer.train

    def spy(model, data, *args, **kwargs):
        if model.name == "deepstack":
            fitted.append(data)
        return train(model, data, *args, **kwargs)

    monkeypatch.setattr(_trainer, "train", spy)
    clf = tiny(
        DeepStackClassifier,
        semi_supervised="label_propagation",
        propagation_neighbors=10,
        self_training_rounds=2,
        early_stopping=False,
        max_epochs=10,
    ).fit(X, y_semi)
    assert clf.n_pseudo_labeled_ == [171, 171]
    # Fine-tuning on the 9 labeled rows, then two rounds on all 180 rows,
    # whose propagated labels are the clusters' (the labeled rows first).
    assert [data[0].shape[0] for data in fitted] == [9, 180, 180]
    labeled = y_semi != -1
    expected = np.concatenate([y[labeled], y[~labeled]])
    np.testing.assert_array_equal(fitted[1][1], expected)
    np.testing.assert_array_equal(fitted[2][1], expected)
    assert fitted[1][2] is None  # unweighted by default
    np.testing.assert_array_equal(clf.predict(X), y)


def test_label_propagation_redraws_the_internal_validation_split(monkeypatch):
    X, y, y_semi = _blobs(n_labeled=10)
    fitted = []
    train = _trainer.train

    def spy(model, data, validation, *args, **kwargs):
        if model.name == "deepstack":
            fitted.append((data, validation))
        return train(model, data, validation, *args, **kwargs)

    monkeypatch.setattr(_trainer, "train", spy)
    clf = tiny(
        DeepStackClassifier,
        semi_supervised="label_propagation",
        self_training_rounds=1,
        validation_fraction=0.2,
        max_epochs=3,
    ).fit(X, y_semi)
    assert clf.n_pseudo_labeled_ == [150]
    (first, first_val), (second, second_val) = fitted
    # Labeled rows only: 24 + 6 held out; then all 180 rows, 36 held out.
    assert (first[0].shape[0], first_val[0].shape[0]) == (24, 6)
    assert (second[0].shape[0], second_val[0].shape[0]) == (144, 36)
    # A given validation set stays as it is and the graph does not see it.
    fitted.clear()
    held = np.arange(len(y)) % 10 == 5
    clf.fit(X[~held], y_semi[~held], X_val=X[held], y_val=y[held])
    assert [v[0].shape[0] for _, v in fitted] == [18, 18]
    assert fitted[1][0][0].shape[0] == 162


@pytest.mark.parametrize("estimator", [DeepStackClassifier, DeepStackRegressor])
def test_label_propagation_keeps_the_labeled_rows_weights(estimator, monkeypatch):
    # The internal validation rows join the training rows with their own
    # weights (0 and 2 here), not 1; propagated rows weigh 1.
    X, y, y_semi = _blobs(n_labeled=10)
    labeled = y_semi != -1
    weights = np.where(np.arange(len(y)) % 2 == 0, 0.0, 2.0)
    if estimator is DeepStackRegressor:
        y_semi = np.where(labeled, 10.0 * y, np.nan)
    fitted = []
    train = _trainer.train

    def spy(model, data, validation, *args, **kwargs):
        if model.name == "deepstack":
            fitted.append(np.concatenate([data[2], validation[2]]))
        return train(model, data, validation, *args, **kwargs)

    monkeypatch.setattr(_trainer, "train", spy)
    tiny(
        estimator,
        semi_supervised="label_propagation",
        self_training_rounds=1,
        validation_fraction=0.2,
        max_epochs=2,
    ).fit(X, y_semi, sample_weight=weights)
    given = np.unique(weights[labeled], return_counts=True)
    for rows in fitted:
        values, counts = np.unique(rows, return_counts=True)
        assert dict(zip(values, counts)).items() >= dict(zip(*given)).items()
    values, counts = np.unique(fitted[1], return_counts=True)
    assert dict(zip(values, counts)) == {0.0: 15, 1.0: 150, 2.0: 15}


def test_label_propagation_confidence_weights_and_save_load(tmp_path, monkeypatch):
    X, y, y_semi = _blobs()
    fitted = []
    train = _trainer.train

    def spy(model, data, *args, **kwargs):
        if model.name == "deepstack":
            fitted.append(data)
        return train(model, data, *args, **kwargs)

    monkeypatch.setattr(_trainer, "train", spy)
    clf = tiny(
        DeepStackClassifier,
        pretrain="auto",
        semi_supervised="label_propagation",
        pseudo_label_weights="confidence",
        self_training_rounds=1,
        early_stopping=False,
        **FAST,
    ).fit(X, y_semi)
    assert len(clf.pretraining_history_) == 1
    assert clf.n_pseudo_labeled_ == [171]
    weights = np.asarray(fitted[1][2])
    np.testing.assert_array_equal(weights[:9], 1.0)  # the labeled rows
    assert np.all((weights >= 0.0) & (weights <= 1.0))
    assert weights[9:].min() > 0.5  # far-apart clusters: confident
    save(clf, tmp_path / "clf")
    loaded = load(tmp_path / "clf")
    assert loaded.semi_supervised == "label_propagation"
    assert loaded.pseudo_label_weights == "confidence"
    assert loaded.n_pseudo_labeled_ == [171]
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_graph_proba_known_answer():
    # A new row at 1 between training rows at 0 (class 0) and 10 (class 1):
    # weights exp(-(d**2 - d_min**2) / sigma**2) = 1 and exp(-80 / 100).
    proba = _self_training.graph_proba(
        np.array([[0.0], [10.0]]),
        np.array([[1.0, 0.0], [0.0, 1.0]]),
        np.array([[1.0], [5.0]]),
        n_neighbors=2,
        sigma=10.0,
    )
    w = np.exp(-0.8)
    np.testing.assert_allclose(proba, [[1 / (1 + w), w / (1 + w)], [0.5, 0.5]])


def test_choose_neighbors_prefers_the_graph_that_keeps_classes_apart():
    # Two interleaved lines 1.1 apart, points 1 apart along each: one
    # neighbour stays on a row's own line, eight reach across.
    x = np.arange(20.0)
    X = np.concatenate([np.c_[x, np.zeros(20)], np.c_[x + 0.5, np.full(20, 1.0)]])
    y = np.repeat([0, 1], 20)
    labels = np.full(40, -1)
    labels[::2] = y[::2]
    for candidates in [(1, 8), (8, 1)]:
        k, scores = _self_training.choose_neighbors(X, labels, 2, candidates, seed=0)
        assert k == 1
        assert scores[candidates.index(1)] == 1.0
        assert scores[candidates.index(8)] < 0.5


def test_label_propagation_predictions_mix_the_graph(tmp_path):
    X, y, y_semi = _blobs()
    X_new = X[::7] + 0.5
    clf = tiny(
        DeepStackClassifier,
        semi_supervised="label_propagation",
        propagation_neighbors="auto",
        self_training_rounds=1,
        graph_weight=0.25,
        early_stopping=False,
        max_epochs=3,
    ).fit(X, y_semi)
    assert clf.propagation_neighbors_ in _self_training.NEIGHBORS
    # The graph: the training rows (labeled first) and their distributions.
    labeled = y_semi != -1
    np.testing.assert_array_equal(
        clf.X_, np.concatenate([X[labeled], X[~labeled]]).astype(clf.X_.dtype)
    )
    assert clf.label_distributions_.shape == (180, 3)
    graph = _self_training.graph_proba(
        clf.X_,
        clf.label_distributions_,
        X_new,
        clf.propagation_neighbors_,
        clf.graph_bandwidth_,
    )
    np.testing.assert_array_equal(graph.argmax(axis=1), y[::7])
    network = np.exp(_self_training.log_proba_from_logits(clf.decision_function(X_new)))
    proba = clf.predict_proba(X_new)
    np.testing.assert_allclose(proba, 0.75 * network + 0.25 * graph, rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(X_new), clf.classes_[proba.argmax(1)])
    with pytest.raises(ValueError, match=r"set_params\(graph_weight=0\)"):
        clf.export(tmp_path / "model")
    save(clf, tmp_path / "clf")
    loaded = load(tmp_path / "clf")
    np.testing.assert_array_equal(loaded.predict_proba(X_new), proba)
    clf.set_params(graph_weight=0.0)
    np.testing.assert_allclose(clf.predict_proba(X_new), network, rtol=1e-6)
    clf.set_params(graph_weight=1.0)
    np.testing.assert_allclose(clf.predict_proba(X_new), graph, rtol=1e-6)
    # A fit without unlabeled rows keeps no graph.
    clf.fit(X, y)
    assert not hasattr(clf, "label_distributions_")


def test_propagate_targets_known_answer():
    X = np.array([[0.0], [1.0], [2.0], [3.0], [10.0], [11.0]])
    labeled = np.array([True, False, False, True, False, False])
    # A constant target spreads unchanged; rows 4 and 5, which no labeled
    # row reaches (one neighbour each), get none.
    spread = _self_training.propagate_targets(X, np.full(6, 2.5), labeled, 1)
    np.testing.assert_allclose(spread[:4, 0], 2.5)
    assert np.isnan(spread[4:]).all()
    # Targets 0 and 1 at the ends of a chain whose graph (two neighbours
    # each) is mirror-symmetric: mirrored rows sum to 1, nearer rows weigh
    # more, and two outputs spread independently.
    y = np.column_stack([[0.0, 0, 0, 1], [1.0, 0, 0, 0]])
    spread = _self_training.propagate_targets(X[:4], y, labeled[:4], 2)
    np.testing.assert_allclose(spread[1, 0] + spread[2, 0], 1.0)
    np.testing.assert_allclose(spread[:, 0] + spread[:, 1], 1.0)
    assert spread[1, 0] < 0.5 < spread[2, 0]


def test_regressor_target_propagation(monkeypatch):
    # Three far-apart clusters whose targets are 0, 10 and 20; 3 labeled
    # rows each, the rest NaN.
    X, y_class, y_semi = _blobs()
    y = 10.0 * y_class
    y_nan = np.where(y_semi == -1, np.nan, y)
    fitted = []
    train = _trainer.train

    def spy(model, data, *args, **kwargs):
        if model.name == "deepstack":
            fitted.append(data)
        return train(model, data, *args, **kwargs)

    monkeypatch.setattr(_trainer, "train", spy)
    reg = tiny(
        DeepStackRegressor,
        semi_supervised="label_propagation",
        self_training_rounds=2,
        early_stopping=False,
        max_epochs=30,
        dropout=0.0,
        learning_rate=1e-2,
    ).fit(X, y_nan)
    assert reg.n_pseudo_labeled_ == [171, 171]
    assert [data[0].shape[0] for data in fitted] == [9, 180, 180]
    # Each cluster's rows get its target exactly (a constant spreads
    # unchanged within a component): in standardized units.
    labeled = y_semi != -1
    expected = np.concatenate([y[labeled], y[~labeled]])
    targets = fitted[1][1][:, 0] * reg.target_scale_[0] + reg.target_mean_[0]
    np.testing.assert_allclose(targets, expected, atol=1e-4)
    assert reg.score(X, y) > 0.9
    with pytest.raises(ValueError, match="semi_supervised='label_propagation'"):
        DeepStackRegressor(reconstruction_weight=0.0).fit(X, y_nan)


def test_semi_supervised_auto_propagates_when_most_rows_are_unlabeled(
    classification_data,
):
    X, y = classification_data
    clf = tiny(DeepStackClassifier, self_training_rounds=1)  # the default "auto"
    clf.set_params(max_epochs=2, early_stopping=False)
    # 50 labeled, 150 unlabeled: said, since -1 could be a class.
    with pytest.warns(UserWarning, match=r"-1 in 150 of 200 rows, .* read as unl"):
        clf.fit(X, _unlabel(y, 4))
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_pseudo_labeled_ == [150]
    assert clf.label_distributions_.shape == (200, 3)
    # As many unlabeled rows as labeled: not "more", so -1 is a class (warned).
    with pytest.warns(UserWarning, match=r"y contains -1 \(100 of 200 rows\)"):
        clf.fit(X, _unlabel(y, 2))
    np.testing.assert_array_equal(clf.classes_, [-1, 0, 1, 2])
    assert not hasattr(clf, "label_distributions_")


def test_default_semi_supervised_keeps_minus_one_one_binary_targets(binary_data):
    # {-1, 1} targets with -1 in most rows: -1 is the negative class.
    X, y = binary_data
    y = np.where(np.arange(len(y)) % 4 == 0, 1, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        clf = tiny(DeepStackClassifier, max_epochs=1).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, [-1, 1])
    assert not hasattr(clf, "n_pseudo_labeled_")


@pytest.mark.parametrize("other", [0, 2])
def test_default_semi_supervised_keeps_minus_one_with_one_other_class(
    binary_data, other
):
    # {-1, 0} or {-1, 2} with -1 in most rows: the labeled rows held one
    # class, and the fit failed ("got only one class: 0").
    X, _ = binary_data
    y = np.where(np.arange(len(X)) % 4 == 0, other, -1)
    with pytest.warns(UserWarning, match=r"so -1 is fitted as a class label"):
        clf = tiny(DeepStackClassifier, max_epochs=1).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, sorted([-1, other]))
    assert not hasattr(clf, "n_pseudo_labeled_")


def _ctrl_c_in_training(number, trainings):
    """A callback that sends a SIGINT at the end of the second epoch of the
    ``number``-th training (1-based) of a fit; ``trainings`` gets the epochs
    each training ran (shared: a fit deep-copies its callbacks)."""
    import signal

    import keras

    class CtrlC(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            trainings.append(0)

        def on_epoch_end(self, epoch, logs=None):
            trainings[-1] += 1
            if len(trainings) == number and epoch == 1:
                signal.raise_signal(signal.SIGINT)

    return CtrlC()


@pytest.mark.parametrize(
    ("estimator", "semi_supervised", "number"),
    [
        # Ctrl-C in the first training (fine-tuning) or in the first round.
        (DeepStackClassifier, "label_propagation", 1),
        (DeepStackClassifier, "label_propagation", 2),
        (DeepStackClassifier, "self_training", 1),
        (DeepStackRegressor, "label_propagation", 2),
    ],
)
def test_ctrl_c_stops_the_semi_supervised_rounds_too(
    estimator, semi_supervised, number, python_sigint
):
    # A Ctrl-C stopped only the training it landed in: every later round
    # ran in full, under a warning that said training had stopped.
    X, y_class, y_semi = _blobs()
    y = y_semi
    if estimator is DeepStackRegressor:
        y = np.where(y_semi == -1, np.nan, 10.0 * y_class)
    trainings = []
    est = tiny(
        estimator,
        semi_supervised=semi_supervised,
        self_training_rounds=3,
        early_stopping=False,
        max_epochs=6,
        callbacks=[_ctrl_c_in_training(number, trainings)],
    )
    with pytest.warns(RuntimeWarning, match="interrupted") as caught:
        est.fit(X, y)
    assert trainings == [6] * (number - 1) + [2]
    assert est.n_iter_ == 6 * (number - 1) + 2
    (message,) = [str(w.message) for w in caught if "interrupted" in str(w.message)]
    assert f"stopped after epoch {est.n_iter_};" in message
    if number == 1:
        assert "semi-supervised rounds that follow are skipped" in message
        assert not hasattr(est, "n_pseudo_labeled_")
    else:
        assert "semi-supervised round 1 of 3; no later round runs" in message
        assert len(est.n_pseudo_labeled_) == 1
