"""The main job from Python: fit_table, the run folder, load_run, predict."""

import gzip
import json
import os
import re
import subprocess
import sys
import warnings

import keras
import numpy as np
import pandas as pd
import pytest

from deepstack.datasets import load_table
from deepstack.runs import (
    _files,
    _fit_table,
    _rows,
    fit_table,
    load_run,
    parse_duration,
    table_bagging,
    table_defaults,
)
from deepstack.runs._files import iter_table, read_table
from deepstack.runs._target import as_label_dtype
from deepstack.tables import ReadingWarning, TablePreprocessor
from deepstack.tables._reading import _to_numbers
from tests.conftest import (
    assert_same_predictions_csv,
    ctrl_c_after_epoch,
    interrupted_on_call,
    write_penguins,
)

TINY = {"hidden_layer_sizes": (16,), "max_epochs": 30, "learning_rate": 1e-2}
RUN_FILES = {
    "model",
    "preprocessor.skops",
    "config.json",
    "metrics.json",
    "history.csv",
    "test_predictions.csv",
    "findings.json",
    "importance.csv",
    "report.html",
}


@pytest.fixture(scope="module")
def penguins_files(tmp_path_factory):
    """Penguins as CSV and Parquet: text columns and missing values."""
    return write_penguins(tmp_path_factory.mktemp("penguins_files"), 280, 0)


@pytest.fixture(scope="module")
def penguins_run(penguins_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "penguins"
    run = fit_table(
        penguins_files / "train.csv",
        "species",
        params=TINY,
        out=out,
        progress=False,
    )
    return run


def test_run_folder_holds_everything(penguins_run):
    folder = penguins_run.path
    assert set(os.listdir(folder)) == RUN_FILES
    config = json.loads((folder / "config.json").read_text())
    assert config["task"] == "multiclass"
    assert config["target"] == "species"
    assert config["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert config["feature_columns"] == [
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
        "year",
    ]
    roles = {c["column"]: c["role"] for c in config["columns"]}
    assert roles["island"] == "categorical" and roles["body_mass_g"] == "numeric"
    missing = {c["column"]: c["missing"] for c in config["columns"]}
    assert missing["sex"] > 0
    assert config["fingerprint"]["n_rows"] == 280
    assert len(config["fingerprint"]["sha256"]) == 64
    assert config["params"]["hidden_layer_sizes"] == [16]
    assert config["params"]["random_state"] == 0
    # The "auto" parameters as the fit resolved them.
    member = penguins_run.estimator.estimators_[0]
    assert config["params"]["dropout"] == "auto"
    assert config["resolved"]["dropout"] == pytest.approx(member.dropout_) == 0.3
    assert config["resolved"]["l2"] == pytest.approx(member.l2_)
    assert config["resolved"]["patience_growth"] == member.patience_growth_ == 0.0
    assert config["resolved"]["batch_norm"] is member.batch_norm_ is True
    assert set(config["resolved"]) <= {
        k for k, v in config["params"].items() if v == "auto"
    }
    assert {"deepstack", "keras", "scikit-learn", "skrub"} <= set(config["versions"])
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test"]["n_samples"] == 56
    assert metrics["test"]["accuracy"] > 0.9
    assert 0 <= metrics["best_epoch"] < metrics["n_epochs"] <= 30
    # 224 training rows: five bagged networks, scored out of fold.
    assert config["bagging"] == 5 and len(penguins_run.estimator.estimators_) == 5
    assert metrics["validation"] == {
        "out_of_fold_accuracy": pytest.approx(penguins_run.estimator.oof_score_)
    }
    assert metrics["validation"]["out_of_fold_accuracy"] > 0.9
    history = pd.read_csv(folder / "history.csv")
    assert len(history) == metrics["n_epochs"]
    assert {"loss", "val_loss", "learning_rate"} <= set(history.columns)
    predictions = pd.read_csv(folder / "test_predictions.csv")
    assert len(predictions) == 56
    accuracy = (predictions["species"] == predictions["predicted_species"]).mean()
    assert accuracy == pytest.approx(metrics["test"]["accuracy"])
    assert np.allclose(predictions.filter(like="proba_").sum(axis=1), 1.0, atol=1e-5)


def test_loaded_run_predicts_identically_in_a_fresh_process(
    penguins_run, penguins_files, tmp_path
):
    expected = penguins_run.predict_proba(penguins_files / "new.csv")
    out = tmp_path / "proba.npy"
    code = (
        "import sys, numpy as np\n"
        "from deepstack.runs import load_run\n"
        "run = load_run(sys.argv[1])\n"
        "np.save(sys.argv[3], run.predict_proba(sys.argv[2]))\n"
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(penguins_run.path),
            str(penguins_files / "new.csv"),
            str(out),
        ],
        check=True,
        cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert np.array_equal(np.load(out), expected)
    loaded = load_run(penguins_run.path)
    assert loaded.metrics == json.loads(
        (penguins_run.path / "metrics.json").read_text()
    )
    assert np.array_equal(
        loaded.predict(penguins_files / "new.csv"),
        penguins_run.predict(penguins_files / "new.csv"),
    )


def test_evaluate_matches_the_metrics_of_the_fit(penguins_run, penguins_files):
    metrics = penguins_run.evaluate(penguins_files / "test.csv")
    assert metrics["n_samples"] == 64
    assert metrics["accuracy"] > 0.85
    assert set(metrics) >= {"accuracy", "balanced_accuracy", "log_loss", "roc_auc"}


def test_parquet_input_and_a_given_test_file(penguins_files, tmp_path):
    run = fit_table(
        penguins_files / "train.parquet",
        "species",
        test=penguins_files / "test.csv",
        params={**TINY, "max_epochs": 3},
        bagging=None,
        progress=False,
    )
    assert run.path is None
    assert run.metrics["test"]["n_samples"] == 64
    assert run.config["bagging"] is None
    assert run.metrics["validation"]["val_loss"] > 0
    assert run.config["n_train"] == 280


def test_baselines_are_scikit_learns_models_on_the_same_rows(penguins_files):
    from sklearn.ensemble import HistGradientBoostingClassifier

    run = fit_table(
        penguins_files / "train.csv",
        "species",
        test=penguins_files / "test.csv",
        params={**TINY, "max_epochs": 3},
        bagging=None,
        random_state=3,
        progress=False,
    )
    train = pd.read_csv(penguins_files / "train.csv")
    test = pd.read_csv(penguins_files / "test.csv")
    columns = run.config["feature_columns"]
    table = run.pipeline[0]
    hgb = HistGradientBoostingClassifier(random_state=3)
    hgb.fit(table.transform(train[columns]), train["species"])
    predicted = hgb.predict(table.transform(test[columns]))
    baselines = run.metrics["baselines"]
    assert list(baselines) == ["HistGradientBoostingClassifier", "DummyClassifier"]
    assert baselines["HistGradientBoostingClassifier"]["accuracy"] == pytest.approx(
        np.mean(predicted == test["species"])
    )
    # The most frequent training class, always.
    majority = train["species"].value_counts().idxmax()
    dummy = baselines["DummyClassifier"]
    assert dummy["accuracy"] == pytest.approx(np.mean(test["species"] == majority))
    assert dummy["balanced_accuracy"] == pytest.approx(1 / 3)
    assert dummy["n_samples"] == 64 and dummy["fit_s"] >= 0
    assert set(dummy) == set(run.metrics["test"]) | {"fit_s"}
    without = fit_table(
        penguins_files / "train.csv",
        "species",
        params={**TINY, "max_epochs": 1},
        bagging=None,
        baselines=False,
        progress=False,
    )
    assert without.metrics["baselines"] == {}
    with pytest.raises(ValueError, match="baselines must be True or False"):
        fit_table(penguins_files / "train.csv", "species", baselines="yes")


def test_missing_and_extra_columns_at_predict(penguins_run, penguins_files):
    new = pd.read_csv(penguins_files / "new.csv")
    with pytest.raises(ValueError, match=r"\['island'\] were present at fit"):
        penguins_run.predict(new.drop(columns="island"))
    with pytest.warns(UserWarning, match=r"\['colour'\] were not seen at fit"):
        predicted = penguins_run.predict(new.assign(colour="blue"))
    assert np.array_equal(predicted, penguins_run.predict(new))
    with pytest.raises(TypeError, match="a DataFrame or the path .* got ndarray"):
        penguins_run.predict(new.to_numpy())


def test_a_data_frame_with_a_used_column_twice_names_it(penguins_run, penguins_files):
    # A file's repeated names are renamed as it is read; a DataFrame's
    # stopped pandas ("cannot reindex on an axis with duplicate labels").
    new = pd.read_csv(penguins_files / "new.csv")
    train = pd.read_csv(penguins_files / "train.csv")
    said = r"The data table has more than one column named \[{}\]: the run reads"
    twice = pd.concat([new, new[["island"]]], axis=1)
    with pytest.raises(ValueError, match=said.format("'island'")):
        penguins_run.predict(twice)
    labels = pd.concat([train, train[["species"]]], axis=1)
    with pytest.raises(ValueError, match=said.format("'species'")):
        penguins_run.evaluate(labels)
    with pytest.raises(ValueError, match=said.format("'species'")):
        penguins_run.predictions_frame(labels, keep=["species"])
    # A column the run does not read may be there twice: it is ignored.
    extra = pd.concat([new.assign(note="a"), new.assign(note="b")[["note"]]], axis=1)
    with pytest.warns(UserWarning, match=r"\['note', 'note'\] were not seen at fit"):
        predicted = penguins_run.predict(extra)
    assert np.array_equal(predicted, penguins_run.predict(new))


def test_a_feature_without_any_value_in_the_new_rows_is_noted(
    penguins_run, penguins_files, tmp_path
):
    new = pd.read_csv(penguins_files / "new.csv").assign(sex=np.nan)
    new.to_csv(tmp_path / "blank.csv", index=False)
    match = rf"\['sex'\] have no value in the {len(new)} row\(s\)"
    with pytest.warns(UserWarning, match=match):
        penguins_run.predict(new)
    # Read in chunks: said once, for the whole file; a chunk without any
    # value in a column that other chunks fill says nothing.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        penguins_run.write_predictions(
            tmp_path / "blank.csv", tmp_path / "out.csv", chunk_rows=20
        )
        penguins_run.write_predictions(
            new.assign(sex=["male"] + [np.nan] * (len(new) - 1)),
            tmp_path / "one.csv",
            chunk_rows=20,
        )
    said = [str(w.message) for w in caught if "have no value" in str(w.message)]
    assert said == [
        f"Column(s) ['sex'] have no value in the {len(new)} row(s): each is read "
        "as missing, as the training rows' missing values were (imputed)."
    ]
    labeled = pd.read_csv(penguins_files / "train.csv").assign(sex=np.nan)
    with pytest.warns(UserWarning, match=r"\['sex'\] have no value"):
        penguins_run.evaluate(labeled, chunk_rows=20)


@pytest.fixture(scope="module")
def awkward_new_rows(penguins_files, tmp_path_factory):
    """192 new penguins as CSV and Parquet: an identifier with leading
    zeros, an extra column, markers that are no numbers and unseen islands
    in several 20-row chunks, and a chunk whose 'sex' is all blank."""
    folder = tmp_path_factory.mktemp("awkward")
    rows = pd.concat([pd.read_csv(penguins_files / "new.csv")] * 3, ignore_index=True)
    rows.insert(0, "tag", [f"{i:04d}" for i in range(len(rows))])
    rows["colour"] = "blue"
    rows["bill_length_mm"] = rows["bill_length_mm"].astype("str")
    rows.loc[[5, 100], "bill_length_mm"] = "?"
    rows.loc[[3, 60, 61, 130], "island"] = ["Atlantis", "Mu", "Atlantis", "Lemuria"]
    rows.loc[40:59, "sex"] = np.nan
    rows.to_csv(folder / "new.csv", index=False)
    rows.to_parquet(folder / "new.parquet")
    return folder


def _said(caught):
    return sorted(str(w.message) for w in caught)


