# The two commands that take a fresh machine all the way: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp

.PHONY: install lock run test lint audit unit integration bench chaos crds generate cluster-up cluster-down clean

# Installs from the lock (requirements/, with hashes), then the project itself without deps.
$(STAMP): pyproject.toml requirements/test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/test.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(STAMP)

$(BENCH_STAMP): $(STAMP) requirements/bench.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements/bench.txt
	touch $@

## lock: refresh requirements/*.txt (pinned, hashed) from pyproject.toml's ranges.
UV_VERSION := 0.13.9
LOCK_FLAGS := --quiet --python-version 3.11 --generate-hashes
lock: install
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile $(LOCK_FLAGS) pyproject.toml requirements/build.in -o requirements/runtime.txt
	$(BIN)/uv pip compile $(LOCK_FLAGS) --extra test pyproject.toml requirements/build.in -o requirements/test.txt
	$(BIN)/uv pip compile $(LOCK_FLAGS) --extra test --extra bench pyproject.toml requirements/build.in -o requirements/bench.txt

## run: a cluster (KUBECONFIG's if it answers, else a local one), the CRDs, the operator.
run: install
	$(BIN)/agenttasks dev

## test: set-up, lint, types, the dependency audit, the suite; stops every process it started.
test: install
	$(BIN)/agenttasks cluster build  # the control plane, kubectl and helm (chart tests)
	$(BIN)/ruff check operator tests
	$(BIN)/mypy
	$(BIN)/python -m tests.audit  # pip-audit over requirements/runtime.txt; SKIPPED when offline
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check operator tests
	$(BIN)/mypy

## audit: pip-audit over the runtime lock; fails on a known vulnerability, says SKIPPED (exit 0)
## when no vulnerability database answers.
audit: install
	$(BIN)/python -m tests.audit

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

## bench: AgentTasks against bare Jobs on a fresh local cluster, then schedule fire lag;
## prints ratios, writes bench-results.json. Sizes: BENCH_TASKS (2000), BENCH_STORED (10000;
## comma-separated sizes grow in one run), BENCH_SCHEDULES (500; 0 skips). BENCH_ONLY=stored:
## only the stored phase; BENCH_BASELINE_SRC=<checkout>/operator measures it beside this one.
bench: $(BENCH_STAMP)
	@if [ -z "$$AGENTTASKS_TEST_KUBECONFIG" ]; then $(BIN)/agenttasks cluster build; fi
	$(BIN)/python -m tests.perf.bench_queue

## chaos: 500 AgentTasks under faults on a fresh local cluster: 20 SIGKILLs of the operator, an
## API server restart, a watch expiry (etcd compaction), throttling (429); prints a table and
## fails on a lost task or a duplicate Job. Sizes: CHAOS_TASKS (500), CHAOS_KILLS (20),
## CHAOS_MAX_RUNNING (15); CHAOS_SEED repeats a run.
chaos: install
	@if [ -z "$$AGENTTASKS_TEST_KUBECONFIG" ]; then $(BIN)/agenttasks cluster build; fi
	$(BIN)/python -m tests.chaos.run

## crds: regenerate crds/ and the chart's crds/ from the pydantic models.
crds: install
	$(BIN)/agenttasks crds --write crds
	$(BIN)/agenttasks crds --write charts/agenttask-operator/crds

## generate: everything derived from the code: the CRDs, and the chart's version and
## appVersion from the package version (pyproject.toml). Tests fail when any is stale.
generate: crds
	$(BIN)/agenttasks chart-version --write

cluster-up: install
	$(BIN)/agenttasks cluster up

cluster-down: install
	$(BIN)/agenttasks cluster down

clean:
	-$(BIN)/agenttasks cluster down 2>/dev/null
	rm -rf $(VENV) .cluster .cluster-test .cluster-chaos .cluster-chaos-test .mypy_cache .ruff_cache .pytest_cache
