# freeze_study: `make sweep` runs the study, `make test` the tests; both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test clean

install: $(VENV)/.installed

# Re-runs only when pyproject.toml changes or .venv is missing.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf reports lightning_logs .pytest_cache
