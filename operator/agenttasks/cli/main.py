"""Entry point of the `agenttasks` and `kubectl-agenttasks` commands."""

from __future__ import annotations

import click

from agenttasks import __version__
from agenttasks.cli.chart_version import chart_version
from agenttasks.cli.cluster import cluster
from agenttasks.cli.crds import crds
from agenttasks.cli.dev import dev
from agenttasks.cli.operator import operator
from agenttasks.cli.receiver import receiver
from agenttasks.cli.user import USER_COMMANDS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="agenttasks")
def cli() -> None:
    """AgentTask: a Kubernetes job system for AI-agent workloads."""


cli.add_command(cluster)
cli.add_command(operator)
cli.add_command(receiver)
cli.add_command(crds)
cli.add_command(chart_version)
cli.add_command(dev)
for command in USER_COMMANDS:
    cli.add_command(command)


def main() -> None:
    cli()
