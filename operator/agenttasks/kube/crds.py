"""Installs CRDs and waits until the API server serves them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agenttasks.kube.client import ApiError, Kube

JSON = dict[str, Any]
POLL_S = 0.2


async def install_crds(kube: Kube, crds: list[JSON], timeout: float = 60) -> None:
    """Creates or replaces each CRD, then waits until each is Established and served."""
    for crd in crds:
        current = await kube.get_crd(crd["metadata"]["name"])
        if current is None:
            await kube.create_crd(crd)
            continue
        version = current["metadata"].get("resourceVersion")
        await kube.replace_crd({**crd, "metadata": {**crd["metadata"],
                                                    "resourceVersion": version}})
    deadline = time.monotonic() + timeout
    for crd in crds:
        name = crd["metadata"]["name"]
        while not _established(await kube.get_crd(name)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} was not established within {timeout:.0f}s")
            await asyncio.sleep(POLL_S)
    # Established is not yet served: the API server answers 429 "storage is (re)initializing"
    # for a moment, which would greet the operator with errors in its first log lines.
    for crd in crds:
        spec = crd["spec"]
        while True:
            try:
                await kube.list_resource(f"{spec['group']}/{spec['versions'][0]['name']}",
                                         spec["names"]["plural"], limit=1)
                break
            except ApiError as exc:
                if exc.status != 429 or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(POLL_S)


def _established(crd: JSON | None) -> bool:
    conditions = ((crd or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in conditions)


def apply_crds(kubeconfig: str | None, crds: list[JSON], timeout: float = 60) -> None:
    """`install_crds` for callers outside an event loop (``agenttasks dev``, test set-up);
    ``kubeconfig`` None means the kubeconfig rule's default."""
    async def run() -> None:
        kube = Kube(kubeconfig)
        try:
            await install_crds(kube, crds, timeout)
        finally:
            await kube.close()

    asyncio.run(run())
