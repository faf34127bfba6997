"""The notebooks: stored with their full run's outputs, and rerun here in QUICK mode.

Each notebook ends by printing ``RESULTS {json}``: the numbers its take-away
states. The stored copy (executed in full, without ``QUICK``) must show the
claims its text makes; the QUICK rerun (fewer epochs, trials, seeds) must show
the weaker claims that already hold at that size.
"""

import json
import os
import pathlib
import re

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.util import run_sync

FOLDER = pathlib.Path(__file__).parents[1] / "notebooks"
NAMES = [
    "01_quickstart",
    "02_initialization_and_inputs",
    "03_model_selection",
    "04_optimizers_and_learning_rates",
    "05_when_it_does_not_work",
    "06_autoencoders",
    "07_pretraining_with_few_labels",
    "08_dropout_and_batch_norm",
    "09_tables",
]
NOTEBOOKS = [FOLDER / f"{name}.ipynb" for name in NAMES]


def _results(notebook):
    """The ``RESULTS {...}`` line a notebook's last cell prints, as a dict."""
    text = "".join(
        out.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    found = re.findall(r"^RESULTS (\{.*\})$", text, re.MULTILINE)
    assert len(found) == 1, "no RESULTS line (or more than one)"
    return json.loads(found[0])


def _check_quickstart(r, full):
    assert r["test_accuracy"] > (0.95 if full else 0.8)
    assert r["loaded_predictions_equal"]
    assert 0 <= r["best_epoch"] < r["epochs"]


def _check_initialization(r, full):
    glorot, small = r["glorot"], r["too small (x0.05)"]
    large, raw = r["too large (x5)"], r["unstandardized inputs"]
    # Measured before training: the same in both modes.
    assert large["max_saturation"] > 0.5 > 0.1 > glorot["max_saturation"]
    assert raw["max_saturation"] > 0.5
    assert small["last_layer_variance"] < 1e-4 * glorot["last_layer_variance"]
    assert glorot["test_accuracy"] > large["test_accuracy"] + 0.2
    relu, dead = r["ReLU, glorot"], r["ReLU, biases -3"]
    assert dead["max_dead"] > 0.5 > 0.1 > relu["max_dead"]
    assert dead["max_dead_after"] > 0.5
    assert relu["test_accuracy"] > dead["test_accuracy"] + 0.5
    if full:
        assert glorot["test_accuracy"] > small["test_accuracy"]
        assert large["epochs_to_90"] is None


def _check_model_selection(r, full):
    es = r["early_stopping"]
    assert es["best_epoch"] < es["epochs_run"]
    assert set(r["search"]) == {"random", "bayesian", "hyperband"}
    assert r["search"][r["winner"]]["best_val_accuracy"] == max(
        s["best_val_accuracy"] for s in r["search"].values()
    )
    assert r["test_accuracy"] > (0.95 if full else 0.8)
    if full:
        # The look-ahead carried training past an early uptick to a lower loss.
        assert es["first_uptick"] < es["best_epoch"]
        assert es["best_val_loss"] < es["val_loss_at_first_uptick"]


def _check_optimizers(r, full):
    opt = r["optimizers"]
    sgd = opt["SGD (0.01)"]["final_train_loss"]
    for name in ("momentum 0.9 (0.01)", "Adam (0.001)", "RMSProp (0.001)"):
        assert opt[name]["final_train_loss"] < 0.5 * sgd, name
    assert r["finder"]["suggested"] == 0.5 * r["finder"]["max_stable_rate"]
    assert r["finder"]["rate_used"] <= r["finder"]["suggested"]
    for row in r["schedules"].values():
        assert row["test_accuracy"] > (0.95 if full else 0.8)
    if full:
        assert r["schedules"]["halving"]["halvings"] > 0


def _check_debugging(r, full):
    g = r["gradient_check"]
    assert g["correct_passed"] and not g["buggy_passed"]
    assert g["buggy_suspect"] == "scaled_dense"
    assert g["correct_error"] < 1e-6 < 0.1 < g["buggy_error"]
    assert r["overfit"]["passed"]
    assert r["overfit"]["training_error"] <= 0.01
    for code in ("diverging", "bouncing", "collapse"):
        assert code in r["diagnose"][code]


def _check_autoencoders(r, full):
    assert r["params"]["tied"] < 0.6 * r["params"]["untied"]
    masked = r["masked_mse"]
    assert masked["denoising"] < masked["no model (masked input)"]
    zeros = r["zero_codes"]
    assert zeros["sparsity=0.01"] > zeros["no penalty"] + (0.3 if full else 0.1)
    if full:
        assert masked["denoising"] < masked["plain"]


def _check_pretraining(r, full):
    smallest = min(r["gain_all"], key=int)
    base = r["accuracy"][smallest]["no pretraining"]
    assert base > (0.6 if full else 0.3)
    if full:
        # The claim: pretraining helps at the smallest label count.
        assert len(r["gain_all"]) >= 3
        assert r["gain_all"][smallest] > 0
    else:
        assert r["accuracy"][smallest]["pretrained, fine-tune all"] > 0.3


def _check_regularization(r, full):
    t = r["table"]
    assert t["L1 1e-3"]["small weights"] > 2 * t["none"]["small weights"]
    assert all(row["test accuracy"] > (0.9 if full else 0.7) for row in t.values())
    if full:
        assert t["dropout 0.5"]["gap"] < t["none"]["gap"]


def _check_tables(r, full):
    assert r["loaded_predictions_equal"]
    assert {"config.json", "metrics.json", "report.html", "model"} <= set(r["files"])
    assert r["test"]["accuracy"] > (0.95 if full else 0.6)


CHECKS = dict(
    zip(
        NAMES,
        [
            _check_quickstart,
            _check_initialization,
            _check_model_selection,
            _check_optimizers,
            _check_debugging,
            _check_autoencoders,
            _check_pretraining,
            _check_regularization,
            _check_tables,
        ],
    )
)


def test_the_notebooks_are_the_lessons():
    assert sorted(p.stem for p in FOLDER.glob("*.ipynb")) == NAMES
    gallery = (FOLDER.parent / "docs" / "gallery" / "index.md").read_text()
    for name in NAMES:
        assert f"(notebooks/{name}.ipynb)" in gallery, name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_notebook_shows_its_full_run(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    # Small enough for a code host's viewer: figures are downscaled PNGs.
    assert path.stat().st_size < 1_000_000
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and "**What this shows:**" in first.source
    assert any(
        c.cell_type == "markdown" and "Take-away" in c.source for c in notebook.cells
    )
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert any('os.environ.get("QUICK")' in c.source for c in code)
    # Executed top to bottom, without errors, in one kernel session.
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1))
    assert not any(
        out.output_type == "error" for c in code for out in c.get("outputs", [])
    )
    results = _results(notebook)
    assert results["quick"] is False
    CHECKS[path.stem](results, full=True)


