"""``agenttasks run SCHEDULE``, ``agenttasks schedules`` and ``agenttasks triggers``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import click
from rich.table import Table
from rich.text import Text

from agenttasks import actions
from agenttasks.api.timefmt import utcnow
from agenttasks.cli import format as fmt
from agenttasks.cli.errors import CliError
from agenttasks.cli.kubeapi import (
    JSON,
    SCHEDULES,
    TASKS,
    TRIGGERS,
    Session,
    kube_command,
    not_found,
    object_name,
    resource_name,
)
from agenttasks.cli.output import (
    CONDITION_STYLES,
    cells,
    output_option,
    present,
    table,
)
from agenttasks.cli.tasks import print_created
from agenttasks.kube.client import ApiError

POLL_SECONDS = 0.5


def ready_text(obj: JSON) -> Text:
    """The Ready condition's reason, green when True and red when False."""
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return Text(str(condition.get("reason") or condition.get("status")),
                        style=CONDITION_STYLES.get(condition.get("status"), ""))
    return Text("-")


def schedule_table(items: Sequence[JSON], namespaces: bool) -> Table:
    columns = ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "NEXT",
               "READY", "AGE"]
    grid = table(*(["NAMESPACE", *columns] if namespaces else columns))
    now = utcnow()
    for obj in items:
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        row = cells(meta["name"], spec.get("schedule"), spec.get("timeZone", "UTC"),
                    str(bool(spec.get("suspend"))).lower(), len(status.get("active") or []),
                    fmt.relative(status.get("lastScheduleTime"), now),
                    fmt.relative(status.get("nextScheduleTime"), now), ready_text(obj),
                    fmt.age(meta.get("creationTimestamp"), now))
        grid.add_row(*(cells(meta.get("namespace")) + row if namespaces else row))
    return grid


def trigger_table(items: Sequence[JSON], namespaces: bool) -> Table:
    columns = ["NAME", "SIGNATURE", "URL", "ACCEPTED", "DUPLICATE", "REJECTED", "READY", "AGE"]
    grid = table(*(["NAMESPACE", *columns] if namespaces else columns))
    now = utcnow()
    for obj in items:
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        counts = status.get("deliveries") or {}
        row = cells(meta["name"], spec.get("signature", "standard-webhooks"), status.get("url"),
                    counts.get("accepted", 0), counts.get("duplicate", 0),
                    counts.get("rejected", 0), ready_text(obj),
                    fmt.age(meta.get("creationTimestamp"), now))
        grid.add_row(*(cells(meta.get("namespace")) + row if namespaces else row))
    return grid


async def _list(session: Session, plural: str, all_namespaces: bool, selector: str,
                output: str | None) -> None:
    namespace = None if all_namespaces else session.namespace
    listing = await session.list_objects(plural, namespace, selector)
    items = sorted(listing.get("items") or [],
                   key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
    where = "any namespace" if all_namespaces else f"namespace {session.namespace}"
    render = schedule_table if plural == SCHEDULES else trigger_table
    present(items, output, plural, where, lambda: render(items, all_namespaces))


ALL_NAMESPACES = click.option("-A", "--all-namespaces", is_flag=True,
                              help="Every namespace.")
SELECTOR = click.option("-l", "--selector", default="", help="Label selector.")


@click.command()
@ALL_NAMESPACES
@SELECTOR
@output_option()
@kube_command
async def schedules(session: Session, all_namespaces: bool, selector: str,
                    output: str | None) -> None:
    """List schedules: cron, time zone, suspend, last and next fire, Ready reason."""
    await _list(session, SCHEDULES, all_namespaces, selector, output)


@click.command()
@ALL_NAMESPACES
@SELECTOR
@output_option()
@kube_command
async def triggers(session: Session, all_namespaces: bool, selector: str,
                   output: str | None) -> None:
    """List triggers: signature scheme, URL path and delivery counters."""
    await _list(session, TRIGGERS, all_namespaces, selector, output)


@click.command()
@click.argument("schedule")
@click.option("--timeout", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds to wait for the operator to create the task; 0: do not wait.")
@output_option()
@kube_command
async def run(session: Session, schedule: str, timeout: float, output: str | None) -> None:
    """Run a schedule now (annotation agenttasks.io/run-now with a fresh token) and print
    the task it created."""
    name = object_name(schedule, SCHEDULES)
    try:
        token, task = await actions.run_now(session.kube, session.namespace, name)
    except ApiError as exc:
        if exc.not_found:
            raise not_found(SCHEDULES, session.namespace, name) from None
        raise
    if timeout == 0:
        click.echo(f"{resource_name(TASKS)}/{task} requested")
        return
    deadline = time.monotonic() + timeout
    while (created := await session.kube.get_object(TASKS, session.namespace, task)) is None:
        if time.monotonic() >= deadline:
            raise CliError(
                f"schedule {name} was asked to run (token {token}), but task {task} did "
                f"not appear within {timeout:g}s: is the operator running and watching "
                f"namespace {session.namespace}?")
        await asyncio.sleep(POLL_SECONDS)
    print_created(created, output)
