"""The ``deepstack`` command end to end: fit, predict, evaluate, report, run."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import deepstack
from deepstack.cli import main
from deepstack.runs._report import SECTIONS
from tests.conftest import (
    assert_same_predictions_csv,
    ctrl_c_after_epoch,
    default_sigint,
    write_penguins,
)

TINY = ["--param", "hidden_layer_sizes=[16]", "--param", "max_epochs=20"]
TINY += ["--param", "learning_rate=0.01"]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return write_penguins(tmp_path_factory.mktemp("tables"), 300, 1)


@pytest.fixture(scope="module")
def fitted(tables, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "penguins"
    code = main(
        [
            "fit",
            str(tables / "train.csv"),
            "--target",
            "species",
            "--out",
            str(out),
            "--quiet",
            *TINY,
        ]
    )
    assert code == 0
    return out


def _error(capsys, argv):
    """Run ``argv``; return the one error line (asserting exit status 2)."""
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line]
    errors = [line for line in err if line.startswith("deepstack: error: ")]
    assert len(errors) == 1, err
    return errors[0]


def test_fit_prints_a_summary_and_writes_the_folder(tables, tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "fit",
                str(tables / "train.csv"),
                "--target",
                "species",
                "--out",
                str(out),
                "--quiet",
                "--no-log-scale",
                *TINY,
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["preprocessor"]["log_skewed"] is False
    assert f"test accuracy {metrics['test']['accuracy']:.4f} on 60 rows" in printed
    assert f"run folder: {out}" in printed
    assert "hidden layers [16]" in printed
    # "auto" regularization as the fit resolved it (a single number each).
    assert re.search(r"dropout \d[\d.e-]* \(auto\)", printed), printed
    assert "; 5 bagged networks (k-fold)" in printed
    assert "columns that matter most (drop in test accuracy when shuffled): " in printed
    hgb, dummy = (
        metrics["baselines"][name]["accuracy"]
        for name in ("HistGradientBoostingClassifier", "DummyClassifier")
    )
    assert (
        "baselines on the same rows (test accuracy): "
        f"HistGradientBoostingClassifier {hgb:.4f}, DummyClassifier {dummy:.4f}"
    ) in printed
    assert (out / "report.html").is_file()


def test_predict_writes_predictions_and_probabilities(fitted, tables, tmp_path):
    out = tmp_path / "predictions.csv"
    assert (
        main(
            [
                "predict",
                str(fitted),
                str(tables / "new.csv"),
                "--out",
                str(out),
                "--proba",
            ]
        )
        == 0
    )
    predictions = pd.read_csv(out)
    assert list(predictions.columns) == [
        "predicted_species",
        "proba_Adelie",
        "proba_Chinstrap",
        "proba_Gentoo",
    ]
    assert len(predictions) == 44
    proba = predictions.filter(like="proba_").to_numpy()
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    best = np.array(["Adelie", "Chinstrap", "Gentoo"])[proba.argmax(axis=1)]
    assert np.array_equal(best, predictions["predicted_species"].to_numpy())
    truth = pd.read_csv(tables / "test.csv")["species"]
    assert (truth.to_numpy() == best).mean() > 0.85


def test_predict_a_chunk_at_a_time(fitted, tables, tmp_path, capsys):
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    argv = ["predict", str(fitted), str(tables / "new.csv"), "--proba"]
    assert main([*argv, "--out", str(whole)]) == 0
    assert main([*argv, "--out", str(chunked), "--chunk-rows", "5"]) == 0
    assert "44 predictions written" in capsys.readouterr().out
    assert_same_predictions_csv(chunked.read_text(), whole.read_text())
    assert len(pd.read_csv(chunked)) == 44
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--chunk-rows", "0"])
    assert exited.value.code == 2
    assert "--chunk-rows: expected a positive integer, got '0'" in (
        capsys.readouterr().err
    )


def test_predict_to_standard_output_and_refusing_to_overwrite(
    fitted, tables, tmp_path, capsys
):
    assert main(["predict", str(fitted), str(tables / "new.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "predicted_species" and len(lines) == 45
    existing = tmp_path / "p.csv"
    existing.write_text("keep me\n")
    line = _error(
        capsys,
        ["predict", str(fitted), str(tables / "new.csv"), "--out", str(existing)],
    )
    assert "already exists" in line and "--overwrite" in line
    assert existing.read_text() == "keep me\n"


def test_predict_keeps_the_columns_asked_for(fitted, tables, tmp_path, capsys):
    rows = pd.read_csv(tables / "new.csv")
    rows.insert(0, "tag", [f"penguin-{i}" for i in range(len(rows))])
    rows.to_csv(tmp_path / "tagged.csv", index=False)
    out = tmp_path / "p.csv"
    argv = ["predict", str(fitted), str(tmp_path / "tagged.csv"), "--out", str(out)]
    assert main([*argv, "--keep", "tag", "--keep", "island", "--keep", "tag"]) == 0
    # No note on 'tag' (a column unseen at fit, but asked for).
    assert "not seen at fit" not in capsys.readouterr().err
    kept = pd.read_csv(out)
    assert list(kept.columns) == ["tag", "island", "predicted_species"]
    assert kept["tag"].tolist() == rows["tag"].tolist()
    assert kept["island"].tolist() == rows["island"].tolist()
    plain = deepstack.load_run(fitted).predict(tables / "new.csv")
    assert kept["predicted_species"].tolist() == plain.tolist()
    line = _error(capsys, [*argv, "--overwrite", "--keep", "name"])
    assert "['name'] to keep are not in the data table" in line


def test_predict_makes_the_output_folder_and_file_errors_are_one_line(
    fitted, tables, tmp_path, capsys
):
    out = tmp_path / "new" / "folder" / "p.csv"
    assert (
        main(["predict", str(fitted), str(tables / "new.csv"), "--out", str(out)]) == 0
    )
    assert len(pd.read_csv(out)) == 44
    # A path that cannot be written (a file where a folder should be): one line.
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = _error(
        capsys,
        ["predict", str(fitted), str(tables / "new.csv"), "--out", str(blocker / "p")],
    )
    assert str(blocker) in line


def test_predict_checks_its_out_file_before_predicting(
    tables, tmp_path, capsys, monkeypatch
):
    # Each refused before the run is loaded, in one line.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("deepstack.runs.load_run", lambda *a: pytest.fail("loaded"))
    (tmp_path / "new.csv").write_bytes((tables / "new.csv").read_bytes())
    (tmp_path / "run").mkdir()
    argv = ["predict", "run", "new.csv", "--out"]
    existing = tmp_path / "p.csv"
    existing.write_text("keep me\n")
    # The path as it is written: sub/../p.csv is p.csv, sub there or not.
    line = _error(capsys, [*argv, "./sub/../p.csv"])
    assert line == (
        "deepstack: error: './sub/../p.csv' already exists; choose another --out "
        "or pass --overwrite."
    )
    assert existing.read_text() == "keep me\n" and not (tmp_path / "sub").exists()
    # Never the table being predicted, even with --overwrite.
    line = _error(capsys, [*argv, "./sub/../new.csv", "--overwrite"])
    assert line == (
        "deepstack: error: Cannot write the predictions to './sub/../new.csv': it "
        "is the table being predicted; write them to another file."
    )
    # A folder, or a path below a file.
    (tmp_path / "outdir").mkdir()
    line = _error(capsys, [*argv, "outdir", "--overwrite"])
    assert line == (
        "deepstack: error: Cannot write the predictions to 'outdir': it is a "
        "folder; name a file in it, such as 'outdir/predictions.csv'."
    )
    line = _error(capsys, [*argv, "p.csv/x.csv"])
    assert line == (
        "deepstack: error: Cannot write the predictions to 'p.csv/x.csv': "
        f"{str(existing)!r} is a file, not a folder."
    )
    assert existing.read_text() == "keep me\n"


def test_predict_into_a_pipe_closed_early_ends_quietly(fitted, tables, tmp_path):
    # `deepstack predict RUN rows.csv | head -1`: head closes the pipe while
    # predictions (far more than a pipe holds) are still being written.
    rows = pd.read_csv(tables / "new.csv")
    pd.concat([rows] * 100).to_csv(tmp_path / "many.csv", index=False)
    command = [sys.executable, "-m", "deepstack.cli", "predict", str(fitted)]
    process = subprocess.Popen(
        [*command, str(tmp_path / "many.csv"), "--proba"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    header = b"predicted_species,proba_Adelie,proba_Chinstrap,proba_Gentoo\n"
    assert process.stdout.readline() == header
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_evaluate_prints_metrics(fitted, tables, capsys):
    assert main(["evaluate", str(fitted), str(tables / "test.csv")]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n_samples"] == 44 and metrics["accuracy"] > 0.85
    argv = ["evaluate", str(fitted), str(tables / "test.csv"), "--importance"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in printed.items() if k != "column_importance"} == metrics
    expected = deepstack.load_run(fitted).column_importance(tables / "test.csv")
    assert printed["column_importance"] == expected.to_dict("records")
    assert len(expected) == 7 and expected["importance"].iloc[0] > 0.05


def _main_in_a_fresh_process(commands, env_backend=None, cwd=None):
    """``main(argv)`` for each argv of ``commands`` in a fresh process, with
    ``KERAS_BACKEND`` set to ``env_backend`` (None: unset). Each command's
    output ends with a line ``status N``; the last line is the JSON list
    ``[Keras's backend or None if it never loaded, whether TensorFlow was
    imported]``."""
    code = (
        "import json, sys\n"
        "from deepstack.cli import main\n"
        f"for argv in {commands!r}:\n"
        "    print('status', main(argv))\n"
        "keras = sys.modules.get('keras')\n"
        "backend = keras.backend.backend() if keras else None\n"
        "print(json.dumps([backend, 'tensorflow' in sys.modules]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if env_backend is not None:
        env["KERAS_BACKEND"] = env_backend
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd
    )


def _predict_in_a_fresh_process(run, data, folder, report=None):
    """``deepstack predict run data --proba`` then ``evaluate`` (and ``report``
    of the run folder ``report``, if given) in a fresh process with
    ``KERAS_BACKEND`` unset; returns the predictions, the printed metrics,
    the Keras backend the process used and whether it imported TensorFlow."""
    out = folder / "fresh_predictions.csv"
    predict = ["predict", str(run), str(data), "--proba", "--out", str(out)]
    commands = [predict, ["evaluate", str(run), str(data)]]
    commands += [] if report is None else [["report", str(report)]]
    fresh = _main_in_a_fresh_process(commands)
    assert fresh.returncode == 0, fresh.stderr
    lines = fresh.stdout.splitlines()
    statuses = [i for i, line in enumerate(lines) if line.startswith("status ")]
    assert [lines[i] for i in statuses] == ["status 0"] * len(commands)
    backend, tensorflow = json.loads(lines[-1])
    # evaluate's output (the metrics) lies between the first two statuses.
    metrics = json.loads("\n".join(lines[statuses[0] + 1 : statuses[1]]))
    return pd.read_csv(out), metrics, backend, tensorflow


def _same_predictions(run, data, folder, fresh, fresh_metrics, capsys):
    """The fresh process's predictions and metrics are this process's
    (TensorFlow): labels equal, probabilities within 1e-6."""
    ours = folder / "our_predictions.csv"
    argv = ["predict", str(run), str(data), "--proba", "--out", str(ours)]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), str(data)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    ours = pd.read_csv(ours)
    assert list(fresh.columns) == list(ours.columns)
    label = ours.columns[0]
    assert fresh[label].tolist() == ours[label].tolist()
    proba = ours.filter(like="proba_").to_numpy()
    assert proba.shape[1] == 3
    difference = np.abs(fresh.filter(like="proba_").to_numpy() - proba).max()
    assert 0 <= difference < 1e-6
    assert fresh_metrics.keys() == metrics.keys()
    assert all(np.isclose(fresh_metrics[k], metrics[k]) for k in metrics)


def test_predict_computes_with_numpy_by_default(fitted, tables, tmp_path, capsys):
    """With ``KERAS_BACKEND`` unset, predict, evaluate and report run on
    Keras's NumPy backend and never import TensorFlow, and give TensorFlow's
    answers (the report byte for byte)."""
    import shutil

    data = tables / "test.csv"
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    shutil.copytree(fitted, ours)
    shutil.copytree(fitted, theirs)
    (ours / "report.html").unlink()
    (theirs / "report.html").unlink()
    fresh, metrics, backend, tensorflow = _predict_in_a_fresh_process(
        fitted, data, tmp_path, report=theirs
    )
    assert (backend, tensorflow) == ("numpy", False)
    assert metrics["n_samples"] == 44
    _same_predictions(fitted, data, tmp_path, fresh, metrics, capsys)
    assert main(["report", str(ours)]) == 0
    page = (ours / "report.html").read_bytes()
    assert len(page) > 10_000 and page == (theirs / "report.html").read_bytes()


@pytest.mark.parametrize(
    "flag, env_backend, expected",
    [
        (None, None, "numpy"),
        (None, "jax", "jax"),
        ("numpy", "tensorflow", "numpy"),
        ("tensorflow", None, "tensorflow"),
    ],
)
def test_the_backend_is_the_flag_then_the_environment_then_numpy(
    flag, env_backend, expected, monkeypatch
):
    """Chosen before Keras loads: ``--backend``, else ``KERAS_BACKEND``, else
    numpy, for predict, evaluate and report (fit and run leave the environment
    alone)."""
    from deepstack.cli import _choose_backend, _parser

    monkeypatch.delitem(sys.modules, "keras")
    monkeypatch.setenv("KERAS_BACKEND", "unchanged")
    if env_backend is None:
        monkeypatch.delenv("KERAS_BACKEND")
    else:
        monkeypatch.setenv("KERAS_BACKEND", env_backend)
    flags = [] if flag is None else ["--backend", flag]
    for argv in (["predict", "run", "new.csv"], ["evaluate", "run", "new.csv"]):
        _choose_backend(_parser().parse_args(argv + flags))
        assert os.environ["KERAS_BACKEND"] == expected
    _choose_backend(_parser().parse_args(["report", "run", *flags]))
    assert os.environ["KERAS_BACKEND"] == expected
    monkeypatch.setenv("KERAS_BACKEND", "unchanged")
    for argv in (["fit", "t.csv", "--target", "y", "--out", "r"], ["run", "j.toml"]):
        _choose_backend(_parser().parse_args(argv))
        assert os.environ["KERAS_BACKEND"] == "unchanged"


def test_a_backend_that_cannot_be_used_is_one_line(fitted, tables, monkeypatch, capsys):
    """A backend whose package is missing, or another backend than the one
    Keras is loaded with in this process: exit status 2 and one line."""
    import keras

    loaded = keras.backend.backend()
    argv = ["predict", str(fitted), str(tables / "new.csv"), "--backend", "numpy"]
    assert loaded != "numpy"
    assert _error(capsys, argv) == (
        f"deepstack: error: --backend numpy: Keras is loaded with the {loaded} "
        "backend in this process already; run the command in a new process."
    )
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "jax" else find_spec(name, *a),
    )
    monkeypatch.delitem(sys.modules, "keras")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    argv[-1] = "jax"
    assert _error(capsys, argv) == (
        "deepstack: error: the jax backend of Keras needs the jax package, which "
        "is not installed; install it or choose another --backend."
    )
    assert os.environ["KERAS_BACKEND"] == "tensorflow"


def test_fit_on_the_numpy_backend_is_one_line(tables, tmp_path):
    """``KERAS_BACKEND=numpy`` predicts, but a fit says it cannot train, in
    one line and before reading the table, and leaves no folder."""
    argv = ["fit", str(tables / "train.csv"), "--target", "species"]
    argv += ["--out", "run", "--quiet"]
    fresh = _main_in_a_fresh_process([argv], env_backend="numpy", cwd=tmp_path)
    assert fresh.stdout.splitlines() == ["status 2", '["numpy", false]']
    assert fresh.stderr.splitlines()[-1] == (
        "deepstack: error: Keras is loaded with its numpy backend, which predicts "
        "but cannot train; set KERAS_BACKEND to tensorflow, jax or torch before "
        "Keras is imported."
    )
    assert os.listdir(tmp_path) == []


def test_a_backend_keras_cannot_load_is_one_line(fitted, tables, tmp_path):
    """``KERAS_BACKEND=tf`` (no such backend): each command ends with one
    line naming the setting, not Keras's traceback, and writes nothing."""
    commands = [
        ["predict", str(fitted), str(tables / "new.csv"), "--out", "p.csv"],
        ["fit", str(tables / "train.csv"), "--target", "species", "--out", "run"],
    ]
    fresh = _main_in_a_fresh_process(commands, env_backend="tf", cwd=tmp_path)
    assert fresh.stdout.splitlines() == ["status 2", "status 2", "[null, false]"]
    line = (
        "deepstack: error: Keras cannot load the backend 'tf': Unable to import "
        "backend : tf"
    )
    assert fresh.stderr.splitlines() == [line, line]
    assert os.listdir(tmp_path) == []


