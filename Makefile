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

.PHONY: demo
demo: install ## Run the whole system end to end on the local target, print a summary, stop
	$(PY) -m fraud_mlops.demo

.PHONY: test
test: install browser-deps ## Run every test suite (unit, DAG integrity, SQL golden, local stack, browser)
	$(PY) -m pytest

.PHONY: test-fast
test-fast: install ## Only the tests that start no local stack (about two minutes)
	$(PY) -m pytest -m "not stack and not browser"

.PHONY: up
up: install ## Start the local stack and leave it running (Airflow UI URL is printed)
	$(PY) -m fraud_mlops.local_stack up

.PHONY: down
down: ## Stop the local stack started by `make up` or a test run
	$(PY) -m fraud_mlops.local_stack down

.PHONY: status
status: ## Show the local stack's processes, ports and Airflow health
	$(PY) -m fraud_mlops.local_stack status

.PHONY: generate
generate: install ## Write a landing CSV (ROWS=300000 FRAUD_RATE=0.01) under data/
	$(PY) -m fraud_mlops.generator generate --rows $(or $(ROWS),300000) --fraud-rate $(or $(FRAUD_RATE),0.01) --out data/transactions.csv

.PHONY: land
land: ## Upload FILE to the landing bucket of the active target (MLOPS_TARGET)
	$(PY) -m fraud_mlops.generator land $(FILE)

.PHONY: bench
bench: install ## Print the benchmarks' figures (parse time, transform throughput, ...)
	@for b in bench/bench_*.py; do echo "=== $$b"; $(PY) $$b || exit 1; done

.PHONY: browser-deps
browser-deps: ## Install Debian's chromium for the UI tests (never `playwright install`)
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium (apt)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

.PHONY: clean
clean: down ## Remove the local stack's data (.local/)
	rm -rf .local

.PHONY: lint
lint: install ## ruff (with Airflow's AIR rules) and mypy
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy plugins dags

# --- training (issue 3) ---

# --- feature store / serving (issues 4, 5) ---

# --- deploy (issue 6) ---
