"""The items of a batch task: each completion index of an Indexed Job is one item.

A retry attempt runs only the items that have not succeeded, so an item keeps its number
(its place in the whole batch) while its completion index is its place in one attempt. Item
lists travel as compact ranges ("0-2,5,7-19"), as a Job's completedIndexes do.
"""

from __future__ import annotations

from pydantic import Field

from agenttasks.api.meta import ApiModel

MAX_ITEM_RETRIES = 100


class BatchPolicy(ApiModel):
    """How the items of a batch (completions > 1) fail and succeed."""

    item_retries: int = Field(
        0, ge=0, le=MAX_ITEM_RETRIES,
        description="Times each item may run again inside one attempt before it counts as "
        "failed (the Job's backoffLimitPerIndex). The other items go on either way. Default 0.")
    max_failed_items: int | None = Field(
        None, ge=0, le=100_000,
        description="The attempt stops early once more than this many of its items have "
        "failed (the Job's maxFailedIndexes). Default: every item runs to its end.")
    min_succeeded_items: int | None = Field(
        None, ge=1, le=100_000,
        description="Items that must succeed, over all attempts, for the task to be "
        "Completed (partial success; the Job's successPolicy). Once that many have "
        "succeeded, items still running are stopped. Default: all of them.")


def batch_rules() -> list[dict[str, str]]:
    """CEL rules on AgentTaskSpec for what cannot be combined."""
    return [
        {"rule": "!has(self.batch) || self.completions > 1",
         "message": "spec.batch applies to batch tasks only: set completions above 1"},
        {"rule": "!has(self.batch) || !has(self.batch.minSucceededItems) || "
                 "self.batch.minSucceededItems <= self.completions",
         "message": "spec.batch.minSucceededItems cannot exceed completions"},
        {"rule": "!has(self.batch) || !has(self.batch.maxFailedItems) || "
                 "self.batch.maxFailedItems < self.completions",
         "message": "spec.batch.maxFailedItems must be below completions (with every item "
                    "allowed to fail there is nothing to stop early)"},
    ]


class ItemProgress(ApiModel):
    """The items of a batch task, over all its attempts."""

    total: int = Field(ge=0, description="Items in the batch (spec.completions).")
    succeeded: int = Field(ge=0, description="Items that succeeded in some attempt.")
    failed: int = Field(ge=0, description="Items whose latest finished run failed.")
    remaining: int = Field(ge=0, description="Items not yet run to an end.")
    failed_items: str = Field(
        "", max_length=4096,
        description="The failed items' numbers as compact ranges, such as '3,7-9'.")
    left_items: str = Field(
        "", max_length=4096,
        description="Items not succeeded (failed, stopped, or not yet run), as compact "
        "ranges: what a retry would run.")
    done: str = Field(description="succeeded/total, for kubectl get.")


class AttemptItems(ApiModel):
    """The items one attempt of a batch task ran, by item number, as compact ranges."""

    # Unbounded on purpose: the next attempt's items are derived from the newest record, so
    # it must hold them whole (compact ranges stay short unless failures are scattered).
    ran: str = Field(description="Items this attempt ran.")
    succeeded: str = Field("", description="Items that succeeded in it.")
    failed: str = Field(
        "", description="Items that failed in it, or failed before and did not finish in it.")