def test_predictions_written_a_chunk_at_a_time_are_those_of_the_whole_file(
    penguins_run, awkward_new_rows, tmp_path
):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        whole = penguins_run.predictions_frame(
            awkward_new_rows / "new.csv", proba=True, keep=["tag"]
        )
    # What reading lost, counted over the whole file (row order examples).
    expected = [
        "Column 'bill_length_mm': 2 value(s) that are not numbers ('?') are "
        "treated as missing.",
        "Column 'island': 4 value(s) not seen at fit ('Atlantis', 'Mu', "
        "'Lemuria') are encoded as an unknown category.",
        "Column(s) ['colour'] were not seen at fit and are ignored.",
    ]
    assert _said(caught) == expected
    # The identifier is copied as written, leading zeros and all; a numeric
    # feature kept beside the predictions is read as numbers still.
    assert whole["tag"].tolist()[:2] == ["0000", "0001"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mass = penguins_run.predictions_frame(
            awkward_new_rows / "new.csv", proba=True, keep=["body_mass_g"]
        )
    assert mass["body_mass_g"].dtype == np.float64
    assert mass.iloc[:, 1:].equals(whole.iloc[:, 1:])
    for source in ("new.csv", "new.parquet"):
        out = tmp_path / "deeper" / f"{source}.predictions.csv"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            n_rows = penguins_run.write_predictions(
                awkward_new_rows / source,
                out,
                proba=True,
                keep=["tag"],
                chunk_rows=20,
            )
        assert n_rows == 192
        # Ten chunks, one warning a column for them all.
        assert _said(caught) == expected, source
        assert_same_predictions_csv(out.read_text(), whole.to_csv(index=False))
    # No temporary file is left beside them.
    assert sorted(os.listdir(tmp_path / "deeper")) == [
        "new.csv.predictions.csv",
        "new.parquet.predictions.csv",
    ]
    # The output's format follows its suffix.
    source = awkward_new_rows / "new.csv"
    for name in ("p.parquet", "p.tsv", "p.csv.gz"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            penguins_run.write_predictions(
                source, tmp_path / name, proba=True, keep=["tag"], chunk_rows=20
            )
    written = pd.read_parquet(tmp_path / "p.parquet")
    pd.testing.assert_frame_equal(written, whole, check_dtype=False)
    assert written["tag"].tolist() == whole["tag"].tolist()  # text, as written
    tsv = (tmp_path / "p.tsv").read_text()
    assert_same_predictions_csv(tsv, whole.to_csv(sep="\t", index=False), sep="\t")
    gz = gzip.decompress((tmp_path / "p.csv.gz").read_bytes()).decode()
    assert_same_predictions_csv(gz, whole.to_csv(index=False))
    for name in ("p.xlsx", "p.csv.zip", "p.parquet.gz"):
        with pytest.raises(ValueError, match=f"Cannot write .*{re.escape(name)}"):
            penguins_run.write_predictions(source, tmp_path / name)
        assert not (tmp_path / name).exists()


def test_evaluate_a_chunk_at_a_time(penguins_run, penguins_files, tmp_path):
    rows = pd.concat([pd.read_csv(penguins_files / "test.csv")] * 3, ignore_index=True)
    rows.loc[40:59, "species"] = np.nan  # a chunk without labels
    # A class unseen at fit, longer than every known one: no prediction
    # matches it (it is not cut to "Chinstrap").
    rows.loc[[7, 150], "species"] = "Chinstrap_2"
    rows.to_csv(tmp_path / "labeled.csv", index=False)
    with warnings.catch_warnings(record=True) as whole_said:
        warnings.simplefilter("always")
        whole = penguins_run.evaluate(tmp_path / "labeled.csv")
    with warnings.catch_warnings(record=True) as chunked_said:
        warnings.simplefilter("always")
        chunked = penguins_run.evaluate(tmp_path / "labeled.csv", chunk_rows=20)
    assert chunked == pytest.approx(whole)
    assert _said(chunked_said) == _said(whole_said)
    assert whole["n_samples"] == 192 - 20
    truth = rows["species"].dropna().to_numpy()
    predicted = penguins_run.predict(rows.dropna(subset=["species"]))
    assert whole["accuracy"] == pytest.approx(np.mean(truth == predicted))
    assert "log_loss" not in whole  # left out: a class unseen at fit
    with pytest.raises(ValueError, match="Every value of the target 'species'"):
        penguins_run.evaluate(rows.assign(species=np.nan), chunk_rows=50)


def test_labels_are_not_cut_to_the_width_of_the_classes():
    # Classes held as fixed-width text ('<U9'): a longer label read from a
    # file stays itself, not "Chinstrap", which would score as right.
    classes = np.array(["Adelie", "Chinstrap"])
    labels = as_label_dtype(np.array(["Chinstrap_2", "Adelie"], dtype=object), classes)
    assert labels.tolist() == ["Chinstrap_2", "Adelie"]
    assert as_label_dtype(np.array([1.0, 0.0]), np.array([0, 1])).tolist() == [1, 0]


@pytest.mark.filterwarnings("ignore::UserWarning")  # said in the tests above
def test_compressed_csv_and_tsv_files(penguins_run, awkward_new_rows, tmp_path):
    import bz2
    import lzma
    import zipfile

    plain = (awkward_new_rows / "new.csv").read_bytes()
    whole = penguins_run.predictions_frame(awkward_new_rows / "new.csv", keep=["tag"])
    semicolons = plain.replace(b",", b";").replace(b".", b",")  # a spreadsheet's
    files = {
        "new.csv.gz": gzip.compress(plain),
        "new.csv.bz2": bz2.compress(plain),
        "new.tsv.xz": lzma.compress(plain.replace(b",", b"\t")),
        "new.CSV.GZ": gzip.compress(semicolons.decode().encode("cp1252")),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with zipfile.ZipFile(tmp_path / "new.csv.zip", "w") as archive:
        archive.writestr("new.csv", plain)
    for name in [*files, "new.csv.zip"]:
        out = tmp_path / f"{name}.out.csv"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ReadingWarning)
            warnings.filterwarnings("ignore", "Column.*not seen at fit")
            penguins_run.write_predictions(
                tmp_path / name, out, keep=["tag"], chunk_rows=50
            )
        assert out.read_text() == whole.to_csv(index=False), name
    # Read whole too, as fit reads its file: the same rows.
    frame = read_table(tmp_path / "new.csv.bz2")
    assert frame.equals(read_table(awkward_new_rows / "new.csv"))
    bad = {
        "new.parquet.gz": "unknown format '.parquet.gz'",
        "new.gz": "unknown format '.gz'",
        "cut.csv.gz": "as csv: EOFError",
        "two.csv.zip": "a ZIP archive must hold one file",
    }
    (tmp_path / "new.parquet.gz").write_bytes(gzip.compress(b"x"))
    (tmp_path / "new.gz").write_bytes(gzip.compress(plain))
    (tmp_path / "cut.csv.gz").write_bytes(gzip.compress(plain)[:-100])
    with zipfile.ZipFile(tmp_path / "two.csv.zip", "w") as archive:
        archive.writestr("a.csv", plain)
        archive.writestr("b.csv", plain)
    for name, message in bad.items():
        with pytest.raises(ValueError, match=re.escape(message)):
            read_table(tmp_path / name)


def test_column_importance_finds_the_column_the_target_follows(tmp_path):
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "signal": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n),
        }
    )
    frame["y"] = np.where(frame["signal"] > 0, "up", "down")
    run = fit_table(
        frame, "y", params=TINY, bagging=None, out=tmp_path / "run", progress=False
    )
    importance = run.importance
    assert importance["column"].tolist()[0] == "signal"
    assert importance["role"].tolist()[0] == "numeric"
    # Shuffled, the signal tells nothing: accuracy falls from the test
    # accuracy to about a coin's (the classes are balanced).
    accuracy = run.metrics["test"]["accuracy"]
    assert accuracy > 0.95
    signal = importance.set_index("column").loc["signal"]
    assert signal["importance"] == pytest.approx(accuracy - 0.5, abs=0.08)
    for column in ("noise", "colour"):
        assert abs(importance.set_index("column").loc[column, "importance"]) < 0.03
    # Saved beside the run and read back.
    assert load_run(run.path).importance.equals(importance)
    # On a sample of the rows, seeded: the same twice, and the same whatever
    # the chunks the file is read in.
    frame.to_csv(tmp_path / "rows.csv", index=False)
    sampled = run.column_importance(tmp_path / "rows.csv", max_rows=100, n_repeats=2)
    assert sampled["column"].tolist()[0] == "signal"
    for chunk_rows in (37, 100_000):
        again = run.column_importance(
            tmp_path / "rows.csv", max_rows=100, n_repeats=2, chunk_rows=chunk_rows
        )
        assert again.equals(sampled), chunk_rows
    X, y = run._labeled_sample(tmp_path / "rows.csv", 100, 0, 37)
    assert len(y) == 100 and X.index.is_monotonic_increasing
    assert np.array_equal(y, frame.loc[X.index, "y"].to_numpy())
    with pytest.raises(ValueError, match="Target column 'y' is not in the table"):
        run.column_importance(frame.drop(columns="y"))
    with pytest.raises(ValueError, match="max_rows must be a positive integer"):
        run.column_importance(frame, max_rows=0)


def test_column_importance_of_a_regression(tmp_path):
    # y = 3 x0 + a little noise: shuffled, x0's predictions are as far from
    # y as y itself is from an independent copy, R² falls from ~1 to ~-1,
    # and x0's importance (the drop) is ~2.
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x0": rng.normal(size=800), "x1": rng.normal(size=800)})
    frame["y"] = 3 * frame["x0"] + 0.1 * rng.normal(size=800)
    run = fit_table(
        frame,
        "y",
        params={**TINY, "max_epochs": 60},
        bagging=None,
        out=tmp_path / "run",
        progress=False,
    )
    assert run.metrics["test"]["r2"] > 0.97
    importance = run.importance.set_index("column")["importance"]
    assert importance.index.tolist() == ["x0", "x1"]
    assert importance["x0"] == pytest.approx(2.0, abs=0.25)
    assert abs(importance["x1"]) < 0.05


def test_a_preprocessor_with_settings_of_its_own(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "visits": np.round(np.exp(rng.normal(3, 1.5, 300))),
            "a": rng.integers(0, 30, 300),
            "b": rng.integers(0, 30, 300),
        }
    )
    frame["y"] = np.log1p(frame["visits"]) + rng.normal(0, 0.1, 300)
    options = {"params": TINY, "bagging": None, "baselines": False, "progress": False}
    run = fit_table(frame, "y", out=tmp_path / "run", **options)
    assert run.pipeline[0].log_scales_.keys() == {"visits"}
    scales = {c["column"]: c["log_scale"] for c in run.config["columns"]}
    assert scales["visits"] == pytest.approx(run.pipeline[0].log_scales_["visits"])
    assert scales["a"] is None
    report = (tmp_path / "run" / "report.html").read_text()
    assert "log_scale" in report and "log(1 + x / " in report
    assert run.config["preprocessor"]["target_type"] == "continuous"
    mine = TablePreprocessor(log_skewed=False, categorical=["a"])
    run = fit_table(frame, "y", preprocessor=mine, categorical=["b"], **options)
    pre = run.pipeline[0]
    assert pre is not mine and not hasattr(mine, "roles_")  # cloned
    assert pre.log_scales_ == {}
    assert (pre.roles_["a"], pre.roles_["b"]) == ("categorical", "categorical")
    assert run.config["preprocessor"]["categorical"] == ["a", "b"]
    assert run.config["preprocessor"]["log_skewed"] is False
    with pytest.raises(TypeError, match="must be a deepstack.tables.TablePreprocessor"):
        fit_table(frame, "y", preprocessor="log", **options)


