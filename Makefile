# Card-fraud MLOps on Cloud Composer. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON_BOOTSTRAP ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
PY := .venv/bin/python
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(UV):
	$(PYTHON_BOOTSTRAP) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	touch $@

.PHONY: install
install: .venv/.installed ## Create .venv from the lock file (uv, about a minute on a fresh machine)

.PHONY: lint
lint: install ## ruff (with Airflow's AIR rules) and mypy
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy plugins dags

# --- training (issue 3) ---

# --- feature store / serving (issues 4, 5) ---

# --- deploy (issue 6) ---
