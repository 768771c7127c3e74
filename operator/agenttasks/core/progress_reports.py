"""Agent progress reports as the progress endpoint receives them: checking one (who may send
it is core.progress_auth; inbox.agent_reports coalesces them; the task reconciler writes
them)."""

from __future__ import annotations

from typing import Any

from agenttasks.api.task import Progress


class ReportError(ValueError):
    """A report that cannot be taken; the message says which field."""


def parse_report(body: Any, attempt: int) -> Progress:
    if not isinstance(body, dict):
        raise ReportError("the body must be a JSON object {completed, total, message}")
    completed, total = body.get("completed", 0), body.get("total", 0)
    for name, value in (("completed", completed), ("total", total)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ReportError(f"{name} must be a whole number ≥ 0")
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise ReportError("message must be a string")
    percent = min(100, completed * 100 // total) if total else 0
    return Progress(completed=completed, total=total, percent=percent,
                    message=(message or None) and message[:1024], attempt=attempt)