def test_column_importance_is_scikit_learns_on_the_table(penguins_run, penguins_files):
    # Preprocessed once and shuffled as blocks of features: the same numbers
    # as scikit-learn shuffling the table's columns through the pipeline
    # (penguins: one-hot columns, missing values with their indicators).
    from sklearn.inspection import permutation_importance

    importance = penguins_run.column_importance(
        penguins_files / "test.csv", n_repeats=3, random_state=1
    )
    frame = pd.read_csv(penguins_files / "test.csv")
    X = frame[penguins_run.config["feature_columns"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReadingWarning)
        direct = permutation_importance(
            penguins_run.pipeline,
            X,
            frame["species"].to_numpy(),
            scoring="accuracy",
            n_repeats=3,
            random_state=1,
        )
    expected = pd.Series(direct.importances_mean, index=X.columns)
    by_column = importance.set_index("column")["importance"]
    assert by_column.to_dict() == pytest.approx(expected.to_dict())
    assert by_column.max() > 0.05


def test_predicting_a_file_shows_the_rows_done(
    penguins_run, awkward_new_rows, tmp_path, capsys
):
    for source, done in (("new.parquet", "192/192 rows"), ("new.csv", "192/? rows")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            penguins_run.write_predictions(
                awkward_new_rows / source,
                tmp_path / "p.csv",
                chunk_rows=50,
                progress=True,
            )
        err = capsys.readouterr().err
        # The total from the Parquet file's metadata; a CSV's is unknown.
        assert f"predicting {source}" in err and done in err, err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        penguins_run.write_predictions(
            awkward_new_rows / "new.parquet", tmp_path / "p.csv", progress=False
        )
    assert "predicting" not in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::UserWarning")  # said in the tests above
def test_a_folder_of_parquet_files(penguins_run, awkward_new_rows, tmp_path):
    rows = pd.read_parquet(awkward_new_rows / "new.parquet")
    whole = penguins_run.predictions_frame(rows, proba=True, keep=["tag"])
    # Parts as Spark or Dask write them, with a marker file beside them.
    flat = tmp_path / "flat.parquet"
    flat.mkdir()
    rows.iloc[:100].to_parquet(flat / "part-0.parquet")
    rows.iloc[100:].to_parquet(flat / "part-1.parquet")
    (flat / "_SUCCESS").write_text("")
    # Hive partitions: a column in the folder names.
    rows.to_parquet(tmp_path / "hive", partition_cols=["year"])
    for folder in (flat, tmp_path / "hive"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = penguins_run.predictions_frame(folder, proba=True, keep=["tag"])
            out = tmp_path / f"{folder.name}.csv"
            n_rows = penguins_run.write_predictions(
                folder, out, proba=True, keep=["tag"], chunk_rows=30
            )
        assert n_rows == 192 == _files.count_rows(folder)
        assert_same_predictions_csv(out.read_text(), expected.to_csv(index=False))
        assert sorted(expected["tag"]) == sorted(whole["tag"])
    assert_same_predictions_csv(
        (tmp_path / "flat.parquet.csv").read_text(), whole.to_csv(index=False)
    )
    # Read whole (as fit reads its data): the parts' rows, in order.
    assert read_table(flat).reset_index(drop=True).equals(rows)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="it holds no Parquet files"):
        penguins_run.predict(empty)


def test_tables_are_read_a_chunk_at_a_time(awkward_new_rows):
    for source in ("new.csv", "new.parquet"):
        chunks = list(iter_table(awkward_new_rows / source, chunk_rows=50))
        assert [len(chunk) for chunk in chunks] == [50, 50, 50, 42]
        assert [chunk.index[0] for chunk in chunks] == [0, 50, 100, 150]
        whole = read_table(awkward_new_rows / source)
        assert pd.concat(chunks)["body_mass_g"].equals(whole["body_mass_g"])
    frame = read_table(awkward_new_rows / "new.csv")
    assert [len(c) for c in iter_table(frame, chunk_rows=100)] == [100, 92]
    with pytest.raises(ValueError, match="chunk_rows must be a positive integer"):
        next(iter_table(frame, chunk_rows=0))


@pytest.mark.filterwarnings("ignore::UserWarning")  # said in the tests above
def test_a_file_unreadable_halfway_leaves_no_predictions(
    penguins_run, awkward_new_rows, tmp_path
):
    bad = tmp_path / "bad.csv"
    text = (awkward_new_rows / "new.csv").read_text()
    bad.write_text(text + "0192,Torgersen,1,2,3,4,5,6,7,8,9,10,11\n")
    out = tmp_path / "predictions.csv"
    with pytest.raises(ValueError, match=r"Cannot read data file .*bad.csv.* as csv"):
        penguins_run.write_predictions(bad, out, chunk_rows=20)
    # The first nine chunks were predicted, then the last failed: no file.
    assert os.listdir(tmp_path) == ["bad.csv"]


def test_rows_without_target_are_dropped_with_a_warning(penguins_files):
    frame = pd.read_csv(penguins_files / "train.csv")
    frame.loc[:9, "species"] = None
    with pytest.warns(UserWarning, match="10 row\\(s\\) without a target were dropped"):
        run = fit_table(
            frame,
            "species",
            params={**TINY, "max_epochs": 2},
            bagging=None,
            progress=False,
        )
    assert run.config["n_train"] + run.metrics["test"]["n_samples"] == 270


def test_unlabeled_rows_feed_pretraining(penguins_files):
    frame = pd.read_csv(penguins_files / "train.csv")
    frame.loc[:99, "species"] = None
    run = fit_table(
        frame,
        "species",
        pretrain="denoising",
        params={**TINY, "max_epochs": 5, "pretrain_epochs": 2},
        progress=False,
    )
    assert run.config["n_unlabeled"] == 100
    assert run.config["n_train"] == 144
    assert len(run.estimator.pretraining_history_) == 1
    assert (
        "100 row(s) without a target are used as unlabeled rows"
        in (run.config["notes"][0])
    )


@pytest.mark.parametrize("n_unlabeled, n_layers", [(200, 1), (50, 0)])
def test_pretrain_auto_follows_the_share_of_unlabeled_rows(
    penguins_files, n_unlabeled, n_layers
):
    frame = pd.read_csv(penguins_files / "train.csv")
    frame.loc[: n_unlabeled - 1, "species"] = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = fit_table(
            frame,
            "species",
            pretrain="auto",
            params={**TINY, "max_epochs": 3, "pretrain_epochs": 2},
            progress=False,
        )
    left_out = [w for w in caught if "are left out" in str(w.message)]
    assert len(left_out) == int(not n_layers)
    n_labeled = run.config["n_train"]
    network = run.estimator
    if not n_layers:
        # Without pretraining the job fits its default bagged networks.
        assert run.config["bagging"] == 5
        network = network.estimators_[0]
    assert len(network.pretraining_history_) == n_layers
    assert network.pretrain == ("denoising" if n_layers else None)
    if n_layers:
        assert run.config["n_unlabeled"] == n_unlabeled
        expected = (
            f"pretrain='auto': denoising pretraining on {n_unlabeled} unlabeled "
            f"and {n_labeled} labeled rows"
        )
    else:
        assert run.config["n_unlabeled"] == 0
        expected = (
            f"pretrain='auto': no pretraining, the {n_unlabeled} unlabeled row(s) "
            f"do not outnumber the {n_labeled} labeled ones and are left out"
        )
    assert expected in run.config["notes"]
    # The classes are the penguins' species, never the unlabeled marker.
    assert -1 not in list(run.estimator.classes_)


def test_regression_rows_without_target_feed_pretraining(tmp_path):
    frame, target = load_table("diabetes")
    unlabeled = frame.iloc[:300].drop(columns=[target])
    labeled = frame.iloc[300:]
    run = fit_table(
        labeled,
        target,
        unlabeled=unlabeled,
        pretrain="auto",
        params={**TINY, "max_epochs": 3, "pretrain_epochs": 2},
        progress=False,
    )
    assert run.task == "regression"
    assert run.config["n_unlabeled"] == 300
    # 300 unlabeled rows against 113 labeled training rows: "auto" pretrains
    # on the unlabeled rows and the labeled rows the fine-tuning trains on
    # (the estimator's validation rows, 12 of 113, stay out of both).
    assert run.config["n_train"] == 113
    (history,) = run.estimator.pretraining_history_
    assert history["n_samples"] == 300 + 113 - 12


def test_regression_with_weights_and_dropped_columns(tmp_path):
    frame, target = load_table("diabetes")
    frame["weight"] = np.where(frame["age"] > 0, 2.0, 1.0)
    frame["row_id"] = np.arange(len(frame))
    with pytest.warns(UserWarning, match="Column 'row_id' dropped: every value"):
        run = fit_table(
            frame,
            target,
            weight_column="weight",
            drop=["s6"],
            params={**TINY, "max_epochs": 50},
            bagging=None,
            out=tmp_path / "diabetes",
            progress=False,
        )
    assert run.task == "regression"
    assert "weight" not in run.config["feature_columns"]
    assert "s6" not in run.config["feature_columns"]
    assert "column 'row_id' dropped: every value is distinct" in " ".join(
        run.config["notes"]
    )
    assert set(run.metrics["test"]) == {"r2", "rmse", "mae", "n_samples", "weighted_by"}
    assert run.metrics["test"]["weighted_by"] == "weight"
    assert run.metrics["test"]["r2"] > 0.2
    # A constant (the training rows' weighted mean) scores R² <= 0 on any
    # rows; the trees learn something.
    baselines = run.metrics["baselines"]
    assert -0.1 < baselines["DummyRegressor"]["r2"] <= 0
    assert (
        baselines["HistGradientBoostingRegressor"]["r2"]
        > baselines["DummyRegressor"]["r2"] + 0.1
    )
    predictions = pd.read_csv(tmp_path / "diabetes" / "test_predictions.csv")
    assert list(predictions.columns) == ["target", "predicted_target"]


def test_a_csvs_dates_are_features_and_carry_to_later_rows(tmp_path):
    # Busy on weekends: the label is in the date column alone, which a CSV
    # holds as strings (one row a day, every value distinct).
    rng = np.random.default_rng(0)
    days = pd.date_range("2022-01-03 09:00", periods=420, freq="D", tz="+01:00")
    frame = pd.DataFrame(
        {
            # With an offset: read as 8 o'clock UTC, the same day.
            "day": days.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "noise": rng.normal(size=420),
            "busy": np.where(days.day_of_week >= 5, "yes", "no"),
        }
    )
    frame.iloc[:350].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[350:].drop(columns="busy").to_csv(tmp_path / "later.csv", index=False)

    def fit(source, epochs):
        out = tmp_path / source.replace(".", "_")
        params = {**TINY, "max_epochs": epochs}
        run = fit_table(
            tmp_path / source,
            "busy",
            params=params,
            bagging=None,
            out=out,
            progress=False,
        )
        return run, load_run(out)

    run, loaded = fit("train.csv", 60)
    roles = {c["column"]: c["role"] for c in run.config["columns"]}
    assert roles == {"day": "datetime", "noise": "numeric"}
    assert not run.config["notes"]
    # Without the date, no better than always "no" (5 days of 7).
    assert run.metrics["test"]["accuracy"] > 0.9
    later = loaded.predict(tmp_path / "later.csv")
    expected = frame["busy"].iloc[350:].to_numpy()
    assert np.mean(later == expected) > 0.9
    # Parquet keeps the time zone in the column's type; the saved run holds
    # none (its trusted loading would refuse a time-zone object).
    frame.assign(day=days).to_parquet(tmp_path / "train.parquet")
    run, loaded = fit("train.parquet", 2)
    rows = frame.assign(day=days).iloc[350:]
    assert np.array_equal(loaded.predict_proba(rows), run.predict_proba(rows))


def test_what_reading_loses_is_noted_once(tmp_path):
    # "?" for a missing weight, an impossible date: in the training rows and
    # in the test split, which the fit reads several times (metrics, test
    # predictions, findings).
    rng = np.random.default_rng(0)
    weight = rng.normal(70, 10, 300).round(1).astype(str).astype(object)
    weight[::15] = "?"
    day = np.array(pd.date_range("2022-01-01", periods=300).strftime("%d/%m/%Y"))
    day = day.astype(object)
    day[[5, 270]] = "31/02/2022"
    frame = pd.DataFrame(
        {"weight": weight, "day": day, "y": rng.choice(["a", "b"], 300)}
    )
    frame.to_csv(tmp_path / "table.csv", index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = fit_table(
            tmp_path / "table.csv",
            "y",
            params={**TINY, "max_epochs": 2},
            bagging=None,
            out=tmp_path / "run",
            progress=False,
        )
    notes = run.config["notes"]
    # Every note once, and each a warning (nothing only in a file).
    assert len(notes) == len(set(notes))
    shown = [w for w in caught if issubclass(w.category, UserWarning)]
    assert sorted(str(w.message) for w in shown) == sorted(
        n[0].upper() + n[1:] + "." for n in notes
    )
    assert not [w for w in shown if issubclass(w.category, ReadingWarning)]
    assert notes[0].startswith("column 'weight': ")
    assert "('?') are treated as missing" in notes[0]
    lost_days = [n for n in notes if "'31/02/2022'" in n]
    assert sum(int(n.split(": ")[-1].split(" ")[0]) for n in lost_days) == 2
    # Metrics and predictions with probabilities read new rows once.
    for use in (run.evaluate, lambda rows: run.predictions_frame(rows, proba=True)):
        with pytest.warns(ReadingWarning) as read:
            use(frame)
        assert sorted(str(w.message) for w in read) == [
            "Column 'day': 2 value(s) that are not dates ('31/02/2022') are "
            "treated as missing.",
            "Column 'weight': 20 value(s) that are not numbers ('?') are treated "
            "as missing.",
        ]


@pytest.mark.parametrize(
    "delimiter, decimal", [(",", "."), (";", ","), ("\t", "."), ("|", ".")]
)
def test_a_csvs_delimiter_is_sniffed(tmp_path, delimiter, decimal):
    # A spreadsheet set to a language whose decimal mark is a comma writes
    # semicolons between fields.
    frame = pd.DataFrame(
        {
            "note": ["a, b; c", "plain", "x|y", "tab\tin"] * 5,
            "size": np.arange(20) * 1.25,
            "count": np.arange(20),
        }
    )
    path = tmp_path / "table.csv"
    frame.to_csv(path, sep=delimiter, decimal=decimal, index=False)
    read = read_table(path)
    assert list(read.columns) == ["note", "size", "count"]
    assert read["size"].dtype == np.float64
    assert np.array_equal(read["size"], frame["size"])
    assert list(read["note"]) == list(frame["note"])
    one_column = tmp_path / "one.csv"
    one_column.write_text("size\n1.5\n2.5\n")
    assert read_table(one_column)["size"].tolist() == [1.5, 2.5]


def test_decimal_comma_numbers_that_pandas_leaves_as_text(tmp_path):
    # A column with a missing-value marker, or with thousands separators,
    # stays text in pandas' reading of a semicolon file: its numbers are
    # read with their decimal comma all the same, by fit and predict alike.
    sizes = [f"{v:.2f}".replace(".", ",") for v in np.arange(40) * 1.25 - 3]
    sizes[7] = "?"
    prices = ["1.234,5", "12,25", "999", "2.000.000"] * 10
    path = tmp_path / "table.csv"
    pd.DataFrame({"size": sizes, "price": prices, "y": [0, 1] * 20}).to_csv(
        path, sep=";", index=False
    )
    for frame in (read_table(path), pd.concat(iter_table(path, chunk_rows=6))):
        pre = TablePreprocessor().fit(frame.drop(columns="y"), frame["y"])
        assert pre.roles_ == {"size": "numeric", "price": "numeric"}
        read, losses = pre._read(frame.drop(columns="y"))
        expected = np.arange(40) * 1.25 - 3
        expected[7] = np.nan
        assert np.allclose(read["size"], expected, equal_nan=True)
        assert read["price"].tolist()[:4] == [1234.5, 12.25, 999.0, 2000000.0]
        assert [str(loss) for loss in losses] == [
            "column 'size': 1 value(s) that are not numbers ('?') are treated as "
            "missing"
        ]
    # A comma file keeps its commas: "1,5" there is text, not 1.5.
    pd.DataFrame({"code": ["1,5", "2"]}).to_csv(tmp_path / "c.csv", index=False)
    assert read_table(tmp_path / "c.csv")["code"].tolist() == ["1,5", "2"]


def test_a_semicolon_file_with_decimal_points_keeps_them(tmp_path):
    # Semicolons say nothing of the decimal mark: numbers such as "0.67" and
    # "-0.036" show points, and "4.912" is 4.912 (not 4912, the thousands of
    # a decimal-comma file) in every column, with or without a marker.
    path = tmp_path / "table.csv"
    path.write_text(
        "y;score;size;ratio\n"
        "4.912;-0.036;1,5;0.67\n"
        "0.67;1.252;2,25;4.912\n"
        "5.561;0.5;3;?\n"
        "12.345;-1.2;4,75;2.5\n"
    )
    frame = read_table(path)
    assert frame["y"].tolist() == [4.912, 0.67, 5.561, 12.345]
    assert frame["score"].tolist() == [-0.036, 1.252, 0.5, -1.2]
    # Each column keeps its own mark where columns disagree.
    assert frame["size"].tolist() == ["1.5", "2.25", "3", "4.75"]
    assert frame["ratio"].tolist() == ["0.67", "4.912", "?", "2.5"]
    assert _to_numbers(frame["ratio"]).tolist()[:2] == [0.67, 4.912]


def test_decimal_commas_are_told_from_the_numbers_whatever_the_delimiter(
    tmp_path,
):
    # A tab file (or a bar file) of a decimal-comma spreadsheet: "8,680" is
    # 8.68 where other numbers ("0,750", "48366,28") show a decimal comma,
    # not 8680 with a thousands separator.
    for sep, name in (("\t", "table.tsv"), ("|", "table.txt")):
        path = tmp_path / name
        path.write_text(
            f"weight{sep}income{sep}n\n8,680{sep}48366,28{sep}1\n"
            f"0,750{sep}37944,5{sep}2\n3,196{sep}?{sep}3\n"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the numbers decide: no note
            frame = read_table(path)
        assert frame["weight"].tolist() == [8.68, 0.75, 3.196]
        assert frame["income"].tolist()[:2] == ["48366.28", "37944.5"]
        assert frame["n"].tolist() == [1, 2, 3]
    # Within a column too: "0,750" decides for "8,680".
    path.write_text("weight|n\n8,680|1\n0,750|2\n3,196|3\n")
    assert read_table(path)["weight"].tolist() == [8.68, 0.75, 3.196]
    # Nothing decides: a thousands separator, but for a semicolon file (a
    # decimal-comma spreadsheet's), said in a note either way.
    path = tmp_path / "table.tsv"
    path.write_text("weight\tn\n8,680\t1\n3,196\t2\n")
    with pytest.warns(UserWarning) as caught:
        frame = read_table(path)
    assert [str(w.message) for w in caught] == [
        "'table.tsv': the numbers of column 'weight' ('8,680', '3,196') have "
        "three digits after a comma, which may mark decimals or separate "
        "thousands, and no other number of the file tells which: they are read "
        "with a thousands separator ('8,680' as 8680); if it marks decimals, "
        "write them with a decimal point."
    ]
    assert _to_numbers(frame["weight"]).tolist() == [8680, 3196]
    semicolons = tmp_path / "table.csv"
    semicolons.write_text("weight;n\n8,680;1\n3,196;2\n")
    with pytest.warns(UserWarning, match=r"read with a decimal comma \('8,680' as"):
        assert read_table(semicolons)["weight"].tolist() == [8.68, 3.196]
    # Thousands separators of a decimal-point file stay so.
    path.write_text("price\tx\n8,680\t0.5\n1,234.5\t2\n")
    frame = read_table(path)
    assert frame["x"].tolist() == [0.5, 2.0]
    assert frame["price"].tolist() == ["8,680", "1,234.5"]


def test_thousands_grouped_by_spaces_are_numbers(tmp_path):
    # French spreadsheets group thousands by a (no-break, or narrow
    # no-break) space: "48 366,28".
    path = tmp_path / "table.csv"
    incomes = ["48\u00a0366,28", "1\u202f234\u202f567,5", "37 944,02", "999,5"]
    path.write_text("income;y\n" + "".join(f"{v};{i}\n" for i, v in enumerate(incomes)))
    frame = read_table(path)
    assert frame["income"].tolist() == ["48366.28", "1234567.5", "37944.02", "999.5"]
    pre = TablePreprocessor().fit(frame[["income"]], [0, 1, 0, 1])
    assert pre.roles_ == {"income": "numeric"}
    read = pre._read(frame[["income"]])[0]["income"]
    assert read.tolist() == [48366.28, 1234567.5, 37944.02, 999.5]
    # With decimal points, as the table reads strings of any source.
    points = pd.DataFrame({"income": ["48\u00a0366.28", "1 234", "5", "12 345 678"]})
    pre = TablePreprocessor().fit(points, [0, 1, 0, 1])
    assert pre.roles_ == {"income": "numeric"}
    read = pre._read(points)[0]["income"]
    assert read.tolist() == [48366.28, 1234.0, 5.0, 12345678.0]


def test_rows_that_end_with_a_delimiter_the_header_lacks(tmp_path):
    # Read with their empty last field dropped, not with the first column
    # as the index and every column shifted by one.
    path = tmp_path / "table.csv"
    path.write_text("age,label,y\n70,no,4.912,\n57,yes,5.561,\n")
    for frame in (read_table(path), pd.concat(iter_table(path, chunk_rows=1))):
        assert list(frame.columns) == ["age", "label", "y"]
        assert frame["age"].tolist() == [70, 57]
        assert frame["y"].tolist() == [4.912, 5.561]
    # A value beyond the header's names is no empty field: an error.
    path.write_text("age,label,y\n70,no,4.912,\n57,yes,5.561,7\n")
    with pytest.raises(ValueError, match="a row holds more values than the header"):
        read_table(path)
    with pytest.raises(ValueError, match="a row holds more values than the header"):
        list(iter_table(path, chunk_rows=1))
    # A header that ends with a delimiter too: a column without a name or
    # any value (dropped as empty), not said to be a saved index.
    path.write_text("age,label,y,\n70,no,4.912,\n57,yes,5.561,\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = read_table(path)
    assert list(frame.columns) == ["age", "label", "y", "Unnamed: 3"]
    assert frame["Unnamed: 3"].isna().all()


def test_excels_first_line_naming_the_delimiter_is_skipped(tmp_path):
    path = tmp_path / "table.csv"
    path.write_bytes(b"sep=;\r\nx;label\r\n1,5;a\r\n2,25;b\r\n")
    frame = read_table(path)
    assert list(frame.columns) == ["x", "label"]
    assert frame["x"].tolist() == [1.5, 2.25]


def test_probabilities_of_many_classes_are_added_at_once():
    # Column by column, a hundred classes made pandas warn, at each chunk,
    # that the frame was fragmented.
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline

    from deepstack.runs import TableRun

    n = 300
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=n), "y": [f"c{i % 120}" for i in range(n)]}
    )
    pipeline = Pipeline([("table", TablePreprocessor()), ("model", DummyClassifier())])
    pipeline.fit(frame[["x"]], frame["y"])
    config = {"task": "classification", "target": "y", "feature_columns": ["x"]}
    run = TableRun(pipeline, config, {})
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.PerformanceWarning)
        out = run.predictions_frame(frame, proba=True)
    classes = list(pipeline.classes_)
    assert list(out.columns) == ["predicted_y", *(f"proba_{c}" for c in classes)]
    assert np.allclose(out["proba_c7"], 3 / n) and np.allclose(out["proba_c70"], 2 / n)


def test_an_excel_workbooks_first_sheet_is_read(penguins_files, tmp_path):
    frame = pd.read_csv(penguins_files / "train.csv")
    path = tmp_path / "penguins.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as workbook:
        frame.to_excel(workbook, sheet_name="birds", index=False)
        frame.head(3).to_excel(workbook, sheet_name="draft", index=False)
    with pytest.warns(UserWarning, match=r"first, 'birds', was read and \['draft'\]"):
        read = read_table(path)
    pd.testing.assert_frame_equal(read, frame, check_dtype=False)
    # The main job takes it as it takes a CSV.
    with pytest.warns(UserWarning, match="2 sheets"):
        run = fit_table(path, "species", params={**TINY, "max_epochs": 2}, bagging=None)
    assert run.config["n_train"] + run.metrics["test"]["n_samples"] == len(frame)


def test_a_workbooks_kept_identifiers_are_copied_as_written(
    penguins_run, penguins_files, tmp_path
):
    # pandas makes a text cell "0012" the number 12: an identifier kept
    # beside the predictions lost its zeros (a CSV's is read as written).
    new = pd.read_csv(penguins_files / "new.csv")
    new.insert(0, "tag", [f"{i:04d}" for i in range(len(new))])
    new.to_excel(tmp_path / "new.xlsx", index=False)
    out = penguins_run.predictions_frame(tmp_path / "new.xlsx", keep=["tag"])
    assert out["tag"].tolist()[:3] == ["0000", "0001", "0002"]
    penguins_run.write_predictions(
        tmp_path / "new.xlsx", tmp_path / "p.parquet", keep=["tag"], chunk_rows=10
    )
    assert pd.read_parquet(tmp_path / "p.parquet").equals(out)


def test_a_csv_that_is_not_utf8_is_read_as_windows_1252(tmp_path):
    path = tmp_path / "spreadsheet.csv"
    path.write_bytes("city;size\nBogotá;1,5\nKöln;2\n".encode("cp1252"))
    with pytest.warns(UserWarning, match="'spreadsheet.csv' is not UTF-8"):
        frame = read_table(path)
    assert frame["city"].tolist() == ["Bogotá", "Köln"]
    assert frame["size"].tolist() == [1.5, 2.0]
    # Bytes that are no text in either encoding name the problem.
    path.write_bytes(b"a,b\n\x81\x8d,1\n")
    with pytest.raises(ValueError, match="as csv: UnicodeDecodeError"):
        read_table(path)


def test_a_utf16_file_is_read_after_its_byte_order_mark(tmp_path):
    # Excel's "Unicode Text": UTF-16 with a byte-order mark, tabs between
    # fields.
    path = tmp_path / "unicode.txt"
    for encoding in ("utf-16-le", "utf-16-be"):
        bom = "\ufeff".encode(encoding)
        path.write_bytes(bom + "city\tsize\nKöln\t1.5\nNîmes\t2\n".encode(encoding))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            frame = read_table(path)
        assert list(frame.columns) == ["city", "size"]
        assert frame["city"].tolist() == ["Köln", "Nîmes"]
        assert frame["size"].tolist() == [1.5, 2.0]
    # NUL bytes otherwise (UTF-16 without its mark, or no text): one line.
    path.write_bytes("city\tsize\nKöln\t1.5\n".encode("utf-16-le"))
    with pytest.raises(ValueError, match="'unicode.txt' holds NUL bytes"):
        read_table(path)


def test_a_target_of_money_written_as_text_is_a_regression(tmp_path):
    frame, target = load_table("diabetes")
    money = [f"${v:,.2f}" for v in frame[target] * 100]
    money[3] = "?"
    frame[target] = money
    frame.to_csv(tmp_path / "train.csv", index=False)
    with pytest.warns(UserWarning) as caught:
        run = fit_table(
            tmp_path / "train.csv",
            target,
            params={**TINY, "max_epochs": 50},
            bagging=None,
            out=tmp_path / "run",
            progress=False,
        )
    assert run.task == "regression"
    # The "?" row has no target: dropped with its note, which names it.
    shown = [w for w in caught if issubclass(w.category, UserWarning)]
    assert sorted(str(w.message) for w in shown) == [
        "1 row(s) whose target is no number ('?') were dropped.",
        f"The target {target!r} holds numbers written as text; they are read as "
        "numbers (a regression).",
    ]
    assert run.metrics["test"]["r2"] > 0.2
    written = pd.read_csv(tmp_path / "run" / "test_predictions.csv")
    assert written[target].dtype == np.float64
    # evaluate reads a labeled file's target the same way.
    again = load_run(tmp_path / "run").evaluate(tmp_path / "train.csv")
    assert again["n_samples"] == len(frame) - 1


def test_search_with_a_time_limit_writes_trials(penguins_files, tmp_path):
    run = fit_table(
        penguins_files / "train.csv",
        "species",
        search="random",
        max_trials=2,
        time_limit="10m",
        search_space={"learning_rate": [1e-2, 3e-3], "hidden_layer_sizes": [(8,)]},
        params={**TINY, "max_epochs": 3},
        out=tmp_path / "searched",
        progress=False,
    )
    trials = pd.read_csv(tmp_path / "searched" / "trials.csv")
    assert len(trials) == 2 == run.metrics["search"]["n_trials"]
    assert set(trials["param_learning_rate"]) <= {1e-2, 3e-3}
    chosen = run.metrics["search"]["best_params"]["learning_rate"]
    assert run.estimator.learning_rate == chosen
    assert run.config["time_limit"] == 600.0
    assert run.metrics["time_limit_reached"] is False


def test_a_time_limit_that_ends_a_search_is_a_note():
    with pytest.warns(UserWarning, match="Time limit: the 1 s limit ended the search"):
        run = fit_table(
            _toy(),
            "y",
            search="random",
            max_trials=5,
            time_limit="1s",
            params={**TINY, "max_epochs": 40, "n_iter_no_change": 40},
            baselines=False,
            progress=False,
        )
    assert run.metrics["time_limit_reached"] is True
    (note,) = [n for n in run.config["notes"] if n.startswith("time limit")]
    assert re.fullmatch(
        r"time limit: the 1 s limit ended the search after [0-5] of 5 trials"
        r"( \(\d of them cut short at an epoch's end\))?; a longer time limit may "
        "find better parameters",
        note,
    ), note


def test_the_default_search_leaves_out_the_parameters_given():
    from deepstack import DeepStackClassifier
    from deepstack.runs._choices import make_search

    estimator = DeepStackClassifier(hidden_layer_sizes=(8,), dropout=0.05)
    with pytest.warns(
        UserWarning, match=r"leaves out \['dropout', 'n_layers', 'units'\]"
    ):
        search = make_search(
            estimator,
            "random",
            2,
            None,
            None,
            0,
            {"hidden_layer_sizes": (8,), "dropout": 0.05},
        )
    assert sorted(search.search_space) == [
        "batch_norm",
        "learning_rate",
        "optimizer",
        "pretrain_epochs",
    ]
    # A given space is searched as given; no parameter given: the whole space.
    given = {"hidden_layer_sizes": [(8,), (16,)]}
    assert (
        make_search(
            estimator, "random", 2, None, given, 0, {"hidden_layer_sizes": (8,)}
        ).search_space
        == given
    )
    assert make_search(estimator, "random", 2, None, None, 0, None).search_space is None
    with pytest.raises(
        ValueError, match="fix every parameter the default search space"
    ):
        make_search(
            estimator,
            "random",
            2,
            None,
            None,
            0,
            dict.fromkeys(
                [
                    "pretrain",
                    "learning_rate",
                    "dropout",
                    "hidden_layer_sizes",
                    "batch_norm",
                    "optimizer",
                ],
                1,
            ),
        )


@pytest.mark.parametrize("bagging", [1, 3])
def test_a_time_limit_bounds_the_training_without_a_search(
    penguins_files, tmp_path, bagging
):
    """A limit spent at once: every network stops at its first epoch end,
    keeps that epoch, and the run says so (warning, note, metrics)."""
    with pytest.warns(UserWarning, match="limit stopped training before early"):
        run = fit_table(
            penguins_files / "train.csv",
            "species",
            params={**TINY, "max_epochs": 200},
            time_limit=1e-9,
            bagging=bagging,
            out=tmp_path / "limited",
            progress=False,
        )
    loaded = load_run(tmp_path / "limited")
    assert loaded.metrics["time_limit_reached"] is True
    assert loaded.metrics["n_epochs"] == 1
    which = "; " if bagging == 1 else " (3 of 3 bagged networks); "
    assert [n for n in loaded.config["notes"] if n.startswith("time limit")] == [
        "time limit: the 1e-09 s limit stopped training before early stopping "
        f"did{which}each network keeps its best epoch, and a longer time limit "
        "may score better"
    ]
    # The limit belongs to the job, not to the saved model.
    if bagging == 1:
        assert run.estimator.callbacks is None
    else:
        assert run.estimator.time_limit is None
        assert [m.n_iter_ for m in run.estimator.estimators_] == [1, 1, 1]
    assert (
        loaded.predict(penguins_files / "new.csv")
        == run.predict(penguins_files / "new.csv")
    ).all()


def test_an_ample_time_limit_is_not_reached(penguins_files, recwarn):
    run = fit_table(
        penguins_files / "train.csv",
        "species",
        params={**TINY, "max_epochs": 5},
        time_limit="1h",
        bagging=1,
        progress=False,
    )
    assert run.metrics["time_limit_reached"] is False
    assert run.metrics["interrupted"] is False
    assert run.metrics["n_epochs"] == 5
    assert not [n for n in run.config["notes"] if n.startswith("time limit")]
    assert not [w for w in recwarn if "time limit" in str(w.message).lower()]


def test_an_interrupted_fit_leaves_no_folder(penguins_files, tmp_path):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        fit_table(
            penguins_files / "train.csv",
            "species",
            params={**TINY, "callbacks": [Interrupt()]},
            out=out,
            progress=False,
        )
    assert not out.exists()
    assert os.listdir(tmp_path) == []


def test_a_fit_stopped_by_ctrl_c_at_an_epoch_end_says_so(tmp_path, python_sigint):
    out = tmp_path / "run"
    with pytest.warns(RuntimeWarning, match=r"interrupted \(Ctrl-C\): training "):
        run = fit_table(
            _toy(),
            "y",
            params={**QUICK, "max_epochs": 50, "callbacks": [ctrl_c_after_epoch(2)]},
            bagging=None,
            baselines=False,
            out=out,
            progress=False,
        )
    note = (
        "interrupted: Ctrl-C stopped the training at the end of epoch 3, before "
        "early stopping or max_epochs did; the network keeps its best epoch so "
        "far, and a fit run to its end may score better"
    )
    for saved in (run, load_run(out)):
        assert saved.metrics["interrupted"] is True
        assert saved.metrics["n_epochs"] == 3
        assert note in saved.config["notes"]
    report = (out / "report.html").read_text()
    assert "<th>interrupted</th><td>Ctrl-C stopped training after epoch 3</td>" in (
        report
    )
    assert note in report


def test_an_existing_folder_is_refused_unless_overwrite(penguins_run, penguins_files):
    before = (penguins_run.path / "metrics.json").read_text()
    with pytest.raises(FileExistsError, match="already exists; .* --overwrite"):
        fit_table(penguins_files / "train.csv", "species", out=penguins_run.path)
    assert (penguins_run.path / "metrics.json").read_text() == before


def test_overwrite_replaces_a_run(penguins_files, tmp_path):
    out = tmp_path / "run"
    params = {**TINY, "max_epochs": 2}
    fit_table(
        penguins_files / "train.csv",
        "species",
        params=params,
        bagging=None,
        out=out,
        progress=False,
    )
    fit_table(
        penguins_files / "train.csv",
        "species",
        params=params,
        bagging=None,
        out=out,
        overwrite=True,
        test_size=0.5,
        progress=False,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n_samples"] == 140
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_an_interrupt_between_the_renames_keeps_the_old_run(tmp_path, monkeypatch):
    # --overwrite sets the old run aside, then renames the new one into
    # place: an interrupt between the two left no run at the path.
    from deepstack.runs import _files

    out, stage = tmp_path / "run", tmp_path / ".run.stage"
    for folder, text in ((out, "old"), (stage, "new")):
        folder.mkdir()
        (folder / "config.json").write_text(text)
    monkeypatch.setattr(_files.os, "replace", interrupted_on_call(os.replace))
    with pytest.raises(KeyboardInterrupt):
        _files._put_in_place(stage, out, overwrite=True)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["run"]
    assert (out / "config.json").read_text() == "old"


def test_overwrite_replaces_only_a_run_folder(tmp_path, monkeypatch):
    """What deepstack did not write is never deleted: refused before the
    data are read (the reading is made to fail loudly)."""

    def read(*args, **kwargs):
        raise AssertionError("the data were read")

    monkeypatch.setattr(_files, "read_table", read)
    data = tmp_path / "data"
    data.mkdir()
    _toy().to_csv(data / "train.csv", index=False)
    (data / "notes.txt").write_text("notes")
    with pytest.raises(
        ValueError, match=r"Output folder '.*data' holds the training file '.*train"
    ):
        fit_table(data / "train.csv", "y", out=data, overwrite=True)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("notes")
    (other / "config.json").write_text("{}")
    with pytest.raises(
        FileExistsError,
        match=r"'.*other' is not a deepstack run folder \(it holds what a run does "
        r"not write: notes.txt\); --overwrite replaces only a run folder or an "
        "empty folder",
    ):
        fit_table(data / "train.csv", "y", out=other, overwrite=True)
    (other / "notes.txt").unlink()
    (other / "config.json").unlink()
    (other / "report.html").write_text("<html>")
    with pytest.raises(FileExistsError, match=r"\(it holds no config.json\)"):
        fit_table(data / "train.csv", "y", out=other, overwrite=True)
    (tmp_path / "file").write_text("mine")
    with pytest.raises(FileExistsError, match=r"\(it is a file\)"):
        fit_table(data / "train.csv", "y", out=tmp_path / "file", overwrite=True)
    # The working directory, or a folder above it, would be renamed away.
    monkeypatch.chdir(data)
    for out in (".", "..", str(tmp_path)):
        with pytest.raises(ValueError, match="is the working directory or a folder"):
            fit_table("train.csv", "y", out=out, overwrite=True)
    # A --test file inside a run folder (its own test predictions, say).
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "test_predictions.csv").write_text("y\n")
    with pytest.raises(ValueError, match="holds the test file"):
        fit_table("train.csv", "y", test=run / "test_predictions.csv", out=run)
    # A Parquet dataset (a folder) as the output folder itself.
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    _toy().to_parquet(dataset / "part-0.parquet")
    with pytest.raises(ValueError, match="holds the training file"):
        fit_table(dataset, "y", out=dataset, overwrite=True)
    assert os.listdir(dataset) == ["part-0.parquet"]
    assert sorted(os.listdir(data)) == ["notes.txt", "train.csv"]
    assert os.listdir(other) == ["report.html"]
    assert (tmp_path / "file").read_text() == "mine"
    assert sorted(os.listdir(run)) == ["config.json", "test_predictions.csv"]


def test_a_folder_written_meanwhile_is_kept_and_the_run_saved_beside(
    tmp_path, monkeypatch
):
    """Another fit to the same folder finishes first: neither run is lost
    (the other one is made, deterministically, as this run is written)."""
    out = tmp_path / "run"
    write_run = _fit_table.write_run

    def other_fit_finishes_first(run, stage, test_frame):
        write_run(run, stage, test_frame)
        out.mkdir()
        (out / "config.json").write_text('{"target": "other"}')

    monkeypatch.setattr(_fit_table, "write_run", other_fit_finishes_first)
    with pytest.raises(
        FileExistsError,
        match=r"^Output folder '.*run' was written by another process while this "
        r"fit ran \(another fit to the same --out\?\): it is left as it is, and "
        r"this run is saved in '.*run-2' instead\.$",
    ):
        fit_table(_toy(), "y", params=QUICK, bagging=None, baselines=False, out=out)
    assert os.listdir(out) == ["config.json"]
    assert load_run(tmp_path / "run-2").target == "y"
    assert sorted(os.listdir(tmp_path)) == ["run", "run-2"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_the_output_folder_is_checked_again_at_the_end(tmp_path, overwrite):
    out = tmp_path / "out"
    # An empty folder (made meanwhile or before) gives way.
    with _files.staged_folder(out, overwrite=overwrite) as stage:
        (stage / "config.json").write_text("{}")
        out.mkdir()
    assert os.listdir(out) == ["config.json"]
    # A folder that is no run stays, even with overwrite.
    (out / "config.json").unlink()
    with pytest.raises(FileExistsError, match=r"saved in '.*out-2' instead"):
        with _files.staged_folder(out, overwrite=overwrite) as stage:
            (stage / "config.json").write_text("{}")
            (out / "notes.txt").write_text("mine")
    assert os.listdir(out) == ["notes.txt"]
    with pytest.raises(FileExistsError, match=r"saved in '.*file-2' instead"):
        with _files.staged_folder(tmp_path / "file") as stage:
            (stage / "config.json").write_text("{}")
            (tmp_path / "file").write_text("mine")
    assert (tmp_path / "file").read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["file", "file-2", "out", "out-2"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.iloc[:0], "table is empty"),
        (lambda f: f.assign(species="Adelie"), "single class"),
        (lambda f: f.assign(species=None), "Every value of the target"),
    ],
)
def test_bad_tables(penguins_files, change, message):
    frame = change(pd.read_csv(penguins_files / "train.csv"))
    with pytest.raises(ValueError, match=message):
        fit_table(frame, "species", params=TINY, progress=False)


