# Two commands on a fresh machine: `make run` and `make test`. Both create .venv when needed.
# The interpreter: PYTHON=..., or else the newest of these on PATH that runs.
SUPPORTED_PYTHONS := python3.13 python3.12 python3.11
PYTHON ?= $(firstword $(foreach p,$(SUPPORTED_PYTHONS),$(shell $(p) -c '' 2>/dev/null && echo $(p))))
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
UV := .uv/bin/uv
export PATH := $(CURDIR)/$(BIN):$(PATH)
export TF_CPP_MIN_LOG_LEVEL ?= 2
export UV_PYTHON_DOWNLOADS := never

.PHONY: venv run test lint explore promote mlflow-ui exp-show lock clean

venv: $(VENV)/.installed

# uv (in .uv/, from PyPI) installs exactly uv.lock, one lock for every supported Python.
$(UV):
	@test -n "$(PYTHON)" || { echo "error: no Python found: install python3.11, python3.12 or python3.13 on PATH, or run make PYTHON=/path/to/python3.x"; exit 2; }
	$(PYTHON) -m venv .uv
	.uv/bin/python -m pip install --quiet uv==$(UV_VERSION)

# --compile-bytecode: every stage and many tests are new processes importing TensorFlow.
# Where PYTHONDONTWRITEBYTECODE is set (the development machine's shell has it), Python
# never caches what it compiles, and each import compiled TensorFlow's sources again: 20 s
# instead of 10 on the 2-core machine.
$(VENV)/.installed: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python "$$(.uv/bin/python -c 'import sys; print(sys._base_executable)')"
	touch $@

## Run the whole default pipeline (collect, train, export, hls, validate, report) with DVC.
run: venv
	dvc repro

## Run the linter, then the test suite: one pytest-xdist worker per core (at most 4), each
## test file on one worker so that its module fixtures are built once.
test: lint
	pytest -n auto --maxprocesses 4 --dist loadfile

lint: venv
	ruff check pipeline tests benchmarks scripts

## The quality-per-cost frontier (docs/explore.md): an Optuna study of TRIALS designs, each
## trained, exported, folded and synthesised, by WORKERS processes; then
## explore/<study>/frontier.csv and .png. Rerunning continues the study. Unset variables take
## params.yaml's `explore` section. STORAGE: an SQLAlchemy URL that workers on other machines
## can reach (postgresql://...), for `python -m pipeline.explore worker --storage URL` there.
EXPLORE_OPTIONS = $(if $(TRIALS),--trials $(TRIALS)) $(if $(WORKERS),--workers $(WORKERS)) \
	$(if $(STORAGE),--storage '$(STORAGE)') $(if $(STUDY),--study $(STUDY)) \
	$(if $(EPOCHS),--epochs $(EPOCHS))
explore: venv
	dvc repro collect
	python -m pipeline.explore run $(EXPLORE_OPTIONS)

## A frontier trial's model config as configs/models/NAME.yaml: make promote TRIAL=12 NAME=...
promote: venv
	python -m pipeline.explore promote --trial '$(TRIAL)' --name '$(NAME)' $(EXPLORE_OPTIONS)

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

## Resolve uv.lock again for every supported Python (after changing pyproject.toml).
lock: | $(UV)
	$(UV) lock
