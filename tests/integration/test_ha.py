"""Two replicas with kopf peering: one acts; when it is SIGKILLed the other takes over."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import yaml

from agenttasks.kube.crds import apply_crds

from .harness import REPO, Api, Operator, chart_credentials, pod_template, wait_for

PEERING_CRDS = REPO / "charts" / "agenttask-operator" / "crds" / "kopf-peering.yaml"
TASKS, MAX_RUNNING, LIFETIME = 18, 3, 10


class RunningSampler:
    """Samples the Jobs running in a namespace, continuously, from outside the operators."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            jobs = self.api.batch.list_namespaced_job(self.namespace).items
            running = sum(1 for j in jobs if not any(
                c.type in ("Complete", "Failed") and c.status == "True"
                for c in j.status.conditions or []) and not j.spec.suspend)
            self.peak = max(self.peak, running)
            time.sleep(0.1)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _created_jobs_logged(log: Path) -> list[datetime]:
    """Times at which an operator's log says it created a Job."""
    times = []
    for line in log.read_text().splitlines():
        if "created Job" in line:
            times.append(datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f"))
    return times


def test_failover_after_sigkill(api: Api, own_ns: str) -> None:
    apply_crds(api.kubeconfig, list(yaml.safe_load_all(PEERING_CRDS.read_text())))
    api.custom.create_namespaced_custom_object("kopf.dev", "v1", own_ns, "kopfpeerings", {
        "apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "ha"}})
    # The chart's namespaced mode with two replicas: a Role in own_ns, kopf peering included.
    kubeconfig = chart_credentials(api, "ha", own_ns, f"watchNamespaces={{{own_ns}}}",
                                   "replicas=2")
    flags = ["--peering", "ha", "--peering-lifetime", str(LIFETIME),
             "--max-running", str(MAX_RUNNING)]
    first = Operator(kubeconfig, [own_ns], "ha-first", extra=[*flags, "--priority", "200"])
    second = Operator(kubeconfig, [own_ns], "ha-second",
                      extra=[*flags, "--priority", "100"])
    for log in (first.log_path, second.log_path):
        log.unlink(missing_ok=True)
    first.start()
    second.start()
    sampler = RunningSampler(api, own_ns)
    try:
        for i in range(TASKS):
            api.create_task(own_ns, {"metadata": {"name": f"ha-{i:02d}"},
                                     "spec": {"template": pod_template("3s")}})
        wait_for(lambda: sum(api.status(own_ns, f"ha-{i:02d}").get("phase") == "Completed"
                             for i in range(TASKS)) >= 4 or None, 90, what="progress")
        first.kill()
        killed = datetime.now()
        for i in range(TASKS):
            api.wait_phase(own_ns, f"ha-{i:02d}", "Completed", 150)
    finally:
        peak = sampler.stop()
        first.kill()
        second.stop()

    assert not [t for t in _created_jobs_logged(second.log_path) if t < killed], \
        "the lower-priority replica acted while the active one was alive"
    after = [t for t in _created_jobs_logged(second.log_path) if t >= killed]
    assert after, "the second replica took over"
    takeover = (min(after) - killed).total_seconds()
    print(f"\ntakeover after SIGKILL: {takeover:.1f}s (peering lifetime {LIFETIME}s)")
    assert takeover <= LIFETIME + 5
    for i in range(TASKS):
        name = f"ha-{i:02d}"
        assert [j.metadata.name for j in api.jobs(own_ns, name)] == [f"{name}-1"]
        assert api.status(own_ns, name)["attempts"] == 1
    assert peak <= MAX_RUNNING, f"{peak} Jobs ran at once; --max-running is {MAX_RUNNING}"