def test_a_missing_target_column_lists_the_columns(penguins_files):
    with pytest.raises(
        ValueError,
        match=r"'specie' is not in the table; its "
        r"columns are \['species', 'island'",
    ):
        fit_table(penguins_files / "train.csv", "specie", progress=False)


def test_a_tampered_preprocessor_is_refused(penguins_run, tmp_path):
    import shutil

    import skops.io

    copy = tmp_path / "copy"
    shutil.copytree(penguins_run.path, copy)
    skops.io.dump({"x": pd.Timestamp("2020-01-01")}, copy / "preprocessor.skops")
    with pytest.raises(ValueError, match="that no deepstack preprocessor holds"):
        load_run(copy)


def test_a_preprocessor_with_a_library_function_that_runs_code_is_refused(
    penguins_run, tmp_path
):
    # Every type from scikit-learn and NumPy, as a module-level trust would
    # pass; runstring executes its argument (numpy.memmap would write files).
    import shutil

    import skops.io
    from numpy.testing._private.utils import runstring
    from sklearn.preprocessing import FunctionTransformer

    copy = tmp_path / "copy"
    shutil.copytree(penguins_run.path, copy)
    tampered = copy / "preprocessor.skops"
    preprocessor = skops.io.load(
        tampered, trusted=skops.io.get_untrusted_types(file=tampered)
    )
    preprocessor.scaler_ = FunctionTransformer(runstring)
    skops.io.dump(preprocessor, tampered)
    with pytest.raises(
        ValueError, match=r"holds: \['numpy.testing._private.utils.runstring'\]"
    ):
        load_run(copy)


