"""Benchmark phase "eta": how far the visible queue's estimated start times (core.queue_view,
served at /api/queue) are from the actual starts, for a queue of BENCH_ETA_TASKS tasks.

BENCH_ETA_TASKS AgentTasks (default 1,000; 0 skips the phase) of random priority and pods
of 1 to 3 s are created at once under ``--max-running BENCH_ETA_LIMIT`` (default 20). Once
BENCH_ETA_WARMUP of them (default: the limit, plus 5 % of them and at least the limit again)
have been granted a slot, so that releases have been observed, the queue is read once: each
waiting task's estimated start is compared with its actual start, the grant time its Job
carries (``agenttasks.io/granted-at``). The error of one task is |estimated - actual| /
actual, both delays counted from the moment the queue was read. Reported: its median and
p90, how many tasks had an estimate, how often the actual start fell inside the 80 %
interval, and, as the baseline, the same error for the estimate a user could make from the
position alone and the configured limit with the pods' mean duration (position x 2 s /
limit).

Runs alone with ``BENCH_PHASES=eta make bench`` (or ``python -m tests.perf.bench_eta``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import urllib.request
from datetime import datetime
from typing import Any

from agenttasks.api.meta import ANNOTATION_GRANTED_AT, GROUP, VERSION
from agenttasks.api.timefmt import parse_time
from agenttasks.kube.kubeconfig import load_credentials
from tests.integration.harness import Api, Operator, pod_template
from tests.perf.loadgen import create_many, tasks_path
from tests.perf.stats import percentile, rounded

N = int(os.environ.get("BENCH_ETA_TASKS", "1000"))
LIMIT = int(os.environ.get("BENCH_ETA_LIMIT", "20"))
# Grants before the queue is read: the first LIMIT start at once, and each one after them
# follows a release, so that the estimate has releases to go by.
WARMUP = int(os.environ.get("BENCH_ETA_WARMUP", "0")) or LIMIT + max(LIMIT, N // 20)
MEAN_POD_S = 2.0  # pods run 1, 2 or 3 s


def eta_figures(api: Api) -> dict[str, Any]:
    ns = api.create_namespace("bench-eta")
    rng = random.Random(11)
    operator = Operator(api.kubeconfig, [ns], "bench-eta",
                        ["--max-running", str(LIMIT), "--workers", "16"]).start()
    try:
        def make(i: int) -> dict[str, Any]:
            return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTask",
                    "metadata": {"name": f"eta-{i}"},
                    "spec": {"priority": rng.randint(0, 3),
                             "template": pod_template(f"{rng.choice((1, 2, 3))}s")}}

        failed = asyncio.run(create_many(api.kubeconfig, tasks_path(ns), make, N))
        if failed:
            raise AssertionError(f"{failed} tasks were not created")
        _wait(lambda: _granted_count(api, ns) >= WARMUP, 600, "the warm-up grants")
        read_at = time.time()
        document = _read_queue(api, operator.port, ns)
        _wait(lambda: _granted_count(api, ns) >= N, 1800, "every task granted")
        granted = _granted(api, ns)
    finally:
        operator.stop()
    return eta_errors(document, granted, read_at, LIMIT)


def eta_errors(document: dict[str, Any], granted: dict[str, float], read_at: float,
               limit: int) -> dict[str, Any]:
    """The figures, from the queue read at ``read_at`` and each task's grant time (epoch
    seconds). Tasks that started within a second of the reading are left out: their
    relative error divides by almost nothing."""
    errors, naive, inside, counted = [], [], 0, 0
    waiting = [i for i in document["items"] if i.get("position") is not None]
    for item in waiting:
        actual_at = granted.get(item["name"])
        if actual_at is None or actual_at - read_at < 1.0:
            continue
        actual = actual_at - read_at
        guess = item["position"] * MEAN_POD_S / limit
        naive.append(abs(guess - actual) / actual)
        eta = item.get("eta")
        if not eta:
            continue
        counted += 1
        start, early, late = (_epoch(eta[k]) for k in ("start", "earliest", "latest"))
        errors.append(abs((start - read_at) - actual) / actual)
        # The served times are whole seconds: the interval is widened by that rounding.
        inside += early - 1 <= actual_at <= late + 1
    return {
        "eta_tasks": len(waiting), "eta_estimated": counted,
        "eta_error_p50": rounded(percentile(errors, 50)),
        "eta_error_p90": rounded(percentile(errors, 90)),
        "eta_naive_error_p50": rounded(percentile(naive, 50)),
        "eta_naive_error_p90": rounded(percentile(naive, 90)),
        "eta_interval_coverage": rounded(inside / counted) if counted else None,
        "eta_rate_per_min": document.get("throughput", {}).get("perMinute"),
    }


def _epoch(text: str) -> float:
    moment = parse_time(text)
    assert moment is not None
    return moment.timestamp()


def _read_queue(api: Api, port: int, ns: str) -> dict[str, Any]:
    token = load_credentials(api.kubeconfig, None).token
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/queue?namespace={ns}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        document: dict[str, Any] = json.loads(response.read())
    return document


def _granted(api: Api, ns: str) -> dict[str, float]:
    """Task name → when its first Job was granted (epoch seconds; the Job's creation when a
    Job carries no grant time)."""
    found: dict[str, float] = {}
    for job in api.batch.list_namespaced_job(ns).items:
        task = job.metadata.name.rsplit("-", 1)[0]
        stamp = (job.metadata.annotations or {}).get(ANNOTATION_GRANTED_AT)
        moment = datetime.fromisoformat(stamp).timestamp() if stamp else \
            job.metadata.creation_timestamp.timestamp()
        found[task] = min(found.get(task, moment), moment)
    return found


def _granted_count(api: Api, ns: str) -> int:
    """How many Jobs the namespace holds, from a one-item page (its remainingItemCount):
    polling must not list a thousand Jobs a second on the machine under test."""
    page = api.batch.list_namespaced_job(ns, limit=1)
    return len(page.items) + (page.metadata.remaining_item_count or 0)


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waiting for {what}")
        time.sleep(1.0)


if __name__ == "__main__":
    from agenttasks.api.crd import all_crds
    from agenttasks.kube.crds import apply_crds
    from tests.integration.harness import provide_cluster

    with provide_cluster(".cluster-bench") as kubeconfig:
        bench_api = Api(kubeconfig)
        apply_crds(bench_api.kubeconfig, all_crds())
        print(json.dumps(eta_figures(bench_api), indent=2))
