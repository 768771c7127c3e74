"""Benchmark: 2,000 AgentTasks against 2,000 bare Jobs on the same cluster, side by side.

Prints ratios against the baseline measured in the same run; asserts nothing about time.
Run with `make bench` (a fresh local control plane unless AGENTTASKS_TEST_KUBECONFIG is set).
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import watch

from agenttasks.api.crd import all_crds
from agenttasks.api.meta import ANNOTATION_GRANTED_AT, GROUP, LABEL_ATTEMPT, VERSION
from agenttasks.core.facts import JobFacts
from agenttasks.core.slots import holds_slot
from agenttasks.kube.crds import apply_crds
from agenttasks.manifests.jobs import job_facts
from tests.integration.harness import REPO, Api, Operator, pod_template, provide_cluster
from tests.perf.bench_schedules import SCHEDULES, schedule_figures
from tests.perf.bench_stored import SIZES as STORED_SIZES
from tests.perf.bench_stored import TARGETS as STORED_TARGETS
from tests.perf.bench_stored import proc_stats, stored_figures
from tests.perf.bench_stored import summary as stored_summary
from tests.perf.load_webhooks import RATE as WEBHOOK_RATE
from tests.perf.load_webhooks import SECONDS as WEBHOOK_SECONDS
from tests.perf.load_webhooks import run_webhook_load
from tests.perf.writes import write_counts, writes_per_task

N = int(os.environ.get("BENCH_TASKS", "2000"))
PARALLELISM = int(os.environ.get("BENCH_PARALLELISM", "50"))
# "stored": only the stored phase (tests/perf/bench_stored.py), on a namespace of its own.
ONLY = os.environ.get("BENCH_ONLY", "")
POD = pod_template("1s")


class JobWatch:
    """Receives Job events of one namespace and records when each was seen created and done."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.created: dict[str, float] = {}
        self.granted_at: dict[str, float] = {}  # wall-clock grant time, from the annotation
        self.finished: dict[str, float] = {}
        self.running_peak = 0
        self._jobs: dict[str, JobFacts] = {}  # as of the last event
        self.samples: list[tuple[float, int, int]] = []  # (t, finished, running)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(api, namespace), daemon=True)
        self._thread.start()

    def _run(self, api: Api, namespace: str) -> None:
        # One watch, resumed from the last resourceVersion after any break, so events arrive
        # once and in order (a re-list would replay every Job in name order).
        version = api.batch.list_namespaced_job(namespace).metadata.resource_version
        while not self._stop.is_set():
            watcher = watch.Watch()
            try:
                for event in watcher.stream(api.batch.list_namespaced_job, namespace,
                                            resource_version=version):
                    version = event["object"].metadata.resource_version
                    self._record(event["type"], event["raw_object"])
                    if self._stop.is_set():
                        return
            except Exception:  # a dropped connection: resume where it broke
                time.sleep(0.1)

    def _record(self, kind: str, job: dict[str, Any]) -> None:
        """Running is counted as the operator and the chaos checker count it (holds_slot),
        over the Jobs as of this event's resourceVersion."""
        now = time.monotonic()
        meta = job["metadata"]
        name = meta["name"]
        self.created.setdefault(name, now)
        granted = (meta.get("annotations") or {}).get(ANNOTATION_GRANTED_AT)
        if granted:
            self.granted_at.setdefault(name, datetime.fromisoformat(granted).timestamp())
        facts = job_facts(job)
        if kind == "DELETED" or facts is None:
            self._jobs.pop(name, None)
        else:
            self._jobs[name] = facts
            if facts.finished:
                self.finished.setdefault(name, now)
        running = sum(holds_slot(f) for f in self._jobs.values())
        self.running_peak = max(self.running_peak, running)
        self.samples.append((now, len(self.finished), running))

    def stop(self) -> None:
        self._stop.set()