def test_the_named_trusted_types_are_those_a_preprocessor_holds():
    # A library update that renames one still loads (checked against a
    # fresh preprocessor's types), but slower: keep the names current.
    from deepstack.runs._folder import _TRUSTED_TYPES, _preprocessor_types

    assert _preprocessor_types() <= _TRUSTED_TYPES
    assert "skrub._table_vectorizer.TableVectorizer" in _preprocessor_types()


def test_parse_duration_and_table_defaults():
    assert parse_duration("90s") == 90 and parse_duration("20m") == 1200
    assert parse_duration("1.5h") == 5400 and parse_duration(45) == 45
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
    # Classifiers: the estimator's "auto" batch, whose rate follows the batch;
    # regressors: the same rule's batch as a number, at the given rate.
    assert table_defaults("binary", 30_000)["batch_size"] == "auto"
    assert table_defaults("multiclass", 500)["batch_size"] == "auto"
    assert table_defaults("regression", 500)["batch_size"] == 32
    assert table_defaults("regression", 10**6)["batch_size"] == 512
    regression = table_defaults("regression", 500)
    assert regression["batch_norm"] is False and regression["dropout"] == 0.1
    assert regression["l2"] == 1e-4
    classification = table_defaults("multiclass", 500)
    assert classification["validation_fraction"] == 0.2
    assert "batch_norm" not in classification and "dropout" not in classification


def test_table_bagging_follows_the_rows_and_refuses_a_search(penguins_files):
    assert [table_bagging(n) for n in (100, 20_000, 50_000, 200_000)] == [5, 5, 3, 1]
    with pytest.raises(ValueError, match="cannot be combined with a search"):
        fit_table(penguins_files / "train.csv", "species", search="random", bagging=3)
    with pytest.raises(ValueError, match="bagging must be"):
        fit_table(penguins_files / "train.csv", "species", bagging="many")


