"""Benchmark: schedule fire lag with many AgentTaskSchedules, beside the same tasks created
directly by the benchmark at the same moments of the minute grid.

The lag is from the scheduled second to the moment a watch (tests/perf/lagwatch.py, in a
process of its own) sees the task created, both on this machine's clock. The tasks are
created paused so that the figure is about firing, not about running pods.

Spread: ``BENCH_SCHEDULES`` schedules whose fire minutes are spread over
``BENCH_SCHEDULE_SPREAD`` minutes fire for ``BENCH_SCHEDULE_MINUTES`` minutes. In the same
minutes, 30 s after each fire, the benchmark creates the same tasks itself (the bodies the
operator's build_task makes, owned by suspended copies of the schedules in a namespace the
same operator watches), so both are measured under the same operator and the same clock.

Burst: ``BENCH_SCHEDULE_BURST`` schedules all due in the same second (one fire), then the
same tasks created directly in one second by the benchmark (with as many requests in flight
as the operator has schedule workers), under an operator that watches their namespace.

Run alone with `python -m tests.perf.bench_schedules`, or as part of `make bench`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from agenttasks.api.crd import all_crds
from agenttasks.api.meta import GROUP, VERSION
from agenttasks.core.naming import scheduled_task_name
from agenttasks.core.schedule import CreateTask
from agenttasks.kube.crds import apply_crds
from agenttasks.manifests.schedules import build_task, schedule_facts
from tests.integration.harness import Api, Operator, pod_template, provide_cluster
from tests.perf.lagwatch import LagWatch, Sighting
from tests.perf.loadgen import create_burst, create_many, patch_many, tasks_path
from tests.perf.stats import percentile, ratio, rounded

SCHEDULES = int(os.environ.get("BENCH_SCHEDULES", "2000"))
MINUTES = int(os.environ.get("BENCH_SCHEDULE_MINUTES", "3"))
# Fire times of the schedules are spread over this many minutes (1: all fire together).
SPREAD = int(os.environ.get("BENCH_SCHEDULE_SPREAD", "5"))
BURST = int(os.environ.get("BENCH_SCHEDULE_BURST", str(SCHEDULES)))
DIRECT_OFFSET = 30  # seconds into each fire minute at which the direct baseline writes


def _schedule(i: int, spread: int, suspend: bool = False, minute: int | None = None
              ) -> dict[str, Any]:
    """Schedule ``i`` of ``spread``: fires every ``spread`` minutes from minute i % spread;
    with ``minute``, once an hour at that minute."""
    cron = str(minute) if minute is not None else "*" if spread == 1 \
        else f"{i % spread}-59/{spread}"
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTaskSchedule",
            "metadata": {"name": f"s{i:04d}"},
            "spec": {"schedule": f"{cron} * * * *", "concurrencyPolicy": "Allow",
                     "suspend": suspend,
                     "successfulTasksHistoryLimit": 1, "failedTasksHistoryLimit": 1,
                     "taskTemplate": {"spec": {"paused": True, "template": pod_template()}}}}


def due_at(count: int, spread: int, minute_start: float) -> list[int]:
    """The schedules (by index) of ``_schedule(i, spread)`` that fire at ``minute_start``."""
    minute = int(minute_start // 60) % 60
    return [i for i in range(count) if spread == 1 or i % spread == minute % spread]


def _schedules_path(ns: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/agenttaskschedules"


def _create_schedules(api: Api, ns: str, count: int, spread: int, suspend: bool,
                      minute: int | None = None) -> None:
    failed = asyncio.run(create_many(api.kubeconfig, _schedules_path(ns),
                                     lambda i: _schedule(i, spread, suspend, minute), count))
    if failed:
        raise RuntimeError(f"{failed} of {count} schedules in {ns} could not be created")


def _schedules(api: Api, ns: str) -> list[dict[str, Any]]:
    items = api.custom.list_namespaced_custom_object(GROUP, VERSION, ns,
                                                     "agenttaskschedules")["items"]
    return sorted(items, key=lambda s: s["metadata"]["name"])


def _wait_observed(api: Api, namespaces: Iterable[str], timeout: float = 300) -> None:
    """Until the operator has decided every schedule once (status.observedGeneration), so
    that its start-up writes are over before the first fire measured."""
    deadline = time.monotonic() + timeout
    for ns in namespaces:
        while True:
            pending = [s for s in _schedules(api, ns)
                       if (s.get("status") or {}).get("observedGeneration")
                       != s["metadata"].get("generation")]
            if not pending:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} schedules in {ns} not observed in "
                                   f"{timeout:.0f}s")
            time.sleep(2)


def _direct_bodies(schedules: list[dict[str, Any]], indexes: list[int], when: float
                   ) -> list[bytes]:
    """The tasks the operator would create for these (suspended) schedules firing at
    ``when``, as JSON, built by the operator's own build_task."""
    moment = datetime.fromtimestamp(when, UTC)
    bodies = []
    for i in indexes:
        facts = schedule_facts(schedules[i])
        action = CreateTask(name=scheduled_task_name(facts.name, moment), scheduled_time=moment)
        bodies.append(json.dumps(build_task(facts, action)).encode())
    return bodies


