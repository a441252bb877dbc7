# mynaflow developer entry points. A newcomer needs only `make run` and `make test`.
#
# scripts/infra.py and scripts/run_all.py are stdlib Python, so they run before uv
# or a virtualenv exists. uv itself is installed from PyPI on first use.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION ?= 0.13.8
PYTEST_ARGS ?=

# Prefer a uv on PATH; otherwise the one scripts/bootstrap_uv.py puts in a private
# venv (no pip needed: a fresh Debian 12 has none for its python3).
UV_VENV ?= $(or $(MYNAFLOW_UV_VENV),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mynaflow/uv-venv)
UV ?= $(shell command -v uv 2>/dev/null || echo "$(UV_VENV)/bin/uv")
export UV

# Connection settings for anything that talks to the servers: what the caller
# already exported wins; otherwise the file `make infra-up` wrote.
LOAD_ENV := if [[ -z "$${KAFKA_BOOTSTRAP_SERVERS:-}" || -z "$${DATABASE_URL:-}" ]]; then \
	  source .mynaflow/env; fi

.PHONY: help infra-up infra-down infra-status infra-clean uv sync lint format test run demo asyncapi asyncapi-check \
	images images-smoke chart-check

help:
	@echo "make run          infra-up + sync + all four services in the foreground (Ctrl-C stops)"
	@echo "make test         infra-up + sync + pytest against real Kafka and PostgreSQL"
	@echo "make demo         infra-up + sync + the Naka Ward incident replayed, and its report"
	@echo "make lint         ruff check, ruff format --check, mypy (code and tests)"
	@echo "make infra-up     start local Kafka + PostgreSQL (idempotent); settings in .mynaflow/env"
	@echo "make infra-down   stop them (data kept)"
	@echo "make infra-status show what runs where"
	@echo "make infra-clean  stop them and delete their data"
	@echo "make images       build mynaflow/<service>:<version> for the four services (Docker or buildah)"
	@echo "make images-smoke run each image against the local Kafka and PostgreSQL"
	@echo "make chart-check  helm lint + helm template | kubernetes-validate on deploy/helm/mynaflow"

infra-up:
	$(PYTHON) scripts/infra.py up

infra-down:
	$(PYTHON) scripts/infra.py down

infra-status:
	$(PYTHON) scripts/infra.py status

infra-clean:
	$(PYTHON) scripts/infra.py clean

uv:
	@$(UV) --version >/dev/null 2>&1 || { \
	  echo "uv not found; installing uv==$(UV_VERSION) into $(UV_VENV)"; \
	  MYNAFLOW_UV_VENV="$(UV_VENV)" $(PYTHON) scripts/bootstrap_uv.py "$(UV_VERSION)"; }

sync: uv
	$(UV) sync --all-packages --locked

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run python scripts/typecheck.py   # mypy --strict: the code, then each test folder
	$(UV) run lint-imports                  # layer contracts (pyproject.toml [tool.importlinter])

format: sync
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

# pytest's own exit code passes through: 5 (no tests collected) fails too.
test: infra-up sync
	$(LOAD_ENV); $(UV) run pytest $(PYTEST_ARGS)

run: infra-up sync
	$(LOAD_ENV); exec $(PYTHON) scripts/run_all.py

# Container images and the Kubernetes chart (docs/deployment.md). `make images` needs no
# Docker engine (buildah) and no registry but Debian's mirror and PyPI.
images:
	scripts/build_images.sh

images-smoke: infra-up sync
	$(LOAD_ENV); $(UV) run python scripts/images_smoke.py

chart-check: sync
	scripts/check_chart.sh

# The incident replayed through all four services (docs/demo.md): its own database, topic
# prefix and folder (.mynaflow/demo), so `make run`'s data is left alone. DEMO_ARGS=--json
DEMO_ARGS ?=
demo: infra-up sync
	$(LOAD_ENV); $(UV) run mynaflow demo $(DEMO_ARGS)

# docs/asyncapi/: each service's AsyncAPI document, generated from its code (scripts/asyncapi.py).
asyncapi: sync
	$(UV) run python scripts/asyncapi.py

asyncapi-check: sync
	$(UV) run python scripts/asyncapi.py --check