def test_a_class_minus_one_is_refused_with_pretraining():
    frame, _ = load_table("breast_cancer")
    frame["target"] = np.where(frame["target"] == 1, 1, -1)
    with pytest.raises(ValueError, match="has a class -1, which marks unlabeled"):
        fit_table(frame, "target", pretrain="denoising", progress=False)


# ------------------------------------------------------------ awkward tables


def _toy(n=200, seed=0):
    """Two numbers and a binary label of the first one."""
    x = np.random.default_rng(seed).normal(size=(n, 2))
    label = np.where(x[:, 0] > 0, "yes", "no")
    return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "y": label})


QUICK = {**TINY, "max_epochs": 2}


def _no_training(monkeypatch):
    """Make any network's fit fail loudly: what is checked must fail first."""
    from deepstack import DeepStackClassifier

    def trained(*args, **kwargs):
        raise AssertionError("a network was trained")

    monkeypatch.setattr(DeepStackClassifier, "fit", trained)


def test_columns_dropped_at_fit_are_not_needed_later(tmp_path):
    frame = _toy().assign(empty=np.nan, const=7, id=np.arange(200) + 1000)
    with pytest.warns(UserWarning, match="'id' dropped"):
        run = fit_table(
            frame, "y", params=QUICK, bagging=None, out=tmp_path / "run", progress=False
        )
    assert run.config["feature_columns"] == ["x1", "x2", "empty", "const", "id"]
    loaded = load_run(tmp_path / "run")
    new = frame[["x2", "x1"]].head(20)  # what the model uses, in any order
    assert np.array_equal(loaded.predict_proba(new), run.predict_proba(frame.head(20)))
    with pytest.raises(ValueError, match=r"\['x2'\] were present at fit"):
        loaded.predict(new.drop(columns="x2"))


def test_test_and_unlabeled_rows_need_the_used_columns(tmp_path, monkeypatch):
    frame = _toy().assign(id=np.arange(200))
    test = _toy(60, seed=1)  # no 'id': dropped at fit, so not needed
    run = fit_table(frame, "y", test=test, params=QUICK, bagging=None)
    assert run.metrics["test"]["n_samples"] == 60
    _no_training(monkeypatch)
    with pytest.raises(
        ValueError, match=r"\['x2'\] were present at fit and are missing from the test"
    ):
        fit_table(frame, "y", test=test.drop(columns="x2"), params=QUICK)
    with pytest.raises(ValueError, match="The test table has no target column 'y'"):
        fit_table(frame, "y", test=test.drop(columns="y"), params=QUICK)
    # A target column without a label (the rows to predict, given as the
    # test rows) failed when they were scored, after the training.
    with pytest.raises(ValueError, match="The test table has no labeled row"):
        fit_table(frame, "y", test=test.assign(y=np.nan), params=QUICK)
    numbers = _toy().assign(y=np.arange(200.0))
    with pytest.raises(ValueError, match=r"no labeled row: .* \('n.a.'\)"):
        fit_table(numbers, "y", test=test.assign(y="n.a."), params=QUICK)
    with pytest.raises(ValueError, match=r"\['x1'\] .* missing from the unlabeled"):
        fit_table(
            frame,
            "y",
            unlabeled=test.drop(columns=["x1", "y"]),
            pretrain="denoising",
            params=QUICK,
        )


def test_a_class_of_one_row_is_kept_for_training():
    frame = _toy()
    frame.loc[0, "y"] = "maybe"
    with pytest.warns(
        UserWarning, match=r"1 class\(es\) of the target have a single row \('maybe'\)"
    ):
        run = fit_table(frame, "y", params=QUICK, progress=False)  # 5 bagged folds
    assert list(run.classes) == ["maybe", "no", "yes"]
    # 199 rows split 159 / 40, and the lone row joins the training rows.
    assert run.config["n_train"] == 160
    assert run.metrics["test"]["n_samples"] == 40
    assert run.predict_proba(frame.head(1)).shape == (1, 3)
    with pytest.raises(ValueError, match="has a single row .* Is it an identifier"):
        fit_table(frame.assign(y=[f"r{i}" for i in range(200)]), "y", params=QUICK)


def test_target_labels_are_read_without_the_spaces_around_them():
    frame = _toy()
    spaced = frame.assign(y=[f" {v} " if i % 3 else v for i, v in enumerate(frame.y)])
    with pytest.warns(UserWarning) as caught:
        run = fit_table(spaced, "y", params=QUICK, bagging=None, progress=False)
    assert run.task == "binary" and list(run.classes) == ["no", "yes"]
    (message,) = [str(w.message) for w in caught if w.category is UserWarning]
    assert message.startswith("The target 'y': 133 label(s) with spaces around them")
    assert message.endswith("are read without them.")
    # evaluate reads a labeled table's target the same way.
    assert run.evaluate(spaced) == run.evaluate(frame)
    # Classes that differ only in case stay apart, with a warning.
    shouted = frame.assign(
        y=[v.upper() if i % 4 == 0 else v for i, v in enumerate(frame.y)]
    )
    with pytest.warns(UserWarning, match=r"differ only in case \('NO', 'no', 'YES'\)"):
        run = fit_table(shouted, "y", params=QUICK, bagging=None, progress=False)
    assert list(run.classes) == ["NO", "YES", "no", "yes"]


def test_kept_columns_never_take_a_prediction_columns_name(
    penguins_run, penguins_files, tmp_path
):
    rows = pd.read_csv(penguins_files / "new.csv").head(5)
    mine = rows.assign(predicted_species="mine", proba_Adelie=-1.0)
    with pytest.raises(
        ValueError,
        match=r"\['predicted_species'\] to keep have the name of a prediction column",
    ):
        penguins_run.predictions_frame(mine, keep=["predicted_species", "island"])
    with pytest.raises(ValueError, match=r"\['proba_Adelie'\] to keep"):
        penguins_run.write_predictions(
            mine, tmp_path / "p.csv", proba=True, keep=["proba_Adelie"]
        )
    assert not list(tmp_path.iterdir())  # nothing written
    # Without probabilities there is no column of that name.
    kept = penguins_run.predictions_frame(mine, keep=["proba_Adelie"])
    assert list(kept.columns) == ["proba_Adelie", "predicted_species"]
    assert kept.proba_Adelie.eq(-1.0).all()


def test_evaluate_says_which_rows_it_leaves_out_or_reads_otherwise(
    penguins_run, penguins_files
):
    rows = pd.read_csv(penguins_files / "test.csv")
    assert rows.species.notna().all()
    rows.loc[:2, "species"] = np.nan
    rows.loc[3, "species"] = "  "  # no label
    rows.loc[4:5, "species"] = " " + rows.species[4:6] + " "
    with pytest.warns(UserWarning) as caught:
        metrics = penguins_run.evaluate(rows, chunk_rows=3)  # notes over chunks
    messages = [str(w.message) for w in caught if w.category is UserWarning]
    assert messages == [
        "4 row(s) without a target are left out of the metrics.",
        f"The target 'species': 2 label(s) with spaces around them "
        f"({rows.species[4]!r}, {rows.species[5]!r}) are read without them.",
    ], messages
    assert metrics["n_samples"] == len(rows) - 4
    # A regression's target that is no number.
    numbers = _toy().assign(y=lambda f: 2 * f["x1"])
    run = fit_table(numbers, "y", params=QUICK, bagging=None, baselines=False)
    text = numbers.astype({"y": object})
    text.loc[:2, "y"] = "oops"
    text.loc[3, "y"] = np.nan
    with pytest.warns(UserWarning) as caught:
        metrics = run.evaluate(text)
    assert [str(w.message) for w in caught if w.category is UserWarning] == [
        "1 row(s) without a target are left out of the metrics.",
        "3 row(s) whose target is no number ('oops') are left out of the metrics.",
    ]
    assert metrics["n_samples"] == 196


def _read(data, target="y", **kwargs):
    """The rows of a job as fit_table reads and checks them (nothing trained)."""
    options = dict(task=None, test=None, test_size=0.2, unlabeled=None, drop=None)
    options.update(categorical=None, weight_column=None, group_column=None)
    options.update(pretrain=None, random_state=0)
    return _rows.read_rows(data, target, **{**options, **kwargs})


