"""From a webhook's JSON payload to a Task: parameter values and a deterministic name.

Path syntax (for ``params``): dot-separated object keys and list indexes, e.g.
``repository.full_name`` or ``commits.0.id``. A leading ``$.`` or ``.`` is ignored, and
``$`` or ``.`` alone is the whole payload. Keys containing dots cannot be addressed, and
indexes are non-negative. A path that is not in the payload gives None.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

# A Job gets "-<attempt>" appended to the Task's name and must stay a 63-character label.
TASK_NAME_MAX_LENGTH = 52
_HASH_LENGTH = 10
_NOT_IN_LABEL = re.compile(r"[^a-z0-9-]+")


def parse_path(path: str) -> tuple[str, ...]:
    """The path's segments; raises ValueError for a path with an empty segment.

    Use it to validate a trigger's params up front, so that a typo is refused at
    configuration time instead of silently giving empty values.
    """
    stripped = path.strip()
    if stripped in ("$", "."):
        return ()
    if stripped.startswith("$."):
        stripped = stripped[2:]
    elif stripped.startswith("."):
        stripped = stripped[1:]
    segments = tuple(stripped.split("."))
    if any(not segment for segment in segments):
        raise ValueError(f"payload path {path!r} has an empty segment")
    return segments


def extract(payload: Any, path: str) -> Any:
    """The value at ``path`` in ``payload``, or None when it is not there (or is JSON null).

    Raises ValueError for a malformed path (see `parse_path`), never for missing data.
    """
    value = payload
    for segment in parse_path(path):
        if isinstance(value, Mapping):
            value = value.get(segment)
        elif isinstance(value, list) and segment.isascii() and segment.isdigit():
            index = int(segment)
            value = value[index] if index < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value


def env_values(payload: Any, params: Mapping[str, str]) -> dict[str, str]:
    """Environment values for ``params`` (env var name -> payload path).

    Strings as they are; numbers and booleans as JSON text (``42``, ``true``); objects and lists
    as compact JSON; missing or null as the empty string.
    """
    return {name: _as_text(extract(payload, path)) for name, path in params.items()}


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def task_name(trigger: str, delivery_id: str) -> str:
    """A DNS-1123 label of at most 52 characters, the same for the same delivery.

    ``<trigger>-<10 hex chars of sha256(trigger NUL delivery_id)>``: creating the Task under
    this name is what makes a redelivery a no-op. The trigger is hashed too, so two triggers
    whose names clean up alike never share a task. The trigger part is lowercased,
    characters outside ``[a-z0-9-]`` become '-', and it is cut to fit.
    """
    digest = hashlib.sha256(f"{trigger}\0{delivery_id}".encode("utf-8", "surrogatepass"))\
        .hexdigest()
    room = TASK_NAME_MAX_LENGTH - _HASH_LENGTH - 1
    prefix = _NOT_IN_LABEL.sub("-", trigger.lower())[:room].strip("-") or "webhook"
    return f"{prefix}-{digest[:_HASH_LENGTH]}"
