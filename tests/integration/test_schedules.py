"""AgentTaskSchedule on the real control plane, with real `* * * * *` fires.

Minute fires are slow to wait for, so one module fixture starts every minute-based
scenario at once; the first test (the operator restart) waits through several fires and
the others then read what happened meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from agenttasks.api.meta import GROUP, LABEL_SCHEDULE, VERSION

from .conftest import OWN_PREFIX, SHARED_PREFIX
from .harness import Api, Operator, kubectl, pod_template, wait_for

PLURAL = "agenttaskschedules"


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _minute(when: datetime) -> int:
    return int(when.timestamp()) // 60


def schedule(name: str, task_duration: str = "1s", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTaskSchedule",
            # As Argo CD's label tracking marks what it manages: tasks must not inherit it.
            "metadata": {"name": name, "labels": {"app.kubernetes.io/instance": "gitops"}},
            "spec": {"schedule": "* * * * *", **spec, "taskTemplate": {
                "metadata": {"labels": {"team": "reports"}},
                "spec": {"template": pod_template(task_duration)}}}}


def create(api: Api, namespace: str, body: dict[str, Any]) -> None:
    api.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def get(api: Api, namespace: str, name: str) -> dict[str, Any]:
    return dict(api.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                        name))


def patch(api: Api, namespace: str, name: str, body: dict[str, Any]) -> None:
    api.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, body)


def tasks_of(api: Api, namespace: str, schedule_name: str) -> list[dict[str, Any]]:
    items = api.custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, "agenttasks",
        label_selector=f"{LABEL_SCHEDULE}={schedule_name}")["items"]
    return sorted(items, key=lambda t: t["metadata"]["name"])


def ready(body: dict[str, Any]) -> dict[str, Any]:
    conditions = (body.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), {})



def wait_until_minute(minute: int, second: float = 3.0) -> None:
    """Sleeps until ``second`` seconds past the start of unix minute ``minute``."""
    time.sleep(max(0.0, minute * 60 + second - time.time()))


@dataclass
class Timeline:
    shared: str
    own: str
    started: datetime


@pytest.fixture(scope="module")
def timeline(api: Api, operator: Operator) -> Iterator[Timeline]:
    shared, own = api.create_namespace(SHARED_PREFIX), api.create_namespace(OWN_PREFIX)
    create(api, shared, schedule("every-minute", concurrencyPolicy="Allow"))
    create(api, shared, schedule("forbid", "1h", concurrencyPolicy="Forbid"))
    create(api, shared, schedule("replace", "1h", concurrencyPolicy="Replace"))
    create(api, shared, schedule("held", suspend=True))
    create(api, own, schedule("catch-up", concurrencyPolicy="Allow"))
    yield Timeline(shared, own, datetime.now(UTC))
    api.delete_namespace(shared)
    api.delete_namespace(own)


def test_missed_fires_after_restart_give_one_catch_up_task(api: Api, timeline: Timeline) -> None:
    ns = timeline.own
    first = Operator(api.operator_kubeconfig, [ns], "schedule-catch-up").start()
    try:
        [task] = wait_for(lambda: tasks_of(api, ns, "catch-up") or None, 75,
                          what="the first fire")
        fired = _minute(_ts(task["metadata"]["annotations"]["agenttasks.io/scheduled-time"]))
    finally:
        first.kill()
    # Down across the next fire (fired + 1); back after the one after it (fired + 2).
    wait_until_minute(fired + 2, 5)
    assert len(tasks_of(api, ns, "catch-up")) == 1, "nothing fires while the operator is down"
    second = Operator(api.operator_kubeconfig, [ns], "schedule-catch-up-restart").start()
    try:
        names = wait_for(lambda: [t["metadata"]["name"] for t in tasks_of(api, ns, "catch-up")]
                         if len(tasks_of(api, ns, "catch-up")) > 1 else None, 30,
                         what="the catch-up task")
        assert names == [f"catch-up-{fired}", f"catch-up-{fired + 2}"], \
            "one catch-up task, for the most recent missed fire"
        # The task is created first and the schedule's status written after it: wait for
        # that write instead of reading status the moment the task appears.
        status = wait_for(lambda: _status_with_missed_fires(api, ns, "catch-up"), 30,
                          what="the schedule's status after the catch-up")
        assert status["missedFires"] == 1
        assert _minute(_ts(status["lastScheduleTime"])) == fired + 2
        api.wait_event(ns, "catch-up", "MissedFires")
        time.sleep(3)
        assert len(tasks_of(api, ns, "catch-up")) == 2, "no burst"
    finally:
        second.stop()


def _status_with_missed_fires(api: Api, ns: str, name: str) -> dict[str, Any] | None:
    status = get(api, ns, name).get("status") or {}
    return status if status.get("missedFires") else None


def test_real_fire_creates_an_owned_labelled_task_on_time(api: Api, timeline: Timeline) -> None:
    ns = timeline.shared
    tasks = wait_for(lambda: tasks_of(api, ns, "every-minute") or None, 75, what="a fire")
    body = get(api, ns, "every-minute")
    for task in tasks:
        meta = task["metadata"]
        scheduled = _ts(meta["annotations"]["agenttasks.io/scheduled-time"])
        assert meta["name"] == f"every-minute-{_minute(scheduled)}"
        assert scheduled.second == 0
        assert meta["labels"][LABEL_SCHEDULE] == "every-minute"
        assert meta["labels"]["team"] == "reports"
        assert "app.kubernetes.io/instance" not in meta["labels"]
        [owner] = meta["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == \
            ("AgentTaskSchedule", body["metadata"]["uid"], True)
        # creationTimestamp has whole seconds: within 1 s means the fire was not late.
        assert (_ts(meta["creationTimestamp"]) - scheduled).total_seconds() <= 1
    status = body["status"]
    assert _ts(status["nextScheduleTime"]) > _ts(status["lastScheduleTime"])
    assert (ready(body)["status"], ready(body)["reason"]) == ("True", "Scheduled")
    first = tasks[0]["metadata"]["name"]
    api.wait_phase(ns, first, "Completed", 60)
    wait_for(lambda: get(api, ns, "every-minute")["status"].get("lastSuccessfulTime"), 30,
             what="lastSuccessfulTime")


def test_forbid_skips_fires_while_its_task_runs(api: Api, timeline: Timeline) -> None:
    ns = timeline.shared
    wait_for(lambda: get(api, ns, "forbid").get("status", {}).get("lastSkippedTime"), 75,
             what="a skipped fire")
    tasks = tasks_of(api, ns, "forbid")
    assert len(tasks) == 1
    status = get(api, ns, "forbid")["status"]
    assert status["active"] == [tasks[0]["metadata"]["name"]]
    api.wait_event(ns, "forbid", "FireSkipped")


def test_replace_cancels_the_running_task(api: Api, timeline: Timeline) -> None:
    ns = timeline.shared
    tasks = wait_for(lambda: tasks_of(api, ns, "replace") if len(
        tasks_of(api, ns, "replace")) >= 2 else None, 75, what="a second fire")
    older, newer = tasks[-2]["metadata"]["name"], tasks[-1]["metadata"]["name"]
    api.wait_phase(ns, older, "Cancelled", 30)
    assert api.status(ns, newer).get("phase") in ("Pending", "InProgress")
    assert get(api, ns, "replace")["status"]["active"] == [newer]
    api.wait_event(ns, "replace", "TaskReplaced")


def test_suspended_schedule_does_not_fire_and_resume_does_not_burst(
        api: Api, timeline: Timeline) -> None:
    ns = timeline.shared
    passed = (datetime.now(UTC) - timeline.started).total_seconds()
    assert passed > 60, "the earlier tests waited through at least one fire"
    body = get(api, ns, "held")
    assert tasks_of(api, ns, "held") == []
    assert ready(body)["reason"] == "Suspended" and "nextScheduleTime" not in body["status"]
    patch(api, ns, "held", {"spec": {"suspend": False}})
    status = wait_for(lambda: get(api, ns, "held")["status"].get("nextScheduleTime") and
                      get(api, ns, "held")["status"], 15, what="resume")
    assert "resumedTime" in status
    time.sleep(2)
    if datetime.now(UTC) < _ts(status["nextScheduleTime"]):
        assert tasks_of(api, ns, "held") == [], "fires due while suspended are not run"


def test_run_now_creates_exactly_one_task_per_token(api: Api, ns: str) -> None:
    create(api, ns, schedule("manual", schedule="0 0 1 1 *"))
    for _ in range(2):  # the same token twice, as a GitOps re-sync would
        kubectl(api.kubeconfig, "annotate", "-n", ns, "--overwrite", "agenttaskschedule",
                "manual", "agenttasks.io/run-now=release-42")
        time.sleep(1)
    [task] = wait_for(lambda: tasks_of(api, ns, "manual") or None, 20, what="manual task")
    assert task["metadata"]["name"].startswith("manual-manual-")
    assert task["metadata"]["annotations"]["agenttasks.io/run-now-token"] == "release-42"
    time.sleep(2)
    assert len(tasks_of(api, ns, "manual")) == 1
    assert get(api, ns, "manual")["status"]["lastRunNowToken"] == "release-42"
    patch(api, ns, "manual", {"metadata": {"annotations": {"agenttasks.io/run-now": "43"}}})
    wait_for(lambda: len(tasks_of(api, ns, "manual")) == 2 or None, 20, what="second token")


def test_history_keeps_the_newest_finished_tasks(api: Api, ns: str) -> None:
    create(api, ns, schedule("hist", schedule="0 0 1 1 *", successfulTasksHistoryLimit=1,
                             failedTasksHistoryLimit=0))
    names = []
    for token in ("a", "b", "c"):
        patch(api, ns, "hist", {"metadata": {"annotations": {"agenttasks.io/run-now": token}}})
        [name] = wait_for(lambda: [t["metadata"]["name"] for t in tasks_of(api, ns, "hist")
                                   if t["metadata"]["name"] not in names] or None, 20,
                          what=f"task for token {token}")
        api.wait_phase(ns, name, "Completed", 60)
        names.append(name)
    wait_for(lambda: [t["metadata"]["name"] for t in tasks_of(api, ns, "hist")] == names[-1:]
             or None, 30, what="older tasks deleted")
    # The pass that sees the last task end deletes the older one first, then writes the
    # schedule's status: wait for that write, not only for the deletion.
    # (lastSuccessfulTime may be there already, from the task before.)
    def settled() -> dict[str, Any] | None:
        status = get(api, ns, "hist").get("status") or {}
        return status if not status.get("active") and "lastSuccessfulTime" in status else None

    wait_for(settled, 30, what="no active task and a lastSuccessfulTime in the status")
    assert [t["metadata"]["name"] for t in tasks_of(api, ns, "hist")] == names[-1:]


def test_invalid_cron_and_zone_are_reported_not_fatal(api: Api, ns: str) -> None:
    create(api, ns, schedule("bad-cron", schedule="61 * * * *"))
    create(api, ns, schedule("bad-zone", timeZone="Mars/Olympus_Mons"))
    create(api, ns, schedule("good", schedule="0 0 1 1 *"))
    def condition_of(name: str) -> dict[str, Any]:
        return wait_for(lambda: ready(get(api, ns, name)) or None, 20, what=f"{name} status")

    for name, field in (("bad-cron", "spec.schedule"), ("bad-zone", "spec.timeZone")):
        condition = condition_of(name)
        assert (condition["status"], condition["reason"]) == ("False", "InvalidSchedule")
        assert condition["message"].startswith(field)
        api.wait_event(ns, name, "InvalidSchedule")
    assert condition_of("good")["status"] == "True"


def test_apply_refuses_a_long_name(api: Api, ns: str) -> None:
    body = schedule("x" * 53)
    result = kubectl(api.kubeconfig, "apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(body),
                     check=False)
    assert result.returncode != 0 and "at most 52 characters" in result.stderr


def test_starter_plan_refuses_schedules(api: Api, own_ns: str) -> None:
    starter = Operator(api.operator_kubeconfig, [own_ns], "schedule-starter",
                       extra=["--plan", "starter"]).start()
    try:
        create(api, own_ns, schedule("refused"))
        patch(api, own_ns, "refused", {"metadata": {"annotations": {
            "agenttasks.io/run-now": "x"}}})
        condition = wait_for(lambda: ready(get(api, own_ns, "refused")) or None, 20,
                             what="refusal")
        assert (condition["status"], condition["reason"]) == ("False", "PlanRestricted")
        api.wait_event(own_ns, "refused", "PlanRestricted")
        assert tasks_of(api, own_ns, "refused") == []
    finally:
        starter.stop()
