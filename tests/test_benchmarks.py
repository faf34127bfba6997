"""Every benchmark script runs end to end in its quick mode and writes sane results.

Each script runs with ``--quick`` and the smallest sizes its options allow
(seconds, not the minute ``--quick`` alone takes): the numbers mean nothing,
but every code path that writes a result file runs, and the file is checked.
Most run in this process (``main(argv)``); ``gpu_throughput.py`` needs the
JAX backend, so it runs in a fresh interpreter.
"""

import importlib.util
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py") if not p.stem.startswith("_"))

# The smallest settings of each script, on top of --quick.
TINY = {
    "accuracy": ["--datasets", "digits", "--seeds", "0", "--max-epochs", "2"]
    + ["--n-train", "150", "--methods", "deepstack"],
    "estimator_defaults": ["--seeds", "0", "--max-epochs", "1"]
    + ["--candidates", "old", "input_by_features", "--name", "estimator_defaults"],
    "gpu_throughput": ["--n-samples", "256", "--hidden", "8", "--epochs", "1"]
    + ["--batch-sizes", "64", "--methods", "raw_jax", "deepstack"],
    "gridsearch_speed": ["--shapes", "1", "--max-epochs", "1", "--n-samples", "150"]
    + ["--no-profile", "--no-backends", "--methods", "deepstack", "deepstack_uncached"],
    "epoch_budget": ["--datasets", "digits", "--max-epochs", "3", "--epochs", "1"]
    + ["2", "--samples", "1700"],
    "medium_table": ["--rows", "400", "--features", "10"]
    + ["--variants", "mlp", "deepstack_10_epochs"],
    "memory": ["--fits", "2", "--epochs", "1", "--hidden", "4", "--n-samples", "60"]
    + ["--variants", "deepstack", "--in-process"],
    "overhead": ["--epochs", "1", "--repeats", "1", "--hidden", "8"]
    + ["--n-samples", "150", "--variants", "validation"],
    "pretraining_cost": ["--width", "16", "--features", "8", "--max-depth", "2"],
    "pretraining_scarce_labels": ["--hidden", "8", "--seeds", "1"]
    + ["--pretrain-epochs", "1", "--max-epochs", "2", "--variants", "none"],
    "search_memory": ["--trials", "2", "--modes", "plain fit loop"],
    "semi_supervised": ["--datasets", "digits", "--fractions", "0.25", "--seeds", "1"]
    + ["--hidden", "8", "--max-epochs", "2", "--pretrain-epochs", "1"]
    + ["--methods", "LabelSpreading", "deepstack_auto_self_training"]
    + ["deepstack_label_propagation", "deepstack_label_propagation_joint"]
    + ["--propagation-neighbors", "5", "10", "--reconstruction-weights", "0.1"]
    + ["--thresholds", "0.9"],
    "semi_supervised_regression": ["--datasets", "diabetes", "--fractions", "0.25"]
    + ["--hidden", "8", "--max-epochs", "2", "--pretrain-epochs", "1"]
    + ["--methods", "KNeighborsRegressor", "deepstack_labeled_only"]
    + ["deepstack_label_propagation", "deepstack_joint"],
    "search_mnist1d": [],
    "search_parallel": ["--trials", "2", "--max-epochs", "1"],
    "search_vs_default": ["--max-trials", "2", "--max-epochs", "2", "--cv", "2"],
    "tabular": ["--tables", "penguins", "--seeds", "0", "--max-epochs", "5"],
    "table_defaults": ["--tables", "wine", "--seeds", "0"],
    "sparse_memory": ["--rows", "2000", "--cols", "500", "--hidden", "8"],
    "predict_memory": ["--rows", "3000", "--chunk-rows", "1000"]
    + ["--formats", "parquet", "--backends", "numpy"],
    "step_cost": ["--variants", "default", "--n-samples", "200"],
    "stop_rules": ["--datasets", "digits", "--max-epochs", "3"],
    "small_tables": ["--datasets", "iris", "--methods", "deepstack", "mlp"]
    + ["--max-epochs", "2"],
}


