"""``list -w``: a watch on our objects, redrawn live on a terminal, one line per change
elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import click
import yaml
from rich.console import Console, RenderableType
from rich.live import Live

from agenttasks.cli.kubeapi import JSON, Session, resource_name
from agenttasks.cli.output import show
from agenttasks.kube.watching import WatchEvent

Key = tuple[str, str]
REDRAW_S = 1.0


def key(obj: JSON) -> Key:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


async def watch_live(console: Console, state: dict[Key, JSON],
                     source: AsyncIterator[WatchEvent],
                     render: Callable[[list[JSON]], RenderableType],
                     keep: Callable[[JSON], bool]) -> None:
    """Redraws ``render(objects)`` on every change, and every second for ages and countdowns.
    A failure of the watch is raised here."""
    def view() -> RenderableType:
        return render(sorted(state.values(), key=key))

    # One pending read of the watch, kept across redraws: cancelling it would end the watch.
    upcoming: asyncio.Future[WatchEvent] = asyncio.ensure_future(anext(source))
    try:
        with Live(view(), console=console, auto_refresh=False) as live:
            while True:
                done, _ = await asyncio.wait({upcoming}, timeout=REDRAW_S)
                if done:
                    apply(state, upcoming.result(), keep)
                    upcoming = asyncio.ensure_future(anext(source))
                live.update(view(), refresh=True)
    finally:
        if not upcoming.done():
            upcoming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await upcoming


def apply(state: dict[Key, JSON], change: WatchEvent, keep: Callable[[JSON], bool]) -> None:
    if change.type == "RELISTED":
        state.clear()
        state.update({key(o): o for o in change.items if keep(o)})
    elif change.obj is not None:
        if change.type == "DELETED" or not keep(change.obj):
            state.pop(key(change.obj), None)
        else:
            state[key(change.obj)] = change.obj


async def watch_lines(console: Console, source: AsyncIterator[WatchEvent], output: str | None,
                      plural: str, row: Callable[[list[JSON]], RenderableType],
                      keep: Callable[[JSON], bool]) -> None:
    """One line per change that passes ``keep``: a table row, a JSON document on one line,
    a YAML document, or a name."""
    async for change in source:
        objects = list(change.items) if change.type == "RELISTED" else [change.obj]
        shown = [o for o in objects if o is not None and keep(o)]
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


async def watch_objects(console: Console, session: Session, plural: str,
                        namespace: str | None, selector: str, listing: JSON,
                        output: str | None,
                        table: Callable[[list[JSON], bool], RenderableType],
                        keep: Callable[[JSON], bool]) -> Any:
    """``-w``: live on a terminal with the table; otherwise (or with ``-o``) the current
    objects, then one line per change."""
    items = [o for o in listing["items"] if keep(o)]
    source = session.watch(plural, namespace, selector, listing["metadata"]["resourceVersion"])
    if output is None and console.is_terminal:
        state = {key(o): o for o in items}
        return await watch_live(console, state, source, lambda objs: table(objs, True), keep)
    if items or output is None:  # the table's header, even when nothing matches yet
        print_objects(console, items, output, plural, lambda objs: table(objs, True))
    return await watch_lines(console, source, output, plural, lambda objs: table(objs, False),
                             keep)
