"""Every notebook in notebooks/ runs from top to bottom without error."""

import pathlib
import re

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((pathlib.Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def _code(notebook):
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def test_notebooks_are_valid_and_check_their_results():
    assert [p.name for p in NOTEBOOKS] == ["quickstart.ipynb"]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        code = _code(notebook)
        assert code, path.name
        # Running a notebook proves something only if it can fail: each one
        # asserts on the numbers it shows.
        assert any(re.search(r"^assert ", c, re.MULTILINE) for c in code), path.name
        # Stored without outputs: the executed copy is the test's.
        assert all(
            not cell.get("outputs")
            for cell in notebook.cells
            if cell.cell_type == "code"
        ), path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    text = "".join(
        out.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    if path.name == "quickstart.ipynb":
        accuracy = float(re.search(r"test accuracy: ([\d.]+)", text).group(1))
        assert accuracy > 0.9
        assert (tmp_path / "learning_curves.png").stat().st_size > 0
