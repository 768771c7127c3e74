"""``agenttasks run SCHEDULE``, ``agenttasks schedules`` and ``agenttasks triggers``."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

import click
from rich.table import Table
from rich.text import Text

from agenttasks.api.meta import ANNOTATION_RUN_NOW
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
from agenttasks.core.naming import manual_task_name

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


def _list(session: Session, plural: str, all_namespaces: bool, selector: str,
          output: str | None) -> None:
    namespace = None if all_namespaces else session.namespace
    items = sorted(session.list_objects(plural, namespace, selector).get("items") or [],
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
def schedules(session: Session, all_namespaces: bool, selector: str,
              output: str | None) -> None:
    """List schedules: cron, time zone, suspend, last and next fire, Ready reason."""
    _list(session, SCHEDULES, all_namespaces, selector, output)


@click.command()
@ALL_NAMESPACES
@SELECTOR
@output_option()
@kube_command
def triggers(session: Session, all_namespaces: bool, selector: str,
             output: str | None) -> None:
    """List triggers: signature scheme, URL path and delivery counters."""
    _list(session, TRIGGERS, all_namespaces, selector, output)


def run_now_token() -> str:
    """A fresh run-now token: the time, and randomness so that two runs in one second
    differ."""
    return f"{int(time.time())}-{secrets.token_hex(4)}"


@click.command()
@click.argument("schedule")
@click.option("--timeout", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds to wait for the operator to create the task; 0: do not wait.")
@output_option()
@kube_command
def run(session: Session, schedule: str, timeout: float, output: str | None) -> None:
    """Run a schedule now (annotation agenttasks.io/run-now with a fresh token) and print
    the task it created."""
    name = object_name(schedule, SCHEDULES)
    token = run_now_token()
    session.patch(SCHEDULES, session.namespace, name,
                  {"metadata": {"annotations": {ANNOTATION_RUN_NOW: token}}})
    task = manual_task_name(name, token)
    if timeout == 0:
        click.echo(f"{resource_name(TASKS)}/{task} requested")
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            created = session.get(TASKS, session.namespace, task)
        except CliError:
            if time.monotonic() >= deadline:
                raise CliError(
                    f"schedule {name} was asked to run (token {token}), but task {task} did "
                    f"not appear within {timeout:g}s: is the operator running and watching "
                    f"namespace {session.namespace}?") from None
            time.sleep(POLL_SECONDS)
            continue
        print_created(created, output)
        return
