"""Pure helpers of the user commands: durations, progress bars, queue position, the DAG.

Everything here works on plain values and task dicts as the API returns them, with an
explicit ``now``; nothing talks to a cluster or a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agenttasks.api.task import is_terminal
from agenttasks.api.timefmt import human_duration as human_duration  # the commands' name
from agenttasks.api.timefmt import parse_time
from agenttasks.core.dependencies import dependents_of
from agenttasks.core.naming import job_name
from agenttasks.core.queue import Aging, Candidate, Limits, Running, candidate_of, queue_plan
from agenttasks.manifests.tasks import task_facts

Obj = Mapping[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def age(timestamp: str | None, now: datetime) -> str:
    """How long ago ``timestamp`` was, or ``-``."""
    when = parse_time(timestamp)
    return human_duration((now - when).total_seconds()) if when else "-"


def relative(timestamp: str | None, now: datetime) -> str:
    """``in 5m`` for a future time, ``5m ago`` for a past one, ``-`` for none."""
    when = parse_time(timestamp)
    if when is None:
        return "-"
    delta = (when - now).total_seconds()
    return f"in {human_duration(delta)}" if delta >= 0 else f"{human_duration(-delta)} ago"


def took(start: str | None, end: str | None) -> str | None:
    """How long from ``start`` to ``end``, or None when either is missing."""
    first, last = parse_time(start), parse_time(end)
    return human_duration((last - first).total_seconds()) if first and last else None


def deadline_countdown(task: Obj, now: datetime) -> str:
    """Time left before ``spec.deadline`` (``overdue …`` once passed); ``-`` when the task has
    no deadline or is already terminal."""
    deadline = parse_time((task.get("spec") or {}).get("deadline"))
    status = task.get("status") or {}
    if deadline is None or is_terminal(status.get("phase"), status.get("reason")):
        return "-"
    left = (deadline - now).total_seconds()
    return human_duration(left) if left >= 0 else f"overdue {human_duration(-left)}"


def progress_bar(percent: int | float | None, width: int = 10, ascii_only: bool = False) -> str:
    """``██████░░░░  60%``; ``-`` when the task reports no progress."""
    if percent is None:
        return "-"
    value = min(max(float(percent), 0.0), 100.0)
    filled = round(value * width / 100)
    full, empty = ("#", "-") if ascii_only else ("█", "░")
    return f"{full * filled}{empty * (width - filled)} {int(value):>3}%"


def display_name(task: Obj) -> str:
    """``spec.displayName`` on one line, or empty."""
    return " ".join(str((task.get("spec") or {}).get("displayName") or "").split())


def task_progress(task: Obj) -> int | None:
    progress = (task.get("status") or {}).get("progress")
    if not progress:
        return None
    return int(progress.get("percent") or 0)


def attempts_text(task: Obj) -> str:
    """``attempts/most attempts``, such as ``2/4`` with ``retries.limit: 3``."""
    limit = int(((task.get("spec") or {}).get("retries") or {}).get("limit") or 0)
    return f"{int((task.get('status') or {}).get('attempts') or 0)}/{limit + 1}"


def job_for_attempt(task: Obj, attempt: int) -> str:
    """The Job name of an attempt: from the history or status when recorded there, else the
    operator's deterministic name."""
    status = task.get("status") or {}
    for record in status.get("history") or []:
        if record.get("attempt") == attempt and record.get("jobName"):
            return str(record["jobName"])
    if attempt == status.get("attempts") and status.get("jobName"):
        return str(status["jobName"])
    return job_name(task["metadata"]["name"], attempt)


# --- the queue ------------------------------------------------------------------------------


def _queued(task: Obj) -> bool:
    status = task.get("status") or {}
    return status.get("phase") == "Pending" and status.get("reason") == "Queued"


def queue_candidate(task: Obj) -> Candidate:
    """The task as the operator's queue sees it (core.queue.candidate_of)."""
    body = dict(task)
    meta = body["metadata"] = dict(task["metadata"])
    meta.setdefault("namespace", "")
    meta.setdefault("creationTimestamp", _EPOCH.isoformat())
    return candidate_of(task_facts(body))


