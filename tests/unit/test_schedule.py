"""The AgentTaskSchedule decision, over plain data and an explicit clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from agenttasks.api.conditions import Condition
from agenttasks.api.schedule import AgentTaskScheduleSpec, AgentTaskScheduleStatus
from agenttasks.core.actions import Emit
from agenttasks.core.plans import Plan, refusal
from agenttasks.core.schedule import (
    CancelTask,
    ChildFacts,
    CreateTask,
    DeleteTask,
    ScheduleFacts,
    decide_schedule,
)

CREATED = datetime(2026, 11, 25, 8, 0, 30, tzinfo=UTC)
TEMPLATE = {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}}}


def schedule(status: AgentTaskScheduleStatus | None = None, token: str | None = None,
             **spec: Any) -> ScheduleFacts:
    body = {"schedule": "*/5 * * * *", "taskTemplate": TEMPLATE, **spec}
    return ScheduleFacts(namespace="ns", name="report", uid="uid-s", generation=1,
                         created=CREATED, spec=AgentTaskScheduleSpec.model_validate(body),
                         status=status or AgentTaskScheduleStatus(), run_now_token=token)


def child(name: str, phase: str | None = "InProgress", terminal: bool = False,
          at: datetime = CREATED, **kw: Any) -> ChildFacts:
    return ChildFacts(name=name, owner_uid="uid-s", created=at, phase=phase, terminal=terminal,
                      scheduled_time=at, **kw)


def at(minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 25, 8, minute, second, tzinfo=UTC)


def creates(decision: Any) -> list[CreateTask]:
    return [a for a in decision.actions if isinstance(a, CreateTask)]


def reasons(decision: Any) -> list[str]:
    return [a.reason for a in decision.actions if isinstance(a, Emit)]


def ready(decision: Any) -> Condition:
    return next(c for c in decision.status.conditions if c.type == "Ready")


def test_before_the_first_fire_it_waits_for_it() -> None:
    d = decide_schedule(schedule(), [], at(3))
    assert creates(d) == [] and d.wake_at == at(5) and d.status.next_schedule_time == at(5)
    assert (ready(d).status, ready(d).reason) == ("True", "Scheduled")


def test_fire_creates_a_task_named_after_the_minute() -> None:
    d = decide_schedule(schedule(), [], at(5, 0))
    minutes = int(at(5).timestamp()) // 60
    assert creates(d) == [CreateTask(f"report-{minutes}", scheduled_time=at(5))]
    assert d.status.last_schedule_time == at(5) and d.status.next_schedule_time == at(10)
    assert d.status.active == [f"report-{minutes}"]
    assert reasons(d) == []  # a routine fire posts no Event


def test_the_same_fire_is_not_repeated_once_recorded() -> None:
    first = decide_schedule(schedule(), [], at(5))
    again = decide_schedule(schedule(first.status), [], at(5, 1))
    assert creates(again) == []


def test_crash_before_status_write_recreates_the_same_name() -> None:
    # Nothing recorded: the decision repeats with the same deterministic name (the shell
    # then adopts the task the API server already has).
    a = decide_schedule(schedule(), [], at(5, 0))
    b = decide_schedule(schedule(), [], at(5, 3))
    assert creates(a) == creates(b)


def test_forbid_skips_while_a_task_runs() -> None:
    status = AgentTaskScheduleStatus(last_schedule_time=at(5))
    d = decide_schedule(schedule(status), [child("report-a", at=at(5))], at(10))
    assert creates(d) == [] and d.status.last_skipped_time == at(10)
    assert "FireSkipped" in reasons(d)
    assert decide_schedule(schedule(d.status), [child("report-a")], at(10, 5)).actions == ()


def test_allow_creates_alongside() -> None:
    status = AgentTaskScheduleStatus(last_schedule_time=at(5))
    d = decide_schedule(schedule(status, concurrencyPolicy="Allow"), [child("report-a")], at(10))
    assert len(creates(d)) == 1 and len(d.status.active) == 2


def test_replace_cancels_then_creates() -> None:
    status = AgentTaskScheduleStatus(last_schedule_time=at(5))
    d = decide_schedule(schedule(status, concurrencyPolicy="Replace"), [child("report-a")],
                        at(10))
    kinds = [type(a).__name__ for a in d.actions if not isinstance(a, Emit)]
    assert kinds == ["CancelTask", "CreateTask"]
    assert CancelTask("report-a") in d.actions and "TaskReplaced" in reasons(d)


def test_finished_tasks_do_not_block_forbid() -> None:
    status = AgentTaskScheduleStatus(last_schedule_time=at(5))
    done = child("report-a", phase="Completed", terminal=True, completion_time=at(7))
    d = decide_schedule(schedule(status), [done], at(10))
    assert len(creates(d)) == 1 and d.status.last_successful_time == at(7)


def test_downtime_runs_only_the_most_recent_missed_fire() -> None:
    status = AgentTaskScheduleStatus(last_schedule_time=at(5))
    d = decide_schedule(schedule(status), [], at(27))  # fires at 10, 15, 20 and 25 missed
    assert [c.scheduled_time for c in creates(d)] == [at(25)]
    assert d.status.missed_fires == 3 and "MissedFires" in reasons(d)


def test_starting_deadline_skips_a_fire_too_late() -> None:
    status = AgentTaskScheduleStatus(last_schedule_time=at(5))
    late = decide_schedule(schedule(status, startingDeadline="60s"), [], at(27))
    assert creates(late) == [] and late.status.last_skipped_time == at(25)
    assert late.status.missed_fires == 4
    in_time = decide_schedule(schedule(status, startingDeadline="3m"), [], at(27))
    assert [c.scheduled_time for c in creates(in_time)] == [at(25)]


def test_suspend_stops_fires_and_resume_skips_what_fell_due() -> None:
    status = AgentTaskScheduleStatus(last_schedule_time=at(5))
    held = decide_schedule(schedule(status, suspend=True), [], at(10))
    assert creates(held) == [] and held.wake_at is None
    assert ready(held).reason == "Suspended"
    resumed = decide_schedule(schedule(held.status), [], at(22))
    assert creates(resumed) == [] and resumed.status.resumed_time == at(22)
    assert resumed.wake_at == at(25)
    after = decide_schedule(schedule(resumed.status), [], at(25))
    assert [c.scheduled_time for c in creates(after)] == [at(25)]


def test_run_now_creates_one_task_per_token() -> None:
    d = decide_schedule(schedule(token="abc"), [], at(3))
    [task] = creates(d)
    assert task.name.startswith("report-manual-") and task.run_now_token == "abc"
    assert d.status.last_run_now_token == "abc"
    assert creates(decide_schedule(schedule(d.status, token="abc"), [], at(4))) == []
    assert creates(decide_schedule(schedule(d.status, token="xyz"), [], at(4)))[0].name != \
        task.name


def test_run_now_works_while_suspended() -> None:
    assert len(creates(decide_schedule(schedule(token="t", suspend=True), [], at(3)))) == 1


def test_history_keeps_the_newest() -> None:
    done = [child(f"ok-{i}", phase="Completed", terminal=True, at=at(i)) for i in range(5)]
    bad = [child(f"bad-{i}", phase="Failed", terminal=True, at=at(i)) for i in range(3)]
    bad.append(child("gone", phase="Cancelled", terminal=True, at=at(9)))
    d = decide_schedule(schedule(), done + bad, at(3))
    deleted = {a.name for a in d.actions if isinstance(a, DeleteTask)}
    assert deleted == {"ok-0", "ok-1", "bad-0", "bad-1", "bad-2"}


def test_other_owners_tasks_are_ignored() -> None:
    stranger = replace(child("x", phase="Completed", terminal=True), owner_uid="other")
    d = decide_schedule(schedule(successfulTasksHistoryLimit=0), [stranger], at(3))
    assert not [a for a in d.actions if isinstance(a, DeleteTask)]


def test_invalid_cron_is_reported_once() -> None:
    d = decide_schedule(schedule(schedule="61 * * * *"), [], at(5))
    assert creates(d) == [] and d.wake_at is None
    assert (ready(d).status, ready(d).reason) == ("False", "InvalidSchedule")
    assert "spec.schedule" in ready(d).message and reasons(d) == ["InvalidSchedule"]
    again = decide_schedule(schedule(d.status, schedule="61 * * * *"), [], at(6))
    assert reasons(again) == []


def test_invalid_time_zone_names_the_field() -> None:
    d = decide_schedule(schedule(timeZone="Nowhere/Land"), [], at(5))
    assert ready(d).reason == "InvalidSchedule" and "spec.timeZone" in ready(d).message


def test_fixed_schedule_does_not_fire_for_what_was_due_while_invalid() -> None:
    bad = decide_schedule(schedule(schedule="61 * * * *"), [], at(2))
    fixed = decide_schedule(schedule(bad.status), [], at(7))
    assert creates(fixed) == [] and fixed.wake_at == at(10)


def test_starter_plan_refuses_schedules() -> None:
    why = refusal(Plan.STARTER, "AgentTaskSchedule")
    d = decide_schedule(schedule(token="x"), [], at(5), plan_refusal=why)
    assert creates(d) == [] and ready(d).reason == "PlanRestricted"
    assert refusal(Plan.GROWTH, "AgentTaskSchedule") is None


def test_time_zone_moves_the_fire() -> None:
    d = decide_schedule(schedule(schedule="0 3 * * *", timeZone="Asia/Tokyo"), [], at(3))
    assert d.wake_at == datetime(2026, 11, 25, 18, 0, tzinfo=UTC)  # 03:00 JST next day
    assert d.status.next_schedule_time == d.wake_at
