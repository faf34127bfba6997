"""The main job and the console command."""

import pytest
from sklearn.pipeline import Pipeline

import deepstack
from deepstack import DeepStackClassifier
from deepstack.cli import main as cli_main
from pipelines._jobs import digits_pipeline, run_digits


def test_digits_pipeline_uses_defaults():
    pipe = digits_pipeline(random_state=3)
    assert isinstance(pipe, Pipeline)
    clf = pipe[-1]
    assert isinstance(clf, DeepStackClassifier)
    expected = DeepStackClassifier(random_state=3).get_params()
    assert clf.get_params() == expected


def test_run_digits_prints_accuracy(capsys):
    accuracy = run_digits(0, hidden_layer_sizes=(32,), max_epochs=5)
    out = capsys.readouterr().out
    assert f"test accuracy {accuracy:.4f}" in out
    assert accuracy > 0.85


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--version"])
    assert exit_info.value.code == 0
    assert deepstack.__version__ in capsys.readouterr().out
