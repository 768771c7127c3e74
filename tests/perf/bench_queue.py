"""Benchmark phases "queue" and "stored": 2,000 AgentTasks against 2,000 bare Jobs on the
same cluster, side by side, then an operator restarted over 50,000 stored tasks.

tests/perf/bench.py runs them with the others (`make bench`); asserts nothing about time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import queue
import random
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes import watch

from agenttasks.api.meta import ANNOTATION_GRANTED_AT, GROUP, LABEL_ATTEMPT, VERSION
from agenttasks.core.facts import JobFacts
from agenttasks.core.slots import holds_slot
from agenttasks.manifests.jobs import job_facts
from tests.integration.harness import Api, Operator, pod_template
from tests.perf import cpu_share
from tests.perf.bench_floor import run_direct_bookkeeping
from tests.perf.loadgen import (
    count_objects,
    create_many,
    tasks_in_phase,
    tasks_path,
    wait_settled,
)
from tests.perf.stats import percentile, rounded
from tests.perf.writes import write_counts, writes_by_kind, writes_per_task

N = int(os.environ.get("BENCH_TASKS", "2000"))
PARALLELISM = int(os.environ.get("BENCH_PARALLELISM", "50"))
STORED_WAIT = float(os.environ.get("BENCH_STORED_WAIT", "300"))
STORED = int(os.environ.get("BENCH_STORED", "50000"))
STORED_FILL = os.environ.get("BENCH_STORED_FILL", "etcd")  # or "api"
POD = pod_template("1s")


class JobWatch:
    """Receives Job events of one namespace and records when each was seen created and done."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.created: dict[str, float] = {}
        self.granted_at: dict[str, float] = {}  # wall-clock grant time, from the annotation
        self.wall_to_monotonic = time.monotonic() - time.time()
        self.finished: dict[str, float] = {}
        self.running_peak = 0
        self._jobs: dict[str, JobFacts] = {}  # as of the last event
        self._finished_names: queue.SimpleQueue[str] = queue.SimpleQueue()
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
            if facts.finished and name not in self.finished:
                self.finished[name] = now
                self._finished_names.put(name)
        running = sum(holds_slot(f) for f in self._jobs.values())
        self.running_peak = max(self.running_peak, running)
        self.samples.append((now, len(self.finished), running))

    def finished_names(self) -> list[str]:
        """The Jobs seen finished since the last call (safe from another thread)."""
        names = []
        while not self._finished_names.empty():
            names.append(self._finished_names.get_nowait())
        return names

    def stop(self) -> None:
        self._stop.set()


class QueuedWatch:
    """When each AgentTask's status first said Pending/Queued (the operator knew it waited),
    and when it first said Completed."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.queued: dict[str, float] = {}
        self.queued_wall: dict[str, float] = {}
        self.completed: dict[str, float] = {}
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
                    if status.get("phase") == "Completed":
                        self.completed.setdefault(task["metadata"]["name"], time.monotonic())
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


def proc_stats(pid: int) -> tuple[float, float]:
    """(peak RSS in MiB, CPU seconds) of a live process."""
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return hwm / 1024, (int(fields[11]) + int(fields[12])) / ticks


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
            "latencies": slot_latencies(jobs, parallelism), "run_times": run_times(jobs),
            "curve": [(t - started, f) for t, f, _ in jobs.samples]}


def task_priorities() -> dict[str, int]:
    """Each task's priority, the same in every run."""
    rng = random.Random(7)
    return {f"task-{i}": rng.randint(0, 9) for i in range(N)}


def run_agenttasks(api: Api, parallelism: int) -> dict[str, Any]:
    """The same work as AgentTasks, submitted while the operator runs, as users would."""
    ns = api.create_namespace("bench-tasks")
    priorities = task_priorities()
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

    try:
        return _measure_agenttasks(api, ns, jobs, queued, operator, make, priorities,
                                   submitted, parallelism)
    except BaseException:
        operator.stop()
        raise
    finally:
        jobs.stop()
        queued.stop()


