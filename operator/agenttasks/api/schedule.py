"""AgentTaskSchedule: creates AgentTasks on a cron schedule, in a time zone."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from agenttasks.api.conditions import Condition, conditions_field
from agenttasks.api.duration import Duration
from agenttasks.api.meta import ApiModel
from agenttasks.api.template import TaskTemplate

MAX_SCHEDULE_NAME = 52  # Room for the "-<minutes>" or "-manual-<hash>" of its tasks.


class ConcurrencyPolicy(StrEnum):
    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


class ScheduleReason(StrEnum):
    """Reasons in a schedule's conditions and Events."""

    SCHEDULED = "Scheduled"
    SUSPENDED = "Suspended"
    INVALID_SCHEDULE = "InvalidSchedule"
    PLAN_RESTRICTED = "PlanRestricted"
    RUN_NOW = "RunNow"
    FIRE_SKIPPED = "FireSkipped"
    MISSED_FIRES = "MissedFires"
    TASK_REPLACED = "TaskReplaced"
    TASK_DELETED = "TaskDeleted"
    TASK_CREATE_FAILED = "TaskCreateFailed"


class AgentTaskScheduleSpec(ApiModel):
    """When to create AgentTasks, and what to do with the ones still running."""

    schedule: str = Field(
        min_length=1, max_length=256,
        description="Five-field cron (minute hour day-of-month month day-of-week), or one of "
        "@hourly, @daily, @weekly, @monthly, @yearly. Read in timeZone.")
    time_zone: str = Field(
        "UTC", min_length=1, max_length=64,
        description="IANA time zone the schedule is read in, such as 'America/New_York'. "
        "Default UTC. See docs/schedule.md for daylight-saving transitions.")
    concurrency_policy: ConcurrencyPolicy = Field(
        ConcurrencyPolicy.FORBID,
        description="While a task created by this schedule is not yet terminal: Allow creates "
        "the next one anyway, Forbid skips the fire, Replace cancels the running task and "
        "creates the new one. Default Forbid.")
    starting_deadline: Duration | None = Field(
        None, description="A fire missed by more than this (operator down, say) is skipped. "
        "Without it, the most recent missed fire always runs once.")
    suspend: bool = Field(
        False, description="True stops new fires. Fires due while suspended are skipped, "
        "not run on resume.")
    successful_tasks_history_limit: int = Field(
        3, ge=0, le=100, description="Completed tasks to keep; older ones are deleted.")
    failed_tasks_history_limit: int = Field(
        1, ge=0, le=100, description="Failed or Cancelled tasks to keep; older ones are deleted.")
    task_template: TaskTemplate = Field(description="The AgentTask to create on each fire.")


class AgentTaskScheduleStatus(ApiModel):
    """Written by the operator only."""

    last_schedule_time: datetime | None = Field(
        None, description="The scheduled time of the newest task this schedule created.")
    next_schedule_time: datetime | None = Field(
        None, description="When the schedule fires next; empty while suspended or invalid.")
    last_successful_time: datetime | None = Field(
        None, description="When a task of this schedule last completed successfully.")
    last_skipped_time: datetime | None = Field(
        None, description="The scheduled time of the newest fire that created no task.")
    missed_fires: int = Field(
        0, ge=0, description="Fires missed while the operator was down, at the last catch-up.")
    last_run_now_token: str | None = Field(
        None, description="The agenttasks.io/run-now token that was last acted on.")
    resumed_time: datetime | None = Field(
        None, description="When the operator saw the schedule resumed; earlier fires are skipped.")
    active: list[str] = Field(
        default_factory=list, description="Names of this schedule's tasks that are not terminal.")
    conditions: list[Condition] = conditions_field(
        "Ready (False with InvalidSchedule or PlanRestricted when it cannot fire), "
        "and Stalled (True in those cases) for kstatus-aware tools such as Flux.")
    observed_generation: int | None = Field(
        None, description="The metadata.generation the status was computed from.")


def schedule_name_rule() -> dict[str, Any]:
    return {"rule": f"self.metadata.name.size() <= {MAX_SCHEDULE_NAME}",
            "message": f"metadata.name must be at most {MAX_SCHEDULE_NAME} characters, to leave "
            "room for the suffix of the tasks it creates"}
