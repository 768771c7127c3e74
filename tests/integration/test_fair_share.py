"""Fair share between namespaces and concurrency keys, on the real control plane, with
operators started with their own flags. A watch of every Job checks the limits at every
event (watch events come in etcd order, so each check is the exact state at that
revision), as the chaos checker checks --max-running."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from agenttasks.api.concurrency import LABEL_CONCURRENCY_KEY
from agenttasks.api.meta import LABEL_TASK
from agenttasks.core.concurrency import key_label
from tests.chaos.recorder import running

from .harness import Api, Operator, pod_template, wait_for


@dataclass
class Instant:
    """The Jobs holding a slot at one revision, and the Jobs created so far."""

    version: str
    holding: list[dict[str, Any]]
    created: list[tuple[str, str]]  # (namespace, task), in the order they appeared


@dataclass
class JobWatch:
    """Every Job of ``namespaces``, from a list and then one watch (re-listed after 410);
    ``check`` sees each instant and raises nothing: it records what it finds wrong."""

    api: Api
    namespaces: set[str]
    check: Callable[[Instant], list[str]]
    problems: list[str] = field(default_factory=list)
    instants: int = 0
    _jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _created: list[tuple[str, str]] = field(default_factory=list)
    _finished: list[tuple[str, int]] = field(default_factory=list)  # (namespace, created)
    _ended: set[str] = field(default_factory=set)
    _seen: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _list(self) -> str:
        response = self.api.batch.list_job_for_all_namespaces(label_selector=LABEL_TASK,
                                                              _preload_content=False)
        listing = json.loads(response.data)
        with self._lock:
            self._jobs = {}
            for job in listing["items"]:
                self._apply("ADDED", job, listing["metadata"]["resourceVersion"])
        return str(listing["metadata"]["resourceVersion"])

    def _apply(self, kind: str, job: dict[str, Any], version: str) -> None:
        meta = job["metadata"]
        if meta["namespace"] not in self.namespaces:
            return
        if kind == "DELETED":
            self._jobs.pop(meta["uid"], None)
        else:
            self._jobs[meta["uid"]] = job
            if meta["uid"] not in self._seen:
                self._seen.add(meta["uid"])
                self._created.append((meta["namespace"], meta["labels"][LABEL_TASK]))
            if not running(job) and meta["uid"] not in self._ended:
                self._ended.add(meta["uid"])
                self._finished.append((meta["namespace"], len(self._created)))
        self.instants += 1
        instant = Instant(version, [j for j in self._jobs.values() if running(j)],
                          list(self._created))
        self.problems += self.check(instant)

    def _run(self) -> None:
        version = self._list()
        while not self._stop.is_set():
            try:
                stream = watch.Watch().stream(
                    self.api.batch.list_job_for_all_namespaces, label_selector=LABEL_TASK,
                    resource_version=version, timeout_seconds=10, allow_watch_bookmarks=True)
                for event in stream:
                    job = event["raw_object"]
                    if event["type"] == "ERROR":
                        raise ApiException(status=job.get("code"))
                    version = job["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        with self._lock:
                            self._apply(event["type"], job, version)
                    if self._stop.is_set():
                        return
            except ApiException as exc:
                if exc.status != 410:
                    raise
                version = self._list()

    def finished_before(self, namespace: str, created: int) -> int:
        """Jobs of ``namespace`` that ended before the Job created ``created``-th."""
        with self._lock:
            return sum(1 for ns, at in self._finished if ns == namespace and at <= created)

    def created(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._created)

    @contextmanager
    def running(self) -> Iterator[JobWatch]:
        thread = threading.Thread(target=self._run, daemon=True, name="job-watch")
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=30)


def _tasks(api: Api, ns: str, names: list[str], duration: str,
           concurrency: dict[str, Any] | None = None) -> None:
    spec: dict[str, Any] = {"template": pod_template(duration)}
    if concurrency:
        spec["concurrency"] = concurrency
    for name in names:
        api.create_task(ns, {"metadata": {"name": name}, "spec": spec})


def test_a_small_namespace_runs_within_its_share_beside_a_big_backlog(
        api: Api, own_ns: str) -> None:
    """200 tasks wait in one namespace, 5 in another; --max-running 4. Both backlogs exist
    before the operator starts, so its first pass grants from both. Asserted from the watch
    of the Jobs: never more than 4 hold a slot; until the small namespace's fifth Job is
    created, the big one holds at most 2 (its share of 4 between two namespaces) at every
    instant; the small namespace's 5 Jobs are all created while the big one has created
    at most 2 plus one per Job of its own that finished (its Jobs run 20 s, the small
    one's 1 s, so usually exactly 2), and fewer than 50 in all (first come, first served
    would have run all 200 first); and a big task still waiting says why: its namespace's
    share, 2 of 4."""
    big, small = own_ns, api.create_namespace("own")
    try:
        big_names = [f"big-{i:03}" for i in range(200)]
        small_names = [f"small-{i}" for i in range(5)]
        # The big ones run long: a slot the small namespace frees is its own again.
        _tasks(api, big, big_names, "20s")
        _tasks(api, small, small_names, "1s")

        def check(instant: Instant) -> list[str]:
            holding = [j["metadata"]["namespace"] for j in instant.holding]
            problems = []
            if len(holding) > 4:
                problems.append(f"{len(holding)} Jobs hold a slot at {instant.version}")
            small_started = sum(1 for ns, _ in instant.created if ns == small)
            if small_started < 5 and holding.count(big) > 2:
                problems.append(f"{big} holds {holding.count(big)} slots while {small} "
                                f"waits (at {instant.version})")
            return problems

        jobs = JobWatch(api, {big, small}, check)
        with jobs.running():
            proc = Operator(api.operator_kubeconfig, [big, small], "fair-share",
                            ["--max-running", "4"]).start()
            try:
                for name in small_names:
                    api.wait_phase(small, name, "Completed", 120)
                waiting = wait_for(
                    lambda: next((s for n in big_names[-20:] if "share" in (
                        (s := api.status(big, n)).get("message") or "")), None),
                    30, what="a big task's Queued message to name the share")
            finally:
                proc.stop()
        assert jobs.problems == [], jobs.problems[:5]
        assert jobs.instants > 10
        created = jobs.created()
        fifth = max(created.index((small, n)) for n in small_names)
        big_before = sum(1 for ns, _ in created[:fifth] if ns == big)
        assert big_before <= 2 + jobs.finished_before(big, fifth), big_before
        assert sum(1 for ns, _ in created if ns == big) < 50, "the big backlog went first"
        assert (waiting["phase"], waiting["reason"]) == ("Pending", "Queued")
        assert waiting["message"].startswith(
            f"waiting for its namespace's share: {big} holds 2 of 4 slots, its share is 2 "
            "(weight 1 of 2"), waiting["message"]
    finally:
        api.delete_namespace(small)


def test_a_key_with_limit_one_never_runs_two_tasks_even_across_a_kill(
        api: Api, own_ns: str) -> None:
    """Six tasks share the key "openai-key" (limit 1), two share a key that is no label
    value (limit 2), two have none; --max-running 10. At every instant of the Job watch at
    most one Job with the first key and two with the second hold a slot, across a SIGKILL
    of the operator mid-run (the next one counts the running Job by its label). Tasks
    without a key run beside them; a task waiting for the key says so."""
    odd = "customer: ACME / EU"
    keyed = [f"keyed-{i}" for i in range(6)]
    _tasks(api, own_ns, keyed, "2s", {"key": "openai-key", "limit": 1})
    _tasks(api, own_ns, ["odd-0", "odd-1", "odd-2"], "2s", {"key": odd, "limit": 2})
    _tasks(api, own_ns, ["free-0", "free-1"], "2s")
    labels = {"openai-key": 1, key_label(odd): 2}
    together: list[int] = []

    def check(instant: Instant) -> list[str]:
        counts: dict[str, int] = {}
        for job in instant.holding:
            label = (job["metadata"].get("labels") or {}).get(LABEL_CONCURRENCY_KEY)
            if label:
                counts[label] = counts.get(label, 0) + 1
        together.append(len(instant.holding))
        return [f"{count} Jobs with key {label} at {instant.version}"
                for label, count in counts.items() if count > labels.get(label, 0)]

    jobs = JobWatch(api, {own_ns}, check)
    with jobs.running():
        first = Operator(api.operator_kubeconfig, [own_ns], "keys-1").start()
        try:
            message = wait_for(lambda: next((m for n in keyed if "concurrency key" in (
                m := api.status(own_ns, n).get("message") or "")), None), 60,
                what="a keyed task to wait for its key")
            wait_for(lambda: sum(1 for _, n in jobs.created() if n in keyed) >= 2 or None,
                     60, what="the second keyed Job")
        finally:
            first.kill()
        second = Operator(api.operator_kubeconfig, [own_ns], "keys-2").start()
        try:
            for name in [*keyed, "odd-0", "odd-1", "odd-2", "free-0", "free-1"]:
                api.wait_phase(own_ns, name, "Completed", 180)
        finally:
            second.stop()
    assert jobs.problems == [], jobs.problems[:5]
    assert message == 'waiting for concurrency key "openai-key": 1/1 running', message
    assert max(together) >= 3, "tasks without the key (or another key) ran beside it"
    for name in keyed:
        assert len(api.jobs(own_ns, name)) == 1, f"{name} got a second Job"


@pytest.mark.parametrize(("kind", "spec", "mention"), [
    ("AgentTask", {"concurrency": {"key": " padded", "limit": 1}}, "concurrency.key"),
    ("AgentTask", {"concurrency": {"key": "k", "limit": 0}}, "concurrency.limit"),
    ("AgentTaskTrigger", {"params": {"OTHER": "x"}}, "must name a key of spec.params"),
])
def test_bad_keys_are_refused_at_apply(api: Api, own_ns: str, kind: str, spec: dict[str, Any],
                                       mention: str) -> None:
    from agenttasks.api.meta import GROUP, VERSION

    if kind == "AgentTask":
        body: dict[str, Any] = {"template": pod_template(), **spec}
        plural = "agenttasks"
    else:
        body = {"secretRef": {"name": "s", "key": "k"}, **spec, "taskTemplate": {"spec": {
            "template": pod_template(), "concurrency": {"key": "c-$(CUSTOMER)"}}}}
        plural = "agenttasktriggers"
    manifest = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind,
                "metadata": {"name": "bad"}, "spec": body}
    with pytest.raises(ApiException) as refused:
        api.custom.create_namespaced_custom_object(GROUP, VERSION, own_ns, plural, manifest)
    assert refused.value.status == 422 and mention in str(refused.value.body), \
        refused.value.body
