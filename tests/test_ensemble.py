"""K-fold bagging: averaged members, out-of-fold rows, save / load, the main job."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import accuracy_score, r2_score

import deepstack
from deepstack import DeepStackClassifier, DeepStackRegressor
from deepstack.ensemble import (
    DeepStackBaggingClassifier,
    DeepStackBaggingRegressor,
    bagging_for,
)
from tests.conftest import fails_in_training, tiny

# No dropout and no weight decay: the validation loss is then exactly the log
# loss of the restored network's predictions.
_PLAIN = {"dropout": 0.0, "batch_norm": False, "l2": 0.0}


@pytest.fixture(scope="module")
def bagged_classifier():
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=150, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    labels = np.array(["ant", "bee", "cat"])[y]
    member = tiny(DeepStackClassifier, max_epochs=4, **_PLAIN)
    bag = DeepStackBaggingClassifier(member, n_folds=3, random_state=0)
    return bag.fit(X.astype(np.float32), labels), X.astype(np.float32), labels


def test_classifier_averages_its_members(bagged_classifier):
    bag, X, y = bagged_classifier
    members = np.stack([m.predict_proba(X) for m in bag.estimators_])
    np.testing.assert_allclose(bag.predict_proba(X), members.mean(axis=0), atol=1e-12)
    assert list(bag.classes_) == ["ant", "bee", "cat"]
    np.testing.assert_array_equal(
        bag.predict(X), bag.classes_[members.mean(axis=0).argmax(axis=1)]
    )
    assert bag.score(X, y) == accuracy_score(y, bag.predict(X))


def test_out_of_fold_rows_are_each_members_validation_fold(bagged_classifier):
    bag, X, y = bagged_classifier
    assert len(bag.estimators_) == 3
    # The folds partition the rows, stratified: 50 rows per class, ~17 per fold.
    assert sorted(np.bincount(bag.fold_of_row_)) == [50, 50, 50]
    for i, member in enumerate(bag.estimators_):
        rows = bag.fold_of_row_ == i
        for label in bag.classes_:
            assert abs((y[rows] == label).sum() - 50 / 3) < 1
        proba = member.predict_proba(X[rows])
        np.testing.assert_allclose(bag.oof_prediction_[rows], proba, atol=1e-12)
        # Member i early-stopped on fold i: its best validation loss is the log
        # loss of its own predictions on exactly those rows.
        p = proba[np.arange(rows.sum()), np.searchsorted(bag.classes_, y[rows])]
        best = member.history_["val_loss"][member.best_epoch_]
        assert best == pytest.approx(-np.mean(np.log(p)), rel=1e-4)
    expected = accuracy_score(y, bag.classes_[bag.oof_prediction_.argmax(axis=1)])
    assert bag.oof_score_ == expected
    assert bag.n_iters_ == [m.n_iter_ for m in bag.estimators_]
    assert bag.history_ == bag.estimators_[0].history_


def test_members_differ_and_the_fit_is_seeded(bagged_classifier):
    bag, X, y = bagged_classifier
    seeds = {m.random_state for m in bag.estimators_}
    assert len(seeds) == 3
    again = clone(bag).fit(X, y)
    np.testing.assert_array_equal(again.fold_of_row_, bag.fold_of_row_)
    np.testing.assert_allclose(again.predict_proba(X), bag.predict_proba(X), atol=1e-6)


def test_member_missing_a_class_gives_it_zero_probability():
    bag = DeepStackBaggingClassifier()
    bag.classes_ = np.array([0, 1, 2])

    class Member:
        classes_ = np.array([0, 2])

        def predict_proba(self, X):
            return np.tile([0.25, 0.75], (len(X), 1))

    np.testing.assert_array_equal(
        bag._member_output(Member(), np.zeros((2, 1))), [[0.25, 0, 0.75]] * 2
    )


def test_a_class_of_fewer_rows_than_folds_is_left_out_of_a_members_validation():
    # One row of class 2: the member validated on its fold never trained on
    # it, so that row cannot be in its validation (a class it does not know).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    y[0] = 2
    member = tiny(DeepStackClassifier, max_epochs=2)
    bag = DeepStackBaggingClassifier(member, n_folds=3, random_state=0).fit(X, y)
    assert list(bag.classes_) == [0, 1, 2]
    blind = bag.estimators_[bag.fold_of_row_[0]]
    assert list(blind.classes_) == [0, 1]
    assert bag.oof_prediction_[0, 2] == 0.0
    others = [m for m in bag.estimators_ if m is not blind]
    assert all(list(m.classes_) == [0, 1, 2] for m in others)
    assert bag.predict_proba(X[:1])[0, 2] > 0


def test_unlabeled_rows_train_the_members_and_are_never_validated_or_scored(
    monkeypatch,
):
    # -1 in most rows: a single classifier reads them as unlabeled (label
    # propagation), so every member does, and classes_ leaves -1 out.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 3)).astype(np.float32)
    y = np.where(X[:, 0] > 0, 1, 2)
    y[:60] = -1
    validated = []
    fit = DeepStackClassifier.fit

    def recording_fit(self, X, y, sample_weight=None, **kwargs):
        validated.append(kwargs["y_val"])
        return fit(self, X, y, sample_weight, **kwargs)

    monkeypatch.setattr(DeepStackClassifier, "fit", recording_fit)
    member = tiny(DeepStackClassifier, max_epochs=2)
    bag = DeepStackBaggingClassifier(member, n_folds=3, random_state=0).fit(X, y)
    assert list(bag.classes_) == [1, 2]
    for i, m in enumerate(bag.estimators_):
        assert list(m.classes_) == [1, 2]
        assert m.get_params()["semi_supervised"] == "label_propagation"
        # Member i's validation rows: the labeled rows of fold i.
        np.testing.assert_array_equal(validated[i], y[60:][bag.fold_of_row_[60:] == i])
    labeled = slice(60, None)
    assert bag.oof_score_ == pytest.approx(
        accuracy_score(y[labeled], bag.classes_[bag.oof_prediction_[labeled].argmax(1)])
    )


def test_a_minority_of_minus_one_labels_is_a_class_warned_about_once():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = np.where(X[:, 0] > 0, 1, 2)
    y[:15] = -1
    member = tiny(DeepStackClassifier, max_epochs=2)
    with pytest.warns(UserWarning, match="y contains -1") as record:
        bag = DeepStackBaggingClassifier(member, n_folds=3, random_state=0)
        bag.fit(X, y)
    assert sum("y contains -1" in str(w.message) for w in record) == 1
    assert list(bag.classes_) == [-1, 1, 2]
    assert all(m.get_params()["semi_supervised"] is None for m in bag.estimators_)


def test_regressor_unlabeled_rows_as_a_single_regressor_reads_them(regression_data):
    X, y = regression_data
    y = np.array(y, dtype=np.float64)
    y[:10] = np.nan
    member = tiny(DeepStackRegressor, max_epochs=2)
    # Too few for the joint loss's "auto": refused as a single fit refuses.
    with pytest.raises(ValueError, match="y contains NaN in 10 of"):
        DeepStackBaggingRegressor(member, n_folds=3).fit(X, y)
    bag = DeepStackBaggingRegressor(
        member.set_params(reconstruction_weight=0.1), n_folds=3, random_state=0
    ).fit(X, y)
    rows = slice(10, None)
    assert np.isfinite(bag.oof_prediction_).all()
    assert bag.oof_score_ == pytest.approx(r2_score(y[rows], bag.oof_prediction_[rows]))


def test_rows_without_a_target_spread_over_the_folds(regression_data):
    # Plain KFold could leave a fold without labeled rows: its member had no
    # validation rows and the fit failed ("Found array with 0 sample(s)").
    X, y = regression_data
    y = np.array(y, dtype=np.float64)
    labeled = np.zeros(len(y), dtype=bool)
    labeled[::10] = True  # 10 % labeled
    y[~labeled] = np.nan
    member = tiny(DeepStackRegressor, max_epochs=1, reconstruction_weight=0.1)
    for seed in range(4):
        bag = DeepStackBaggingRegressor(member, n_folds=5, random_state=seed)
        bag.fit(X, y)
        per_fold = np.bincount(bag.fold_of_row_[labeled], minlength=5)
        assert per_fold.min() >= labeled.sum() // 5
    # Fewer labeled rows than two a fold: said, counting the labeled rows.
    few = np.full(len(y), np.nan)
    few[:6] = y[labeled][:6]
    with pytest.raises(ValueError, match=r"6 samples with a target are too few for"):
        DeepStackBaggingRegressor(member, n_folds=5).fit(X, few)


def test_out_of_fold_scores_are_weighted(regression_data):
    X, y = regression_data
    w = np.random.RandomState(0).uniform(0.1, 3.0, size=len(y))
    member = tiny(DeepStackRegressor, max_epochs=2, **_PLAIN)
    bag = DeepStackBaggingRegressor(member, n_folds=3, random_state=0)
    bag.fit(X, y, sample_weight=w)
    expected = r2_score(y, bag.oof_prediction_, sample_weight=w)
    assert bag.oof_score_ == pytest.approx(expected)
    assert bag.oof_score_ != pytest.approx(r2_score(y, bag.oof_prediction_))


def test_regressor_averages_and_scores_out_of_fold(regression_data):
    X, y = regression_data
    member = tiny(DeepStackRegressor, max_epochs=4, **_PLAIN)
    bag = bagging_for(member, 4, random_state=1)
    assert isinstance(bag, DeepStackBaggingRegressor)
    bag.fit(X, y)
    members = np.stack([m.predict(X) for m in bag.estimators_])
    np.testing.assert_allclose(bag.predict(X), members.mean(axis=0), atol=1e-12)
    for i, member in enumerate(bag.estimators_):
        rows = bag.fold_of_row_ == i
        np.testing.assert_allclose(
            bag.oof_prediction_[rows], member.predict(X[rows]), atol=1e-12
        )
    assert bag.oof_score_ == pytest.approx(r2_score(y, bag.oof_prediction_))


def test_save_load_round_trip(bagged_classifier, tmp_path):
    bag, X, _ = bagged_classifier
    deepstack.save(bag, tmp_path / "bag")
    loaded = deepstack.load(tmp_path / "bag")
    assert type(loaded) is DeepStackBaggingClassifier
    assert loaded.get_params()["n_folds"] == 3
    np.testing.assert_array_equal(loaded.predict_proba(X), bag.predict_proba(X))
    np.testing.assert_array_equal(loaded.oof_prediction_, bag.oof_prediction_)
    assert loaded.oof_score_ == bag.oof_score_
    # An unfitted bag round-trips too, and refuses to predict.
    deepstack.save(DeepStackBaggingRegressor(n_folds=4), tmp_path / "unfitted")
    unfitted = deepstack.load(tmp_path / "unfitted")
    assert unfitted.n_folds == 4 and unfitted.estimator is None
    with pytest.raises(Exception, match="not fitted"):
        unfitted.predict(X)


def test_bad_inputs_are_refused(regression_data):
    X, y = regression_data
    with pytest.raises(ValueError, match="too few"):
        DeepStackBaggingRegressor(n_folds=5).fit(X[:8], y[:8])
    with pytest.raises(ValueError, match="n_folds"):
        DeepStackBaggingRegressor(n_folds=1).fit(X, y)
    # The member refused the fold given as X_val, naming an X_val the user
    # never passed.
    refit = DeepStackRegressor(refit_on_all=True)
    with pytest.raises(ValueError, match=r"refit_on_all=True does not fit a bagged"):
        DeepStackBaggingRegressor(refit, n_folds=3).fit(X, y)


def test_a_multilabel_or_multi_output_target_is_refused_naming_the_member(
    regression_data,
):
    # scikit-learn's check said "y should be a 1d array, got an array of
    # shape (60, 2) instead", naming neither the ensemble nor what to use.
    X, y = regression_data
    Y = np.stack([y, -y], axis=1)
    with pytest.raises(ValueError) as caught:
        DeepStackBaggingRegressor(n_folds=2).fit(X, Y)
    assert str(caught.value) == (
        f"DeepStackBaggingRegressor takes one target a row, y of shape "
        f"(n_samples,); got shape {Y.shape}. Multilabel and multi-output targets "
        "are not bagged: fit DeepStackRegressor on them directly."
    )
    indicator = (Y > 0).astype(int)
    with pytest.raises(ValueError, match=r"fit DeepStackClassifier on them"):
        DeepStackBaggingClassifier(n_folds=2).fit(X, indicator)


def test_a_member_whose_fit_takes_no_validation_set_is_refused_by_name(
    regression_data,
):
    # It failed in the first member's fit with "Ridge.fit() got an unexpected
    # keyword argument 'X_val'".
    from sklearn.linear_model import Ridge

    X, y = regression_data
    with pytest.raises(
        TypeError, match=r"Ridge\.fit takes no X_val, y_val: each member of "
    ):
        DeepStackBaggingRegressor(Ridge(), n_folds=2).fit(X, y)


def test_a_time_limit_cuts_every_member_to_one_epoch_and_restores_callbacks(
    regression_data,
):
    X, y = regression_data
    member = tiny(DeepStackRegressor, max_epochs=30, **_PLAIN)
    # A limit already spent when the first member starts: each member stops
    # at its first epoch end (every member trains at least one epoch).
    bag = DeepStackBaggingRegressor(
        member, n_folds=3, time_limit=1e-9, random_state=0
    ).fit(X, y)
    assert bag.n_iters_ == [1, 1, 1]
    assert bag.cut_short_ == [True, True, True] and bag.time_limit_reached_
    # The members' own callbacks are the template's again (None): a later
    # fit of a member does not inherit the spent deadline.
    assert all(m.callbacks is None for m in bag.estimators_)
    refit = clone(bag.estimators_[0]).fit(X, y)
    assert refit.n_iter_ > 1


def test_an_ample_time_limit_changes_nothing(regression_data):
    X, y = regression_data
    member = tiny(DeepStackRegressor, max_epochs=6, **_PLAIN)
    free = DeepStackBaggingRegressor(member, n_folds=3, random_state=0).fit(X, y)
    limited = DeepStackBaggingRegressor(
        member, n_folds=3, time_limit=1e6, random_state=0
    ).fit(X, y)
    assert limited.cut_short_ == [False, False, False]
    assert not limited.time_limit_reached_ and not free.time_limit_reached_
    assert limited.n_iters_ == free.n_iters_
    np.testing.assert_array_equal(limited.predict(X), free.predict(X))


def test_each_member_gets_an_equal_share_of_the_time_left(regression_data, monkeypatch):
    """On a clock that the test moves: 100 s for 3 members; the first starts
    at 0 (deadline 100 / 3), the second at 10 (10 + 90 / 2), the third at 50
    (50 + 50 / 1), whatever the members before them left unused."""
    import deepstack.ensemble._bagging as bagging

    starts = iter([0.0, 0.0, 10.0, 50.0])  # the bag's start, then each member
    monkeypatch.setattr(
        bagging, "time", type("Clock", (), {"time": staticmethod(lambda: next(starts))})
    )
    X, y = regression_data
    member = tiny(DeepStackRegressor, max_epochs=2, **_PLAIN)
    bag = DeepStackBaggingRegressor(member, n_folds=3, time_limit=100.0)
    deadlines = []

    class Recorded(bagging.TimeLimit):
        def __init__(self, deadline):
            deadlines.append(deadline)
            super().__init__(deadline)

    monkeypatch.setattr(bagging, "TimeLimit", Recorded)
    bag.fit(X, y)
    assert deadlines == pytest.approx([100 / 3, 10 + 90 / 2, 50 + 50 / 1])


def test_groups_keep_each_group_in_one_fold(regression_data):
    X, y = regression_data
    groups = np.repeat(np.arange(16), 10)  # 16 groups of 10 rows
    member = tiny(DeepStackRegressor, max_epochs=2, **_PLAIN)
    bag = DeepStackBaggingRegressor(member, n_folds=4, random_state=0)
    bag.fit(X, y, groups=groups)
    for g in range(16):
        assert len(set(bag.fold_of_row_[groups == g])) == 1
    assert sorted(np.unique(bag.fold_of_row_)) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="3 groups are too few for n_folds=4"):
        bag.fit(X, y, groups=np.arange(160) % 3)
    with pytest.raises(ValueError, match="one label a sample"):
        bag.fit(X, y, groups=groups[:-1])


def test_a_fold_of_classes_no_other_fold_holds_validates_on_its_own_rows():
    rng = np.random.default_rng(0)
    # Group 2 alone holds class 2: its member never sees the class, and
    # no row of its fold can stop it early.
    groups = np.repeat([0, 1, 2], 30)
    y = np.concatenate([np.tile([0, 1], 30), np.full(30, 2)])
    X = rng.normal(size=(90, 4)).astype(np.float32)
    member = tiny(DeepStackClassifier, max_epochs=2, **_PLAIN)
    bag = DeepStackBaggingClassifier(member, n_folds=3, random_state=0)
    with pytest.warns(
        UserWarning,
        match=r"Fold \d of 3 holds only classes that the other folds "
        r"lack \('2'\): its member early-stops on a split of its own training rows",
    ):
        bag.fit(X, y, groups=groups)
    assert bag.predict_proba(X).shape == (90, 3)


def test_classifier_groups_are_stratified_where_classes_allow():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), 6)
    y = np.repeat(rng.permutation(np.arange(30) % 3), 6)  # a class a group
    X = rng.normal(size=(180, 4)).astype(np.float32)
    member = tiny(DeepStackClassifier, max_epochs=2, **_PLAIN)
    bag = DeepStackBaggingClassifier(member, n_folds=5, random_state=0)
    bag.fit(X, y, groups=groups)
    for g in range(30):
        assert len(set(bag.fold_of_row_[groups == g])) == 1
    # Ten groups a class, five folds: two groups of each class a fold.
    for fold in range(5):
        rows = bag.fold_of_row_ == fold
        assert np.bincount(y[rows], minlength=3).tolist() == [12, 12, 12]


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("disk full")])
def test_a_failed_refit_leaves_the_ensemble_as_it_was(error):
    # The new classes_ and n_features_in_ stayed beside the old members:
    # predict answered with the new labels from the old networks.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    member = tiny(DeepStackClassifier, max_epochs=2, **_PLAIN)
    bag = DeepStackBaggingClassifier(member, n_folds=3, random_state=0).fit(X, y)
    before = bag.predict_proba(X)
    members, oof = bag.estimators_, bag.oof_prediction_.copy()
    # New columns and labels; the second member's fit fails.
    X2 = rng.normal(size=(60, 5)).astype(np.float32)
    bag.set_params(
        estimator=clone(member).set_params(callbacks=[fails_in_training(2, error)])
    )
    with pytest.raises(type(error)):
        bag.fit(X2, np.where(X2[:, 0] > 0, "yes", "no"))
    assert list(bag.classes_) == [0, 1] and bag.n_features_in_ == 3
    assert bag.estimators_ is members and len(bag.cut_short_) == 3
    np.testing.assert_array_equal(bag.oof_prediction_, oof)
    np.testing.assert_array_equal(bag.predict_proba(X), before)
