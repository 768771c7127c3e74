"""The items of a batch task across its attempts: which items the next attempt runs, what
its Job must achieve, and how far the batch has come.

Rule: the items left after attempt n are the items it ran less those that succeeded in it.
Attempt n ran exactly the items left before it, so the newest attempt record with items is
enough, however many older records the bounded history has dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from agenttasks.api.batch import AttemptItems, ItemProgress
from agenttasks.api.task import AgentTaskSpec, AttemptRecord
from agenttasks.core.facts import JobFacts
from agenttasks.core.item_ranges import format_ranges, items_at, parse_ranges


@dataclass(frozen=True)
class ItemPlan:
    """What one batch attempt's Indexed Job runs: completion index i runs ``items[i]``."""

    items: tuple[int, ...]
    succeeded_needed: int | None
    """The Job's successPolicy succeededCount; None: every item must succeed."""
    max_failed: int | None
    """The Job's maxFailedIndexes; None: no early stop."""
    item_retries: int

    @property
    def ranges(self) -> str:
        return format_ranges(self.items)


def left_items(spec: AgentTaskSpec, history: list[AttemptRecord]) -> list[int]:
    """Items not yet succeeded, by the newest attempt record that has items."""
    for record in reversed(history):
        if record.items is not None:
            done = set(parse_ranges(record.items.succeeded))
            return [i for i in parse_ranges(record.items.ran) if i not in done]
    return list(range(spec.completions))


def plan_items(spec: AgentTaskSpec, history: list[AttemptRecord]) -> ItemPlan | None:
    """The next attempt's items and its Job's targets; None for a task of one completion.
    Partial success counts over all attempts: the attempt needs what is still missing."""
    if spec.completions <= 1:
        return None
    left = left_items(spec, history)
    batch = spec.batch
    needed = None
    if batch is not None and batch.min_succeeded_items is not None:
        missing = batch.min_succeeded_items - (spec.completions - len(left))
        needed = missing if 0 < missing < len(left) else None
    max_failed = None
    if batch is not None and batch.max_failed_items is not None and \
            batch.max_failed_items < len(left):
        max_failed = batch.max_failed_items
    return ItemPlan(tuple(left), needed, max_failed, batch.item_retries if batch else 0)


def items_before(history: list[AttemptRecord], attempt: int) -> AttemptItems | None:
    """The items of the newest recorded attempt before ``attempt``."""
    return next((r.items for r in reversed(history)
                 if r.attempt < attempt and r.items is not None), None)


def enough_items(spec: AgentTaskSpec, record: AttemptRecord) -> bool:
    """Whether the batch has the items its partial-success rule needs, after the attempt of
    ``record``."""
    batch = spec.batch
    if batch is None or batch.min_succeeded_items is None or record.items is None:
        return False
    return item_progress(spec.completions, record.items).succeeded >= batch.min_succeeded_items


def job_items(job: JobFacts) -> list[int]:
    """The items a Job runs: its own list, or (a Job from before item lists) its indexes."""
    try:
        if job.items is not None:
            return parse_ranges(job.items)
    except ValueError:
        pass
    return list(range(job.completions))


def attempt_items(job: JobFacts, before: AttemptItems | None = None) -> AttemptItems:
    """The record of what a batch Job ran, succeeded and failed, by item. An item that
    failed in the attempt ``before`` and was stopped in this one (its success policy was met
    first) keeps its failure: the newest record alone says which items failed."""
    ran = job_items(job)
    succeeded = _at(job.completed_indexes, ran)
    if job.outcome == "Complete" and not job.completed_indexes:
        succeeded = ran  # a Job without completedIndexes completes only when all did
    failed = set(_at(job.failed_indexes, ran))
    if before is not None:
        finished = failed | set(succeeded)
        failed |= {i for i in parse_ranges(before.failed) if i in set(ran) - finished}
    return AttemptItems(ran=format_ranges(ran), succeeded=format_ranges(succeeded),
                        failed=format_ranges(failed))


def _at(indexes: str, ran: list[int]) -> list[int]:
    try:
        return items_at(indexes, ran)
    except ValueError:
        return []  # a Job's status we cannot read counts as nothing done


def item_progress(total: int, items: AttemptItems) -> ItemProgress:
    """The batch's items after an attempt that ran, succeeded and failed ``items`` (for a
    running attempt: so far)."""
    ran = set(parse_ranges(items.ran))
    done = set(parse_ranges(items.succeeded)) & ran
    succeeded = total - len(ran) + len(done)
    failed = parse_ranges(items.failed)
    return ItemProgress(total=total, succeeded=succeeded, failed=len(failed),
                        remaining=max(0, total - succeeded - len(failed)),
                        failed_items=_bounded(items.failed),
                        left_items=_bounded(format_ranges(ran - done)),
                        done=f"{succeeded}/{total}")


def _bounded(ranges: str, limit: int = 4096) -> str:
    if len(ranges) <= limit:
        return ranges
    return ranges[:ranges.rfind(",", 0, limit - 4)] + ",..."
