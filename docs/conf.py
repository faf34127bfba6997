"""Sphinx configuration of deepstack's documentation (``make docs``)."""

import os
import pathlib
import shutil
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import deepstack  # noqa: E402

project = "deepstack"
author = "the deepstack developers"
copyright = "the deepstack developers"
release = deepstack.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "jupyter_execute"]

# API reference: one page per public object, generated from the docstrings.
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
autodoc_default_options = {"member-order": "groupwise"}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
# `single backticks` (as in "ndarray of shape (`n_features_in_`,)") are code,
# as in scikit-learn's documentation.
default_role = "literal"
# Hooks a class overrides without a docstring of its own (Keras's
# on_epoch_end, keras-tuner's run_trial) are not documented with the base
# class's docstring, which is not in numpydoc format.
autodoc_inherit_docstrings = False

# Every cross-reference must resolve, except the base classes shown under
# "Bases:" that live in third-party or private modules.
nitpicky = True
nitpick_ignore_regex = [
    ("py:class", r"(keras|keras_tuner|sklearn)\..*"),
    ("py:class", r"deepstack\.(.*\.)?_.*"),
]

# No network at build time: intersphinx inventories are not fetched.
intersphinx_mapping = {}

# Markdown (MyST) pages and the notebook gallery. The notebooks live in
# notebooks/ at the repository root (the tests execute them there); they are
# copied next to the gallery page at each build. A notebook's stored outputs
# are rendered as they are; one without outputs is executed during the build
# (DEEPSTACK_DOCS_EXECUTE=off renders it without outputs instead).
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = os.environ.get("DEEPSTACK_DOCS_EXECUTE", "auto")
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_in_temp = True
nb_merge_streams = True
# TensorFlow logs to stderr at import (CPU features, no CUDA driver): noise on
# a rendered page.
nb_output_stderr = "remove"

# Pages of names no longer listed would otherwise stay behind and fail the
# build (a document in no toctree); autosummary writes them anew each build.
shutil.rmtree(DOCS / "generated", ignore_errors=True)

GALLERY = DOCS / "gallery" / "notebooks"
shutil.rmtree(GALLERY, ignore_errors=True)
GALLERY.mkdir(parents=True)
for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
    shutil.copy2(notebook, GALLERY / notebook.name)

html_theme = "pydata_sphinx_theme"
html_title = f"deepstack {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn generates set_{method}_request on every estimator class for
    # metadata routing; its docstring refers to scikit-learn's own pages.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
