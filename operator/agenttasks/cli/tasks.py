"""``agenttasks list | pause | resume | cancel | rerun``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from agenttasks import actions
from agenttasks.api.task import Phase, is_terminal
from agenttasks.api.timefmt import utcnow
from agenttasks.cli import format as fmt
from agenttasks.cli.errors import CliError, describe
from agenttasks.cli.kubeapi import (
    JSON,
    TASKS,
    Session,
    kube_command,
    not_found,
    object_name,
    resource_name,
)
from agenttasks.cli.output import (
    cells,
    emit_objects,
    make_console,
    output_option,
    phase_text,
    present,
    table,
    unicode_ok,
)
from agenttasks.cli.watching import watch_objects
from agenttasks.kube.client import ApiError


def task_table(tasks: Sequence[JSON], header: bool = True, namespaces: bool = False,
               ascii_only: bool = False) -> Table:
    # DISPLAY NAME last: it is free text of any length, and the columns before it stay
    # where scripts that split on whitespace expect them.
    columns = ["NAME", "PHASE", "PRIORITY", "ATTEMPTS", "PROGRESS", "REASON", "DEADLINE", "AGE",
               "DISPLAY NAME"]
    grid = table(*(["NAMESPACE", *columns] if namespaces else columns))
    grid.show_header = header
    now = utcnow()
    for task in tasks:
        meta, spec, status = task["metadata"], task.get("spec") or {}, task.get("status") or {}
        row = cells(meta["name"], phase_text(status.get("phase")), spec.get("priority", 0),
                    fmt.attempts_text(task),
                    fmt.progress_bar(fmt.task_progress(task), ascii_only=ascii_only),
                    status.get("reason"), fmt.deadline_countdown(task, now),
                    fmt.age(meta.get("creationTimestamp"), now),
                    Text(fmt.display_name(task)))
        grid.add_row(*(cells(meta.get("namespace")) + row if namespaces else row))
    return grid


@click.command("list")
@click.option("-A", "--all-namespaces", is_flag=True, help="Tasks of every namespace.")
@click.option("--phase", "phases", multiple=True, metavar="PHASE",
              type=click.Choice([p.value for p in Phase], case_sensitive=False),
              help="Only tasks in this phase; repeatable.")
@click.option("-l", "--selector", default="", help="Label selector, such as team=reports.")
@click.option("-w", "--watch", is_flag=True, help="Keep the list up to date (Ctrl-C stops).")
@output_option()
@kube_command
async def list_tasks(session: Session, all_namespaces: bool, phases: tuple[str, ...],
                     selector: str, watch: bool, output: str | None) -> None:
    """List tasks: phase, priority, attempts, progress, reason, deadline, age and display
    name."""
    namespace = None if all_namespaces else session.namespace
    listing = await session.list_objects(TASKS, namespace, selector)
    wanted = set(phases)

    def keep(task: JSON) -> bool:
        return not wanted or (task.get("status") or {}).get("phase") in wanted

    console = make_console()
    ascii_only = not unicode_ok(console)

    def render(tasks: list[JSON], header: bool) -> Table:
        return task_table(tasks, header, all_namespaces, ascii_only)

    if watch:
        await watch_objects(console, session, TASKS, namespace, selector, listing, output,
                            render, keep)
        return
    tasks = sorted((t for t in listing["items"] if keep(t)),
                   key=lambda t: (t["metadata"].get("namespace", ""), t["metadata"]["name"]))
    where = "any namespace" if all_namespaces else f"namespace {session.namespace}"
    present(tasks, output, TASKS, where, lambda: render(tasks, True), console)


async def _change_each(session: Session, names: Sequence[str], action: actions.TaskAction,
                       verb: str) -> None:
    """Pauses, resumes or cancels every task; one line per task, and exit code 1 if any
    failed."""
    failed = False
    for arg in names:
        name = object_name(arg, TASKS)
        try:
            task = await _change(session, action, name)
        except (CliError, ApiError) as exc:
            click.echo(f"error: {describe(exc)}", err=True)
            failed = True
            continue
        status = task.get("status") or {}
        note = ""
        if is_terminal(status.get("phase"), status.get("reason")):
            note = f" (already {status.get('phase')}: no effect)"
        click.echo(f"{resource_name(TASKS)}/{name} {verb}{note}")
    if failed:
        sys.exit(1)


async def _change(session: Session, action: actions.TaskAction, name: str) -> JSON:
    try:
        return await actions.change_task(session.kube, action, session.namespace, name)
    except ApiError as exc:
        if exc.not_found:
            raise not_found(TASKS, session.namespace, name) from None
        raise


@click.command()
@click.argument("tasks", nargs=-1, required=True)
@kube_command
async def pause(session: Session, tasks: tuple[str, ...]) -> None:
    """Pause tasks (spec.paused=true): a Pending task waits, a running Job is suspended."""
    await _change_each(session, tasks, "pause", "paused")


@click.command()
@click.argument("tasks", nargs=-1, required=True)
@kube_command
async def resume(session: Session, tasks: tuple[str, ...]) -> None:
    """Resume paused tasks (spec.paused=false)."""
    await _change_each(session, tasks, "resume", "resumed")


@click.command()
@click.argument("tasks", nargs=-1, required=True)
@kube_command
async def cancel(session: Session, tasks: tuple[str, ...]) -> None:
    """Cancel tasks (spec.cancelled=true): they end Cancelled, a running Job is deleted."""
    await _change_each(session, tasks, "cancel", "cancelled")


@click.command()
@click.argument("task")
@click.option("--name", "new_name", help="Name of the new task; default <task>-rerun-<random>.")
@output_option()
@kube_command
async def rerun(session: Session, task: str, new_name: str | None, output: str | None) -> None:
    """Create a new task with the spec of TASK (which may be finished), neither paused nor
    cancelled."""
    name = object_name(task, TASKS)
    try:
        created = await actions.rerun(session.kube, session.namespace, name, new_name)
    except actions.NotFound:
        raise not_found(TASKS, session.namespace, name) from None
    print_created(created, output)


def print_created(obj: JSON, output: str | None) -> Any:
    if output:
        return emit_objects([obj], output, TASKS, single=True)
    click.echo(f"{resource_name(TASKS)}/{obj['metadata']['name']} created")
    return None
