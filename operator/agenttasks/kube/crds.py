"""Installs our CRDs and waits until the API server serves them."""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException


def apply_crds(api_client: client.ApiClient, crds: list[dict[str, Any]],
               timeout: float = 60) -> None:
    api = client.ApiextensionsV1Api(api_client)
    for crd in crds:
        name = crd["metadata"]["name"]
        try:
            current = api.read_custom_resource_definition(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            api.create_custom_resource_definition(crd)  # type: ignore[arg-type]
            continue
        version = current.metadata.resource_version if current.metadata else None
        body = {**crd, "metadata": {**crd["metadata"], "resourceVersion": version}}
        api.replace_custom_resource_definition(name, body)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    for crd in crds:
        name = crd["metadata"]["name"]
        while True:
            status = api.read_custom_resource_definition(name).status
            conditions = (status.conditions if status else None) or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} was not established within {timeout:.0f}s")
            time.sleep(0.2)
    # Established is not yet served: the API server answers 429 "storage is (re)initializing"
    # for a moment, which would greet the operator with errors in its first log lines.
    custom = client.CustomObjectsApi(api_client)
    for crd in crds:
        spec = crd["spec"]
        while True:
            try:
                custom.list_cluster_custom_object(spec["group"], spec["versions"][0]["name"],
                                                  spec["names"]["plural"], limit=1)
                break
            except ApiException as exc:
                if exc.status != 429 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
