"""DeepStackSearch, search spaces and DeepStackHyperModel (tiny networks)."""

import functools
import os
import pickle
import re
import time
import warnings

import keras_tuner
import numpy as np
import pandas as pd
import pytest
from keras.callbacks import TerminateOnNaN
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import deepstack
from deepstack import (
    Boolean,
    Choice,
    DeepStackClassifier,
    DeepStackHyperModel,
    DeepStackRegressor,
    DeepStackSearch,
    Float,
    Int,
    StackedAutoencoder,
    default_search_space,
)
from deepstack.tuning import NoTrialCompletedError
from deepstack.tuning._results import no_trial_completed
from deepstack.tuning._space import ResolvedSpace
from deepstack.tuning._trials import trial_data
from deepstack.tuning._tuner import make_oracle
from tests.conftest import fails_in_training, tiny

# ---------------------------------------------------------------- spaces


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Int(5, 1), "low <= high"),
        (lambda: Float(0.0, 1.0, log=True), "low > 0"),
        (lambda: Float(0.1, 1.0, step=-1.0), "step"),
        (lambda: Int(1.5, 3), "must be numbers"),
        (lambda: Choice([]), "at least one"),
        # A truthy string is no log scale ("no" would sample on one).
        (lambda: Float(0.1, 1.0, log="no"), r"log must be True or False; got 'no'"),
        (lambda: Int(1, 8, log=1), r"Int log must be True or False; got 1"),
    ],
)
def test_range_helpers_reject_bad_bounds(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_space_maps_layers_units_and_python_values():
    space = ResolvedSpace(
        {
            "n_layers": Int(1, 3),
            "units": [8, 16],
            "class_weight": [None, "balanced"],
            "batch_norm": Boolean(),
            "batch_size": 16,
        },
        DeepStackClassifier(hidden_layer_sizes=(16, 16)),
    )
    hp = space.hyperparameters()
    assert set(hp.values) == {"n_layers", "units", "class_weight", "batch_norm"}
    # Grid search starts from the estimator's own values where they fit.
    assert hp.values["n_layers"] == 2 and hp.values["units"] == 16
    label = hp.values["class_weight"]
    assert isinstance(label, str)
    params = space.params(
        {"n_layers": 3, "units": 8, "class_weight": "'balanced'", "batch_norm": True}
    )
    assert params == {
        "hidden_layer_sizes": (8, 8, 8),
        "class_weight": "balanced",
        "batch_norm": True,
        "batch_size": 16,
    }
    assert space.params({"class_weight": "None"})["class_weight"] is None
    DeepStackClassifier().set_params(**params)


def test_space_choice_of_architectures():
    space = ResolvedSpace(
        {"hidden_layer_sizes": [(8,), (16, 8)]}, DeepStackClassifier((8,))
    )
    hp = space.hyperparameters()
    assert hp.values["hidden_layer_sizes"] == "(8,)"
    assert space.params({"hidden_layer_sizes": "(16, 8)"}) == {
        "hidden_layer_sizes": (16, 8)
    }


def test_default_space_covers_the_documented_parameters():
    space = default_search_space(DeepStackClassifier(), wide=True)
    assert space["learning_rate"] == Float(1e-4, 1e-1, log=True)
    assert space["dropout"] == Float(0.0, 0.6)
    assert space["n_layers"] == Int(1, 3)
    assert space["batch_norm"] == Boolean()
    assert set(space["optimizer"].values) == {"adam", "rmsprop", "sgd"}
    hp = ResolvedSpace(None, DeepStackClassifier(), wide=True).hyperparameters()
    assert list(hp.space[3].values) == [32, 64, 128, 256, 512]  # units
    assert hp.values["learning_rate"] == pytest.approx(1e-3)
    # pretraining epochs are searched because the estimator can pretrain;
    # 0 epochs means no pretraining.
    assert 0 in space["pretrain_epochs"].values
    resolved = ResolvedSpace(None, DeepStackClassifier())
    assert resolved.params({"pretrain_epochs": 0})["pretrain"] is None
    on = resolved.params({"pretrain_epochs": 5})
    assert on["pretrain"] == "autoencoder" and on["pretrain_epochs"] == 5
    denoising = ResolvedSpace(None, DeepStackClassifier(pretrain="denoising"))
    assert denoising.params({"pretrain_epochs": 5})["pretrain"] == "denoising"


def test_default_space_without_pretrain_parameter():
    from sklearn.neural_network import MLPClassifier

    space = default_search_space(MLPClassifier())
    assert "pretrain_epochs" not in space and "dropout" not in space
    assert {"n_layers", "units"} <= set(space)
    # The MLP's learning_rate is its schedule ("constant"); its rate is
    # learning_rate_init (a Float on learning_rate failed every trial).
    assert "learning_rate" not in space
    rate = space["learning_rate_init"]
    assert (rate.low, rate.high, rate.log) == (0.00025, 0.004, True)
    wide = default_search_space(MLPClassifier(learning_rate_init=0.01), wide=True)
    assert (wide["learning_rate_init"].low, wide["learning_rate_init"].high) == (
        1e-4,
        1e-1,
    )


def test_a_default_space_search_of_scikit_learns_mlp_completes(classification_data):
    from sklearn.neural_network import MLPClassifier

    X, y = classification_data
    search = DeepStackSearch(
        MLPClassifier(max_iter=20, random_state=0),
        tuner="random",
        max_trials=2,
        random_state=0,
    ).fit(X, y)
    assert search.results_["status"] == ["COMPLETED", "COMPLETED"]
    rates = [p["learning_rate_init"] for p in search.results_["params"]]
    assert rates[0] == 0.001 and 0.00025 <= rates[1] <= 0.004
    assert search.best_estimator_.learning_rate == "constant"


@pytest.mark.parametrize(
    "kind, cls",
    [
        ("random", keras_tuner.oracles.RandomSearchOracle),
        ("grid", keras_tuner.oracles.GridSearchOracle),
        ("bayesian", keras_tuner.oracles.BayesianOptimizationOracle),
        ("hyperband", keras_tuner.oracles.HyperbandOracle),
    ],
)
def test_each_tuner_is_backed_by_its_oracle(kind, cls):
    space = {"dropout": [0.0, 0.5], "batch_norm": Boolean(), "units": [4, 8]}
    hp = ResolvedSpace(space, DeepStackClassifier()).hyperparameters()
    oracle = make_oracle(
        kind, max_trials=7, hyperparameters=hp, seed=3, max_epochs=9, options=None
    )
    assert isinstance(oracle, cls)
    assert oracle.max_trials == 7
    assert oracle.objective.name == "score" and oracle.objective.direction == "max"
    if kind == "hyperband":
        assert oracle.max_epochs == 9
    if kind == "bayesian":
        # Half of the 7 trials start at random, not 3 per parameter (9).
        assert oracle.num_initial_points == 3


def test_bad_search_space_is_rejected_before_training(classification_data):
    X, y = classification_data
    with pytest.raises(ValueError, match="does not have: \\['nope'\\]"):
        DeepStackSearch(tiny(DeepStackClassifier), {"nope": [1, 2]}).fit(X, y)
    with pytest.raises(ValueError, match="not both"):
        DeepStackSearch(
            tiny(DeepStackClassifier),
            {"units": [4], "hidden_layer_sizes": [(4,)]},
        ).fit(X, y)
    with pytest.raises(ValueError, match="max_epochs"):
        DeepStackSearch(
            tiny(DeepStackClassifier), {"max_epochs": [1, 2]}, tuner="hyperband"
        ).fit(X, y)
    with pytest.raises(ValueError, match="tuner"):
        DeepStackSearch(tiny(DeepStackClassifier), tuner="annealing").fit(X, y)
    # A value the estimator refuses: a choice, a range's bound, a constant.
    for space, shown in (
        ({"dropout": Choice([0.0, 1.5])}, "dropout=1.5"),
        ({"learning_rate": Float(1e-3, 2.0), "l2": -1.0}, "l2=-1.0"),
        ({"hidden_layer_sizes": [(4,), (0,)]}, "hidden_layer_sizes=(0,)"),
        # A trial gets floats from a Float range, and batch_size takes ints.
        ({"batch_size": Float(16, 64)}, "batch_size=16.0"),
    ):
        with pytest.raises(
            ValueError,
            match=rf"search_space gives {re.escape(shown)}, which DeepStackClassifier "
            "refuses: ",
        ):
            DeepStackSearch(tiny(DeepStackClassifier), space).fit(X, y)


def test_a_float_range_for_an_integer_parameter_says_to_use_int():
    with pytest.raises(ValueError, match=r"gives each trial a float; use Int"):
        ResolvedSpace({"batch_size": Float(16, 64)}, DeepStackClassifier())


@pytest.mark.parametrize(
    "space, estimator, match",
    [
        ({}, DeepStackClassifier(), "nothing to search"),
        ({"batch_size": 32, "dropout": (0.0, 0.2)}, None, "nothing to search"),
        ({"n_layers": range(1, 4)}, None, r"list\(range\(1, 4\)\)"),
        ({"batch_size": range(16, 65, 16)}, None, "a range object"),
        ({"n_layers": Int(-1, 2)}, None, "n_layers=-1; n_layers takes whole"),
        ({"units": [0, 8]}, None, "units=0; units takes whole numbers >= 1"),
        ({"n_layers": [1.5]}, None, "n_layers=1.5"),
        (
            {"n_layers": Int(1, 3)},
            DeepStackClassifier(()),
            r"n_layers without units, and DeepStackClassifier's "
            r"hidden_layer_sizes=\(\) has no width",
        ),
        ({"units": Int(4, 8)}, DeepStackClassifier(()), "give n_layers too"),
    ],
)
def test_spaces_that_cannot_search_are_refused_by_name(space, estimator, match):
    with pytest.raises(ValueError, match=match):
        ResolvedSpace(space, estimator or DeepStackClassifier((8,)))


def test_a_pipeline_has_no_default_space_and_is_told_what_to_give():
    pipe = make_pipeline(StandardScaler(), DeepStackClassifier())
    with pytest.raises(
        ValueError, match=r"Pipeline.*'deepstackclassifier__learning_rate'"
    ):
        default_search_space(pipe)
    with pytest.raises(ValueError, match="cannot build a space for Pipeline"):
        ResolvedSpace(None, pipe)
    # Its steps' parameters are searched by their nested names.
    space = ResolvedSpace({"deepstackclassifier__dropout": [0.0, 0.2]}, pipe)
    assert space.params({"deepstackclassifier__dropout": 0.2}) == {
        "deepstackclassifier__dropout": 0.2
    }


def test_numpy_values_in_a_choice_are_python_values():
    space = ResolvedSpace(
        {"batch_size": list(np.array([16, 32, 64])), "batch_norm": [np.bool_(False)]},
        DeepStackClassifier(batch_size=32),
    )
    assert space.ranges["batch_size"] == Choice([16, 32, 64])
    # The estimator's own 32 is found among them: the first trial is 32.
    params = space.params(space.hyperparameters().values)
    assert params == {"batch_size": 32, "batch_norm": False}
    assert type(params["batch_size"]) is int and type(params["batch_norm"]) is bool


def test_an_unknown_scorer_name_is_refused_by_its_parameter(classification_data):
    # scikit-learn's error named its check_scoring's 'scoring' and listed
    # every scorer name; the estimator's own check ran only in a trial.
    X, y = classification_data
    space = {"l2": Float(1e-4, 1e-2)}
    search = DeepStackSearch(tiny(DeepStackClassifier), space, objective="acuracy")
    with pytest.raises(
        ValueError,
        match=r"objective='acuracy' of DeepStackSearch .* \(did you mean 'accuracy'",
    ):
        search.fit(X, y)
    search = DeepStackSearch(tiny(DeepStackClassifier, scoring="f1_macr"), space)
    with pytest.raises(ValueError, match=r"scoring='f1_macr' of DeepStackClassifier"):
        search.fit(X, y)


def test_no_trial_completed_names_the_last_error_whole():
    import traceback

    try:
        try:
            raise KeyError("cause")
        except KeyError as cause:
            raise ValueError("first line\nsecond line: details\n  indented") from cause
    except ValueError:
        text = traceback.format_exc()
    error = no_trial_completed(2, [text], time_limit=None, out_of_time=False)
    assert str(error) == (
        "No trial of the search completed (2 trials): every trial failed; the "
        "last with ValueError: first line\nsecond line: details\n  indented"
    )
    assert error.last_error == text


def test_tuner_options_cannot_set_what_the_search_sets(classification_data):
    X, y = classification_data
    for option, instead in (("max_trials", "max_trials"), ("seed", "random_state")):
        search = DeepStackSearch(
            tiny(DeepStackClassifier), {"dropout": [0.0]}, tuner_options={option: 1}
        )
        with pytest.raises(
            ValueError,
            match=rf"tuner_options must not contain \['{option}'\].*{instead}",
        ):
            search.fit(X, y)


def test_no_trial_completed_is_importable_where_the_readme_names_it():
    assert deepstack.NoTrialCompletedError is NoTrialCompletedError
    assert "NoTrialCompletedError" in deepstack.__all__


@pytest.mark.parametrize("verbose", [0, 1])
def test_some_failed_trials_print_nothing_and_are_recorded(
    regression_data, capfd, verbose
):
    # keras-tuner printed each failed trial's whole traceback to stderr, and
    # results_ said only "FAILED"; at verbose=1 it said "Trial 2 Complete".
    X, y = regression_data
    search = DeepStackSearch(
        tiny(DeepStackRegressor, max_epochs=1),
        {"loss": ["squared_error", "poisson"]},
        tuner="grid",
        max_trials=2,
        verbose=verbose,
    )
    with pytest.warns(UserWarning, match=r"1 of 2 trials failed, the last with Valu"):
        search.fit(X, y)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    trial_lines = re.findall(r"Trial \d+ (?:Complete|failed|invalid) .*", out)
    if verbose:
        assert trial_lines[0].startswith("Trial 1 Complete [")
        assert re.fullmatch(
            r"Trial 2 failed \[.*\]: ValueError: .*loss='poisson' needs.*",
            trial_lines[1],
        ), trial_lines
    assert len(trial_lines) == (2 if verbose else 0), out
    assert search.results_["status"] == ["COMPLETED", "FAILED"]
    error = search.results_["error"]
    assert error[0] is None and error[1].startswith("ValueError: ")
    assert "loss='poisson' needs" in error[1]
    assert search.best_params_["loss"] == "squared_error"


def test_failed_trials_raise_with_the_cause(regression_data):
    X, y = regression_data
    # A value that only the data refuses (targets below zero).
    search = DeepStackSearch(
        tiny(DeepStackRegressor), {"loss": ["poisson"]}, tuner="random", max_trials=1
    )
    with pytest.raises(
        NoTrialCompletedError,
        match=r"No trial of the search completed \(1 trial\): every trial failed; "
        "the last with ValueError: .*loss='poisson' needs",
    ) as caught:
        search.fit(X, y)
    assert "Traceback" in caught.value.last_error
    # keras-tuner ends a search after 3 failed trials in a row: the trials
    # so far are kept, and none completed.
    rates = [1e-2, 3e-3, 1e-3, 3e-4, 1e-4]
    search.set_params(
        max_trials=5, search_space={"loss": ["poisson"], "learning_rate": rates}
    )
    with (
        pytest.warns(UserWarning, match="stopped after 3 failed trials in a row"),
        pytest.raises(NoTrialCompletedError, match=r"completed \(3 trials\)"),
    ):
        search.fit(X, y)


def test_a_time_limit_that_ends_the_search_before_any_trial_says_so(
    classification_data,
):
    X, y = classification_data
    search = DeepStackSearch(
        tiny(DeepStackClassifier), tuner="random", max_trials=3, time_limit=1e-6
    )
    with pytest.raises(
        NoTrialCompletedError,
        match=r"\(0 trials\): the time limit \(1e-06 s\) ended the search before "
        "any trial completed",
    ):
        search.fit(X, y)


# ---------------------------------------------------------------- search


@pytest.mark.parametrize(
    ("training", "error"),
    [
        (1, KeyboardInterrupt()),  # in the first trial
        (3, KeyboardInterrupt()),  # in the refit (after two trials)
        (3, RuntimeError("disk full")),
    ],
)
def test_a_failed_refit_leaves_the_search_as_it_was(
    classification_data, training, error
):
    # The new n_features_in_ sat beside the old best_estimator_ (in a
    # trial), or new results_ beside an unfitted clone (in the refit).
    X, y = classification_data
    search = DeepStackSearch(
        tiny(DeepStackClassifier, hidden_layer_sizes=(4,), max_epochs=2),
        {"learning_rate": Float(1e-3, 1e-1, log=True)},
        tuner="random",
        max_trials=2,
        random_state=0,
    ).fit(X, y)
    best, results = search.best_estimator_, search.results_
    params, before = dict(search.best_params_), search.predict_proba(X)
    X2 = X[:, :5]
    search.set_params(
        estimator=clone(search.estimator).set_params(
            callbacks=[fails_in_training(training, error)]
        )
    )
    with pytest.raises(type(error)):
        search.fit(X2, y)
    assert search.n_features_in_ == 8 and search.best_estimator_ is best
    assert search.results_ == results and search.best_params_ == params
    np.testing.assert_array_equal(search.predict_proba(X), before)


def test_search_in_pipeline(classification_data):
    X, y = classification_data
    search = DeepStackSearch(
        tiny(DeepStackClassifier, hidden_layer_sizes=(8,), max_epochs=2),
        {"learning_rate": Float(1e-3, 1e-1, log=True), "n_layers": Int(1, 2)},
        tuner="random",
        max_trials=2,
        random_state=0,
    )
    pipe = make_pipeline(StandardScaler(), search).fit(X, y)

    frame = pd.DataFrame(search.results_)
    assert len(frame) == search.n_trials_ == 2
    assert set(frame["status"]) == {"COMPLETED"}
    assert (frame["n_epochs"] == 2).all() and (frame["fit_time"] > 0).all()
    assert frame["score"].between(0, 1).all()
    assert search.best_score_ == frame["score"].max()
    best = frame.iloc[search.best_index_]
    assert search.best_params_ == best["params"]
    assert search.best_params_["hidden_layer_sizes"] == (8,) * best["param_n_layers"]
    assert search.best_params_["learning_rate"] == best["param_learning_rate"]
    assert frame["param_learning_rate"].between(1e-3, 1e-1).all()

    fitted = search.best_estimator_
    assert fitted.get_params()["learning_rate"] == search.best_params_["learning_rate"]
    Xs = pipe[0].transform(X)
    assert fitted.n_features_in_ == search.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(search.predict(Xs), fitted.predict(Xs))
    proba = pipe.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert pipe.score(X, y) == fitted.score(Xs, y)
    np.testing.assert_array_equal(search.classes_, np.unique(y))
    assert search.role_ == "single"
    assert not search.time_limit_reached_
    # directory=None: a temporary directory, gone after fit.
    assert not os.path.exists(search.tuner_.directory)

    restored = pickle.loads(pickle.dumps(pipe))
    assert not hasattr(restored[-1], "tuner_")
    assert restored[-1].results_["trial_id"] == search.results_["trial_id"]
    np.testing.assert_allclose(restored.predict_proba(X), proba, rtol=1e-5)

    fresh = clone(search)
    assert not hasattr(fresh, "results_")
    assert fresh.get_params()["estimator__max_epochs"] == 2


def test_regressor_grid_with_validation_data_and_scorer(regression_data):
    X, y = regression_data
    search = DeepStackSearch(
        tiny(DeepStackRegressor, hidden_layer_sizes=(8,), max_epochs=2),
        {"dropout": [0.0, 0.3], "batch_size": 64},
        tuner="grid",
        max_trials=None,
        objective="neg_mean_squared_error",
        refit=False,
        random_state=0,
    ).fit(X[:120], y[:120], X_val=X[120:], y_val=y[120:])
    # The grid has two points and is exhausted; the first is the estimator's own.
    assert search.results_["param_dropout"] == [0.0, 0.3]
    assert all(p["batch_size"] == 64 for p in search.results_["params"])
    scores = np.array(search.results_["score"])
    assert (scores < 0).all() and search.best_score_ == scores.max()
    with pytest.raises(AttributeError, match="refit=False"):
        search.predict(X)
    assert search.__sklearn_tags__().estimator_type == "regressor"


def _hyperband_search(estimator, **params):
    """A Hyperband search of ``learning_rate`` in one bracket: with factor 2
    over an estimator's ``max_epochs=2``, two 1-epoch trials, then the better
    one continued to 2 epochs."""
    return DeepStackSearch(
        estimator,
        {"learning_rate": Float(1e-3, 1e-1, log=True)},
        tuner="hyperband",
        max_trials=3,
        tuner_options={"factor": 2},
        random_state=0,
        **params,
    )


def test_hyperband_continues_without_pretraining_again(
    classification_data, monkeypatch
):
    calls = []
    original = deepstack._pretraining.initialize_network

    def counting(config, model, X, seed, **kwargs):
        calls.append(config.kind)
        return original(config, model, X, seed, **kwargs)

    monkeypatch.setattr(deepstack._pretraining, "initialize_network", counting)
    X, y = classification_data
    search = _hyperband_search(
        tiny(
            DeepStackClassifier,
            hidden_layer_sizes=(8,),
            max_epochs=2,
            pretrain="autoencoder",
            pretrain_epochs=1,
        ),
        refit=False,
    ).fit(X, y)
    results = search.results_
    # Bracket of factor 2 over max_epochs=2: two 1-epoch trials, then the best
    # of them continued to 2 epochs from its saved estimator.
    assert results["budget"] == [1, 1, 2]
    assert results["continued_from"][:2] == [None, None]
    past = results["continued_from"][2]
    first_two = dict(zip(results["trial_id"][:2], results["score"][:2]))
    assert past == max(first_two, key=first_two.get)
    past_row = results["trial_id"].index(past)
    assert results["param_learning_rate"][2] == results["param_learning_rate"][past_row]
    assert results["n_epochs"] == [1, 1, 2]
    # Only the two fresh trials pretrained; the continuation did not.
    assert calls == ["autoencoder", "autoencoder"]
    # The refit trains the full budget, not the chosen trial's round budget.
    assert search.best_params_["max_epochs"] == 2
    assert [p["max_epochs"] for p in results["params"]] == results["budget"]


class _FitRecorder(DeepStackClassifier):
    """Records, at each fit, whether it warm-starts and its callbacks."""

    fits = []

    def fit(self, X, y, **kwargs):
        _FitRecorder.fits.append((self.warm_start, self.callbacks))
        return super().fit(X, y, **kwargs)


def test_hyperband_continuation_keeps_the_search_estimators_callbacks(
    classification_data, tmp_path
):
    # The saved trial stores callbacks=None (code is not saved); without a
    # time limit the continuation trained without the user's callbacks.
    X, y = classification_data
    _FitRecorder.fits = []
    estimator = tiny(_FitRecorder, max_epochs=2, callbacks=[TerminateOnNaN()])
    search = _hyperband_search(estimator, refit=False, directory=str(tmp_path))
    search.fit(X, y)
    assert search.results_["continued_from"][2] is not None
    warm = [warm for warm, _ in _FitRecorder.fits]
    assert warm == [False, False, True]
    kinds = [[type(cb) for cb in callbacks or []] for _, callbacks in _FitRecorder.fits]
    assert kinds == [[TerminateOnNaN]] * 3


def test_hyperband_refits_the_full_budget_when_it_stops_before_promoting(
    classification_data,
):
    X, y = classification_data
    search = DeepStackSearch(
        tiny(DeepStackClassifier, hidden_layer_sizes=(4,), max_epochs=8),
        {"learning_rate": [1e-2]},
        tuner="hyperband",
        max_trials=None,
        random_state=0,
    ).fit(X, y)
    # One candidate: keras-tuner ends after the first round, before promoting
    # it from 3 epochs to 8.
    assert search.results_["budget"] == [3]
    assert search.results_["params"][0]["max_epochs"] == 3
    assert search.best_params_ == {"learning_rate": 1e-2, "max_epochs": 8}
    assert search.best_estimator_.max_epochs == 8
    assert search.best_estimator_.n_iter_ == 8


def test_hyperband_budgets_the_epoch_parameter_the_estimator_has(classification_data):
    X, y = classification_data
    common = dict(
        tuner="hyperband", max_trials=3, tuner_options={"factor": 2}, random_state=0
    )
    # StackedAutoencoder's budget is epochs; it has no warm_start, so the
    # promoted trial trains its 2 epochs afresh.
    sae = DeepStackSearch(
        StackedAutoencoder((4,), epochs=2, random_state=0),
        {"learning_rate": [1e-3, 1e-2]},
        **common,
    ).fit(X)
    assert sae.results_["status"] == ["COMPLETED"] * 3
    assert sae.results_["budget"] == [1, 1, 2]
    assert [p["epochs"] for p in sae.results_["params"]] == [1, 1, 2]
    assert sae.best_params_["epochs"] == 2 and sae.best_estimator_.epochs == 2
    # A Pipeline's is its one nested max_epochs.
    pipe = make_pipeline(StandardScaler(), tiny(DeepStackClassifier, max_epochs=2))
    search = DeepStackSearch(
        pipe, {"deepstackclassifier__dropout": [0.0, 0.2]}, **common
    ).fit(X, y)
    assert search.results_["status"] == ["COMPLETED"] * 3
    budgets = [p["deepstackclassifier__max_epochs"] for p in search.results_["params"]]
    assert budgets == search.results_["budget"] == [1, 1, 2]
    assert search.best_params_["deepstackclassifier__max_epochs"] == 2
    assert search.best_estimator_[-1].n_iter_ == 2


def test_hyperband_refuses_an_estimator_without_one_epoch_parameter(
    classification_data,
):
    from sklearn.ensemble import VotingClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = classification_data
    with pytest.raises(ValueError, match="LogisticRegression has no max_epochs"):
        DeepStackSearch(LogisticRegression(), {"C": [0.1, 1.0]}, tuner="hyperband").fit(
            X, y
        )
    two = VotingClassifier([("a", DeepStackClassifier()), ("b", DeepStackClassifier())])
    with pytest.raises(
        ValueError, match=r"several epoch parameters: \['a__max_epochs', 'b__max"
    ):
        DeepStackSearch(two, {"a__dropout": [0.0, 0.1]}, tuner="hyperband").fit(X, y)
    with pytest.raises(ValueError, match=r"must not contain \['epochs'\]"):
        DeepStackSearch(
            StackedAutoencoder(), {"epochs": [1, 2]}, tuner="hyperband"
        ).fit(X)


def test_results_are_in_the_order_of_the_trial_numbers():
    # keras-tuner pads trial ids to the width of max_trials, which a resumed
    # search may have raised: "1" comes before "02" and "10".
    search = DeepStackSearch(DeepStackClassifier())
    search.role_ = "single"
    space = ResolvedSpace({"dropout": [0.0, 0.1]}, DeepStackClassifier())
    trials = [
        {
            "trial_id": trial_id,
            "status": "COMPLETED",
            "values": {"dropout": 0.1},
            "metrics": {"score": score},
        }
        for trial_id, score in (("10", 0.4), ("02", 0.3), ("1", 0.2), ("0", 0.1))
    ]
    search._record(trials, space)
    assert search.results_["trial_id"] == ["0", "1", "02", "10"]
    assert search.results_["score"] == [0.1, 0.2, 0.3, 0.4]
    assert search.best_index_ == 3


def test_bayesian_optimization_never_repeats_a_trial(monkeypatch, tmp_path):
    from deepstack.tuning import _kt_compat

    hp = ResolvedSpace(
        {"dropout": [0.0, 0.1, 0.2]}, DeepStackClassifier()
    ).hyperparameters()
    oracle = make_oracle(
        "bayesian",
        max_trials=4,
        hyperparameters=hp,
        seed=0,
        max_epochs=None,
        options={"num_initial_points": 1},
    )
    oracle.verbose = 0
    oracle._set_project_dir(str(tmp_path), "bayesian")
    # The Gaussian process proposes the first point over and over.
    parent = _kt_compat.ORACLES["bayesian"]
    monkeypatch.setattr(
        parent,
        "populate_space",
        lambda self, trial_id: {"status": "RUNNING", "values": {"dropout": 0.0}},
    )
    tried = []
    while (trial := oracle.create_trial("tuner0")).status == "RUNNING":
        tried.append(trial.hyperparameters.values["dropout"])
        oracle.update_trial(trial.trial_id, {"score": 0.5})
        oracle.end_trial(trial)
    # Repeats were replaced by random draws, until none was left.
    assert tried[0] == 0.0 and sorted(tried) == [0.0, 0.1, 0.2]


def test_group_splitters_get_the_groups_given_to_fit(classification_data):
    from sklearn.model_selection import GroupKFold

    X, y = classification_data
    groups = np.arange(len(y)) % 4
    search = DeepStackSearch(
        tiny(DeepStackClassifier, max_epochs=1),
        {"dropout": [0.0, 0.1]},
        tuner="random",
        max_trials=1,
        cv=GroupKFold(2),
        refit=False,
        random_state=0,
    )
    data = trial_data(
        X,
        y,
        None,
        None,
        None,
        cv=search.cv,
        validation_fraction=search.validation_fraction,
        classifier=True,
        seed=0,
        groups=groups,
    )
    for train, val in data.splits:
        assert set(groups[train]).isdisjoint(groups[val])
    search.fit(X, y, groups=groups)
    assert len(search.results_["fold_scores"][0]) == 2
    with pytest.raises(ValueError, match="groups is for a group splitter"):
        search.set_params(cv=None).fit(X, y, groups=groups)


class _CountingFits(DeepStackClassifier):
    fits = 0

    def fit(self, X, y, **kwargs):
        type(self).fits += 1
        return super().fit(X, y, **kwargs)


def test_a_search_directory_resumes_only_the_same_search(classification_data, tmp_path):
    X, y = classification_data

    def search(space, X, y):
        return DeepStackSearch(
            tiny(_CountingFits, hidden_layer_sizes=(4,), max_epochs=1),
            space,
            tuner="grid",
            max_trials=2,
            refit=False,
            directory=tmp_path,
            overwrite=False,
            random_state=0,
        ).fit(X, y)

    _CountingFits.fits = 0
    first = search({"learning_rate": [1e-3, 3e-2]}, X, y)
    assert _CountingFits.fits == 2
    # A genuine resume: nothing left to run, the same trials and scores.
    again = search({"learning_rate": [1e-3, 3e-2]}, X, y)
    assert _CountingFits.fits == 2
    assert again.results_["score"] == first.results_["score"]
    assert again.best_params_ == first.best_params_

    project = re.escape(str(tmp_path / "deepstack_search"))
    with pytest.raises(ValueError, match=rf"{project} .*data: X, y.*overwrite=True"):
        search({"learning_rate": [1e-3, 3e-2]}, X[::-1], y[::-1])
    with pytest.raises(ValueError, match=r"search_space\.dropout: \(absent\) then"):
        search({"dropout": [0.0, 0.5]}, X, y)
    with pytest.raises(ValueError, match=r"estimator\.max_epochs: 1 then, 2 now"):
        DeepStackSearch(
            tiny(_CountingFits, hidden_layer_sizes=(4,), max_epochs=2),
            {"learning_rate": [1e-3, 3e-2]},
            tuner="grid",
            directory=tmp_path,
            overwrite=False,
            random_state=0,
        ).fit(X, y)
    assert _CountingFits.fits == 2  # every refusal came before any trial
    # overwrite=True starts afresh in the same directory, and records the new
    # search, which can then be resumed.
    DeepStackSearch(
        tiny(_CountingFits, hidden_layer_sizes=(4,), max_epochs=1),
        {"dropout": [0.0, 0.5]},
        tuner="grid",
        max_trials=2,
        refit=False,
        directory=tmp_path,
        random_state=0,
    ).fit(X, y)
    assert _CountingFits.fits == 4
    resumed = search({"dropout": [0.0, 0.5]}, X, y)
    assert _CountingFits.fits == 4
    assert resumed.results_["param_dropout"] == [0.0, 0.5]


@pytest.mark.parametrize(
    "damaged", ["oracle.json", os.path.join("trial_0", "trial.json"), "tuner0.json"]
)
def test_a_damaged_tuner_file_is_named_with_the_remedy(
    classification_data, tmp_path, damaged
):
    # A search killed while keras-tuner wrote a file: a bare JSONDecodeError.
    X, y = classification_data

    def search():
        return DeepStackSearch(
            tiny(DeepStackClassifier, hidden_layer_sizes=(4,), max_epochs=1),
            {"learning_rate": [1e-3, 3e-2]},
            tuner="grid",
            max_trials=2,
            refit=False,
            directory=tmp_path,
            overwrite=False,
            random_state=0,
        )

    search().fit(X, y)
    path = tmp_path / "deepstack_search" / damaged
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    named = re.escape(repr(str(path)))
    with pytest.raises(ValueError, match=rf"{named} is damaged.*overwrite=True"):
        search().fit(X, y)
    again = search().set_params(overwrite=True).fit(X, y)
    assert again.n_trials_ == 2


def test_a_search_directory_without_a_record_is_resumed_with_a_warning(tmp_path):
    from deepstack.tuning import _identity

    _identity.check(str(tmp_path / "none"), {"data": "0"})  # nothing to resume
    (tmp_path / "oracle.json").write_text("{}")  # an older deepstack's search
    with pytest.warns(UserWarning, match="resumed unchecked.*overwrite=True"):
        _identity.check(str(tmp_path), {"data": "0"})
    # Strings and DataFrames are digested by value, not by object address.
    frame = pd.DataFrame({"a": ["x", "y"], "b": [1.0, 2.0]})
    digest = _identity.data_digest([frame, np.array(["p", "q"], dtype=object)])
    again = _identity.data_digest([frame.copy(), np.array(["p", "q"], dtype=object)])
    assert digest == again
    assert digest != _identity.data_digest([frame.rename(columns={"a": "c"}), None])


def test_gridsearchcv_keeps_working(classification_data):
    X, y = classification_data
    estimator = tiny(DeepStackClassifier, hidden_layer_sizes=(8,), max_epochs=2)
    grid = GridSearchCV(estimator, {"dropout": [0.1]}, cv=2, refit=False).fit(X, y)
    score = grid.cv_results_["mean_test_score"][0]
    # The same seeded fits as a plain cross-validation at that point.
    expected = cross_val_score(clone(estimator).set_params(dropout=0.1), X, y, cv=2)
    assert score == pytest.approx(expected.mean(), abs=1e-12)
    assert score > 1 / 3  # above chance for three balanced classes


# ------------------------------------------------------------ hypermodel


def test_hypermodel_with_keras_tuner(classification_data, tmp_path):
    X, y = classification_data
    hypermodel = DeepStackHyperModel(
        tiny(DeepStackClassifier, max_epochs=1),
        X,
        y,
        {"n_layers": Int(1, 2), "units": [4, 8], "dropout": [0.0, 0.3]},
    )
    hp = keras_tuner.HyperParameters()
    hp.values.update({"n_layers": 2, "units": 4})
    model = hypermodel.build(hp)
    assert model.output_shape == (None, 3)
    assert [model.get_layer(f"hidden_{i}").units for i in (1, 2)] == [4, 4]
    assert model.loss == "sparse_categorical_crossentropy"
    assert model.optimizer is not None

    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective="val_accuracy",
        max_trials=1,
        seed=0,
        directory=str(tmp_path),
        overwrite=True,
    )
    tuner.search(X, y, validation_data=(X, y), verbose=0)
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == "COMPLETED"
    # The trial's score is the accuracy of the network it saved, loaded
    # whole: the optimizer's state too (Keras skipped it, with a warning,
    # into an unbuilt optimizer).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (network,) = tuner.get_best_models(1)
    assert int(network.optimizer.iterations.numpy()) > 0
    accuracy = np.mean(np.argmax(network.predict(X, verbose=0), axis=1) == y)
    assert trial.score == pytest.approx(accuracy, abs=1e-6)
    best = hypermodel.estimator_from(tuner.get_best_hyperparameters()[0])
    assert isinstance(best, DeepStackClassifier)
    n_layers = trial.hyperparameters.values["n_layers"]
    units = trial.hyperparameters.values["units"]
    assert best.hidden_layer_sizes == (units,) * n_layers


