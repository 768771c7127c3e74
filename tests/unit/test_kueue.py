"""Room for Kueue, over plain data: a task naming a LocalQueue gets Jobs that Kueue admits
(suspended, labelled), takes none of our slots, and shows that it waits for Kueue."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import ValidationError

from agenttasks.api.kueue import LABEL_QUEUE_NAME
from agenttasks.api.meta import LABEL_TASK
from agenttasks.api.task import AgentTaskSpec, AgentTaskStatus, Phase, Reason
from agenttasks.core.actions import CreateJob, Gates, SetJobSuspended, SetWorkloadActive
from agenttasks.core.facts import JobFacts
from agenttasks.core.lifecycle import decide
from agenttasks.core.queue import Candidate, Limits
from agenttasks.core.slots import SlotLedger, holds_slot
from agenttasks.kube.client import Kube
from agenttasks.manifests.jobs import build_job, job_facts
from tests.unit.test_kube_client import _kubeconfig
from tests.unit.test_lifecycle import T0, TEMPLATE, job, kinds, task

KUEUE = {"kueue": {"queueName": "team-a"}}
NO_SLOT = Gates(slot_granted=False, queue_message="waiting for capacity: 1/1 running")


def kueue_job(attempt: int = 1, **kw: object) -> JobFacts:
    return job(attempt, queue_name="team-a", uid=f"job-uid-{attempt}", **kw)


# --- the API ---------------------------------------------------------------------------------

def test_the_queue_name_must_be_a_label_value_and_an_object_name() -> None:
    AgentTaskSpec.model_validate({"template": TEMPLATE, "kueue": {"queueName": "a.b-c"}})
    for bad in ("", "A", "-a", "a" * 64, "a_b"):
        with pytest.raises(ValidationError):
            AgentTaskSpec.model_validate({"template": TEMPLATE, "kueue": {"queueName": bad}})


# --- the Job ---------------------------------------------------------------------------------

def test_its_job_is_created_suspended_with_the_queue_name_label_on_the_job_only() -> None:
    facts = task(**KUEUE)
    assert facts.spec is not None
    body = build_job(facts, facts.spec, 1, "t-1")
    assert body["metadata"]["labels"][LABEL_QUEUE_NAME] == "team-a"
    assert body["metadata"]["labels"][LABEL_TASK] == "t"
    assert body["spec"]["suspend"] is True
    # On the pods the label would hand them to Kueue's pod integration as well.
    assert LABEL_QUEUE_NAME not in body["spec"]["template"]["metadata"]["labels"]


def test_a_job_of_our_own_queue_is_neither_labelled_nor_suspended() -> None:
    facts = task()
    assert facts.spec is not None
    body = build_job(facts, facts.spec, 1, "t-1")
    assert LABEL_QUEUE_NAME not in body["metadata"]["labels"]
    assert "suspend" not in body["spec"]


def test_the_jobs_label_is_read_back_into_its_facts() -> None:
    facts = task(**KUEUE)
    assert facts.spec is not None
    body = build_job(facts, facts.spec, 1, "t-1")
    body["metadata"].update(creationTimestamp="2026-11-25T08:00:00Z", uid="j")
    read = job_facts(body)
    assert read is not None and read.queue_name == "team-a" and read.suspended
    body["metadata"]["labels"].pop(LABEL_QUEUE_NAME)
    read = job_facts(body)
    assert read is not None and read.queue_name is None


# --- the lifecycle ---------------------------------------------------------------------------

def test_it_creates_its_job_at_once_without_a_slot_and_waits_for_kueue() -> None:
    d = decide(task(**KUEUE), [], T0, NO_SLOT)
    assert CreateJob(1, "t-1") in d.actions
    assert not d.wants_slot
    assert (d.status.phase, d.status.reason) == (Phase.PENDING, Reason.WAITING_FOR_KUEUE)
    assert "t-1" in str(d.status.message) and "team-a" in str(d.status.message)
    assert d.status.attempts == 1 and d.status.job_name == "t-1"


def test_while_kueue_holds_the_job_it_waits_and_nothing_touches_suspend() -> None:
    created = decide(task(**KUEUE), [], T0, NO_SLOT)
    later = decide(task(created.status, **KUEUE), [kueue_job(suspended=True)],
                   T0 + timedelta(minutes=5), NO_SLOT)
    assert (later.status.phase, later.status.reason) == (Phase.PENDING,
                                                         Reason.WAITING_FOR_KUEUE)
    assert not later.wants_slot
    assert not [a for a in later.actions if isinstance(a, SetJobSuspended | SetWorkloadActive)]


def test_once_kueue_unsuspends_the_job_it_runs_and_completes() -> None:
    waiting = decide(task(**KUEUE), [kueue_job(suspended=True)], T0, NO_SLOT)
    running = decide(task(waiting.status, **KUEUE), [kueue_job(active=1)], T0, NO_SLOT)
    assert (running.status.phase, running.status.reason) == (Phase.IN_PROGRESS,
                                                             Reason.RUNNING)
    assert "Kueue" in str(running.status.message)
    assert not [a for a in running.actions if isinstance(a, SetJobSuspended)]
    done = decide(task(running.status, **KUEUE), [kueue_job(outcome="Complete")],
                  T0 + timedelta(minutes=1), NO_SLOT)
    assert done.status.phase == Phase.COMPLETED


def test_the_start_timeout_does_not_count_the_wait_for_admission() -> None:
    # Suspended for an hour: no pod can start, and the start check does not look at it.
    later = T0 + timedelta(hours=1)
    d = decide(task(startTimeout="1m", **KUEUE), [kueue_job(suspended=True)], later, NO_SLOT)
    assert d.status.reason == Reason.WAITING_FOR_KUEUE and not d.status.history
    # Admitted just now: the clock starts at the Job's startTime, which the unsuspend set.
    admitted = kueue_job(started_at=later)
    d = decide(task(startTimeout="1m", **KUEUE), [admitted], later + timedelta(seconds=30),
               NO_SLOT)
    assert (d.status.phase, d.status.reason) == (Phase.IN_PROGRESS, Reason.RUNNING)


def test_the_jobs_label_decides_not_the_spec() -> None:
    # The spec names no queue any more (a change applies from the next attempt): the Job
    # that Kueue admits is still Kueue's, and our queue does not resume it.
    d = decide(task(), [kueue_job(suspended=True)], T0, NO_SLOT)
    assert d.status.reason == Reason.WAITING_FOR_KUEUE and not d.wants_slot


def test_a_retry_goes_through_kueue_again() -> None:
    failed = decide(task(retries={"limit": 1, "delay": 0}, **KUEUE),
                    [kueue_job(outcome="Failed")], T0 + timedelta(seconds=10), NO_SLOT)
    assert CreateJob(2, "t-2") in failed.actions
    assert failed.status.reason == Reason.WAITING_FOR_KUEUE and not failed.wants_slot


def test_pause_deactivates_the_workload_once_and_resume_activates_it() -> None:
    running = AgentTaskStatus(phase=Phase.IN_PROGRESS, reason=Reason.RUNNING, attempts=1)
    paused = decide(task(running, paused=True, **KUEUE), [kueue_job(active=1)], T0)
    assert paused.status.phase == Phase.PAUSED
    assert SetWorkloadActive("t-1", "job-uid-1", False) in paused.actions
    assert not [a for a in paused.actions if isinstance(a, SetJobSuspended)]
    # Kueue evicts it and suspends the Job: the pause is not sent again.
    again = decide(task(paused.status, paused=True, **KUEUE), [kueue_job(suspended=True)], T0)
    assert again.status.phase == Phase.PAUSED
    assert not [a for a in again.actions if isinstance(a, SetWorkloadActive | SetJobSuspended)]
    resumed = decide(task(again.status, **KUEUE), [kueue_job(suspended=True)], T0, NO_SLOT)
    assert SetWorkloadActive("t-1", "job-uid-1", True) in resumed.actions
    assert resumed.status.reason == Reason.WAITING_FOR_KUEUE and not resumed.wants_slot
    assert "Resumed" in [getattr(a, "reason", "") for a in resumed.actions]


def test_pause_while_waiting_for_admission_deactivates_it_too() -> None:
    waiting = AgentTaskStatus(phase=Phase.PENDING, reason=Reason.WAITING_FOR_KUEUE, attempts=1)
    paused = decide(task(waiting, paused=True, **KUEUE), [kueue_job(suspended=True)], T0)
    assert paused.status.phase == Phase.PAUSED
    assert SetWorkloadActive("t-1", "job-uid-1", False) in paused.actions


def test_pause_before_the_job_exists_creates_none() -> None:
    d = decide(task(paused=True, **KUEUE), [], T0, NO_SLOT)
    assert d.status.phase == Phase.PAUSED and kinds(d.actions) == ["Emit"]


def test_cancel_deletes_the_job_that_kueue_holds() -> None:
    d = decide(task(cancelled=True, **KUEUE), [kueue_job(suspended=True)], T0)
    assert d.status.phase == Phase.CANCELLED and "DeleteJob" in kinds(d.actions)


# --- our slots -------------------------------------------------------------------------------

def test_a_job_that_kueue_admits_holds_none_of_our_slots() -> None:
    assert not holds_slot(kueue_job(suspended=True))
    assert not holds_slot(kueue_job(active=3))
    assert holds_slot(job(1, active=1))


def test_running_kueue_jobs_leave_our_limit_to_the_others() -> None:
    ledger = SlotLedger(Limits(max_running=1))
    ledger.jobs_listed()
    ledger.tasks_listed([])
    for n in range(5):
        ledger.job("team", f"k{n}", replace(kueue_job(active=1), name=f"k{n}-1"))
    assert ledger.running().total == 0
    ledger.want(Candidate("team", "ours", 0, T0, T0))
    assert ledger.grant(T0) == [("team", "ours")]


# --- the Workload call, against a stand-in for the API server's wire format ----------------------

Handler = Callable[[web.Request], Awaitable[web.Response]]


def _against(tmp_path: Path, handle: Handler, active: bool) -> int | None:
    async def scenario() -> int | None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        kube = Kube(_kubeconfig(tmp_path, runner.addresses[0][1]))
        try:
            return await kube.set_workload_active("ns", "uid-9", active)
        finally:
            await kube.close()
            await runner.cleanup()

    return asyncio.run(scenario())


def test_pause_patches_the_jobs_workloads_at_the_newest_version_served(tmp_path: Path) -> None:
    seen: list[tuple[str, str, object]] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.text()
        seen.append((request.method, request.path_qs, json.loads(body) if body else None))
        if "/v1beta2/" in request.path:  # an older Kueue: only v1beta1 is served
            return web.json_response({"kind": "Status", "reason": "NotFound"}, status=404)
        if request.method == "GET":
            return web.json_response({"items": [{"metadata": {"name": "job-t-1-abc"}}]})
        return web.json_response({})

    assert _against(tmp_path, handle, False) == 1
    base = "/apis/kueue.x-k8s.io/v1beta1/namespaces/ns/workloads"
    assert seen[1:] == [
        ("GET", f"{base}?labelSelector=kueue.x-k8s.io/job-uid%3Duid-9", None),
        ("PATCH", f"{base}/job-t-1-abc", {"spec": {"active": False}})]


def test_no_workload_api_served_means_no_kueue(tmp_path: Path) -> None:
    async def handle(request: web.Request) -> web.Response:
        return web.json_response({"kind": "Status", "reason": "NotFound"}, status=404)

    assert _against(tmp_path, handle, True) is None
