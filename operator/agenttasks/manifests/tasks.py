"""AgentTask objects read into TaskFacts, and status written back as a merge patch."""

from __future__ import annotations

import sys
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agenttasks.api.meta import ANNOTATION_REQUESTED_BY, ANNOTATION_RERUN_OF
from agenttasks.api.task import AgentTaskSpec, AgentTaskStatus
from agenttasks.api.timefmt import parse_time
from agenttasks.core.facts import TaskEntry, TaskFacts, summarize
from agenttasks.core.pipelines import DependencyResult


def describe_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        parts.append(f"spec.{where}: {item['msg']}" if where else item["msg"])
    return "; ".join(parts)


S = TypeVar("S", bound=BaseModel)
T = TypeVar("T", bound=BaseModel)


def parse_spec_status(body: dict[str, Any], spec_model: type[S], status_model: type[T]
                      ) -> tuple[S | None, str | None, T]:
    """The object's spec (None, with the reason, when it does not validate) and its status
    (empty when unreadable: the operator rewrites it)."""
    spec: S | None
    try:
        spec, error = spec_model.model_validate(body.get("spec") or {}), None
    except ValidationError as exc:
        spec, error = None, describe_validation_error(exc)
    try:
        status = status_model.model_validate(body.get("status") or {})
    except ValidationError:
        status = status_model()
    return spec, error, status


def task_facts(body: dict[str, Any]) -> TaskFacts:
    meta = body.get("metadata", {})
    spec, error, status = parse_spec_status(body, AgentTaskSpec, AgentTaskStatus)
    created = parse_time(meta.get("creationTimestamp"))
    assert created is not None
    annotations = meta.get("annotations") or {}
    return TaskFacts(
        namespace=sys.intern(meta["namespace"]),  # one copy for all its tasks
        name=meta["name"],
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation") or 0),
        created=created,
        spec=spec,
        status=status,
        spec_error=error,
        resource_version=str(meta.get("resourceVersion", "")),
        rerun_of=str(annotations.get(ANNOTATION_RERUN_OF) or ""),
        requested_by=str(annotations.get(ANNOTATION_REQUESTED_BY) or ""),
    )


def task_entry(body: dict[str, Any]) -> TaskEntry:
    """What the view keeps of a task: its whole facts, or only its summary once it is
    terminal (its spec and status models are then dropped as soon as they are read)."""
    facts = task_facts(body)
    return summarize(facts) if facts.status.terminal() else facts


def dependency_result(name: str, body: dict[str, Any] | None) -> DependencyResult:
    """What a dependent's pods are told of the task ``name``, read from its object (None: it
    is gone). A status that does not validate is told as none."""
    if body is None:
        return DependencyResult(name)
    try:
        status = AgentTaskStatus.model_validate(body.get("status") or {})
    except ValidationError:
        status = AgentTaskStatus()
    result = status.result
    phase = str(status.phase) if status.phase is not None else None
    return DependencyResult(name, phase, status.reason,
                            result.attempt if result is not None else None,
                            result.message if result is not None else "")


def status_document(status: BaseModel) -> dict[str, Any]:
    return status.model_dump(by_alias=True, exclude_none=True, mode="json")


def status_patch(old: BaseModel, new: BaseModel) -> dict[str, Any] | None:
    """A JSON merge patch from old to new (null removes a field), or None when equal."""
    before, after = status_document(old), status_document(new)
    if before == after:
        return None
    patch: dict[str, Any] = {k: v for k, v in after.items() if before.get(k) != v}
    patch.update({k: None for k in before if k not in after})
    return patch
