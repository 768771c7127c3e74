"""``list -w``: a watch on our objects, redrawn live on a terminal, one line per change
elsewhere."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import click
import yaml
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from rich.console import Console, RenderableType
from rich.live import Live

from agenttasks.api.meta import GROUP, VERSION
from agenttasks.cli.kubeapi import JSON, Session, resource_name
from agenttasks.cli.output import show

Key = tuple[str, str]


@dataclass
class Change:
    """``ADDED``, ``MODIFIED`` or ``DELETED`` of one object; ``SYNC`` carries a fresh list
    after the watch expired (410 Gone)."""

    type: str
    obj: JSON | None = None
    items: list[JSON] | None = None


def key(obj: JSON) -> Key:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def changes(session: Session, plural: str, namespace: str | None, selector: str,
            resource_version: str) -> Iterator[Change]:
    """Every change from ``resource_version`` on, forever."""
    args: tuple[str, ...]
    while True:
        if namespace is None:
            fn, args = session.custom.list_cluster_custom_object, (GROUP, VERSION, plural)
        else:
            fn = session.custom.list_namespaced_custom_object
            args = (GROUP, VERSION, namespace, plural)
        try:
            for event in watch.Watch().stream(fn, *args, label_selector=selector,
                                              resource_version=resource_version):
                obj = event.get("raw_object") or event["object"]
                if event["type"] == "ERROR":
                    if obj.get("code") == 410:
                        break
                    raise ApiException(status=obj.get("code"), reason=obj.get("message"))
                resource_version = obj["metadata"]["resourceVersion"]
                yield Change(event["type"], obj)
        except ApiException as exc:
            if exc.status != 410:
                raise
        listing = session.list_objects(plural, namespace, selector)
        resource_version = listing["metadata"]["resourceVersion"]
        yield Change("SYNC", items=list(listing["items"]))


def watch_live(console: Console, state: dict[Key, JSON], source: Iterator[Change],
               render: Callable[[list[JSON]], RenderableType],
               keep: Callable[[JSON], bool]) -> None:
    """Redraws ``render(objects)`` on every change, and every second for ages and countdowns.
    The watch runs in a thread; its failures are raised here."""
    inbox: queue.Queue[Change | BaseException] = queue.Queue()

    def pump() -> None:
        try:
            for change in source:
                inbox.put(change)
        except BaseException as exc:  # handed to the main thread, which reports it
            inbox.put(exc)

    threading.Thread(target=pump, daemon=True, name="watch").start()

    def view() -> RenderableType:
        return render(sorted(state.values(), key=key))

    with Live(view(), console=console, auto_refresh=False) as live:
        while True:
            try:
                item = inbox.get(timeout=1)
            except queue.Empty:
                live.update(view(), refresh=True)
                continue
            if isinstance(item, BaseException):
                raise item
            apply(state, item, keep)
            live.update(view(), refresh=True)


def apply(state: dict[Key, JSON], change: Change, keep: Callable[[JSON], bool]) -> None:
    if change.type == "SYNC":
        state.clear()
        state.update({key(o): o for o in change.items or [] if keep(o)})
    elif change.obj is not None:
        if change.type == "DELETED" or not keep(change.obj):
            state.pop(key(change.obj), None)
        else:
            state[key(change.obj)] = change.obj


def watch_lines(console: Console, source: Iterator[Change], output: str | None, plural: str,
                row: Callable[[list[JSON]], RenderableType],
                keep: Callable[[JSON], bool]) -> None:
    """One line per change that passes ``keep``: a table row, a JSON document on one line,
    a YAML document, or a name."""
    for change in source:
        objects = change.items if change.type == "SYNC" else [change.obj]
        shown = [o for o in objects or [] if o is not None and keep(o)]
        if shown:
            print_objects(console, shown, output, plural, row)


def print_objects(console: Console, objects: list[JSON], output: str | None, plural: str,
                  row: Callable[[list[JSON]], RenderableType]) -> None:
    for obj in objects:
        if output == "json":
            click.echo(json.dumps(obj, separators=(",", ":")))
        elif output == "yaml":
            click.echo("---\n" + yaml.safe_dump(obj, sort_keys=False), nl=False)
        elif output == "name":
            click.echo(f"{resource_name(plural)}/{obj['metadata']['name']}")
    if output is None:
        show(console, row(objects))


def watch_objects(console: Console, session: Session, plural: str, namespace: str | None,
                  selector: str, listing: JSON, output: str | None,
                  table: Callable[[list[JSON], bool], RenderableType],
                  keep: Callable[[JSON], bool]) -> Any:
    """``-w``: live on a terminal with the table; otherwise (or with ``-o``) the current
    objects, then one line per change."""
    items = [o for o in listing["items"] if keep(o)]
    source = changes(session, plural, namespace, selector,
                     listing["metadata"]["resourceVersion"])
    if output is None and console.is_terminal:
        state = {key(o): o for o in items}
        return watch_live(console, state, source, lambda objs: table(objs, True), keep)
    if items or output is None:  # the table's header, even when nothing matches yet
        print_objects(console, items, output, plural, lambda objs: table(objs, True))
    return watch_lines(console, source, output, plural, lambda objs: table(objs, False), keep)
