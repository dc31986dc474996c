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
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-24s\033[0m %s\n", $$1, $$2}'

$(UV):
	$(PYTHON_BOOTSTRAP) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@# uv writes no bytecode and PYTHONDONTWRITEBYTECODE may be set: without this every
	@# Airflow task, kfp component and test subprocess recompiles its imports (tens of seconds).
	.venv/bin/python -m compileall -q -j 2 .venv/lib/python3.11/site-packages >/dev/null || true
	@# The project is not an installed package (Composer takes plugins/ and dags/ as folders): a .pth
	@# puts plugins/ on the venv's path, so lint-imports, pre-commit hooks and editors resolve
	@# fraud_mlops without PYTHONPATH (dags, include and devtools resolve from the repository root).
	echo "$(CURDIR)/plugins" > .venv/lib/python3.11/site-packages/fraud_mlops_paths.pth
	touch $@

.PHONY: install
install: .venv/.installed ## Create .venv from the lock file (uv, about a minute on a fresh machine)

.PHONY: demo
demo: install ## Run the whole system end to end on the local target, print a summary, stop
	$(PY) -m devtools.demo

.PHONY: test
test: install lint ## Lint, then every suite but the slow ones (unit, DAG integrity, SQL golden, gcp contracts); CI runs test-slow too
	$(PY) -m pytest -m "not slow"

.PHONY: test-slow
test-slow: install browser-deps ## The slow suites (local stack end to end, events, browser, kfp.local, reference engine, parity)
	$(PY) -m pytest -m slow

.PHONY: test-fast
test-fast: install ## make test without lint: every suite not marked slow
	$(PY) -m pytest -m "not slow"

.PHONY: up
up: install ## Start the local stack and leave it running (Airflow UI URL is printed)
	$(PY) -m devtools.stack up

.PHONY: down
down: ## Stop the local stack started by `make up` (MLOPS_LOCAL_DIR=<dir> for a stack under another folder)
	$(PY) -m devtools.stack down

.PHONY: status
status: ## Show the local stack's processes, ports and Airflow health
	$(PY) -m devtools.stack status

.PHONY: generate
generate: install ## Write a landing CSV (ROWS=300000 FRAUD_RATE=0.01) under data/
	$(PY) -m devtools.generator generate --rows $(or $(ROWS),300000) --fraud-rate $(or $(FRAUD_RATE),0.01) --out data/transactions.csv

.PHONY: land
land: ## Upload FILE to the landing bucket of the active target (MLOPS_TARGET)
	$(PY) -m devtools.generator land $(FILE)

.PHONY: bench
bench: install ## Print the benchmarks' figures (parse time, transform throughput, ...)
	@for b in bench/bench_*.py; do echo "=== $$b"; $(PY) $$b || exit 1; done

.PHONY: dashboard
dashboard: install ## Write the fraud-ops dashboard (static HTML from the reporting views) and print its path
	$(PY) -m devtools.dashboard

.PHONY: browser-deps
browser-deps: ## Install Debian's chromium for the UI tests (never `playwright install`)
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium (apt)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

.PHONY: clean
clean: ## Stop the local stack if it runs, remove its data (.local/); works before `make install` too
	if [ -x $(PY) ]; then $(PY) -m devtools.stack down; fi
	rm -rf .local

.PHONY: lint
lint: install ## ruff (with Airflow's AIR rules), mypy, and the import-layer contracts (lint-imports)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy plugins dags devtools
	.venv/bin/lint-imports

# --- training ---

.PHONY: compile
compile: install ## Compile the training pipeline to include/pipelines/fraud_training.yaml (commit it)
	$(PY) -m include.pipelines.compile

.PHONY: train
train: install ## Run the training pipeline locally with kfp.local on the newest snapshot (SNAPSHOT=name)
	$(PY) -m devtools.training_cli run $(if $(SNAPSHOT),--snapshot $(SNAPSHOT))

.PHONY: promote
promote: ## End a canary: VERSION=n takes 100 % of the local endpoint's traffic and the champion alias
	$(PY) -m devtools.training_cli promote $(VERSION)

.PHONY: models
models: ## List local model versions, aliases, recent rejections and the endpoint's traffic
	$(PY) -m devtools.training_cli models

.PHONY: test-training
test-training: install ## Training tests: steps, gate, components, compile, registry, Vertex requests, kfp.local runs
	$(PY) -m pytest tests/training tests/pipelines tests/pipeline_runs tests/registry tests/orchestration/test_training.py tests/orchestration/test_training_dag.py

# --- feature store / serving ---
FUNCTION_PORT ?= $(or $(MLOPS_FUNCTION_PORT),8090)

.PHONY: sync-features
sync-features: install ## Refresh the local online store from the warehouse's latest_card_features table
	$(PY) -m devtools.features_cli sync

.PHONY: features
features: ## Online store status, or CARD=number for that card's latest features
	$(PY) -m devtools.features_cli $(if $(CARD),lookup $(CARD),status)

.PHONY: erase-card
erase-card: ## Right to erasure: remove CARD=number from raw, landed files, staging, features, online store
	$(PY) -m devtools.erase_card $(CARD)

.PHONY: serve
serve: install ## Run the prediction function in the foreground on 127.0.0.1 (FUNCTION_PORT=8090; gunicorn 2x8)
	WORKERS=2 THREADS=8 $(PY) -m functions_framework --target predict --source functions/predict/main.py \
		--host 127.0.0.1 --port $(FUNCTION_PORT)

.PHONY: test-feature-store
test-feature-store: install ## Feature store tests: parity, point-in-time, atomicity, sync, Vertex requests
	$(PY) -m pytest tests/feature_store

.PHONY: test-serving
test-serving: install ## Serving tests: validation table, canary split, model swap, logs, gcp requests, batch
	$(PY) -m pytest tests/serving

.PHONY: bench-feature-store
bench-feature-store: install ## Sync time for 1M cards, lookup p50/p99, batch lookup throughput (ENTITIES=n)
	$(PY) bench/bench_feature_store.py $(if $(ENTITIES),--entities $(ENTITIES))

.PHONY: bench-bytes
bench-bytes: install ## BigQuery bytes per file, day 1 vs day 30, incremental vs full refresh (estimated from the plans)
	$(PY) bench/bench_bigquery_bytes.py $(if $(DEDUP_HORIZON_DAYS),--dedup-horizon-days $(DEDUP_HORIZON_DAYS))

.PHONY: bench-serving
bench-serving: install ## Function latency/throughput at concurrency 1/8/32 vs a naive baseline, 10k load
	$(PY) bench/bench_serving.py


# --- deploy ---
TOFU ?= $(shell command -v tofu || command -v terraform)
# The deployed stack's own names when infra/ has state here (another name_prefix or region
# names another environment), else the defaults of infra/variables.tf.
COMPOSER_ENV ?= $(or $(shell $(TOFU) -chdir=infra output -raw composer_environment 2>/dev/null),fraud-composer)
COMPOSER_BUCKET ?= $(shell $(TOFU) -chdir=infra output -raw composer_bucket 2>/dev/null)
GCP_REGION ?= $(or $(shell $(TOFU) -chdir=infra output -raw region 2>/dev/null),europe-west4)
COMPOSE := docker compose --env-file .local/compose.env -f docker-compose.yaml

.PHONY: infra-fmt
infra-fmt: ## Format the OpenTofu code in infra/
	$(TOFU) fmt -recursive infra

.PHONY: infra-check
infra-check: install ## Offline checks of infra/: fmt -check, least-privilege policy, names vs settings
	$(TOFU) fmt -check -recursive infra
	$(PY) -m scripts.table_schemas --check
	$(PY) -m pytest -q tests/infra/test_iac_policy.py tests/infra/test_iac_matches_code.py tests/infra/test_requirements.py

.PHONY: infra-schemas
infra-schemas: install ## Render infra/'s BigQuery table schemas from include/sql/00_setup.sql
	$(PY) -m scripts.table_schemas

.PHONY: bundle-function
bundle-function: install ## Assemble infra/.build/predict-function (functions/predict + fraud_mlops) for tofu
	$(PY) -m scripts.bundle_function

.PHONY: image-digests
image-digests: ## Write the images' build-input digests (their tags) into fraud_mlops/registry/images.py and recompile the pipeline (it names the tag), after editing images/ or the server's modules
	$(PY) -m scripts.image_digests --write
	$(PY) -m include.pipelines.compile

.PHONY: image-requirements
image-requirements: install ## Write images/*/requirements.lock.txt (what the images install) from uv.lock and images/*/requirements.txt, then the digests and the pipeline (commit them)
	$(PY) -m scripts.image_requirements
	@$(MAKE) --no-print-directory image-digests

.PHONY: images
images: ## Build and push the model server and training images whose tag Artifact Registry lacks (GCP_PROJECT=..., needs Docker)
	@test -n "$(GCP_PROJECT)" || { echo "set GCP_PROJECT (and GCP_REGION)"; exit 2; }
	$(PY) -m scripts.image_requirements --check
	$(PY) -m scripts.image_digests --check
	@for image in model_server training; do \
		uri=$$($(PY) -c "from fraud_mlops.registry.images import image_uri; print(image_uri('$(GCP_PROJECT)', '$(GCP_REGION)', '$$image'.replace('_', '-')))"); \
		if docker manifest inspect $$uri >/dev/null 2>&1; then echo "$$uri is pushed: not built again (a tag is never overwritten)"; continue; fi; \
		docker build --platform linux/amd64 -f images/$$image/Dockerfile -t $$uri . && docker push $$uri || exit 1; \
	done

.PHONY: deploy-composer-dry-run
deploy-composer-dry-run: install ## Print what deploy-composer would copy and where (COMPOSER_BUCKET=... or GCP_PROJECT=...)
	@# With neither a bucket nor a project (no tofu state here), plan for a placeholder bucket name.
	$(PY) -m scripts.deploy_composer --dry-run \
		--bucket "$(or $(COMPOSER_BUCKET),$(if $(GCP_PROJECT),,COMPOSER_BUCKET))" \
		$(if $(GCP_PROJECT),--project $(GCP_PROJECT) --location $(GCP_REGION) --environment $(COMPOSER_ENV),--skip-requirements)

.PHONY: deploy-composer
deploy-composer: install ## Apply requirements.txt, sync plugins/ include/ dags/ to Composer (GCP_PROJECT=...)
	@test -n "$(GCP_PROJECT)" || { echo "set GCP_PROJECT (and GCP_REGION, COMPOSER_ENV)"; exit 2; }
	$(PY) -m scripts.deploy_composer --project $(GCP_PROJECT) --location $(GCP_REGION) \
		--environment $(COMPOSER_ENV) $(if $(COMPOSER_BUCKET),--bucket $(COMPOSER_BUCKET))

.PHONY: compose-env
compose-env: install ## Write .local/compose.env (this machine's local-stack secrets) for docker compose
	$(PY) -m scripts.container_env compose

.PHONY: compose-up
compose-up: compose-env ## Build and start the docker-compose stack (needs a Docker engine)
	$(COMPOSE) up --build --detach
	@echo "Airflow UI: http://localhost:$${MLOPS_AIRFLOW_PORT:-8080}"

.PHONY: compose-down
compose-down: compose-env ## Stop the docker-compose stack (keeps its volumes; add -v by hand to drop them)
	$(COMPOSE) down

.PHONY: astro-start
astro-start: install ## Build Dockerfile.astro and start it with the Astro CLI (needs Docker + astro)
	$(PY) -m scripts.container_env astro
	docker build -f Dockerfile.astro -t fraud-mlops-astro .
	astro dev start --image-name fraud-mlops-astro --env .local/astro.env

.PHONY: astro-stop
astro-stop: ## Stop the Astro CLI stack
	astro dev stop

# --- event-driven ingestion: docs/event_driven.md ---
.PHONY: events-on
events-on: ## Unpause fraud_ingest_events on the running stack and wait for its Pub/Sub watcher
	$(PY) -m devtools.events on

.PHONY: events-off
events-off: ## Pause fraud_ingest_events and wait until its watcher stops (notifications then wait)
	$(PY) -m devtools.events off

.PHONY: test-events
test-events: install ## Event-driven tests: Pub/Sub emulator, the provider's trigger, the DAG, stack e2e
	$(PY) -m pytest tests/events

.PHONY: bench-trigger
bench-trigger: install ## Landing → run-started latency, Pub/Sub watcher vs deferrable sensor (own stack)
	$(PY) bench/bench_trigger_latency.py
