# Entry points: `make run` (the main job), `make test` (the whole suite) and
# `make docs` (the documentation site, warnings as errors). Each creates .venv
# on a fresh machine and installs the package with the extras it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
export TF_CPP_MIN_LOG_LEVEL ?= 2
export KERAS_BACKEND ?= tensorflow
export PYTHONHASHSEED ?= 0

.PHONY: run test lint format bench docs notebooks clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(DOCS_STAMP): $(STAMP) setup.cfg
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

# The main job on penguins (ships with palmerpenguins): a small search, then a
# run folder in runs/penguins with the model, metrics and report.html.
run: $(STAMP)
	$(VENV)/bin/deepstack run pipelines/penguins.toml --overwrite

test: $(STAMP)
	$(PY) -m ruff check deepstack tests benchmarks
	$(PY) -m ruff format --check deepstack tests benchmarks
	# SCIPY_ARRAY_API=1 lets scikit-learn's array-API estimator check run
	# instead of skipping itself.
	SCIPY_ARRAY_API=1 $(PY) -m pytest -n 2 --dist loadgroup tests

lint: $(STAMP)
	$(PY) -m ruff check deepstack tests benchmarks
	$(PY) -m ruff format --check deepstack tests benchmarks

format: $(STAMP)
	$(PY) -m ruff format deepstack tests benchmarks
	$(PY) -m ruff check --fix deepstack tests benchmarks

# The API reference comes from the docstrings, the user guide from docs/*.md,
# the gallery from notebooks/*.ipynb (a notebook without stored outputs is
# executed; DEEPSTACK_DOCS_EXECUTE=off skips that). Open
# docs/_build/html/index.html.
docs: $(DOCS_STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

# Re-execute the notebooks at full size (QUICK unset), one after the other, and
# store their outputs in place: the committed outputs come from this run (at
# most a few minutes per notebook on 2 cores).
notebooks: $(STAMP)
	cd notebooks && for nb in *.ipynb; do \
		env -u QUICK ../$(VENV)/bin/jupyter execute --inplace --timeout=900 $$nb || exit 1; \
	done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
	rm -rf docs/_build docs/generated docs/gallery/notebooks docs/jupyter_execute
