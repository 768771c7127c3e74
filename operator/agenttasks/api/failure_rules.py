"""Rules for failed pods and attempts (spec.retries.rules): which failures are worth a
retry, which end the task at once, and which do not count.

Within an attempt they become the Job's podFailurePolicy, so that the Job controller acts
on them pod by pod; between attempts the operator matches the same rules against the
failed pod it read, so the decision and its record name the rule either way.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field, model_validator

from agenttasks.api.meta import ApiModel

MAX_RULES = 20  # the Job's podFailurePolicy allows 20 rules; one is kept for the default
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"


class RuleAction(StrEnum):
    RETRY = "Retry"
    """Counts against retries.limit (and an item's itemRetries): what any failure does."""
    FAIL_TASK = "FailTask"
    """Non-retryable: the task fails at once, whatever retries are left."""
    IGNORE = "Ignore"
    """Does not count: the pod runs again, or the attempt is retried without using up one."""


class MemoryRaise(ApiModel):
    """Raise the memory of the next attempt after an OOM kill."""

    factor: float = Field(
        2.0, ge=1.1, le=16,
        description="Each container's memory request and limit are multiplied by this for "
        "each attempt killed for memory before. Default 2.")
    max: str = Field(
        pattern=QUANTITY_PATTERN, max_length=32,
        description="Cap on a container's raised memory limit, such as '8Gi'.")


class FailureRule(ApiModel):
    """One rule: exactly one of exitCodes, onDisruption and onOOMKilled, and an action."""

    model_config = ConfigDict(**ApiModel.model_config, json_schema_extra=lambda schema: (
        schema.update({"x-kubernetes-validations": failure_rule_rules()})))

    exit_codes: list[int] | None = Field(
        None, min_length=1, max_length=255,
        json_schema_extra={"x-kubernetes-list-type": "set",
                           "items": {"type": "integer", "minimum": 1, "maximum": 255}},
        description="Matches a pod whose container ended with one of these exit codes.")
    container: str | None = Field(
        None, max_length=63,
        description="With exitCodes: only this container's exit code counts. Default: any.")
    on_disruption: bool = Field(
        False, description="Matches a pod stopped by eviction, preemption or node loss (its "
        "DisruptionTarget condition). By default these do not count.")
    on_oom_killed: bool = Field(
        False, alias="onOOMKilled",
        description="Matches an attempt whose container was killed for memory (OOMKilled), "
        "decided between attempts.")
    action: RuleAction = Field(description="Retry, FailTask or Ignore.")
    raise_memory: MemoryRaise | None = Field(
        None, description="With onOOMKilled and action Retry: the retry runs with more memory.")

    @model_validator(mode="after")
    def _one_kind(self) -> FailureRule:
        # The same rules as the CEL ones, for objects that reach the operator some other way.
        kinds = [self.exit_codes is not None, self.on_disruption, self.on_oom_killed]
        if sum(kinds) != 1:
            raise ValueError("a rule names exactly one of exitCodes, onDisruption and "
                             "onOOMKilled")
        if self.container is not None and self.exit_codes is None:
            raise ValueError("container narrows exitCodes; it needs exitCodes")
        if self.raise_memory is not None and not (
                self.on_oom_killed and self.action == RuleAction.RETRY):
            raise ValueError("raiseMemory needs onOOMKilled and action Retry")
        if self.exit_codes is not None and not all(1 <= c <= 255 for c in self.exit_codes):
            raise ValueError("exit codes are 1 to 255")
        return self

    def describe(self) -> str:
        if self.exit_codes is not None:
            where = f" of container {self.container}" if self.container else ""
            return f"exit code{'s' if len(self.exit_codes) > 1 else ''}{where} " + \
                ", ".join(str(c) for c in self.exit_codes)
        return "a disruption" if self.on_disruption else "an OOM kill"


def failure_rule_rules() -> list[dict[str, str]]:
    """CEL rules on one FailureRule."""
    return [
        {"rule": "(has(self.exitCodes) ? 1 : 0) + "
                 "((has(self.onDisruption) && self.onDisruption) ? 1 : 0) + "
                 "((has(self.onOOMKilled) && self.onOOMKilled) ? 1 : 0) == 1",
         "message": "a rule names exactly one of exitCodes, onDisruption and onOOMKilled"},
        {"rule": "!has(self.container) || has(self.exitCodes)",
         "message": "container narrows exitCodes; it needs exitCodes"},
        {"rule": "!has(self.raiseMemory) || ((has(self.onOOMKilled) && self.onOOMKilled) && "
                 "self.action == 'Retry')",
         "message": "raiseMemory needs onOOMKilled and action Retry"},
    ]
