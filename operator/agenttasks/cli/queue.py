"""``agenttasks queue``: the operator's visible queue (``GET /api/queue``, web/queue_endpoint.py):
each waiting task's position, what it waits for, and when it should start.

The operator answers with the user's own rights: the request carries the kubeconfig's bearer
token, which the operator reviews (TokenReview) before it shows the tasks of the namespaces
where that user may list AgentTasks. Where the operator listens is ``--operator-url`` or
``$AGENTTASKS_OPERATOR_URL`` (its HTTP port, as the dashboard's). Without either, the same
view is read through the API server, from the visibility API (``kubectl get pendingtasks``),
when the cluster has it registered; RBAC on pendingtasks then decides what the user sees.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import click
from rich.console import Group
from rich.table import Table
from rich.text import Text

from agenttasks.api.timefmt import parse_time, utcnow
from agenttasks.api.visibility import GROUP_VERSION, RESOURCE
from agenttasks.cli import format as fmt
from agenttasks.cli.errors import CliError
from agenttasks.cli.kubeapi import JSON, Session, kube_command
from agenttasks.cli.output import cells, make_console, show, table
from agenttasks.kube.connection import ApiError

ENV = "AGENTTASKS_OPERATOR_URL"
TIMEOUT_S = 10.0
MAX_BYTES = 16 << 20  # a queue of 50,000 tasks is about 20 MB of JSON; ours is bounded anyway
F = TypeVar("F", bound=Callable[..., Any])


class QueueUnavailable(Exception):
    """The operator's queue view could not be read; the text says why."""


def operator_url_option(f: F) -> F:
    return click.option(
        "--operator-url", metavar="URL", envvar=ENV,
        help=f"The operator's HTTP port, such as http://127.0.0.1:8080 (default ${ENV}); "
        "without one, the visibility API through the API server.")(f)


async def fetch_queue(session: Session, url: str | None, namespace: str | None) -> JSON:
    """The operator's answer for ``namespace`` (None: every namespace the user may list)."""
    if not url:
        return await _through_api_server(session, namespace)
    await session.kube.connection.session()  # reads the credentials
    credentials = session.kube.connection.credentials
    token = credentials.token if credentials else None
    if not token:
        raise QueueUnavailable("the kubeconfig has no bearer token, which the operator needs "
                               "to learn who you are")
    query = f"?{urlencode({'namespace': namespace})}" if namespace else ""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as http, \
                http.get(f"{url.rstrip('/')}/api/queue{query}",
                         headers={"Authorization": f"Bearer {token}",
                                  "Accept": "application/json"}) as response:
            body = await response.content.read(MAX_BYTES + 1)
            status = response.status
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise QueueUnavailable(f"the operator at {url} did not answer ({type(exc).__name__})"
                               ) from None
    if len(body) > MAX_BYTES:
        raise QueueUnavailable("the operator's answer is too large")
    try:
        document = json.loads(body)
    except ValueError:
        raise QueueUnavailable(f"the operator at {url} answered {status}, not JSON") from None
    if status != 200:
        error = document.get("error") if isinstance(document, dict) else None
        raise QueueUnavailable(f"the operator answered {status}: {error or 'no reason'}")
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise QueueUnavailable("the operator's answer is not a queue")
    return document


async def _through_api_server(session: Session, namespace: str | None) -> JSON:
    """The visibility API's PendingTaskList, its items in /api/queue's shape."""
    try:
        document = await session.kube.list_resource(GROUP_VERSION, RESOURCE, namespace)
    except ApiError as exc:
        if exc.not_found:
            raise QueueUnavailable(f"no operator URL (--operator-url or ${ENV}), and the "
                                   "cluster has no visibility API (the chart's "
                                   "visibilityAPI.enabled)") from None
        raise QueueUnavailable(f"the visibility API answered {exc.status}: "
                               f"{exc.message}") from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise QueueUnavailable(f"the API server did not answer ({type(exc).__name__})"
                               ) from None
    items = document.get("items")
    if not isinstance(items, list):
        raise QueueUnavailable("the visibility API's answer is not a list")
    return {**document, "items": [flat_item(i) for i in items if isinstance(i, dict)]}


def flat_item(pending: JSON) -> JSON:
    """A PendingTask as an item of /api/queue: its namespace and name beside its fields."""
    meta = pending.get("metadata") or {}
    fields = {k: v for k, v in pending.items() if k not in ("apiVersion", "kind", "metadata")}
    return {"namespace": meta.get("namespace"), "name": meta.get("name"), **fields}


# --- rendering --------------------------------------------------------------------------------


def eta_text(item: JSON, now: datetime) -> str:
    """``in 2m (1m-4m)``, ``now``, or ``-`` without an estimate."""
    eta = item.get("eta") or {}
    start, early, late = (parse_time(eta.get(k)) for k in ("start", "earliest", "latest"))
    if start is None:
        return "-"
    wait = (start - now).total_seconds()
    if wait <= 0 and late is not None and late <= now:
        return "now"
    text = f"in {fmt.human_duration(wait)}"
    if early is not None and late is not None and late > early:
        text += f" ({fmt.human_duration((early - now).total_seconds())}-" \
            f"{fmt.human_duration((late - now).total_seconds())})"
    return text


def position_text(item: JSON) -> str:
    if item.get("position") is None:
        return "-"
    return f"{item['position']} ({item.get('namespacePosition')} in ns)"


def summary_text(document: JSON) -> str:
    limits = document.get("limits") or {}
    rate = document.get("throughput") or {}
    running = f"{document.get('running', 0)} running"
    if limits.get("maxRunning"):
        running += f" of {limits['maxRunning']}"
    if limits.get("maxRunningPerNamespace"):
        running += f" ({limits['maxRunningPerNamespace']} per namespace)"
    window = fmt.human_duration(float(rate.get("windowSeconds") or 0))
    return (f"{document.get('queued', 0)} waiting for a slot, {running}; "
            f"{rate.get('perMinute', 0)} slots freed per minute over the last {window}")


def queue_table(items: Sequence[JSON], now: datetime, namespaces: bool) -> Table:
    columns = ["POSITION", "NAME", "PRIORITY", "REASON", "ETA", "MESSAGE"]
    grid = table(*(["NAMESPACE", *columns] if namespaces else columns))
    for item in items:
        row = cells(position_text(item), item.get("name"), item.get("priority"),
                    item.get("reason"), eta_text(item, now), item.get("message"))
        grid.add_row(*(cells(item.get("namespace")) + row if namespaces else row))
    return grid


@click.command("queue")
@click.option("-A", "--all-namespaces", is_flag=True,
              help="Every namespace you may list AgentTasks in.")
@click.option("-o", "--output", type=click.Choice(["json"]),
              help="The operator's answer as JSON.")
@operator_url_option
@kube_command
async def queue(session: Session, all_namespaces: bool, output: str | None,
                operator_url: str | None) -> None:
    """Show the waiting tasks: position in the queue, what each waits for, and when it should
    start (from the slots freed recently; with an 80% interval)."""
    namespace = None if all_namespaces else session.namespace
    try:
        document = await fetch_queue(session, operator_url, namespace)
    except QueueUnavailable as exc:
        raise CliError(f"cannot read the queue: {exc}") from None
    if output == "json":
        click.echo(json.dumps(document, indent=2))
        return
    console = make_console()
    items = document["items"]
    where = "any namespace you may list" if all_namespaces else f"namespace {namespace}"
    body = queue_table(items, utcnow(), all_namespaces) if items else \
        Text(f"No waiting tasks in {where}.")
    show(console, Group(Text(summary_text(document), style="dim"), body))