def test_report_rewrites_the_page(fitted, capsys):
    page = fitted / "report.html"
    page.unlink()
    assert main(["report", str(fitted)]) == 0
    assert f"report written to {page}" in capsys.readouterr().out
    text = page.read_text()
    # Every section, in order (tests/test_report.py opens the page itself).
    places = [text.index(f"<section id='{key}'>") for key, _ in SECTIONS]
    assert places == sorted(places) and len(SECTIONS) == 7


def test_run_a_job_file_from_another_directory(tmp_path, monkeypatch, capsys):
    job = tmp_path / "jobs" / "wine.toml"
    job.parent.mkdir()
    job.write_text(
        '[data]\ndataset = "wine"\ntest_size = 0.3\n\n'
        "[model]\nhidden_layer_sizes = [16]\nmax_epochs = 30\n\n"
        '[search]\ntuner = "random"\nmax_trials = 2\n'
        "[search.space]\nlearning_rate = { float = [1e-3, 1e-2], log = true }\n\n"
        '[output]\nout = "runs/wine"\n'
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["run", str(job), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "search: 2 trials; chosen learning_rate=" in printed
    metrics = json.loads((work / "runs" / "wine" / "metrics.json").read_text())
    assert metrics["test"]["n_samples"] == 54
    assert metrics["test"]["accuracy"] > 0.8
    trials = pd.read_csv(work / "runs" / "wine" / "trials.csv")
    assert len(trials) == 2
    assert trials["param_learning_rate"].between(1e-3, 1e-2).all()


def test_the_shipped_job_files_parse():
    from deepstack.runs import read_job

    folder = os.path.join(os.path.dirname(os.path.dirname(__file__)), "pipelines")
    names = sorted(f for f in os.listdir(folder) if f.endswith(".toml"))
    assert names == [
        "breast_cancer.toml",
        "diabetes.toml",
        "diamonds.toml",
        "digits.toml",
        "mnist1d.toml",
        "penguins.toml",
        "txhousing.toml",
        "wine.toml",
    ]
    for name in names:
        if name == "mnist1d.toml":
            continue  # generating the signals takes a while; parsed below
        job = read_job(os.path.join(folder, name))
        assert job["target"] in job["data"].columns, name
    penguins = read_job(os.path.join(folder, "penguins.toml"))
    assert penguins["search"] == "random" and penguins["out"] == "runs/penguins"
    assert penguins["data"].shape == (344, 8)
    assert read_job(os.path.join(folder, "diamonds.toml"))["data"].shape[0] == 10_000
    txhousing = read_job(os.path.join(folder, "txhousing.toml"))
    assert (txhousing["target"], txhousing["data"].shape) == ("median", (8602, 9))


def test_a_job_file_sets_the_bagging(tmp_path):
    from deepstack.runs import read_job

    job = tmp_path / "bagged.toml"
    job.write_text('[data]\ndataset = "wine"\n[model]\nbagging = 2\ndropout = 0.1\n')
    arguments = read_job(job)
    assert arguments["bagging"] == 2 and arguments["params"] == {"dropout": 0.1}
    job.write_text('[data]\ndataset = "wine"\n')
    assert read_job(job)["bagging"] == "auto"
    assert read_job(job)["time_limit"] is None
    assert read_job(job)["baselines"] is True
    job.write_text('[data]\ndataset = "wine"\n[model]\nbaselines = false\n')
    assert read_job(job)["baselines"] is False
    job.write_text('[data]\ndataset = "wine"\ngroup_column = "batch"\n')
    assert read_job(job)["group_column"] == "batch"
    assert read_job(job)["preprocessor"] is None  # the defaults: log scales on
    job.write_text('[data]\ndataset = "wine"\nlog_scale = false\n')
    assert read_job(job)["preprocessor"].log_skewed is False
    job.write_text('[data]\ndataset = "wine"\nlog_scale = "no"\n')
    with pytest.raises(ValueError, match="log_scale must be true or false; got 'no'"):
        read_job(job)
    # A training budget without a search; a search's goes in [search].
    job.write_text('[data]\ndataset = "wine"\n[model]\ntime_limit = "2m"\n')
    assert read_job(job)["time_limit"] == "2m"
    assert read_job(job)["params"] == {}
    job.write_text(
        '[data]\ndataset = "wine"\n[model]\ntime_limit = "2m"\n'
        "[search]\nmax_trials = 2\n"
    )
    with pytest.raises(ValueError, match="goes in \\[search\\]"):
        read_job(job)


def test_bad_job_files(tmp_path, capsys):
    job = tmp_path / "bad.toml"
    job.write_text(
        '[data]\ndataset = "penguins"\n[modle]\nx = 1\n[output]\nout = "r"\n'
    )
    assert "unknown key(s) ['modle']" in _error(capsys, ["run", str(job)])
    job.write_text("[data\n")
    assert "Cannot read job file" in _error(capsys, ["run", str(job)])
    job.write_text('[data]\ndataset = "nope"\n[output]\nout = "r"\n')
    assert "Unknown table 'nope'" in _error(capsys, ["run", str(job)])
    # A job that names no run folder, run without --out, trains nothing.
    job.write_text('[data]\ndataset = "wine"\n')
    assert "names no run folder ([output] out) and no --out was given" in _error(
        capsys, ["run", str(job)]
    )


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '[output]\nout = "r"\noverwrite = "false"',
            "[output] overwrite must be true or false; got 'false'",
        ),
        ("[data]\nrows = 10.7", "[data] rows must be a whole number; got 10.7"),
        ("[data]\nrows = -5", "[data] rows (the rows to sample) must be 1 or more"),
        ("[data]\nrows = 0", "[data] rows (the rows to sample) must be 1 or more"),
        ('[data]\ntest_size = "0.3"', "[data] test_size must be a number; got '0.3'"),
        ("[data]\ntest_size = true", "[data] test_size must be a number; got True"),
        ('[data]\npath = ["a.csv"]', "[data] path must be text; got ['a.csv']"),
        ('[search]\nspace = "lr"', "[search] space must be a table ([search.space])"),
        ("[output]\nout = 5", "[output] out must be text; got 5"),
        (
            "[search.space]\nlearning_rate = { float = [1e-4, 1e-2], lgo = true }",
            "[search.space] learning_rate: unknown key(s) ['lgo']",
        ),
        (
            "[search.space]\nlearning_rate = { float = [1e-3] }",
            "a range needs float = [lo, hi] or int = [lo, hi]; got {'float': [0.001]}",
        ),
        (
            '[search.space]\nlearning_rate = { float = [1e-3, 1e-2], log = "false" }',
            "typed.toml: [search.space] learning_rate: Float log must be True or "
            "False; got 'false'.",
        ),
        (
            '[search.space]\ndropout = { float = ["0.1", "0.5"] }',
            "typed.toml: [search.space] dropout: Float bounds must be numbers",
        ),
        (
            "[model]\nhidden_layer_sizes = 8",
            "typed.toml: [model] hidden_layer_sizes must be a list of layer sizes, "
            "e.g. [64, 32] (or [64] for one layer); got 8.",
        ),
    ],
)
def test_job_values_of_the_wrong_type_are_refused_by_name(tmp_path, text, message):
    from deepstack.runs import read_job

    job = tmp_path / "typed.toml"
    job.write_text(
        '[data]\ndataset = "wine"\n' * (not text.startswith("[data]")) + text
    )
    if text.startswith("[data]"):
        job.write_text(text.replace("[data]", '[data]\ndataset = "wine"'))
    with pytest.raises(ValueError) as caught:
        read_job(job)
    assert str(caught.value).startswith("typed.toml: ")
    assert message in str(caught.value)


