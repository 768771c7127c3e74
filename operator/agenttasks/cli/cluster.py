"""`agenttasks cluster up | down | status`: a local control plane without Docker."""

from __future__ import annotations

import json
from pathlib import Path

import click

from agenttasks.devcluster import cluster as local

DIR_OPTION = click.option("--dir", "directory", type=click.Path(path_type=Path),
                          default=Path(".cluster"), show_default=True,
                          help="Where the cluster keeps its data, logs and kubeconfig.")


@click.group()
def cluster() -> None:
    """A local Kubernetes control plane (etcd, kube-apiserver, controllers, kwok)."""


@cluster.command()
@DIR_OPTION
@click.option("--real-node", is_flag=True,
              help="Also run a real node (containerd, runc, kubelet, kube-proxy) for pods that "
              "tolerate agenttasks.io/real-node; needs root, installs what it needs with apt.")
def up(directory: Path, real_node: bool) -> None:
    """Build what is missing, start every component, and wait for a Ready node."""
    try:
        info = local.up(directory, real_node=real_node)
    except (local.ClusterError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"export KUBECONFIG={info.kubeconfig}")


@cluster.command()
@click.option("--kueue", is_flag=True,
              help="Also build Kueue's manager (for tests/integration/test_kueue.py; "
              "`make test` asks for it).")
def build(kueue: bool) -> None:
    """Build the control plane's binaries into the cache, if any is missing."""
    from agenttasks.devcluster.build import BuildError, ensure_built
    from agenttasks.devcluster.toolchain import ALL_TOOLS, KUEUE

    try:
        ensure_built((*ALL_TOOLS, KUEUE) if kueue else ALL_TOOLS)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from None


@cluster.command()
@DIR_OPTION
def down(directory: Path) -> None:
    """Stop every process the cluster started."""
    local.down(directory)


@cluster.command()
@DIR_OPTION
def status(directory: Path) -> None:
    """Show which components run and whether the API server is ready."""
    info = local.status(directory)
    click.echo(json.dumps(info, indent=2))
    if not info["ready"]:
        raise SystemExit(1)


@cluster.command()
@click.option("--load", is_flag=True, help="Also load them into this machine's running real node.")
def images(load: bool) -> None:
    """Build the real node's images here (pause, busybox, the operator from the Dockerfile,
    the example agent), cached by their inputs; nothing is pulled or pushed."""
    from agenttasks.devcluster import images as built
    from agenttasks.devcluster.realnode import RealNodeError

    try:
        archives = built.load_all(click.echo) if load else built.build_all(click.echo)
    except (RealNodeError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    for name, path in archives.items():
        click.echo(f"{name}: {path}")