def test_hypermodel_trains_through_the_training_path_at_the_found_rate(
    classification_data, monkeypatch
):
    import keras

    from deepstack import _lr_finder, _trainer

    X, y = classification_data
    found, trained = [], []
    search, train = _lr_finder.search_learning_rate, _trainer.train

    def recording_search(*args, **kwargs):
        result = search(*args, **kwargs)
        found.append(result.learning_rate)
        return result

    def training(model, *args, **kwargs):
        trained.append(kwargs["epochs"])
        return train(model, *args, **kwargs)

    def no_fit(*args, **kwargs):
        raise AssertionError("the HyperModel called keras.Model.fit")

    monkeypatch.setattr(_lr_finder, "search_learning_rate", recording_search)
    monkeypatch.setattr(_trainer, "train", training)
    monkeypatch.setattr(keras.Model, "fit", no_fit)
    hypermodel = DeepStackHyperModel(
        tiny(DeepStackClassifier, learning_rate="auto", optimizer="sgd"),
        X,
        y,
        {"dropout": [0.0]},
    )
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    history = hypermodel.fit(hp, model, X, y, validation_data=(X, y), epochs=3)
    assert isinstance(history, keras.callbacks.History)
    # The finder ran on the training rows and training started at its rate,
    # not at the 1e-3 placeholder the network was compiled with.
    assert len(found) == 1 and found[0] != pytest.approx(1e-3)
    assert history.history["learning_rate"][0] == pytest.approx(found[0])
    # The fine-tuning itself: one run of 3 epochs (after the finder's runs).
    assert trained[-1] == 3 and len(history.history["loss"]) == 3
    assert history.epoch == [0, 1, 2]
    assert 0.0 <= history.history["val_accuracy"][-1] <= 1.0
    with pytest.raises(TypeError, match="shuffle"):
        hypermodel.fit(hp, model, X, y, shuffle=False)


