"""Report an agent's progress to the AgentTask operator, from inside its pod.

    from agenttasks.progress import report
    report(3, 10, "summarising chapter 3")

Standard library only, so an agent image can vendor this one file. Outside the operator
(the variables are not set) it does nothing, quietly. It never raises: progress is best
effort, and the agent's work matters more than its report.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

URL_ENV = "AGENTTASK_PROGRESS_URL"
TOKEN_ENV = "AGENTTASK_PROGRESS_TOKEN"


def report(completed: int, total: int, message: str | None = None, timeout: float = 5) -> bool:
    """Posts {completed, total, message}; True when the operator took it."""
    url, token = os.environ.get(URL_ENV), os.environ.get(TOKEN_ENV)
    if not url or not token:
        return False
    body = json.dumps({"completed": completed, "total": total, "message": message}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False
