"""The "New task" form: an AgentTask from the form's fields or from a pasted manifest.
Pure: untrusted input in (bounded in size), a manifest out, or a FormError saying what to
fix. The dashboard then checks the user's access, asks the API server for a dry run, and
only then creates it."""

from __future__ import annotations

import re
import secrets
import shlex
import string
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import yaml
from pydantic import ValidationError

from agenttasks.api.meta import ANNOTATION_REQUESTED_BY, API_VERSION, GROUP, NAME_PATTERN
from agenttasks.api.task import MAX_TASK_NAME, AgentTaskSpec

from .access import NAMESPACE_PATTERN

JSON = dict[str, Any]
MAX_BODY_BYTES = 96 * 1024  # the whole request: a manifest and a little more
MAX_MANIFEST_CHARS = 64 * 1024
MAX_ENV_VARS = 100
# Each form field's limit, in characters.
FIELD_LIMITS = {
    "namespace": 63, "name": MAX_TASK_NAME, "displayName": 256, "image": 1024,
    "command": 4096, "env": 16 * 1024, "priority": 16, "retries": 8, "timeout": 64,
    "deadline": 64, "dependsOn": 64 * 254,
}
REQUIRED = ("namespace", "image")
CONTAINER = "agent"
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")  # as the API server checks it
_SUFFIX_CHARS = string.ascii_lowercase + string.digits
_SPEC_FIELDS = frozenset(f.alias or n for n, f in AgentTaskSpec.model_fields.items())
_KEPT_METADATA = ("name", "generateName", "namespace", "labels", "annotations")