def _measure_agenttasks(api: Api, ns: str, jobs: JobWatch, queued: QueuedWatch,
                        operator: Operator, make: Callable[[int], None],
                        priorities: dict[str, int], submitted: dict[str, float],
                        parallelism: int) -> dict[str, Any]:
    assert operator.proc is not None
    started = time.monotonic()
    submit_s = create_all(make, N)
    wait_until(lambda: len(jobs.finished) >= N, 1800)
    # Done when the last task's status says Completed, as seen by a watch (no polling).
    wait_until(lambda: len(queued.completed) >= N, 300)
    wall = max(queued.completed.values()) - started
    rss, cpu = proc_stats(operator.proc.pid)
    if not _all_completed(api, ns):  # the watch's word, checked once against a list
        raise AssertionError("the watch saw every task Completed but a list does not")
    passes = start_passes(operator.port)
    task_of = {j: j.rsplit("-", 1)[0] for j in jobs.created}
    submit_end = started + submit_s
    return {"wall_s": wall, "submit_s": submit_s, "rss_mib": rss, "cpu_s": cpu,
            "latencies": slot_latencies(jobs, parallelism),
            "latencies_after_submit": slot_latencies(jobs, parallelism, after=submit_end),
            "split": slot_split(jobs, parallelism), "run_times": run_times(jobs),
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


def slot_pairs(jobs: JobWatch, parallelism: int, after: float = 0.0
               ) -> list[tuple[float, float, str]]:
    """Each Job created after the first wave takes the oldest slot freed before it:
    (when that slot was seen freed, when the Job was seen created, the Job). With ``after``,
    only slots freed after that moment count."""
    freed = sorted(jobs.finished.values())
    created = sorted((t, name) for name, t in jobs.created.items())[parallelism:]
    pairs, i = [], 0
    for moment, name in created:
        if i < len(freed) and freed[i] <= moment:
            if freed[i] >= after:
                pairs.append((freed[i], moment, name))
            i += 1
    return pairs


def slot_latencies(jobs: JobWatch, parallelism: int, after: float = 0.0) -> list[float]:
    return [created - freed for freed, created, _ in slot_pairs(jobs, parallelism, after)]


def slot_split(jobs: JobWatch, parallelism: int) -> dict[str, list[float]]:
    """Slot-to-Job latency in two parts, by the grant time the operator wrote on each Job:
    from the freed slot to the grant (the operator's reaction), and from the grant to the
    Job seen created (the create's round trip and its watch event)."""
    to_grant, to_job = [], []
    for freed, created, name in slot_pairs(jobs, parallelism):
        granted = jobs.granted_at.get(name)
        if granted is not None:
            granted += jobs.wall_to_monotonic
            to_grant.append(granted - freed)
            to_job.append(created - granted)
    return {"freed_to_grant": to_grant, "grant_to_job": to_job}


def run_times(jobs: JobWatch) -> list[float]:
    """Each Job's life, from seen created to seen finished: longer when the control plane
    that runs it is busier."""
    return [jobs.finished[name] - t for name, t in jobs.created.items() if name in jobs.finished]


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


def local_etcd_port(api: Api) -> int | None:
    """The etcd client port of the benchmark's own local cluster, None on any other."""
    cluster = cpu_share.own_cluster(api)
    return cluster.ports().get("etcd") if cluster is not None else None


def _etcd(port: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read()))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def fill_through_etcd(port: int, ns: str, template: str, count: int, batch: int = 100) -> None:
    """``count`` copies of the stored task ``template`` (as the API server stored it, after
    the operator decided it), each with its own name and uid, put straight into etcd in
    transactions of ``batch``. The API server's watch of etcd sees them like any other."""
    key = f"/registry/{GROUP}/agenttasks/{ns}/{template}"
    found = _etcd(port, "/v3/kv/range", {"key": _b64(key.encode())}).get("kvs") or []
    if not found:
        raise RuntimeError(f"{key} is not in etcd: cannot copy it")
    body = json.loads(base64.b64decode(found[0]["value"]))
    for first in range(0, count, batch):
        puts = []
        for i in range(first, min(count, first + batch)):
            name = f"stored-{i}"
            body["metadata"]["name"], body["metadata"]["uid"] = name, str(uuid.uuid4())
            puts.append({"request_put": {
                "key": _b64(f"/registry/{GROUP}/agenttasks/{ns}/{name}".encode()),
                "value": _b64(json.dumps(body, separators=(",", ":")).encode())}})
        answer = _etcd(port, "/v3/kv/txn", {"success": puts})
        if not answer.get("succeeded"):
            raise RuntimeError(f"an etcd transaction of stored tasks failed: {answer}")


def fill_through_api(api: Api, ns: str, count: int, filler: Operator) -> float:
    """``count`` cancelled tasks created at the API server and decided by ``filler``; the
    seconds until the operator counted them all Cancelled."""
    started = time.monotonic()
    failed = asyncio.run(create_many(api.kubeconfig, tasks_path(ns), lambda i: {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTask",
        "metadata": {"name": f"stored-{i}"},
        "spec": {"cancelled": True, "template": POD}}, count))
    if failed:
        raise RuntimeError(f"{failed} stored tasks could not be created")
    limit = max(STORED_WAIT, count / 20)
    if wait_settled(filler.port, ns, "Cancelled", count, limit) >= limit:
        raise TimeoutError(f"the operator did not decide the {count} stored tasks in time")
    return time.monotonic() - started