class QueuedWatch:
    """When each AgentTask's status first said Pending/Queued: the operator knew it waited."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.queued: dict[str, float] = {}
        self.queued_wall: dict[str, float] = {}
        self._stop = threading.Event()
        threading.Thread(target=self._run, args=(api, namespace), daemon=True).start()

    def _run(self, api: Api, namespace: str) -> None:
        listing = api.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "agenttasks")
        version = listing["metadata"]["resourceVersion"]
        while not self._stop.is_set():
            try:
                for event in watch.Watch().stream(
                        api.custom.list_namespaced_custom_object, GROUP, VERSION, namespace,
                        "agenttasks", resource_version=version):
                    task = event["object"]
                    version = task["metadata"]["resourceVersion"]
                    status = task.get("status") or {}
                    if status.get("reason") == "Queued":
                        self.queued.setdefault(task["metadata"]["name"], time.monotonic())
                        self.queued_wall.setdefault(task["metadata"]["name"], time.time())
                    if self._stop.is_set():
                        return
            except Exception:
                time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()


def create_all(make: Callable[[int], None], count: int) -> float:
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(make, range(count)))
    return time.monotonic() - started


def wait_until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark run did not finish in time")
        time.sleep(0.2)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run_baseline(api: Api, parallelism: int) -> dict[str, Any]:
    """Bare Jobs at the same parallelism: a client-side feeder keeps ``parallelism`` Jobs
    running and creates the next one as soon as one finishes, as hand-rolled queues do."""
    ns = api.create_namespace("bench-jobs")
    jobs = JobWatch(api, ns)

    def make(i: int) -> None:
        api.batch.create_namespaced_job(ns, {
            # The attempt label only lets JobWatch read it with the operator's job_facts.
            "metadata": {"name": f"job-{i}", "labels": {LABEL_ATTEMPT: "1"}},
            "spec": {"backoffLimit": 0, "template": {**POD, "spec": {
                **POD["spec"], "restartPolicy": "Never"}}}})

    started = time.monotonic()
    submitted = 0
    with ThreadPoolExecutor(16) as pool:
        while len(jobs.finished) < N:
            free = min(parallelism - (submitted - len(jobs.finished)), N - submitted)
            if free > 0:
                list(pool.map(make, range(submitted, submitted + free)))
                submitted += free
            time.sleep(0.005)
    wall = time.monotonic() - started
    jobs.stop()
    return {"wall_s": wall, "peak_running": jobs.running_peak, "namespace": ns,
            "latencies": slot_latencies(jobs, parallelism),
            "curve": [(t - started, f) for t, f, _ in jobs.samples]}


def run_agenttasks(api: Api, parallelism: int) -> dict[str, Any]:
    """The same work as AgentTasks, submitted while the operator runs, as users would."""
    ns = api.create_namespace("bench-tasks")
    rng = random.Random(7)
    priorities = {f"task-{i}": rng.randint(0, 9) for i in range(N)}
    submitted: dict[str, float] = {}
    jobs = JobWatch(api, ns)
    queued = QueuedWatch(api, ns)
    operator = Operator(api.kubeconfig, [ns], "bench",
                        ["--max-running", str(parallelism), "--workers", "16"]).start()
    assert operator.proc is not None

    def make(i: int) -> None:
        name = f"task-{i}"
        api.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "agenttasks", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTask", "metadata": {"name": name},
            "spec": {"priority": priorities[name], "template": POD}})
        submitted[name] = time.monotonic()

    started = time.monotonic()
    submit_s = create_all(make, N)
    wait_until(lambda: len(jobs.finished) >= N, 1800)
    wait_until(lambda: _all_completed(api, ns), 300)
    wall = time.monotonic() - started
    rss, cpu = proc_stats(operator.proc.pid)
    passes = start_passes(operator.port)
    jobs.stop()
    queued.stop()
    task_of = {j: j.rsplit("-", 1)[0] for j in jobs.created}
    submit_end = started + submit_s
    return {"wall_s": wall, "submit_s": submit_s, "rss_mib": rss, "cpu_s": cpu,
            "latencies": slot_latencies(jobs, parallelism),
            "latencies_after_submit": slot_latencies(jobs, parallelism, after=submit_end),
            # Grant time (the Job's annotation) against when a higher task was seen Queued:
            # the dispatcher's own decisions. Job creation time lags the grant under load.
            "inversions": count_inversions(jobs.granted_at, task_of, priorities,
                                           queued.queued_wall, tolerance=0.05),
            "inversions_by_job_creation": count_inversions(jobs.created, task_of, priorities,
                                                           queued.queued),
            "granted_jobs": len(jobs.granted_at),
            "submission_inversions": count_inversions(jobs.created, task_of, priorities,
                                                      submitted),
            "operator": operator, "namespace": ns, "peak_running": jobs.running_peak,
            "start_passes": passes,
            "curve": [(t - started, f) for t, f, _ in jobs.samples],
            "queue": [(t - started, len([1 for m in submitted.values() if m <= t]) - f - r)
                      for t, f, r in jobs.samples[::50]]}


def start_passes(port: int) -> dict[str, float]:
    """The operator's own count of reconcile passes per start (agenttasks_start_passes):
    the mean, and the share of starts that took at most two passes."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("agenttasks_start_passes_"):
            name, _sep, value = line.rpartition(" ")
            values[name] = float(value)
    count = values.get("agenttasks_start_passes_count", 0.0)
    at_most_two = values.get('agenttasks_start_passes_bucket{le="2.0"}', 0.0)
    return {"starts": count,
            "mean": values.get("agenttasks_start_passes_sum", 0.0) / count if count else 0.0,
            "share_le_2": at_most_two / count if count else 0.0}


