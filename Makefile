# freeze_study: `make sweep` runs the study, `make test` the tests; both set up .venv first.
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

.PHONY: install test test-fast lint format sweep report bench bench-sweep gpu-check server server-stop worker clean

install: $(VENV)/.installed

# Re-runs only when pyproject.toml changes or .venv is missing.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

# Everything, the slow end-to-end runs included (what CI runs).
test: install
	$(BIN)/python -m pytest -q

# Everything but the tests marked slow (a minute or two).
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

# ruff's linter and formatter, configured in pyproject.toml; `make format` rewrites what `lint` rejects.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The study's recipe on every level (early stopping on val_loss), then the report.
sweep: install
	$(BIN)/freeze-study sweep --levels $(LEVELS) --seeds $(SEEDS) --data $(DATA) --weights $(WEIGHTS) \
		--epochs $(EPOCHS) --report $(SWEEP_ARGS)

report: install
	$(BIN)/freeze-study report

# Seconds per epoch with and without the feature cache, per level (random init: no download).
bench: install
	$(BIN)/freeze-study bench --data $(BENCH_DATA) --weights none

# The whole sweep (levels 0-4 x seeds 42,43, 2 epochs a run) with and without every cache, side by side, and each
# level against the measured matrix-multiply rate. BENCH_SWEEP_ARGS="--train-per-class 64" for the issue's subset.
BENCH_SWEEP_ARGS ?=
bench-sweep: install
	$(BIN)/freeze-study bench --sweep --data $(BENCH_DATA) --weights none $(BENCH_SWEEP_ARGS)

# On a machine with CUDA: the tests marked cuda, per-level epochs with and without the cache, a five-level sweep
# with the study's recipe; under ten minutes. Skips (exit 0) without CUDA.
gpu-check: install
	DATA=$(BENCH_DATA) scripts/gpu-check

# PostgreSQL (databases optuna and mlflow, 127.0.0.1 only, generated password in $(STACK_DIR)/pgpass)
# and an `mlflow server` on it at 127.0.0.1:$(MLFLOW_PORT) serving the artifacts.
server: install
	$(STACK_ENV) scripts/stack start

server-stop:
	$(STACK_ENV) scripts/stack stop

# Join a sweep on the stack: `make worker` on each machine (or once per GPU, with CUDA_VISIBLE_DEVICES).
worker: install
	$(if $(wildcard $(STACK_DIR)/pgpass),PGPASSFILE=$(abspath $(STACK_DIR))/pgpass) MLFLOW_TRACKING_URI=$(TRACKING) \
		$(BIN)/freeze-study worker --storage $(STORAGE) $(if $(strip $(STUDY)),--study $(STUDY)) $(WORKER_ARGS)

clean:
	rm -rf reports lightning_logs .pytest_cache
