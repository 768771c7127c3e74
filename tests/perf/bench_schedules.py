"""Benchmark: schedule fire lag with many AgentTaskSchedules firing every minute.

The lag is from the scheduled second to the moment a watch sees the task created, both on
this machine's clock. The tasks are created paused so that the figure is about firing, not
about running pods. Run alone with `python -m tests.perf.bench_schedules`, or as part of
`make bench`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from kubernetes import watch

from agenttasks.api.crd import all_crds
from agenttasks.api.meta import ANNOTATION_SCHEDULED_TIME, GROUP, VERSION
from agenttasks.kube.crds import apply_crds
from tests.integration.harness import Api, Operator, pod_template, provide_cluster

SCHEDULES = int(os.environ.get("BENCH_SCHEDULES", "500"))
MINUTES = int(os.environ.get("BENCH_SCHEDULE_MINUTES", "3"))
# Fire times of the schedules are spread over this many minutes (1: all fire together).
SPREAD = int(os.environ.get("BENCH_SCHEDULE_SPREAD", "5"))


class TaskWatch:
    """Records, for each task seen ADDED, its lag behind its scheduled time."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.lags: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(api, namespace), daemon=True)
        self._thread.start()

    def _run(self, api: Api, namespace: str) -> None:
        listing = api.custom.list_namespaced_custom_object(GROUP, VERSION, namespace,
                                                           "agenttasks")
        version = listing["metadata"]["resourceVersion"]
        while not self._stop.is_set():
            try:
                for event in watch.Watch().stream(
                        api.custom.list_namespaced_custom_object, GROUP, VERSION, namespace,
                        "agenttasks", resource_version=version, timeout_seconds=60):
                    seen = time.time()
                    body = event["object"]
                    version = body["metadata"]["resourceVersion"]
                    if event["type"] == "ADDED":
                        self._record(body, seen)
                    if self._stop.is_set():
                        return
            except Exception:  # a dropped watch: resume where it broke
                time.sleep(0.1)

    def _record(self, body: dict[str, Any], seen: float) -> None:
        scheduled = (body["metadata"].get("annotations") or {}).get(ANNOTATION_SCHEDULED_TIME)
        if scheduled:
            when = datetime.fromisoformat(scheduled.replace("Z", "+00:00")).timestamp()
            self.lags.append(seen - when)

    def stop(self) -> None:
        self._stop.set()


def _schedule(i: int, spread: int) -> dict[str, Any]:
    minute = "*" if spread == 1 else f"{i % spread}-59/{spread}"
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTaskSchedule",
            "metadata": {"name": f"s{i:04d}"},
            "spec": {"schedule": f"{minute} * * * *", "concurrencyPolicy": "Allow",
                     "successfulTasksHistoryLimit": 1, "failedTasksHistoryLimit": 1,
                     "taskTemplate": {"spec": {"paused": True, "template": pod_template()}}}}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run_schedule_lag(api: Api, count: int = SCHEDULES, spread: int = SPREAD,
                     minutes: int = MINUTES) -> dict[str, Any]:
    """Lags of every fire in ``minutes`` whole minutes, with ``count`` schedules whose
    fire minutes are spread over ``spread`` minutes (count / spread fire together)."""
    ns = api.create_namespace("bench-sched")
    operator = Operator(api.kubeconfig, [ns], f"bench-schedules-{spread}").start()
    try:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: api.custom.create_namespaced_custom_object(
                GROUP, VERSION, ns, "agenttaskschedules", _schedule(i, spread)), range(count)))
        # Start measuring at the next whole minute, so every fire counted had every schedule.
        first = (int(time.time()) // 60 + 1) * 60
        time.sleep(max(0.0, first - time.time() - 2))
        tasks = TaskWatch(api, ns)
        time.sleep(max(0.0, first + 60 * (minutes - 1) + 45 - time.time()))
        tasks.stop()
        lags = tasks.lags
    finally:
        operator.stop()
        api.delete_namespace(ns)
    return {
        "fires_seen": len(lags),
        "fires_expected": sum(1 for i in range(count) for m in range(minutes)
                              if spread == 1 or (first // 60 + m) % spread == i % spread),
        "together": -(-count // spread),
        "lag_p50_s": round(percentile(lags, 50), 3),
        "lag_p99_s": round(percentile(lags, 99), 3),
        "lag_max_s": round(max(lags), 3) if lags else None,
    }


def schedule_figures(api: Api) -> dict[str, Any]:
    """The figures `make bench` reports: spread fires (the headline) and one burst."""
    results: dict[str, Any] = {"schedules": SCHEDULES, "schedule_spread_minutes": SPREAD}
    print(f"schedules: {SCHEDULES}, fire minutes spread over {SPREAD} …", flush=True)
    spread = run_schedule_lag(api)
    results.update({f"schedule_{k}": v for k, v in spread.items()})
    print(f"schedules: {SCHEDULES}, all firing in the same minute …", flush=True)
    burst = run_schedule_lag(api, spread=1, minutes=2)
    results.update({f"schedule_burst_{k}": v for k, v in burst.items()})
    return results


def main() -> int:
    with provide_cluster(".cluster-bench") as kubeconfig:
        api = Api(kubeconfig)
        apply_crds(api.kubeconfig, all_crds())
        for key, value in schedule_figures(api).items():
            print(f"{key:32} {value!s:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
