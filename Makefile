# Two commands on a fresh machine: `make run` and `make test`. Both create .venv when needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: venv run test lint mlflow-ui exp-show lock clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

## Run the whole default pipeline (collect, train, export, hls, validate, report) with DVC.
run: venv
	dvc repro

## Run the linter, then the test suite.
test: lint
	pytest

lint: venv
	ruff check pipeline tests benchmarks scripts

## Open the MLflow UI on the project's tracking store, the address of the experiment's runs
## table in the designs view printed first. One web worker, and no job runner (it serves
## MLflow's GenAI jobs and starts 8 processes): 2 processes, about 0.5 GB.
MLFLOW_PORT ?= 5000
mlflow-ui: venv
	python -m pipeline.tracking.views --url http://127.0.0.1:$(MLFLOW_PORT)
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri sqlite:///mlflow.db \
	    --host 127.0.0.1 --port $(MLFLOW_PORT) --workers 1

## The experiments' quality and cost, one row each: `dvc exp show` keeping the metrics and
## the target sample rate (plain `dvc exp show` adds every param and dependency hash, which
## DVC folds into '…' past the terminal's width). `models` stays: dropping it trips DVC 3.67.
exp-show: venv
	dvc exp show --no-pager --drop '.*' \
	    --keep '^(Experiment|Created|fixed16\..*|po2\..*|models|hls\.target_sample_rate_hz)$$'

## Refresh requirements.lock from the current .venv (after changing pyproject.toml).
lock: venv
	{ head -n 2 requirements.lock; $(BIN)/python -m pip freeze --exclude-editable; } > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock
