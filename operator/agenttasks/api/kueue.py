"""Room for Kueue: a task may name a Kueue LocalQueue, whose admission then decides when its
Jobs run (docs/queue.md, "Kueue")."""

from __future__ import annotations

from pydantic import Field

from agenttasks.api.meta import NAME_PATTERN, ApiModel

KUEUE_GROUP = "kueue.x-k8s.io"
LABEL_QUEUE_NAME = f"{KUEUE_GROUP}/queue-name"
"""On a Job: the LocalQueue (in the Job's namespace) that Kueue admits it through."""
LABEL_JOB_UID = f"{KUEUE_GROUP}/job-uid"
"""On a Kueue Workload: the uid of the Job it stands for."""
WORKLOAD_VERSIONS = ("v1beta2", "v1beta1")
"""The Workload API versions tried, newest first (Kueue 0.15+ serves v1beta2)."""
MAX_QUEUE_NAME = 63  # a label value


class KueueQueue(ApiModel):
    """Hands the task's Jobs to Kueue: each is created suspended with the label
    kueue.x-k8s.io/queue-name, and runs when Kueue admits it (Kueue unsuspends it)."""

    queue_name: str = Field(
        min_length=1, max_length=MAX_QUEUE_NAME, pattern=NAME_PATTERN,
        description="The Kueue LocalQueue, in the task's namespace, that admits its Jobs. "
        "Such a task takes none of the operator's slots (--max-running and the other limits "
        "do not count it): Kueue's quota replaces them. While its Job waits for admission "
        "the task is Pending with reason WaitingForKueue. Read when an attempt's Job is "
        "created: a change applies from the next attempt on.")
