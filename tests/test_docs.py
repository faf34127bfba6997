"""The documentation cannot rot.

Every ``Examples`` section in the package runs as a doctest, and the API
reference (``docs/api.rst``) lists every public name. ``make docs`` builds the
site itself (warnings as errors).
"""

import doctest
import importlib
import inspect
import os
import pathlib
import pkgutil
import re
import sys

import pytest

import deepstack

API_PAGE = pathlib.Path(__file__).parents[1] / "docs" / "api.rst"

# Public modules that the API reference does not document, with the reason.
NOT_IN_API_PAGE = {
    "deepstack.cli": "the console command; `deepstack --help` documents it",
}


def _module_names():
    names = ["deepstack"]
    names += [m.name for m in pkgutil.walk_packages(deepstack.__path__, "deepstack.")]
    return sorted(names)


def _public_module_names():
    return [
        name
        for name in _module_names()
        if not any(part.startswith("_") for part in name.split("."))
        and name not in NOT_IN_API_PAGE
    ]


def _doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = []
    for name in _module_names():
        # Each module's finder sees only the objects defined in that module, so
        # a re-exported function is run once, from the private module.
        tests += [t for t in finder.find(importlib.import_module(name)) if t.examples]
    return sorted(tests, key=lambda t: t.name)


DOCTESTS = _doctests()


def test_the_package_has_docstring_examples():
    # Guards the collection above: the public estimators, callbacks,
    # diagnostics and search all carry examples.
    names = {t.name.rsplit(".", 1)[-1] for t in DOCTESTS}
    assert {
        "DeepStackClassifier",
        "DeepStackRegressor",
        "StackedAutoencoder",
        "DeepStackSearch",
        "diagnose",
        "find_learning_rate",
        "TiedDense",
        "ValidationPass",
    } <= names


@pytest.mark.parametrize("test", DOCTESTS, ids=lambda t: t.name)
def test_docstring_example(test):
    output = []
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    runner.run(test, out=output.append, clear_globs=True)
    assert runner.failures == 0, "".join(output)
    assert runner.tries == len(test.examples)


def _public_names(module):
    if hasattr(module, "__all__"):
        return [name for name in module.__all__ if not name.startswith("__")]
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    ]


def _documented_objects():
    """The objects listed in the API page's autosummary tables, by identity."""
    documented = {}
    module = None
    in_table = False
    for line in API_PAGE.read_text().splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)", line):
            module = importlib.import_module(match[1])
        elif line.startswith(".. autosummary::"):
            in_table = True
        elif in_table and (match := re.fullmatch(r"   ([A-Za-z_]\w*)", line)):
            documented[id(getattr(module, match[1]))] = f"{module.__name__}.{match[1]}"
        elif line and not line.startswith(" "):
            in_table = False
    return documented


def test_api_page_lists_every_public_name():
    documented = _documented_objects()
    missing = [
        f"{name}.{attr}"
        for name in _public_module_names()
        for attr in _public_names(importlib.import_module(name))
        if id(getattr(importlib.import_module(name), attr)) not in documented
    ]
    assert not missing, (
        f"{missing} are public but not in docs/api.rst: add each name to the "
        "autosummary list of its module there (one line)."
    )
    # The parser above read the page: a sample of entries from every section.
    assert {
        "deepstack.DeepStackClassifier",
        "deepstack.tuning.DeepStackSearch",
        "deepstack.callbacks.EarlyStopping",
        "deepstack.diagnostics.diagnose",
        "deepstack.plotting.plot_filters",
        "deepstack.layers.TiedDense",
        "deepstack.datasets.digits_split",
    } <= set(documented.values())


# Public callables whose parameters are documented elsewhere, with the reason.
PARAMETERS_DOCUMENTED_ELSEWHERE = {
    "deepstack.estimators._base.BaseDeepStack": (
        "the estimators' shared base, not used directly: its parameters are "
        "documented on DeepStackClassifier and DeepStackRegressor"
    ),
}