def test_search_over_an_unsupervised_transformer():
    from sklearn.datasets import load_digits

    from deepstack import StackedAutoencoder

    X = load_digits().data[:150] / 16.0
    search = DeepStackSearch(
        StackedAutoencoder((4,), epochs=1, random_state=0),
        {"learning_rate": Float(1e-3, 1e-1, log=True)},
        tuner="random",
        max_trials=1,
        random_state=0,
    ).fit(X)
    assert search.results_["score"][0] <= 0  # negative reconstruction error
    codes = search.transform(X[:5])
    np.testing.assert_allclose(codes, search.best_estimator_.transform(X[:5]))
    assert codes.shape == (5, 4)
    assert search.score(X) == search.best_estimator_.score(X)


def _scorer_recording_pid(path, estimator, X, y):
    with open(path, "a") as handle:
        handle.write(f"{os.getpid()}\n")
    return estimator.score(X, y)


def test_trials_in_worker_processes_match_trials_in_this_one(
    classification_data, tmp_path
):
    X, y = classification_data
    runs = {}
    for trials_per_process in (None, 2):
        log = tmp_path / f"pids-{trials_per_process}.txt"
        search = _hyperband_search(
            tiny(DeepStackClassifier, hidden_layer_sizes=(8,), max_epochs=2),
            objective=functools.partial(_scorer_recording_pid, log),
            trials_per_process=trials_per_process,
        ).fit(X, y)
        runs[trials_per_process] = search, log.read_text().split()
    (here, here_pids), (there, there_pids) = runs[None], runs[2]
    # The same trials, scores and Hyperband continuation, bit for bit: the
    # third trial continues in a fresh worker from the estimator that the
    # first worker saved.
    assert there.results_["score"] == here.results_["score"]
    assert there.results_["n_epochs"] == here.results_["n_epochs"] == [1, 1, 2]
    assert there.results_["continued_from"] == here.results_["continued_from"]
    assert there.best_params_ == here.best_params_
    # Three trials, two per worker: two workers, neither of them this process.
    me = str(os.getpid())
    assert here_pids == [me] * 3
    assert me not in there_pids
    assert there_pids[0] == there_pids[1] != there_pids[2]
    np.testing.assert_array_equal(there.predict(X), here.predict(X))


