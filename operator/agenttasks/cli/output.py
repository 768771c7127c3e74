"""Terminal and script output: tables, phase colours, ``-o json|yaml|name``."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click
import yaml
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from agenttasks.cli.kubeapi import resource_name

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("json", "yaml", "name")
PHASE_STYLES = {
    "Pending": "yellow",
    "InProgress": "cyan",
    "Paused": "magenta",
    "Completed": "green",
    "Failed": "red",
    "Cancelled": "dim",
}
CONDITION_STYLES = {"True": "green", "False": "red"}


def output_option(*, extra: Sequence[str] = ()) -> Callable[[F], F]:
    return click.option("-o", "--output", type=click.Choice([*FORMATS, *extra]),
                        help="Print the objects as JSON or YAML (as the API returns them), "
                        "or as kubectl-style names; default: a table for people.")


def make_console() -> Console:
    """Colours only on a terminal (and never with NO_COLOR); off a terminal, lines are not
    wrapped, so scripts can grep them."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 4096
    return console


def show(console: Console, renderable: RenderableType) -> None:
    """Prints to the terminal as rich does; elsewhere without the padding at line ends."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def unicode_ok(console: Console) -> bool:
    return console.encoding.lower().replace("-", "").startswith("utf")


def phase_text(phase: str | None, reason: str | None = None) -> Text:
    if not phase:
        return Text("-")
    text = Text(phase, style=PHASE_STYLES.get(phase, ""))
    if reason:
        text.append(f" ({reason})", style="dim")
    return text


def table(*columns: str) -> Table:
    """A kubectl-like table: upper-case headers, no borders."""
    grid = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for column in columns:
        grid.add_column(column, no_wrap=True, overflow="fold")
    return grid


def cells(*values: Any) -> list[Text]:
    """Table cells; plain strings are never read as rich markup."""
    return [v if isinstance(v, Text) else Text("-" if v is None or v == "" else str(v))
            for v in values]


def emit_objects(objects: Sequence[Mapping[str, Any]], output: str, plural: str,
                 single: bool = False) -> None:
    """``-o json`` / ``yaml``: a list (or the object itself when ``single``); ``-o name``:
    one ``agenttask.agenttasks.io/<name>`` line per object."""
    if output == "name":
        for obj in objects:
            click.echo(f"{resource_name(plural)}/{obj['metadata']['name']}")
        return
    data: Any = objects[0] if single else list(objects)
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)


def present(items: Sequence[Mapping[str, Any]], output: str | None, plural: str, where: str,
            render: Callable[[], RenderableType], console: Console | None = None) -> None:
    """A listing as -o asks, or a table, or a line on stderr when there is nothing."""
    if output:
        emit_objects(items, output, plural)
    elif not items:
        click.echo(f"No {plural} found in {where}.", err=True)
    else:
        show(console or make_console(), render())
