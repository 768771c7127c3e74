"""AgentTaskTrigger decisions: whether a trigger can accept deliveries, its status, the
names of delivery tasks, and the delivery counters waiting to be written."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from agenttasks.api.trigger import (
    AgentTaskTriggerSpec,
    AgentTaskTriggerStatus,
    DeliveryCounts,
    SignatureScheme,
    TriggerReason,
)
from agenttasks.core.conditions import set_condition
from agenttasks.core.filters import FilterError, cached_filter
from agenttasks.core.payload import parse_path, task_name
from agenttasks.core.signatures import MalformedSecretError, signing_key


@dataclass(frozen=True)
class TriggerFacts:
    namespace: str
    name: str
    uid: str
    generation: int
    spec: AgentTaskTriggerSpec | None
    status: AgentTaskTriggerStatus
    spec_error: str | None = None
    resource_version: str = ""
    # The taskTemplate exactly as written, so created tasks carry what the user wrote.
    task_template: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def url(self) -> str:
        return f"/hooks/{self.namespace}/{self.name}"


class SecretState(StrEnum):
    FOUND = "Found"
    NOT_FOUND = "NotFound"
    KEY_NOT_FOUND = "KeyNotFound"


@dataclass(frozen=True)
class Readiness:
    """Whether deliveries can be accepted; ``reason``/``message`` say why not."""

    ready: bool
    reason: str = TriggerReason.READY
    message: str = "accepting deliveries"


def readiness(trigger: TriggerFacts, secret: SecretState, secret_value: bytes | None
              ) -> Readiness:
    spec = trigger.spec
    if spec is None:
        return Readiness(False, TriggerReason.INVALID_SPEC, f"the spec is invalid: "
                         f"{trigger.spec_error}")
    ref = spec.secret_ref
    if secret == SecretState.NOT_FOUND:
        return Readiness(False, TriggerReason.SECRET_NOT_FOUND,
                         f"Secret {ref.name!r} (spec.secretRef.name) does not exist")
    if secret == SecretState.KEY_NOT_FOUND or secret_value is None:
        return Readiness(False, TriggerReason.SECRET_KEY_NOT_FOUND,
                         f"Secret {ref.name!r} has no key {ref.key!r} (spec.secretRef.key)")
    try:
        signing_key(spec.signature, secret_value)
    except MalformedSecretError as exc:
        return Readiness(False, TriggerReason.MALFORMED_SECRET,
                         f"Secret {ref.name!r} key {ref.key!r}: {exc}")
    if spec.filter:
        try:
            cached_filter(spec.filter)
        except FilterError as exc:
            return Readiness(False, TriggerReason.INVALID_FILTER, f"spec.filter: {exc}")
    for env, path in spec.params.items():
        try:
            parse_path(path)
        except ValueError as exc:
            return Readiness(False, TriggerReason.INVALID_PARAMS, f"spec.params.{env}: {exc}")
    return Readiness(True)


@dataclass
class PendingCounts:
    """Deliveries counted in memory since the last status write of one trigger."""

    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    last_triggered: datetime | None = None

    def __bool__(self) -> bool:
        return bool(self.accepted or self.duplicate or self.rejected or self.last_triggered)


def trigger_status(trigger: TriggerFacts, ready: Readiness, pending: PendingCounts,
                   now: datetime) -> AgentTaskTriggerStatus:
    old = trigger.status
    counts = DeliveryCounts(accepted=old.deliveries.accepted + pending.accepted,
                            duplicate=old.deliveries.duplicate + pending.duplicate,
                            rejected=old.deliveries.rejected + pending.rejected)
    last = max((t for t in (old.last_triggered_time, pending.last_triggered) if t), default=None)
    conditions = set_condition(old.conditions, "Ready", "True" if ready.ready else "False",
                               ready.reason, ready.message, trigger.generation, now)
    # kstatus (Flux) reads Stalled, not Ready: a trigger that cannot accept is stalled.
    conditions = set_condition(conditions, "Stalled", "False" if ready.ready else "True",
                               ready.reason, ready.message, trigger.generation, now)
    return old.model_copy(update={
        "url": trigger.url, "deliveries": counts, "last_triggered_time": last,
        "conditions": conditions, "observed_generation": trigger.generation})


def delivery_task_names(trigger: TriggerFacts, delivery_id: str, body_sha256: str,
                        now: datetime) -> list[str]:
    """Task names to look for, the one to create first.

    standard-webhooks deliveries map to one name by their id, which is signed. hmac-sha256
    (no id) and github (an id that is not signed, so a replay can carry any id) are named
    by the body's hash in dedupWindow-long buckets; the previous bucket's task counts as the
    same delivery while it is younger than the window, so the window slides instead of
    resetting at a boundary.
    """
    spec = trigger.spec
    assert spec is not None
    if spec.signature == SignatureScheme.STANDARD_WEBHOOKS:
        return [task_name(trigger.name, delivery_id)]
    window = max(1, int(spec.dedup_window.total_seconds()))
    bucket = int(now.timestamp()) // window
    return [task_name(trigger.name, f"{body_sha256}@{b}") for b in (bucket, bucket - 1)]


def delivery_id_digest(trigger: str, delivery_id: str) -> str:
    """A label value naming one delivery id of one trigger, so that a github redelivery
    with the same id is found after the body's window too."""
    return hashlib.sha256(f"{trigger}\0{delivery_id}".encode("utf-8", "surrogatepass")
                          ).hexdigest()[:32]