def test_job_column_lists_and_an_empty_search(tmp_path):
    from deepstack.runs import read_job

    job = tmp_path / "job.toml"
    # One name as text is that column, never its letters; [search] alone is
    # the default search.
    job.write_text(
        '[data]\ndataset = "wine"\ndrop = "ash"\ncategorical = ["hue"]\n[search]\n'
    )
    arguments = read_job(job)
    assert arguments["drop"] == ["ash"] and arguments["categorical"] == ["hue"]
    assert (arguments["search"], arguments["max_trials"]) == ("random", 10)
    job.write_text('[data]\ndataset = "wine"\n')
    assert "search" not in read_job(job)
    job.write_text('data = "train.csv"\n')
    with pytest.raises(
        ValueError, match=r"the job file's data must be a table \(\[data\]\)"
    ):
        read_job(job)


_DIVERGING = ["--param", "learning_rate=1e6", "--param", 'optimizer="sgd"']
_DIVERGING += ["--param", "max_epochs=2", "--no-baselines"]


@pytest.mark.parametrize(
    "make, args, message",
    [
        (None, [], "training file not found"),
        ("x.ods", [], "unknown format '.ods'"),
        ("x.xlsx", [], "as excel: BadZipFile: File is not a zip file"),
        ("empty.csv", [], "table is empty"),
        (
            "train.csv",
            ["--target", "specie"],
            "'specie' is not in the table; its columns are ['species', 'island'",
        ),
        ("one_class.csv", [], "has a single class ('Adelie')"),
        ("train.csv", ["--time-limit", "soon"], "not a duration"),
        ("train.csv", ["--max-trials", "5"], "(--max-trials) applies to a search"),
        ("train.csv", ["--group-col", "nope"], "group column 'nope' is not in"),
        ("train.csv", ["--param", "dropout"], "--param needs NAME=VALUE"),
        ("train.csv", ["--param", "dropout=2.0"], "dropout"),
        ("binary_bad.csv", ["--task", "binary"], "task='binary' but the target has 3"),
        ("train.csv", ["--bagging", "many"], "bagging must be 'auto', an integer"),
        ("train.csv", ["--bagging", "-1"], "bagging must be at least 1; got -1"),
        (
            "repeated_target.csv",
            [],
            "The target 'species' names 2 columns of the file (read as ['species', "
            "'species.1']); rename all but one.",
        ),
        (
            "train.csv",
            ["--bagging", "3", "--search", "random"],
            "cannot be combined with a search or pretraining: leave it out, or give "
            "--bagging 1",
        ),
        (
            "train.csv",
            ["--param", "hidden_layer_sizes=64"],
            "hidden_layer_sizes is a list of layer widths, not a number (64): [64] "
            "for one layer of 64 (--param hidden_layer_sizes=[64]).",
        ),
        ("train.csv", ["--weight-col", "species"], "another column than the target"),
        (
            "bad_weights.csv",
            ["--weight-col", "w"],
            "Weight column 'w' must hold finite, non-negative numbers; 2 value(s) "
            "are not ('-1.0', 'nan').",
        ),
        (
            "text_weights.csv",
            ["--weight-col", "w"],
            "Weight column 'w' is not numeric: it holds 1 value(s) that are no "
            "numbers ('heavy').",
        ),
        # A network, or every trial of a search, that diverges; a search that
        # the time limit ends before any trial completes: one line, status 2.
        (
            "train.csv",
            ["--bagging", "1", *_DIVERGING],
            "error: Training diverged at epoch 1",
        ),
        (
            "train.csv",
            ["--search", "random", "--max-trials", "2", *_DIVERGING],
            "error: No trial of the search completed (2 trials): every trial "
            "failed; the last with DivergenceError: Training diverged at epoch 1",
        ),
        (
            "train.csv",
            ["--search", "hyperband", "--time-limit", "0.001s"],
            "error: No trial of the search completed (0 trials): the time limit "
            "(0.001 s) ended the search before any trial completed; give a longer "
            "time limit.",
        ),
    ],
)
def test_bad_input_gives_one_line_and_no_folder(
    tables, tmp_path, capsys, make, args, message
):
    frame = pd.read_csv(tables / "train.csv")
    source = tmp_path / (make or "missing.csv")
    if make in ("x.ods", "x.xlsx"):
        source.write_bytes(b"PK\x03\x04 not really")
    elif make == "empty.csv":
        source.write_text("species,island\n")
    elif make == "one_class.csv":
        frame.assign(species="Adelie").to_csv(source, index=False)
    elif make in ("bad_weights.csv", "text_weights.csv"):
        weights = pd.Series(1.0, index=frame.index, dtype=object)
        weights[[3, 7]] = ["heavy", 2.0] if make == "text_weights.csv" else [-1, None]
        frame.assign(w=weights).to_csv(source, index=False)
    elif make == "repeated_target.csv":
        # The second 'species' would be read as 'species.1', a feature.
        frame.rename(columns={"island": "species"}).to_csv(source, index=False)
    elif make is not None:
        frame.to_csv(source, index=False)
    argv = ["fit", str(source), "--out", str(tmp_path / "out"), "--quiet", *TINY]
    if "--target" not in args:
        argv += ["--target", "species"]
    line = _error(capsys, argv + args)
    assert message in line
    assert not (tmp_path / "out").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".out")]


