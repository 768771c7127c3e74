"""AgentTask: one unit of agent work, run as one batch/v1 Job per attempt."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from agenttasks.api.batch import AttemptItems, BatchPolicy, ItemProgress, batch_rules
from agenttasks.api.concurrency import Concurrency
from agenttasks.api.conditions import Condition, conditions_field
from agenttasks.api.duration import Duration
from agenttasks.api.failure_rules import MAX_RULES, FailureRule
from agenttasks.api.kueue import KueueQueue
from agenttasks.api.meta import NAME_PATTERN, ApiModel

MAX_DEPENDENCIES = 64
HISTORY_LIMIT = 20
MAX_TASK_NAME = 63  # The task's name is a label value on its Jobs and pods.


class Phase(StrEnum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    PAUSED = "Paused"


class Reason(StrEnum):
    """Status reasons. The pinned ones are part of the API; tests outside the repo use them."""

    QUEUED = "Queued"
    WAITING_FOR_DEPENDENCIES = "WaitingForDependencies"
    WAITING_FOR_START_TIME = "WaitingForStartTime"
    RUNNING = "Running"
    PAUSED = "Paused"
    SUCCEEDED = "Succeeded"
    RETRY_SCHEDULED = "RetryScheduled"
    JOB_FAILED = "JobFailed"
    JOB_DELETED = "JobDeleted"
    TIMED_OUT = "TimedOut"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    DEPENDENCY_FAILED = "DependencyFailed"
    DEPENDENCY_CYCLE = "DependencyCycle"
    INVALID_SPEC = "InvalidSpec"
    PLAN_RESTRICTED = "PlanRestricted"
    NOT_PERMITTED = "NotPermitted"
    CANCELLED = "Cancelled"
    NON_RETRYABLE = "NonRetryable"
    """A failure rule with action FailTask matched: no retry, whatever the limit."""
    DISRUPTED = "Disrupted"
    OOM_KILLED = "OOMKilled"
    UNSCHEDULABLE = "Unschedulable"
    IMAGE_PULL_FAILED = "ImagePullFailed"
    POD_CREATE_REFUSED = "PodCreateRefused"
    """Admission (Pod Security, a quota) refused the attempt's pods."""
    START_TIMED_OUT = "StartTimedOut"
    """No pod of the attempt ran within spec.startTimeout, for no reason the pods gave."""
    PARTIALLY_SUCCEEDED = "PartiallySucceeded"
    WAITING_FOR_KUEUE = "WaitingForKueue"
    """The attempt's Job is suspended until Kueue admits it (spec.kueue)."""


class RetryPolicy(ApiModel):
    """How failed attempts are retried. The delay before retry n is
    min(delay * backoffFactor^(n-1), maxDelay)."""

    limit: int = Field(0, ge=0, le=1000, description="Attempts after the first. Default 0.")
    delay: Duration = Field(
        timedelta(seconds=10),
        description="Wait before the first retry: integer seconds or a duration such as "
        "'30s'. Default 10s.")
    backoff_factor: float = Field(
        2.0, ge=1, le=100, description="Multiplies the delay for each further retry. Default 2.")
    max_delay: Duration = Field(
        timedelta(minutes=10), description="Cap on the delay between retries. Default 10m.")
    rules: list[FailureRule] = Field(
        default_factory=list, max_length=MAX_RULES - 1,
        description="Rules for failures, first match wins: on exit codes, disruptions or OOM "
        "kills, retry (the default), FailTask (non-retryable) or Ignore (does not count). "
        "Without a rule for disruptions, a disruption does not count.")