def _wait_listed(api: Api, ns: str, expected: int, timeout: float = 180) -> int:
    """Until the API server lists ``expected`` tasks in ``ns``. Right after the etcd fill its
    watch cache is still catching up, and it answers a list with 504 until it has: a fresh
    operator must not start before (its own first list would wait as long)."""
    deadline = time.monotonic() + timeout
    stored, error = 0, ""
    while time.monotonic() < deadline:
        try:
            stored = count_objects(api.kubeconfig, tasks_path(ns))
            if stored >= expected:
                return stored
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f" ({exc})"
        time.sleep(1)
    raise RuntimeError(f"the API server lists {stored} tasks in {ns}, not {expected}{error}")


def measure_stored(api: Api, ns: str | None, existing: int) -> dict[str, Any]:
    """Adds finished (cancelled) tasks up to STORED in ``ns`` (the queue phase's namespace
    with its ``existing`` completed tasks, or a new one), then starts a fresh operator and
    measures start-up to /readyz, a new task's first Job, peak RSS and idle CPU.

    On the benchmark's own local cluster the tasks are copies, put straight into etcd, of
    one cancelled task that an operator decided (BENCH_STORED_FILL=etcd, the default):
    48,000 creates and decisions through the API server take 8 to 12 minutes on a 2-core
    machine, a third of the whole bench's 30. Elsewhere, or with BENCH_STORED_FILL=api, they
    are created at the API server and decided by an operator."""
    ns = ns or api.create_namespace("bench-stored")
    extra = max(0, STORED - existing)
    port = local_etcd_port(api) if STORED_FILL == "etcd" else None
    how = "put into etcd as copies of one the operator decided" if port else \
        "created at the API server and decided by an operator"
    print(f"  {extra} more (cancelled) tasks, {existing + extra} in all, {how} …", flush=True)
    started = time.monotonic()
    filler = Operator(api.kubeconfig, [ns], "bench-stored-fill", ["--workers", "16"]).start()
    try:
        if port is None:
            fill_through_api(api, ns, extra, filler)
        elif extra:
            api.create_task(ns, {"metadata": {"name": "stored-template"},
                                 "spec": {"cancelled": True, "template": POD}})
            wait_settled(filler.port, ns, "Cancelled", 1, 60)
            phase = (api.task(ns, "stored-template").get("status") or {}).get("phase")
            if phase != "Cancelled":
                raise RuntimeError(f"the stored tasks' template is {phase}, not Cancelled")
    finally:
        filler.stop()
    if port is not None and extra:
        fill_through_etcd(port, ns, "stored-template", extra - 1)
    fill_s = time.monotonic() - started
    stored = _wait_listed(api, ns, existing + extra)
    print(f"  {stored} stored after {fill_s:.0f}s", flush=True)
    before = write_counts(api)
    started = time.monotonic()
    fresh = Operator(api.kubeconfig, [ns], "bench-stored", ["--workers", "16"]).start()
    assert fresh.proc is not None
    try:
        try:
            wait_until(fresh.ready, STORED_WAIT)
            startup: float | None = time.monotonic() - started
        except TimeoutError:
            startup = None  # reported as not reached within STORED_WAIT
        probe_sent = time.monotonic()
        api.create_task(ns, {"metadata": {"name": "probe-after-start"},
                             "spec": {"template": POD}})
        wait_until(lambda: bool(api.jobs(ns, "probe-after-start")), STORED_WAIT)
        first_job = time.monotonic() - probe_sent
        time.sleep(10)  # the start-up pass over every stored task is over
        _, cpu0 = proc_stats(fresh.proc.pid)
        time.sleep(30)
        rss, cpu1 = proc_stats(fresh.proc.pid)
        decided = tasks_in_phase(fresh.port, ns, "Cancelled")
    finally:
        fresh.stop()
    # Writes by everyone while the fresh operator ran (the probe's own are a handful): a
    # restart over stored tasks that are decided already should write next to nothing.
    restart_writes = write_counts(api) - before
    return {"stored_tasks": stored + 1,
            "stored_fill": "etcd" if port else "api",
            "stored_fill_s": round(fill_s, 1),
            "stored_cancelled_seen_by_operator": decided,
            "stored_writes_during_restart": sum(restart_writes.values()),
            "stored_writes_during_restart_by_kind": dict(sorted(restart_writes.items())),
            "stored_peak_rss_mib": round(rss, 1),
            "stored_ready_s": round(startup, 2) if startup is not None else
            f"> {STORED_WAIT:.0f}",
            "stored_new_task_job_after_start_s": round(first_job, 2),
            "stored_idle_cpu_pct": round((cpu1 - cpu0) / 30 * 100, 2)}


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