def _load(name):
    spec = importlib.util.spec_from_file_location(
        f"benchmarks_{name}", BENCHMARKS / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(name, out):
    argv = ["--quick", *TINY[name], "--out", str(out)]
    if name == "gpu_throughput":
        env = {**os.environ, "KERAS_BACKEND": "jax"}
        result = subprocess.run(
            [sys.executable, str(BENCHMARKS / f"{name}.py"), *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    else:
        _load(name).main(argv)
    with open(out / f"{name}.json") as handle:
        return json.load(handle)


def _numbers(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, float):
        yield value


def test_every_script_has_a_quick_run():
    assert set(SCRIPTS) == set(TINY)


@pytest.mark.slow
@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_quick_run(name, tmp_path):
    payload = _run(name, tmp_path)
    assert payload["benchmark"] == name
    assert "--quick" in payload["command"]
    assert all(math.isfinite(x) for x in _numbers(payload)), name
    assert (tmp_path / f"{name}.md").read_text().strip()
    CHECKS[name](payload)


def _accuracy(payload):
    (row,) = payload["summary"]
    assert row["dataset"] == "digits" and row["method"] == "deepstack"
    assert row["seeds"] == 1 and row["epochs_mean"] <= 2
    assert 0.1 < row["score_mean"] <= 1.0  # 10 classes: above chance


def _estimator_defaults(payload):
    assert payload["phase"] == "select" and payload["seeds"] == [0]
    records = payload["records"]
    assert [r["candidate"] for r in records] == ["old", "input_by_features"]
    old, by_features = records
    # wine: 13 features, so no input dropout; otherwise the old values.
    assert old["params"]["input_dropout"] == 0.1
    assert by_features["params"]["input_dropout"] == 0.0
    for record in records:
        assert record["epochs"] == 1 and 0.1 < record["inner_val"] <= 1.0


@pytest.mark.slow
def test_estimator_defaults_cv_selection(tmp_path):
    module = _load("estimator_defaults")
    argv = ["--quick", "--seeds", "0", "--max-epochs", "1", "--cv", "2"]
    argv += ["--candidates", "old", "input_by_features", "--out", str(tmp_path)]
    module.main([*argv, "--name", "estimator_defaults"])
    with open(tmp_path / "estimator_defaults.json") as handle:
        payload = json.load(handle)
    assert payload["phase"] == "select" and payload["cv"] == 2
    assert "2-fold cross-validation" in (tmp_path / "estimator_defaults.md").read_text()
    old, by_features = payload["records"]
    assert old["params"]["input_dropout"] == 0.1
    assert by_features["params"]["input_dropout"] == 0.0
    for record in payload["records"]:
        assert record["epochs"] == [1, 1] and len(record["fold_scores"]) == 2
        assert record["inner_val"] == pytest.approx(sum(record["fold_scores"]) / 2)
    # The folds partition the training rows (the test rows are not among them).
    X_train, X_test, y_train, _, task = module.load("wine", 0)
    folds = module.cv_folds(X_train, y_train, task, 0, 5)
    validation = sorted(i for _, val in folds for i in val)
    assert validation == list(range(len(y_train)))
    assert all(len(set(fit) & set(val)) == 0 for fit, val in folds)


def _gpu_throughput(payload):
    methods = {run["method"] for run in payload["runs"]}
    assert len(methods) == 2
    assert all(run["samples_per_second"] > 0 for run in payload["runs"])


def _gridsearch_speed(payload):
    cached, uncached = payload["searches"]
    assert cached["method"] == "deepstack" and cached["best_epochs"] == 1
    assert uncached["method"] == "deepstack, compile_cache off"
    assert cached["fits"] == cached["candidates"] * 3 + 1  # 3-fold CV + refit
    assert 0.0 < cached["seconds_per_fit"] <= cached["wall_seconds"]
    # The cache changes nothing but the time.
    for key in ("best_cv_accuracy", "test_accuracy_best", "best_params"):
        assert cached[key] == uncached[key]
    assert cached["x_mlp_wall"] is None and payload["backends"] == []
    # One trace for the shape with the cache (the dropout rates, like the
    # learning rates, are variables of the compiled step), one per fit
    # without.
    assert cached["traces"] == cached["cache_misses"] == 1
    assert cached["cache_hits"] == cached["fits"] - 1
    assert uncached["traces"] == uncached["fits"] and uncached["cache_hits"] == 0


def _epoch_budget(payload):
    assert payload["seeds"] == [0]
    rows = {row["method"]: row for row in payload["summary"]}
    assert list(rows) == ["MLP", "default", "1 epochs", "2 epochs", "1700 samples"]
    assert rows["MLP"]["x_mlp_seconds"] == 1.0 and rows["MLP"]["minus_mlp"] == 0.0
    assert 1 <= rows["default"]["epochs"] <= 3
    assert rows["1 epochs"]["epochs"] == 1 and 1 <= rows["2 epochs"]["epochs"] <= 2
    # 1,700 samples over digits' 847 training rows: a cap of 3 epochs, the
    # --max-epochs of the default itself, so the default fit is reused.
    (record,) = payload["records"]
    assert record["train_rows"] == 847
    assert rows["1700 samples"] == {**rows["default"], "method": "1700 samples"}
    for row in rows.values():
        assert 0.1 < row["accuracy"] <= 1.0  # 10 classes: above chance
        assert row["minus_mlp"] == pytest.approx(
            row["accuracy"] - rows["MLP"]["accuracy"]
        )
    (reach,) = payload["time_to_mlp"]
    assert reach["dataset"] == "digits" and reach["seeds"] == 1
    fits = [record["default"]["accuracy"]] + [
        accuracy for _, accuracy, _ in record["budgets"].values()
    ]
    reached = max(fits) >= record["mlp"]["accuracy"]
    assert reach["seeds_reached"] == int(reached)
    assert (reach["x_mlp_seconds"] is not None) == reached


def test_epoch_budget_time_to_mlp_takes_each_seeds_cheapest_fit_that_reaches_it(
    tmp_path,
):
    module = _load("epoch_budget")

    def record(seed, mlp, default, budgets):
        return {
            "dataset": "t",
            "seed": seed,
            "train_rows": 100,
            "mlp": {"epochs": 10, "accuracy": mlp, "seconds": 2.0},
            "default": {"epochs": 60, "accuracy": default, "seconds": 12.0},
            "budgets": budgets,
        }

    records = [
        # 10 epochs fall short, 20 reach it (4 s: 2x), the default too (6x).
        record(
            0, 0.80, 0.90, {"10 epochs": [10, 0.79, 2.0], "20 epochs": [20, 0.8, 4.0]}
        ),
        # Only the default reaches it: 6x.
        record(
            1, 0.85, 0.86, {"10 epochs": [10, 0.7, 2.0], "20 epochs": [20, 0.8, 4.0]}
        ),
        # Nothing does.
        record(
            2, 0.95, 0.90, {"10 epochs": [10, 0.7, 2.0], "20 epochs": [20, 0.8, 4.0]}
        ),
    ]
    (row,) = module.time_to_mlp(records)
    assert row == {
        "dataset": "t",
        "seeds": 3,
        "seeds_reached": 2,
        "epochs": 40.0,
        "x_mlp_seconds": 4.0,
        "max_x_mlp_seconds": 6.0,
    }
    # --summarize reads a results file back and fits nothing.
    earlier = tmp_path / "earlier.json"
    earlier.write_text(
        json.dumps(
            {
                "command": "the earlier run",
                "environment": {"date_utc": "then", "load_average_1_5_15": [1, 1, 1]},
                "datasets": ["t"],
                "seeds": [0, 1, 2],
                "budgets": ["10 epochs", "20 epochs"],
                "records": records,
            }
        )
    )
    argv = ["--summarize", str(earlier), "--name", "again", "--out", str(tmp_path)]
    rows = module.main(argv)
    payload = json.loads((tmp_path / "again.json").read_text())
    assert payload["time_to_mlp"] == [row]
    assert payload["summary"] == rows and payload["records"] == records
    by_method = {r["method"]: r for r in rows}
    assert by_method["20 epochs"]["x_mlp_seconds"] == pytest.approx(2.0)
    assert "the earlier run" in (tmp_path / "again.md").read_text()


def _medium_table(payload):
    assert payload["rows"] == 400 and payload["features"] == 10
    mlp, deepstack = payload["summary"]
    assert mlp["variant"] == "mlp" and mlp["x_mlp_time"] == 1.0
    assert deepstack["variant"] == "deepstack_10_epochs"
    # The 10-epoch budget: early stopping may end it sooner, never later.
    # The default batch_size="auto" is 32 on 360 fitting rows.
    assert deepstack["batch_size"] == "auto (32)" and 1 <= deepstack["epochs"] <= 10
    assert 0.4 < deepstack["accuracy"] <= 1.0  # binary: near chance or above


def _memory(payload):
    (run,) = payload["runs"]
    assert run["variant"] == "deepstack"
    assert len(run["rss_mb"]) == 2 and all(r > 10 for r in run["rss_mb"])
    summary = payload["summary"][0]
    assert "after fit 1 (MB)" in summary and "after fit 2 (MB)" in summary


def _overhead(payload):
    assert set(payload["variants"]) == {"validation"}
    (variant,) = payload["variants"].values()
    assert len(variant["fit_seconds_keras"]) == len(variant["fit_seconds_deepstack"])
    assert variant["fit_ratio_median"] == pytest.approx(
        variant["fit_seconds_deepstack_median"] / variant["fit_seconds_keras_median"]
    )
    assert 0.0 <= variant["test_accuracy_deepstack_mean"] <= 1.0


def _pretraining_cost(payload):
    assert [run["depth"] for run in payload["runs"]] == [1, 2]
    for run in payload["runs"]:
        assert len(run["per_layer_seconds"]) == run["depth"]
        assert len(run["naive_per_layer_seconds"]) == run["depth"]


def _pretraining_scarce_labels(payload):
    assert {run["variant"] for run in payload["runs"]} == {"none"}
    (run,) = payload["runs"]
    assert run["n_labeled"] + run["n_unlabeled"] == 1257  # digits' training rows
    assert run["finetune_epochs"] <= 2 and run["pretrain_epochs_per_layer"] == []
    assert 0.0 < run["test_accuracy"] <= 1.0


def _semi_supervised(payload):
    runs = payload["runs"]
    assert [run["method"] for run in runs] == [
        "LabelSpreading",
        "deepstack_auto_self_training",
        "deepstack_label_propagation",
        "deepstack_label_propagation_joint",
    ]
    for run in runs:
        assert run["n_labeled"] == 315  # 25 % of digits' 1257 training rows
        assert 0.0 < run["test_accuracy"] <= 1.0 and run["fit_seconds"] > 0
    # n_neighbors chosen among 3 candidates by validation on labeled rows;
    # a single threshold needs no choice.
    assert len(runs[0]["validation_accuracies"]) == 3
    assert runs[1]["validation_accuracies"] == []
    assert runs[0]["test_accuracy"] > 0.8  # label spreading on digits
    assert "pretrain='auto'" in runs[1]["chosen"]
    # propagation_neighbors chosen among 2 candidates, each with 3 graph
    # weights (no refit); 3 rounds, each labeling the unlabeled rows that the
    # graph reaches: all 942 on the inputs, nearly all on the hidden layer of
    # a network of 8 units trained 2 epochs (a far outlier's Gaussian weights
    # can vanish).
    assert len(runs[2]["validation_accuracies"]) == 6
    assert "semi_supervised='label_propagation'" in runs[2]["chosen"]
    first, *later = runs[2]["pseudo_labeled"]
    assert first == 942 and len(later) == 2
    assert all(900 <= n <= 942 for n in later)
    # The same with the joint loss (one weight): 2 candidates x 3 graph weights.
    assert len(runs[3]["validation_accuracies"]) == 6
    assert "reconstruction_weight=0.1" in runs[3]["chosen"]


def _semi_supervised_regression(payload):
    runs = payload["runs"]
    assert [run["method"] for run in runs] == [
        "KNeighborsRegressor",
        "deepstack_labeled_only",
        "deepstack_label_propagation",
        "deepstack_joint",
    ]
    for run in runs:
        assert run["n_labeled"] == 77  # 25 % of diabetes' 309 training rows
        assert run["fit_seconds"] > 0
    # Distance-weighted kNN on a quarter of the targets explains some
    # variance (0.33 at seed 0); a 2-epoch network of 8 units need not.
    assert runs[0]["test_r2"] > 0.1
    # Every one of the 232 unlabeled rows gets a propagated target in each
    # of the 3 rounds (the first graph on the inputs reaches them all).
    first, *later = runs[2]["pseudo_labeled"]
    assert first == 232 and len(later) == 2
    assert runs[1]["pseudo_labeled"] is None
    assert payload["settings"]["reconstruction_weight"] == 0.1


def _search_memory(payload):
    assert payload["trials"] == 2
    (run,) = payload["runs"]
    assert run["mode"] == "plain fit loop"
    assert len(run["rss_mib"]) == 2 and run["main_peak_mib"] > 100


def _search_mnist1d(payload):
    models = [row["model"] for row in payload["models"]]
    assert len(models) == 3 and models[0].startswith("MLPClassifier")
    assert len(payload["trials"]) == 2
    assert all(0.0 <= row["test_accuracy"] <= 1.0 for row in payload["models"])


def _search_parallel(payload):
    assert [row["n_jobs"] for row in payload["rows"]] == [1, 2]
    assert payload["same_scores"] is True
    assert payload["scores"]["1"] == payload["scores"]["2"]


def _search_vs_default(payload):
    assert len(payload["rows"]) >= 2
    assert payload["cv"] == 2
    for row in payload["rows"]:
        assert row["tuned >= default (test)"] in ("yes", "no")
        first = row["validation, first trial (the estimator)"]
        chosen = row["validation, chosen trial"]
        assert first <= chosen <= row["validation, best trial"]
        assert (chosen == first) if row["chosen trial"] == 0 else (chosen > first)


def _tabular(payload):
    records = payload["records"]
    assert {r["method"] for r in records} == {
        "deepstack",
        "HistGradientBoosting",
        "MLP",
    }
    assert {r["table"] for r in records} == {"penguins"}
    for record in records:
        assert 0.5 < record["score"] <= 1.0 and record["fit_s"] > 0
    (deep,) = [r for r in records if r["method"] == "deepstack"]
    assert 1 <= deep["epochs"] <= 5


def _table_defaults(payload):
    records = payload["records"]
    assert payload["tables"] == ["wine"] and payload["seeds"] == [0]
    assert [r["candidate"] for r in records] == ["single", "bag5"]
    for record in records:
        assert 0.3 < record["inner_val"] <= 1.0 and record["fit_s"] > 0


def _sparse_memory(payload):
    result = payload["result"]
    assert (result["rows"], result["cols"], result["epochs_run"]) == (2000, 500, 1)
    assert result["dense_mb"] == pytest.approx(2000 * 500 * 4 / 2**20)
    assert 0 < result["sparse_mb"] < result["dense_mb"]
    assert result["nnz"] == 10_000


def _predict_memory(payload):
    rows = payload["rows"]
    assert payload["config"] == {
        "rows": 3000,
        "columns": 21,
        "chunk_rows": 1000,
        "formats": ["parquet"],
        "backends": ["numpy"],
        "hidden_layer_sizes": [32],
    }
    assert [(r["backend"], r["file"], r["chunk_rows"]) for r in rows[1:]] == [
        ("numpy", "parquet", 1000),
        ("numpy", "parquet", "whole"),
    ]
    # Each process loads Keras and the run: well above 100 MB.
    assert all(r["peak_rss_mb"] > 100 and r["wall_s"] > 0 for r in rows)
    assert payload["max_probability_difference"] == 0.0  # one backend
    # Chunked and whole: the same rows and labels (checked by the script),
    # probabilities up to float32 rounding.
    assert 0.0 <= payload["max_chunked_difference"] <= 1e-6
    assert rows[1]["size_mb"] == rows[2]["size_mb"] > 0


def _small_tables(payload):
    records = payload["records"]
    assert payload["repeats"] == 1 and payload["folds"] == 5
    assert [(r["fold"], r["method"]) for r in records] == [
        (k, m) for k in range(5) for m in ("deepstack", "mlp")
    ]
    # Stratified folds of iris's 150 rows: 120 training, 30 test rows each.
    assert {(r["n_train"], r["n_test"]) for r in records} == {(120, 30)}
    for record in records:
        assert 0.0 <= record["accuracy"] <= 1.0 and record["fit_s"] > 0
    deep, mlp = payload["summary"]
    assert (deep["method"], mlp["method"], deep["folds"]) == ("deepstack", "mlp", 5)
    d = np.array(
        [a["accuracy"] - b["accuracy"] for a, b in zip(records[::2], records[1::2])]
    )
    assert deep["minus_mlp"] == pytest.approx(d.mean())
    # Nadeau and Bengio: var(d) * (1/J + n_test/n_train), J = 5 folds.
    assert deep["corrected_se"] == pytest.approx(np.sqrt(d.var(ddof=1) * (0.2 + 0.25)))
    assert (deep["wins"], deep["ties"], deep["losses"]) == (
        int((d > 0).sum()),
        int((d == 0).sum()),
        int((d < 0).sum()),
    )
    assert "minus_mlp" not in mlp


def _step_cost(payload):
    # 200 rows, 20 held out for validation: 180 fitting rows, 6 steps of 32.
    assert payload["steps_per_epoch"] == 6 and payload["batch_size"] == 32
    assert (payload["short_epochs"], payload["long_epochs"]) == (1, 2)
    default, floor = payload["rows"]
    assert default["variant"] == "default" and default["x_default"] == 1.0
    assert 0 < default["short_fit_s"] and 0 < default["long_fit_s"]
    # The tests run on TensorFlow: the matrix-product floor is measured.
    assert floor["variant"].startswith("matrix products") and floor["ms_per_step"] > 0


def test_small_tables_paired_standard_error():
    """The corrected standard error on a hand-computed case."""
    paired = _load("small_tables").paired
    # d = [0.1, -0.1, 0.2, 0.0]: mean 0.05, sample variance 0.05 / 3;
    # times (1/4 + 20/80) = 0.5 -> 0.008333..., whose root is 0.0912871.
    mean, se = paired([0.1, -0.1, 0.2, 0.0], n_train=80, n_test=20)
    assert mean == pytest.approx(0.05)
    assert se == pytest.approx(0.0912871, abs=1e-7)


def _stop_rules(payload):
    assert payload["seeds"] == [0] and payload["default_reproduced"] is True
    (record,) = payload["records"]
    default = record["default"]
    assert default["epochs"] == 3 == len(default["val_loss"])
    assert len(default["epoch_accuracy"]) == 3
    rows = {row["rule"]: row for row in payload["summary"]}
    assert list(rows)[-1] == "MLP" and rows["MLP"]["x_mlp_seconds"] == 1.0
    for row in rows.values():
        assert 1 <= row["epochs"] <= 21 and 0.1 < row["accuracy"] <= 1.0
        assert row["minus_mlp_points"] == pytest.approx(
            100 * (row["accuracy"] - rows["MLP"]["accuracy"])
        )
    # The default rule keeps an epoch of the recording, timed as the fit.
    kept = rows["default (patience 10, tol 1e-4)"]
    assert kept["epochs"] == 3 and kept["accuracy"] in default["epoch_accuracy"]
    assert kept["x_mlp_seconds"] == pytest.approx(
        default["seconds"] / record["mlp"]["seconds"]
    )


def test_stop_rules_simulation_on_a_known_curve():
    simulate = _load("stop_rules").simulate
    losses = [1.0, 0.5, 0.49, 0.489, 0.4889, 0.6, 0.6, 0.6]
    # patience 3, tol 1e-4: 0.489 is the last improvement (epoch 3); three
    # epochs without one (4: 0.4889 is not 1e-4 below it; 5, 6) stop at 7.
    assert simulate(losses, 3, 1e-4, 0.0, False) == (7, 3)
    # ... and the lowest loss seen is 0.4889's, epoch 4.
    assert simulate(losses, 3, 1e-4, 0.0, True) == (7, 4)
    # relative 5%: 0.49 is not 5% below 0.5, so 0.5 stays best and the
    # rule stops three epochs after it, at epoch 4, whose 0.4889 is the
    # lowest seen.
    assert simulate(losses, 3, 0.0, 0.05, False) == (5, 1)
    assert simulate(losses, 3, 0.0, 0.05, True) == (5, 4)
    # A curve that never stops runs to its end.
    assert simulate([3.0, 2.0, 1.0], 2, 1e-4, 0.0, False) == (3, 2)
    # A growing patience: the best at epoch 9 (10 epochs in) makes 50% of it
    # 5 epochs, more than 3: it stops at 9 + 5 + 1 epochs, not 9 + 3 + 1.
    falling = [10.0 - i for i in range(10)] + [1.0] * 10
    assert simulate(falling, 3, 1e-4, 0.0, False) == (13, 9)
    assert simulate(falling, 3, 1e-4, 0.0, False, 0.5) == (15, 9)


def test_stop_rules_simulate_again_on_earlier_recordings(tmp_path):
    stop_rules = _load("stop_rules")
    curve = [1.0, 0.8, 0.7, 0.69, 0.7, 0.71, 0.72, 0.73, 0.74, 0.75, 0.76, 0.77]
    record = {
        "dataset": "toy",
        "seed": 0,
        "default": {
            "epochs": 13,
            "max_epochs": 200,
            "seconds": 13.0,
            "accuracy": 0.9,
            "val_loss": curve + [0.78],
            "epoch_accuracy": [0.5 + 0.03 * i for i in range(13)],
        },
        "mlp": {"seconds": 2.0, "epochs": 5, "accuracy": 0.55},
    }
    earlier = tmp_path / "earlier.json"
    earlier.write_text(
        json.dumps(
            {
                "command": "the earlier run",
                "environment": {"date_utc": "2026-01-01T00:00:00+00:00"},
                "datasets": ["toy"],
                "seeds": [0],
                "records": [record],
            }
        )
    )
    rows = stop_rules.main(
        ["--recordings", str(earlier), "--out", str(tmp_path), "--name", "again"]
    )
    by_rule = {row["rule"]: row for row in rows}
    # The default stops 10 epochs after the best (epoch 3) and keeps it.
    default = by_rule["default (patience 10, tol 1e-4)"]
    assert default["epochs"] == 13 and default["accuracy"] == pytest.approx(0.59)
    assert by_rule["patience 5"]["epochs"] == 9
    assert by_rule["patience 5"]["x_mlp_seconds"] == pytest.approx(9 / 2.0)
    written = (tmp_path / "again.md").read_text()
    assert "The recordings are those of `the earlier run`" in written


CHECKS = {
    "step_cost": _step_cost,
    "stop_rules": _stop_rules,
    "small_tables": _small_tables,
    "accuracy": _accuracy,
    "estimator_defaults": _estimator_defaults,
    "gpu_throughput": _gpu_throughput,
    "gridsearch_speed": _gridsearch_speed,
    "medium_table": _medium_table,
    "epoch_budget": _epoch_budget,
    "memory": _memory,
    "overhead": _overhead,
    "pretraining_cost": _pretraining_cost,
    "pretraining_scarce_labels": _pretraining_scarce_labels,
    "search_memory": _search_memory,
    "semi_supervised": _semi_supervised,
    "semi_supervised_regression": _semi_supervised_regression,
    "search_mnist1d": _search_mnist1d,
    "search_parallel": _search_parallel,
    "search_vs_default": _search_vs_default,
    "tabular": _tabular,
    "table_defaults": _table_defaults,
    "sparse_memory": _sparse_memory,
    "predict_memory": _predict_memory,
}