def test_overwrite_refuses_what_is_not_a_run_folder(
    tables, tmp_path, monkeypatch, capsys
):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_bytes((tables / "train.csv").read_bytes())
    (data / "notes.txt").write_text("notes")
    monkeypatch.chdir(tmp_path)
    argv = ["fit", "data/train.csv", "--target", "species", "--quiet", "--overwrite"]
    line = _error(capsys, argv + ["--out", "data"])
    assert line == (
        "deepstack: error: Output folder 'data' holds the training file "
        "'data/train.csv'; a run folder is written (and replaced) as a whole: "
        "choose another --out."
    )
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("todo")
    line = _error(capsys, argv + ["--out", "notes"])
    assert "'notes' is not a deepstack run folder (it holds what a run does " in line
    monkeypatch.chdir(data)
    argv[1] = "train.csv"
    line = _error(capsys, [*argv, "--out", "."])
    assert "Output folder '.' is the working directory or a folder above it" in line
    # Below a file: said as predict --out says it, before the data are read
    # (mkdir's "[Errno 17] File exists: 'train.csv'" came after).
    line = _error(capsys, [*argv, "--out", "train.csv/run"])
    assert line == (
        "deepstack: error: Output folder 'train.csv/run' is below "
        f"{str(data / 'train.csv')!r}, which is a file, not a folder."
    )
    assert sorted(os.listdir(data)) == ["notes.txt", "train.csv"]
    assert sorted(os.listdir(tmp_path)) == ["data", "notes"]