def _all_completed(api: Api, ns: str) -> bool:
    items = api.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "agenttasks")["items"]
    return sum(1 for t in items if (t.get("status") or {}).get("phase") == "Completed") >= N


def slot_latencies(jobs: JobWatch, parallelism: int, after: float = 0.0) -> list[float]:
    """Each Job created after the first wave takes the oldest slot freed before it.
    With ``after``, only slots freed after that moment count."""
    freed = sorted(jobs.finished.values())
    created = sorted(jobs.created.values())[parallelism:]
    latencies, i = [], 0
    for moment in created:
        if i < len(freed) and freed[i] <= moment:
            if freed[i] >= after:
                latencies.append(moment - freed[i])
            i += 1
    return latencies


def count_inversions(created: dict[str, float], task_of: dict[str, str],
                     priorities: dict[str, int], waiting_since: dict[str, float],
                     tolerance: float = 0.5) -> int:
    """Jobs that started while a higher-priority task was already waiting (since the time in
    ``waiting_since``) and went on waiting. Jobs of one dispatch pass start within
    ``tolerance`` of each other."""
    started = sorted((t, task_of[j]) for j, t in created.items())
    inversions = 0
    for i, (moment, task) in enumerate(started):
        for later, other in started[i + 1:]:
            if later - moment <= tolerance:
                continue
            since = waiting_since.get(other)
            if priorities[other] > priorities[task] and since is not None \
                    and since < moment - tolerance:
                inversions += 1
                break
    return inversions


def measure_stored(api: Api, ns: str, operator: Operator) -> list[dict[str, Any]]:
    """The stored phase over the run's own finished tasks and more: the run's operator is
    stopped first (stored tasks are written as finished, with no operator to start them)."""
    operator.stop()
    return stored_figures(api, ns, already=N)


