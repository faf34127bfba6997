# Two entry points: `make run` (the main job) and `make test` (the whole suite).
# Both create .venv on a fresh machine and install the package with its extras.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export KERAS_BACKEND ?= tensorflow
export PYTHONHASHSEED ?= 0

.PHONY: run test lint format bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

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

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