# ------------------------------------------- first trial, time limit


def test_default_space_is_centred_on_the_estimator():
    clf = DeepStackClassifier()
    space = default_search_space(clf)
    assert space["learning_rate"] == Float(2.5e-4, 4e-3, log=True)
    assert space["dropout"] == Float(0.1, 0.5)
    assert "sgd" not in space["optimizer"].values
    assert default_search_space(DeepStackClassifier(dropout=0.0))["dropout"] == (
        Float(0.0, 0.2)
    )
    # The ranges' defaults are the estimator itself: dropout="auto" and
    # batch_norm="auto" enter as the values fit resolves them to (0.3 and on
    # for a classifier), and that point is the estimator exactly as given.
    resolved = ResolvedSpace(None, clf)
    values = resolved.hyperparameters().values
    assert values["dropout"] == pytest.approx(0.3) and values["batch_norm"] is True
    params = resolved.params(values)
    assert params == {name: clf.get_params()[name] for name in params}
    assert params["dropout"] == "auto" and params["pretrain"] is None
    assert set(params) == {
        "learning_rate",
        "dropout",
        "hidden_layer_sizes",
        "batch_norm",
        "optimizer",
        "pretrain",
        "pretrain_epochs",
    }


@pytest.mark.parametrize(
    "given",
    [
        {"hidden_layer_sizes": (128, 64)},  # not (units,) * n_layers
        {"learning_rate": "auto"},  # not a number in a Float range
        {"pretrain": "autoencoder", "pretrain_epochs": 7},  # not a choice
    ],
)
@pytest.mark.parametrize("search_space", [None, "wide"])
def test_the_default_space_starts_from_the_estimator_exactly_as_given(
    given, search_space
):
    clf = DeepStackClassifier(**given)
    space = ResolvedSpace(search_space, clf)
    values = space.hyperparameters().values
    first = space.params(values)
    assert {name: first[name] for name in given} == given
    assert first == {name: clf.get_params()[name] for name in first}
    # So is a Hyperband promotion of that point, while any other point is
    # what its values say.
    promoted = {**values, "tuner/epochs": 4, "tuner/trial_id": "0"}
    assert space.params(promoted) == first
    other = space.params({**values, "n_layers": 3, "units": 64})
    assert other["hidden_layer_sizes"] == (64, 64, 64)
    assert other["learning_rate"] == pytest.approx(values["learning_rate"])
    # A space the user gives means what it says: a value outside its range
    # starts from the range's default.
    mine = ResolvedSpace({"learning_rate": Float(2e-3, 1e-1, log=True)}, clf)
    assert mine.params(mine.hyperparameters().values) == {"learning_rate": 2e-3}


