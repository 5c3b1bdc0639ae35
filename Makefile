# freeze_study: `make sweep` runs the study, `make test` the tests; both set up .venv first. `make help` lists all.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

# `make sweep` overrides, e.g. make sweep DATA=../shared/beans WEIGHTS=none EPOCHS=2
DATA ?= AI-Lab-Makerere/beans
WEIGHTS ?= imagenet
LEVELS ?= 0,1,2,3,4
SEEDS ?= 42
EPOCHS ?= 30
SWEEP_ARGS ?=  # any other `freeze-study sweep` flags, e.g. SWEEP_ARGS="--feature-cache off"
# `make run` overrides, e.g. make run FREEZE=1 DATA=../shared/beans WEIGHTS=none EPOCHS=2
FREEZE ?= 0

BENCH_DATA ?= ../shared/beans

# The shared stack (`make server`) and a worker that joins a sweep on it (`make worker`); see README "Many machines".
STACK_DIR ?= .stack
PG_PORT ?= 5432
MLFLOW_PORT ?= 5000
STORAGE ?= postgresql://freeze_study@127.0.0.1:$(PG_PORT)/optuna
TRACKING ?= http://127.0.0.1:$(MLFLOW_PORT)
# STUDY: the sweep's study name (may be left out when the storage holds one); WORKER_ARGS e.g. "--num-workers 8"
STUDY ?=
WORKER_ARGS ?=
# BIND=0.0.0.0 lets workers on other hosts in; MLflow then needs ALLOWED_HOSTS, e.g. server.lan:5000
BIND ?= 127.0.0.1
ALLOWED_HOSTS ?=
STACK_ENV = STACK_DIR=$(STACK_DIR) PG_PORT=$(PG_PORT) MLFLOW_PORT=$(MLFLOW_PORT) MLFLOW=$(BIN)/mlflow \
	BIND=$(BIND) ALLOWED_HOSTS=$(ALLOWED_HOSTS)

.PHONY: help install test test-fast lint format sweep run report ui tensorboard screenshots bench bench-sweep gpu-check server server-stop worker clean

install: $(VENV)/.installed ## create .venv and install the package (editable) and its test tools

help: ## list the targets, one line each
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-z][a-z-]*:[^#]*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Re-runs only when pyproject.toml changes or .venv is missing.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

test: install ## every tier: unit, integration, system (servers, PostgreSQL, browser; what CI runs)
	$(BIN)/python -m pytest -q --durations=25

test-fast: install ## the unit and integration tiers (no servers, no browser; under 3 minutes)
	$(BIN)/python -m pytest -q tests/unit tests/integration

# ruff's linter and formatter, then mypy on the package, all configured in pyproject.toml; `make format` rewrites
# what ruff rejects.
lint: install ## ruff check, ruff format --check and mypy (CI runs it before the tests)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## ruff's fixes and formatting, in place
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

sweep: install ## the study: every level x seed (DATA= WEIGHTS= LEVELS= SEEDS= EPOCHS=), then the report
	$(BIN)/freeze-study sweep --levels $(LEVELS) --seeds $(SEEDS) --data $(DATA) --weights $(WEIGHTS) \
		--epochs $(EPOCHS) --report $(SWEEP_ARGS)

run: install ## one run through `mlflow run .` (FREEZE= DATA= WEIGHTS= EPOCHS=)
	$(BIN)/mlflow run . -P freeze=$(FREEZE) -P data=$(DATA) -P weights=$(WEIGHTS) -P epochs=$(EPOCHS) \
		--experiment-name freeze-study --env-manager local

report: install ## figures and report.md/html of the latest sweep, under reports/
	$(BIN)/freeze-study report

ui: install ## the MLflow UI on the local store; prints the addresses of the study's pages
	$(BIN)/freeze-study ui

tensorboard: install ## the latest sweep's TensorBoard event files, in TensorBoard on 127.0.0.1:6006
	$(BIN)/freeze-study tensorboard

screenshots: install ## remake docs/*.png: the browser test's MLflow UI screenshots (needs chromium)
	FREEZE_STUDY_SCREENSHOTS=docs $(BIN)/python -m pytest -q tests/system/test_browser.py

bench: install ## seconds per epoch with and without the feature cache, per level (random init)
	$(BIN)/freeze-study bench --data $(BENCH_DATA) --weights none

# The whole sweep (levels 0-4 x seeds 42,43, 2 epochs a run) with and without every cache, side by side, and each
# level against the measured matrix-multiply rate. BENCH_SWEEP_ARGS="--train-per-class 64" for the issue's subset.
BENCH_SWEEP_ARGS ?=
bench-sweep: install ## the whole sweep with and without every cache, side by side, against the compute limit
	$(BIN)/freeze-study bench --sweep --data $(BENCH_DATA) --weights none $(BENCH_SWEEP_ARGS)

# On a machine with CUDA: the tests marked cuda, per-level epochs with and without the cache, a five-level sweep
# with the study's recipe; under ten minutes. Skips (exit 0) without CUDA.
gpu-check: install ## on a CUDA machine: the cuda tests, per-level epochs and a five-level sweep (skips without)
	DATA=$(BENCH_DATA) scripts/gpu-check

# PostgreSQL (databases optuna and mlflow, 127.0.0.1 only, generated password in $(STACK_DIR)/pgpass)
# and an `mlflow server` on it at 127.0.0.1:$(MLFLOW_PORT) serving the artifacts.
server: install ## PostgreSQL + mlflow server for many workers, state under .stack/ (README: Many machines)
	$(STACK_ENV) scripts/stack start

server-stop: ## stop what `make server` started (the data stays in .stack/)
	$(STACK_ENV) scripts/stack stop

# Join a sweep on the stack: `make worker` on each machine (or once per GPU, with CUDA_VISIBLE_DEVICES).
worker: install ## join a sweep on the stack (STORAGE= TRACKING= STUDY= WORKER_ARGS=)
	$(if $(wildcard $(STACK_DIR)/pgpass),PGPASSFILE=$(abspath $(STACK_DIR))/pgpass) MLFLOW_TRACKING_URI=$(TRACKING) \
		$(BIN)/freeze-study worker --storage $(STORAGE) $(if $(strip $(STUDY)),--study $(STUDY)) $(WORKER_ARGS)

clean: ## remove reports/, lightning_logs/ and pytest's and mypy's caches
	rm -rf reports lightning_logs .pytest_cache .mypy_cache
