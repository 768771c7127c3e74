"""`agenttasks operator`: runs the operator in the foreground."""

from __future__ import annotations

import click

from agenttasks.controller.settings import OperatorSettings


@click.command()
@click.option("-n", "--namespace", "namespaces", multiple=True,
              help="Watch this namespace (or glob, such as 'team-*'); repeatable. "
              "Default: every namespace.")
@click.option("--http-port", type=int, default=8080, show_default=True,
              help="Port for /healthz, and later webhooks, dashboard and metrics.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Objects reconciled at once.")
@click.option("--kubeconfig", type=click.Path(exists=True, dir_okay=False),
              help="Kubeconfig to use; default $KUBECONFIG, ~/.kube/config, or in-cluster.")
def operator(namespaces: tuple[str, ...], http_port: int, workers: int,
             kubeconfig: str | None) -> None:
    """Run the AgentTask operator."""
    from agenttasks.controller.main import main

    main(OperatorSettings(namespaces=namespaces, http_port=http_port, workers=workers,
                          kubeconfig=kubeconfig))
