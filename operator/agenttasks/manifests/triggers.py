"""AgentTaskTriggers and the AgentTasks (with payload ConfigMaps) their deliveries create."""

from __future__ import annotations

import copy
from typing import Any

from agenttasks.api.meta import (
    ANNOTATION_DELIVERY_ID,
    API_VERSION,
    GROUP,
    LABEL_MANAGED_BY,
    LABEL_TRIGGER,
    MANAGER_NAME,
)
from agenttasks.api.trigger import AgentTaskTriggerSpec, AgentTaskTriggerStatus
from agenttasks.core.concurrency import expand_key
from agenttasks.core.triggers import TriggerFacts, delivery_id_digest
from agenttasks.manifests.annotation_files import annotation_source
from agenttasks.manifests.jobs import add_to_containers
from agenttasks.manifests.owners import controller_reference, controller_uid
from agenttasks.manifests.tasks import parse_spec_status

PAYLOAD_DIR = "/var/run/agenttasks"
PAYLOAD_FILE = "payload.json"
PAYLOAD_ENV = "AGENTTASK_PAYLOAD"
PAYLOAD_VOLUME = "agenttask-payload"
# A payload up to this size travels in the task itself, as an annotation of its pod template
# that a downward API volume turns back into the file: the delivery is then one write (the
# task). Larger ones go to a ConfigMap that the task owns. 64 KiB keeps a pod's annotations
# well under the API server's 256 KiB limit, beside whatever the template brings.
INLINE_PAYLOAD_MAX_BYTES = 64 * 1024
ANNOTATION_PAYLOAD = f"{GROUP}/payload"
# The delivery id's digest (core.triggers.delivery_id_digest): github tasks are named by the
# body, and this finds a redelivery under the same id after the body's window.
LABEL_DELIVERY = "agenttasks.io/delivery"


def trigger_facts(body: dict[str, Any]) -> TriggerFacts:
    meta = body.get("metadata", {})
    spec, error, status = parse_spec_status(body, AgentTaskTriggerSpec, AgentTaskTriggerStatus)
    return TriggerFacts(
        namespace=meta["namespace"], name=meta["name"], uid=meta.get("uid", ""),
        generation=int(meta.get("generation") or 0), spec=spec, status=status,
        spec_error=error, resource_version=str(meta.get("resourceVersion", "")),
        task_template=(body.get("spec") or {}).get("taskTemplate") or {})


def payload_config_map_name(task: str) -> str:
    return f"{task}-payload"


def payload_is_inline(payload: str) -> bool:
    return len(payload.encode()) <= INLINE_PAYLOAD_MAX_BYTES


def build_delivery_task(trigger: TriggerFacts, name: str, delivery_id: str,
                        env: dict[str, str], payload: str) -> dict[str, Any]:
    """The AgentTask for one delivery: the template as written, plus the payload mounted
    and the params as environment variables on every container. A small ``payload`` rides
    in the pod template's annotations (payload_is_inline); a large one is only named here,
    in the ConfigMap build_payload_config_map makes once the task exists. Each $(NAME) in
    spec.concurrency.key becomes the value of param NAME (core.concurrency.expand_key)."""
    template = copy.deepcopy(trigger.task_template)
    template_meta = template.get("metadata") or {}
    spec = template["spec"]
    concurrency = spec.get("concurrency")
    if isinstance(concurrency, dict) and isinstance(concurrency.get("key"), str):
        # $(NAME) in the key: the value of param NAME, as its variable gets it.
        concurrency["key"] = expand_key(concurrency["key"], env)
    pod_template = spec.setdefault("template", {})
    pod_spec = pod_template.setdefault("spec", {})
    variables = [{"name": PAYLOAD_ENV, "value": f"{PAYLOAD_DIR}/{PAYLOAD_FILE}"}] + [
        {"name": key, "value": value} for key, value in sorted(env.items())]
    add_to_containers(pod_spec, variables,
                      [{"name": PAYLOAD_VOLUME, "mountPath": PAYLOAD_DIR, "readOnly": True}])
    if payload_is_inline(payload):
        source = annotation_source(pod_template, ANNOTATION_PAYLOAD, payload, PAYLOAD_FILE)
    else:
        source = {"configMap": {"name": payload_config_map_name(name)}}
    pod_spec.setdefault("volumes", []).append({"name": PAYLOAD_VOLUME, **source})
    labels = {**(template_meta.get("labels") or {}), LABEL_TRIGGER: trigger.name,
              LABEL_MANAGED_BY: MANAGER_NAME,
              LABEL_DELIVERY: delivery_id_digest(trigger.name, delivery_id)}
    annotations = {**(template_meta.get("annotations") or {}),
                   ANNOTATION_DELIVERY_ID: delivery_id[:1024]}
    return {
        "apiVersion": API_VERSION,
        "kind": "AgentTask",
        "metadata": {
            "name": name, "namespace": trigger.namespace, "labels": labels,
            "annotations": annotations,
            "ownerReferences": [controller_reference("AgentTaskTrigger", trigger.name,
                                                     trigger.uid)],
        },
        "spec": spec,
    }


def build_payload_config_map(task: dict[str, Any], payload: str) -> dict[str, Any]:
    """The payload, owned by its task so that it is deleted with it."""
    meta = task["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": payload_config_map_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": {LABEL_TRIGGER: meta["labels"][LABEL_TRIGGER],
                       LABEL_MANAGED_BY: MANAGER_NAME},
            "ownerReferences": [controller_reference("AgentTask", meta["name"], meta["uid"])],
        },
        "data": {PAYLOAD_FILE: payload},
    }


def payload_config_map_of(task: dict[str, Any]) -> str | None:
    """The ConfigMap a delivery task's payload volume reads, or None (an inline payload)."""
    pod_spec = (((task.get("spec") or {}).get("template") or {}).get("spec") or {})
    for volume in pod_spec.get("volumes") or []:
        if volume.get("name") == PAYLOAD_VOLUME:
            return (volume.get("configMap") or {}).get("name")
    return None


def is_delivery_task_of(task: dict[str, Any] | None, trigger: TriggerFacts) -> bool:
    """Whether ``task`` was created by ``trigger``: controlled by its UID. A label or a name
    alone is anyone's to write, and would let a user's task pass for a delivery."""
    return bool(task) and bool(trigger.uid) and controller_uid(task or {}) == trigger.uid


def is_payload_of(config_map: dict[str, Any] | None, task: dict[str, Any]) -> bool:
    """Whether ``config_map`` is ``task``'s payload: controlled by the task's UID, not just
    named ``<task>-payload`` (which anyone allowed to create ConfigMaps could be first to)."""
    uid = task.get("metadata", {}).get("uid")
    return bool(config_map) and bool(uid) and controller_uid(config_map or {}) == uid
