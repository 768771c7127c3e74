"""`agenttasks dev`: what `make run` does. A cluster (yours or a local one), the CRDs, and
the operator in the foreground."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agenttasks.api.crd import all_crds

if TYPE_CHECKING:
    from agenttasks.devcluster.cluster import LocalCluster
    from agenttasks.devcluster.visibility import Registration


def _reachable(kubeconfig: str) -> bool:
    from agenttasks.kube.client import Kube

    async def ask() -> None:
        kube = Kube(kubeconfig)
        try:
            await kube.version(timeout=5)
        finally:
            await kube.close()

    try:
        asyncio.run(ask())
    except Exception:  # any reason it does not answer means: start a local cluster
        return False
    return True


@click.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path(".cluster"),
              show_default=True, help="Folder of the local cluster, when one is started.")
@click.option("--http-port", type=int, default=8080, show_default=True)
@click.option("--visibility-port", type=int, default=8444, show_default=True,
              help="HTTPS port of the visibility API (kubectl get pendingtasks), registered "
              "with a local cluster while the operator runs.")
def dev(directory: Path, http_port: int, visibility_port: int) -> None:
    """Use $KUBECONFIG's cluster if it answers, else start the local one; install the CRDs;
    run the operator in the foreground."""
    from agenttasks.app import main
    from agenttasks.controller.settings import OperatorSettings
    from agenttasks.devcluster import cluster as local
    from agenttasks.kube.crds import apply_crds

    kubeconfig = os.environ.get("KUBECONFIG")
    progress_url = None
    registration = None
    if kubeconfig and _reachable(kubeconfig):
        click.echo(f"Using the cluster of KUBECONFIG={kubeconfig}", err=True)
    else:
        if kubeconfig:
            click.echo(f"KUBECONFIG={kubeconfig} does not answer; starting a local cluster.",
                       err=True)
        try:
            cluster, real = _local_cluster(directory)
        except (local.ClusterError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from None
        kubeconfig = str(cluster.kubeconfig)
        os.environ["KUBECONFIG"] = kubeconfig
        if real:  # pods on the real node reach this process at the node's address
            from agenttasks.devcluster.realnode import NODE_IP

            progress_url = f"http://{NODE_IP}:{http_port}"
        registration = _register_visibility(cluster, visibility_port)
    apply_crds(kubeconfig, all_crds())
    from agenttasks.devcluster.toolchain import binary

    built = binary("kubectl")
    kubectl = str(built) if built.exists() else "kubectl"
    click.echo(
        "\nCRDs installed. The operator runs below (Ctrl-C stops it). In another shell:\n"
        f"  export KUBECONFIG={kubeconfig}\n"
        f"  {kubectl} apply -f examples/simple.yaml\n"
        f"  {kubectl} get agenttasks -w      (or: .venv/bin/agenttasks list -w)\n"
        + (f"  {kubectl} get pendingtasks -A   (the queue: position, reason, ETA)\n"
           if registration else "") +
        f"Dashboard: http://127.0.0.1:{http_port}/ (sign in with a bearer token, such as the "
        "user token in that kubeconfig)\n"
        f"Health: http://127.0.0.1:{http_port}/healthz   "
        f"Cluster logs: {directory}/logs/   Stop the local cluster: agenttasks cluster down\n",
        err=True,
    )
    try:
        main(OperatorSettings(
            http_port=http_port, kubeconfig=kubeconfig, progress_url=progress_url,
            visibility_port=registration.port if registration else None,
            visibility_cert_dir=str(registration.cert_dir) if registration else None))
    finally:
        if registration:  # an APIService nobody answers would hold up namespace deletion
            registration.remove()


def _register_visibility(cluster: LocalCluster, port: int) -> Registration | None:
    from agenttasks.devcluster.cluster import ClusterError
    from agenttasks.devcluster.visibility import Registration

    try:
        return Registration(cluster, port)
    except (ClusterError, RuntimeError, OSError) as exc:
        click.echo(f"Not serving kubectl get pendingtasks: {exc}", err=True)
        return None


def _local_cluster(directory: Path) -> tuple[LocalCluster, bool]:
    """A real node where this machine allows one (root, the runtime packages, no real node
    of another cluster here), else the simulated one; says which and why.
    AGENTTASKS_NODE=simulated asks for the simulated node."""
    from agenttasks.devcluster import cluster as local
    from agenttasks.devcluster.realnode import RealNodeError, preflight

    def say(message: str) -> None:
        click.echo(message, err=True)

    if os.environ.get("AGENTTASKS_NODE") == "simulated":
        why = "AGENTTASKS_NODE=simulated"
    else:
        try:
            preflight(say, directory)
        except RealNodeError as exc:
            why = str(exc)
        else:
            from agenttasks.devcluster import images

            cluster = local.up(directory, say, real_node=True, real_by_default=True)
            images.load_all(say)
            say("Node: a real node (containerd and the kubelet on this host): pods run real "
                "containers. Images cannot be pulled here, so only images built on this "
                "machine run: busybox:1.36 (the examples) and the example agent "
                f"{images.AGENT_EXAMPLE_IMAGE} (examples/agent.yaml).")
            return cluster, True
    cluster = local.up(directory, say)
    say(f"Node: the simulated node (kwok), because {why}. Pods do not really run; the "
        "sim.agenttasks.io annotations decide what they do.")
    return cluster, False
