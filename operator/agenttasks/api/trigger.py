"""AgentTaskTrigger: creates AgentTasks from authenticated webhook deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from agenttasks.api.concurrency import PARAM_REFERENCE
from agenttasks.api.conditions import Condition, conditions_field
from agenttasks.api.duration import Duration
from agenttasks.api.meta import ApiModel
from agenttasks.api.template import TaskTemplate

MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_FILTER_LENGTH = 2048  # characters of a filter; core.filters bounds its cost further
MAX_TRIGGER_NAME = 40  # Room for "-<hash>" in the names of its tasks.
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class SignatureScheme(StrEnum):
    STANDARD_WEBHOOKS = "standard-webhooks"
    GITHUB = "github"
    HMAC_SHA256 = "hmac-sha256"


class TriggerReason(StrEnum):
    READY = "Ready"
    SECRET_NOT_FOUND = "SecretNotFound"
    SECRET_KEY_NOT_FOUND = "SecretKeyNotFound"
    MALFORMED_SECRET = "MalformedSecret"
    INVALID_FILTER = "InvalidFilter"
    INVALID_PARAMS = "InvalidParams"
    INVALID_SPEC = "InvalidSpec"
    PLAN_RESTRICTED = "PlanRestricted"


class SecretKeyRef(ApiModel):
    """A key of a Secret in the trigger's namespace."""

    name: str = Field(min_length=1, max_length=253, description="The Secret's name.")
    key: str = Field(min_length=1, max_length=253, description="The key within its data.")


class RateLimit(ApiModel):
    """Deliveries accepted per minute; more are answered 429 with Retry-After."""

    per_minute: int = Field(60, ge=1, le=100_000, description="Default 60.")


def key_reference_rule() -> dict[str, str]:
    """CEL: each $(NAME) in taskTemplate.spec.concurrency.key names a param."""
    pattern = PARAM_REFERENCE.replace("\\", "\\\\")
    return {"rule": "!has(self.taskTemplate.spec.concurrency) || "
                    f"self.taskTemplate.spec.concurrency.key.findAll('{pattern}').all(r, "
                    "has(self.params) && r.substring(2, r.size() - 1) in self.params)",
            "message": "each $(NAME) in taskTemplate.spec.concurrency.key must name a key "
                       "of spec.params"}


class AgentTaskTriggerSpec(ApiModel):
    """Who may call the webhook, and the AgentTask each accepted delivery creates."""

    model_config = ConfigDict(**ApiModel.model_config, json_schema_extra=lambda schema: (
        schema.update({"x-kubernetes-validations": [key_reference_rule()]})))

    secret_ref: SecretKeyRef = Field(description="The shared secret that signs deliveries.")
    signature: SignatureScheme = Field(
        SignatureScheme.STANDARD_WEBHOOKS,
        description="standard-webhooks (webhook-id/-timestamp/-signature headers, secret "
        "'whsec_<base64>'), github (X-Hub-Signature-256, X-GitHub-Delivery) or hmac-sha256 "
        "(the hex HMAC of the body in signatureHeader). Default standard-webhooks.")
    signature_header: str = Field(
        "X-Signature-256", min_length=1, max_length=128,
        description="For hmac-sha256: the header carrying the hex HMAC-SHA256 of the body.")
    dedup_window: Duration = Field(
        timedelta(minutes=10),
        description="For hmac-sha256 and github: identical bodies within this window are one "
        "delivery (a github delivery id is not signed, so a replay under a new id is caught "
        "by its body). Default 10m.")
    task_template: TaskTemplate = Field(description="The AgentTask each delivery creates.")
    rate_limit: RateLimit = Field(default_factory=RateLimit, description="Per-minute limit.")
    max_payload_bytes: int = Field(
        MAX_PAYLOAD_BYTES, ge=1, le=MAX_PAYLOAD_BYTES,
        description="Larger bodies are refused with 413. Default and maximum 1 MiB.")
    filter: str | None = Field(
        None, max_length=MAX_FILTER_LENGTH,
        description="A CEL expression over the JSON payload, bound as `body`, such as "
        "'body.action == \"opened\"'. Deliveries it does not hold for create no task.")
    params: dict[str, str] = Field(
        default_factory=dict,
        json_schema_extra={"x-kubernetes-validations": [{
            "rule": f"self.all(k, k.matches('{ENV_NAME_PATTERN}'))",
            "message": "keys must be environment variable names"}]},
        description="Environment variable name → path in the payload (such as "
        "'pull_request.number' or 'commits.0.id'), set on every container of the task; "
        "$(NAME) in taskTemplate.spec.concurrency.key is replaced by the same value.")

    @model_validator(mode="after")
    def _key_references_params(self) -> AgentTaskTriggerSpec:
        # The CEL rule's twin, for objects that reach the operator some other way.
        import re

        concurrency = self.task_template.spec.concurrency
        if concurrency is not None:
            for name in re.findall(PARAM_REFERENCE, concurrency.key):
                if name not in self.params:
                    raise ValueError(f"taskTemplate.spec.concurrency.key refers to $({name}), "
                                     "which is not in spec.params")
        return self


class DeliveryCounts(ApiModel):
    """Deliveries since the trigger was created."""

    accepted: int = Field(0, ge=0, description="Deliveries that created a task (or were "
                          "filtered out).")
    duplicate: int = Field(0, ge=0, description="Repeated deliveries answered with their task.")
    rejected: int = Field(0, ge=0, description="Deliveries refused (4xx).")


class AgentTaskTriggerStatus(ApiModel):
    """Written by the operator only."""

    url: str | None = Field(None, description="The path to POST deliveries to.")
    last_triggered_time: datetime | None = Field(
        None, description="When a delivery last created a task.")
    deliveries: DeliveryCounts = Field(
        default_factory=DeliveryCounts, description="Delivery counters, flushed every few "
        "seconds.")
    conditions: list[Condition] = conditions_field(
        "Ready: False with SecretNotFound, SecretKeyNotFound, MalformedSecret, "
        "InvalidFilter or InvalidParams when deliveries cannot be accepted; Stalled is True "
        "then, for kstatus-aware tools such as Flux.")
    observed_generation: int | None = Field(
        None, description="The metadata.generation the status was computed from.")


def trigger_name_rule() -> dict[str, Any]:
    return {"rule": f"self.metadata.name.size() <= {MAX_TRIGGER_NAME}",
            "message": f"metadata.name must be at most {MAX_TRIGGER_NAME} characters, to leave "
            "room for the suffix of the tasks it creates"}
