# vtp: `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install vtp with its dev tools

demo: $(STAMP) ## Run the training pipeline locally on the shipped data
	$(BIN)/vtp run training --local

test: $(STAMP) ## Run the test suite (lint, compiled/ freshness, unit and end-to-end tests)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/vtp compile --check
	$(BIN)/vtp check --local --template
	$(BIN)/pytest -n 2 --dist loadgroup

compile: $(STAMP) ## Regenerate compiled/ from the source
	$(BIN)/vtp compile

wheel: $(STAMP) ## Build the wheel into dist/ (compiled pipelines and sample data included)
	$(BIN)/python -m build --wheel --outdir dist .

bench: $(STAMP) ## Run the benchmarks (several minutes; writes under benchmarks/.work/)
	$(BIN)/python benchmarks/bench_commands.py
	$(BIN)/python benchmarks/bench_wheel.py
	$(BIN)/python benchmarks/bench_load_dataset.py
	$(BIN)/python benchmarks/bench_orchestration.py
	$(BIN)/python benchmarks/bench_tuning.py
	$(BIN)/python benchmarks/bench_distributed.py
	$(BIN)/python benchmarks/bench_trainer_env.py

clean: ## Remove local state and build leftovers (keeps .venv)
	rm -rf .vtp build dist *.egg-info .pytest_cache .ruff_cache benchmarks/.work

.PHONY: help install demo test compile wheel bench clean
