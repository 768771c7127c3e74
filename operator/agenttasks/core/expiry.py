"""When a finished task is deleted: spec.ttlAfterFinished, like a Job's
ttlSecondsAfterFinished, or the operator's --default-ttl-after-finished for a task that
does not say."""

from __future__ import annotations

from datetime import datetime, timedelta


def deletion_time(completion_time: datetime | None, ttl: timedelta | None,
                  default: timedelta | None) -> datetime | None:
    """The moment a terminal task (Completed, Failed but not RetryScheduled, Cancelled) is
    deleted: its own ``ttl`` after ``completion_time`` (status.completionTime, when it became
    terminal), or ``default`` after it when the task sets none. None: it is kept, because
    neither is set, or it has no completion time to count from (a status written by hand),
    or the moment lies beyond the last one a datetime holds.

    Rounded up to a whole second, as every due time in status is: a wake-up at it never
    finds it not yet due. A TTL of 0 deletes the task as soon as it is terminal."""
    chosen = ttl if ttl is not None else default
    if chosen is None or completion_time is None:
        return None
    try:
        due = completion_time + chosen
    except OverflowError:
        return None
    whole = due.replace(microsecond=0)
    if whole == due:
        return whole
    try:
        return whole + timedelta(seconds=1)
    except OverflowError:
        return None


def expired(due: datetime | None, now: datetime) -> bool:
    """Whether a deletion time has come."""
    return due is not None and now >= due
