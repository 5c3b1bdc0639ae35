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

.PHONY: help install test test-fast lint format sweep run report ui tensorboard screenshots bench clean

install: $(VENV)/.installed ## create .venv and install the package (editable) and its test tools

help: ## list the targets, one line each
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-z][a-z-]*:[^#]*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Re-runs only when pyproject.toml changes or .venv is missing.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

test: install ## all the tests, the slow end-to-end and browser ones included (what CI runs)
	$(BIN)/python -m pytest -q

test-fast: install ## the tests not marked slow (a minute or two)
	$(BIN)/python -m pytest -q -m "not slow"

# ruff's linter and formatter, configured in pyproject.toml; `make format` rewrites what `lint` rejects.
lint: install ## ruff check and ruff format --check (CI runs it before the tests)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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
	FREEZE_STUDY_SCREENSHOTS=docs $(BIN)/python -m pytest -q tests/test_browser.py

bench: install ## seconds per epoch with and without the feature cache, per level (random init)
	$(BIN)/freeze-study bench --data $(BENCH_DATA) --weights none

clean: ## remove reports/, lightning_logs/ and pytest's cache
	rm -rf reports lightning_logs .pytest_cache