def test_a_default_space_search_refits_the_estimator_as_given(classification_data):
    X, y = classification_data
    estimator = tiny(DeepStackClassifier, hidden_layer_sizes=(8, 4), max_epochs=1)
    search = DeepStackSearch(
        estimator, tuner="random", max_trials=1, random_state=0
    ).fit(X, y)
    assert search.results_["params"][0]["hidden_layer_sizes"] == (8, 4)
    assert search.best_params_["hidden_layer_sizes"] == (8, 4)
    assert search.best_estimator_.get_params() == estimator.get_params()


@pytest.mark.parametrize("kind", ["random", "bayesian", "hyperband"])
def test_first_trial_is_the_estimator_and_the_search_never_loses_to_it(
    kind, classification_data
):
    X, y = classification_data
    estimator = tiny(DeepStackClassifier, hidden_layer_sizes=(8,), max_epochs=4)
    search = DeepStackSearch(
        estimator,
        {"learning_rate": Float(1e-3, 1e-1, log=True), "dropout": Float(0.0, 0.5)},
        tuner=kind,
        max_trials=3,
        tuner_options={"factor": 2} if kind == "hyperband" else None,
        refit=kind == "random",
        random_state=0,
    ).fit(X[:150], y[:150], X_val=X[150:], y_val=y[150:])
    first = search.results_["params"][0]
    assert first["learning_rate"] == pytest.approx(1e-2)
    assert first["dropout"] == pytest.approx(0.2)
    if kind != "random":
        return
    # The estimator alone, as given (the trials keep its random_state).
    assert search.best_estimator_.random_state == 0
    alone = clone(estimator)
    alone.fit(X[:150], y[:150], X_val=X[150:], y_val=y[150:])
    default_score = alone.score(X[150:], y[150:])
    assert search.results_["score"][0] == default_score
    assert search.best_score_ >= default_score
    # Without it, the first trial is a random draw.
    drawn = DeepStackSearch(
        estimator,
        {"learning_rate": Float(1e-3, 1e-1, log=True)},
        tuner="random",
        max_trials=1,
        start_from_estimator=False,
        refit=False,
        random_state=0,
    ).fit(X[:150], y[:150], X_val=X[150:], y_val=y[150:])
    assert drawn.results_["params"][0]["learning_rate"] != pytest.approx(1e-2)


