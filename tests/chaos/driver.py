"""One chaos run: the task mix, an operator, the faults at random points of the run's
progress (seeded), then the checks. Used by `make chaos` and by tests/integration/test_chaos.py.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agenttasks.api.meta import GROUP, LABEL_ATTEMPT, LABEL_TASK, VERSION
from tests.chaos.check import Verdict, check, is_terminal
from tests.chaos.faults import THROTTLE_FLAGS, ControlPlaneFaults, OperatorFaults, retrying
from tests.chaos.recorder import JobRecorder, running
from tests.chaos.scenario import TaskPlan, build, utcnow
from tests.integration.harness import Api, Operator

Say = Callable[[str], None]
SECOND_WAVE = 0.15  # share of tasks created while the operator is frozen (watch expiry)
STALL = 45.0  # seconds without progress after which the next fault fires anyway


@dataclass
class ChaosConfig:
    tasks: int
    kills: int
    max_running: int
    seed: int
    throttle_seconds: float = 30
    settle_seconds: float = 900
    local_root: Path | None = None  # our own control plane: the faults that need it run


@dataclass
class FaultRecord:
    fault: str
    injected: int
    detail: str


@dataclass
class ChaosResult:
    config: ChaosConfig
    faults: list[FaultRecord]
    verdict: Verdict
    seconds: float
    rejected_429: int = 0
    watch_gone: int = 0
    skipped: list[str] = field(default_factory=list)


class TaskTracker:
    """Lists the namespace's tasks twice a second; the run's notion of progress."""

    def __init__(self, api: Api, namespace: str, total: int) -> None:
        self.api, self.namespace, self.total = api, namespace, total
        self.statuses: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="task-tracker")

    def start(self) -> TaskTracker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def fetch(self) -> dict[str, dict[str, Any]]:
        response = retrying(lambda: self.api.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "agenttasks", _preload_content=False))
        items = json.loads(response.data)["items"]
        return {t["metadata"]["name"]: t.get("status") or {} for t in items}

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.statuses = self.fetch()
            except Exception:
                continue

    def done(self) -> float:
        return sum(is_terminal(s) for s in self.statuses.values()) / self.total


class ChaosRun:
    def __init__(self, api: Api, operator_kubeconfig: str, namespace: str, config: ChaosConfig,
                 say: Say | None = None) -> None:
        self.api, self.namespace, self.config = api, namespace, config
        self._began = time.monotonic()
        out = say or (lambda m: print(m, flush=True))
        self.say = lambda m: out(f"[{time.monotonic() - self._began:5.0f}s] {m}")
        self.rng = random.Random(config.seed)
        self.plans = build(config.tasks, self.rng)
        cut = len(self.plans) - max(1, int(len(self.plans) * SECOND_WAVE))
        self.first_wave, self.second_wave = self.plans[:cut], self.plans[cut:]
        self.recorder = JobRecorder(api, namespace, config.max_running)
        self.tracker = TaskTracker(api, namespace, len(self.plans))
        self.operator = Operator(operator_kubeconfig, [namespace], f"chaos-{namespace}",
                                 ["--max-running", str(config.max_running)])
        self.op_faults = OperatorFaults(self.operator)
        self.cp = ControlPlaneFaults(config.local_root, api) if config.local_root else None
        self.faults: list[FaultRecord] = []
        self.skipped: list[str] = []
        self.rejected_429 = 0
        self._cancelled: set[str] = set()
        self._stop_cancelling = threading.Event()

    # --- the run ------------------------------------------------------------------------------
    def run(self) -> ChaosResult:
        started = time.monotonic()
        self.say(f"chaos: {len(self.plans)} tasks, {self.config.kills} kills, --max-running "
                 f"{self.config.max_running}, seed {self.config.seed}")
        self.recorder.start()
        self.tracker.start()
        self.operator.start()
        canceller = threading.Thread(target=self._cancel_loop, daemon=True, name="canceller")
        try:
            self._create(self.first_wave)
            canceller.start()
            for threshold, fault in self._schedule():
                self._wait_progress(threshold)
                time.sleep(self.rng.uniform(0, 1.0))  # a random instant, not a round moment
                self._inject(fault)
            self._settle()
        finally:
            self._stop_cancelling.set()
            self.operator.stop()
            self.tracker.stop()
        self.recorder.caught_up()
        self.recorder.stop()
        statuses = self.tracker.fetch()
        jobs = self.recorder.list_jobs()["items"]
        verdict = check(self.plans, statuses, self.recorder, jobs)
        if self.op_faults.crashes:
            verdict.problems.append(f"the operator exited by itself {self.op_faults.crashes} "
                                    "time(s); see its log")
        self.faults.insert(0, FaultRecord(
            "operator SIGKILL + restart", self.op_faults.kills,
            f"random moments; exits on its own: {self.op_faults.crashes}"))
        return ChaosResult(self.config, self.faults, verdict, time.monotonic() - started,
                           self.rejected_429, self.recorder.gone, self.skipped)

    def _schedule(self) -> list[tuple[float, str]]:
        kills = [(self.rng.uniform(0.03, 0.9), "kill") for _ in range(self.config.kills)]
        return sorted([*kills, (0.25, "apiserver"), (0.45, "expiry"), (0.65, "throttle")])

    def _create(self, plans: list[TaskPlan]) -> None:
        def one(plan: TaskPlan) -> None:
            retrying(lambda: self.api.create_task(self.namespace, plan.manifest(utcnow())))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, plans))

    def _wait_progress(self, threshold: float) -> None:
        last, since = -1.0, time.monotonic()
        while (done := self.tracker.done()) < threshold:
            if self.op_faults.revive_if_exited():
                self.say("chaos: the operator exited by itself; restarted it")
            if done != last:
                last, since = done, time.monotonic()
            elif time.monotonic() - since > STALL:
                self.say(f"chaos: no progress for {STALL:.0f}s at {done:.0%}; next fault anyway")
                return
            time.sleep(0.2)

    def _settle(self) -> None:
        deadline = time.monotonic() + self.config.settle_seconds
        while time.monotonic() < deadline and self.tracker.done() < 1:
            self.op_faults.revive_if_exited()
            time.sleep(0.5)
        time.sleep(3)  # anything still to happen (a stray Job) happens now, and is checked

    def _inject(self, fault: str) -> None:
        self.say(f"chaos: {fault} at {self.tracker.done():.0%} done")
        if fault == "kill":
            self.op_faults.kill_and_restart(self.rng.uniform(0, 0.5))
        elif fault == "apiserver":
            self._restart_apiserver()
        elif fault == "expiry":
            self._watch_expiry()
        elif fault == "throttle":
            self._throttle()

    # --- the control-plane faults -----------------------------------------------------------
    def _restart_apiserver(self) -> None:
        if self.cp is None:
            self._skip("API server restart")
            return
        seconds = self.cp.restart_apiserver()
        time.sleep(3)
        exited = self.operator.exited()
        self.faults.append(FaultRecord(
            "API server restart", 1, f"down {seconds:.1f}s; operator kept running: "
            f"{'no' if exited else 'yes'}"))

    def _watch_expiry(self) -> None:
        """Freezes the operator (SIGSTOP) so its watches keep their old resourceVersions,
        changes objects behind its back, compacts etcd and restarts the API server (whose
        watch cache could serve old versions otherwise), then thaws it: each watch resumes,
        gets 410 Gone and must re-list."""
        self.op_faults.freeze()
        try:
            self._create(self.second_wave)
            deleted = self._delete_running_jobs(3)
            time.sleep(3)  # Jobs finish meanwhile: more changes the operator has not seen
            detail = f"operator frozen; {len(self.second_wave)} tasks created, {deleted} " \
                "running Jobs deleted"
            if self.cp is None:
                self._skip("etcd compaction and API server restart of the watch expiry")
                detail += "; no compaction (not our control plane)"
            else:
                before = self.recorder.gone
                revision = self.cp.compact()
                self.cp.restart_apiserver()
                time.sleep(2)
                detail += f"; etcd compacted at revision {revision}, API server restarted; " \
                    f"410 Gone seen by the test's own watch: {self.recorder.gone - before}"
        finally:
            self.op_faults.thaw()
        self.faults.append(FaultRecord("watch expiry", 1, detail))

    def _delete_running_jobs(self, most: int) -> int:
        """Deletes the running first-attempt Jobs of up to ``most`` ok/victim tasks, each only
        if it is unchanged since it was seen running; their expected outcome changes."""
        by_name = {p.name: p for p in self.plans if p.kind in ("ok", "victim")}
        deleted = 0
        for job in retrying(lambda: self.recorder.list_jobs()["items"]):
            labels = job["metadata"].get("labels") or {}
            plan = by_name.get(labels.get(LABEL_TASK, ""))
            deleting = bool(job["metadata"].get("deletionTimestamp"))
            if plan is None or labels.get(LABEL_ATTEMPT) != "1" or not running(job) or deleting:
                continue
            try:
                self.api.batch.delete_namespaced_job(
                    job["metadata"]["name"], self.namespace, propagation_policy="Background",
                    body={"preconditions": {
                        "resourceVersion": job["metadata"]["resourceVersion"]}})
            except Exception:
                continue  # it changed (maybe finished) meanwhile: leave it
            plan.job_deleted = True
            deleted += 1
            if deleted == most:
                break
        return deleted

    def _throttle(self) -> None:
        if self.cp is None:
            self._skip("throttling")
            return
        self.cp.restart_apiserver(throttled=True)
        time.sleep(self.config.throttle_seconds)
        self.rejected_429 = self.cp.rejected_429()
        self.cp.restart_apiserver()
        self.faults.append(FaultRecord(
            "throttling", 1, f"{' '.join(THROTTLE_FLAGS[1:])} for "
            f"{self.config.throttle_seconds:.0f}s: {self.rejected_429} requests answered 429"))

    def _skip(self, fault: str) -> None:
        reason = f"{fault}: skipped, needs the local control plane (AGENTTASKS_TEST_KUBECONFIG" \
            " is set)"
        self.skipped.append(reason)
        self.say(f"chaos: {reason}")

    # --- cancellations ----------------------------------------------------------------------
    def _cancel_loop(self) -> None:
        """Cancels each "cancel" task at its own point of the run, or a few seconds after it
        was seen running (so that long runners do not hold every slot)."""
        plans = [p for p in self.plans if p.kind == "cancel"]
        holds = {p.name: random.Random(f"{self.config.seed}-{p.name}").uniform(1, 6)
                 for p in plans}
        seen_running: dict[str, float] = {}
        while not self._stop_cancelling.wait(0.5):
            now, done = time.monotonic(), self.tracker.done()
            for plan in plans:
                if plan.name in self._cancelled:
                    continue
                status = self.tracker.statuses.get(plan.name, {})
                if status.get("phase") == "InProgress":
                    seen_running.setdefault(plan.name, now)
                held = now - seen_running.get(plan.name, now) > holds[plan.name]
                if done >= plan.cancel_at or held:
                    try:
                        retrying(lambda p=plan: self.api.patch_task(  # type: ignore[misc]
                            self.namespace, p.name, {"spec": {"cancelled": True}}))
                    except Exception:
                        continue
                    self._cancelled.add(plan.name)