def queue_position(task: Obj, tasks: Iterable[Obj], now: datetime | None = None,
                   aging: Aging | None = None) -> tuple[int, int] | None:
    """(rank from 1, number queued) of a Pending/Queued task among the Queued tasks, in the
    operator's order as far as a listing shows it (core.queue.queue_plan, with no limit):
    the fair share between namespaces at equal weights, counting the slots the listed
    InProgress tasks hold, and within a namespace effective priority with ``aging``, then
    creation, then name. None when it is not queued. ``now`` is needed only with aging."""
    if not _queued(task):
        return None
    if aging is not None and now is None:
        raise ValueError("priority aging needs now")
    listed = list(tasks)
    me = queue_candidate(task)
    queued = [c for c in map(queue_candidate, filter(_queued, listed)) if c.key != me.key]
    plan = queue_plan([*queued, me], _running(listed), Limits(0), now or _EPOCH, aging)
    return [p.candidate.key for p in plan].index(me.key) + 1, len(plan)


def _running(tasks: Iterable[Obj]) -> Running:
    """The slots the listed InProgress tasks hold, per namespace."""
    by_ns: dict[str, int] = {}
    for t in tasks:
        if (t.get("status") or {}).get("phase") == "InProgress":
            namespace = t["metadata"].get("namespace", "")
            by_ns[namespace] = by_ns.get(namespace, 0) + 1
    return Running(sum(by_ns.values()), by_ns)


# --- the dependency DAG ---------------------------------------------------------------------


@dataclass(frozen=True)
class TreeNode:
    """One node of a dependency tree drawn from a DAG. ``phase`` is None for a task that does
    not exist; ``note`` says why a node is not expanded (``not found``, ``cycle``,
    ``see above``)."""

    name: str
    phase: str | None
    reason: str | None = None
    children: tuple[TreeNode, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Graph:
    """The tasks of one namespace: phase, reason and dependsOn by name."""

    phases: Mapping[str, tuple[str | None, str | None]]
    depends_on: Mapping[str, Sequence[str]]
    dependents: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, tasks: Iterable[Obj]) -> Graph:
        phases: dict[str, tuple[str | None, str | None]] = {}
        depends_on: dict[str, list[str]] = {}
        for task in tasks:
            name = task["metadata"]["name"]
            status = task.get("status") or {}
            phases[name] = (status.get("phase"), status.get("reason"))
            depends_on[name] = list((task.get("spec") or {}).get("dependsOn") or [])
        return cls(phases, depends_on, dependents_of(depends_on))


def dependency_tree(graph: Graph, root: str, upstream: bool = True) -> TreeNode:
    """The tree of what ``root`` depends on (``upstream``), or of what depends on it. A node
    reached twice is expanded once (later ``see above``); a cycle stops at ``cycle``."""
    edges = graph.depends_on if upstream else graph.dependents
    expanded: set[str] = set()

    def build(name: str, path: tuple[str, ...]) -> TreeNode:
        phase, reason = graph.phases.get(name, (None, None))
        if name not in graph.phases:
            return TreeNode(name, None, note="not found")
        if name in path:
            return TreeNode(name, phase, reason, note="cycle")
        children = list(edges.get(name) or ())
        if name in expanded and children:
            return TreeNode(name, phase, reason, note="see above")
        expanded.add(name)
        return TreeNode(name, phase, reason,
                        tuple(build(child, (*path, name)) for child in children))

    return build(root, ())


def tree_lines(node: TreeNode) -> list[tuple[str, TreeNode]]:
    """The tree as (prefix, node) lines, with ``├──``/``└──`` guides as ``tree(1)`` draws."""
    lines = [("", node)]

    def walk(parent: TreeNode, indent: str) -> None:
        for index, child in enumerate(parent.children):
            last = index == len(parent.children) - 1
            lines.append((indent + ("└── " if last else "├── "), child))
            walk(child, indent + ("    " if last else "│   "))

    walk(node, "")
    return lines


def sort_events(events: Iterable[Obj]) -> list[Obj]:
    """Events oldest first, by their last occurrence."""
    def when(event: Obj) -> str:
        value = (event.get("lastTimestamp") or event.get("eventTime")
                 or event.get("metadata", {}).get("creationTimestamp") or "")
        parsed = parse_time(value) if value else None
        return parsed.isoformat() if parsed else ""

    return sorted(events, key=when)
