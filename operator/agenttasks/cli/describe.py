"""``agenttasks describe TASK`` and ``agenttasks tree TASK``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import click
import yaml
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from agenttasks.api.timefmt import utcnow
from agenttasks.cli import format as fmt
from agenttasks.cli.errors import CliError
from agenttasks.cli.kubeapi import JSON, TASKS, Session, kube_command, object_name
from agenttasks.cli.output import (
    CONDITION_STYLES,
    cells,
    emit_objects,
    make_console,
    output_option,
    phase_text,
    show,
    table,
    unicode_ok,
)
from agenttasks.cli.queue import QueueUnavailable, eta_text, fetch_queue, operator_url_option
from agenttasks.core.queue import Aging
from agenttasks.kube.client import ApiError

RECENT_EVENTS = 15


def _fields(rows: Sequence[tuple[str, Any]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in rows:
        if value is None:
            continue
        grid.add_row(*cells(f"{label}:", value))
    return grid


def _section(title: str, body: RenderableType) -> Group:
    return Group(Text(f"{title}:", style="bold"), Padding(body, (0, 0, 0, 2)))


def _when(timestamp: str | None, now: datetime) -> str | None:
    return f"{timestamp} ({fmt.relative(timestamp, now)})" if timestamp else None


def _spec_rows(spec: JSON, now: datetime) -> list[tuple[str, Any]]:
    retries = spec.get("retries") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [
        ("Image", ", ".join(str(c.get("image")) for c in containers) or None),
        ("Priority", spec.get("priority", 0)),
        ("Retries", f"limit {retries.get('limit', 0)}, delay {retries.get('delay', '10s')}, "
                    f"backoff x{retries.get('backoffFactor', 2)}, "
                    f"max delay {retries.get('maxDelay', '10m')}"),
        ("Timeout", spec.get("timeout")),
        ("Deadline", _when(spec.get("deadline"), now)),
        ("Start after", _when(spec.get("startAfter"), now)),
        ("Depends on", ", ".join(spec.get("dependsOn") or []) or None),
        ("Paused", str(bool(spec.get("paused"))).lower()),
        ("Cancelled", str(bool(spec.get("cancelled"))).lower()),
        ("Parallelism", f"{spec.get('parallelism', 1)} (completions {spec.get('completions', 1)})"),
    ]


def _status_rows(task: JSON, queue: Sequence[tuple[str, str]], now: datetime,
                 ascii_only: bool) -> list[tuple[str, Any]]:
    status = task.get("status") or {}
    progress = status.get("progress") or {}
    bar = fmt.progress_bar(fmt.task_progress(task), ascii_only=ascii_only)
    if progress.get("message"):
        bar += f"  {progress['message']}"
    rows: list[tuple[str, Any]] = [
        ("Phase", phase_text(status.get("phase"), status.get("reason"))),
        ("Message", status.get("message")),
        ("Attempts", fmt.attempts_text(task)),
        ("Job", status.get("jobName")),
        ("Started", _when(status.get("startTime"), now)),
        ("Finished", _when(status.get("completionTime"), now)),
        ("Next retry", _when(status.get("nextRetryTime"), now)),
        ("Progress", bar if progress else None),
    ]
    rows += queue
    return rows


def _conditions(status: JSON, now: datetime) -> Table:
    grid = table("TYPE", "STATUS", "REASON", "AGE", "MESSAGE")
    for c in status.get("conditions") or []:
        grid.add_row(*cells(c.get("type"), Text(str(c.get("status")),
                                                style=CONDITION_STYLES.get(c.get("status"), "")),
                            c.get("reason"), fmt.age(c.get("lastTransitionTime"), now),
                            c.get("message")))
    return grid


def _history(status: JSON, now: datetime) -> Table:
    grid = table("ATTEMPT", "JOB", "RESULT", "REASON", "STARTED", "DURATION", "MESSAGE")
    for h in status.get("history") or []:
        start, end = h.get("startTime"), h.get("completionTime")
        result = Text(str(h.get("result")),
                      style="green" if h.get("result") == "Succeeded" else "red")
        grid.add_row(*cells(h.get("attempt"), h.get("jobName"), result, h.get("reason"),
                            fmt.relative(start, now), fmt.took(start, end), h.get("message")))
    return grid


def _events(events: list[JSON] | None, now: datetime) -> RenderableType:
    if events is None:
        return Text("(not allowed to list Events here)", style="dim")
    if not events:  # as kubectl describe says it; routine steps post none (docs/agenttask.md)
        return Text("<none>")
    grid = table("TYPE", "REASON", "AGE", "MESSAGE")
    for e in fmt.sort_events(events)[-RECENT_EVENTS:]:
        when = e.get("lastTimestamp") or e.get("eventTime")
        grid.add_row(*cells(Text(str(e.get("type")),
                                 style="yellow" if e.get("type") == "Warning" else ""),
                            e.get("reason"), fmt.age(when, now), e.get("message")))
    return grid


def tree_view(node: fmt.TreeNode) -> Text:
    text = Text()
    for prefix, item in fmt.tree_lines(node):
        text.append(prefix, style="dim")
        text.append(item.name, style="bold" if not prefix else "")
        text.append("  ")
        text.append_text(phase_text(item.phase) if item.phase else Text("-", style="dim"))
        if item.note:
            text.append(f"  ({item.note})", style="dim")
        text.append("\n")
    text.rstrip()
    return text


async def _allowed(read: Callable[[], Awaitable[list[JSON]]]) -> list[JSON] | None:
    """What ``read`` returns, or None when the user may not read it (403)."""
    try:
        return await read()
    except ApiError as exc:
        if exc.status != 403:
            raise
        return None


async def _items(session: Session, namespace: str | None) -> list[JSON]:
    return list((await session.list_objects(TASKS, namespace)).get("items") or [])


async def _queue(session: Session, task: JSON, siblings: list[JSON], now: datetime,
                 aging: Aging | None, operator_url: str | None) -> list[tuple[str, str]]:
    """The rows on where the task waits: from the operator's queue view (its place in the
    operator's own order, what it waits for, an estimated start), or, when that view cannot
    be read, the rank this command computes among the Queued tasks it may list."""
    meta = task["metadata"]
    try:
        document = await fetch_queue(session, operator_url, meta["namespace"])
    except QueueUnavailable as exc:
        local = await _local_queue(session, task, siblings, now, aging)
        return [("Queue position", f"{local}; computed here, as {exc}")] if local else []
    item = next((i for i in document["items"] if i.get("name") == meta["name"]), None)
    if item is None:
        return []
    rows = []
    if item.get("position") is not None:
        rows.append(("Queue position", f"{item['position']} of {document.get('queued')} "
                     f"waiting for a slot ({item.get('namespacePosition')} in namespace "
                     f"{meta['namespace']}; the operator's order)"))
    rows.append(("Waiting for", f"{item.get('reason')}: {item.get('message')}"))
    eta = eta_text(item, now)
    rows.append(("Estimated start", f"{(item.get('eta') or {}).get('start')} ({eta}; 80% "
                 "interval, from the slots freed recently)" if eta != "-" else
                 "unknown (nothing observed says when)"))
    return rows


async def _local_queue(session: Session, task: JSON, siblings: list[JSON], now: datetime,
                       aging: Aging | None) -> str | None:
    """Rank among Queued tasks of every namespace, or of the task's own when the user may not
    list every namespace, in the operator's order with the priority aging it is told."""
    if fmt.queue_position(task, [task]) is None:
        return None
    scope = "all namespaces"
    try:
        tasks = await _items(session, None)
    except ApiError as exc:
        if exc.status != 403:
            raise
        tasks, scope = siblings, f"namespace {task['metadata']['namespace']}"
    rank, total = fmt.queue_position(task, tasks, now, aging) or (0, 0)
    # The operator's --priority-aging and --namespace-weight are not published: say which
    # ones this order assumes.
    order = (f"by priority aged {aging.step}/{fmt.human_duration(aging.interval.total_seconds())}"
             if aging else "by priority without aging")
    return f"{rank} of {total} Queued ({scope}; namespaces share at equal weights, within " \
        f"one {order}, then age)"