def test_blank_boolean_and_categorical_targets_are_read_as_written(tmp_path):
    frame = _toy()
    # True / False with blank cells: four rows without a target, the rest
    # booleans (pandas leaves them objects, which scikit-learn refuses).
    frame.assign(y=frame.x1 > 0).astype({"y": object}).assign(
        y=lambda f: f.y.where(f.index >= 4)
    ).to_csv(tmp_path / "booleans.csv", index=False)
    with pytest.warns(UserWarning, match=r"^4 row\(s\) without a target were dropped"):
        table = _read(tmp_path / "booleans.csv")
    assert table.task == "binary" and len(table.frame) == 196
    assert sorted(table.frame.y.unique()) == [False, True]
    # A label of spaces alone is no label.
    blank = frame.assign(
        y=[" " * (i % 3) if i < 6 else v for i, v in enumerate(frame.y)]
    )
    with pytest.warns(UserWarning) as caught:
        table = _read(blank)
    assert [str(w.message) for w in caught] == [
        "6 row(s) without a target were dropped."
    ]
    assert table.task == "binary" and set(table.frame.y) == {"no", "yes"}
    # A categorical target's unused categories are no classes of one row.
    categories = frame.assign(y=pd.Categorical(frame.y, ["maybe", "no", "yes"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = _read(categories)
    assert table.task == "binary" and len(table.train) == 160


def test_text_read_as_a_missing_target_is_named(tmp_path):
    frame = _toy()
    region = np.where(frame.x1 > 0.5, "EU", np.where(frame.x1 > -0.5, "NA", "AS"))
    frame.assign(y=region).to_csv(tmp_path / "regions.csv", index=False)
    n_na = int((region == "NA").sum())
    with pytest.warns(UserWarning) as caught:
        table = _read(tmp_path / "regions.csv")
    assert [str(w.message) for w in caught] == [
        f"{n_na} row(s) without a target ({n_na} 'NA': text that pandas reads as a "
        "missing value) were dropped."
    ]
    assert set(table.frame.y) == {"EU", "AS"}


def test_integer_labels_with_blank_cells_stay_integers(tmp_path):
    frame = _toy()
    labels = np.where(frame.x1 > 0, 2, 1).astype(float)
    labels[:3] = np.nan  # pandas reads 1, 2 and blanks as 1.0, 2.0, NaN
    frame.assign(y=labels).to_csv(tmp_path / "ints.csv", index=False)
    frame.assign(y=labels).head(60).to_csv(tmp_path / "test.csv", index=False)
    with pytest.warns(UserWarning, match="3 row.s. without a target"):
        run = fit_table(
            tmp_path / "ints.csv",
            "y",
            test=tmp_path / "test.csv",
            params=QUICK,
            bagging=None,
            baselines=False,
            out=tmp_path / "run",
            progress=False,
        )
    assert list(run.classes) == [1, 2] and run.metrics["test"]["n_samples"] == 57
    written = pd.read_csv(tmp_path / "run" / "test_predictions.csv", dtype=str)
    assert len(written) == 57
    assert set(written.y) | set(written.predicted_y) <= {"1", "2"}
    assert {"proba_1", "proba_2"} <= set(written.columns)
    predicted = run.predictions_frame(tmp_path / "test.csv", proba=True)
    assert list(predicted.columns) == ["predicted_y", "proba_1", "proba_2"]


def test_a_target_named_twice_is_refused(tmp_path):
    frame = _toy()
    with pytest.raises(
        ValueError, match=r"The target 'y' names 2 columns of the table"
    ):
        _read(pd.concat([frame, frame[["y"]]], axis=1))
    frame.rename(columns={"x2": "y"}).to_csv(tmp_path / "twice.csv", index=False)
    with (
        pytest.warns(UserWarning, match="names 2 columns 'y'"),
        pytest.raises(ValueError, match=r"read as \['y', 'y.1'\]\); rename all but"),
    ):
        _read(tmp_path / "twice.csv")


def test_codes_with_leading_zeros_stay_codes(tmp_path):
    frame = _toy()
    zips = np.random.default_rng(0).choice(["02134", "10001", "00501", "94105"], 200)
    labels = np.where(frame.x1 > 0, "007", "010")
    frame.assign(zip=zips, y=labels).to_csv(tmp_path / "codes.csv", index=False)
    run = fit_table(
        tmp_path / "codes.csv",
        "y",
        params=QUICK,
        bagging=None,
        baselines=False,
        out=tmp_path / "run",
        progress=False,
    )
    assert run.pipeline[0].roles_["zip"] == "categorical"
    assert list(run.classes) == ["007", "010"]
    loaded = load_run(tmp_path / "run")
    predicted = loaded.predict(tmp_path / "codes.csv")
    assert set(predicted) <= {"007", "010"}
    assert np.array_equal(predicted, run.predict(tmp_path / "codes.csv"))
    assert loaded.evaluate(tmp_path / "codes.csv")["n_samples"] == 200
    # Read chunk by chunk as whole: the codes of every chunk stay strings.
    chunks = list(iter_table(tmp_path / "codes.csv", chunk_rows=50))
    assert all(chunk.zip.map(type).eq(str).all() for chunk in chunks)
    assert read_table(tmp_path / "codes.csv").zip.str.len().eq(5).all()


def test_codes_with_leading_zeros_after_the_first_rows_stay_codes(tmp_path):
    # The first rows decide the columns read as text; a file read whole is
    # checked for codes that first appear later (sorted by code, descending).
    n = _files._CODE_ROWS + 5
    codes = [f"{99999 - i:05d}" for i in range(n - 5)] + ["00501"] * 5
    frame = pd.DataFrame({"code": codes, "x": np.arange(n) % 7, "y": np.arange(n) % 2})
    frame.to_csv(tmp_path / "late.csv", index=False)
    read = read_table(tmp_path / "late.csv")
    assert read.code.tolist() == codes
    assert read.x.dtype.kind == "i"


def test_column_names_that_are_no_strings_are_read_as_strings():
    frame = _toy().assign(colour=lambda f: np.where(f.x2 > 0, "red", "blue"))
    numbered = frame.set_axis(range(4), axis=1)  # read_csv(header=None) names
    with pytest.warns(UserWarning, match=r"names \(0, 1, 2, \.\.\.\) are no strings"):
        run = fit_table(numbered, 2, params=QUICK, bagging=None, baselines=False)
    assert run.target == "2" and run.config["feature_columns"] == ["0", "1", "3"]
    assert np.array_equal(
        run.predict(numbered), run.predict(frame.set_axis(["0", "1", "2", "3"], axis=1))
    )


def test_a_tiny_table_fits_one_network_and_a_constant_target_is_refused():
    assert [table_bagging(n) for n in (2, 9, 10)] == [1, 1, 5]
    run = fit_table(_toy(12, seed=3), "y", params=QUICK, progress=False)
    assert run.config["bagging"] is None and run.config["n_train"] == 9
    with pytest.raises(
        ValueError, match=r"single value \('3.0'\) .* a regression needs at least two"
    ):
        fit_table(_toy().assign(y=3.0), "y", task="regression", params=QUICK)


def test_a_header_that_repeats_a_name_is_noted(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("x,x,y\n1,2,a\n3,4,b\n")
    with pytest.warns(UserWarning, match=r"names 2 columns 'x'; they are read as"):
        frame = read_table(path)
    assert list(frame.columns) == ["x", "x.1", "y"]
    assert frame["x.1"].tolist() == [2, 4]
    # A column without a name (a saved index, say) is named by pandas.
    path.write_text(",x,y\n0,2,a\n1,4,b\n")
    with pytest.warns(UserWarning, match=r"1 column\(s\) without a name, read as "):
        frame = read_table(path)
    assert list(frame.columns) == ["Unnamed: 0", "x", "y"]


def test_a_list_column_is_dropped_and_an_infinite_target_refused(tmp_path):
    frame = _toy().assign(tags=[["a", "b"][: i % 3] for i in range(200)])
    frame.to_parquet(tmp_path / "nested.parquet")
    with pytest.warns(UserWarning, match="'tags' dropped: its values are lists"):
        run = fit_table(
            tmp_path / "nested.parquet",
            "y",
            params=QUICK,
            bagging=None,
            out=tmp_path / "run",
            progress=False,
        )
    assert run.pipeline[0].roles_["tags"] == "dropped"
    (tags,) = [c for c in run.config["columns"] if c["column"] == "tags"]
    assert tags["unique"] == 3
    loaded = load_run(tmp_path / "run")
    assert np.array_equal(loaded.predict(frame.head(5)), run.predict(frame.head(5)))
    numbers = _toy().assign(y=lambda f: 2 * f["x1"])
    regression = fit_table(numbers, "y", params=QUICK, bagging=None)
    with pytest.raises(ValueError, match=r"Probabilities .* this one is a regression"):
        regression.predictions_frame(numbers, proba=True)
    numbers.loc[4, "y"] = np.inf
    with pytest.raises(ValueError, match=r"1 infinite value\(s\) in the training rows"):
        fit_table(numbers, "y", params=QUICK)
    test = numbers.head(20).assign(y=-np.inf)
    with pytest.raises(ValueError, match=r"20 infinite value\(s\) in the test rows"):
        fit_table(numbers.iloc[5:], "y", test=test, params=QUICK)


def test_boolean_labels_where_the_classes_are_text_are_unseen_classes():
    from deepstack.runs._target import as_label_dtype

    classes = np.array(["no", "yes"], dtype=object)
    read = as_label_dtype(np.array([True, False], dtype=object), classes)
    assert read.tolist() == ["True", "False"]
    assert as_label_dtype(np.array([1, 2]), np.array([1, 2, 3])).dtype.kind == "i"


def test_metrics_the_rows_cannot_give_are_left_out_with_a_warning():
    from deepstack.runs._metrics import classification_metrics

    classes = np.array(["a", "b", "c"])
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]] * 2)
    y_pred = np.array(["a", "b", "c"] * 2)
    full = classification_metrics(np.array(["a", "b", "c"] * 2), y_pred, proba, classes)
    assert full["accuracy"] == 1.0 and full["roc_auc"] == 1.0
    assert full["log_loss"] == pytest.approx(-np.log([0.8, 0.8, 0.6]).mean())
    y_true = np.array(["a", "b", "d", "a", "b", "d"])
    with pytest.warns(UserWarning, match=r"2 row\(s\) hold classes not seen at fit"):
        unseen = classification_metrics(y_true, y_pred, proba, classes)
    assert unseen["accuracy"] == pytest.approx(4 / 6)
    assert "log_loss" not in unseen and "roc_auc" not in unseen
    y_true = np.array(["a", "b", "a", "a", "b", "a"])
    with pytest.warns(UserWarning, match="hold 2 of the 3 classes; ROC AUC"):
        two = classification_metrics(y_true, y_pred, proba, classes)
    assert "roc_auc" not in two and two["log_loss"] > 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        one = classification_metrics(np.array(["a"] * 6), y_pred, proba, classes)
    # One warning of ours, in words (none of scikit-learn's).
    assert [str(w.message) for w in caught] == [
        "The rows hold a single class ('a'); ROC AUC needs two and is left out."
    ]
    assert one["accuracy"] == pytest.approx(1 / 3) and "roc_auc" not in one


@pytest.mark.parametrize(
    "options, message",
    [
        ({"categorical": ["y"]}, "Only feature columns can be categorical"),
        ({"categorical": ["z"]}, r"\['z'\] to treat as categorical are not in"),
        ({"drop": ["x1"], "categorical": ["x1"]}, r"\['x1'\] are both dropped and"),
        (
            {"params": {"nonsense": 3}},
            r"Unknown parameter\(s\) \['nonsense'\] of DeepStackClassifier; its "
            r"parameters are \['activation', ",
        ),
        ({"params": {"random_state": 3}}, "The seed is not an estimator parameter"),
        ({"random_state": -1}, "random_state must be an integer from 0"),
        ({"random_state": 2.5}, "random_state must be an integer from 0"),
        # Options that would not apply are refused rather than ignored.
        ({"max_trials": 30}, r"max_trials \(--max-trials\) applies to a search"),
        ({"search_space": {"dropout": [0.1]}}, r"search_space applies to a search"),
        ({"test": "t.csv", "test_size": 0.3}, r"it would not apply: leave it out"),
    ],
)
def test_bad_options_name_the_problem_before_training(options, message, monkeypatch):
    _no_training(monkeypatch)
    with pytest.raises(ValueError, match=message):
        fit_table(_toy(), "y", **options)


@pytest.mark.parametrize(
    "options, hint",
    [
        ({"target": "Y"}, " Did you mean 'y'?"),
        ({"target": " y "}, " Did you mean 'y'?"),
        ({"target": "y", "drop": ["x_1"]}, " Did you mean 'x1'?"),
        ({"target": "y", "weight_column": "caf\xe9"}, " The column 'cafe\u0301' "),
        ({"target": "nothing"}, ""),
    ],
)
def test_a_column_name_not_in_the_table_suggests_the_one_meant(
    options, hint, monkeypatch
):
    """A name that differs from a column only in case, spaces or the Unicode
    form of its accents ("e" and a combining accent, as some files write
    "\xe9") was refused without a word on which column it was close to."""
    _no_training(monkeypatch)
    frame = _toy().assign(**{"cafe\u0301": 1.0})
    with pytest.raises(ValueError) as caught:
        fit_table(frame, **options)
    message = str(caught.value)
    if not hint:  # (nothing close)
        assert message.endswith(f"its columns are {list(frame.columns)}.")
    elif hint.startswith(" Did you mean"):
        assert message.endswith(hint)
    elif hint:
        assert hint + "looks the same but writes its accented letters" in message
        assert "('cafe\\u0301' against 'caf\\xe9')" in message


@pytest.mark.parametrize("task", ["binary", "regression", "groups"])
def test_a_test_share_that_leaves_no_training_rows_names_the_option(task, monkeypatch):
    """200 rows at a test share of 0.999: scikit-learn's split would name its
    train_size; the job names test_size (--test-size) and the count."""
    _no_training(monkeypatch)
    frame, options, unit = _toy(), {}, "200 rows"
    if task == "regression":
        frame, options = frame.assign(y=frame["x1"] * 2), {"task": "regression"}
    if task == "groups":
        frame = frame.assign(g=np.arange(200) % 50)
        options, unit = {"group_column": "g"}, "50 groups"
    with pytest.raises(ValueError) as caught:
        fit_table(frame, "y", test_size=0.999, **options)
    assert str(caught.value) == (
        f"test_size (--test-size) 0.999 holds out all of the {unit} that can be "
        "split, leaving none to train on: give a smaller share (0.2 by default), "
        "or test rows (test=, --test)."
    )
    # A share that leaves one group, or a row of each class, still splits.
    from deepstack.runs._target import split_rows

    share = 0.98 if task == "groups" else 0.99
    task = options.get("task", "binary")
    train, test, _ = split_rows(frame, "y", task, share, 0, frame.get("g"))
    assert (train.shape[0], test.shape[0]) == (
        (4, 196) if "group_column" in options else (2, 198)
    )
    if task == "binary":
        assert sorted(set(train["y"])) == ["no", "yes"]


def test_a_metric_the_test_rows_cannot_give_is_a_note(tmp_path):
    test = _toy(40, seed=1)
    test.loc[:1, "y"] = "maybe"
    with pytest.warns(
        UserWarning, match=r"Test rows: 2 row\(s\) hold classes not seen at fit"
    ):
        run = fit_table(
            _toy(),
            "y",
            test=test,
            params=QUICK,
            bagging=None,
            out=tmp_path / "run",
            progress=False,
        )
    assert "log_loss" not in run.metrics["test"]
    (note,) = [n for n in run.config["notes"] if "not seen at fit" in n]
    assert note.startswith("test rows: 2 row(s) hold classes not seen at fit")
    assert note in load_run(tmp_path / "run").config["notes"]


def _grouped_table():
    """60 patients of 10 rows: a patient's label is random and its rows sit
    close together, so a model can only memorize patients, never generalize
    to new ones (chance is 0.5)."""
    rng = np.random.default_rng(0)
    patient = np.repeat(np.arange(60), 10)
    centers = rng.normal(0, 3, (60, 4))
    label = rng.integers(0, 2, 60)
    X = centers[patient] + rng.normal(0, 0.1, (600, 4))
    return pd.DataFrame(X, columns=list("abcd")).assign(
        patient=[f"p{i}" for i in patient], y=np.where(label[patient], "yes", "no")
    )


def test_a_group_column_keeps_groups_out_of_the_rows_that_score_them():
    from sklearn.model_selection import GroupShuffleSplit

    frame = _grouped_table()
    params = {"hidden_layer_sizes": (16,), "max_epochs": 30, "learning_rate": 1e-2}
    mixed = fit_table(
        frame, "y", drop=["patient"], params=params, bagging=None, progress=False
    )
    # Test rows of the training patients: the trees recognize them.
    assert (
        mixed.metrics["baselines"]["HistGradientBoostingClassifier"]["accuracy"] > 0.9
    )
    single = fit_table(
        frame, "y", group_column="patient", params=params, bagging=None, progress=False
    )
    bagged = fit_table(
        frame, "y", group_column="patient", params=params, bagging=3, progress=False
    )
    for run in (single, bagged):
        # New patients: no better than chance, for every score.
        assert (
            run.metrics["baselines"]["HistGradientBoostingClassifier"]["accuracy"] < 0.7
        )
        assert run.metrics["test"]["accuracy"] < 0.7
        assert "patient" not in run.config["feature_columns"]
        assert run.config["group_column"] == "patient"
    # The single network early-stopped on patients it did not train on; the
    # bag's folds are whole patients.
    assert single.metrics["validation"]["val_accuracy"] < 0.7
    assert bagged.metrics["validation"]["out_of_fold_accuracy"] < 0.7
    split = GroupShuffleSplit(1, test_size=0.2, random_state=0)
    train, _ = next(split.split(frame, groups=frame["patient"]))
    patients = frame["patient"].to_numpy()[train]
    folds = bagged.estimator.fold_of_row_
    assert all(len(set(folds[patients == p])) == 1 for p in set(patients))
    from deepstack.runs._report import _summary

    page = _summary(single.config, single.metrics)
    assert "<th>group column (groups kept whole)</th><td>patient</td>" in page
    # The group column is not needed to predict, nor warned about when there.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert len(single.predict(frame)) == 600
        assert len(single.predict(frame.drop(columns=["patient", "y"]))) == 600


def test_fewer_groups_than_folds_make_fewer_bagged_networks():
    frame = _grouped_table()
    frame["patient"] = frame["patient"].map(lambda p: f"site{int(p[1:]) % 4}")
    with pytest.warns(UserWarning, match="Bagging: the training rows hold 3 group"):
        run = fit_table(
            frame,
            "y",
            group_column="patient",
            params={"hidden_layer_sizes": (8,), "max_epochs": 2},
            baselines=False,
            progress=False,
        )
    # 4 sites: 1 for the test rows, 3 folds of one site each.
    assert run.config["bagging"] == 3
    assert (
        "bagging: the training rows hold 3 group(s), fewer than the 5 folds of the "
        "bagging; 3 bagged networks are trained, a fold of whole groups each"
    ) in run.config["notes"]
    assert run.metrics["test"]["n_samples"] == 150


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.assign(patient=None), "has 600 missing value"),
        (lambda f: f.assign(patient="p"), "holds a single group"),
    ],
)
def test_bad_group_columns(change, message):
    with pytest.raises(ValueError, match=message):
        fit_table(change(_grouped_table()), "y", group_column="patient")
    with pytest.raises(ValueError, match="group column 'nope' is not in the table"):
        fit_table(_grouped_table(), "y", group_column="nope")
    with pytest.raises(ValueError, match="another column than the target"):
        fit_table(_grouped_table(), "y", group_column="y")


