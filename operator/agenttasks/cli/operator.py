"""`agenttasks operator`: runs the operator in the foreground."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import click

from agenttasks.api.duration import parse_duration
from agenttasks.controller.settings import OperatorSettings
from agenttasks.core.peering import priority_for
from agenttasks.core.plans import Plan
from agenttasks.core.queue import Aging, Limits
from agenttasks.manifests.progress_token import DEFAULT_AUDIENCE


@click.command()
@click.option("-n", "--namespace", "namespaces", multiple=True,
              help="Watch this namespace (or glob, such as 'team-*'); repeatable. "
              "Default: every namespace.")
@click.option("--http-port", type=int, default=8080, show_default=True,
              help="Port for /healthz, /readyz, /metrics, webhook deliveries, agent "
                   "progress and the dashboard.")
@click.option("--metrics-port", type=click.IntRange(1, 65535),
              help="Serve /metrics on this port alone instead of the HTTP port.")
@click.option("--hooks/--no-hooks", "serve_hooks", default=True, show_default=True,
              help="Serve POST /hooks/ (webhook deliveries). --no-hooks when a split "
              "receiver (`agenttasks receiver`) serves them: /hooks/ then answers 404.")
@click.option("--receiver-user", metavar="USER",
              help="Take delivery-count reports from the split receiver that authenticates "
              "as USER, such as system:serviceaccount:agenttasks-system:agenttasks-receiver, "
              "at POST /internal/delivery-counts. Off by default.")
@click.option("--receiver-audience", metavar="AUDIENCE",
              help="The audience the receiver's token must be meant for (a projected "
              "token); default the API server's.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Objects reconciled at once.")
@click.option("--kubeconfig", type=click.Path(exists=True, dir_okay=False),
              help="Kubeconfig to use; default $KUBECONFIG, ~/.kube/config, or in-cluster.")
@click.option("--default-ttl-after-finished", "default_ttl", metavar="DURATION",
              help="Delete a finished task this long after it ended (such as 7d or 24h) "
              "when it does not set spec.ttlAfterFinished itself. Default (or empty): keep "
              "finished tasks.")
@click.option("--max-running", type=click.IntRange(min=0), default=10, show_default=True,
              help="Most tasks InProgress at once across watched namespaces; 0 = unlimited.")
@click.option("--max-running-per-namespace", type=click.IntRange(min=0), default=0,
              help="Most tasks InProgress at once per namespace; 0 (default) = unlimited.")
@click.option("--namespace-weight", "namespace_weights", multiple=True, metavar="NAMESPACE=W",
              help="The namespace's weight in the fair share of --max-running (1 to 1000); "
              "repeatable. Namespaces not named weigh 1: with waiting work, they share "
              "the slots round-robin.")
@click.option("--priority-aging", metavar="STEP/INTERVAL",
              help="Raise a waiting task's effective priority by STEP per INTERVAL, "
              "such as 1/5m. Off by default.")
@click.option("--plan", type=click.Choice([p.value for p in Plan]), default="enterprise",
              show_default=True, help="Feature plan; see the README's plan table.")
@click.option("--peering", metavar="NAME",
              help="Run as one of several replicas: kopf peering object NAME decides which one "
              "acts. Default: standalone.")
@click.option("--priority", type=int,
              help="This replica's peering priority; default derived from $POD_NAME or the "
              "host name, so replicas differ.")
@click.option("--peering-lifetime", type=click.IntRange(5, 600), default=30, show_default=True,
              help="Seconds after which a silent replica counts as gone (takeover time).")
@click.option("--admission-port", type=click.IntRange(1, 65535), default=9443,
              show_default=True, help="HTTPS port of the validating admission webhook.")
@click.option("--admission-cert-dir", type=click.Path(exists=True, file_okay=False),
              help="Directory with tls.crt and tls.key; turns the admission webhook on.")
@click.option("--visibility-port", type=click.IntRange(1, 65535),
              help="HTTPS port of the visibility API (kubectl get pendingtasks), for the "
              "kube-apiserver's aggregator; needs --visibility-cert-dir. Default: not served.")
@click.option("--visibility-cert-dir", type=click.Path(exists=True, file_okay=False),
              help="Directory with tls.crt and tls.key of the visibility API's Service name.")
@click.option("--no-writer-rights-check", "skip_writer_rights", is_flag=True,
              help="Admission stops checking that whoever writes a task template may create "
              "its Job and use its ServiceAccount (docs/security.md says what that costs).")
@click.option("--dashboard-read-only", is_flag=True,
              help="Let the dashboard show its pages without a token (read-only); actions "
              "still need a token the user's RBAC allows. Off by default.")
@click.option("--dashboard-token-audience", "dashboard_token_audiences", multiple=True,
              metavar="AUDIENCE",
              help="Accept only dashboard tokens issued for this audience (the TokenReview's "
              "spec.audiences); repeatable or comma-separated. Default: the API server's own "
              "audience.")
@click.option("--progress-url", metavar="URL",
              help="Base URL at which attempts' pods reach this operator to report progress, "
              "such as http://agenttasks.agenttasks-system.svc; default http://$POD_IP:PORT, "
              "or 127.0.0.1 outside a cluster.")
@click.option("--progress-audience", metavar="AUDIENCE", default=DEFAULT_AUDIENCE,
              show_default=True,
              help="Audience of the projected ServiceAccount token each attempt's pod reports "
              "progress with; the operator accepts only tokens issued for it.")
def operator(namespaces: tuple[str, ...], http_port: int, workers: int,
             kubeconfig: str | None, max_running: int, max_running_per_namespace: int,
             priority_aging: str | None, plan: str, peering: str | None,
             priority: int | None, peering_lifetime: int, admission_port: int,
             admission_cert_dir: str | None, skip_writer_rights: bool = False,
             dashboard_read_only: bool = False,
             dashboard_token_audiences: tuple[str, ...] = (),
             progress_url: str | None = None, metrics_port: int | None = None,
             serve_hooks: bool = True, receiver_user: str | None = None,
             receiver_audience: str | None = None,
             progress_audience: str = DEFAULT_AUDIENCE,
             default_ttl: str | None = None,
             namespace_weights: tuple[str, ...] = (),
             visibility_port: int | None = None,
             visibility_cert_dir: str | None = None) -> None:
    """Run the AgentTask operator."""
    from agenttasks.app import main

    if metrics_port is not None and metrics_port == http_port:
        raise click.BadParameter("must differ from --http-port", param_hint="--metrics-port")

    try:
        aging = Aging.parse(priority_aging) if priority_aging else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--priority-aging") from None
    if (visibility_port is None) != (visibility_cert_dir is None):
        raise click.UsageError("--visibility-port and --visibility-cert-dir go together")
    if visibility_port is not None and visibility_port in (http_port, metrics_port):
        raise click.BadParameter("must differ from the HTTP and metrics ports",
                                 param_hint="--visibility-port")
    ttl = ttl_of(default_ttl)
    weights = weights_of(namespace_weights)
    replica = os.environ.get("POD_NAME") or socket.gethostname()
    identity = f"{replica}@{os.getpid()}"
    main(OperatorSettings(
        namespaces=namespaces, http_port=http_port, workers=workers, kubeconfig=kubeconfig,
        limits=Limits(max_running, max_running_per_namespace, weights), aging=aging,
        plan=Plan(plan),
        peering=peering, priority=priority if priority is not None else priority_for(identity),
        identity=identity, peering_lifetime=peering_lifetime, admission_port=admission_port,
        admission_cert_dir=admission_cert_dir, check_writer_rights=not skip_writer_rights,
        dashboard_read_only=dashboard_read_only,
        dashboard_token_audiences=split_audiences(dashboard_token_audiences),
        progress_url=progress_url or
        f"http://{os.environ.get('POD_IP') or '127.0.0.1'}:{http_port}",
        serve_hooks=serve_hooks, receiver_user=receiver_user,
        receiver_audience=receiver_audience, metrics_port=metrics_port,
        progress_audience=progress_audience, default_ttl_after_finished=ttl,
        visibility_port=visibility_port, visibility_cert_dir=visibility_cert_dir))


def ttl_of(value: str | None) -> timedelta | None:
    """--default-ttl-after-finished: a duration as in spec.ttlAfterFinished; empty: none."""
    if value is None or not value.strip():
        return None
    try:
        return parse_duration(value.strip())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--default-ttl-after-finished") \
            from None


MAX_WEIGHT = 1000


def weights_of(values: tuple[str, ...]) -> dict[str, int]:
    """Each --namespace-weight NAMESPACE=W; a namespace named twice is refused."""
    weights: dict[str, int] = {}
    for value in values:
        namespace, sep, weight = value.partition("=")
        namespace = namespace.strip()
        if not sep or not namespace or not weight.strip().isdigit() or \
                not 1 <= int(weight) <= MAX_WEIGHT:
            raise click.BadParameter(f"{value!r} is not NAMESPACE=W with W from 1 to "
                                     f"{MAX_WEIGHT}", param_hint="--namespace-weight")
        if namespace in weights:
            raise click.BadParameter(f"{namespace} is named twice",
                                     param_hint="--namespace-weight")
        weights[namespace] = int(weight)
    return weights


def split_audiences(values: tuple[str, ...]) -> tuple[str, ...]:
    """Each --dashboard-token-audience, commas split, blanks and repeats dropped."""
    found = (part.strip() for value in values for part in value.split(","))
    return tuple(dict.fromkeys(part for part in found if part))