def _undocumented_parameters(obj):
    """The signature parameters of ``obj`` that its docstring does not name
    under ``Parameters`` (or, for a class, ``Attributes``: a result object
    or exception documents what it is built from as what it holds)."""
    from numpydoc.docscrape import ClassDoc, FunctionDoc

    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):  # a builtin without a signature
        return []
    wanted = [
        p.name
        for p in signature.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if inspect.isclass(obj):
        doc, sections = ClassDoc(obj), ("Parameters", "Attributes")
    else:
        doc, sections = FunctionDoc(obj), ("Parameters",)
    documented = {
        name.strip().lstrip("*")
        for section in sections
        for entry in doc[section]
        for name in entry.name.split(",")
    }
    return [name for name in wanted if name not in documented]


def test_every_public_parameter_is_documented():
    offenders = {}
    for module_name in _public_module_names():
        module = importlib.import_module(module_name)
        for attr in _public_names(module):
            obj = getattr(module, attr)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            name = f"{obj.__module__}.{obj.__qualname__}"
            missing = _undocumented_parameters(obj)
            if missing and name not in PARAMETERS_DOCUMENTED_ELSEWHERE:
                offenders.setdefault(name, missing)
    assert not offenders, (
        "These public callables have parameters their docstrings do not "
        "document (numpydoc `Parameters`; for a class, `Parameters` or "
        "`Attributes`): "
        + "; ".join(f"{name}: {missing}" for name, missing in sorted(offenders.items()))
    )
    # What the exemption says holds: the base's parameters are all the
    # subclasses' (whose documentation was checked above).
    subclasses = (deepstack.DeepStackClassifier, deepstack.DeepStackRegressor)
    shared = set.union(*(set(inspect.signature(c).parameters) for c in subclasses))
    base = importlib.import_module("deepstack.estimators").BaseDeepStack
    assert set(inspect.signature(base).parameters) <= shared
    # The check reads the sections: a documented function and a class whose
    # arguments are documented as attributes pass, a bare one does not.
    assert _undocumented_parameters(deepstack.DeepStackClassifier) == []
    diagnostics = importlib.import_module("deepstack.diagnostics")
    assert _undocumented_parameters(diagnostics.Capacity) == []

    def bare(path, *, out=None, **kwargs):
        """No sections."""

    assert _undocumented_parameters(bare) == ["path", "out"]


@pytest.mark.slow
# myst-parser's use of a Sphinx attribute deprecated for Sphinx 11: not ours.
@pytest.mark.filterwarnings("ignore:.*Check CHANGES for Sphinx API modifications")
def test_docs_build_without_warnings(tmp_path, monkeypatch, capsys):
    # What `make docs` runs, warnings as errors, with the notebooks rendered
    # from their stored outputs rather than executed (tests/test_notebooks.py
    # executes them). Sphinx runs in this process, where TensorFlow and
    # deepstack are already imported, rather than in a fresh interpreter that
    # would import them again.
    from sphinx.cmd.build import build_main

    monkeypatch.setenv("DEEPSTACK_DOCS_EXECUTE", "off")
    # docs/conf.py sets these two if unset: undone after the test, as the
    # variables of a finished subprocess would be.
    for name, value in [("KERAS_BACKEND", "tensorflow"), ("TF_CPP_MIN_LOG_LEVEL", "2")]:
        monkeypatch.setenv(name, os.environ.get(name, value))
    root = API_PAGE.parents[1]
    monkeypatch.chdir(root)
    # docs/conf.py puts the repository first on sys.path.
    monkeypatch.setattr(sys, "path", list(sys.path))
    out = tmp_path / "html"
    status = build_main(
        ["-W", "--keep-going", "-q", "-b", "html"]
        + ["-d", str(tmp_path / "doctrees"), "docs", str(out)]
    )
    assert status == 0, capsys.readouterr().err[-5000:]
    page = (out / "generated" / "deepstack.DeepStackClassifier.html").read_text()
    assert "hidden_layer_sizes" in page and "partial_fit" in page
    assert (out / "gallery" / "notebooks" / "01_quickstart.html").exists()
    assert (out / "user_guide" / "model_selection.html").exists()
