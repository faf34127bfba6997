"""The package's shape: import graph, layering, parameters, lazy imports."""

import ast
import inspect
import pathlib
import re
import subprocess
import sys

import pytest

from deepstack import DeepStackClassifier, DeepStackRegressor
from deepstack.estimators import BaseDeepStack

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "deepstack"


def _modules():
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _import_graph():
    """``{module: modules it imports}`` over deepstack, function-level imports
    included (a cycle hidden inside a function is still a cycle)."""
    modules = _modules()

    def resolve(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges.update(resolve(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    edges.add(full if full in modules else resolve(node.module))
        edges.discard(None)
        edges.discard(name)
        graph[name] = edges
    return graph


def _cycles(graph):
    cycles, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == "open":
                cycles.append(stack[stack.index(child) :] + [child])
            elif child not in state:
                visit(child)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_git_ignores_no_tracked_file():
    """An ignore pattern that matches a package folder (``runs/`` matched
    ``deepstack/runs/``) hides its new files from ``git add`` and the whole
    folder from ruff, which honours .gitignore: ``make test`` then checks
    neither its lint nor its format."""
    ignored = subprocess.run(
        ["git", "ls-files", "--cached", "--ignored", "--exclude-standard"],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert ignored == []


def test_import_graph_has_no_cycle():
    graph = _import_graph()
    # The check sees the edges it must (function-level imports included).
    assert "deepstack._trainer_jax" in graph["deepstack._trainer"]
    assert "deepstack._network" in graph["deepstack._trainer_jax"]
    assert _cycles(graph) == []
    assert _cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]


def _private_estimator_methods():
    names = set()
    for path in sorted((PACKAGE / "estimators").glob("*.py")):
        source = path.read_text()
        names.update(re.findall(r"^    def (_[a-z]\w*)\(", source, re.MULTILINE))
    return names


def test_no_module_outside_estimators_calls_a_private_estimator_method():
    methods = _private_estimator_methods()
    assert {"_encode_target", "_output_spec", "_make_optimizer"} <= methods
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "estimators":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Load)  # not an assignment
                and node.attr in methods
                and not (isinstance(node.value, ast.Name) and node.value.id == "self")
            ):
                offenders.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert offenders == []


@pytest.mark.parametrize("estimator", [DeepStackClassifier, DeepStackRegressor])
def test_parameters_match_the_base(estimator):
    base = inspect.signature(BaseDeepStack.__init__).parameters
    own = inspect.signature(estimator.__init__).parameters
    # Self-training and the graph in predictions need class probabilities:
    # classifier only.
    classifier_only = {
        "class_weight",
        "semi_supervised",
        "pseudo_label_threshold",
        "self_training_rounds",
        "propagation_neighbors",
        "pseudo_label_weights",
        "graph_weight",
    }
    # Target propagation: the regressor's semi-supervised mode.
    regressor_only = {
        "semi_supervised",
        "self_training_rounds",
        "propagation_neighbors",
    }
    extra = classifier_only if estimator is DeepStackClassifier else regressor_only
    assert set(own) - set(base) == extra
    assert set(base) <= set(own)
    # Defaults chosen per task: the classifier's batch and patience follow the
    # rows (the large-table rounds); the regressor keeps the base's.
    task_defaults = (
        {"batch_size": "auto", "n_iter_no_change": "auto", "patience_growth": "auto"}
        if estimator is DeepStackClassifier
        else {}
    )
    for name, parameter in base.items():
        assert own[name].default == task_defaults.get(name, parameter.default), name
        assert own[name].kind == parameter.kind, name
    # In the base's order, so that positional use means the same.
    assert [n for n in own if n in base] == list(base)
    # Every parameter reaches the base (none is dropped by the subclass).
    values = {
        name: f"sentinel-{name}"
        for name in base
        if name != "self" and own[name].kind is inspect.Parameter.KEYWORD_ONLY
    }
    params = estimator(**values).get_params()
    assert {name: params[name] for name in values} == values


def test_import_deepstack_loads_neither_keras_tuner_nor_matplotlib():
    # Keras itself may import matplotlib (keras.src.visualization, when it is
    # installed): what deepstack adds is measured against ``import keras``.
    code = (
        "import sys, keras\n"
        "by_keras = 'matplotlib' in sys.modules\n"
        "import deepstack\n"
        "print('TUNER', 'keras_tuner' in sys.modules)\n"
        "print('MPL', 'matplotlib' in sys.modules and not by_keras)\n"
        "print('PLOTTING', 'deepstack.plotting' in sys.modules)\n"
        "deepstack.diagnose\n"
        "print('DIAGNOSE', 'deepstack.plotting' in sys.modules)\n"
        "deepstack.DeepStackSearch\n"
        "print('SEARCH', 'keras_tuner' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.split("\n")
    assert out[:5] == [
        "TUNER False",
        "MPL False",
        "PLOTTING False",
        # The diagnostics draw figures only when a report asks for them.
        "DIAGNOSE False",
        # Loaded on first use.
        "SEARCH True",
    ]


def test_documented_activations_are_the_accepted_ones():
    from deepstack import StackedAutoencoder, _network

    for estimator in (DeepStackClassifier, DeepStackRegressor, StackedAutoencoder):
        (listed,) = re.findall(r"activation : \{([^}]*)\}", estimator.__doc__)
        assert set(re.findall(r'"(\w+)"', listed)) == set(_network.ACTIVATIONS)
        accepted = estimator._parameter_constraints["activation"][0]
        assert accepted.options == set(_network.ACTIVATIONS)