def _aging(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Aging | None:
    try:
        return Aging.parse(value) if value else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def render_describe(task: JSON, siblings: list[JSON], queue: Sequence[tuple[str, str]],
                    events: list[JSON] | None, now: datetime, ascii_only: bool) -> Group:
    meta, spec, status = task["metadata"], task.get("spec") or {}, task.get("status") or {}
    labels = ", ".join(f"{k}={v}" for k, v in (meta.get("labels") or {}).items())
    parts: list[RenderableType] = [_fields([
        ("Name", meta["name"]), ("Namespace", meta.get("namespace")),
        ("Display name", spec.get("displayName")), ("Description", spec.get("description")),
        ("Labels", labels or None), ("Created", _when(meta.get("creationTimestamp"), now))])]
    parts.append(_section("Spec", _fields(_spec_rows(spec, now))))
    parts.append(_section("Status", _fields(_status_rows(task, queue, now, ascii_only))))
    if status.get("conditions"):
        parts.append(_section("Conditions", _conditions(status, now)))
    if status.get("history"):
        parts.append(_section("Attempts", _history(status, now)))
    graph = fmt.Graph.of(siblings)
    if spec.get("dependsOn"):
        parts.append(_section("Dependencies", tree_view(fmt.dependency_tree(graph,
                                                                            meta["name"]))))
    if graph.dependents.get(meta["name"]):
        parts.append(_section("Dependents", tree_view(
            fmt.dependency_tree(graph, meta["name"], upstream=False))))
    if "result" in status:
        result = status["result"]
        body = (yaml.safe_dump(result, sort_keys=False).rstrip()
                if isinstance(result, dict | list) else str(result))
        parts.append(_section("Result", Text(body)))
    parts.append(_section("Events", _events(events, now)))
    return Group(*parts)


@click.command("describe")
@click.argument("task")
@click.option("--priority-aging", "aging", metavar="STEP/INTERVAL", callback=_aging,
              help="The operator's --priority-aging, for the queue position computed here "
              "when the operator's queue view cannot be read; default: none (the operator's "
              "and the chart's default).")
@output_option()
@operator_url_option
@kube_command
async def describe_task(session: Session, task: str, aging: Aging | None,
                        output: str | None, operator_url: str | None) -> None:
    """Show a task: spec, status, conditions, attempts, dependencies, queue position, result
    and recent Events. A waiting task's position, reason and estimated start come from the
    operator's queue view (--operator-url)."""
    name = object_name(task, TASKS)
    obj = await session.get(TASKS, session.namespace, name)
    if output:
        emit_objects([obj], output, TASKS, single=True)
        return
    siblings = await _allowed(lambda: _items(session, session.namespace)) or [obj]
    events = await _allowed(lambda: session.events(session.namespace, "AgentTask", name))
    console = make_console()
    now = utcnow()
    queue = await _queue(session, obj, siblings, now, aging, operator_url)
    show(console, render_describe(obj, siblings, queue, events, now, not unicode_ok(console)))


@click.command()
@click.argument("task")
@kube_command
async def tree(session: Session, task: str) -> None:
    """Show the dependency DAG around a task: what it depends on, and what depends on it."""
    name = object_name(task, TASKS)
    graph = fmt.Graph.of(await _items(session, session.namespace))
    if name not in graph.phases:
        raise CliError(f'agenttask "{name}" not found in namespace "{session.namespace}"')
    console = make_console()
    show(console, Group(
        _section("Depends on", tree_view(fmt.dependency_tree(graph, name))),
        _section("Needed by", tree_view(fmt.dependency_tree(graph, name, upstream=False)))))