@pytest.fixture(scope="module")
def quick_kernel(tmp_path_factory):
    """One IPython kernel, started with ``QUICK=1``, for every quick rerun.

    Starting a kernel and importing TensorFlow, Keras and deepstack in it costs
    several CPU seconds; the notebooks pay it once. Each notebook still runs from
    an empty namespace (``%reset -f`` first), so a name it uses but does not
    define fails as it would in a fresh kernel.
    """
    starter = NotebookClient(nbformat.v4.new_notebook(), kernel_name="python3")
    manager = starter.create_kernel_manager()
    starter.start_new_kernel(
        cwd=str(tmp_path_factory.mktemp("notebooks")),
        env={**os.environ, "QUICK": "1"},
    )
    yield manager
    run_sync(manager.shutdown_kernel)(now=True)


@pytest.mark.slow
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_quick(path, tmp_path, quick_kernel):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    fresh = (
        f"__import__('os').chdir({str(tmp_path)!r})\n"
        "get_ipython().run_line_magic('reset', '-f')"
    )
    notebook.cells.insert(0, nbformat.v4.new_code_cell(fresh))
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", km=quick_kernel
    )
    try:
        client.execute()
    finally:
        if client.kc is not None:
            client.kc.stop_channels()
    results = _results(notebook)
    assert results["quick"] is True
    CHECKS[path.stem](results, full=False)