class FormError(ValueError):
    """What is wrong with the form or the manifest, in words a person can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def random_suffix() -> str:
    return "".join(secrets.choice(_SUFFIX_CHARS) for _ in range(5))


def task_name(display_name: str, suffix: str) -> str:
    """A name for a task the user did not name: its display name as a DNS label (cut to
    fit), and a random suffix. "Daily Sales Report" -> "daily-sales-report-x7k2p"."""
    slug = re.sub(r"[^a-z0-9]+", "-", display_name.lower()).strip("-")
    slug = slug[:MAX_TASK_NAME - len(suffix) - 1].rstrip("-") or "task"
    return f"{slug}-{suffix}"


def check_task_name(name: str) -> str:
    if len(name) > MAX_TASK_NAME or not re.fullmatch(NAME_PATTERN, name):
        raise FormError(f"{name!r} is not a task name: lowercase letters, digits, '-' and "
                        f"'.', at most {MAX_TASK_NAME} characters")
    return name


def check_namespace(namespace: str) -> str:
    if not namespace:
        raise FormError("choose a namespace")
    if not NAMESPACE_PATTERN.match(namespace):
        raise FormError(f"{namespace!r} is not a namespace name")
    return namespace


def parse_env(text: str) -> list[JSON]:
    """``KEY=value`` lines (blank lines and ``#`` comments skipped) as container env."""
    env: list[JSON] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _ENV_NAME.match(key):
            raise FormError(f"environment line {number}: write KEY=value, where KEY is "
                            "letters, digits, '_', '-' or '.' (not starting with a digit)")
        if key in seen:
            raise FormError(f"environment line {number}: {key} is set twice")
        seen.add(key)
        env.append({"name": key, "value": value})
    if len(env) > MAX_ENV_VARS:
        raise FormError(f"at most {MAX_ENV_VARS} environment variables")
    return env


def parse_command(text: str) -> list[str]:
    """A command line split as a shell would (quotes group words), without running one."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise FormError(f"the command cannot be split into words: {exc}") from None


def parse_depends_on(text: str) -> list[str]:
    """Task names separated by commas, spaces or new lines."""
    return [name for name in re.split(r"[\s,]+", text) if name]


def _integer(value: str, field: str) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value.strip())
    except ValueError:
        raise FormError(f"{field} must be a whole number") from None


def read_fields(fields: Mapping[str, Any]) -> dict[str, str]:
    """The form's fields, each a string within its limit; unknown fields are refused."""
    unknown = sorted(set(fields) - set(FIELD_LIMITS))
    if unknown:
        raise FormError(f"unknown form field {unknown[0]!r}")
    values: dict[str, str] = {}
    for field, limit in FIELD_LIMITS.items():
        value = fields.get(field, "")
        if not isinstance(value, str):
            raise FormError(f"{field} must be text")
        if len(value) > limit:
            raise FormError(f"{field} is longer than {limit} characters")
        values[field] = value if field in ("env", "command") else value.strip()
    for field in REQUIRED:
        if not values[field]:
            raise FormError(f"{field} is required")
    return values


def task_from_form(fields: Mapping[str, Any], requested_by: str,
                   suffix: str | None = None) -> JSON:
    """The AgentTask the form describes: one container ``agent`` running the image."""
    values = read_fields(fields)
    image = values["image"]
    if any(c.isspace() for c in image):
        raise FormError("the image must not contain spaces")
    container: JSON = {"name": CONTAINER, "image": image}
    if command := parse_command(values["command"]):
        container["command"] = command
    if env := parse_env(values["env"]):
        container["env"] = env
    spec: JSON = {"template": {"spec": {"containers": [container]}}}
    if values["displayName"]:
        spec["displayName"] = values["displayName"]
    if (priority := _integer(values["priority"], "priority")) is not None:
        spec["priority"] = priority
    if (retries := _integer(values["retries"], "retries")) is not None:
        spec["retries"] = {"limit": retries}
    for field in ("timeout", "deadline"):
        if values[field]:
            spec[field] = values[field]
    if depends := parse_depends_on(values["dependsOn"]):
        spec["dependsOn"] = depends
    name = values["name"] or task_name(values["displayName"], suffix or random_suffix())
    return _task(check_namespace(values["namespace"]), check_task_name(name), {}, {}, spec,
                 requested_by)


class _NoAliases(yaml.SafeLoader):
    """safe_load without anchors and aliases: a few KiB of nested aliases expand to
    gigabytes once the manifest is serialised ("billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise FormError("the manifest may not use YAML aliases (*name)")
        return super().compose_node(parent, index)


def load_manifest(text: str) -> JSON:
    if len(text) > MAX_MANIFEST_CHARS:
        raise FormError(f"the manifest is longer than {MAX_MANIFEST_CHARS // 1024} KiB")
    try:
        body = yaml.load(text, Loader=_NoAliases)  # a SafeLoader: plain data only
    except yaml.YAMLError as exc:
        raise FormError(f"the manifest is not YAML: {exc}") from None
    except RecursionError:
        raise FormError("the manifest is nested too deeply") from None
    if not isinstance(body, dict):
        raise FormError("the manifest must be one AgentTask (a YAML mapping)")
    return body


def _string_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise FormError(f"metadata.{what} must map strings to strings")
    return dict(value)


def task_from_manifest(text: str, namespace: str, requested_by: str,
                       suffix: str | None = None) -> JSON:
    """The pasted AgentTask, keeping only what a user writes: name, namespace, labels,
    annotations and spec. Labels and annotations under agenttasks.io/ are the operator's
    (they tie a task to a schedule or trigger) and are dropped, as a rerun drops them."""
    body = load_manifest(text)
    if body.get("apiVersion", API_VERSION) != API_VERSION or \
            body.get("kind", "AgentTask") != "AgentTask":
        raise FormError(f"the manifest must be an AgentTask ({API_VERSION})")
    meta = body.get("metadata") or {}
    if not isinstance(meta, dict):
        raise FormError("metadata must be a mapping")
    extra = sorted(set(meta) - set(_KEPT_METADATA))
    if extra:  # ownerReferences, finalizers, uid...: not for a new task from a person
        raise FormError(f"metadata.{extra[0]} cannot be set here")
    given = str(meta.get("namespace") or "")
    if given and namespace and given != namespace:
        raise FormError(f"the manifest's namespace {given!r} is not the chosen {namespace!r}")
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise FormError("the manifest has no spec")
    name = str(meta.get("name") or "")
    if not name:
        prefix = str(meta.get("generateName") or "")
        name = (prefix + (suffix or random_suffix()) if prefix else
                task_name(str(spec.get("displayName") or ""), suffix or random_suffix()))
    labels = _string_map(meta.get("labels"), "labels")
    annotations = _string_map(meta.get("annotations"), "annotations")
    return _task(check_namespace(given or namespace), check_task_name(name),
                 {k: v for k, v in labels.items() if not k.startswith(f"{GROUP}/")},
                 {k: v for k, v in annotations.items() if not k.startswith(f"{GROUP}/")},
                 spec, requested_by)


def check_spec(spec: Mapping[str, Any]) -> None:
    """The spec as the CRD's schema sees it (the models generate it), with readable errors:
    before the dry run, so that most mistakes are named field by field."""
    unknown = sorted(set(spec) - _SPEC_FIELDS)
    if unknown:
        raise FormError(f"spec.{unknown[0]} is not a field of an AgentTask")
    try:
        model = AgentTaskSpec.model_validate(spec)
    except ValidationError as exc:
        problems = "; ".join(
            f"spec.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()[:5])
        raise FormError(problems) from None
    for field, moment in (("deadline", model.deadline), ("startAfter", model.start_after)):
        if isinstance(moment, datetime) and moment.tzinfo is None:
            raise FormError(f"spec.{field} needs a time zone, such as 2026-01-02T00:00:00Z")


def _task(namespace: str, name: str, labels: dict[str, str], annotations: dict[str, str],
          spec: JSON, requested_by: str) -> JSON:
    check_spec(spec)
    metadata: JSON = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    metadata["annotations"] = {**annotations, ANNOTATION_REQUESTED_BY: requested_by}
    return {"apiVersion": API_VERSION, "kind": "AgentTask", "metadata": metadata,
            "spec": spec}


def new_task(payload: Mapping[str, Any], requested_by: str, suffix: str | None = None) -> JSON:
    """The request's body: ``{"form": {...fields}}`` or ``{"manifest": "<yaml>",
    "namespace": "<optional>"}``."""
    if isinstance(payload.get("manifest"), str):
        namespace = payload.get("namespace") or ""
        if not isinstance(namespace, str) or len(namespace) > FIELD_LIMITS["namespace"]:
            raise FormError("namespace must be a namespace name")
        return task_from_manifest(payload["manifest"], namespace.strip(), requested_by,
                                  suffix)
    form = payload.get("form")
    if not isinstance(form, dict):
        raise FormError('send {"form": {...}} or {"manifest": "..."}')
    return task_from_form(form, requested_by, suffix)
