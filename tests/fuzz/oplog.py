"""Operator errors, read from the operator's log.

An operator error is a log record at ERROR or CRITICAL level (kopf logs every handler that
raised at ERROR, asyncio logs unretrieved task exceptions at ERROR), or a traceback that is
not part of such a record (printed bare, or attached to a lower-level record). Expected,
handled refusals (an API 422 on a Job, a 4xx to a webhook sender) are logged below ERROR and
do not count; nor do kopf's ERROR record of an admission refusal ("Webhook '...' failed
permanently: <why>"), which is the webhook doing its job, and aiohttp's ERROR record of an
HTTP message it could not parse and answered 400 before any of our code ran.
"""

from __future__ import annotations

import re
from pathlib import Path

_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<level>[A-Z]+) ")
_SERIOUS = {"ERROR", "CRITICAL"}
_ADMISSION_REFUSAL = re.compile(r" kopf\.objects: Webhook '[\w-]+' failed permanently: ")
# aiohttp answers a request it cannot parse (a control character in a header, a header line
# over 8 KiB) with 400 itself, before our code runs, and logs it at ERROR with a traceback.
_MALFORMED_HTTP = re.compile(r"^aiohttp\.http_exceptions\.(BadHttpMessage|LineTooLong|"
                             r"InvalidHeader|BadStatusLine)", re.MULTILINE)


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
        for head, rest in _records(self.text()):
            record = _RECORD.match(head)
            level = record["level"] if record else ""
            if level in _SERIOUS:
                if not _ADMISSION_REFUSAL.search(head) and not _MALFORMED_HTTP.search(rest):
                    found.append(head[:300])
            elif "Traceback (most recent call last)" in head + rest:
                found.append(head[:300])
        return found


def _records(text: str) -> list[tuple[str, str]]:
    """(first line, the lines after it) of each log record; bare output is its own record."""
    records: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if _RECORD.match(line) or not records:
            records.append((line, []))
        else:
            records[-1][1].append(line)
    return [(head, "\n".join(rest)) for head, rest in records]