def plot(base: dict[str, Any], tasks: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(*zip(*base["curve"], strict=True), label="bare Jobs completed")
    ax.plot(*zip(*tasks["curve"], strict=True), label="AgentTasks completed")
    ax.plot(*zip(*tasks["queue"], strict=True), label="AgentTasks queued", linestyle="--")
    ax.set_xlabel("seconds since the first create")
    ax.set_ylabel("tasks")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return True


def main() -> int:
    with provide_cluster(".cluster-bench") as kubeconfig:
        api = Api(kubeconfig)
        apply_crds(api.kubeconfig, all_crds())
        parallelism = PARALLELISM
        print(f"baseline: {N} bare Jobs of 1s pods, {parallelism} at a time …", flush=True)
        before = write_counts(api)
        base = run_baseline(api, parallelism)
        time.sleep(3)
        base_writes = write_counts(api) - before
        print(f"  {base['wall_s']:.1f}s, peak {base['peak_running']} running", flush=True)
        print(f"AgentTasks: {N} tasks, --max-running {parallelism} …", flush=True)
        before = write_counts(api)
        tasks = run_agenttasks(api, parallelism)
        time.sleep(3)  # Events leave in the background
        task_writes = write_counts(api) - before
        lat = tasks["latencies"]
        stored = measure_stored(api, tasks["namespace"], tasks["operator"]) \
            if STORED_SIZES else []
        tasks["operator"].stop()
        schedules = schedule_figures(api) if SCHEDULES else {}
        print(f"webhooks: {WEBHOOK_RATE:.0f}/s for {WEBHOOK_SECONDS:.0f}s …", flush=True)
        webhooks = run_webhook_load(api) if WEBHOOK_RATE else {}
        results = {
            "tasks": N,
            "bare_jobs_wall_s": round(base["wall_s"], 2),
            "agenttasks_wall_s": round(tasks["wall_s"], 2),
            "agenttasks_submit_s": round(tasks["submit_s"], 2),
            "agenttasks_vs_jobs_ratio": round(tasks["wall_s"] / base["wall_s"], 3),
            "max_running": parallelism,
            "slot_to_job_p50_s": round(percentile(lat, 50), 3),
            "slot_to_job_p99_s": round(percentile(lat, 99), 3),
            "slot_to_job_samples": len(lat),
            "bare_jobs_feeder_slot_to_job_p50_s": round(percentile(base["latencies"], 50), 3),
            "bare_jobs_feeder_slot_to_job_p99_s": round(percentile(base["latencies"], 99), 3),
            "slot_to_job_p99_after_submit_s": round(
                percentile(tasks["latencies_after_submit"], 99), 3),
            "priority_inversions": tasks["inversions"],
            "priority_inversions_by_job_creation": tasks["inversions_by_job_creation"],
            "jobs_with_grant_time": tasks["granted_jobs"],
            "inversions_vs_submission_order": tasks["submission_inversions"],
            "operator_peak_rss_mib": round(tasks["rss_mib"], 1),
            "operator_cpu_s": round(tasks["cpu_s"], 1),
            "agenttasks_peak_running": tasks["peak_running"],
            "start_passes_mean": round(tasks["start_passes"]["mean"], 3),
            "starts_within_2_passes_share": round(tasks["start_passes"]["share_le_2"], 4),
            **writes_per_task(base_writes, task_writes, N),
        }
        results.update(stored_summary(stored))
        results.update(schedules)
        results.update(webhooks)
    report(results)
    drawn = plot(base, tasks, REPO / "bench-results.png")
    print("wrote bench-results.json" + (" and bench-results.png" if drawn else ""))
    return 0


def main_stored() -> int:
    """BENCH_ONLY=stored: the stored phase alone, in a namespace of its own."""
    with provide_cluster(".cluster-bench") as kubeconfig:
        api = Api(kubeconfig)
        apply_crds(api.kubeconfig, all_crds())
        rows = stored_figures(api, api.create_namespace("bench-stored"))
    report(stored_summary(rows))
    print("wrote bench-results.json")
    return 0


def report(results: dict[str, Any]) -> None:
    """Prints each figure beside its target, and writes bench-results.json."""
    targets = {"agenttasks_vs_jobs_ratio": 1.25, "slot_to_job_p99_s": 1.0,
               "priority_inversions": 0, "slot_to_job_p50_s": 0.1, "writes_per_task": 5,
               "schedule_lag_p99_s": 1.0, "webhook_p99_s": 0.2, "webhook_errors": 0,
               **STORED_TARGETS}
    print(f"\n{'figure':32} {'value':>12} {'target':>10}")
    for key, value in results.items():
        target = targets.get(key)
        met = isinstance(value, int | float) and value <= target if target is not None else None
        mark = "" if target is None else ("  ok" if met else "  MISSED")
        shown = "" if target is None else f"≤ {target}"
        print(f"{key:32} {value!s:>12} {shown:>10}{mark}")
    (REPO / "bench-results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main_stored() if ONLY == "stored" else main())


