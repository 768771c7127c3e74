"""`agenttasks receiver`: the split webhook receiver, in the foreground.

It serves POST /hooks/<namespace>/<name>, /healthz, /readyz and /metrics, and nothing
else: the process that parses untrusted bodies runs as its own ServiceAccount, which may
create AgentTasks and ConfigMaps and read Secrets, but not create Jobs or read every Secret.
Its delivery counts go to the operator (`--operator-url`), the one writer of trigger status.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import click

from agenttasks.controller.settings import ReceiverSettings


@click.command()
@click.option("--operator-url", required=True, metavar="URL",
              help="The operator's HTTP port, such as "
              "http://agenttasks.agenttasks-system.svc:80: delivery counts are reported to "
              "its /internal/delivery-counts.")
@click.option("-n", "--namespace", "namespaces", multiple=True,
              help="Serve triggers in this namespace (or glob); repeatable. Default: every "
              "namespace. Use the operator's own --namespace values.")
@click.option("--http-port", type=click.IntRange(1, 65535), default=8080, show_default=True,
              help="Port for POST /hooks/, /healthz, /readyz and /metrics.")
@click.option("--metrics-port", type=click.IntRange(1, 65535),
              help="Serve /metrics on this port alone instead of the HTTP port.")
@click.option("--kubeconfig", type=click.Path(exists=True, dir_okay=False),
              help="Kubeconfig to use; default $KUBECONFIG, ~/.kube/config, or in-cluster.")
@click.option("--operator-token-file", type=click.Path(dir_okay=False),
              help="A token to present to the operator, re-read for every report (a "
              "projected ServiceAccount token for the operator's --receiver-audience). "
              "Default: the token of the API credentials.")
def receiver(operator_url: str, namespaces: tuple[str, ...], http_port: int,
             metrics_port: int | None, kubeconfig: str | None,
             operator_token_file: str | None) -> None:
    """Run the webhook receiver apart from the operator."""
    from agenttasks.app import main_receiver

    if metrics_port is not None and metrics_port == http_port:
        raise click.BadParameter("must differ from --http-port", param_hint="--metrics-port")
    url = urlsplit(operator_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise click.BadParameter("an http:// or https:// URL with a host, such as "
                                 "http://agenttasks.agenttasks-system.svc:80",
                                 param_hint="--operator-url")
    main_receiver(ReceiverSettings(
        operator_url=operator_url, namespaces=namespaces, http_port=http_port,
        kubeconfig=kubeconfig, operator_token_file=operator_token_file,
        metrics_port=metrics_port))
