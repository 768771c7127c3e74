"""`agenttasks chart-version`: the chart's version and appVersion follow the package's.

The version is written once, in pyproject.toml; Chart.yaml is rewritten from it, line by
line, so that its comments and layout stay as they are.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from agenttasks import __version__

CHART = Path("charts/agenttask-operator")
_FIELDS = {"version": "{v}", "appVersion": '"{v}"'}


def with_version(chart_yaml: str, version: str) -> str:
    """Chart.yaml's text with its top-level ``version`` and ``appVersion`` set to ``version``."""
    for field, form in _FIELDS.items():
        pattern = re.compile(rf"^{field}:.*$", re.MULTILINE)
        if not pattern.search(chart_yaml):
            raise ValueError(f"Chart.yaml has no top-level {field}")
        chart_yaml = pattern.sub(f"{field}: {form.format(v=version)}", chart_yaml, count=1)
    return chart_yaml


@click.command("chart-version")
@click.option("--chart", type=click.Path(path_type=Path, file_okay=False), default=CHART,
              show_default=True, help="The chart folder.")
@click.option("--write", is_flag=True, help="Rewrite Chart.yaml instead of checking it.")
def chart_version(chart: Path, write: bool) -> None:
    """Set (or check) the chart's version and appVersion to the package version."""
    path = chart / "Chart.yaml"
    text = path.read_text()
    wanted = with_version(text, __version__)
    if write:
        if wanted != text:
            path.write_text(wanted)
        click.echo(f"{path}: version and appVersion {__version__}")
    elif wanted != text:
        raise click.ClickException(
            f"{path} does not carry version {__version__}: run `make generate`")
