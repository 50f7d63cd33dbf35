# The one list of developer commands; README and CI call these targets.
SHELL := /bin/bash
UV ?= uv
VENV := .venv
BIN := $(VENV)/bin
PYTEST_WORKERS ?= 2

.PHONY: install run test lint docs unit integration e2e e2e-docker bench clean

install: $(BIN)/leviathan
$(BIN)/leviathan: uv.lock pyproject.toml */pyproject.toml services/*/pyproject.toml
	@command -v $(UV) >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@bash scripts/install-system-deps.sh
	$(UV) sync --all-packages --frozen
	@touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy core/src adapters/src services/scheduler/src services/worker-dispatch/src services/worker/src services/control-plane/src scripts
	$(BIN)/lint-imports

unit: install
	$(BIN)/pytest tests/unit -q -n $(PYTEST_WORKERS)

integration: install
	$(BIN)/pytest tests/integration -q -n $(PYTEST_WORKERS)

e2e: install
	$(BIN)/pytest tests/e2e -q

test: lint docs
	$(BIN)/pytest tests -q -n $(PYTEST_WORKERS) --dist loadfile --ignore=tests/docker

# The container tier: a private Docker engine, every image built from the repository,
# `docker compose up` to a pull request. Installs the engine and Compose when missing.
e2e-docker: install
	@bash scripts/docker/install.sh
	$(BIN)/pytest tests/docker -v --timeout=1800 -rA --durations=5

# The documentation site (mkdocs.yml); strict, so a broken link or anchor fails.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: install
	$(BIN)/python -m bench

# make run RUN_ARGS=--access-log: also the control plane's line per request.
run: install
	$(BIN)/python scripts/devrun.py $(RUN_ARGS)

clean:
	rm -rf $(VENV) .tools .leviathan-run .leviathan-data .leviathan-cache
