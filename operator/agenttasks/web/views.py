"""The dashboard's four views, read from the operator's in-memory view after the user's
SubjectAccessReviews allow it, and rendered to HTML fragments."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from markupsafe import Markup

from agenttasks.actions import ObjectWriter
from agenttasks.api.meta import NAME_PATTERN
from agenttasks.core.facts import TaskSummary
from agenttasks.core.privilege import UserInfo
from agenttasks.core.queue_view import QueueView
from agenttasks.core.schedule import ChildFacts, ScheduleFacts
from agenttasks.core.triggers import TriggerFacts

from .access import (
    NAMESPACE_PATTERN,
    events_access,
    get_task_access,
    list_access,
)
from .auth import DashboardError, Gate, Reviews
from .dag import layout, render_svg
from .feed import ChangeFeed
from .fragments import (
    queue_fragment,
    schedules_fragment,
    task_detail_fragment,
    tasks_fragment,
    triggers_fragment,
)
from .tables import (
    MAX_ROWS,
    PHASES,
    filter_tasks,
    in_scope,
    schedule_row,
    task_row,
    trigger_row,
    visible,
)
from .templating import task_path

VIEWS = ("tasks", "task", "schedules", "triggers", "queue")
EVENTS_REFRESH_S = 5.0  # a task's Events are not in the view (nor the feed): fetched this often


class DashboardKube(Reviews, ObjectWriter, Protocol):
    """The operator's own client calls the dashboard makes once a review allows them:
    reviews, the actions' reads and writes (agenttasks.actions), and Events."""

    async def list_events(self, namespace: str, kind: str, name: str,
                          limit: int = 200) -> list[dict[str, Any]]: ...


Key = tuple[str, str]


class TaskSource(Protocol):
    def task_keys(self) -> list[Key]: ...
    def summary(self, key: Key) -> TaskSummary | None: ...


class ScheduleSource(Protocol):
    def keys(self) -> list[Key]: ...
    def schedule(self, key: Key) -> ScheduleFacts | None: ...
    def children(self, key: Key) -> list[ChildFacts]: ...


class QueueProvider(Protocol):
    def current(self) -> QueueView: ...


class TriggerSource(Protocol):
    def keys(self) -> list[Key]: ...
    def get(self, key: Key) -> TriggerFacts | None: ...


@dataclass
class Sources:
    """The operator's in-memory state (runtime.view, schedule_view, trigger_index), seen
    through small protocols so that web/ does not depend on controller/, and the feed that
    tells which of it changed (the composition root calls ``feed.changed`` from the
    informers' handlers)."""

    tasks: TaskSource
    schedules: ScheduleSource
    triggers: TriggerSource
    watches: Callable[[str], bool]
    feed: ChangeFeed = field(default_factory=ChangeFeed)
    queue: QueueProvider | None = None
    """The visible queue (controller/queue_source.py); None: no Queue view."""

    def task_facts(self) -> list[TaskSummary]:
        found = (self.tasks.summary(key) for key in self.tasks.task_keys()
                 if self.watches(key[0]))
        return [f for f in found if f is not None]


def check_namespace(value: str, required: bool = False) -> str:
    if not value and not required:
        return ""
    if not NAMESPACE_PATTERN.match(value):
        raise DashboardError(400, f"{value!r} is not a namespace name")
    return value


def check_name(value: str) -> str:
    if len(value) > 253 or not re.fullmatch(NAME_PATTERN, value):
        raise DashboardError(400, f"{value!r} is not an object name")
    return value


def view_params(kind: str, query: Mapping[str, str]) -> dict[str, str]:
    """The validated parameters of a view: namespace (and phase), or namespace and name."""
    if kind not in VIEWS:
        raise DashboardError(404, f"no view {kind!r}")
    if kind == "task":
        return {"namespace": check_namespace(query.get("namespace", ""), required=True),
                "name": check_name(query.get("name", ""))}
    params = {"namespace": check_namespace(query.get("namespace", "").strip())}
    if kind == "tasks":
        phase = query.get("phase", "")
        if phase and phase not in PHASES:
            raise DashboardError(400, f"{phase!r} is not a phase")
        params["phase"] = phase
    return params