def _class_groups(n_groups=2, rows=20, seed=0):
    """Three classes, each in ``n_groups`` groups of its own ("a0", "a1",
    ...), ``rows`` rows a group."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(list("abc"), n_groups * rows)
    groups = [f"{c}{i // rows}" for c in "abc" for i in range(n_groups * rows)]
    x = rng.normal(size=len(labels)) + (labels == "b") * 3 + (labels == "c") * 6
    return pd.DataFrame(
        {"x1": x, "x2": rng.normal(size=len(labels)), "y": labels, "g": groups}
    )


def test_a_group_split_keeps_every_class_in_the_training_rows():
    from sklearn.model_selection import GroupShuffleSplit

    from deepstack.runs._target import split_rows

    frame = _class_groups()
    # Seeds whose single draw put both groups of a class in the test rows.
    lost = [
        seed
        for seed in range(40)
        if frame["y"]
        .iloc[
            next(
                GroupShuffleSplit(1, test_size=0.2, random_state=seed).split(
                    frame, groups=frame["g"]
                )
            )[0]
        ]
        .nunique()
        < 3
    ]
    assert lost
    for seed in lost:
        train, test, _ = split_rows(frame, "y", "multiclass", 0.2, seed, frame["g"])
        assert set(train["y"]) == {"a", "b", "c"}
        assert not set(train["g"]) & set(test["g"])
    # Two groups of two classes: the test rows' group takes a class away.
    two = frame[frame["g"].isin(["a0", "b0"])]
    with pytest.raises(ValueError, match=r"class\(es\) '[ab]' always have all"):
        split_rows(two, "y", "multiclass", 0.2, 0, two["g"])


def test_test_rows_of_classes_unseen_at_fit_still_make_a_report(tmp_path):
    frame = _class_groups()
    test = frame.iloc[:10].assign(y="zz")
    with pytest.warns(UserWarning, match="10 row\\(s\\) hold classes not seen at fit"):
        run = fit_table(
            frame.drop(columns="g"),
            "y",
            test=test.drop(columns="g"),
            params=QUICK,
            bagging=None,
            baselines=False,
            out=tmp_path / "run",
            progress=False,
        )
    assert run.metrics["test"]["accuracy"] == 0.0
    assert "confusion matrix" in (tmp_path / "run" / "report.html").read_text()


def test_a_report_that_fails_leaves_the_run_and_says_why(tmp_path, monkeypatch):
    from deepstack.runs import _report

    def broken(folder):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(_report, "write_report", broken)
    with pytest.warns(
        UserWarning, match=r"report.html could not be written \(RuntimeError: no fonts"
    ):
        fit_table(
            _toy(),
            "y",
            params=QUICK,
            bagging=None,
            baselines=False,
            out=tmp_path / "run",
            progress=False,
        )
    assert load_run(tmp_path / "run").predict(_toy(5)).shape == (5,)
    assert not (tmp_path / "run" / "report.html").exists()


def test_an_error_after_training_says_the_training_ended(monkeypatch):
    from deepstack.runs import _run

    def broken(*args, **kwargs):
        raise ValueError("cannot score")

    monkeypatch.setattr(_run.TableRun, "evaluate", broken)
    with pytest.raises(ValueError, match="cannot score") as caught:
        fit_table(
            _toy(), "y", params=QUICK, bagging=None, baselines=False, progress=False
        )
    assert "The training ended, but scoring the test rows" in caught.value.__notes__[0]


def test_weights_weight_the_test_metrics_and_the_baselines(tmp_path):
    from sklearn.metrics import accuracy_score

    frame = _toy(300).assign(w=np.random.default_rng(1).uniform(0.1, 3.0, 300))
    train, test = frame.iloc[:200], frame.iloc[200:]
    run = fit_table(
        train,
        "y",
        test=test,
        weight_column="w",
        params=QUICK,
        bagging=None,
        out=tmp_path / "run",
        progress=False,
    )
    scored = run.metrics["test"]
    assert scored["weighted_by"] == "w"
    predicted = pd.read_csv(tmp_path / "run" / "test_predictions.csv")["predicted_y"]
    assert scored["accuracy"] == pytest.approx(
        accuracy_score(test["y"], predicted, sample_weight=test["w"])
    )
    # The constant model's accuracy is the weighted share of its class.
    dummy = run.metrics["baselines"]["DummyClassifier"]
    majority = test["y"] == train["y"].mode()[0]
    assert dummy["accuracy"] == pytest.approx(
        test["w"][majority].sum() / test["w"].sum()
    )
    assert dummy["weighted_by"] == "w"
    # --test given: no share was held out.
    assert run.config["test_size"] is None
    page = (tmp_path / "run" / "report.html").read_text()
    assert "Test metrics (weighted by the column w)" in page
    again = load_run(tmp_path / "run")
    assert again.evaluate(test) == pytest.approx(scored)
    with pytest.warns(UserWarning, match="no weight column 'w' .*: the metrics are"):
        plain = again.evaluate(test.drop(columns="w"))
    assert plain["weighted_by"] is None
    assert plain["accuracy"] == pytest.approx(accuracy_score(test["y"], predicted))
    with pytest.raises(ValueError, match="another column than the target"):
        fit_table(train, "y", weight_column="y")


def test_a_single_test_row_leaves_r2_and_the_importance_out(tmp_path):
    frame = _toy(120).assign(y=lambda f: f["x1"] * 2.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = fit_table(
            frame,
            "y",
            test=frame.iloc[:1],
            params=QUICK,
            bagging=None,
            baselines=False,
            out=tmp_path / "run",
            progress=False,
        )
    assert "r2" not in run.metrics["test"] and run.metrics["test"]["n_samples"] == 1
    messages = [str(w.message) for w in caught]
    assert [m for m in messages if "R²" in m or "R^2" in m] == [
        "Test rows: a single row: R² needs two and is left out."
    ]
    assert run.importance is None
    assert not (tmp_path / "run" / "importance.csv").exists()


def test_two_groups_leave_the_training_rows_one_and_are_refused(monkeypatch):
    _no_training(monkeypatch)
    frame = _class_groups(n_groups=4)
    frame["g"] = np.where(np.arange(len(frame)) % 2, "odd", "even")
    with pytest.raises(
        ValueError,
        match=r"The training rows hold a single group \('(odd|even)'\): validation "
        "rows of whole groups",
    ):
        fit_table(frame, "y", group_column="g", bagging=None, params=QUICK)


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"params": {"refit_on_all": True}, "bagging": 2},
            r"refit_on_all \(--param refit_on_all=true\) does not fit bagged "
            r"networks.*\(--bagging 1\)",
        ),
        (
            {"params": {"refit_on_all": True}, "bagging": None, "group_column": "g"},
            r"with a group column \(--group-col\) the validation rows are whole",
        ),
        (
            {"bagging": 2, "search": "random"},
            r"bagging \(--bagging\) applies to a single network's fit.*--bagging 1",
        ),
        (
            {"params": {"hidden_layer_sizes": 64}},
            r"hidden_layer_sizes is a list of layer widths, not a number \(64\): "
            r"\[64\]",
        ),
    ],
)
def test_options_the_job_refuses_are_named_as_given(options, message, monkeypatch):
    _no_training(monkeypatch)
    with pytest.raises(ValueError, match=message):
        fit_table(_class_groups(n_groups=4), "y", progress=False, **options)


def test_importance_shuffles_fewer_times_on_a_wide_table(
    penguins_run, penguins_files, monkeypatch
):
    """5 shuffles a column up to 100 columns, then 500 in all (each is a
    prediction of the rows): 150 columns get 3."""
    import sklearn.inspection

    seen = []
    original = sklearn.inspection.permutation_importance

    def spy(*args, **kwargs):
        seen.append(kwargs["n_repeats"])
        return original(*args, **kwargs)

    monkeypatch.setattr(sklearn.inspection, "permutation_importance", spy)
    rng = np.random.default_rng(0)
    columns = [f"x{i}" for i in range(150)]
    wide = pd.DataFrame(rng.normal(size=(120, 150)), columns=columns)
    wide["y"] = np.where(wide["x0"] > 0, "a", "b")
    run = fit_table(
        wide,
        "y",
        params={**TINY, "max_epochs": 1},
        bagging=None,
        baselines=False,
        progress=False,
    )
    assert len(run.column_importance(wide.iloc[:40])) == 150 and seen == [3]
    penguins_run.column_importance(penguins_files / "test.csv")
    assert seen == [3, 5]


def test_a_given_preprocessors_single_categorical_name_stays_one_name():
    # A str names one column; list("city") made it four one-letter names.
    from deepstack.runs._training import _preprocessor

    given = TablePreprocessor(categorical="city")
    assert _preprocessor(given, ["zip"], "binary").categorical == ["city", "zip"]


def test_labels_that_no_boolean_or_integer_class_reads_are_unseen_classes():
    # numpy reads any text but "" as True, and 1.5 as the integer 1: a
    # label that no class reads exactly stays itself, a class unseen at fit.
    booleans = np.array([False, True])
    labels = np.array(["no", "True", "false", "0", 1, 0.0], dtype=object)
    read = as_label_dtype(labels, booleans)
    assert read.tolist() == ["no", True, False, False, True, False]
    assert [type(v) for v in read.tolist()][1:] == [bool] * 5
    integers = np.array([0, 1])
    assert as_label_dtype(np.array([1.0, 1.5]), integers).tolist() == [1, 1.5]
    read = as_label_dtype(np.array(["0", "1", "maybe"], dtype=object), integers)
    assert read.tolist() == [0, 1, "maybe"]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_evaluate_scores_text_labels_of_boolean_or_integer_classes(tmp_path):
    toy = _toy()
    yes = toy["y"] == "yes"
    booleans = fit_table(
        toy.assign(y=yes), "y", params=QUICK, bagging=None, baselines=False
    )
    # A Parquet file's text labels: "yes" and "no" are no booleans (numpy
    # read them all as True, one class, and scored them as such).
    toy.to_parquet(tmp_path / "text.parquet")
    with pytest.warns(UserWarning, match=r"200 row\(s\) hold classes not seen at fit"):
        scores = booleans.evaluate(tmp_path / "text.parquet")
    assert scores["accuracy"] == 0.0
    # "True" and "False" written as text are the booleans.
    toy.assign(y=yes.astype(str)).to_parquet(tmp_path / "written.parquet")
    truth = booleans.evaluate(toy.assign(y=yes))
    assert booleans.evaluate(tmp_path / "written.parquet") == truth
    # Integer classes and a label that is no integer: an unseen class, not
    # an error about a mix of label types.
    codes = yes.astype(int)
    integers = fit_table(
        toy.assign(y=codes), "y", params=QUICK, bagging=None, baselines=False
    )
    odd = toy.assign(y=codes.astype(object))
    odd.loc[0, "y"] = "maybe"
    with pytest.warns(UserWarning, match=r"1 row\(s\) hold classes not seen at fit"):
        scores = integers.evaluate(odd)
    right = integers.predict(odd)[1:] == codes.to_numpy()[1:]
    assert scores["accuracy"] == pytest.approx(right.sum() / 200)
    assert "log_loss" not in scores


def test_a_regression_target_that_is_no_number_is_named_at_fit(tmp_path):
    # As evaluate says it, and as a feature's value that is no number: a
    # typo in the target is not a row "without a target".
    rng = np.random.default_rng(0)
    x = rng.normal(size=120)
    frame = pd.DataFrame({"x": x, "y": [f"${v:,.2f}" for v in 1000 + 100 * x]})
    frame.loc[3, "y"] = "n.a."
    frame.loc[4, "y"] = np.nan
    test = frame.iloc[100:].copy()
    test.loc[100, "y"] = "oops"
    with pytest.warns(UserWarning) as caught:
        run = fit_table(
            frame.iloc[:100],
            "y",
            test=test,
            params=QUICK,
            bagging=None,
            baselines=False,
            out=tmp_path / "run",
        )
    said = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert "1 row(s) without a target were dropped." in said
    assert "1 row(s) whose target is no number ('n.a.') were dropped." in said
    assert (
        "Test rows: 1 row(s) whose target is no number ('oops') are left out of "
        "the metrics." in said
    )
    assert run.metrics["test"]["n_samples"] == 19
    written = pd.read_csv(tmp_path / "run" / "test_predictions.csv")
    assert len(written) == 19 and written["y"].dtype == np.float64


def test_weights_of_the_test_rows_are_checked_before_the_training(monkeypatch):
    # A weight that no row can have, in a row that the split holds out for
    # testing, failed only when the test rows were scored: after training.
    _no_training(monkeypatch)
    for row in range(10):
        frame = _toy(50).assign(w=1.0)
        frame.loc[row, "w"] = -2.0
        with pytest.raises(ValueError, match=r"1 value\(s\) are not \('-2.0'\)"):
            fit_table(frame, "y", weight_column="w", params=QUICK, bagging=None)
