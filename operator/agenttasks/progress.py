"""Report an agent's progress to the AgentTask operator, from inside its pod.

    from agenttasks.progress import inputs, item, report
    document = documents[item()]      # this pod's item of a batch (completions > 1)
    orders = inputs()["extract"]["result"]["message"]   # what a dependency left
    report(3, 10, "summarising chapter 3")

Standard library only, so an agent image can vendor this one file. Outside the operator
(the variables are not set) it does nothing, quietly. It never raises: progress is best
effort, and the agent's work matters more than its report.

The pod's token is a file the kubelet refreshes before it expires, so it is read again for
every report. Without a file it takes AGENTTASK_PROGRESS_TOKEN, the token itself, as operators
that kept a Secret per task gave it: an agent image with this file works under either.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

URL_ENV = "AGENTTASK_PROGRESS_URL"
TOKEN_FILE_ENV = "AGENTTASK_PROGRESS_TOKEN_FILE"
TOKEN_ENV = "AGENTTASK_PROGRESS_TOKEN"
MAX_TOKEN_BYTES = 64 * 1024
ITEMS_ENV = "AGENTTASK_ITEMS"
INDEX_ENV = "JOB_COMPLETION_INDEX"
INPUTS_ENV = "AGENTTASK_INPUTS"
MAX_INPUTS_BYTES = 256 * 1024  # an annotation cannot be larger


def item() -> int | None:
    """This pod's item of a batch: its place in the whole batch, which a retry attempt keeps
    although it runs only the items left. The attempt's items are AGENTTASK_ITEMS (compact
    ranges such as "3,7,10-12"); the pod runs the one at position JOB_COMPLETION_INDEX.
    Without AGENTTASK_ITEMS the item is the index itself; None outside a batch."""
    try:
        index = int(os.environ[INDEX_ENV])
    except (KeyError, ValueError):
        return None
    ranges = os.environ.get(ITEMS_ENV)
    if not ranges:
        return index
    for part in ranges.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            return None
        if index <= last - first:
            return first + index
        index -= last - first + 1
    return None


def inputs() -> dict[str, dict[str, object]]:
    """The tasks this one depends on, by name, in its dependsOn's order: each as
    ``{"name", "phase", "reason", "result": {"attempt", "message"} or None}``, read from the
    file AGENTTASK_INPUTS names (docs/agenttask.md, "Pipelines"). A message cut to fit also
    has ``"truncated": True`` and ``"messageBytes"``, its whole size. {} outside the operator
    (no variable) or for a task without dependsOn; {} too if the file cannot be read."""
    path = os.environ.get(INPUTS_ENV)
    if not path:
        return {}
    try:
        with open(path, "rb") as file:
            entries = json.loads(file.read(MAX_INPUTS_BYTES))
    except (OSError, ValueError):
        return {}
    if not isinstance(entries, list):
        return {}
    return {str(e["name"]): e for e in entries if isinstance(e, dict) and "name" in e}


def _token() -> str | None:
    path = os.environ.get(TOKEN_FILE_ENV)
    if path:
        try:
            with open(path, "rb") as file:
                token = file.read(MAX_TOKEN_BYTES).decode("ascii", "replace").strip()
        except OSError:
            token = ""
        if token:
            return token
    return os.environ.get(TOKEN_ENV) or None


def report(completed: int, total: int, message: str | None = None, timeout: float = 5) -> bool:
    """Posts {completed, total, message}; True when the operator took it."""
    url, token = os.environ.get(URL_ENV), _token()
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