def _lags(sightings: list[Sighting], due: set[float]) -> list[float]:
    return [s.lag for s in sightings
            if s.lag is not None and s.scheduled is not None and round(s.scheduled) in due]


def _lag_figures(prefix: str, lags: list[float], expected: int) -> dict[str, Any]:
    return {f"{prefix}_seen": len(lags), f"{prefix}_expected": expected,
            f"{prefix}_missed": expected - len(lags),
            f"{prefix}_lag_p50_s": rounded(percentile(lags, 50)),
            f"{prefix}_lag_p99_s": rounded(percentile(lags, 99)),
            f"{prefix}_lag_max_s": rounded(max(lags, default=float("nan")))}


def _next_minute(margin: float) -> float:
    """The first whole minute at least ``margin`` seconds from now."""
    return float((int(time.time() + margin) // 60 + 1) * 60)


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def run_spread(api: Api, count: int = SCHEDULES, spread: int = SPREAD,
               minutes: int = MINUTES) -> dict[str, Any]:
    """Spread fires and, 30 s after each, the same tasks written directly."""
    ns = api.create_namespace("bench-sched")
    direct_ns = api.create_namespace("bench-sched-direct")
    operator = Operator(api.kubeconfig, [ns, direct_ns], f"bench-schedules-{spread}").start()
    statuses: Counter[int] = Counter()
    try:
        _create_schedules(api, ns, count, spread, suspend=False)
        _create_schedules(api, direct_ns, count, spread, suspend=True)
        _wait_observed(api, [ns, direct_ns])
        copies = _schedules(api, direct_ns)
        first = _next_minute(margin=8)
        fire_times = [first + 60 * m for m in range(minutes)]
        direct_times = [t + DIRECT_OFFSET for t in fire_times]
        _sleep_until(first - 5)
        with LagWatch(api.kubeconfig, [ns, direct_ns]) as watch:
            for fire, direct in zip(fire_times, direct_times, strict=True):
                bodies = _direct_bodies(copies, due_at(count, spread, fire), direct)
                statuses += asyncio.run(create_burst(api.kubeconfig, tasks_path(direct_ns),
                                                     bodies, at=direct))
            expected = sum(len(due_at(count, spread, t)) for t in fire_times)
            watch.wait_count(ns, expected, timeout=max(5.0, fire_times[-1] + 55 - time.time()))
            watch.wait_count(direct_ns, expected, timeout=30)
            fired = _lags(watch.sightings(ns), set(fire_times))
            direct_lags = _lags(watch.sightings(direct_ns), set(direct_times))
    finally:
        operator.stop()
    results = {"schedules": count, "schedule_spread_minutes": spread,
               "schedule_minutes": minutes, "schedule_together": len(due_at(count, spread, first)),
               **_lag_figures("schedule", fired, expected),
               **_lag_figures("schedule_direct", direct_lags, expected),
               "schedule_direct_write_errors": sum(v for k, v in statuses.items() if k != 201)}
    results["schedule_lag_p99_vs_direct_ratio"] = rounded(
        ratio(results["schedule_lag_p99_s"], results["schedule_direct_lag_p99_s"]), 2)
    return results


def run_burst(api: Api, count: int = BURST) -> dict[str, Any]:
    """``count`` schedules due in the same second, then the same tasks written directly."""
    ns = api.create_namespace("bench-burst")
    direct_ns = api.create_namespace("bench-burst-direct")
    operator = Operator(api.kubeconfig, [ns, direct_ns], "bench-schedules-burst").start()
    try:
        # The suspended copies first: how long they took to create and be decided tells
        # how far ahead the burst's minute must be for its own schedules to be ready.
        started = time.monotonic()
        _create_schedules(api, direct_ns, count, 1, suspend=True)
        _wait_observed(api, [direct_ns])
        setup = time.monotonic() - started
        # Due once an hour, at that minute, so that no fire but the measured one happens
        # (with every minute, a long set-up would see fires before the measured one).
        fire = _next_minute(margin=10 + 1.5 * setup)
        _create_schedules(api, ns, count, 1, suspend=False, minute=int(fire // 60) % 60)
        _wait_observed(api, [ns])
        if time.time() > fire - 8:  # the set-up took longer: move the minute on
            fire = _next_minute(margin=10 + setup)
            asyncio.run(patch_many(
                api.kubeconfig, [f"{_schedules_path(ns)}/s{i:04d}" for i in range(count)],
                {"spec": {"schedule": f"{int(fire // 60) % 60} * * * *"}}))
            _wait_observed(api, [ns])
            if time.time() > fire - 5:
                raise RuntimeError("the burst's schedules could not be set up before their "
                                   "fire minute")
        copies = _schedules(api, direct_ns)
        _sleep_until(fire - 5)
        with LagWatch(api.kubeconfig, [ns, direct_ns]) as watch:
            watch.wait_count(ns, count, timeout=max(1.0, fire + 120 - time.time()))
            operator.stop()
            fired = _lags(watch.sightings(ns), {fire})
            # The direct burst under an operator that watches only its namespace (whose
            # schedules, suspended, it decided already), as the fires had one.
            operator = Operator(api.kubeconfig, [direct_ns], "bench-schedules-burst-direct"
                                ).start()
            time.sleep(3)  # its start-up pass over the namespace
            direct = float(int(time.time()) + 2)
            bodies = _direct_bodies(copies, list(range(count)), direct)
            started = time.monotonic()
            statuses = asyncio.run(create_burst(api.kubeconfig, tasks_path(direct_ns), bodies,
                                                at=direct))
            watch.wait_count(direct_ns, count, timeout=max(30.0, 5 * (time.monotonic()
                                                                      - started)))
            direct_lags = _lags(watch.sightings(direct_ns), {direct})
    finally:
        operator.stop()
    results = {"schedule_burst": count, **_lag_figures("schedule_burst", fired, count),
               **_lag_figures("schedule_burst_direct", direct_lags, count),
               "schedule_burst_direct_write_errors": sum(v for k, v in statuses.items()
                                                         if k != 201)}
    # The burst's figure is the time to its last task (max lag), against the direct one.
    results["schedule_burst_vs_direct_ratio"] = rounded(
        ratio(results["schedule_burst_lag_max_s"], results["schedule_burst_direct_lag_max_s"]),
        2)
    return results


def schedule_figures(api: Api) -> dict[str, Any]:
    """The figures `make bench` reports: spread fires (the headline) and one burst, each
    beside its direct-write baseline."""
    results: dict[str, Any] = {}
    print(f"schedules: {SCHEDULES}, fire minutes spread over {SPREAD}, for {MINUTES} min, "
          f"and the same tasks written directly {DIRECT_OFFSET}s after each fire …", flush=True)
    results.update(run_spread(api))
    print(f"  lag p99 {results['schedule_lag_p99_s']}s, direct "
          f"{results['schedule_direct_lag_p99_s']}s", flush=True)
    if BURST:
        print(f"schedules: {BURST} due in the same second, then the same tasks written "
              "directly …", flush=True)
        results.update(run_burst(api))
        print(f"  last task after {results['schedule_burst_lag_max_s']}s, direct "
              f"{results['schedule_burst_direct_lag_max_s']}s", flush=True)
    return results


def main() -> int:
    with provide_cluster(".cluster-bench") as kubeconfig:
        api = Api(kubeconfig)
        apply_crds(api.kubeconfig, all_crds())
        for key, value in schedule_figures(api).items():
            print(f"{key:40} {value!s:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