class AgentTaskSpec(ApiModel):
    """What to run, and the rules the operator follows while running it."""

    model_config = ConfigDict(**ApiModel.model_config, json_schema_extra=lambda schema: (
        schema.update({"x-kubernetes-validations": batch_rules()})))

    template: dict[str, Any] = Field(
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
        description="The pod template each attempt runs, as in a Job's spec.template. "
        "restartPolicy defaults to Never.")
    priority: int = Field(
        0, ge=-1_000_000, le=1_000_000,
        description="Higher is granted a slot first when capacity is short. Default 0.")
    concurrency: Concurrency | None = Field(
        None, description="A concurrency key: at most concurrency.limit tasks of this "
        "namespace with the same concurrency.key run at once, whatever the free slots.")
    retries: RetryPolicy = Field(
        default_factory=RetryPolicy, description="Retries of failed attempts, with backoff.")
    timeout: Duration | None = Field(
        None, description="Limit on each attempt, as the Job's activeDeadlineSeconds. An attempt "
        "that exceeds it fails with reason TimedOut, and a retry may follow. While the task is "
        "paused the Job is suspended, and the attempt's clock restarts on resume.")
    deadline: datetime | None = Field(
        None, description="Absolute time (RFC 3339) by which the task must be Completed. After "
        "it the task is Failed with reason DeadlineExceeded, a running Job is stopped, and no "
        "retry starts. It keeps running while the task is paused.")
    start_after: datetime | None = Field(
        None, description="Earliest time (RFC 3339) the first attempt may start. Until then the "
        "task is Pending with reason WaitingForStartTime.")
    depends_on: list[str] = Field(
        default_factory=list, max_length=MAX_DEPENDENCIES,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Names of AgentTasks in the same namespace that must be Completed first.")
    paused: bool = Field(
        False, description="True holds a Pending task and suspends a running Job. The phase is "
        "Paused until it is set back to false.")
    cancelled: bool = Field(
        False, description="True ends a non-terminal task as Cancelled; a running Job is deleted.")
    parallelism: int = Field(1, ge=1, le=10_000, description="Pods running at once. Default 1.")
    completions: int = Field(
        1, ge=1, le=100_000,
        description="Items of the batch: successful pods needed. Above 1 the Job uses Indexed "
        "completion mode; each pod gets its index in JOB_COMPLETION_INDEX and the attempt's "
        "items in AGENTTASK_ITEMS (a retry runs only the items left). Default 1.")
    batch: BatchPolicy | None = Field(
        None, description="Per-item retries, an early stop and partial success, for a batch "
        "(completions above 1). Without it each item still runs to its end.")
    start_timeout: Duration | None = Field(
        None, description="Limit on the time an attempt's pods may take to start running. "
        "An attempt none of whose pods ran by then fails with a reason that says why "
        "(Unschedulable, ImagePullFailed, PodCreateRefused or StartTimedOut), and a retry "
        "may follow.")
    ttl_after_finished: Duration | None = Field(
        None, description="Delete the task (and with it its Jobs and payload) this long after "
        "it is Completed, Failed or Cancelled, like a Job's ttlSecondsAfterFinished. Default: "
        "the operator's --default-ttl-after-finished, or kept.")
    kueue: KueueQueue | None = Field(
        None, description="Hands the task's Jobs to a Kueue LocalQueue: Kueue's admission "
        "decides when they run, in place of the operator's queue and limits. Pause still "
        "works: it deactivates the Job's Kueue Workload (docs/queue.md, Kueue).")
    display_name: str | None = Field(
        None, max_length=256,
        description="A human title, such as 'Daily Sales Report - US Region'.")
    description: str | None = Field(None, max_length=4096, description="What the task is for.")

    @field_validator("template")
    @classmethod
    def _pod_template_shape(cls, template: dict[str, Any]) -> dict[str, Any]:
        # The schema keeps the pod template opaque; the operator merges labels into it, so
        # these parts must at least be objects (the API server checks the rest on the Job).
        metadata, spec = template.get("metadata", {}), template.get("spec", {})
        if not isinstance(metadata, dict) or not isinstance(spec, dict):
            raise ValueError("template.metadata and template.spec must be objects")
        for field in ("labels", "annotations"):
            value = metadata.get(field) or {}
            if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                raise ValueError(f"template.metadata.{field} must map strings to strings")
        for group in ("initContainers", "containers"):  # the operator adds env to each
            containers = spec.get(group) or []
            if not isinstance(containers, list) or not all(
                    isinstance(c, dict) for c in containers):
                raise ValueError(f"template.spec.{group} must be a list of objects")
        return template

    @model_validator(mode="after")
    def _batch_fits(self) -> AgentTaskSpec:
        # The same rules as batch_rules(), for objects that reach the operator some other way.
        batch = self.batch
        if batch is None:
            return self
        if self.completions <= 1:
            raise ValueError("spec.batch applies to batch tasks only: set completions above 1")
        if batch.min_succeeded_items is not None and \
                batch.min_succeeded_items > self.completions:
            raise ValueError("spec.batch.minSucceededItems cannot exceed completions")
        if batch.max_failed_items is not None and batch.max_failed_items >= self.completions:
            raise ValueError("spec.batch.maxFailedItems must be below completions")
        return self

    @field_validator("depends_on")
    @classmethod
    def _names_only(cls, names: list[str]) -> list[str]:
        import re

        for name in names:
            if len(name) > 253 or not re.fullmatch(NAME_PATTERN, name):
                raise ValueError(f"{name!r} is not an AgentTask name in this namespace")
        return names


def task_name_rule() -> dict[str, Any]:
    return {"rule": f"self.metadata.name.size() <= {MAX_TASK_NAME}",
            "message": f"metadata.name must be at most {MAX_TASK_NAME} characters: it labels "
            "the task's Jobs and pods, and label values allow no more"}


DEPENDS_ON_ITEM_SCHEMA = {"type": "string", "maxLength": 253, "pattern": NAME_PATTERN}


class Progress(ApiModel):
    """How far the current attempt has come."""

    completed: int = Field(0, ge=0, description="Units of work done.")
    total: int = Field(0, ge=0, description="Units of work in all.")
    percent: int = Field(0, ge=0, le=100, description="completed / total, as a whole percent.")
    message: str | None = Field(None, max_length=1024,
                                description="What the agent is doing now.")
    attempt: int | None = Field(
        None, description="The attempt whose agent reported this progress itself (POST "
        "/progress); empty when the operator counts completed pods.")
    items: ItemProgress | None = Field(
        None, description="A batch task's items over all attempts: succeeded, failed, left.")


class AttemptRecord(ApiModel):
    """One finished attempt."""

    attempt: int = Field(description="1 for the first attempt.")
    job_name: str = Field(description="The Job that ran it.")
    start_time: datetime | None = Field(None, description="When its Job was created.")
    completion_time: datetime | None = Field(None, description="When it finished.")
    result: str = Field(description="Succeeded or Failed.")
    reason: str = Field(description="Why it ended, in one CamelCase word.")
    message: str = Field("", description="Details.")
    exit_code: int | None = Field(None, description="The failed container's exit code.")
    rule: str | None = Field(
        None, description="The failure rule that matched, such as 'retries.rules[0]'.")
    counted: bool = Field(
        True, description="False when a rule said this failure does not use up a retry.")
    items: AttemptItems | None = Field(None, description="A batch attempt's items.")
    memory: dict[str, str] | None = Field(
        None, description="Memory limit per container this attempt ran with, when a rule "
        "raises it after an OOM kill.")


class TaskResult(ApiModel):
    """What the last finished attempt said it produced."""

    attempt: int = Field(description="The attempt whose container said it.")
    message: str = Field(
        "", max_length=4096,
        description="The container's termination message (terminationMessagePath), such as "
        "a summary or the URL of a report; at most 4 KiB.")


class AgentTaskStatus(ApiModel):
    """Written by the operator only."""

    phase: Phase | None = Field(
        None, description="Pending, InProgress, Completed, Failed, Cancelled or Paused.")
    reason: str | None = Field(None, description="Why the task is in this phase: one word.")
    message: str | None = Field(None, description="A sentence a person can act on.")
    attempts: int = Field(0, ge=0, description="Attempts started.")
    job_name: str | None = Field(None, description="The current or last attempt's Job.")
    start_time: datetime | None = Field(None, description="When the first attempt started.")
    completion_time: datetime | None = Field(None, description="When the task became terminal.")
    next_retry_time: datetime | None = Field(
        None, description="When the next attempt may start, while a retry is scheduled.")
    progress: Progress | None = Field(None, description="Progress of the current attempt.")
    result: TaskResult | None = Field(
        None, description="The termination message of the last finished attempt.")
    history: list[AttemptRecord] = Field(
        default_factory=list, max_length=HISTORY_LIMIT,
        description=f"Finished attempts, newest last; at most {HISTORY_LIMIT}.")
    conditions: list[Condition] = conditions_field(
        "Complete and Failed as on Jobs, plus Ready, Reconciling and Stalled for "
        "kstatus-aware tools such as Flux.")
    observed_generation: int | None = Field(
        None, description="The metadata.generation the status was computed from.")

    def terminal(self) -> bool:
        return is_terminal(self.phase, self.reason)


def is_terminal(phase: Phase | str | None, reason: str | None) -> bool:
    if phase in (Phase.COMPLETED, Phase.CANCELLED):
        return True
    return phase == Phase.FAILED and reason != Reason.RETRY_SCHEDULED
