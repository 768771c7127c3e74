"""`agenttasks crds`: the CRDs generated from the API models."""

from __future__ import annotations

from pathlib import Path

import click

from agenttasks.api import crd


@click.command()
@click.option("--write", "directory", type=click.Path(path_type=Path),
              help="Write one file per CRD into this folder instead of printing them.")
def crds(directory: Path | None) -> None:
    """Print (or write) the CustomResourceDefinitions."""
    if directory:
        for path in crd.write(directory):
            click.echo(f"wrote {path}")
        return
    click.echo("---\n".join(crd.expected_files().values()), nl=False)
