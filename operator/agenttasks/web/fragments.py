"""Server-rendered HTML fragments of the dashboard's views. Pure: data in, escaped HTML out.
The browser puts them in place as they arrive; no inline script or style (the pages' CSP
forbids both), so every value here is text, never markup."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from agenttasks.api.task import Phase, is_terminal
from agenttasks.api.timefmt import format_time, parse_time

from .tables import ScheduleRow, TaskRow, TriggerRow


def e(value: object) -> str:
    return escape(str(value), quote=True)


def when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    try:
        moment = parse_time(value)
    except ValueError:
        return e(value)
    return e(format_time(moment)) if moment else ""


def task_path(namespace: str, name: str) -> str:
    return f"/tasks/{quote(namespace, safe='')}/{quote(name, safe='')}"


def phase_badge(phase: str) -> str:
    known = phase if phase in {p.value for p in Phase} else "Unknown"
    return f'<span class="phase phase-{known}" data-phase="{e(phase)}">{e(phase)}</span>'


def _button(action: str, label: str, kind: str, namespace: str, name: str) -> str:
    return (f'<button type="button" class="action" data-action="{action}" data-kind="{kind}" '
            f'data-namespace="{e(namespace)}" data-name="{e(name)}">{label}</button>')


def task_actions(namespace: str, name: str, paused: bool, terminal: bool) -> str:
    buttons = []
    if not terminal:
        buttons.append(_button("resume", "Resume", "tasks", namespace, name) if paused else
                       _button("pause", "Pause", "tasks", namespace, name))
        buttons.append(_button("cancel", "Cancel", "tasks", namespace, name))
    buttons.append(_button("rerun", "Rerun", "tasks", namespace, name))
    return f'<span class="actions">{"".join(buttons)}</span>'


def progress_bar(percent: int | None, message: str = "") -> str:
    if percent is None:
        return '<span class="muted">-</span>'
    value = max(0, min(100, percent))
    text = f"{value}%" + (f" {message}" if message else "")
    return (f'<progress max="100" value="{value}" aria-label="{e(text)}"></progress> '
            f'<span class="percent">{e(text)}</span>')


def namespace_options(namespaces: Iterable[str]) -> str:
    options = "".join(f'<option value="{e(ns)}"></option>' for ns in sorted(namespaces))
    return f'<datalist id="namespace-list">{options}</datalist>'


def tasks_fragment(rows: Sequence[TaskRow], total: int, namespaces: Iterable[str],
                   note: str = "") -> str:
    head = ("<thead><tr><th>Namespace</th><th>Task</th><th>Phase</th><th>Reason</th>"
            "<th>Progress</th><th>Attempts</th><th>Created</th><th>Actions</th></tr></thead>")
    body = []
    for r in rows:
        title = f'<a href="{e(task_path(r.namespace, r.name))}">{e(r.name)}</a>'
        if r.display_name:
            title += f'<div class="muted">{e(r.display_name)}</div>'
        body.append(
            f'<tr class="task" data-namespace="{e(r.namespace)}" data-name="{e(r.name)}" '
            f'data-phase="{e(r.phase)}"><td>{e(r.namespace)}</td><td>{title}</td>'
            f"<td>{phase_badge(r.phase)}</td>"
            f'<td title="{e(r.message)}">{e(r.reason)}</td>'
            f"<td>{progress_bar(r.percent, r.progress_message)}</td>"
            f"<td>{r.attempts}</td><td>{when(r.created)}</td>"
            f"<td>{task_actions(r.namespace, r.name, r.paused, r.terminal)}</td></tr>")
    if not body:
        body.append('<tr class="empty"><td colspan="8">No tasks match.</td></tr>')
    shown = f"{len(rows)} of {total}" if len(rows) < total else str(total)
    summary = f'<p class="summary">{e(shown)} tasks. {e(note)}</p>'
    return (f'{summary}<table class="tasks">{head}<tbody>{"".join(body)}</tbody></table>'
            f"{namespace_options(namespaces)}")


# --- one task -------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], css: str,
           empty: str) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    if not body:
        body = f'<tr class="empty"><td colspan="{len(headers)}">{e(empty)}</td></tr>'
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _facts(pairs: Iterable[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in pairs if v)
    return f'<dl class="facts">{items}</dl>'


def result_block(result: Any) -> str:
    """status.result: {attempt, message} (the termination message of the last finished
    attempt) shown as text; any other shape as JSON."""
    if result is None or result == {}:
        return ""
    attempt = ""
    if isinstance(result, dict) and set(result) <= {"attempt", "message"}:
        if result.get("attempt") is not None:
            attempt = f'<p class="muted">From attempt {e(result["attempt"])}.</p>'
        result = result.get("message", "")
    text = result if isinstance(result, str) else json.dumps(result, indent=2, sort_keys=True)
    return f'<section><h3>Result</h3>{attempt}<pre class="result">{e(text)}</pre></section>'


def attempts_table(status: Mapping[str, Any]) -> str:
    history = [h for h in status.get("history") or [] if isinstance(h, dict)]
    rows = [[e(h.get("attempt", "")), e(h.get("jobName", "")), when(h.get("startTime")),
             when(h.get("completionTime")), e(h.get("result", "")), e(h.get("reason", "")),
             e(h.get("message", ""))] for h in history]
    attempts = int(status.get("attempts") or 0)
    done = {h.get("attempt") for h in history}
    if attempts and attempts not in done and not is_terminal(status.get("phase"),
                                                             status.get("reason")):
        rows.append([e(attempts), e(status.get("jobName", "")), "", "", "(current)", "", ""])
    return _table(["Attempt", "Job", "Started", "Finished", "Result", "Reason", "Message"],
                  rows, "attempts", "No attempt yet.")


def conditions_table(status: Mapping[str, Any]) -> str:
    rows = [[e(c.get("type", "")), e(c.get("status", "")), e(c.get("reason", "")),
             e(c.get("message", "")), when(c.get("lastTransitionTime"))]
            for c in status.get("conditions") or [] if isinstance(c, dict)]
    return _table(["Type", "Status", "Reason", "Message", "Since"], rows, "conditions",
                  "No conditions yet.")


def events_table(events: Sequence[Mapping[str, Any]]) -> str:
    def moment(ev: Mapping[str, Any]) -> str:
        return str(ev.get("lastTimestamp") or ev.get("eventTime") or
                   (ev.get("metadata") or {}).get("creationTimestamp") or "")

    newest = sorted(events, key=moment, reverse=True)[:30]
    rows = [[when(moment(ev) or None), e(ev.get("type", "")), e(ev.get("reason", "")),
             e(ev.get("message", "")), e(ev.get("count") or 1)] for ev in newest]
    return _table(["Last seen", "Type", "Reason", "Message", "Count"], rows, "events",
                  "No events.")


def task_detail_fragment(task: Mapping[str, Any], events: Sequence[Mapping[str, Any]] | None,
                         events_note: str, graph_svg: str, graph_note: str) -> str:
    meta, spec = task.get("metadata") or {}, task.get("spec") or {}
    status = task.get("status") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    phase = str(status.get("phase") or Phase.PENDING)
    terminal = is_terminal(status.get("phase"), status.get("reason"))
    progress = status.get("progress") or {}
    percent = progress.get("percent") if progress else None
    deadline = when(spec.get("deadline"))
    summary = _facts([
        ("Phase", phase_badge(phase)),
        ("Reason", e(status.get("reason") or "")),
        ("Message", e(status.get("message") or "")),
        ("Progress", progress_bar(percent, progress.get("message") or "") if progress else ""),
        ("Attempts", e(status.get("attempts") or 0)),
        ("Deadline", deadline),
        ("Timeout per attempt", e(spec.get("timeout") or "")),
        ("Start after", when(spec.get("startAfter"))),
        ("Next retry", when(status.get("nextRetryTime"))),
        ("Started", when(status.get("startTime"))),
        ("Finished", when(status.get("completionTime"))),
        ("Priority", e(spec.get("priority", 0))),
        ("Depends on", e(", ".join(str(d) for d in spec.get("dependsOn") or []))),
        ("Created", when(meta.get("creationTimestamp"))),
    ])
    title = e(spec.get("displayName") or name)
    description = spec.get("description")
    events_html = events_table(events) if events is not None else ""
    return "".join([
        f'<article class="task-detail" data-namespace="{e(namespace)}" data-name="{e(name)}" '
        f'data-phase="{e(phase)}">',
        f'<h2>{title} <span class="muted">{e(namespace)}/{e(name)}</span></h2>',
        f'<p class="description">{e(description)}</p>' if description else "",
        task_actions(namespace, name, bool(spec.get("paused")), terminal),
        summary,
        result_block(status.get("result")),
        "<section><h3>Attempts</h3>", attempts_table(status), "</section>",
        "<section><h3>Conditions</h3>", conditions_table(status), "</section>",
        '<section><h3>Dependencies</h3><div class="graph">', graph_svg, "</div>",
        f'<p class="muted">{e(graph_note)}</p>' if graph_note else "", "</section>",
        "<section><h3>Events</h3>", events_html,
        f'<p class="muted">{e(events_note)}</p>' if events_note else "", "</section>",
        "</article>",
    ])


# --- schedules and triggers -------------------------------------------------------------------


def schedules_fragment(rows: Sequence[ScheduleRow], note: str = "") -> str:
    body = []
    for r in rows:
        runs = "".join(f'<li><a href="{e(task_path(r.namespace, run.name))}">{e(run.name)}</a> '
                       f"{phase_badge(run.phase)}</li>" for run in r.runs)
        body.append([
            e(r.namespace), e(r.name),
            f"<code>{e(r.schedule)}</code> {e(r.time_zone)}" + (
                ' <span class="muted">suspended</span>' if r.suspended else ""),
            e(r.ready), when(r.next_fire), when(r.last_schedule), when(r.last_success),
            e(r.active), f'<ul class="runs">{runs}</ul>' if runs else "",
            _button("run-now", "Run now", "schedules", r.namespace, r.name)])
    table = _table(["Namespace", "Schedule", "Cron", "Ready", "Next fire", "Last fire",
                    "Last success", "Active", "Last runs", "Actions"], body, "schedules",
                   "No schedules.")
    return table + (f'<p class="muted">{e(note)}</p>' if note else "")


def triggers_fragment(rows: Sequence[TriggerRow], base_url: str, note: str = "") -> str:
    body = [[e(r.namespace), e(r.name), f"<code>{e(base_url + r.url)}</code>", e(r.signature),
             e(r.ready), e(r.accepted), e(r.duplicate), e(r.rejected), when(r.last_triggered)]
            for r in rows]
    table = _table(["Namespace", "Trigger", "URL", "Signature", "Ready", "Accepted",
                    "Duplicate", "Rejected", "Last delivery"], body, "triggers", "No triggers.")
    return table + (f'<p class="muted">{e(note)}</p>' if note else "")
