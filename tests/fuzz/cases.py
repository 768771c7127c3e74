"""One generated manifest, what the generator meant by it, and the kinds' API names."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agenttasks.api.meta import API_VERSION


class Expect(StrEnum):
    VALID = "valid"
    """Accepted by the API, and never marked invalid by the operator."""
    EDGE = "edge"
    """A boundary value (max length, huge number, odd cron...): the same promise as VALID."""
    INVALID = "invalid"
    """Refused by the API server (schema, CEL, admission), or marked invalid by the operator."""


class Kind(StrEnum):
    TASK = "AgentTask"
    SCHEDULE = "AgentTaskSchedule"
    TRIGGER = "AgentTaskTrigger"

    @property
    def plural(self) -> str:
        return self.value.lower() + "s"


SELF = "<own-name>"
"""Stands for the object's own name in a spec until `Case.named` gives it one."""


@dataclass(frozen=True)
class Case:
    kind: Kind
    spec: Any
    """The spec as generated; may be of the wrong type, on purpose."""
    expect: Expect
    why: str
    """What the generator did, such as 'spec.priority above maximum'."""
    name_length: int = 0
    """0 for a short name, else its exact length."""
    name: str = ""
    extra_metadata: dict[str, Any] | None = None

    def named(self, index: int) -> Case:
        """This case with its unique name, also where the spec says SELF."""
        base = f"f{index}"
        name = base
        if self.name_length > len(base) + 1:
            name = base + "-" + "x" * (self.name_length - len(base) - 1)
        return dataclasses.replace(self, name=name, spec=_substitute(self.spec, name))

    @property
    def manifest(self) -> dict[str, Any]:
        body: dict[str, Any] = {"apiVersion": API_VERSION, "kind": self.kind.value,
                                "metadata": {"name": self.name, **(self.extra_metadata or {})}}
        if self.spec is not MISSING:
            body["spec"] = self.spec
        return body


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""A spec left out of the manifest altogether."""


def _substitute(value: Any, name: str) -> Any:
    if value == SELF:
        return name
    if isinstance(value, dict):
        return {k: _substitute(item, name) for k, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, name) for item in value]
    return value
