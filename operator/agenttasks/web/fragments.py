"""The dashboard's views as HTML fragments, rendered from web/templates/. Pure: data in,
Markup out. The browser puts them in place as they arrive; no inline script or style (the
pages' CSP forbids both), and autoescaping makes every value text, never markup."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from agenttasks.api.task import Phase, is_terminal
from agenttasks.core.queue_view import Entry, QueueView

from .tables import ScheduleRow, TaskRow, TriggerRow
from .templating import macro, render, when

MAX_EVENTS = 30


def progress_bar(percent: int | None, message: str = "") -> Markup:
    return macro("macros.html", "progress_bar", percent, message)


def task_actions(namespace: str, name: str, paused: bool, terminal: bool) -> Markup:
    return macro("macros.html", "task_actions", namespace, name, paused, terminal)


def tasks_fragment(rows: Sequence[TaskRow], total: int, namespaces: Iterable[str],
                   note: str = "") -> Markup:
    return render("tasks.html", rows=rows, total=total, namespaces=list(namespaces),
                  note=note)


def queue_fragment(view: QueueView, entries: Sequence[Entry], namespaces: Iterable[str],
                   note: str = "") -> Markup:
    return render("queue.html", view=view, entries=entries, namespaces=sorted(namespaces),
                  note=note)


# --- one task -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultView:
    attempt: Any
    text: str


@dataclass(frozen=True)
class AttemptView:
    attempt: Any
    job: Any
    started: Any
    finished: Any
    result: Any
    reason: Any
    message: Any


@dataclass(frozen=True)
class TaskDetail:
    """What the task page shows, read from the object the user may get."""

    namespace: str
    name: str
    title: str
    description: str
    phase: str
    paused: bool
    terminal: bool
    state: list[tuple[str, str]]
    progress: Mapping[str, Any] | None
    facts: list[tuple[str, str]]
    result: ResultView | None
    history: list[AttemptView]
    conditions: list[Mapping[str, Any]]


def result_view(result: Any) -> ResultView | None:
    """status.result: {attempt, message} (the termination message of the last finished
    attempt) shown as text; any other shape as JSON."""
    if result is None or result == {}:
        return None
    attempt = None
    if isinstance(result, dict) and set(result) <= {"attempt", "message"}:
        attempt = result.get("attempt")
        result = result.get("message", "")
    text = result if isinstance(result, str) else json.dumps(result, indent=2, sort_keys=True)
    return ResultView(attempt, text)


def attempts(status: Mapping[str, Any]) -> list[AttemptView]:
    """Finished attempts, then the current one when it has no history entry yet."""
    history = [h for h in status.get("history") or [] if isinstance(h, dict)]
    rows = [AttemptView(h.get("attempt", ""), h.get("jobName", ""), h.get("startTime"),
                        h.get("completionTime"), h.get("result", ""), h.get("reason", ""),
                        h.get("message", "")) for h in history]
    count = int(status.get("attempts") or 0)
    done = {h.get("attempt") for h in history}
    if count and count not in done and not is_terminal(status.get("phase"),
                                                       status.get("reason")):
        rows.append(AttemptView(count, status.get("jobName", ""), None, None, "(current)", "",
                                ""))
    return rows


def task_detail(task: Mapping[str, Any]) -> TaskDetail:
    meta, spec = task.get("metadata") or {}, task.get("spec") or {}
    status = task.get("status") or {}
    name = str(meta.get("name", ""))
    progress = status.get("progress") or None
    return TaskDetail(
        namespace=str(meta.get("namespace", "")), name=name,
        title=str(spec.get("displayName") or name),
        description=str(spec.get("description") or ""),
        phase=str(status.get("phase") or Phase.PENDING),
        paused=bool(spec.get("paused")),
        terminal=is_terminal(status.get("phase"), status.get("reason")),
        state=[("Reason", str(status.get("reason") or "")),
               ("Message", str(status.get("message") or ""))],
        progress={"percent": progress.get("percent"),
                  "message": progress.get("message") or ""} if progress else None,
        facts=[
            ("Attempts", str(status.get("attempts") or 0)),
            ("Deadline", when(spec.get("deadline"))),
            ("Timeout per attempt", str(spec.get("timeout") or "")),
            ("Start after", when(spec.get("startAfter"))),
            ("Next retry", when(status.get("nextRetryTime"))),
            ("Started", when(status.get("startTime"))),
            ("Finished", when(status.get("completionTime"))),
            ("Priority", str(spec.get("priority", 0))),
            ("Depends on", ", ".join(str(d) for d in spec.get("dependsOn") or [])),
            ("Created", when(meta.get("creationTimestamp"))),
        ],
        result=result_view(status.get("result")),
        history=attempts(status),
        conditions=[{"type": c.get("type", ""), "status": c.get("status", ""),
                     "reason": c.get("reason", ""), "message": c.get("message", ""),
                     "since": c.get("lastTransitionTime")}
                    for c in status.get("conditions") or [] if isinstance(c, dict)])


def newest_events(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    def seen(ev: Mapping[str, Any]) -> str:
        return str(ev.get("lastTimestamp") or ev.get("eventTime") or
                   (ev.get("metadata") or {}).get("creationTimestamp") or "")

    newest = sorted(events, key=seen, reverse=True)[:MAX_EVENTS]
    return [{"seen": seen(ev) or None, "type": ev.get("type", ""),
             "reason": ev.get("reason", ""), "message": ev.get("message", ""),
             "count": ev.get("count") or 1} for ev in newest]


def task_detail_fragment(task: Mapping[str, Any], events: Sequence[Mapping[str, Any]] | None,
                         events_note: str, graph_svg: Markup, graph_note: str) -> Markup:
    """``graph_svg`` is markup already (dag.render_svg's); a plain str would be escaped."""
    return render("task_detail.html", t=task_detail(task),
                  events=newest_events(events) if events is not None else None,
                  events_note=events_note, graph_svg=graph_svg, graph_note=graph_note)


# --- schedules and triggers -------------------------------------------------------------------


def schedules_fragment(rows: Sequence[ScheduleRow], note: str = "") -> Markup:
    return render("schedules.html", rows=rows, note=note)


def triggers_fragment(rows: Sequence[TriggerRow], base_url: str, note: str = "") -> Markup:
    return render("triggers.html", rows=rows, base_url=base_url, note=note)
