"""Every Job of the namespace as the API server reports it, from outside the operator.

One watch, resumed from its last resourceVersion after a break; after 410 Gone it re-lists.
It records each Job ever created (by uid, so a Job deleted and created again under the same
name counts twice) and, at every event, how many Jobs are running: watch events arrive in
etcd order, so each count is the exact state at that revision, not a poll's guess.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from agenttasks.api.meta import LABEL_ATTEMPT, LABEL_TASK
from agenttasks.core.slots import holds_slot
from agenttasks.manifests.jobs import job_facts
from tests.integration.harness import Api


def running(job: dict[str, Any]) -> bool:
    """Holds a slot exactly as the operator counts them (core/slots.py's holds_slot): not
    finished, not suspended with no pods left; a Job being deleted counts until it is gone."""
    facts = job_facts(job)
    return facts is not None and holds_slot(facts)


@dataclass(frozen=True)
class Overrun:
    """A moment at which more Jobs ran than --max-running allows."""

    resource_version: str
    running: tuple[str, ...]


class JobRecorder:
    def __init__(self, api: Api, namespace: str, limit: int) -> None:
        self.api, self.namespace, self.limit = api, namespace, limit
        self.created: dict[tuple[str, int], set[str]] = defaultdict(set)  # (task, attempt)
        self.peak = 0
        self.overruns: list[Overrun] = []
        self.relists = 0
        self.gone = 0  # 410 Gone answers: the watch-expiry fault really expired our watch
        self.events = 0
        self._jobs: dict[str, dict[str, Any]] = {}  # uid → Job, as of the last event
        self._version: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="job-recorder")

    def start(self) -> JobRecorder:
        self._relist()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=40)

    def running_now(self) -> list[str]:
        with self._lock:
            return sorted(j["metadata"]["name"] for j in self._jobs.values() if running(j))

    def caught_up(self) -> None:
        """Waits until the watch has seen the current revision (after the run, before
        checking)."""
        target = int(self.list_jobs()["metadata"]["resourceVersion"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with self._lock:
                if self._version and int(self._version) >= target:
                    return
            time.sleep(0.2)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._version is None:
                    self._relist()
                self._watch()
            except ApiException as exc:
                if exc.status == 410:
                    self._expired()
                else:
                    time.sleep(0.2)
            except Exception:  # connection refused or reset: the API server restarts
                time.sleep(0.2)

    def _watch(self) -> None:
        stream = watch.Watch().stream(
            self.api.batch.list_namespaced_job, self.namespace, resource_version=self._version,
            timeout_seconds=30, allow_watch_bookmarks=True, _request_timeout=60)
        for event in stream:
            kind, job = event["type"], event["raw_object"]
            if kind == "ERROR":
                if job.get("code") == 410:
                    self._expired()
                    return
                raise RuntimeError(f"watch error: {job}")
            with self._lock:
                self._version = job["metadata"]["resourceVersion"]
                if kind != "BOOKMARK":
                    self._apply(kind, job)
            if self._stop.is_set():
                return

    def _expired(self) -> None:
        with self._lock:
            self.gone += 1
            self._version = None

    def list_jobs(self) -> dict[str, Any]:
        response = self.api.batch.list_namespaced_job(self.namespace, _preload_content=False)
        return dict(json.loads(response.data))

    def _relist(self) -> None:
        listing = self.list_jobs()
        with self._lock:
            self.relists += 1
            self._jobs = {}
            for job in listing["items"]:
                self._apply("ADDED", job)
            self._version = listing["metadata"]["resourceVersion"]
            self._count(self._version)

    def _apply(self, kind: str, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        labels = meta.get("labels") or {}
        self.events += 1
        if LABEL_TASK in labels:
            attempt = int(labels.get(LABEL_ATTEMPT, "0"))
            self.created[(labels[LABEL_TASK], attempt)].add(meta["uid"])
        if kind == "DELETED":
            self._jobs.pop(meta["uid"], None)
        else:
            self._jobs[meta["uid"]] = job
        self._count(meta["resourceVersion"])

    def _count(self, version: str) -> None:
        names = tuple(sorted(j["metadata"]["name"] for j in self._jobs.values() if running(j)))
        self.peak = max(self.peak, len(names))
        if len(names) > self.limit:
            self.overruns.append(Overrun(version, names))
