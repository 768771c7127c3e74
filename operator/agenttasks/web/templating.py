"""The dashboard's Jinja2 environment: templates are files in web/templates/, shipped as
package data, and autoescaped (HTML and SVG), so a value becomes markup only when it is
already Markup, never by forgetting to escape it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from agenttasks.api.task import Phase
from agenttasks.api.timefmt import format_time, parse_time

PHASE_NAMES = frozenset(p.value for p in Phase)


def when(value: datetime | str | None) -> str:
    """A time as RFC 3339 in UTC; text that is not a time is shown as it is."""
    if value is None or value == "":
        return ""
    try:
        moment = parse_time(value)
    except ValueError:
        return str(value)
    return format_time(moment) if moment else ""


def task_path(namespace: str, name: str) -> str:
    return f"/tasks/{quote(namespace, safe='')}/{quote(name, safe='')}"


def known_phase(phase: str) -> str:
    """The phase as a CSS class word: one of the phases, or Unknown."""
    return phase if phase in PHASE_NAMES else "Unknown"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("agenttasks.web", "templates"),
        # On for every template and string: nothing here is meant to be raw text.
        autoescape=select_autoescape(("html", "svg"), default_for_string=True, default=True),
        undefined=StrictUndefined,  # a misspelt variable is an error, not an empty string
        trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    env.filters["known_phase"] = known_phase
    env.globals["task_path"] = task_path
    return env


ENV = _environment()


def render(template: str, **context: Any) -> Markup:
    """A template rendered with ``context``: safe markup, every value in it escaped."""
    return Markup(ENV.get_template(template).render(**context).strip())


def macro(template: str, name: str, *args: Any) -> Markup:
    """One macro of a template, called with ``args`` (the pieces tests look at alone)."""
    module = ENV.get_template(template).module
    return Markup(str(getattr(module, name)(*args)).strip())
