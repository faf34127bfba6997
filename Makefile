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

run: $(STAMP)
	$(PY) -m pipelines digits

test: $(STAMP)
	$(PY) -m ruff check deepstack pipelines tests benchmarks
	$(PY) -m ruff format --check deepstack pipelines tests benchmarks
	# SCIPY_ARRAY_API=1 lets scikit-learn's array-API estimator check run
	# instead of skipping itself.
	SCIPY_ARRAY_API=1 $(PY) -m pytest -n 2 --dist loadgroup tests

lint: $(STAMP)
	$(PY) -m ruff check deepstack pipelines tests benchmarks
	$(PY) -m ruff format --check deepstack pipelines tests benchmarks

format: $(STAMP)
	$(PY) -m ruff format deepstack pipelines tests benchmarks
	$(PY) -m ruff check --fix deepstack pipelines tests benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
