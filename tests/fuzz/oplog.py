"""Operator errors, read from the operator's log.

An operator error is a log record at ERROR or CRITICAL level (kopf logs every handler that
raised at ERROR, asyncio logs unretrieved task exceptions at ERROR), or a traceback that is
not part of such a record (printed bare, or attached to a lower-level record). Expected,
handled refusals (an API 422 on a Job, a 4xx to a webhook sender) are logged below ERROR and
do not count; nor does kopf's ERROR record of an admission refusal ("Webhook '...' failed
permanently: <why>"), which is the webhook doing its job.
"""

from __future__ import annotations

import re
from pathlib import Path

_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<level>[A-Z]+) ")
_SERIOUS = {"ERROR", "CRITICAL"}
_ADMISSION_REFUSAL = re.compile(r" kopf\.objects: Webhook '[\w-]+' failed permanently: ")


class OperatorLog:
    """The part of an operator's log file written after ``start()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def start(self) -> OperatorLog:
        self.offset = self.path.stat().st_size if self.path.exists() else 0
        return self

    def text(self) -> str:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            return log.read().decode("utf-8", errors="replace")

    def errors(self) -> list[str]:
        """One entry per operator error: its first line."""
        found: list[str] = []
        level = ""
        for line in self.text().splitlines():
            record = _RECORD.match(line)
            if record:
                level = record["level"]
                if level in _SERIOUS and not _ADMISSION_REFUSAL.search(line):
                    found.append(line[:300])
                elif level in _SERIOUS:
                    level = "REFUSAL"
            elif line.startswith("Traceback") and level not in _SERIOUS:
                found.append(line)
                level = "ERROR"  # the rest of this traceback belongs to the same error
        return found