class Views:
    def __init__(self, kube: DashboardKube, sources: Sources, gate: Gate) -> None:
        self.kube, self.sources, self.gate = kube, sources, gate

    # --- rendering, after authorization -----------------------------------------------------
    async def render(self, kind: str, user: UserInfo | None, params: Mapping[str, str],
                     base_url: str = "") -> dict[str, Any]:
        if kind == "tasks":
            html = await self.tasks(user, params["namespace"], params.get("phase", ""))
        elif kind == "task":
            html = await self.task(user, params["namespace"], params["name"])
        elif kind == "schedules":
            html = await self.schedules(user, params["namespace"])
        elif kind == "queue":
            html = await self.queue(user, params["namespace"])
        else:
            html = await self.triggers(user, params["namespace"], base_url)
        return {"html": html}

    async def _scope(self, user: UserInfo | None, resource: str, namespace: str,
                     present: set[str]) -> tuple[frozenset[str] | None, str]:
        scope = await self.gate.readable(user, resource, namespace, present)
        note = ""
        if scope is not None and not namespace:
            shown = sorted(scope & present)
            note = (f"Only the namespaces where you may list {resource}: {', '.join(shown)}."
                    if shown else f"You may list {resource} in none of these namespaces.")
        return scope, note

    async def tasks(self, user: UserInfo | None, namespace: str, phase: str) -> str:
        facts = self.sources.task_facts()
        present = {f.namespace for f in facts}
        scope, note = await self._scope(user, "agenttasks", namespace, present)
        chosen = filter_tasks((task_row(f) for f in facts), scope, namespace, phase)
        namespaces = present if scope is None else present & scope
        return tasks_fragment(chosen[:MAX_ROWS], len(chosen), namespaces, note)

    async def task(self, user: UserInfo | None, namespace: str, name: str) -> str:
        await self.gate.require(user, get_task_access(namespace, name))
        if not self.sources.watches(namespace):
            raise DashboardError(404, f"the operator does not watch namespace {namespace!r}")
        body, may_events, may_list = await asyncio.gather(
            self.kube.get_object("agenttasks", namespace, name),
            self.gate.allows(user, events_access(namespace)),
            self.gate.allows(user, list_access("agenttasks", namespace)))
        if body is None:
            raise DashboardError(404, f"no AgentTask {namespace}/{name}")
        events = None
        events_note = "You may not list events in this namespace."
        if may_events:
            events, events_note = await self.kube.list_events(namespace, "AgentTask", name), ""
        svg, graph_note = self._graph(body, namespace, name, may_list)
        return task_detail_fragment(body, events, events_note, svg, graph_note)

    def _graph(self, body: Mapping[str, Any], namespace: str, name: str,
               may_list: bool) -> tuple[Markup, str]:
        own = tuple(str(d) for d in (body.get("spec") or {}).get("dependsOn") or [])
        phase = str((body.get("status") or {}).get("phase") or "Pending")
        titles: dict[str, str] = {}
        if may_list:
            facts = [f for f in self.sources.task_facts() if f.namespace == namespace]
            depends = {f.name: f.depends_on for f in facts}
            phases = {f.name: str(f.phase or "Pending") for f in facts}
            titles = {f.name: f.display_name for f in facts if f.display_name}
            note = ""
        else:  # its own dependencies only, from the object the user may get
            depends = {dep: () for dep in own}
            phases = {dep: "Unknown" for dep in own}
            note = ("You may not list agenttasks in this namespace: only this task's own "
                    "dependencies are shown, without their phases.")
        depends[name], phases[name] = own, phase
        titles.pop(name, None)
        if display := (body.get("spec") or {}).get("displayName"):
            titles[name] = str(display)
        placed = layout(name, depends, phases)
        if placed.truncated:
            note = (note + " The graph is cut short.").strip()
        svg = render_svg(placed, lambda n: task_path(namespace, n),
                         f"Dependency graph of {name}", titles)
        return svg, note

    async def queue(self, user: UserInfo | None, namespace: str) -> str:
        """The waiting tasks of the namespaces the user may list AgentTasks in."""
        if self.sources.queue is None:
            raise DashboardError(404, "this operator does not serve the queue")
        view = self.sources.queue.current()
        present = {e.namespace for e in view.entries}
        scope, note = await self._scope(user, "agenttasks", namespace, present)
        entries = [e for e in view.visible(scope) if not namespace or e.namespace == namespace]
        return queue_fragment(view, entries, present if scope is None else present & scope,
                              note)

    async def schedules(self, user: UserInfo | None, namespace: str) -> str:
        src = self.sources.schedules
        keys = [k for k in sorted(src.keys()) if self.sources.watches(k[0])]
        present = {k[0] for k in keys}
        scope, note = await self._scope(user, "agenttaskschedules", namespace, present)
        shown = {k[0] for k in keys if visible(k[0], scope)}
        # Last runs are AgentTasks: shown only where the user may list those too.
        runs_scope = await self._quiet_scope(user, "agenttasks", namespace, shown)
        rows = []
        for key in keys:
            facts = src.schedule(key)
            if facts is None or not visible(key[0], scope):
                continue
            children = src.children(key) if visible(key[0], runs_scope) else []
            rows.append(schedule_row(facts, children))
        return schedules_fragment(in_scope(rows, scope, namespace), note)

    async def _quiet_scope(self, user: UserInfo | None, resource: str, namespace: str,
                           present: set[str]) -> frozenset[str] | None:
        try:
            return await self.gate.readable(user, resource, namespace, present)
        except DashboardError as exc:
            if exc.status != 403:
                raise
            return frozenset()

    async def triggers(self, user: UserInfo | None, namespace: str, base_url: str) -> str:
        src = self.sources.triggers
        keys = [k for k in sorted(src.keys()) if self.sources.watches(k[0])]
        scope, note = await self._scope(user, "agenttasktriggers", namespace,
                                        {k[0] for k in keys})
        rows = [trigger_row(f) for k in keys
                if visible(k[0], scope) and (f := src.get(k)) is not None]
        return triggers_fragment(in_scope(rows, scope, namespace), base_url, note)