def test_the_first_trial_is_kept_unless_beaten_beyond_the_noise():
    search = DeepStackSearch(DeepStackClassifier())
    search.role_ = "single"
    scores = np.array([0.90, 0.91, 0.50])
    # Paired fold differences of trial 1 against trial 0: mean 0.01, standard
    # error std([0.05, -0.02, 0.0], ddof=1) / sqrt(3) = 0.036056 / 1.732 = 0.0208.
    noisy = [[0.90, 0.90, 0.90], [0.95, 0.88, 0.90], [0.5, 0.5, 0.5]]
    assert search._choose(scores, noisy) == 0
    assert search.min_improvement_ == pytest.approx(0.036056 / np.sqrt(3), rel=1e-4)
    # The same mean gain on every fold: no noise, the better trial wins.
    steady = [[0.90, 0.90, 0.90], [0.91, 0.91, 0.91], [0.5, 0.5, 0.5]]
    assert search._choose(scores, steady) == 1
    # One validation split: no estimate of the noise, the best score wins.
    assert search._choose(scores, [[0.90], [0.91], [0.5]]) == 1
    assert search.set_params(min_improvement=0.02)._choose(scores, steady) == 0
    assert search.set_params(min_improvement=0.0)._choose(scores, noisy) == 1
    assert (
        search.set_params(start_from_estimator=False, min_improvement=0.5)._choose(
            scores, noisy
        )
        == 1
    )
    assert search.min_improvement_ == 0.0
    # A distributed worker's first trial need not be the estimator's.
    search.set_params(start_from_estimator=True, min_improvement=0.5).role_ = "worker"
    assert search._choose(scores, noisy) == 1


