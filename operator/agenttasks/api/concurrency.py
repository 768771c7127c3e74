"""spec.concurrency: a key shared by tasks that may not all run at once, and its limit."""

from __future__ import annotations

from pydantic import Field

from agenttasks.api.meta import GROUP, ApiModel

MAX_KEY_LENGTH = 256
MAX_KEY_LIMIT = 10_000
LABEL_CONCURRENCY_KEY = f"{GROUP}/concurrency-key"
"""On a Job: its task's concurrency key when the Job was made, as a label value
(core.concurrency.key_label), so that a restarted operator counts the Jobs per key from a
listing."""
PARAM_REFERENCE = r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)"
"""$(NAME) in a trigger's key: replaced by the value of its param NAME at delivery."""


class Concurrency(ApiModel):
    """At most ``limit`` tasks with this key run (hold a slot) at once in the namespace."""

    key: str = Field(
        min_length=1, max_length=MAX_KEY_LENGTH, pattern=r"^\S(.*\S)?$",
        description="Any text, such as an API key's name or a customer id: tasks of the "
        "namespace with the same key share the limit. In a trigger's taskTemplate, $(NAME) "
        "is replaced by the value of params.NAME from the payload.")
    limit: int = Field(
        1, ge=1, le=MAX_KEY_LIMIT,
        description="Tasks with this key that may run at once. A task starts only while "
        "fewer than its own limit hold a slot with its key: tasks sharing a key should "
        "share the limit. Default 1.")
