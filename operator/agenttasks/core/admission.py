"""What the validating admission webhook refuses: the checks CEL cannot do in the CRD.
Each returns the reason a person reads at `kubectl apply`, or None to admit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from agenttasks.api.schedule import AgentTaskScheduleSpec
from agenttasks.api.task import AgentTaskSpec
from agenttasks.api.trigger import AgentTaskTriggerSpec
from agenttasks.core.cron import ScheduleError, parse
from agenttasks.core.dependencies import find_cycle
from agenttasks.core.filters import FilterError, cached_filter
from agenttasks.core.payload import parse_path
from agenttasks.core.plans import Plan, refusal, task_refusal


def check_task(name: str, spec: dict[str, Any], plan: Plan,
               depends_on_of: Callable[[str], Sequence[str]]) -> str | None:
    """Plan gating, and a dependsOn that would close a cycle with the existing tasks."""
    try:
        parsed = AgentTaskSpec.model_validate(spec)
    except ValidationError:
        return None  # the schema has already said what is wrong
    why = task_refusal(plan, parsed)
    if why:
        return why
    if parsed.depends_on:
        def edges(node: str) -> Sequence[str]:
            return parsed.depends_on if node == name else depends_on_of(node)

        cycle = find_cycle(name, edges)
        if cycle:
            return "spec.dependsOn would close a cycle: " + " -> ".join(cycle)
    return None


def check_schedule(spec: dict[str, Any], plan: Plan) -> str | None:
    why = refusal(plan, "AgentTaskSchedule")
    if why:
        return why
    try:
        parsed = AgentTaskScheduleSpec.model_validate(spec)
        parse(parsed.schedule, parsed.time_zone)
    except ValidationError:
        return None
    except ScheduleError as exc:
        return str(exc)
    return None


def check_trigger(spec: dict[str, Any]) -> str | None:
    try:
        parsed = AgentTaskTriggerSpec.model_validate(spec)
    except ValidationError:
        return None
    if parsed.filter:
        try:
            cached_filter(parsed.filter)
        except FilterError as exc:
            return f"spec.filter: {exc}"
    for env, path in parsed.params.items():
        try:
            parse_path(path)
        except ValueError as exc:
            return f"spec.params.{env}: {exc}"
    return None
