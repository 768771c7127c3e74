"""AgentTaskSchedules and the AgentTasks they create, between JSON and facts."""

from __future__ import annotations

import copy
import sys
from typing import Any

from agenttasks.api.meta import (
    ANNOTATION_RUN_NOW,
    ANNOTATION_RUN_NOW_TOKEN,
    ANNOTATION_SCHEDULED_TIME,
    API_VERSION,
    LABEL_MANAGED_BY,
    LABEL_SCHEDULE,
    MANAGER_NAME,
)
from agenttasks.api.schedule import AgentTaskScheduleSpec, AgentTaskScheduleStatus
from agenttasks.api.task import is_terminal
from agenttasks.api.timefmt import format_time, parse_time
from agenttasks.core.schedule import ChildFacts, CreateTask, ScheduleFacts
from agenttasks.manifests.owners import controller_reference, controller_uid
from agenttasks.manifests.tasks import parse_spec_status


def schedule_facts(body: dict[str, Any]) -> ScheduleFacts:
    meta = body.get("metadata", {})
    spec, error, status = parse_spec_status(body, AgentTaskScheduleSpec,
                                            AgentTaskScheduleStatus)
    created = parse_time(meta.get("creationTimestamp"))
    assert created is not None
    token = (meta.get("annotations") or {}).get(ANNOTATION_RUN_NOW) or None
    return ScheduleFacts(
        namespace=meta["namespace"], name=meta["name"], uid=meta.get("uid", ""),
        generation=int(meta.get("generation") or 0), created=created, spec=spec,
        status=status, spec_error=error, run_now_token=token,
        resource_version=str(meta.get("resourceVersion", "")),
        task_template=(body.get("spec") or {}).get("taskTemplate") or {})


def child_facts(body: dict[str, Any]) -> ChildFacts:
    meta = body.get("metadata", {})
    status = body.get("status") or {}
    created = parse_time(meta.get("creationTimestamp"))
    assert created is not None
    return ChildFacts(
        name=meta["name"], owner_uid=_intern(controller_uid(body)), created=created,
        phase=_intern(status.get("phase")),
        terminal=is_terminal(status.get("phase"), status.get("reason")),
        scheduled_time=parse_time((meta.get("annotations") or {}).get(ANNOTATION_SCHEDULED_TIME)),
        completion_time=parse_time(status.get("completionTime")),
        cancel_requested=bool((body.get("spec") or {}).get("cancelled")))


def build_task(schedule: ScheduleFacts, action: CreateTask) -> dict[str, Any]:
    """The AgentTask for one fire, from the template exactly as the user wrote it."""
    template = copy.deepcopy(schedule.task_template)
    template_meta = template.get("metadata") or {}
    labels = {**(template_meta.get("labels") or {}), LABEL_SCHEDULE: schedule.name,
              LABEL_MANAGED_BY: MANAGER_NAME}
    annotations = dict(template_meta.get("annotations") or {})
    if action.scheduled_time is not None:
        annotations[ANNOTATION_SCHEDULED_TIME] = format_time(action.scheduled_time)
    if action.run_now_token is not None:
        annotations[ANNOTATION_RUN_NOW_TOKEN] = action.run_now_token
    return {
        "apiVersion": API_VERSION,
        "kind": "AgentTask",
        "metadata": {
            "name": action.name,
            "namespace": schedule.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [controller_reference("AgentTaskSchedule", schedule.name,
                                                     schedule.uid)],
        },
        "spec": template["spec"],
    }


def _intern(text: Any) -> Any:
    """A schedule's uid and a phase are repeated by each of its many children: one copy."""
    return sys.intern(text) if isinstance(text, str) else text