def queue_figures(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """Bare Jobs, then AgentTasks: the figures, and what the plot and the stored phase need
    (the curves, the AgentTasks' namespace)."""
    parallelism = PARALLELISM
    print(f"baseline: {N} bare Jobs of 1s pods, {parallelism} at a time …", flush=True)
    pids = cpu_share.cluster_pids(api)
    before, cpu_before = write_counts(api), cpu_share.snapshot(pids)
    base = run_baseline(api, parallelism)
    base_cpu = cpu_share.spent(cpu_before, cpu_share.snapshot(pids))
    time.sleep(3)
    base_writes = write_counts(api) - before
    print(f"  {base['wall_s']:.1f}s, peak {base['peak_running']} running", flush=True)
    print(f"AgentTasks: {N} tasks, --max-running {parallelism} …", flush=True)
    before, cpu_before = write_counts(api), cpu_share.snapshot(pids)
    tasks = run_agenttasks(api, parallelism)
    task_cpu = {**cpu_share.spent(cpu_before, cpu_share.snapshot(pids)),
                "operator": round(tasks["cpu_s"], 1)}
    try:
        time.sleep(3)  # Events leave in the background
        task_writes = write_counts(api) - before
    finally:
        tasks["operator"].stop()
    print(f"  {tasks['wall_s']:.1f}s, peak {tasks['peak_running']} running", flush=True)
    print(f"bare Jobs with each task's status written directly (no operator): {N} …",
          flush=True)
    cpu_before = cpu_share.snapshot(pids)
    floor = run_direct_bookkeeping(api, parallelism, N, POD, task_priorities(), JobWatch,
                                   QueuedWatch)
    floor_cpu = cpu_share.spent(cpu_before, cpu_share.snapshot(pids))
    print(f"  {floor['wall_s']:.1f}s", flush=True)
    lat = tasks["latencies"]
    results = {
        "tasks": N,
        "bare_jobs_wall_s": round(base["wall_s"], 2),
        "agenttasks_wall_s": round(tasks["wall_s"], 2),
        "agenttasks_submit_s": round(tasks["submit_s"], 2),
        "agenttasks_vs_jobs_ratio": round(tasks["wall_s"] / base["wall_s"], 3),
        "max_running": parallelism,
        "slot_to_job_p50_s": rounded(percentile(lat, 50)),
        "slot_to_job_p99_s": rounded(percentile(lat, 99)),
        "slot_to_job_samples": len(lat),
        "bare_jobs_feeder_slot_to_job_p50_s": rounded(percentile(base["latencies"], 50)),
        "bare_jobs_feeder_slot_to_job_p99_s": rounded(percentile(base["latencies"], 99)),
        "slot_freed_to_grant_p50_s": rounded(percentile(tasks["split"]["freed_to_grant"], 50)),
        "slot_grant_to_job_p50_s": rounded(percentile(tasks["split"]["grant_to_job"], 50)),
        "job_run_p50_s": rounded(percentile(tasks["run_times"], 50)),
        "bare_jobs_job_run_p50_s": rounded(percentile(base["run_times"], 50)),
        "direct_bookkeeping_wall_s": round(floor["wall_s"], 2),
        "direct_bookkeeping_vs_jobs_ratio": round(floor["wall_s"] / base["wall_s"], 3),
        "agenttasks_vs_direct_bookkeeping_ratio": round(tasks["wall_s"] / floor["wall_s"], 3),
        "cpu_s_by_process": {"agenttasks_run": task_cpu, "direct_bookkeeping_run": floor_cpu,
                             "bare_jobs_run": base_cpu},
        "slot_to_job_p99_after_submit_s": rounded(
            percentile(tasks["latencies_after_submit"], 99)),
        "priority_inversions": tasks["inversions"],
        "priority_inversions_by_job_creation": tasks["inversions_by_job_creation"],
        "jobs_with_grant_time": tasks["granted_jobs"],
        "inversions_vs_submission_order": tasks["submission_inversions"],
        "operator_peak_rss_mib": round(tasks["rss_mib"], 1),
        "operator_cpu_s": round(tasks["cpu_s"], 1),
        "agenttasks_peak_running": tasks["peak_running"],
        "start_passes_mean": round(tasks["start_passes"]["mean"], 3),
        "starts_within_2_passes_share": round(tasks["start_passes"]["share_le_2"], 4),
        "bare_jobs_writes_per_job_all_writers": round(sum(base_writes.values()) / N, 2),
        "agenttasks_writes_per_task_all_writers": round(sum(task_writes.values()) / N, 2),
        **writes_per_task(base_writes, task_writes, N),
        "writes_by_kind": writes_by_kind(base_writes, task_writes, N),
    }
    return results, {"base": base, "tasks": tasks, "namespace": tasks["namespace"]}


if __name__ == "__main__":
    from tests.perf.bench import main

    sys.exit(main())
