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
	$(BIN)/agenttasks cluster build --kueue  # the control plane, kubectl, helm, the real node, Kueue
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

## bench: every phase on one fresh local cluster, each figure beside its baseline from the
## same run, with the issue's bar and PASS/MISS; writes bench-results.json; exit 1 only when a
## phase crashed. Phases (BENCH_PHASES=queue,schedules,webhooks,stored; a size of 0 skips one):
## queue: BENCH_TASKS (2000) AgentTasks vs bare Jobs, BENCH_PARALLELISM (50) at a time, and vs
##   bare Jobs with each task's status written directly (no operator).
## schedules: BENCH_SCHEDULES (2000) spread over BENCH_SCHEDULE_SPREAD (5) minutes for
##   BENCH_SCHEDULE_MINUTES (3), and BENCH_SCHEDULE_BURST (= BENCH_SCHEDULES) due at once,
##   each vs the same tasks created directly.
## webhooks: BENCH_WEBHOOK_RATE (200/s) for BENCH_WEBHOOK_SECONDS (30) over
##   BENCH_WEBHOOK_TRIGGERS (20) vs direct writes at the same rate; sweep BENCH_SWEEP_RATES
##   (25,50,100,200,400; empty skips) for BENCH_SWEEP_SECONDS (10) each, bound
##   BENCH_SWEEP_P99_BOUND (1.0 s).
## stored: BENCH_STORED (50000) tasks, operator restarted; BENCH_STORED_WAIT (300 s);
##   BENCH_STORED_FILL (etcd: copies put into etcd; api: created and decided through the API).
## BENCH_PROFILE=1: py-spy samples each operator into bench-profiles/; summaries at the end.
## The defaults are estimated at 19-24 minutes on a 2-core machine.
bench: $(BENCH_STAMP)
	@if [ -z "$$AGENTTASKS_TEST_KUBECONFIG" ]; then $(BIN)/agenttasks cluster build; fi
	$(BIN)/python -m tests.perf.bench

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
