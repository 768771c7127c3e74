"""Files given to a pod through an annotation of its own template: no object of their own.

The text is an annotation of the pod template, and a downward API volume turns it back into
a file in every container. It then costs no API write beyond the object that carries the
template (a delivery's task, an attempt's Job), and it goes away with it. The API server
limits an object's annotations to 256 KiB in all, so whoever writes one bounds its size:
the inline webhook payload (manifests.triggers) to 64 KiB, the inputs of a task's
dependencies (core.pipelines) to 64 KiB.
"""

from __future__ import annotations

from typing import Any


def annotation_source(pod_template: dict[str, Any], annotation: str, text: str,
                      file: str) -> dict[str, Any]:
    """Puts ``text`` in ``pod_template``'s annotation ``annotation`` (replacing one of that
    name) and returns the downward API volume source that makes it the file ``file``."""
    meta = pod_template.setdefault("metadata", {})
    meta["annotations"] = {**(meta.get("annotations") or {}), annotation: text}
    return {"downwardAPI": {"items": [{
        "path": file, "fieldRef": {"fieldPath": f"metadata.annotations['{annotation}']"}}]}}


def annotation_file(pod_template: dict[str, Any], annotation: str, text: str, *,
                    volume: str, directory: str, file: str, env: str) -> None:
    """Gives every container and init container of ``pod_template`` ``text`` as the file
    ``directory/file``, mounted read-only, and its path in the variable ``env``. A volume of
    the template named ``volume``, mounts of it or at ``directory``, and variables named
    ``env`` are replaced by ours: the file is the operator's to say."""
    source = annotation_source(pod_template, annotation, text, file)
    pod_spec = pod_template.setdefault("spec", {})
    pod_spec["volumes"] = [v for v in pod_spec.get("volumes") or []
                           if v.get("name") != volume] + [{"name": volume, **source}]
    mount = {"name": volume, "mountPath": directory, "readOnly": True}
    for group in ("initContainers", "containers"):
        for container in pod_spec.get(group) or []:
            container["env"] = [e for e in container.get("env") or []
                                if e.get("name") != env] + [
                {"name": env, "value": f"{directory}/{file}"}]
            container["volumeMounts"] = [
                m for m in container.get("volumeMounts") or []
                if m.get("name") != volume and
                str(m.get("mountPath", "")).rstrip("/") != directory] + [dict(mount)]
