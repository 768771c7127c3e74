"""What a kubelet makes of a pod's downward API volumes over its annotations: the files a
container sees, for tests on nodes that run no containers (unit tests, the simulated pods)."""

from __future__ import annotations

import re
from typing import Any

_ANNOTATION_FIELD = re.compile(r"metadata\.annotations\['([^']+)'\]")


def annotation_files(pod: dict[str, Any], container: str) -> dict[str, str]:
    """Path in ``container`` → content, for every item of a downward API volume that reads an
    annotation of ``pod`` (a pod or a pod template, as the API serves it: camelCase), through
    the container's mounts of that volume. An annotation the pod lacks is an empty file."""
    spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    [found] = [c for group in ("initContainers", "containers")
               for c in spec.get(group) or [] if c["name"] == container]
    files = {}
    for volume in spec.get("volumes") or []:
        source = volume.get("downwardAPI")
        if source is None:
            continue
        for mount in found.get("volumeMounts") or []:
            if mount["name"] != volume["name"]:
                continue
            for item in source.get("items") or []:
                field = _ANNOTATION_FIELD.fullmatch(item["fieldRef"]["fieldPath"])
                if field:
                    path = f"{mount['mountPath'].rstrip('/')}/{item['path']}"
                    files[path] = annotations.get(field.group(1), "")
    return files


def env_of(pod: dict[str, Any], container: str) -> dict[str, str]:
    spec = pod.get("spec") or {}
    [found] = [c for group in ("initContainers", "containers")
               for c in spec.get(group) or [] if c["name"] == container]
    return {e["name"]: e.get("value", "") for e in found.get("env") or []}