def test_a_search_that_finds_nothing_better_refits_the_estimator(classification_data):
    X, y = classification_data
    estimator = tiny(DeepStackClassifier, hidden_layer_sizes=(8,), max_epochs=3)
    search = DeepStackSearch(
        estimator,
        {"learning_rate": Float(1e-3, 1e-1, log=True)},
        tuner="random",
        max_trials=3,
        min_improvement=1.0,  # no accuracy gain can exceed it
        random_state=0,
    ).fit(X, y)
    assert search.best_index_ == 0 and search.min_improvement_ == 1.0
    assert search.best_params_["learning_rate"] == pytest.approx(1e-2)
    alone = clone(estimator).fit(X, y)
    np.testing.assert_array_equal(
        search.best_estimator_.predict_proba(X), alone.predict_proba(X)
    )


def _endless():
    """A classifier that trains until something stops it."""
    return tiny(
        DeepStackClassifier,
        hidden_layer_sizes=(8,),
        max_epochs=100_000,
        n_iter_no_change=100_000,
        lr_schedule="constant",
    )


def test_time_limit_cuts_the_search_and_the_running_trial(classification_data):
    from deepstack import _trainer
    from deepstack.callbacks import TimeLimit

    assert not _trainer.has_batch_hooks([TimeLimit(0.0)])  # keeps the fused loop
    X, y = classification_data
    search = DeepStackSearch(
        _endless(),
        {"learning_rate": Float(1e-3, 1e-2, log=True)},
        tuner="random",
        max_trials=20,
        time_limit=1.5,
        refit=False,
        random_state=0,
    ).fit(X, y)
    assert search.time_limit_reached_
    # One trial started, ran until the limit, and stopped at an epoch end.
    assert search.n_trials_ == 1
    assert search.results_["cut_short"] == [True]
    assert search.results_["status"] == ["COMPLETED"]
    assert 1 <= search.results_["n_epochs"][0] < 100_000
    assert np.isfinite(search.best_score_)
    assert search.search_time_ < 1.5 + 30  # one epoch and the bookkeeping


@pytest.mark.parametrize("in_pipeline", [False, True], ids=["estimator", "pipeline"])
def test_refit_in_budget_stops_the_refit_at_the_deadline(
    classification_data, in_pipeline
):
    # In a Pipeline the limit goes on the network's nested callbacks (it was
    # added only to a top-level callbacks parameter: a Pipeline's trial
    # trained its 100,000 epochs past the deadline).
    X, y = classification_data
    estimator = (
        make_pipeline(StandardScaler(), _endless()) if in_pipeline else _endless()
    )
    prefix = "deepstackclassifier__" if in_pipeline else ""
    search = DeepStackSearch(
        estimator,
        {f"{prefix}learning_rate": Float(1e-3, 1e-2, log=True)},
        tuner="random",
        max_trials=5,
        time_limit=1.0,
        refit_in_budget=True,
        random_state=0,
    ).fit(X, y)
    assert search.n_trials_ == 1 and search.results_["cut_short"] == [True]
    assert 1 <= search.results_["n_epochs"][0] < 100_000
    # The refit starts past the deadline: it stops at the end of its first epoch.
    assert search.refit_cut_short_ and search.time_limit_reached_
    refit = search.best_estimator_[-1] if in_pipeline else search.best_estimator_
    assert len(refit.history_["loss"]) == 1
    # The deadline is not left in the refit estimator nor in the user's.
    assert refit.callbacks is None
    assert (estimator[-1] if in_pipeline else estimator).callbacks is None


def test_refit_in_budget_needs_a_callbacks_parameter(classification_data):
    X, _ = classification_data
    with pytest.raises(ValueError, match="refit_in_budget=True needs an estimator"):
        DeepStackSearch(
            StackedAutoencoder((4,), epochs=1), refit_in_budget=True, time_limit=1.0
        ).fit(X)


def test_a_time_limit_stops_pretraining_at_an_epoch_boundary(classification_data):
    from deepstack.callbacks import TimeLimit

    X, y = classification_data
    clf = tiny(
        DeepStackClassifier,
        hidden_layer_sizes=(8, 8),
        max_epochs=100_000,
        n_iter_no_change=100_000,
        pretrain="autoencoder",
        pretrain_epochs=100_000,
        callbacks=[TimeLimit(time.time() + 1.0)],
    ).fit(X, y)
    # Layer 1 trained until the deadline and stopped at an epoch end; layer 2
    # was not pretrained; fine-tuning stopped after its first epoch.
    (layer,) = clf.pretraining_history_
    assert layer["cut_short"] and 1 <= layer["n_epochs"] < 100_000
    assert len(clf.history_["loss"]) == 1
    # Without a limit nothing is cut.
    quick = tiny(
        DeepStackClassifier,
        hidden_layer_sizes=(8, 8),
        max_epochs=2,
        pretrain="autoencoder",
        pretrain_epochs=2,
    ).fit(X, y)
    assert [h["cut_short"] for h in quick.pretraining_history_] == [False, False]


def test_keras_tuner_internals_are_there(monkeypatch):
    from deepstack.tuning import _kt_compat

    # Fails loudly on a keras-tuner release that drops what deepstack uses.
    assert _kt_compat.missing_internals() == []
    _kt_compat.check_keras_tuner()
    monkeypatch.delattr(keras_tuner.Oracle, "_random_values")
    assert "keras_tuner.Oracle._random_values" in _kt_compat.missing_internals()
    _kt_compat.check_keras_tuner.cache_clear()
    with pytest.raises(ImportError, match="_random_values"):
        _kt_compat.check_keras_tuner()
    _kt_compat.check_keras_tuner.cache_clear()


