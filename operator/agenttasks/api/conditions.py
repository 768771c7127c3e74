"""The metav1.Condition shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from agenttasks.api.meta import ApiModel


class Condition(ApiModel):
    """One aspect of the object's state, in the metav1.Condition shape."""

    type: str = Field(description="The aspect, such as Complete, Failed or Ready.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="One CamelCase word saying why.")
    message: str = Field("", description="A sentence a person can act on.")
    last_transition_time: datetime = Field(description="When status last changed.")
    observed_generation: int | None = Field(
        None, description="The metadata.generation this condition was computed from.")


def conditions_field(description: str) -> Any:
    """status.conditions: a list keyed by type, so server-side apply merges by condition."""
    return Field(default_factory=list, description=description, json_schema_extra={
        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})
