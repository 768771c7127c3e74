"""Deterministic names of the objects the operator creates, so a crash can never make two."""

from __future__ import annotations

import hashlib
from datetime import datetime

MAX_NAME = 63  # Job names end up in pod labels, which allow 63 characters.


def job_name(task_name: str, attempt: int) -> str:
    """``<task>-<attempt>``; long task names are cut and given a hash to stay unique."""
    suffix = f"-{attempt}"
    if len(task_name) + len(suffix) <= MAX_NAME:
        return task_name + suffix
    digest = hashlib.sha256(task_name.encode()).hexdigest()[:8]
    keep = MAX_NAME - len(suffix) - len(digest) - 1
    return f"{task_name[:keep].rstrip('-.')}-{digest}{suffix}"


def scheduled_task_name(schedule: str, scheduled: datetime) -> str:
    """``<schedule>-<minutes since the epoch>``, as the CronJob controller names its Jobs:
    one fire time, one name, whoever creates it and however often."""
    return f"{schedule}-{int(scheduled.timestamp()) // 60}"


def manual_task_name(schedule: str, token: str) -> str:
    """``<schedule>-manual-<hash of the run-now token>``: one task per token."""
    return f"{schedule}-manual-{hashlib.sha256(token.encode()).hexdigest()[:10]}"