def test_an_all_missing_column_is_dropped_with_a_note(tables, tmp_path, capsys):
    frame = pd.read_csv(tables / "train.csv").assign(notes=np.nan)
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert (
        main(
            [
                "fit",
                str(tmp_path / "t.csv"),
                "--target",
                "species",
                "--out",
                str(tmp_path / "out"),
                "--quiet",
                "--bagging",
                "1",
                *TINY,
            ]
        )
        == 0
    )
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert "column 'notes' dropped: every value is missing" in config["notes"]


def test_missing_and_extra_columns_at_predict(fitted, tables, tmp_path, capsys):
    new = pd.read_csv(tables / "new.csv")
    new.drop(columns="sex").to_csv(tmp_path / "no_sex.csv", index=False)
    line = _error(capsys, ["predict", str(fitted), str(tmp_path / "no_sex.csv")])
    assert "['sex'] were present at fit and are missing" in line
    new.assign(colour="blue").to_csv(tmp_path / "extra.csv", index=False)
    assert (
        main(
            [
                "predict",
                str(fitted),
                str(tmp_path / "extra.csv"),
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "deepstack: note: Column(s) ['colour'] were not seen at fit" in err
    assert len(pd.read_csv(tmp_path / "p.csv")) == 44


def test_a_table_given_as_the_run_folder_says_the_order(fitted, tables, capsys):
    # The arguments swapped: the table first, then the run folder.
    new = str(tables / "new.csv")
    for command in ("predict", "evaluate"):
        line = _error(capsys, [command, new, str(fitted)])
        assert line == (
            f"deepstack: error: {new!r} is a file, not a run folder (the folder fit "
            f"writes); the run folder comes first: deepstack {command} {fitted} "
            f"{new}."
        )
    line = _error(capsys, ["report", new])
    assert line.endswith(
        f"{new!r} is a file, not a run folder (the folder fit writes)."
    )


def test_an_incomplete_run_folder_is_refused(fitted, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(fitted, broken)
    (broken / "metrics.json").unlink()
    line = _error(capsys, ["predict", str(broken), str(broken / "history.csv")])
    assert "not a complete deepstack run: metrics.json is missing" in line


def _cut(keep):
    """Cut a file to ``keep`` of its bytes (0: empty it)."""

    def cut(path):
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    return cut


def _edit_config(edit):
    def change(path):
        config = json.loads(path.read_text())
        path.write_text(json.dumps(edit(config)))

    return change


@pytest.mark.parametrize(
    "name, damage, message",
    [
        ("preprocessor.skops", _cut(0.5), "preprocessor.skops is not a readable "),
        ("preprocessor.skops", _cut(0), "preprocessor.skops is not a readable "),
        (
            "model/arrays.npz",
            _cut(0),
            "/model/arrays.npz is damaged: it is empty (No data left in file).",
        ),
        ("model/arrays.npz", _cut(0.5), "/model/arrays.npz is damaged: it is no .npz"),
        ("config.json", _cut(0.5), "is damaged: config.json is not valid JSON ("),
        ("metrics.json", _cut(0), "is damaged: metrics.json is not valid JSON ("),
        (
            "config.json",
            _edit_config(lambda c: {k: v for k, v in c.items() if k != "target"}),
            "is damaged: config.json lacks 'target'.",
        ),
        (
            "config.json",
            _edit_config(lambda c: {**c, "feature_columns": None}),
            "is damaged: config.json's 'feature_columns' is no list of names.",
        ),
        (
            "config.json",
            _edit_config(lambda c: list(c)),
            "is damaged: config.json holds a list, not an object.",
        ),
        (
            "config.json",
            _edit_config(lambda c: {**c, "task": "regression"}),
            "is damaged: config.json's task 'regression' is not the task of the "
            "model in model/",
        ),
        (
            "config.json",
            _edit_config(lambda c: {**c, "feature_columns": c["feature_columns"][:2]}),
            "is damaged: config.json's 'feature_columns' are not the 7 columns "
            "preprocessor.skops was fitted on (it lacks ['bill_depth_mm', ",
        ),
        (
            "model/deepstack.json",
            _edit_config(
                lambda s: {
                    **s,
                    "attributes": {
                        k: v for k, v in s["attributes"].items() if k != "classes_"
                    },
                }
            ),
            "/model/deepstack.json holds a fitted network but not its attributes "
            "['classes_']: the file was edited or damaged.",
        ),
        # (Not "Refusing or unable to load ... in Keras's safe mode: [Errno 2]".)
        (
            "model/member_0/model.keras",
            lambda path: path.unlink(),
            "/model/member_0/model.keras is missing.",
        ),
    ],
    ids=[
        "half-preprocessor",
        "empty-preprocessor",
        "empty-arrays",
        "half-arrays",
        "half-config",
        "empty-metrics",
        "no-target",
        "feature-columns-null",
        "config-a-list",
        "task-edited",
        "feature-columns-cut",
        "no-classes",
        "no-keras-model",
    ],
)
def test_a_damaged_run_folder_is_one_line_naming_the_file(
    fitted, tables, tmp_path, capsys, name, damage, message
):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(fitted, broken)
    damage(broken / name)
    line = _error(capsys, ["predict", str(broken), str(tables / "new.csv")])
    assert message in line
    if not name.startswith("model/"):
        assert line.startswith(f"deepstack: error: Run folder '{broken}' is damaged: ")


def _write(text):
    def write(path):
        path.write_text(text)

    return write


@pytest.mark.parametrize(
    "name, damage, message",
    [
        (
            "history.csv",
            _write("a,b\n1,2\n"),
            "history.csv lacks the column(s) ['loss'] (its columns are ['a', 'b'])",
        ),
        (
            "test_predictions.csv",
            _write("a\n1\n"),
            "test_predictions.csv lacks the column(s) ['species', 'predicted_species']",
        ),
        (
            "importance.csv",
            _cut(0),
            "importance.csv is not a readable CSV (No columns to parse from file)",
        ),
        ("findings.json", _cut(0.5), "findings.json is not valid JSON ("),
        (
            "findings.json",
            _write('{"findings": [{"code": "x"}]}'),
            "findings.json is not a list of findings",
        ),
    ],
    ids=["history", "test-predictions", "empty-importance", "half-findings", "finding"],
)
def test_a_damaged_report_file_is_named_and_predict_does_without_it(
    fitted, tables, tmp_path, capsys, name, damage, message
):
    # These files only draw the report: it names the one it cannot read
    # (not a KeyError from a section), and predicting does not need them.
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(fitted, broken)
    damage(broken / name)
    line = _error(capsys, ["report", str(broken)])
    assert line.startswith(f"deepstack: error: Run folder '{broken}' is damaged: ")
    assert message in line
    assert "delete it (the report is then written without it)" in line
    out = tmp_path / "p.csv"
    argv = ["predict", str(broken), str(tables / "new.csv"), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    assert len(pd.read_csv(out)) == 44
    if name == "importance.csv":  # (read by load_run: left out, said)
        assert message in capsys.readouterr().err
    (broken / name).unlink()
    assert main(["report", str(broken)]) == 0


def test_sigint_leaves_the_folder_complete_or_absent(tables, tmp_path):
    """A real Ctrl-C during a fit, in a console-command subprocess."""
    frame = pd.concat([pd.read_csv(tables / "train.csv")] * 20, ignore_index=True)
    frame.to_csv(tmp_path / "big.csv", index=False)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deepstack.cli",
            "fit",
            str(tmp_path / "big.csv"),
            "--target",
            "species",
            "--out",
            str(out),
            "--quiet",
            "--param",
            "max_epochs=1000",
            "--param",
            "n_iter_no_change=1000",
            "--param",
            "batch_size=8",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 120
    # The staging folder holds a marker while the network trains.
    while not list(tmp_path.glob(".out.*/.training")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".out.")]
    if out.exists():
        # Stopped at an epoch boundary: a complete run of the best weights,
        # which says so, and status 130 all the same.
        assert process.returncode == 130, err
        assert b"interrupted; training stopped after epoch" in err
        metrics = deepstack.runs.load_run(out).metrics
        assert metrics["n_epochs"] < 1000 and metrics["interrupted"] is True
    else:
        assert process.returncode == 130, err
        assert b"interrupted; nothing was written" in err


def test_ctrl_c_while_keras_loads_is_one_line(tables, tmp_path, monkeypatch, capsys):
    """A Ctrl-C during the seconds of imports, before any command runs."""
    from deepstack import _native_log

    def importing(*args, **kwargs):
        raise KeyboardInterrupt

    def status(argv):
        try:
            return main(argv)
        except KeyboardInterrupt:  # (not ending the test session)
            pytest.fail("the KeyboardInterrupt left main()")

    monkeypatch.setattr(_native_log, "console_command", importing)
    out = tmp_path / "out"
    argv = ["fit", str(tables / "train.csv"), "--target", "species", "--out", str(out)]
    assert status(argv) == 130
    assert capsys.readouterr().err == "deepstack: interrupted; nothing was written.\n"
    assert status(["predict", str(tmp_path), str(tables / "new.csv")]) == 130
    assert capsys.readouterr().err == (
        "deepstack: interrupted; the predictions on standard output stop short.\n"
    )
    assert os.listdir(tmp_path) == []


def test_a_fit_stopped_at_an_epoch_end_exits_130_with_a_complete_folder(
    tables, tmp_path, monkeypatch, capsys, python_sigint
):
    from deepstack.runs import _training

    def ctrl_c_in_epoch_3(estimator, seconds):
        estimator.set_params(callbacks=[ctrl_c_after_epoch(2)])

    monkeypatch.setattr(_training, "_limit_training", ctrl_c_in_epoch_3)
    out = tmp_path / "out"
    argv = ["fit", str(tables / "train.csv"), "--target", "species", "--out", str(out)]
    argv += ["--quiet", "--bagging", "1", "--no-baselines", *TINY]
    assert main(argv) == 130
    captured = capsys.readouterr()
    assert "; 3 epochs, fit " in captured.out
    assert captured.err.splitlines()[-1] == (
        "deepstack: interrupted; training stopped after epoch 3, and the run "
        f"folder {out} is complete with its best epoch so far."
    )
    assert "deepstack: note: fit was interrupted (Ctrl-C)" in captured.err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["n_epochs"] == 3


def test_sigterm_during_a_fit_removes_the_staging_folder(
    tables, tmp_path, monkeypatch, capsys
):
    """SIGTERM (kill, a scheduler) is handled like Ctrl-C: status 143, one
    line, and neither the run folder nor its hidden staging folder left."""
    import keras

    from deepstack.runs import _training

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                # Unhandled, it would end the test process.
                assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
                assert list(tmp_path.glob(".out.*/.training"))
                signal.raise_signal(signal.SIGTERM)

    def killed_in_epoch_2(estimator, seconds):
        estimator.set_params(callbacks=[Kill()])

    monkeypatch.setattr(_training, "_limit_training", killed_in_epoch_2)
    argv = ["fit", str(tables / "train.csv"), "--target", "species", "--quiet"]
    argv += ["--out", str(tmp_path / "out"), "--bagging", "1", *TINY]
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as in a shell
    try:
        assert main(argv) == 143
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back
    finally:
        signal.signal(signal.SIGTERM, previous)
    last = capsys.readouterr().err.splitlines()[-1]
    assert last == "deepstack: terminated (SIGTERM); nothing was written."
    assert os.listdir(tmp_path) == []


def test_sigint_during_predict_leaves_no_output_file(fitted, tables, tmp_path):
    """A real Ctrl-C while a large file is predicted a chunk at a time."""
    rows = pd.read_csv(tables / "new.csv")
    pd.concat([rows] * 2000, ignore_index=True).to_csv(tmp_path / "many.csv")
    out = tmp_path / "p.csv"
    process = subprocess.Popen(
        [sys.executable, "-m", "deepstack.cli", "predict", str(fitted)]
        + [str(tmp_path / "many.csv"), "--out", str(out), "--chunk-rows", "500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 120
    # Chunks are being written beside the output file (between looks, the
    # wait is on the child: its end, too early, fails the test).
    while not any(p.stat().st_size for p in tmp_path.glob(".p.csv.tmp-*")):
        assert time.monotonic() < deadline
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert b"interrupted; nothing was written" in err
    assert sorted(os.listdir(tmp_path)) == ["many.csv"]
    # To standard output, what was written stays: the message says so.
    process = subprocess.Popen(
        [sys.executable, "-m", "deepstack.cli", "predict", str(fitted)]
        + [str(tmp_path / "many.csv"), "--chunk-rows", "500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        preexec_fn=default_sigint,
    )
    assert process.stdout.readline() == b"predicted_species\n"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert b"interrupted; the predictions on standard output stop short" in err


def test_fit_with_unlabeled_rows_and_pretrain_auto(tables, tmp_path, capsys):
    train = pd.read_csv(tables / "train.csv")
    unlabeled = tmp_path / "more.csv"
    pd.concat([train] * 2).drop(columns=["species"]).to_csv(unlabeled, index=False)
    out = tmp_path / "semi"
    argv = ["fit", str(tables / "train.csv"), "--target", "species"]
    argv += ["--unlabeled", str(unlabeled), "--pretrain", "auto", "--out", str(out)]
    argv += ["--quiet", *TINY, "--param", "pretrain_epochs=2"]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    # 600 unlabeled rows outnumber the 240 labeled training rows.
    assert config["n_unlabeled"] == 600 and config["n_train"] == 240
    assert (
        "pretrain='auto': denoising pretraining on 600 unlabeled and 240 labeled rows"
        in config["notes"]
    )
    assert config["params"]["pretrain"] == "denoising"
    # A pretrained network predicts on the NumPy backend as on TensorFlow.
    data = tables / "test.csv"
    fresh, metrics, backend, _ = _predict_in_a_fresh_process(out, data, tmp_path)
    assert backend == "numpy"
    _same_predictions(out, data, tmp_path, fresh, metrics, capsys)


# TensorFlow's start-up lines on a CPU-only Linux machine (TensorFlow 2.21),
# as the console command saw them before it filtered them.
START_UP = [
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR",
    "I0000 00:00:1795986273.381869   31034 port.cc:153] oneDNN custom operations "
    "are on. You may see slightly different numerical results due to "
    "floating-point round-off errors from different computation orders. To turn "
    "them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1795986273.382183   31034 cudart_stub.cc:31] Could not find cuda "
    "drivers on your machine, GPU will not be used.",
    "I0000 00:00:1795986273.436130   31034 cpu_feature_guard.cc:227] This "
    "TensorFlow binary is optimized to use available CPU instructions in "
    "performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, "
    "rebuild TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1795986277.561060   31034 cuda_platform.cc:52] failed call to "
    "cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]


def test_start_up_chatter_is_dropped_and_the_rest_kept():
    from deepstack._native_log import unexpected_lines

    assert unexpected_lines(START_UP) == []
    warning = "W0000 00:00:1795986277.6 31034 op_kernel.cc:1857] OP_REQUIRES failed"
    traceback = ["Traceback (most recent call last):", "ImportError: libcudnn.so"]
    lines = [START_UP[0], warning, START_UP[2], *traceback, START_UP[-1]]
    assert unexpected_lines(lines) == [warning, *traceback]
    # Without the INFO line saying no CUDA driver exists, a failed cuInit is
    # news (a GPU machine whose driver is broken): it is kept.
    without_driver_note = [line for line in START_UP if "cudart_stub" not in line]
    assert unexpected_lines(without_driver_note) == [START_UP[-1]]


def test_console_command_is_recognized_by_its_name(monkeypatch):
    from deepstack._native_log import console_command

    monkeypatch.setattr(sys, "argv", ["/opt/venv/bin/deepstack", "fit"])
    assert console_command()
    monkeypatch.setattr(sys, "argv", ["/opt/venv/bin/pytest", "tests"])
    assert not console_command()


def test_console_command_output_has_no_tensorflow_start_up_lines(fitted, tables):
    """The installed ``deepstack`` script, in a fresh process, on a command
    that loads Keras: its standard error is empty, while TensorFlow itself
    prints its start-up lines (``import keras`` in a plain process)."""
    script = os.path.join(os.path.dirname(sys.executable), "deepstack")
    assert os.path.exists(script), "pip install -e . installs the console script"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    command = [script, "evaluate", str(fitted), str(tables / "test.csv")]
    command += ["--backend", "tensorflow"]
    quiet = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=120
    )
    assert quiet.returncode == 0, quiet.stderr
    assert json.loads(quiet.stdout)["n_samples"] == len(
        pd.read_csv(tables / "test.csv")
    )
    assert quiet.stderr == ""
    # TensorFlow itself, loaded the same way, does print them here.
    loud = subprocess.run(
        [sys.executable, "-c", "import keras"],
        capture_output=True,
        text=True,
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"},
        timeout=120,
    )
    assert loud.returncode == 0
    assert "absl::InitializeLog()" in loud.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--version"],
        ["--help"],
        ["fit", "train.csv"],  # no --target: argparse's error
        ["fit", "nope.csv", "--target", "y", "--out", "r"],
        ["fit", "{train}", "--target", "y", "--out", "r", "--test", "nope.csv"],
        ["predict", "nope", "{train}"],
        ["predict", "{run}", "nope.csv"],
        ["predict", "{run}", "{train}", "--out", "{test}"],
        ["predict", "{run}", "{train}", "--out", "{train}", "--overwrite"],
        ["evaluate", "{run}", "nope.csv"],
        ["report", "nope"],
        ["run", "nope.toml"],
    ],
)
def test_help_version_and_missing_files_answer_without_loading_keras(
    fitted, tables, tmp_path, monkeypatch, argv
):
    """In a fresh process: the answer comes before Keras is imported (seconds
    and hundreds of megabytes), and a missing file's line is the one the
    library raises once Keras is loaded."""
    argv = [
        a.format(run=fitted, train=tables / "train.csv", test=tables / "test.csv")
        for a in argv
    ]
    code = (
        "import sys\n"
        "from deepstack.cli import main\n"
        "try:\n"
        f"    status = main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    status = exc.code\n"
        "print('status', status, 'keras', 'keras' in sys.modules)\n"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    last = fresh.stdout.splitlines()[-1]
    assert last.endswith("keras False"), fresh.stdout
    if argv[0].startswith("-"):
        assert last == "status 0 keras False"
        return
    assert last == "status 2 keras False"
    error = fresh.stderr.splitlines()[-1]
    if argv[0] == "fit" and len(argv) == 2:
        assert "the following arguments are required: --target, --out" in error
    elif "--overwrite" in argv:
        assert error.endswith(
            "it is the table being predicted; write them to another file."
        )
    elif "--out" in argv and argv[0] == "predict":
        assert error.endswith(
            "already exists; choose another --out or pass --overwrite."
        )
    else:
        # The line the library raises (Keras loaded) for the same problem.
        monkeypatch.chdir(tmp_path)
        with pytest.raises(FileNotFoundError) as raised:
            _library_reads(argv)
        assert error == "deepstack: error: " + str(raised.value)


def _library_reads(argv):
    """What the command ``argv`` reads first, through the library."""
    from deepstack.runs import load_run, run_job
    from deepstack.runs._files import read_table

    command, first, *rest = argv
    if command == "run":
        run_job(first)
    elif command == "fit":
        read_table(first, what="training")
        read_table(rest[rest.index("--test") + 1], what="test")
    else:
        load_run(first)
        read_table(rest[0], what="data")  # predict, evaluate: the run found


def test_lines_written_while_the_backend_loads_pass_through(tmp_path):
    """At the file-descriptor level, in a fresh process whose ``keras`` is a
    stand-in writing one chatter line and one warning to fd 2 as it loads:
    the warning passes, in order, and standard error works afterwards."""
    import deepstack._native_log as native_log

    (tmp_path / "keras.py").write_text(
        "import os, types\n"
        "os.write(2, b'I0000 00:00:1795986273.38 31034 port.cc:153] chatter\\n')\n"
        "os.write(2, b'W0000 00:00:1795986273.39 31034 x.cc:1] a real warning\\n')\n"
        "backend = types.SimpleNamespace(backend=lambda: 'stand-in')\n"
    )
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('n', {native_log.__file__!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "module.quiet_backend_import()\n"
        "print('after', file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "W0000 00:00:1795986273.39 31034 x.cc:1] a real warning",
        "after",
    ]


def test_the_summary_names_no_column_when_shuffling_none_hurts(capsys):
    """Seven test rows (a 32-row table): every importance is at or below
    zero, and the summary says so rather than listing negative drops."""
    from types import SimpleNamespace

    from deepstack.cli import _summary

    params = {"hidden_layer_sizes": [8], "learning_rate": 1e-3, "batch_size": 32}
    params.update(dropout=0.1, input_dropout=0.0, l2=1e-4)
    run = SimpleNamespace(
        metrics={
            "primary_metric": "r2",
            "test": {"r2": 0.36, "n_samples": 7},
            "n_epochs": 11,
            "times": {"fit_s": 1.2},
        },
        config={
            "source": "mtcars.csv",
            "params": params,
            "bagging": None,
            "columns": [
                {"column": "disp", "role": "numeric", "log_scale": 160.0},
                {"column": "hp", "role": "numeric", "log_scale": None},
                {"column": "name", "role": "high_cardinality", "log_scale": None},
                {"column": "cyl", "role": "categorical", "log_scale": None},
                {"column": "row", "role": "dropped", "log_scale": None},
            ],
        },
        task="regression",
        target="mpg",
        estimator=SimpleNamespace(),
        importance=pd.DataFrame(
            {"column": ["qsec", "hp", "drat"], "importance": [0.0, -0.07, -0.09]}
        ),
        path=None,
    )
    _summary(run)
    printed = capsys.readouterr().out
    assert (
        "columns that matter most: none measurably (shuffling no column lowers "
        "the test r2 on these 7 rows)"
    ) in printed
    assert (
        "columns: 2 numeric (1 on a log scale: disp), 1 categorical, "
        "1 high-cardinality, 1 dropped\n"
    ) in printed
    run.importance.loc[1, "importance"] = 0.2
    run.importance = run.importance.sort_values("importance", ascending=False)
    _summary(run)
    assert "(drop in test r2 when shuffled): hp +0.200\n" in capsys.readouterr().out
