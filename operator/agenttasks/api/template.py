"""The AgentTask template that schedules and triggers fill in."""

from __future__ import annotations

from pydantic import Field

from agenttasks.api.meta import ApiModel
from agenttasks.api.task import AgentTaskSpec


class TemplateMetadata(ApiModel):
    """Labels and annotations copied onto every created AgentTask."""

    labels: dict[str, str] = Field(default_factory=dict, description="Labels for the tasks.")
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations for the tasks.")


class TaskTemplate(ApiModel):
    """The AgentTask to create."""

    metadata: TemplateMetadata = Field(
        default_factory=TemplateMetadata, description="Labels and annotations of the tasks.")
    spec: AgentTaskSpec = Field(description="The AgentTask spec of every task created from it.")
