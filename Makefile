# The two commands that take a fresh machine all the way: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp

.PHONY: install run test lint unit integration bench chaos crds cluster-up cluster-down clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

## run: a cluster (KUBECONFIG's if it answers, else a local one), the CRDs, the operator.
run: install
	$(BIN)/agenttasks dev

## test: set-up, lint, types and the whole suite; stops every process it started.
test: install
	$(BIN)/agenttasks cluster build  # the control plane, kubectl and helm (chart tests)
	$(BIN)/ruff check operator tests
	$(BIN)/mypy
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check operator tests
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

## bench: AgentTasks against bare Jobs on a fresh local cluster, then schedule fire lag;
## prints ratios, writes bench-results.json. Sizes: BENCH_TASKS (2000), BENCH_STORED (10000),
## BENCH_SCHEDULES (500; 0 skips).
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

cluster-up: install
	$(BIN)/agenttasks cluster up

cluster-down: install
	$(BIN)/agenttasks cluster down

clean:
	-$(BIN)/agenttasks cluster down 2>/dev/null
	rm -rf $(VENV) .cluster .cluster-test .cluster-chaos .cluster-chaos-test .mypy_cache .ruff_cache .pytest_cache