# ------------------------------------------------ cv, parallel trials


def test_cross_validated_trials_record_every_fold(classification_data):
    from sklearn.model_selection import StratifiedKFold

    X, y = classification_data
    search = DeepStackSearch(
        tiny(DeepStackClassifier, hidden_layer_sizes=(8,), max_epochs=2),
        {"learning_rate": Float(1e-3, 1e-1, log=True)},
        tuner="random",
        max_trials=2,
        cv=3,
        refit=False,
        random_state=0,
    ).fit(X, y)
    folds = np.array(search.results_["fold_scores"])
    assert folds.shape == (2, 3)
    np.testing.assert_allclose(search.results_["score"], folds.mean(axis=1))
    np.testing.assert_allclose(search.results_["score_std"], folds.std(axis=1))
    # The chosen trial: the best, unless it beats the first by no more than
    # one standard error of the paired fold differences.
    scores = folds.mean(axis=1)
    best = int(np.argmax(scores))
    d = folds[best] - folds[0]
    margin = d.std(ddof=1) / np.sqrt(3) if best else 0.0
    assert search.min_improvement_ == pytest.approx(margin)
    assert search.best_index_ == (best if scores[best] - scores[0] > margin else 0)
    # The first trial is the estimator itself: its fold scores are those of
    # the estimator as given, fitted on StratifiedKFold(3)'s folds.
    expected = []
    for train, val in StratifiedKFold(3).split(X, y):
        alone = tiny(DeepStackClassifier, hidden_layer_sizes=(8,), max_epochs=2)
        alone.fit(X[train], y[train], X_val=X[val], y_val=y[val])
        expected.append(alone.score(X[val], y[val]))
    assert search.results_["fold_scores"][0] == expected
    with pytest.raises(ValueError, match="either cv or X_val"):
        search.fit(X, y, X_val=X, y_val=y)


def test_cross_validated_hyperband_continues_each_fold(
    regression_data, tmp_path, recwarn
):
    from sklearn.model_selection import KFold

    X, y = regression_data
    search = _hyperband_search(
        tiny(DeepStackRegressor, hidden_layer_sizes=(8,), max_epochs=2),
        cv=KFold(2, shuffle=True, random_state=0),
        refit=False,
        directory=str(tmp_path),
    ).fit(X, y)
    # Each fold's estimator in the safe format (a directory), never a pickle.
    saved = sorted(tmp_path.glob("deepstack_search/trial_*/estimator_fold*"))
    assert [p.name for p in saved] == ["estimator_fold0", "estimator_fold1"] * 3
    assert all((p / "deepstack.json").is_file() for p in saved)
    assert not list(tmp_path.rglob("*.pkl"))
    assert not [w for w in recwarn if "from scratch" in str(w.message)]
    assert search.results_["budget"] == [1, 1, 2]
    assert search.results_["continued_from"][2] is not None
    # Each fold's network continued for one more epoch (1 + 1), none restarted.
    assert search.results_["n_epochs"] == [1, 1, 2]
    assert [len(f) for f in search.results_["fold_scores"]] == [2, 2, 2]


def _scorer_recording_env(path, estimator, X, y):
    with open(path, "a") as handle:
        names = ("CUDA_VISIBLE_DEVICES", "TF_NUM_INTRAOP_THREADS")
        cores = ",".join(map(str, sorted(os.sched_getaffinity(0))))
        handle.write(" ".join(os.environ.get(n, "-") for n in names) + f" {cores}\n")
    return estimator.score(X, y)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["random", "grid"])
def test_parallel_trials_give_the_same_results(kind, classification_data, tmp_path):
    X, y = classification_data
    space = (
        {"learning_rate": Float(1e-3, 1e-1, log=True)}
        if kind == "random"
        else {"learning_rate": [1e-2, 3e-2, 1e-3], "dropout": [0.2, 0.0]}
    )
    results = {}
    log = tmp_path / "env.txt"
    for n_jobs in (1, 2):
        search = DeepStackSearch(
            tiny(DeepStackClassifier, hidden_layer_sizes=(8,), max_epochs=2),
            space,
            tuner=kind,
            # Three trials on two workers: both start one, and the first to
            # finish takes the third (a freed slot is refilled in order).
            max_trials=3,
            objective=functools.partial(_scorer_recording_env, log),
            n_jobs=n_jobs,
            devices=["0", "1"] if n_jobs == 2 else None,
            refit=False,
            random_state=0,
        ).fit(X, y)
        results[n_jobs] = search.results_
    # Each worker sees one device and its share of the threads (2 cores here
    # on CI; one thread per worker on a 2-core machine).
    threads = max(1, (os.cpu_count() or 1) // 2)
    seen = log.read_text().split("\n")[3:-1]
    assert len(seen) == 3
    assert {line.rsplit(" ", 1)[0] for line in seen} == {
        f"0 {threads}",
        f"1 {threads}",
    }
    # ... and its own cores (any backend): two disjoint sets of that size.
    allowed = sorted(os.sched_getaffinity(0))
    cores = {line.rsplit(" ", 1)[1] for line in seen}
    expected = {
        ",".join(map(str, allowed[i * threads : (i + 1) * threads])) for i in (0, 1)
    }
    assert cores == expected
    one, two = results[1], results[2]
    assert two["trial_id"] == one["trial_id"]
    assert two["params"] == one["params"]
    assert two["score"] == one["score"]
    assert len(set(map(repr, one["params"]))) == 3


def test_hypermodel_takes_the_wide_space_by_name(classification_data):
    X, y = classification_data
    hypermodel = DeepStackHyperModel(tiny(DeepStackClassifier), X, y, "wide")
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    optimizer = next(p for p in hp.space if p.name == "optimizer")
    assert list(optimizer.values) == ["adam", "rmsprop", "sgd"]


def test_wide_default_space_by_name(classification_data):
    X, y = classification_data
    search = DeepStackSearch(
        tiny(DeepStackClassifier, max_epochs=1),
        "wide",
        tuner="random",
        max_trials=1,
        refit=False,
        random_state=0,
    ).fit(X, y)
    assert set(search.results_["param_optimizer"]) <= {"adam", "rmsprop", "sgd"}
    assert search.results_["param_learning_rate"][0] == pytest.approx(1e-2)
    with pytest.raises(ValueError, match="search_space"):
        DeepStackSearch(tiny(DeepStackClassifier), "narrow").fit(X, y)


def test_a_pipelines_trials_are_seeded_and_report_their_epochs(classification_data):
    # The search seeded only an estimator's own random_state: a Pipeline's
    # trials (its step's random_state None) each drew their own weights, so
    # random_state=0 gave other scores from run to run; and results_'s
    # n_epochs read the Pipeline, which has no n_iter_ (NaN).
    X, y = classification_data
    pipe = make_pipeline(
        StandardScaler(),
        tiny(DeepStackClassifier, max_epochs=3, random_state=None),
    )
    runs = [
        DeepStackSearch(
            pipe,
            {"deepstackclassifier__learning_rate": Float(1e-3, 1e-1, log=True)},
            tuner="random",
            max_trials=2,
            random_state=0,
        ).fit(X, y)
        for _ in range(2)
    ]
    assert runs[0].results_["score"] == runs[1].results_["score"]
    np.testing.assert_array_equal(runs[0].predict_proba(X), runs[1].predict_proba(X))
    assert runs[0].results_["n_epochs"] == [3.0, 3.0]
    # The seed is the one the refit got, not a nested parameter of its own.
    assert pipe[-1].random_state is None
    assert runs[0].best_estimator_[-1].random_state is not None
